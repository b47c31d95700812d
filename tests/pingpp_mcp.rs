//! The built binary over stdio with rmcp's client, against the Ping++ sandbox gateway.

mod common;

use std::collections::BTreeSet;

use common::adversary::{
    batch_refund_args, batch_transfer_args, paid_charge, paid_offline_charge, pingpp_transfer_args,
    red_envelope_args, unionpay_transfer_args,
};
use common::{Flow, Harness, charge_args, unique};
use serde_json::{Value, json};

/// Every Ping++ tool of the generated table: a tool added to the spec must be called by
/// `every_tool_in_a_payment_flow`, or that test fails.
fn pingpp_tools() -> BTreeSet<&'static str> {
    zhifu_generated::TOOLS
        .iter()
        .filter(|t| t.provider == zhifu_runtime::tool::Provider::Pingpp)
        .map(|t| t.name)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tools_list_has_titles_honest_annotations_and_output_schemas() {
    let h = Harness::start(&[]).await;
    let tools = h.tools().await;
    let names: BTreeSet<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    for name in pingpp_tools() {
        assert!(names.contains(&name), "missing tool {name}; have {names:?}");
    }
    for tool in &tools {
        let ann = tool
            .annotations
            .as_ref()
            .unwrap_or_else(|| panic!("{} has no annotations", tool.name));
        assert!(tool.title.is_some(), "{} has no title", tool.name);
        assert!(
            tool.output_schema.is_some(),
            "{} has no outputSchema",
            tool.name
        );
        assert_eq!(
            tool.input_schema.get("type"),
            Some(&json!("object")),
            "{}",
            tool.name
        );
        assert_eq!(
            tool.input_schema.get("additionalProperties"),
            Some(&json!(false)),
            "{}",
            tool.name
        );
        let read_only = ann.read_only_hint == Some(true);
        let def = zhifu_generated::TOOLS
            .iter()
            .find(|d| d.name == tool.name)
            .unwrap();
        let is_read = def.effect == zhifu_runtime::tool::Effect::Read;
        let money = matches!(
            def.effect,
            zhifu_runtime::tool::Effect::MovesMoney | zhifu_runtime::tool::Effect::Irreversible
        );
        if !is_read {
            assert_eq!(
                ann.destructive_hint,
                Some(money),
                "{} destructiveHint",
                tool.name
            );
            let keyed = def.merchant_reference.is_some();
            if ann.idempotent_hint == Some(true) {
                assert!(
                    keyed,
                    "{} claims idempotency without a merchant reference",
                    tool.name
                );
            }
        }
        assert_eq!(read_only, is_read, "{} readOnlyHint", tool.name);
    }
    let refund = tools
        .iter()
        .find(|t| t.name == "create_refund")
        .unwrap()
        .annotations
        .clone()
        .unwrap();
    assert_eq!(
        refund.destructive_hint,
        Some(true),
        "refunds move money: destructive"
    );
    assert_eq!(
        refund.idempotent_hint,
        Some(true),
        "refunds are keyed by the caller's refund_no: idempotent"
    );
    let verify = tools
        .iter()
        .find(|t| t.name == "verify_webhook")
        .unwrap()
        .annotations
        .clone()
        .unwrap();
    assert_eq!(
        verify.open_world_hint,
        Some(false),
        "verify_webhook is local"
    );
    h.stop().await;
}

