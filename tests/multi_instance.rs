//! Several `zhifu-mcp` processes on one state store (issue 14), through the real binary and the
//! sandbox, on both stores (`sqlite::…`: one file on this host; `postgres::…`: one PostgreSQL
//! schema, with `ZHIFU_TEST_POSTGRES`): 100 concurrent identical money-moving calls spread over
//! three processes move money once; a daily limit shared by three processes is never exceeded;
//! a process killed mid-call leaves a record another process recovers by querying first; a
//! confirmation ticket sealed by one process is redeemed once, on another, and refused on a third.

mod common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use common::adversary::{
    MoneyCall, Outcome, call_peer, money_call, request_matcher, tool, transfer_args,
};
use common::backend::Backend;
use common::elicit::{User, connect};
use common::{Harness, Options, unique};
use rmcp::model::{CallToolRequestParams, CallToolResponse, ElicitationAction};
use rmcp::service::{Peer, RunningService};
use rmcp::transport::TokioChildProcess;
use rmcp::{RoleClient, ServiceExt};
use serde_json::{Value, json};

on_both_stores!(
    hundred_identical_calls_over_three_instances_move_money_once,
    a_daily_limit_shared_by_three_instances_is_never_exceeded,
    an_instance_killed_mid_call_is_recovered_by_another_querying_first,
    a_ticket_sealed_on_one_instance_is_redeemed_once_on_any,
);

/// Server processes per test.
const INSTANCES: usize = 3;

/// Server options on `backend` plus `extra`.
fn on(backend: &Backend, extra: &[(&str, &str)]) -> Options {
    let mut env = vec![("ZHIFU_STATE_DB".to_string(), backend.state_db())];
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    Options {
        env,
        ..Options::default()
    }
}

/// The harness (instance 0) and `INSTANCES - 1` more processes on the same sandbox and store.
async fn cluster(options: &Options) -> (Harness, Vec<RunningService<RoleClient, ()>>) {
    let h = Harness::with(options.clone()).await;
    let mut others = Vec::new();
    for _ in 1..INSTANCES {
        others.push(h.spawn_peer(options).await);
    }
    (h, others)
}

fn peers(h: &Harness, others: &[RunningService<RoleClient, ()>]) -> Vec<Peer<RoleClient>> {
    std::iter::once(h.client.peer().clone())
        .chain(others.iter().map(|o| o.peer().clone()))
        .collect()
}

/// Sends `calls[i]` through `peers[i % n]`, all at once; the outcomes in order.
async fn fire(peers: &[Peer<RoleClient>], name: &'static str, calls: Vec<Value>) -> Vec<Outcome> {
    let tasks: Vec<_> = calls
        .into_iter()
        .enumerate()
        .map(|(i, args)| {
            let peer = peers[i % peers.len()].clone();
            tokio::spawn(async move { call_peer(&peer, name, &args).await })
        })
        .collect();
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.expect("call task"));
    }
    out
}

fn movements(ledger: &Value, kind: &str) -> u64 {
    ledger["by_kind"][kind].as_u64().unwrap_or(0)
}

async fn hundred_identical_calls_over_three_instances_move_money_once(backend: Backend) {
    const CALLS: usize = 100;
    let options = on(&backend, &[]);
    let (h, others) = cluster(&options).await;
    let tool = tool("transfer_fund");
    let MoneyCall {
        args,
        reference,
        kind,
    } = money_call(&h, tool).await.expect("an argument builder");
    let route = request_matcher(&h, tool, &args);
    let before = h.route_requests(&route).await;
    // The gateway holds the one request back, so the other 99 calls arrive while it is in flight.
    h.fault(&route, &json!({"kind": "latency", "latency_ms": 400}))
        .await;
    let started = Instant::now();
    let outcomes = fire(&peers(&h, &others), tool.name, vec![args; CALLS]).await;
    let elapsed = started.elapsed();
    h.wait_idle().await;
    let sent = h.route_requests(&route).await - before;
    let moved = movements(&h.ledger(&reference).await, kind);
    let query = tool.query_tool.expect("a query tool");
    let (mut ok, mut in_progress, mut problems) = (0, 0, Vec::new());
    for (i, o) in outcomes.iter().enumerate() {
        match o {
            Outcome::Result { error: false, .. } => ok += 1,
            Outcome::Result { error: true, .. } if o.text().contains(query) => in_progress += 1,
            other => problems.push(format!("call {i}: {}", other.summary(200))),
        }
    }
    eprintln!(
        "{}: {CALLS} concurrent identical {} calls over {INSTANCES} processes in {:.2} s → {sent} upstream request(s), {moved} movement(s); {ok} answered the result, {in_progress} 'in progress, query {query}'",
        backend.name(),
        tool.name,
        elapsed.as_secs_f64()
    );
    for o in others {
        let _ = o.cancel().await;
    }
    h.stop().await;
    assert!(
        sent == 1 && moved == 1 && problems.is_empty() && ok >= 1,
        "{}: {sent} request(s) and {moved} movement(s) (want 1 and 1), {ok} results\n{}",
        backend.name(),
        problems.join("\n")
    );
}

