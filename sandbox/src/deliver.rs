//! Delivery of what the gateways send on their own: every Ping++ event is POSTed, signed in
//! `X-Pingplusplus-Signature`, to the configured webhook URL (`SandboxOptions::webhook_url`, or
//! `POST /_sandbox/webhooks {"url"}`), and every Alipay notification is POSTed form-encoded to its
//! trade's `notify_url`.
//!
//! A delivery counts only when answered 2xx (Ping++) or with the body `success` exactly
//! (Alipay). Otherwise it is retried on the gateway's documented schedule, counted on the
//! sandbox clock, so a test advances `POST /_sandbox/clock` instead of waiting hours:
//! Ping++ after 5 s, 10 s, 2 min, 5 min, 10 min, 30 min, 1 h, 2 h, 6 h, 15 h (seed 003;
//! whether the first delivery counts among the "at most 10" is UNSURE: here it does not);
//! Alipay after 4 min, 10 min, 10 min, 1 h, 2 h, 6 h, 15 h (alipay.md §4: 8 sends in ~25 h).
//! After the last retry the delivery is given up. `GET /_sandbox/deliveries` counts everything.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::watch;
use zhifu_signing::pingpp::sign_webhook;

use crate::App;
use crate::store::lock;

/// Seconds to wait before each retry of a Ping++ webhook.
pub const PINGPP_RETRIES: [i64; 10] = [5, 10, 120, 300, 600, 1800, 3600, 7200, 21600, 54000];
/// Seconds to wait before each retry of an Alipay notification.
pub const ALIPAY_RETRIES: [i64; 7] = [240, 600, 600, 3600, 7200, 21600, 54000];
/// How long one delivery may take before it counts as failed (real time).
const TIMEOUT: Duration = Duration::from_secs(30);
/// Deliveries sent at the same time, at most.
const PARALLEL: usize = 16;
/// How often the queue is looked at (real time).
const TICK: Duration = Duration::from_millis(20);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Gateway {
    Pingpp,
    Alipay,
}

/// One event or notification on its way.
#[derive(Debug, Clone)]
struct Delivery {
    gateway: Gateway,
    url: String,
    body: String,
    /// Sends made so far.
    attempts: usize,
    /// Sandbox time of the next send.
    due: i64,
}

/// The queue and its counters; kept inside the sandbox store (its clock and lock).
#[derive(Debug, Default)]
pub struct Deliveries {
    pub webhook_url: Option<String>,
    queue: Vec<Delivery>,
    /// Events / notifications already looked at.
    seen_events: usize,
    seen_notifications: usize,
    in_flight: usize,
    /// Deliveries queued (one per event or notification).
    queued: u64,
    /// HTTP sends, first tries and retries.
    attempts: u64,
    /// Sends that were not acknowledged (each is followed by a retry or a give-up).
    failed_attempts: u64,
    delivered: u64,
    given_up: u64,
}

impl Deliveries {
    pub fn json(&self) -> Value {
        json!({
            "webhook_url": self.webhook_url,
            "queued": self.queued,
            "pending": self.queue.len(),
            "in_flight": self.in_flight,
            "attempts": self.attempts,
            "failed_attempts": self.failed_attempts,
            "retries": self.attempts.saturating_sub(self.queued),
            "delivered": self.delivered,
            "given_up": self.given_up,
            "next_due": self.queue.iter().map(|d| d.due).min(),
        })
    }
}

/// Picks up new events and notifications, and takes the deliveries that are due.
fn collect(app: &App) -> Vec<Delivery> {
    let mut store = lock(&app.store);
    let now = store.now();
    let events: Vec<String> = store
        .events
        .since(store.deliveries.seen_events)
        .iter()
        .map(|e| e.body.clone())
        .collect();
    let notes: Vec<(Option<String>, String)> = store.alipay.notifications
        [store.deliveries.seen_notifications..]
        .iter()
        .map(|n| (n.notify_url.clone(), n.body.clone()))
        .collect();
    let d = &mut store.deliveries;
    d.seen_events += events.len();
    d.seen_notifications += notes.len();
    if let Some(url) = d.webhook_url.clone() {
        for body in events {
            d.queue.push(Delivery {
                gateway: Gateway::Pingpp,
                url: url.clone(),
                body,
                attempts: 0,
                due: now,
            });
            d.queued += 1;
        }
    }
    for (url, body) in notes {
        if let Some(url) = url {
            d.queue.push(Delivery {
                gateway: Gateway::Alipay,
                url,
                body,
                attempts: 0,
                due: now,
            });
            d.queued += 1;
        }
    }
    let room = PARALLEL.saturating_sub(d.in_flight);
    let mut due = Vec::new();
    let mut i = 0;
    while i < d.queue.len() && due.len() < room {
        if d.queue[i].due <= now {
            due.push(d.queue.remove(i));
        } else {
            i += 1;
        }
    }
    d.in_flight += due.len();
    d.attempts += due.len() as u64;
    due
}

/// Sends one delivery; whether the receiver acknowledged it.
async fn send(app: &App, http: &reqwest::Client, d: &Delivery) -> bool {
    let request = match d.gateway {
        Gateway::Pingpp => http
            .post(&d.url)
            .header("Content-Type", "application/json; charset=utf-8")
            .header(
                "X-Pingplusplus-Signature",
                sign_webhook(&app.pingpp_private, d.body.as_bytes()),
            ),
        Gateway::Alipay => http.post(&d.url).header(
            "Content-Type",
            "application/x-www-form-urlencoded; charset=utf-8",
        ),
    };
    let Ok(response) = request.body(d.body.clone()).send().await else {
        return false;
    };
    let status = response.status();
    match d.gateway {
        Gateway::Pingpp => status.is_success(),
        Gateway::Alipay => response.text().await.is_ok_and(|t| t == "success"),
    }
}

/// Records the outcome of one send: delivered, rescheduled on the gateway's schedule, or given up.
fn settle(app: &App, mut d: Delivery, acknowledged: bool) {
    let mut store = lock(&app.store);
    let now = store.now();
    let q = &mut store.deliveries;
    q.in_flight -= 1;
    d.attempts += 1;
    if acknowledged {
        q.delivered += 1;
        return;
    }
    q.failed_attempts += 1;
    let schedule: &[i64] = match d.gateway {
        Gateway::Pingpp => &PINGPP_RETRIES,
        Gateway::Alipay => &ALIPAY_RETRIES,
    };
    match schedule.get(d.attempts - 1) {
        Some(wait) => {
            d.due = now + wait;
            q.queue.push(d);
        }
        None => {
            tracing::warn!(url = %d.url, "sandbox gave up a delivery after its last retry");
            q.given_up += 1;
        }
    }
}

/// Runs deliveries until `stop` turns true.
pub async fn run(app: Arc<App>, mut stop: watch::Receiver<bool>) {
    let http = reqwest::Client::builder()
        .timeout(TIMEOUT)
        .build()
        .unwrap_or_default();
    loop {
        for d in collect(&app) {
            let (app, http) = (app.clone(), http.clone());
            tokio::spawn(async move {
                let ok = send(&app, &http, &d).await;
                settle(&app, d, ok);
            });
        }
        tokio::select! {
            _ = tokio::time::sleep(TICK) => {}
            _ = stop.wait_for(|stopped| *stopped) => return,
        }
    }
}
