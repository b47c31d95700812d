//! Concurrent identical money-moving calls (issue 7 item 3), through the real binary: 20 calls with
//! the same merchant reference and the same arguments, spread over 2 server processes sharing one
//! state dir, while the sandbox holds the first upstream request back so the calls overlap for
//! real. Exactly one request may reach the gateway and one movement be booked; every call answers
//! either that one result or "in progress" naming the tool's query tool — never a second send.

mod common;

use common::Harness;
use common::adversary::{
    MoneyCall, Outcome, call_peer, money_call, options, request_matcher, tool,
};
use serde_json::{Value, json};

/// Identical calls in all, half per server process.
const CALLS: usize = 20;
/// How long the sandbox holds the first upstream request.
const HOLD_MS: u64 = 400;

/// The id that names the one object a successful answer is about.
fn object_id(text: &str) -> Option<String> {
    let v: Value = serde_json::from_str(text.lines().next()?).ok()?;
    let structured = v.get("structuredContent")?;
    ["order_id", "id", "trade_no"]
        .iter()
        .find_map(|k| structured.get(*k).and_then(Value::as_str))
        .map(str::to_string)
}

/// Fires `CALLS` identical calls of `tool_name` over two processes and checks the invariants.
async fn race(tool_name: &str) {
    let tool = tool(tool_name);
    let h = Harness::with(options(&[])).await;
    let call: MoneyCall = money_call(&h, tool)
        .await
        .unwrap_or_else(|| panic!("{tool_name} has an argument builder"));
    let (args, reference, kind) = (call.args, call.reference, call.kind);
    let second = h.spawn_peer(&options(&[])).await;
    let route = request_matcher(&h, tool, &args);
    // The Ping++ stats route is the template; the fault matcher takes the concrete line too.
    let stats_route = stats_route(&route);
    let before = h.route_requests(&stats_route).await;
    h.fault(&route, &json!({"kind": "latency", "latency_ms": HOLD_MS}))
        .await;

    let peers = [h.client.peer().clone(), second.peer().clone()];
    let tasks: Vec<_> = (0..CALLS)
        .map(|i| {
            let peer = peers[i % 2].clone();
            let args = args.clone();
            let name = tool.name;
            tokio::spawn(async move { call_peer(&peer, name, &args).await })
        })
        .collect();
    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.push(task.await.expect("call task"));
    }
    h.wait_idle().await;
    let sent = h.route_requests(&stats_route).await - before;
    let ledger = h.ledger(&reference).await;
    let movements = ledger["by_kind"][kind].as_u64().unwrap_or(0);
    let _ = second.cancel().await;
    h.stop().await;

    let query = tool.query_tool.expect("money tools name a query tool");
    let mut ids: Vec<String> = Vec::new();
    let mut problems = Vec::new();
    for (i, o) in outcomes.iter().enumerate() {
        match o {
            Outcome::Result { error: false, .. } => match object_id(o.text()) {
                Some(id) => ids.push(id),
                None => problems.push(format!(
                    "call {i}: a success without an id: {}",
                    o.summary(200)
                )),
            },
            Outcome::Result { error: true, .. } if o.text().contains(query) => {}
            other => problems.push(format!(
                "call {i}: neither the result nor an answer naming {query}: {}",
                other.summary(200)
            )),
        }
    }
    ids.sort();
    ids.dedup();
    let mut answers: std::collections::BTreeMap<String, usize> = Default::default();
    for o in &outcomes {
        *answers.entry(o.summary(120)).or_default() += 1;
    }
    let summary: Vec<String> = answers.iter().map(|(a, n)| format!("{n} × {a}")).collect();
    eprintln!(
        "{tool_name}: {CALLS} concurrent identical calls over 2 processes → {sent} upstream request(s) on {stats_route}, {movements} movement(s) of {kind}, {} distinct result id(s)",
        ids.len()
    );
    assert!(
        sent == 1 && movements == 1 && ids.len() <= 1 && problems.is_empty(),
        "{tool_name} under {CALLS} concurrent identical calls (reference {reference}): {sent} upstream request(s) (want 1), {movements} movement(s) (want 1), {} distinct result(s) (want at most 1)\n{}\nanswers:\n  {}",
        ids.len(),
        problems.join("\n"),
        summary.join("\n  ")
    );
}

/// `POST /v1/charges/ch_1/refunds` → `POST /v1/charges/{id}/refunds` (the sandbox's stats key);
/// Alipay methods are their own key.
fn stats_route(line: &str) -> String {
    let Some((method, path)) = line.split_once(' ') else {
        return line.to_string();
    };
    let segments: Vec<&str> = path.split('/').collect();
    let templated: Vec<String> = segments
        .iter()
        .enumerate()
        .map(|(i, s)| {
            // Ids follow a collection name: /v1/<collection>/<id>/<collection>/<id>…
            if i >= 3 && i % 2 == 1 {
                if segments[i - 1] == "apps" {
                    "{app}".to_string()
                } else {
                    "{id}".to_string()
                }
            } else {
                s.to_string()
            }
        })
        .collect();
    format!("{method} {}", templated.join("/"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_identical_transfers_send_once() {
    race("transfer_fund").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_identical_refunds_with_one_refund_no_send_once() {
    race("create_refund").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_identical_charges_with_one_order_no_send_once() {
    race("create_charge").await;
}

#[test]
fn stats_routes_are_the_sandbox_templates() {
    assert_eq!(
        stats_route("POST /v1/charges/ch_1/refunds"),
        "POST /v1/charges/{id}/refunds"
    );
    assert_eq!(stats_route("POST /v1/charges"), "POST /v1/charges");
    assert_eq!(
        stats_route("POST /v1/apps/app_1/recharges/2/refunds"),
        "POST /v1/apps/{app}/recharges/{id}/refunds"
    );
    assert_eq!(
        stats_route("alipay.fund.trans.uni.transfer"),
        "alipay.fund.trans.uni.transfer"
    );
}
