//! The receivers through the real binary and real HTTP: `serve --http` on the embedded sandbox
//! receives its own events with no configuration; `receive --listen` takes Ping++ webhooks and
//! Alipay notifications that the sandbox delivers (with retries on the sandbox clock), refuses
//! every single-byte change, answers only after the database write, limits the body size and logs
//! no secrets; `wait_for_payment` returns when the sandbox pays, times out, and stops on cancel.

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Harness, Options, charge_args, configured_command, obj, unique};
use rmcp::ServiceExt;
use rmcp::model::CallToolRequestParams;
use rmcp::transport::StreamableHttpClientTransport;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::Child;

/// A child process whose stderr is collected; killed on drop.
struct Proc {
    child: Child,
    stderr: Arc<Mutex<String>>,
}

impl Proc {
    /// Starts `cmd` and waits for a stderr line starting with `prefix`; returns the rest of it.
    async fn start(mut cmd: tokio::process::Command, prefix: &str) -> (Proc, String) {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd.spawn().expect("the binary starts");
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let stderr = Arc::new(Mutex::new(String::new()));
        let rest = tokio::time::timeout(Duration::from_secs(60), async {
            while let Some(line) = lines.next_line().await.unwrap() {
                stderr.lock().unwrap().push_str(&format!("{line}\n"));
                if let Some(rest) = line.strip_prefix(prefix) {
                    return rest.to_string();
                }
            }
            panic!("the process exited: {}", stderr.lock().unwrap());
        })
        .await
        .expect("the process prints its address");
        let sink = stderr.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                sink.lock().unwrap().push_str(&format!("{line}\n"));
            }
        });
        (Proc { child, stderr }, rest)
    }

    fn log(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    async fn kill(mut self) {
        self.child.kill().await.unwrap();
    }
}

/// `zhifu-mcp receive --listen ADDR` on the harness's configuration and state database.
struct Receiver {
    proc: Proc,
    /// `http://127.0.0.1:PORT`
    base: String,
}

impl Receiver {
    async fn start(h: &Harness, listen: &str, env: &[(&str, &str)]) -> Receiver {
        let mut cmd = configured_command(
            &h.sandbox,
            &h.dir,
            &Options::default(),
            &["receive", "--listen", listen],
        );
        for (k, v) in env {
            cmd.env(k, v);
        }
        let (proc, rest) = Proc::start(cmd, "zhifu-mcp: receiving gateway events at ").await;
        let base = rest
            .split_whitespace()
            .next()
            .unwrap()
            .trim_end_matches("/webhooks/pingpp")
            .to_string();
        Receiver { proc, base }
    }

    fn pingpp(&self) -> String {
        format!("{}/webhooks/pingpp", self.base)
    }

    fn alipay(&self) -> String {
        format!("{}/notify/alipay", self.base)
    }
}

fn state_db(h: &Harness) -> PathBuf {
    h.dir.join("state").join("state.db")
}

fn http() -> reqwest::Client {
    reqwest::Client::new()
}

