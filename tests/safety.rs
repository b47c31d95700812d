//! Safety rules, each through the real binary: read-only, limits (also across a restart), live
//! writes, payee allowlist, confirmation on both elicitation paths, the idempotency guard, unknown
//! outcomes that query first, and an audit log without secrets.

mod common;

use std::process::Stdio;

use common::adversary::options as opts;
use common::elicit::{User, call, connect};
use common::{Harness, Options, unique};
use rmcp::model::{CallToolRequestParams, CallToolResponse, ElicitationAction};
use rmcp::service::RunningService;
use rmcp::transport::TokioChildProcess;
use rmcp::{RoleClient, ServiceExt};
use serde_json::{Value, json};

fn trade(no: &str, amount: &str) -> Value {
    json!({"out_trade_no": no, "total_amount": amount, "subject": "Safety test"})
}

fn transfer(biz: &str, amount: &str, payee: &str) -> Value {
    json!({"out_biz_no": biz, "trans_amount": amount, "payee_identity": payee, "payee_identity_type": "ALIPAY_USER_ID"})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_refuses_every_write() {
    let h = Harness::start(&[("ZHIFU_READ_ONLY", "1")]).await;
    let listed: Vec<String> = h.tools().await.iter().map(|t| t.name.to_string()).collect();
    let before = h.upstream_requests().await;
    let mut writes = 0;
    for tool in zhifu_generated::TOOLS {
        let read = tool.effect == zhifu_runtime::tool::Effect::Read;
        assert_eq!(
            listed.contains(&tool.name.to_string()),
            read,
            "{} listed in read-only mode",
            tool.name
        );
        if read {
            continue;
        }
        writes += 1;
        let err = h.err(tool.name, json!({})).await;
        assert_eq!(err["kind"], "policy_refused", "{}: {err}", tool.name);
        assert_eq!(err["rule"], "read_only", "{}: {err}", tool.name);
        assert!(
            err["message"].as_str().unwrap().contains("ZHIFU_READ_ONLY"),
            "{err}"
        );
    }
    assert!(writes >= 10, "the table has write tools");
    assert_eq!(
        h.upstream_requests().await,
        before,
        "nothing reached a gateway"
    );
    let audit = h.audit_lines();
    assert_eq!(
        audit
            .iter()
            .filter(|l| l["policy"] == "refused: read_only")
            .count(),
        writes
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_limit_calls_are_refused_before_any_request() {
    let h = Harness::start(&[
        ("ZHIFU_ALIPAY_MAX_PER_CALL_YUAN", "100"),
        ("ZHIFU_PINGPP_MAX_PER_CALL_YUAN", "50.00"),
    ])
    .await;
    let before = h.upstream_requests().await;
    let err = h
        .err(
            "transfer_fund",
            transfer(&unique("L"), "100.01", "2088123412341234"),
        )
        .await;
    assert_eq!(err["rule"], "per_call_limit", "{err}");
    let message = err["message"].as_str().unwrap();
    assert!(
        message.contains("ZHIFU_ALIPAY_MAX_PER_CALL_YUAN")
            && message.contains("¥100.01")
            && message.contains("¥100.00"),
        "{message}"
    );
    assert!(
        err["next_step"].as_str().unwrap().contains("Do not retry"),
        "the refusal does not invite a workaround: {err}"
    );
    let err = h
        .err("create_charge", common::charge_args(&unique("LIM"), 5001))
        .await;
    assert_eq!(err["rule"], "per_call_limit", "{err}");
    // A money-moving call that does not state its amount cannot be checked: refused.
    let err = h.err("cancel_trade", json!({"out_trade_no": "X1"})).await;
    assert_eq!(err["rule"], "amount_required", "{err}");
    assert_eq!(h.upstream_requests().await, before);
    // Within the limit it goes through.
    h.ok(
        "transfer_fund",
        transfer(&unique("L"), "100.00", "2088123412341234"),
    )
    .await;
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daily_limit_survives_a_restart() {
    let options = opts(&[("ZHIFU_ALIPAY_MAX_DAILY_YUAN", "100")]);
    let h = Harness::with(options.clone()).await;
    h.ok(
        "transfer_fund",
        transfer(&unique("D"), "60.00", "2088123412341234"),
    )
    .await;
    let h = h.restart(&options).await;
    let before = h.upstream_requests().await;
    let err = h
        .err(
            "transfer_fund",
            transfer(&unique("D"), "50.00", "2088123412341234"),
        )
        .await;
    assert_eq!(err["rule"], "daily_limit", "{err}");
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .contains("¥60.00 already used"),
        "{err}"
    );
    assert_eq!(
        h.upstream_requests().await,
        before,
        "refused before any request"
    );
    h.ok(
        "transfer_fund",
        transfer(&unique("D"), "40.00", "2088123412341234"),
    )
    .await;
    let ledger = h.sandbox_get("/_sandbox/alipay/transfers").await;
    assert_eq!(ledger.as_array().unwrap().len(), 2);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_credentials_need_the_live_write_switch() {
    let h = Harness::with(Options {
        alipay_production: true,
        ..Options::default()
    })
    .await;
    let before = h.upstream_requests().await;
    let err = h.err("create_trade", trade(&unique("LV"), "1.00")).await;
    assert_eq!(err["rule"], "live_writes", "{err}");
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .contains("ZHIFU_ALLOW_LIVE_WRITES"),
        "{err}"
    );
    // Reads still work against production.
    let q = h.call("query_trade", json!({"out_trade_no": "NOPE"})).await;
    assert_eq!(
        common::error_of(&q)["upstream"]["sub_code"],
        "ACQ.TRADE_NOT_EXIST"
    );
    assert_eq!(h.upstream_requests().await, before + 1);
    h.stop().await;
    // Live writes enabled: live mode asks for confirmation, and this client cannot answer.
    let h = Harness::with(Options {
        alipay_production: true,
        env: vec![("ZHIFU_ALLOW_LIVE_WRITES".into(), "1".into())],
        ..Options::default()
    })
    .await;
    let err = h.err("create_trade", trade(&unique("LV"), "1.00")).await;
    assert_eq!(err["kind"], "not_confirmed", "{err}");
    h.stop().await;
    // A Ping++ live key: refused before any request.
    let h = Harness::start(&[("PINGPP_API_KEY", "sk_live_ibbTe5jLGCi5rzfH4OqPW9KC")]).await;
    let before = h.upstream_requests().await;
    let err = h
        .err("create_charge", common::charge_args(&unique("LIVE"), 100))
        .await;
    assert_eq!(err["rule"], "live_writes", "{err}");
    assert_eq!(h.upstream_requests().await, before);
    assert!(
        !h.audit_text().contains("ibbTe5jLGCi5rzfH4OqPW9KC"),
        "no key in the audit log"
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transfers_only_to_allowlisted_payees() {
    let h = Harness::start(&[("ZHIFU_TRANSFER_PAYEES", "2088111111111111,2088222222222222")]).await;
    let before = h.upstream_requests().await;
    let err = h
        .err(
            "transfer_fund",
            transfer(&unique("P"), "1.00", "2088333333333333"),
        )
        .await;
    assert_eq!(err["rule"], "transfer_payees", "{err}");
    assert_eq!(h.upstream_requests().await, before);
    h.ok(
        "transfer_fund",
        transfer(&unique("P"), "1.00", "2088222222222222"),
    )
    .await;
    h.stop().await;
}

/// 2025-11-25 path: the server asks with an elicitation request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confirmation_by_elicitation_decline_cancel_accept() {
    let options = opts(&[("ZHIFU_CONFIRM", "always")]);
    let h = Harness::with(options.clone()).await;
    for action in [ElicitationAction::Decline, ElicitationAction::Cancel] {
        let user = User::new(action.clone());
        let client = connect(&h, &options, user.clone(), false).await;
        let before = h.upstream_requests().await;
        let (failed, v) = call(&client, "create_trade", trade(&unique("E"), "12.34")).await;
        assert!(failed, "{action:?}: {v}");
        assert_eq!(v["error"]["kind"], "not_confirmed", "{v}");
        assert_eq!(
            h.upstream_requests().await,
            before,
            "{action:?}: nothing sent"
        );
        assert_eq!(user.asked.lock().unwrap().len(), 1);
        let _ = client.cancel().await;
    }
    let user = User::new(ElicitationAction::Accept);
    let client = connect(&h, &options, user.clone(), false).await;
    let before = h.upstream_requests().await;
    let no = unique("E");
    let (failed, v) = call(&client, "create_trade", trade(&no, "12.34")).await;
    assert!(!failed, "{v}");
    assert_eq!(h.upstream_requests().await, before + 1, "exactly one call");
    let asked = user.asked.lock().unwrap().clone();
    let message = &asked[0];
    for needle in ["¥12.34", &no, "Alipay", "sandbox", "create_trade"] {
        assert!(
            message.contains(needle),
            "the prompt shows {needle}: {message}"
        );
    }
    let _ = client.cancel().await;
    // A client without elicitation support is refused, never sent silently.
    let plain = connect_plain(&h, &options).await;
    let before = h.upstream_requests().await;
    let r = plain
        .call_tool(
            CallToolRequestParams::new("create_trade")
                .with_arguments(common::obj(trade(&unique("E"), "1.00"))),
        )
        .await
        .unwrap();
    assert_eq!(r.is_error, Some(true));
    assert_eq!(common::error_of(&r)["kind"], "not_confirmed");
    assert_eq!(h.upstream_requests().await, before);
    let audit = h.audit_lines();
    for outcome in ["declined", "cancelled", "accepted", "unsupported"] {
        assert!(
            audit.iter().any(|l| l["confirmation"] == outcome),
            "audit records {outcome}"
        );
    }
    h.stop().await;
}

async fn connect_plain(h: &Harness, options: &Options) -> RunningService<RoleClient, ()> {
    let cmd = common::server_command(&h.sandbox, &h.dir, options);
    let (transport, _) = TokioChildProcess::builder(cmd)
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    ().serve(transport).await.unwrap()
}

/// 2026-07-28 path: an input-required result whose ticket is bound to the exact arguments.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confirmation_by_input_required_is_bound_to_the_arguments() {
    let options = opts(&[("ZHIFU_CONFIRM", "always")]);
    let h = Harness::with(options.clone()).await;
    let user = User::new(ElicitationAction::Accept);
    let client = connect(&h, &options, user.clone(), true).await;
    // rmcp's client drives the rounds through the handler: accepted, one call.
    let before = h.upstream_requests().await;
    let (failed, v) = call(&client, "create_trade", trade(&unique("M"), "3.00")).await;
    assert!(!failed, "{v}");
    assert_eq!(h.upstream_requests().await, before + 1);
    assert_eq!(user.asked.lock().unwrap().len(), 1);

    // By hand: get the ticket, then try an altered retry and a replay.
    let no = unique("M");
    let first = client
        .call_tool_once(
            CallToolRequestParams::new("create_trade")
                .with_arguments(common::obj(trade(&no, "3.00"))),
        )
        .await
        .unwrap();
    let CallToolResponse::InputRequired(ask) = first else {
        panic!("expected input_required")
    };
    let state = ask.request_state.clone().expect("a ticket");
    let mut answers = std::collections::BTreeMap::new();
    answers.insert(
        "confirm".to_string(),
        json!({"action": "accept", "content": {"confirm": true}}),
    );
    let retry = |args: Value| {
        CallToolRequestParams::new("create_trade")
            .with_arguments(common::obj(args))
            .with_input_responses(answers.clone())
            .with_request_state(state.clone())
    };
    let before = h.upstream_requests().await;
    let altered = client
        .call_tool_once(retry(trade(&no, "300.00")))
        .await
        .unwrap();
    let CallToolResponse::Complete(altered) = altered else {
        panic!("expected a result")
    };
    assert_eq!(altered.is_error, Some(true));
    assert_eq!(
        common::error_of(&altered)["kind"],
        "not_confirmed",
        "an altered retry is refused"
    );
    assert_eq!(h.upstream_requests().await, before);
    let CallToolResponse::Complete(ok) = client
        .call_tool_once(retry(trade(&no, "3.00")))
        .await
        .unwrap()
    else {
        panic!()
    };
    assert_ne!(ok.is_error, Some(true), "{:?}", ok.structured_content);
    assert_eq!(h.upstream_requests().await, before + 1);
    let CallToolResponse::Complete(replayed) = client
        .call_tool_once(retry(trade(&no, "3.00")))
        .await
        .unwrap()
    else {
        panic!()
    };
    assert_eq!(
        common::error_of(&replayed)["kind"],
        "not_confirmed",
        "a replayed ticket is refused"
    );
    assert_eq!(h.upstream_requests().await, before + 1);
    // A model-supplied `confirm: true` is not consent: the schema does not even accept it.
    let mut sneaky = trade(&unique("M"), "3.00");
    sneaky["confirm"] = json!(true);
    let CallToolResponse::Complete(r) = client
        .call_tool_once(
            CallToolRequestParams::new("create_trade").with_arguments(common::obj(sneaky)),
        )
        .await
        .unwrap()
    else {
        panic!()
    };
    assert_eq!(common::error_of(&r)["field"], "confirm");
    let _ = client.cancel().await;
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exact_repeats_replay_and_changed_repeats_are_refused() {
    let h = Harness::start(&[]).await;
    let no = unique("I");
    let before = h.upstream_requests().await;
    let first = h.ok("create_trade", trade(&no, "20.00")).await;
    let again = h.ok("create_trade", trade(&no, "20.00")).await;
    assert_eq!(first["trade_no"], again["trade_no"]);
    assert_eq!(again["replayed"], true);
    assert_eq!(
        h.upstream_requests().await,
        before + 1,
        "one upstream call for an exact repeat"
    );
    let err = h.err("create_trade", trade(&no, "21.00")).await;
    assert_eq!(err["kind"], "idempotency_conflict", "{err}");
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .contains("ACQ.CONTEXT_INCONSISTENT"),
        "names the gateway's own error: {err}"
    );
    assert_eq!(err["field"], "out_trade_no");
    assert_eq!(h.upstream_requests().await, before + 1);
    let audit = h.audit_lines();
    assert!(audit.iter().any(|l| l["idempotency"] == "replayed"));
    assert!(audit.iter().any(|l| l["idempotency"] == "conflict"));
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timed_out_transfer_is_queried_before_any_retry() {
    let h = Harness::start(&[("ZHIFU_HTTP_TIMEOUT_MS", "1500")]).await;
    h.sandbox_post("/_sandbox/faults", json!({"match": "alipay.fund.trans.uni.transfer", "kind": "latency", "latency_ms": 4000, "count": 1})).await;
    let args = transfer(&unique("TO"), "9.99", "2088123412341234");
    let err = h.err("transfer_fund", args.clone()).await;
    assert_eq!(err["outcome"], "UNKNOWN", "{err}");
    assert!(
        err["next_step"]
            .as_str()
            .unwrap()
            .contains("query_transfer"),
        "{err}"
    );
    assert_eq!(err["retry_safe"], false);
    // Let the slow request finish on the gateway side.
    tokio::time::sleep(std::time::Duration::from_millis(3000)).await;
    let recovered = h.ok("transfer_fund", args.clone()).await;
    assert_eq!(recovered["status"], "SUCCESS", "{recovered}");
    let ledger = h.sandbox_get("/_sandbox/alipay/transfers").await;
    assert_eq!(
        ledger.as_array().unwrap().len(),
        1,
        "exactly one transfer: {ledger}"
    );
    let audit = h.audit_lines();
    assert!(audit.iter().any(|l| l["outcome"] == "UNKNOWN"));
    assert!(audit.iter().any(|l| l["idempotency"] == "queried_first"));
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_log_has_a_line_per_call_and_no_secret() {
    let h = Harness::start(&[]).await;
    let code = h
        .sandbox_post("/_sandbox/alipay/oauth/codes", json!({}))
        .await["code"]
        .as_str()
        .unwrap()
        .to_string();
    let token = h
        .ok(
            "get_oauth_token",
            json!({"grant_type": "authorization_code", "code": code}),
        )
        .await;
    let access = token["access_token"].as_str().unwrap().to_string();
    h.ok("query_user_info", json!({"auth_token": access})).await;
    h.err(
        "query_user_info",
        json!({"auth_token": "bogus-token-value-123"}),
    )
    .await;
    h.ok("create_charge", common::charge_args(&unique("AU"), 100))
        .await;
    let text = h.audit_text();
    let lines = h.audit_lines();
    assert_eq!(lines.len(), 4, "{text}");
    for secret in [
        code.as_str(),
        access.as_str(),
        "bogus-token-value-123",
        h.sandbox.pingpp.api_key.as_str(),
        "PRIVATE KEY",
    ] {
        assert!(
            !text.contains(secret),
            "secret {secret} leaked into the audit log"
        );
    }
    let charge = lines.iter().find(|l| l["tool"] == "create_charge").unwrap();
    for field in [
        "time",
        "tool",
        "provider",
        "environment",
        "merchant_reference",
        "amount",
        "args",
        "upstream_ids",
        "result",
        "duration_ms",
        "confirmation",
        "policy",
    ] {
        assert!(charge.get(field).is_some(), "audit field {field}: {charge}");
    }
    assert_eq!(charge["amount"], "¥1.00");
    assert!(
        charge["upstream_ids"]["id"]
            .as_str()
            .unwrap()
            .starts_with("ch_")
    );
    h.stop().await;
}