async fn a_daily_limit_shared_by_three_instances_is_never_exceeded(backend: Backend) {
    // ¥10.00 a day for Alipay; 30 different ¥1.00 transfers at once over three processes.
    let options = on(&backend, &[("ZHIFU_ALIPAY_MAX_DAILY_YUAN", "10")]);
    let (h, others) = cluster(&options).await;
    let calls: Vec<Value> = (0..30)
        .map(|i| transfer_args(&unique(&format!("DL{i}x"))))
        .collect();
    let started = Instant::now();
    let outcomes = fire(&peers(&h, &others), "transfer_fund", calls).await;
    let elapsed = started.elapsed();
    h.wait_idle().await;
    let transfers = h.sandbox_get("/_sandbox/alipay/transfers").await;
    let transfers = transfers.as_array().expect("a list of transfers");
    let fen: i64 = transfers
        .iter()
        .map(|t| {
            let yuan = t["trans_amount"]
                .as_str()
                .or_else(|| t["amount"].as_str())
                .expect("an amount");
            let (y, f) = yuan.split_once('.').unwrap_or((yuan, "0"));
            y.parse::<i64>().unwrap() * 100 + format!("{f:0<2}")[..2].parse::<i64>().unwrap()
        })
        .sum();
    let ok = outcomes.iter().filter(|o| o.is_success()).count();
    let mut problems = Vec::new();
    for (i, o) in outcomes.iter().enumerate() {
        if !o.is_success() && !o.text().contains("daily_limit") {
            problems.push(format!("call {i}: {}", o.summary(200)));
        }
    }
    eprintln!(
        "{}: 30 concurrent ¥1.00 transfers over {INSTANCES} processes under a ¥10.00 daily limit in {:.2} s → {ok} made, {} refused by the limit, {} transfer(s) for ¥{}.{:02} at the gateway",
        backend.name(),
        elapsed.as_secs_f64(),
        outcomes.len() - ok - problems.len(),
        transfers.len(),
        fen / 100,
        fen % 100
    );
    for o in others {
        let _ = o.cancel().await;
    }
    h.stop().await;
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(fen <= 1_000, "the limit was exceeded: {fen} fen moved");
    assert_eq!(
        (ok, transfers.len(), fen),
        (10, 10, 1_000),
        "exactly the limit"
    );
}

/// A server process whose pid is known (to kill it).
async fn spawn_with_pid(h: &Harness, options: &Options) -> (RunningService<RoleClient, ()>, u32) {
    let cmd = common::server_command(&h.sandbox, &h.dir, options);
    let (transport, _) = TokioChildProcess::builder(cmd)
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn zhifu-mcp");
    let pid = transport.id().expect("a running child");
    (().serve(transport).await.expect("MCP initialize"), pid)
}