async fn sandbox_post(base: &str, path: &str, body: Value) -> Value {
    let r = http()
        .post(format!("{base}{path}"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{path}: {}", r.status());
    r.json().await.unwrap()
}

async fn sandbox_get(base: &str, path: &str) -> Value {
    http()
        .get(format!("{base}{path}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// POSTs a Ping++ delivery; the status and body.
async fn post_pingpp(url: &str, body: &[u8], signature: &str) -> (u16, String) {
    let r = http()
        .post(url)
        .header("content-type", "application/json")
        .header("x-pingplusplus-signature", signature)
        .body(body.to_vec())
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// POSTs an Alipay notification; the status and body.
async fn post_alipay(url: &str, body: &[u8]) -> (u16, String) {
    let r = http()
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.to_vec())
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// Rows of the events table, read straight from the state database.
fn stored(db: &Path) -> Vec<(String, String, Option<String>, Option<String>)> {
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut stmt = conn
        .prepare("SELECT provider, event_id, object_id, object_state FROM events")
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// Every Alipay notification the sandbox made: the form body, oldest first.
async fn alipay_bodies(sandbox: &str) -> Vec<String> {
    let v = sandbox_get(sandbox, "/_sandbox/alipay/notifications").await;
    let mut bodies: Vec<String> = v
        .as_array()
        .or_else(|| v["data"].as_array())
        .expect("notifications")
        .iter()
        .map(|n| n["body"].as_str().unwrap().to_string())
        .collect();
    bodies.reverse();
    bodies
}

/// Every Ping++ event's signed delivery (body, signature), oldest first.
async fn pingpp_deliveries(h: &Harness) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for e in h.events().await.iter().rev() {
        out.push(h.webhook(e["id"].as_str().unwrap()).await);
    }
    out
}

/// A charge created and paid through the MCP server; its id.
async fn paid_charge(h: &Harness, order_no: &str, amount: i64) -> String {
    let charge = h.ok("create_charge", charge_args(order_no, amount)).await;
    let id = charge["id"].as_str().unwrap().to_string();
    h.pay(&id).await;
    id
}

/// Done-when of the issue: on the embedded sandbox, `serve --http` plus `create_charge` shows
/// `charge.succeeded` in `list_received_events`, with no configuration at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_http_server_receives_its_own_charge_succeeded() {
    let mut cmd = common::command();
    cmd.args(["serve", "--http", "127.0.0.1:0"])
        .env("ZHIFU_STATE_DIR", common::temp_dir("recv-embedded"));
    let (server, rest) = Proc::start(cmd, "zhifu-mcp: listening on ").await;
    let url = rest.split_whitespace().next().unwrap().to_string();
    let client =
        ().serve(StreamableHttpClientTransport::from_uri(url.as_str()))
            .await
            .expect("initialize over HTTP");
    let call = |name: &'static str, args: Value| {
        let client = &client;
        async move {
            let r = client
                .call_tool(CallToolRequestParams::new(name).with_arguments(obj(args)))
                .await
                .unwrap();
            assert_ne!(r.is_error, Some(true), "{name}: {r:?}");
            r.structured_content.unwrap()
        }
    };
    let order_no = unique("E");
    let charge = call("create_charge", charge_args(&order_no, 1999)).await;
    let id = charge["id"].as_str().unwrap().to_string();
    let deadline = Instant::now() + Duration::from_secs(20);
    let event = loop {
        let page = call(
            "list_received_events",
            json!({"type": "charge.succeeded", "object_id": id}),
        )
        .await;
        if let Some(e) = page["events"].as_array().unwrap().first() {
            break e.clone();
        }
        assert!(Instant::now() < deadline, "no charge.succeeded received");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(event["provider"], "pingpp");
    assert_eq!(event["reference"], order_no.as_str());
    assert_eq!(event["amount_fen"], 1999);
    assert_eq!(event["state"], "paid");
    let one = call(
        "retrieve_received_event",
        json!({"provider": "pingpp", "event_id": event["event_id"]}),
    )
    .await;
    assert_eq!(one["content"]["data"]["object"]["id"], id.as_str());
    let waited = call("wait_for_payment", json!({"order_no": order_no})).await;
    assert_eq!(waited["settled"], true, "{waited}");
    assert_eq!(waited["state"], "paid");
    assert_eq!(waited["source"], "event");
    client.cancel().await.unwrap();
    assert!(
        server.log().contains("/webhooks/pingpp"),
        "{}",
        server.log()
    );
}

/// Every single-byte change of a body or a signature is refused (the receivers' own checks, over
/// every position and every other byte value), a sample of them also through HTTP: 400 / `fail`,
/// nothing stored; the genuine delivery is stored once and acknowledged again when repeated.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_single_byte_change_is_refused_and_not_stored() {
    let h = Harness::start(&[]).await;
    let r = Receiver::start(&h, "127.0.0.1:0", &[("RUST_LOG", "trace")]).await;
    let sandbox = h.sandbox.base_url.clone();
    // Ping++: a paid charge's event (the sandbox has no webhook URL: nothing is delivered).
    paid_charge(&h, &unique("T"), 1234).await;
    let (body, sig) = pingpp_deliveries(&h).await.pop().unwrap();
    // Alipay: a paid trade's notification, kept by the sandbox (no notify_url).
    let out = unique("T");
    h.ok(
        "create_trade",
        json!({"out_trade_no": out, "total_amount": "12.34", "subject": "Tamper"}),
    )
    .await;
    sandbox_post(
        &sandbox,
        &format!("/_sandbox/alipay/trades/{out}/pay"),
        json!({}),
    )
    .await;
    let note = alipay_bodies(&sandbox).await.pop().unwrap();

    let pingpp_key =
        zhifu_runtime::keys::public_key_from_text(&h.sandbox.pingpp.pingpp_public_key_pem, "test")
            .unwrap();
    let alipay_key =
        zhifu_runtime::keys::public_key_from_text(&h.sandbox.alipay.alipay_public_key_pem, "test")
            .unwrap();
    let app_id = h.sandbox.alipay.app_id.clone();
    use zhifu_runtime::receive::{check_alipay, check_pingpp};
    assert!(check_pingpp(&pingpp_key, body.as_bytes(), &sig, 1).is_ok());
    assert!(check_alipay(&alipay_key, &app_id, note.as_bytes(), 1).is_ok());

    // Every position, every other byte value.
    let (b, s, n) = (body.clone(), sig.clone(), note.clone());
    let tried = tokio::task::spawn_blocking(move || {
        let mut tried = 0u64;
        let bytes = b.into_bytes();
        each_byte_change(&bytes, |changed, i, v| {
            assert!(
                check_pingpp(&pingpp_key, changed, &s, 1).is_err(),
                "body byte {i} = {v}"
            );
            tried += 1;
        });
        each_byte_change(s.as_bytes(), |changed, i, v| {
            // A signature that is not UTF-8 is not a header value a request can carry.
            if let Ok(text) = std::str::from_utf8(changed) {
                assert!(
                    check_pingpp(&pingpp_key, &bytes, text, 1).is_err(),
                    "signature byte {i} = {v}"
                );
                tried += 1;
            }
        });
        // A form body can spell the same fields another way (`%3a` for `%3A`): such a change is
        // not tampering — the notification is identical, so it is the same event (same
        // notify_id, stored once). Every change of the content is refused.
        let original = check_alipay(&alipay_key, &app_id, n.as_bytes(), 1).unwrap();
        let fields = |b: &[u8]| {
            std::str::from_utf8(b)
                .ok()
                .and_then(|t| zhifu_runtime::providers::wire::parse_form(t).ok())
        };
        let same = fields(n.as_bytes()).unwrap();
        let mut respelt = 0u64;
        each_byte_change(n.as_bytes(), |changed, i, v| {
            match check_alipay(&alipay_key, &app_id, changed, 1) {
                Err(_) => tried += 1,
                Ok(row) => {
                    assert_eq!(
                        fields(changed).as_ref(),
                        Some(&same),
                        "notification byte {i} = {v} accepted: {}",
                        String::from_utf8_lossy(changed)
                    );
                    assert_eq!(row.event_id, original.event_id);
                    respelt += 1;
                }
            }
        });
        (tried, respelt)
    })
    .await
    .unwrap();
    let (tried, respelt) = tried;
    eprintln!(
        "single-byte changes refused: {tried}; same notification spelt another way (accepted as the same event): {respelt}"
    );

    // A sample through HTTP: refused, nothing stored.
    for i in (0..body.len()).step_by(body.len() / 12 + 1) {
        let mut bad = body.clone().into_bytes();
        bad[i] ^= 0x01;
        let (status, _) = post_pingpp(&r.pingpp(), &bad, &sig).await;
        assert_eq!(status, 400, "body byte {i}");
    }
    let mut bad_sig = sig.clone().into_bytes();
    bad_sig[10] = if bad_sig[10] == b'A' { b'B' } else { b'A' };
    let bad_sig = String::from_utf8(bad_sig).unwrap();
    assert_eq!(
        post_pingpp(&r.pingpp(), body.as_bytes(), &bad_sig).await.0,
        400
    );
    let unsigned = http()
        .post(r.pingpp())
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status(), 400);
    for i in (0..note.len()).step_by(note.len() / 12 + 1) {
        let mut bad = note.clone().into_bytes();
        bad[i] ^= 0x01;
        assert_eq!(
            post_alipay(&r.alipay(), &bad).await,
            (400, "fail".into()),
            "byte {i}"
        );
    }
    assert!(
        stored(&state_db(&h)).is_empty(),
        "a refused delivery was stored"
    );

    // The genuine ones: stored once, acknowledged every time.
    for _ in 0..3 {
        assert_eq!(post_pingpp(&r.pingpp(), body.as_bytes(), &sig).await.0, 200);
        assert_eq!(
            post_alipay(&r.alipay(), note.as_bytes()).await,
            (200, "success".into())
        );
    }
    let rows = stored(&state_db(&h));
    assert_eq!(rows.len(), 2, "{rows:?}");

    // Logs: refusals are logged without the body, the signature or any secret.
    let log = r.proc.log();
    assert!(log.contains("refused a gateway delivery"), "{log}");
    for secret in [
        h.sandbox.pingpp.api_key.as_str(),
        sig.as_str(),
        bad_sig.as_str(),
        &body[..40],
        "BEGIN PRIVATE KEY",
        "sign=",
    ] {
        assert!(!log.contains(secret), "the log shows {secret:?}:\n{log}");
    }
    h.stop().await;
}

/// Calls `f` with every single-byte change of `original`: each position, every other value.
fn each_byte_change(original: &[u8], mut f: impl FnMut(&[u8], usize, u8)) {
    let mut bytes = original.to_vec();
    for i in 0..bytes.len() {
        for v in (0..=255u8).filter(|v| *v != original[i]) {
            bytes[i] = v;
            f(&bytes, i, v);
        }
        bytes[i] = original[i];
    }
}

/// A body over the limit is refused with 413 on both paths and not stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_over_the_limit_get_413() {
    let h = Harness::start(&[]).await;
    let r = Receiver::start(&h, "127.0.0.1:0", &[]).await;
    let big = vec![b'a'; zhifu_runtime::receive::MAX_BODY_BYTES + 1];
    assert_eq!(post_pingpp(&r.pingpp(), &big, "AAAA").await.0, 413);
    assert_eq!(post_alipay(&r.alipay(), &big).await.0, 413);
    assert!(stored(&state_db(&h)).is_empty());
    h.stop().await;
}

/// While another process holds the database's write lock, the receiver does not acknowledge:
/// the answer comes only after the write completed; held past the busy timeout, the answer is an
/// error (the gateway retries) and nothing is stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_acknowledgement_before_the_database_write_completes() {
    let h = Harness::start(&[]).await;
    let r = Receiver::start(&h, "127.0.0.1:0", &[]).await;
    paid_charge(&h, &unique("S"), 500).await;
    paid_charge(&h, &unique("S"), 600).await;
    let deliveries = pingpp_deliveries(&h).await;
    let db = state_db(&h);

    // Slow write: the lock is held 2 s (< the 5 s busy timeout).
    let lock = rusqlite::Connection::open(&db).unwrap();
    lock.execute_batch("BEGIN IMMEDIATE").unwrap();
    let (body, sig) = deliveries[0].clone();
    let url = r.pingpp();
    let started = Instant::now();
    let post = tokio::spawn(async move {
        let answer = post_pingpp(&url, body.as_bytes(), &sig).await;
        (answer, Instant::now())
    });
    tokio::time::sleep(Duration::from_millis(2000)).await;
    assert!(
        !post.is_finished(),
        "acknowledged while the write was blocked"
    );
    let released = Instant::now();
    lock.execute_batch("COMMIT").unwrap();
    let ((status, _), answered) = post.await.unwrap();
    assert_eq!(status, 200);
    assert!(
        answered >= released,
        "answered before the write could complete"
    );
    assert!(started.elapsed() >= Duration::from_millis(2000));
    assert_eq!(stored(&db).len(), 1);

    // Held past the busy timeout: 500, nothing stored.
    lock.execute_batch("BEGIN IMMEDIATE").unwrap();
    let (body, sig) = deliveries[1].clone();
    let (status, _) = post_pingpp(&r.pingpp(), body.as_bytes(), &sig).await;
    lock.execute_batch("COMMIT").unwrap();
    assert_eq!(status, 500);
    assert_eq!(stored(&db).len(), 1);
    assert_eq!(post_pingpp(&r.pingpp(), body.as_bytes(), &sig).await.0, 200);
    assert_eq!(stored(&db).len(), 2);
    h.stop().await;
}

/// `wait_for_payment` over stdio: returns when the sandbox pays the charge (the event the
/// sandbox delivers to the receiver), and for an Alipay trade; times out on an unpaid one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_for_payment_returns_when_the_sandbox_pays() {
    let h = Harness::start(&[]).await;
    let r = Receiver::start(&h, "127.0.0.1:0", &[]).await;
    let sandbox = h.sandbox.base_url.clone();
    sandbox_post(&sandbox, "/_sandbox/webhooks", json!({"url": r.pingpp()})).await;
    let order = unique("W");
    let charge = h.ok("create_charge", charge_args(&order, 880)).await;
    let id = charge["id"].as_str().unwrap().to_string();
    let started = Instant::now();
    let (waited, ()) = tokio::join!(
        h.ok(
            "wait_for_payment",
            json!({"charge_id": id, "timeout_seconds": 60})
        ),
        async {
            tokio::time::sleep(Duration::from_millis(1500)).await;
            h.pay(&id).await;
        }
    );
    assert_eq!(waited["settled"], true, "{waited}");
    assert_eq!(waited["state"], "paid");
    assert_eq!(waited["amount_fen"], 880);
    assert!(started.elapsed() >= Duration::from_millis(1500));
    assert!(started.elapsed() < Duration::from_secs(30));

    // Alipay, by out_trade_no.
    let out = unique("W");
    h.ok(
        "create_trade",
        json!({"out_trade_no": out, "total_amount": "8.80", "subject": "Wait", "notify_url": r.alipay()}),
    )
    .await;
    let (waited, ()) = tokio::join!(
        h.ok(
            "wait_for_payment",
            json!({"out_trade_no": out, "timeout_seconds": 60})
        ),
        async {
            tokio::time::sleep(Duration::from_millis(1000)).await;
            sandbox_post(
                &sandbox,
                &format!("/_sandbox/alipay/trades/{out}/pay"),
                json!({}),
            )
            .await;
        }
    );
    assert_eq!(waited["settled"], true, "{waited}");
    assert_eq!(waited["state"], "TRADE_SUCCESS");
    assert_eq!(waited["provider"], "alipay");

    // An unpaid trade the merchant closes: the sandbox notifies TRADE_CLOSED, and it is received.
    let closed = unique("W");
    h.ok(
        "create_trade",
        json!({"out_trade_no": closed, "total_amount": "1.00", "subject": "Close", "notify_url": r.alipay()}),
    )
    .await;
    h.ok("close_trade", json!({"out_trade_no": closed})).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let page = h
            .ok(
                "list_received_events",
                json!({"provider": "alipay", "reference": closed}),
            )
            .await;
        if let Some(e) = page["events"].as_array().unwrap().first() {
            assert_eq!(e["type"], "trade_status_sync.TRADE_CLOSED", "{e}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no TRADE_CLOSED notification received"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Never paid: the wait ends at its timeout, not settled.
    let unpaid = h.ok("create_charge", charge_args(&unique("W"), 1)).await;
    let t = Instant::now();
    let waited = h
        .ok(
            "wait_for_payment",
            json!({"charge_id": unpaid["id"], "timeout_seconds": 2}),
        )
        .await;
    assert_eq!(waited["settled"], false, "{waited}");
    // The queries worked (the charge is just unpaid): no error to report.
    assert_eq!(waited["last_query_error"], Value::Null, "{waited}");
    assert!(t.elapsed() >= Duration::from_secs(2));
    assert!(t.elapsed() < Duration::from_secs(15));
    drop(r);
    h.stop().await;
}

/// Over raw stdio JSON-RPC: a wait with a progress token sends progress notifications, and a
/// `notifications/cancelled` ends it long before its timeout (the audit log records it ended).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_for_payment_reports_progress_and_stops_when_cancelled() {
    let sandbox = common::start_sandbox(&Options::default()).await;
    let dir = common::temp_dir("recv-cancel");
    let mut child = common::server_command(&sandbox, &dir, &Options::default())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut send = async |v: Value| {
        stdin.write_all(format!("{v}\n").as_bytes()).await.unwrap();
    };
    send(json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"0"}}})).await;
    out.next_line().await.unwrap();
    send(json!({"jsonrpc":"2.0","method":"notifications/initialized"})).await;
    send(json!({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"create_charge","arguments": charge_args(&unique("C"), 5)}})).await;
    let created: Value = serde_json::from_str(&out.next_line().await.unwrap().unwrap()).unwrap();
    let id = created["result"]["structuredContent"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let started = Instant::now();
    send(json!({"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"wait_for_payment","arguments":{"charge_id": id, "timeout_seconds": 120},"_meta":{"progressToken":"p1"}}})).await;
    let mut progress = 0;
    while progress < 2 {
        let line = tokio::time::timeout(Duration::from_secs(30), out.next_line())
            .await
            .expect("progress arrives")
            .unwrap()
            .unwrap();
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_ne!(v["id"], 3, "the wait ended early: {v}");
        if v["method"] == "notifications/progress" {
            assert_eq!(v["params"]["progressToken"], "p1");
            assert!(v["params"]["message"].as_str().unwrap().contains(&id));
            progress += 1;
        }
    }
    send(json!({"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":3,"reason":"test"}})).await;
    // The server goes on answering, and the wait is over long before its 120 s.
    send(json!({"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"list_received_events","arguments":{}}})).await;
    loop {
        let line = tokio::time::timeout(Duration::from_secs(30), out.next_line())
            .await
            .expect("the server answers")
            .unwrap()
            .unwrap();
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_ne!(v["id"], 3, "a cancelled request got an answer: {v}");
        if v["id"] == 4 {
            break;
        }
    }
    let audit = dir.join("state").join("audit.jsonl");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = std::fs::read_to_string(&audit).unwrap_or_default();
        if text
            .lines()
            .any(|l| l.contains("\"wait_for_payment\"") && l.contains("not_confirmed"))
        {
            break;
        }
        assert!(Instant::now() < deadline, "the wait did not end: {text}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(started.elapsed() < Duration::from_secs(60));
    drop(child);
}

/// 1,000 events (500 Ping++, 500 Alipay) delivered by the sandbox with its retry schedule,
/// through a receiver restart in the middle, a stretch where every write fails (another process
/// holds the database's write lock past the busy timeout: the receiver answers 500 / `fail`),
/// and a replay of every delivery in reverse order (duplicates, refunds before payments):
/// 0 lost, 0 stored twice, every object in its final state.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousand_events_with_duplicates_reordering_restart_and_failures() {
    const CHARGES: usize = 300; // + 200 refunds = 500 Ping++ events
    const TRADES: usize = 300; // + 200 full refunds = 500 Alipay notifications
    const REFUNDED: usize = 200;
    let h = Harness::start(&[]).await;
    let sandbox = h.sandbox.base_url.clone();
    let db = state_db(&h);
    let log_env = [("RUST_LOG", "zhifu_runtime=info")];
    let r1 = Receiver::start(&h, "127.0.0.1:0", &log_env).await;
    let listen = r1.base.trim_start_matches("http://").to_string();
    let (pingpp_url, alipay_url) = (r1.pingpp(), r1.alipay());
    sandbox_post(&sandbox, "/_sandbox/webhooks", json!({"url": pingpp_url})).await;
    let started = Instant::now();

    // The objects: charge i refunded when i < REFUNDED, trade i likewise.
    let mut charges: Vec<(String, String)> = Vec::new(); // (order_no, id)
    let mut trades: Vec<String> = Vec::new(); // out_trade_no
    let run = unique("K");
    let make = async |i: usize| {
        let order = format!("{run}c{i}");
        let id = paid_charge(&h, &order, 100 + i as i64).await;
        if i < REFUNDED {
            let refund = h
                .ok(
                    "create_refund",
                    json!({"charge_id": id, "description": "test", "refund_no": format!("{run}r{i}")}),
                )
                .await;
            let rid = refund["id"].as_str().unwrap();
            sandbox_post(
                &sandbox,
                &format!("/_sandbox/refunds/{rid}/succeed"),
                json!({}),
            )
            .await;
        }
        let out = format!("{run}t{i}");
        let yuan = format!("{}.{:02}", 1 + i / 100, i % 100);
        h.ok(
            "create_trade",
            json!({"out_trade_no": out, "total_amount": yuan, "subject": "Bulk", "notify_url": alipay_url}),
        )
        .await;
        sandbox_post(
            &sandbox,
            &format!("/_sandbox/alipay/trades/{out}/pay"),
            json!({}),
        )
        .await;
        if i < REFUNDED {
            h.ok(
                "refund_trade",
                json!({"out_trade_no": out, "refund_amount": yuan, "out_request_no": format!("R{i}")}),
            )
            .await;
        }
        ((order, id), out)
    };
    // First half with the receiver up, the second half with it down (killed mid-stream).
    for i in 0..CHARGES.max(TRADES) / 2 {
        let (c, t) = make(i).await;
        charges.push(c);
        trades.push(t);
    }
    let first_log = r1.proc.log();
    r1.proc.kill().await;
    for i in CHARGES.max(TRADES) / 2..CHARGES.max(TRADES) {
        let (c, t) = make(i).await;
        charges.push(c);
        trades.push(t);
    }
    let generated = started.elapsed();

    // Restarted on the same address; then every write fails for a while: the lock is held past
    // the busy timeout while the sandbox's retries come due (clock moved past Alipay's 4 min).
    let r2 = Receiver::start(&h, &listen, &log_env).await;
    let lock = rusqlite::Connection::open(&db).unwrap();
    lock.execute_batch("BEGIN IMMEDIATE").unwrap();
    sandbox_post(&sandbox, "/_sandbox/clock", json!({"advance_seconds": 300})).await;
    tokio::time::sleep(Duration::from_secs(7)).await;
    lock.execute_batch("COMMIT").unwrap();
    let during_lock = sandbox_get(&sandbox, "/_sandbox/deliveries").await;

    // Replay: every signed delivery again, newest first.
    let mut replayed = 0;
    let pingpp_all = pingpp_deliveries(&h).await;
    let alipay_all = alipay_bodies(&sandbox).await;
    for ((body, sig), note) in pingpp_all.iter().rev().zip(alipay_all.iter().rev()) {
        assert_eq!(post_pingpp(&r2.pingpp(), body.as_bytes(), sig).await.0, 200);
        assert_eq!(
            post_alipay(&r2.alipay(), note.as_bytes()).await,
            (200, "success".into())
        );
        replayed += 2;
    }

    // Let the sandbox's retries run out on its clock.
    let mut stats = Value::Null;
    for _ in 0..400 {
        stats = sandbox_get(&sandbox, "/_sandbox/deliveries").await;
        if stats["pending"] == 0 && stats["in_flight"] == 0 {
            break;
        }
        sandbox_post(&sandbox, "/_sandbox/clock", json!({"advance_seconds": 600})).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let elapsed = started.elapsed();

    let rows = stored(&db);
    let mut ids: Vec<&(String, String, Option<String>, Option<String>)> = rows.iter().collect();
    ids.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    ids.dedup_by(|a, b| a.0 == b.0 && a.1 == b.1);
    let expected = CHARGES + REFUNDED + TRADES + REFUNDED;
    assert_eq!(pingpp_all.len() + alipay_all.len(), expected);
    let lost = expected as i64 - ids.len() as i64;
    let log = format!("{first_log}{}", r2.proc.log());
    let acknowledged = log.matches("gateway event received").count();
    let duplicates = log.matches("duplicate=true").count();
    eprintln!(
        "1000-event run: events {expected}, sandbox deliveries {} (queued {}, attempts {}, retries {}, failed attempts {}, given up {}), replayed {replayed}, acknowledged {acknowledged} (duplicates {duplicates}), stored {} rows / {} distinct, lost {lost}, generated in {:.1} s, all stored after {:.1} s; after the lock: {during_lock}",
        stats["delivered"],
        stats["queued"],
        stats["attempts"],
        stats["retries"],
        stats["failed_attempts"],
        stats["given_up"],
        rows.len(),
        ids.len(),
        generated.as_secs_f64(),
        elapsed.as_secs_f64(),
    );
    assert_eq!(stats["pending"], 0, "{stats}");
    assert_eq!(stats["given_up"], 0, "{stats}");
    assert_eq!(stats["delivered"], expected, "{stats}");
    assert!(
        stats["retries"].as_u64().unwrap() > 0,
        "no retries happened: {stats}"
    );
    assert!(
        during_lock["failed_attempts"].as_u64().unwrap() > 0,
        "{during_lock}"
    );
    assert_eq!(lost, 0);
    assert_eq!(rows.len(), ids.len(), "an event was stored twice");
    assert!(duplicates >= replayed, "{duplicates} < {replayed}");

    // Final states: refunded ones refunded / closed, the others paid; nothing moved back.
    let conn = rusqlite::Connection::open(&db).unwrap();
    let state_of = |provider: &str, reference: &str| -> String {
        conn.query_row(
            "SELECT state FROM objects WHERE provider = ?1 AND reference = ?2",
            [provider, reference],
            |r| r.get(0),
        )
        .unwrap_or_else(|e| panic!("{provider} {reference}: {e}"))
    };
    for (i, (order, _)) in charges.iter().enumerate() {
        let want = if i < REFUNDED { "refunded" } else { "paid" };
        assert_eq!(state_of("pingpp", order), want, "charge {i}");
    }
    for (i, out) in trades.iter().enumerate() {
        let want = if i < REFUNDED {
            "TRADE_CLOSED"
        } else {
            "TRADE_SUCCESS"
        };
        assert_eq!(state_of("alipay", out), want, "trade {i}");
    }
    // And through the tools: a refunded charge's events, newest first, one page at a time.
    let (order, id) = &charges[0];
    let page = h
        .ok("list_received_events", json!({"object_id": id, "limit": 1}))
        .await;
    assert_eq!(page["events"][0]["type"], "refund.succeeded", "{page}");
    assert_eq!(page["has_more"], true);
    let next = h
        .ok(
            "list_received_events",
            json!({"object_id": id, "limit": 1, "before": page["next_cursor"]}),
        )
        .await;
    assert_eq!(next["events"][0]["type"], "charge.succeeded", "{next}");
    assert_eq!(next["has_more"], false);
    let waited = h.ok("wait_for_payment", json!({"order_no": order})).await;
    assert_eq!(waited["state"], "refunded", "{waited}");
    drop(r2);
    h.stop().await;
}