/// Every tool at least once, in the flow customer → charge → pay → partial refund → full refund,
/// then recharges, events and webhook verification; every result matches its output schema.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_tool_in_a_payment_flow() {
    let h = Harness::start(&[]).await;
    let mut flow = Flow::new(&h).await;
    macro_rules! ok {
        ($name:expr, $args:expr) => {{ flow.ok($name, $args).await }};
    }

    let customer = ok!(
        "create_customer",
        json!({"email": "buyer@example.com", "description": "VIP buyer", "metadata": {"tier": "gold"}})
    );
    let customer_id = customer["id"].as_str().unwrap().to_string();
    assert!(customer_id.starts_with("cus_"));
    let again = ok!("retrieve_customer", json!({"customer_id": customer_id}));
    assert_eq!(again["email"], "buyer@example.com");
    let customers = ok!("list_customers", json!({"limit": 5}));
    assert!(
        customers["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["id"] == customer_id.as_str())
    );

    let order_no = unique("ORD");
    let mut args = charge_args(&order_no, 1550);
    args["metadata"] = json!({"customer": customer_id});
    let charge = ok!("create_charge", args);
    let charge_id = charge["id"].as_str().unwrap().to_string();
    assert_eq!(charge["amount"], 1550);
    assert_eq!(charge["paid"], false);
    assert_eq!(
        charge["app"],
        h.sandbox.pingpp.app_id.as_str(),
        "app id came from PINGPP_APP_ID"
    );

    h.pay(&charge_id).await;
    let paid = ok!(
        "retrieve_charge",
        json!({"charge_id": charge_id, "expand": ["app"]})
    );
    assert_eq!(paid["paid"], true);
    assert_eq!(
        paid["app"]["id"],
        h.sandbox.pingpp.app_id.as_str(),
        "expand[]=app returns the app object"
    );
    let listed = ok!("list_charges", json!({"limit": 3, "paid": true}));
    assert!(
        listed["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["id"] == charge_id.as_str())
    );

    let (partial_no, rest_no) = (unique("RF"), unique("RF"));
    let partial = ok!(
        "create_refund",
        json!({"charge_id": charge_id, "amount": 500, "description": "damaged box", "refund_no": partial_no})
    );
    assert_eq!(partial["amount"], 500);
    let partial_id = partial["id"].as_str().unwrap().to_string();
    let rest = ok!(
        "create_refund",
        json!({"charge_id": charge_id, "description": "customer returned the item", "refund_no": rest_no, "metadata": {"ticket": "T-7"}})
    );
    assert_eq!(
        rest["amount"], 1050,
        "without amount the remaining 10.50 is refunded"
    );
    let fetched = ok!(
        "retrieve_refund",
        json!({"charge_id": charge_id, "refund_id": partial_id})
    );
    assert_eq!(
        fetched["status"], "succeeded",
        "a pending refund settles in the sandbox when retrieved"
    );
    let refunds = ok!("list_refunds", json!({"charge_id": charge_id}));
    let listed: Vec<&Value> = refunds["data"].as_array().unwrap().iter().collect();
    assert_eq!(listed.len(), 2);
    // The retry key travels in the refund's metadata, next to the caller's own keys, so the
    // refund can be found again by listing.
    assert_eq!(
        listed[0]["metadata"],
        json!({"ticket": "T-7", "refund_no": rest_no})
    );
    assert_eq!(listed[1]["metadata"], json!({"refund_no": partial_no}));
    let done = h
        .ok("retrieve_charge", json!({"charge_id": charge_id}))
        .await;
    assert_eq!(done["amount_refunded"], 1550);
    let third = h
        .err(
            "create_refund",
            json!({"charge_id": charge_id, "amount": 1, "description": "again", "refund_no": unique("RF")}),
        )
        .await;
    assert_eq!(third["kind"], "upstream");
    assert!(
        third["upstream"]["message"]
            .as_str()
            .unwrap()
            .contains("全额退款"),
        "{third}"
    );

    let recharge = ok!(
        "create_recharge",
        json!({"user": "u_1001", "amount": 10000, "channel": "alipay", "order_no": unique("RC").chars().take(20).collect::<String>(), "subject": "Top-up", "body": "Balance top-up", "description": "top-up"})
    );
    let recharge_id = recharge["id"].as_str().unwrap().to_string();
    ok!("retrieve_recharge", json!({"recharge_id": recharge_id}));
    let rr_no = unique("RR");
    let rr = ok!(
        "create_recharge_refund",
        json!({"recharge_id": recharge_id, "description": "user asked for the balance back", "refund_no": rr_no})
    );
    let rr_id = rr["id"].as_str().unwrap().to_string();
    ok!(
        "retrieve_recharge_refund",
        json!({"recharge_id": recharge_id, "refund_id": rr_id})
    );
    let rrs = ok!(
        "list_recharge_refunds",
        json!({"recharge_id": recharge_id, "page": 1, "per_page": 10})
    );
    assert_eq!(rrs["data"].as_array().unwrap().len(), 1);
    assert_eq!(rrs["data"][0]["metadata"]["refund_no"], rr_no.as_str());

    let events = h.events().await;
    let event = events
        .iter()
        .find(|e| e["type"] == "charge.succeeded")
        .expect("a charge.succeeded event");
    let event_id = event["id"].as_str().unwrap().to_string();
    let fetched = ok!("retrieve_event", json!({"event_id": event_id}));
    assert_eq!(fetched["type"], "charge.succeeded");
    let (body, signature) = h.webhook(&event_id).await;
    let verdict = ok!(
        "verify_webhook",
        json!({"body": body, "signature": signature})
    );
    assert_eq!(verdict["valid"], true);
    assert_eq!(verdict["event_id"], event_id.as_str());
    let tampered = body.replacen("charge.succeeded", "charge.succeedeX", 1);
    let verdict = h
        .ok(
            "verify_webhook",
            json!({"body": tampered, "signature": signature}),
        )
        .await;
    assert_eq!(verdict["valid"], false);
    assert!(
        verdict["event_id"].is_null(),
        "nothing from an unverified body is passed on"
    );

    // No receiver here: nothing was received, and wait_for_payment asks Ping++ instead.
    let received = ok!("list_received_events", json!({"provider": "pingpp"}));
    assert_eq!(received["events"], json!([]), "{received}");
    let unknown = h
        .err(
            "retrieve_received_event",
            json!({"provider": "pingpp", "event_id": event_id}),
        )
        .await;
    assert!(
        unknown["message"].as_str().unwrap().contains(&event_id),
        "{unknown}"
    );
    flow.called.insert("retrieve_received_event");
    let waited = ok!(
        "wait_for_payment",
        json!({"order_no": order_no, "charge_id": charge_id, "timeout_seconds": 10})
    );
    assert_eq!(waited["settled"], true, "{waited}");
    assert_eq!(waited["source"], "query", "{waited}");
    assert_eq!(waited["last_query_error"], Value::Null, "{waited}");

    users_and_balances(&mut flow).await;
    transfers_and_red_envelopes(&mut flow).await;
    batches_reversal_and_events(&mut flow).await;

    let today = zhifu_runtime::time::beijing_today();
    let summary = flow
        .ok("summarize_charges", json!({"from": today, "to": today}))
        .await;
    assert!(summary["count"].as_u64().unwrap() >= 1, "{summary}");
    assert!(summary["gross"].as_i64().unwrap() > 0, "{summary}");

    let missing: Vec<_> = pingpp_tools().difference(&flow.called).copied().collect();
    assert!(missing.is_empty(), "tools never called: {missing:?}");
    h.stop().await;
}

/// A user of the account system: created, recharged, paying from the balance, its movements
/// listed and one of them retrieved, updated, listed.
async fn users_and_balances(flow: &mut Flow<'_>) {
    let user_id = unique("u_");
    let user = flow
        .ok(
            "create_user",
            json!({"user_id": user_id, "name": "Buyer", "email": "buyer@example.com", "gender": "FEMALE"}),
        )
        .await;
    assert_eq!(user["available_balance"], 0);
    let order_no: String = unique("RB").chars().take(20).collect();
    let recharge = flow
        .ok(
            "create_recharge",
            json!({"user": user_id, "amount": 10_000, "channel": "alipay", "order_no": order_no, "subject": "Top-up", "body": "Balance top-up"}),
        )
        .await;
    let mut pay = charge_args(&unique("BAL"), 2_500);
    pay["channel"] = json!("balance");
    pay["extra"] = json!({"user": user_id});
    let charge = flow.ok("create_charge", pay).await;
    assert_eq!(charge["paid"], true, "a balance charge is paid at once");
    let user = flow.ok("retrieve_user", json!({"user_id": user_id})).await;
    assert_eq!(user["available_balance"], 7_500);
    let moves = flow
        .ok("list_balance_transactions", json!({"user": user_id}))
        .await;
    let kinds: Vec<(&str, i64)> = moves["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["type"].as_str().unwrap(), t["amount"].as_i64().unwrap()))
        .collect();
    assert_eq!(kinds, vec![("payment", -2_500), ("recharge", 10_000)]);
    let first = moves["data"][1]["id"].as_str().unwrap().to_string();
    let one = flow
        .ok(
            "retrieve_balance_transaction",
            json!({"balance_transaction_id": first}),
        )
        .await;
    assert_eq!(one["source"], recharge["id"]);
    let renamed = flow
        .ok(
            "update_user",
            json!({"user_id": user_id, "name": "Buyer Two"}),
        )
        .await;
    assert_eq!(renamed["name"], "Buyer Two");
    let users = flow.ok("list_users", json!({"per_page": 100})).await;
    assert!(
        users["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|u| u["id"] == user_id.as_str())
    );
    let recharges = flow.ok("list_recharges", json!({"page": 1})).await;
    assert!(
        recharges["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["id"] == recharge["id"])
    );
}

/// Transfers (paid, canceled while scheduled, reversed while pending) and a red envelope.
async fn transfers_and_red_envelopes(flow: &mut Flow<'_>) {
    let paid = flow
        .ok("create_transfer", pingpp_transfer_args(&unique("TF")))
        .await;
    assert_eq!(paid["status"], "pending");
    let id = paid["id"].as_str().unwrap().to_string();
    let paid = flow
        .ok("retrieve_transfer", json!({"transfer_id": id}))
        .await;
    assert_eq!(paid["status"], "paid");
    let listed = flow
        .ok("list_transfers", json!({"status": "paid", "limit": 100}))
        .await;
    assert!(
        listed["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["id"] == id.as_str())
    );
    let scheduled = flow.ok("create_transfer", unionpay_transfer_args()).await;
    assert_eq!(scheduled["status"], "scheduled");
    let canceled = flow
        .ok("cancel_transfer", json!({"transfer_id": scheduled["id"]}))
        .await;
    assert_eq!(canceled["status"], "canceled");
    let pending = flow
        .ok("create_transfer", pingpp_transfer_args(&unique("TV")))
        .await;
    let reversed = flow
        .ok("reverse_transfer", json!({"transfer_id": pending["id"]}))
        .await;
    assert_eq!(reversed["status"], "reversed");

    let envelope = flow
        .ok("create_red_envelope", red_envelope_args(&unique("8")))
        .await;
    assert_eq!(envelope["status"], "sending");
    let sent = flow
        .ok(
            "retrieve_red_envelope",
            json!({"red_envelope_id": envelope["id"]}),
        )
        .await;
    assert_eq!(sent["status"], "sent");
    let envelopes = flow
        .ok("list_red_envelopes", json!({"status": "sent"}))
        .await;
    assert!(
        envelopes["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["id"] == envelope["id"])
    );
}

/// A batch transfer (paid, and one canceled while scheduled), a batch refund, a reversed
/// offline charge, and the event list.
async fn batches_reversal_and_events(flow: &mut Flow<'_>) {
    let batch = flow
        .ok(
            "create_batch_transfer",
            batch_transfer_args(&unique("BATCHF")),
        )
        .await;
    assert_eq!(batch["status"], "pending");
    let done = flow
        .ok(
            "retrieve_batch_transfer",
            json!({"batch_transfer_id": batch["id"]}),
        )
        .await;
    assert_eq!(done["status"], "succeeded");
    assert!(
        done["recipients"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["status"] == "paid")
    );
    let batches = flow
        .ok("list_batch_transfers", json!({"per_page": 100}))
        .await;
    assert!(
        batches["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|b| b["id"] == batch["id"])
    );
    let mut unionpay = batch_transfer_args(&unique("BATCHU"));
    unionpay["channel"] = json!("unionpay");
    for r in unionpay["recipients"].as_array_mut().unwrap() {
        r["account"] = json!("6228480402564890011");
        r["open_bank_code"] = json!("0103");
    }
    let scheduled = flow.ok("create_batch_transfer", unionpay).await;
    assert_eq!(scheduled["status"], "scheduled");
    let canceled = flow
        .ok(
            "cancel_batch_transfer",
            json!({"batch_transfer_id": scheduled["id"]}),
        )
        .await;
    assert_eq!(canceled["status"], "canceled");

    let charges = [paid_charge(flow.h).await, paid_charge(flow.h).await];
    let refund = flow
        .ok(
            "create_batch_refund",
            batch_refund_args(&unique("BRF"), &charges, 300),
        )
        .await;
    let refund = flow
        .ok(
            "retrieve_batch_refund",
            json!({"batch_refund_id": refund["id"]}),
        )
        .await;
    assert_eq!(refund["status"], "succeeded");
    let refunds = flow.ok("list_batch_refunds", json!({})).await;
    assert!(
        refunds["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|b| b["id"] == refund["id"])
    );

    let offline = paid_offline_charge(flow.h).await;
    let reversed = flow
        .ok("reverse_charge", json!({"charge_id": offline}))
        .await;
    assert_eq!(reversed["reversed"], true);
    assert_eq!(
        reversed["amount_refunded"], 100,
        "a paid charge is refunded in full"
    );
    let listed = flow.ok("list_charges", json!({"reversed": true})).await;
    assert!(
        listed["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["id"] == offline.as_str())
    );

    let events = flow
        .ok("list_events", json!({"type": "transfer.succeeded"}))
        .await;
    let events = events["data"].as_array().unwrap();
    assert!(!events.is_empty());
    assert!(events.iter().all(|e| e["type"] == "transfer.succeeded"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pagination_walks_every_page_once() {
    let h = Harness::start(&[]).await;
    let prefix = unique("PG");
    let mut created = Vec::new();
    for i in 0..7 {
        let c = h
            .ok(
                "create_charge",
                charge_args(&format!("{prefix}{i}"), 100 + i),
            )
            .await;
        created.push(c["id"].as_str().unwrap().to_string());
    }
    let since = h
        .ok("retrieve_charge", json!({"charge_id": created[0]}))
        .await["created"]
        .as_i64()
        .unwrap();
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut args = json!({"limit": 3, "created": {"gte": since}});
        if let Some(c) = &cursor {
            args["starting_after"] = json!(c);
        }
        let page = h.ok("list_charges", args).await;
        pages += 1;
        for c in page["data"].as_array().unwrap() {
            seen.push(c["id"].as_str().unwrap().to_string());
        }
        if page["has_more"] == false {
            assert!(page["next_cursor"].is_null());
            break;
        }
        cursor = Some(
            page["next_cursor"]
                .as_str()
                .expect("next_cursor when has_more")
                .to_string(),
        );
        assert!(pages < 10, "pagination does not end");
    }
    assert_eq!(pages, 3, "7 charges at 3 per page");
    let mut expected = created.clone();
    expected.reverse();
    assert_eq!(seen, expected, "newest first, each exactly once");
    // ending_before walks back.
    let back = h
        .ok(
            "list_charges",
            json!({"limit": 2, "ending_before": created[2], "created": {"gte": since}}),
        )
        .await;
    let ids: Vec<&str> = back["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![created[4].as_str(), created[3].as_str()]);
    h.stop().await;
}

/// Bad inputs are refused locally with the field named, and nothing reaches the gateway.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_inputs_are_rejected_before_any_request() {
    let h = Harness::start(&[]).await;
    let before = h.upstream_requests().await;
    let base = charge_args("BAD0001", 100);
    let with = |k: &str, v: Value| {
        let mut a = base.clone();
        a[k] = v;
        a
    };
    let without = |k: &str| {
        let mut a = base.clone();
        a.as_object_mut().unwrap().remove(k);
        a
    };
    let eleven: serde_json::Map<String, Value> =
        (0..11).map(|i| (format!("k{i}"), json!("v"))).collect();
    let cases: Vec<(&str, Value, &str)> = vec![
        ("missing amount", without("amount"), "amount"),
        ("1.5 as amount", with("amount", json!(1.5)), "amount"),
        ("zero amount", with("amount", json!(0)), "amount"),
        ("amount as string", with("amount", json!("100")), "amount"),
        // Bounded by the spec's maximum (amount_fen: at most 10000000000 fen).
        ("1e308 as amount", with("amount", json!(1e308)), "amount"),
        (
            "2^63 as amount",
            with("amount", json!(9_223_372_036_854_775_808u64)),
            "amount",
        ),
        (
            "time_expire past 2100",
            with("time_expire", json!(4_102_444_801i64)),
            "time_expire",
        ),
        (
            "unknown channel",
            with("channel", json!("paypal_classic")),
            "channel",
        ),
        (
            "missing required extra field",
            with("channel", json!("wx_pub")),
            "extra",
        ),
        (
            "11 metadata keys",
            with("metadata", Value::Object(eleven)),
            "metadata",
        ),
        (
            "33-character subject",
            with("subject", json!("s".repeat(33))),
            "subject",
        ),
        (
            "order_no with symbols",
            with("order_no", json!("A-1/2")),
            "order_no",
        ),
        (
            "upacp order_no too short",
            {
                let mut a = with("channel", json!("upacp"));
                a["order_no"] = json!("SHORT");
                a
            },
            "order_no",
        ),
        ("unknown argument", with("colour", json!("red")), "colour"),
    ];
    for (what, args, field) in cases {
        let err = h.err("create_charge", args).await;
        assert_eq!(err["kind"], "invalid_arguments", "{what}: {err}");
        let fields: Vec<String> =
            std::iter::once(err["field"].as_str().unwrap_or_default().to_string())
                .chain(
                    err["violations"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|v| v["field"].as_str().unwrap_or_default().to_string()),
                )
                .collect();
        assert!(
            fields
                .iter()
                .any(|f| f == field || f.starts_with(&format!("{field}."))),
            "{what}: field {field} not named in {err}"
        );
    }
    let err = h
        .err("retrieve_charge", json!({"charge_id": "../v1/customers"}))
        .await;
    assert_eq!(
        err["field"], "charge_id",
        "path injection is refused: {err}"
    );
    let err = h.err("list_charges", json!({"limit": 101})).await;
    assert_eq!(err["field"], "limit");
    let err = h
        .err(
            "create_refund",
            json!({"charge_id": "ch_abc", "amount": 100, "refund_no": "R1"}),
        )
        .await;
    assert_eq!(err["field"], "description", "{err}");
    // The retry key has its own argument; the caller's metadata cannot carry a second one.
    let err = h
        .err(
            "create_refund",
            json!({"charge_id": "ch_abc", "description": "x", "refund_no": "R1", "metadata": {"refund_no": "R2"}}),
        )
        .await;
    assert_eq!(err["field"], "metadata", "{err}");
    let err = h
        .err(
            "create_refund",
            json!({"charge_id": "ch_abc", "description": "x", "refund_no": "R 1"}),
        )
        .await;
    assert_eq!(err["field"], "refund_no", "{err}");
    assert_eq!(
        h.upstream_requests().await,
        before,
        "no request may reach the gateway"
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_errors_surface_with_the_ping_message() {
    let h = Harness::start(&[]).await;
    let err = h
        .err(
            "retrieve_charge",
            json!({"charge_id": "ch_DoesNotExist000000000000"}),
        )
        .await;
    assert_eq!(err["kind"], "upstream");
    assert_eq!(err["upstream"]["http_status"], 404);
    assert_eq!(err["upstream"]["type"], "invalid_request_error");
    assert!(
        err["upstream"]["message"]
            .as_str()
            .unwrap()
            .contains("ch_DoesNotExist"),
        "{err}"
    );
    assert_eq!(err["retry_safe"], false);
    assert!(err["next_step"].as_str().unwrap().len() > 10);
    // Same order_no, different amount: the gateway refuses, and the model is told which field.
    let order_no = unique("DUP");
    let first = h.ok("create_charge", charge_args(&order_no, 100)).await;
    let same = h.ok("create_charge", charge_args(&order_no, 100)).await;
    assert_eq!(
        first["id"], same["id"],
        "an exact retry returns the same charge"
    );
    let err = h.err("create_charge", charge_args(&order_no, 200)).await;
    assert_eq!(
        err["kind"], "idempotency_conflict",
        "the server refuses a changed repeat itself: {err}"
    );
    assert_eq!(err["field"], "order_no", "{err}");
    h.stop().await;
}

/// A wait whose every gateway query fails (here 500s) ends unsettled and says why, instead of
/// looking like a charge that is simply not paid yet.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wait_whose_queries_fail_says_so() {
    let h = Harness::start(&[]).await;
    let order_no = unique("WQF");
    let charge = h.ok("create_charge", charge_args(&order_no, 100)).await;
    let charge_id = charge["id"].as_str().unwrap().to_string();
    h.sandbox_post(
        "/_sandbox/faults",
        json!({"match": "GET /v1/charges/{id}", "kind": "status", "status": 500, "count": 1000}),
    )
    .await;
    let waited = h
        .ok(
            "wait_for_payment",
            json!({"charge_id": charge_id, "timeout_seconds": 4}),
        )
        .await;
    assert_eq!(waited["settled"], false, "{waited}");
    let error = waited["last_query_error"].as_str().unwrap_or_default();
    assert!(
        error.contains("500"),
        "the failing query is named: {waited}"
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_signing_key_is_refused_by_the_gateway() {
    // A valid key of the wrong merchant: the sandbox verifies signatures over the raw bytes.
    let other = common::temp_dir("wrongkey").join("k.pem");
    std::fs::write(&other, std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/vectors/pingpp/request_signing_generated/test_merchant_private_key_pkcs1.pem")).unwrap()).unwrap();
    let h = Harness::start(&[("PINGPP_PRIVATE_KEY_PATH", other.to_str().unwrap())]).await;
    let err = h.err("list_charges", json!({})).await;
    let status = err["upstream"]["http_status"].as_u64().unwrap();
    assert!(status == 400 || status == 401, "{err}");
    assert!(
        err["upstream"]["message"]
            .as_str()
            .unwrap()
            .contains("Pingplusplus-Signature"),
        "{err}"
    );
    assert!(
        err["next_step"]
            .as_str()
            .unwrap()
            .contains("PINGPP_PRIVATE_KEY"),
        "{err}"
    );
    assert_eq!(err["retry_safe"], false);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_mode_lists_and_allows_only_reads() {
    let h = Harness::start(&[("ZHIFU_READ_ONLY", "1")]).await;
    let names: Vec<String> = h.tools().await.iter().map(|t| t.name.to_string()).collect();
    assert!(names.contains(&"list_charges".to_string()));
    assert!(!names.iter().any(|n| n.starts_with("create_")), "{names:?}");
    let before = h.upstream_requests().await;
    let err = h
        .err(
            "create_refund",
            json!({"charge_id": "ch_x", "description": "x", "refund_no": "R1"}),
        )
        .await;
    assert_eq!(
        err["rule"], "read_only",
        "an unlisted tool is not callable: {err}"
    );
    assert_eq!(h.upstream_requests().await, before);
    h.stop().await;
}
