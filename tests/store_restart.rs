//! PostgreSQL restarted under traffic (issue 14), through the real binary: two server processes
//! on one PostgreSQL keep making ¥1.00 transfers while the database is stopped and started
//! again. Every call either succeeds with exactly one movement, or fails saying the state store
//! is unavailable with nothing sent; reads go on while the database is down; calls recover by
//! themselves when it is back. Needs `ZHIFU_TEST_POSTGRES` and `ZHIFU_TEST_POSTGRES_CTL` (both
//! printed by `scripts/postgres.sh`); otherwise it prints a "skipped" notice. Its own test binary,
//! because stopping the database would break other PostgreSQL tests running beside it.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::adversary::{Outcome, call_peer, transfer_args};
use common::backend::{Backend, skipped};
use common::{Harness, Options, unique};
use serde_json::json;

fn ctl(action: &str) {
    let script = std::env::var("ZHIFU_TEST_POSTGRES_CTL").expect("the cluster's ctl script");
    let status = std::process::Command::new(&script)
        .arg(action)
        .status()
        .unwrap_or_else(|e| panic!("{script} {action}: {e}"));
    assert!(status.success(), "{script} {action} failed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarting_postgres_under_traffic_fails_calls_closed_and_they_recover() {
    const TEST: &str = "restarting_postgres_under_traffic_fails_calls_closed_and_they_recover";
    if std::env::var_os("ZHIFU_TEST_POSTGRES_CTL").is_none() {
        // Without the ctl script the database cannot be restarted: say which setting is missing.
        if std::env::var_os("ZHIFU_TEST_POSTGRES").is_some() {
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "skipped: {TEST} needs ZHIFU_TEST_POSTGRES_CTL too (printed by scripts/postgres.sh)"
            );
        } else {
            skipped(TEST);
        }
        return;
    }
    let Some(backend) = Backend::postgres(TEST).await else {
        return;
    };
    let options = Options {
        env: vec![("ZHIFU_STATE_DB".into(), backend.state_db())],
        ..Options::default()
    };
    let h = Harness::with(options.clone()).await;
    let other = h.spawn_peer(&options).await;
    h.ok("transfer_fund", transfer_args(&unique("PRE"))).await;

    // Traffic: two callers, one per process, one transfer after another.
    let stop = Arc::new(AtomicBool::new(false));
    let mut traffic = Vec::new();
    for peer in [h.client.peer().clone(), other.peer().clone()] {
        let stop = stop.clone();
        traffic.push(tokio::spawn(async move {
            let mut made = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let reference = unique("RS");
                let outcome = call_peer(&peer, "transfer_fund", &transfer_args(&reference)).await;
                made.push((reference, outcome));
                tokio::time::sleep(Duration::from_millis(30)).await;
            }
            made
        }));
    }
    tokio::time::sleep(Duration::from_millis(800)).await;
    let stopped_at = Instant::now();
    ctl("stop");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // Reads need no store: they still work.
    let read = call_peer(h.client.peer(), "list_charges", &json!({"limit": 3})).await;
    ctl("start");
    let started_at = Instant::now();
    // Calls recover by themselves: wait for a success after the start (bounded).
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let probe = call_peer(other.peer(), "transfer_fund", &transfer_args(&unique("RP"))).await;
        if probe.is_success() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no recovery 20 s after PostgreSQL came back: {}",
            probe.summary(300)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let recovered_after = started_at.elapsed();
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    let mut calls = Vec::new();
    for t in traffic {
        calls.extend(t.await.unwrap());
    }
    h.wait_idle().await;

    let (mut ok, mut refused, mut problems) = (0, 0, Vec::new());
    for (reference, outcome) in &calls {
        // Movements of every kind booked under this reference.
        let total: u64 = h.ledger(reference).await["by_kind"]
            .as_object()
            .map(|m| m.values().filter_map(|v| v.as_u64()).sum())
            .unwrap_or(0);
        match outcome {
            Outcome::Result { error: false, .. } => {
                ok += 1;
                if total != 1 {
                    problems.push(format!("{reference}: succeeded with {total} movements"));
                }
            }
            Outcome::Result { error: true, .. }
                if outcome.text().contains("state store is unavailable")
                    && outcome.text().contains("nothing was sent") =>
            {
                refused += 1;
                if total != 0 {
                    problems.push(format!(
                        "{reference}: refused for the store but {total} movement(s)"
                    ));
                }
            }
            other => problems.push(format!("{reference}: {}", other.summary(300))),
        }
    }
    eprintln!(
        "PostgreSQL stopped for {:.1} s under traffic from 2 processes: {} calls, {ok} made (each one movement), {refused} refused 'state store unavailable, nothing sent' (no movement), recovered {:.2} s after the start; a read during the outage: {}",
        (started_at - stopped_at).as_secs_f64(),
        calls.len(),
        recovered_after.as_secs_f64(),
        read.summary(80)
    );
    let _ = other.cancel().await;
    h.stop().await;
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(refused >= 1, "some calls ran into the outage");
    assert!(ok >= 1, "calls went through before and after the outage");
    assert!(
        read.is_success(),
        "a read during the outage: {}",
        read.summary(300)
    );
}
