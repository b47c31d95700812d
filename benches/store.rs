//! State-store benchmark (issue 14): money-moving calls per second through the real binary on
//! the sandbox, with the SQLite store and with the PostgreSQL store, and the store's share of a
//! call's latency — the store's own work for one call (`begin` with a spend reservation, then
//! `complete` with the result: what the guard does around every money-moving call) timed
//! in-process on the same kind of database, against the median call.
//!
//! Run with `cargo bench --bench store`; the PostgreSQL half needs `ZHIFU_TEST_POSTGRES` (`eval
//! "$(bash scripts/postgres.sh)"` starts a throwaway server) and is skipped with a notice
//! otherwise. Knobs: `STORE_BENCH_CALLS` (sequential calls per store, default 200),
//! `STORE_BENCH_CONCURRENCY` (callers at once for the throughput run, default 8, spread over two
//! server processes), `STORE_BENCH_OPS` (in-process store operations, default 500). Figures are
//! printed, never asserted; see docs/PERFORMANCE.md.

#[path = "../tests/common/mod.rs"]
mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::adversary::{call_peer, transfer_args};
use common::backend::Backend;
use common::{Harness, Options, unique};
use serde_json::json;
use zhifu_runtime::store::{Begin, Begun, IdemKey, IdemState, Lease, Spend, Store};

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn median_p95(samples: &mut [Duration]) -> (Duration, Duration) {
    samples.sort();
    let p95 = samples[(samples.len() * 95).div_ceil(100).saturating_sub(1)];
    (samples[samples.len() / 2], p95)
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

/// Figures for one store.
struct Figures {
    name: &'static str,
    call_median: Duration,
    call_p95: Duration,
    sequential_per_s: f64,
    concurrent_per_s: f64,
    store_median: Duration,
    store_p95: Duration,
}

/// `begin` (claim + 1 fen reservation under a limit) then `complete` (Done with a result), `ops`
/// times, each on a fresh reference.
async fn store_work(store: Arc<dyn Store>, ops: usize) -> Vec<Duration> {
    let mut samples = Vec::with_capacity(ops);
    let now = zhifu_runtime::time::unix_now();
    for i in 0..ops {
        let reference = format!("B{i}{}", unique(""));
        let key = IdemKey::new("alipay", "transfer_fund", reference.clone());
        let started = Instant::now();
        let begun = store
            .begin(Begin {
                key: key.clone(),
                args_digest: "d".repeat(64),
                now_unix: now,
                lease: Lease {
                    owner: "bench".into(),
                    until_unix: now + 65,
                },
                spend: Some(Spend {
                    provider: "alipay".into(),
                    fen: 100,
                    daily_limit_fen: Some(i64::MAX / 2),
                    reference,
                }),
            })
            .await
            .expect("begin");
        assert!(matches!(begun, Begun::Claimed { .. }), "{begun:?}");
        store
            .complete(
                key,
                IdemState::Done,
                Some(json!({"out_biz_no": "x", "order_id": "20260101", "status": "SUCCESS"})),
                now,
                None,
            )
            .await
            .expect("complete");
        samples.push(started.elapsed());
    }
    samples
}

async fn measure(backend: Backend) -> Figures {
    let calls = env_usize("STORE_BENCH_CALLS", 200);
    let concurrency = env_usize("STORE_BENCH_CONCURRENCY", 8);
    let ops = env_usize("STORE_BENCH_OPS", 500);
    let options = Options {
        env: vec![
            ("ZHIFU_STATE_DB".into(), backend.state_db()),
            ("ZHIFU_AUDIT_LOG".into(), "off".into()),
        ],
        ..Options::default()
    };
    let h = Harness::with(options.clone()).await;
    let second = h.spawn_peer(&options).await;
    // Warm-up: connections, the sandbox's first requests.
    for _ in 0..10 {
        h.ok("transfer_fund", transfer_args(&unique("W"))).await;
    }

    let mut samples = Vec::with_capacity(calls);
    let started = Instant::now();
    for _ in 0..calls {
        let t = Instant::now();
        let o = call_peer(
            h.client.peer(),
            "transfer_fund",
            &transfer_args(&unique("S")),
        )
        .await;
        assert!(o.is_success(), "{}", o.summary(300));
        samples.push(t.elapsed());
    }
    let sequential_per_s = calls as f64 / started.elapsed().as_secs_f64();
    let (call_median, call_p95) = median_p95(&mut samples);

    let peers = [h.client.peer().clone(), second.peer().clone()];
    let started = Instant::now();
    let tasks: Vec<_> = (0..concurrency)
        .map(|w| {
            let peer = peers[w % 2].clone();
            let each = calls / concurrency;
            tokio::spawn(async move {
                for _ in 0..each {
                    let o = call_peer(&peer, "transfer_fund", &transfer_args(&unique("C"))).await;
                    assert!(o.is_success(), "{}", o.summary(300));
                }
                each
            })
        })
        .collect();
    let mut done = 0;
    for t in tasks {
        done += t.await.unwrap();
    }
    let concurrent_per_s = done as f64 / started.elapsed().as_secs_f64();
    let _ = second.cancel().await;
    h.stop().await;

    let mut store = store_work(backend.open().await, ops).await;
    let (store_median, store_p95) = median_p95(&mut store);
    Figures {
        name: backend.name(),
        call_median,
        call_p95,
        sequential_per_s,
        concurrent_per_s,
        store_median,
        store_p95,
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "load average: {}",
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    let mut rows = vec![measure(Backend::sqlite()).await];
    if let Some(pg) = Backend::postgres("the PostgreSQL half of the store bench").await {
        rows.push(measure(pg).await);
    }
    println!();
    println!(
        "| store | money-moving call, median (p95) | calls/s, 1 caller | calls/s, {} callers over 2 processes | store work per call, median (p95) | store share of the median call |",
        env_usize("STORE_BENCH_CONCURRENCY", 8)
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: |");
    for f in rows {
        println!(
            "| {} | {} ({}) | {:.0} | {:.0} | {} ({}) | {:.0} % |",
            f.name,
            ms(f.call_median),
            ms(f.call_p95),
            f.sequential_per_s,
            f.concurrent_per_s,
            ms(f.store_median),
            ms(f.store_p95),
            100.0 * f.store_median.as_secs_f64() / f.call_median.as_secs_f64()
        );
    }
}