async fn an_instance_killed_mid_call_is_recovered_by_another_querying_first(backend: Backend) {
    // A 1 s gateway timeout makes a claim's lease 7 s (two attempts and margin).
    let options = on(&backend, &[("ZHIFU_HTTP_TIMEOUT_MS", "1000")]);
    let h = Harness::with(options.clone()).await;
    let (victim, pid) = spawn_with_pid(&h, &options).await;
    let tool = tool("transfer_fund");
    let MoneyCall {
        args,
        reference,
        kind,
    } = money_call(&h, tool).await.expect("an argument builder");
    let route = request_matcher(&h, tool, &args);
    let query = tool.query_tool.expect("a query tool");
    let query_route = request_matcher(&h, self::tool(query), &json!({}));
    let (sent_before, queries_before) = (
        h.route_requests(&route).await,
        h.route_requests(&query_route).await,
    );
    h.fault(&route, &json!({"kind": "latency", "latency_ms": 800}))
        .await;
    let peer = victim.peer().clone();
    let call_args = args.clone();
    let doomed = tokio::spawn(async move { call_peer(&peer, tool.name, &call_args).await });
    // Once the gateway has the request, the process dies (no clean shutdown, no completion).
    let deadline = Instant::now() + Duration::from_secs(10);
    while h.stats().await["in_flight"] == 0 {
        assert!(
            Instant::now() < deadline,
            "the call never reached the gateway"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The shell's own `kill` (no procps needed on a bare machine).
    let killed = std::process::Command::new("sh")
        .args(["-c", &format!("kill -9 {pid}")])
        .status()
        .expect("kill");
    assert!(killed.success());
    let _ = doomed.await;
    drop(victim);
    h.wait_idle().await;
    assert_eq!(movements(&h.ledger(&reference).await, kind), 1);

    // After the dead owner's lease, the other process recovers the record: it queries first,
    // finds the transfer, and sends nothing.
    tokio::time::sleep(Duration::from_secs(8)).await;
    let recovered = h.outcome(tool.name, &args).await;
    let sent = h.route_requests(&route).await - sent_before;
    let queried = h.route_requests(&query_route).await - queries_before;
    let moved = movements(&h.ledger(&reference).await, kind);
    let audit = h.audit_lines();
    let last = audit
        .iter()
        .rev()
        .find(|l| l["tool"] == tool.name)
        .cloned()
        .unwrap_or_default();
    eprintln!(
        "{}: process {pid} killed mid-call; the other process answered {} after {queried} query request(s); {sent} send(s), {moved} movement(s); audit idempotency {}",
        backend.name(),
        recovered.summary(120),
        last["idempotency"]
    );
    h.stop().await;
    assert!(recovered.is_success(), "{}", recovered.summary(400));
    assert_eq!((sent, moved), (1, 1), "nothing sent again");
    assert!(queried >= 1, "the gateway was queried first");
    assert_eq!(last["idempotency"], "queried_first", "{last}");
}

async fn a_ticket_sealed_on_one_instance_is_redeemed_once_on_any(backend: Backend) {
    let options = on(&backend, &[("ZHIFU_CONFIRM", "always")]);
    let h = Harness::with(options.clone()).await;
    let mut clients = Vec::new();
    for _ in 0..INSTANCES {
        clients.push(connect(&h, &options, User::new(ElicitationAction::Accept), true).await);
    }
    let args = common::adversary::trade_args(&unique("TK"));
    let first = clients[0]
        .call_tool_once(
            CallToolRequestParams::new("create_trade").with_arguments(common::obj(args.clone())),
        )
        .await
        .unwrap();
    let CallToolResponse::InputRequired(ask) = first else {
        panic!("instance A asks for confirmation")
    };
    let state = ask.request_state.clone().expect("a ticket");
    let mut answers = std::collections::BTreeMap::new();
    answers.insert(
        "confirm".to_string(),
        json!({"action": "accept", "content": {"confirm": true}}),
    );
    let redeem = || {
        CallToolRequestParams::new("create_trade")
            .with_arguments(common::obj(args.clone()))
            .with_input_responses(answers.clone())
            .with_request_state(state.clone())
    };
    let before = h.upstream_requests().await;
    let CallToolResponse::Complete(on_b) = clients[1].call_tool_once(redeem()).await.unwrap()
    else {
        panic!("a result on B")
    };
    let after_b = h.upstream_requests().await;
    let mut replays = Vec::new();
    for c in [&clients[2], &clients[0], &clients[1]] {
        let CallToolResponse::Complete(r) = c.call_tool_once(redeem()).await.unwrap() else {
            panic!("a result")
        };
        replays.push(r);
    }
    let after = h.upstream_requests().await;
    eprintln!(
        "{}: ticket sealed on A, redeemed on B ({} request), replayed on C, A, B ({} requests)",
        backend.name(),
        after_b - before,
        after - after_b
    );
    for c in clients {
        let _ = c.cancel().await;
    }
    h.stop().await;
    assert_ne!(
        on_b.is_error,
        Some(true),
        "B redeems A's ticket: {:?}",
        on_b.content
    );
    assert_eq!(after_b, before + 1);
    for r in &replays {
        assert_eq!(
            common::error_of(r)["kind"],
            "not_confirmed",
            "a replay is refused"
        );
    }
    assert_eq!(after, after_b, "no replay reaches the gateway");
}
