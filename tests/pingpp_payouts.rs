//! Ping++ payouts, batches and balances through the real binary and the sandbox: a transfer that
//! is paid, one the channel refuses and one cancelled; a batch refund over three charges with one
//! item refused; payees outside the allowlist refused with nothing sent (single, bank card, batch
//! item, red envelope); batch limits and the confirmation's count and total; and seed 000's
//! "Customer Onboarding" and "Batch Reconciliation" with the users of the account system.

mod common;

use common::adversary::{
    batch_refund_args, batch_transfer_args, options as opts, paid_charge, pingpp_transfer_args,
    red_envelope_args, unionpay_transfer_args,
};
use common::elicit::{User, call, connect};
use common::{Harness, charge_args, unique};
use rmcp::model::ElicitationAction;
use serde_json::json;

/// Makes the sandbox's channel refuse the next payout of `on` to `party`.
async fn refuse_next(h: &Harness, on: &str, party: &str, message: &str) {
    h.sandbox_post(
        "/_sandbox/failures",
        json!({"on": on, "party": party, "failure_msg": message}),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transfer_is_paid_another_refused_and_a_third_cancelled() {
    let h = Harness::start(&[]).await;
    // Paid: pending at creation, paid once looked at, with a signed transfer.succeeded event.
    let paid = h
        .ok("create_transfer", pingpp_transfer_args(&unique("OK")))
        .await;
    assert_eq!(paid["status"], "pending");
    let paid = h
        .ok("retrieve_transfer", json!({"transfer_id": paid["id"]}))
        .await;
    assert_eq!(paid["status"], "paid");
    let events = h
        .ok("list_events", json!({"type": "transfer.succeeded"}))
        .await;
    let event_id = events["data"][0]["id"].as_str().unwrap().to_string();
    assert_eq!(events["data"][0]["data"]["object"]["id"], paid["id"]);
    let (body, signature) = h.webhook(&event_id).await;
    let verdict = h
        .ok(
            "verify_webhook",
            json!({"body": body, "signature": signature}),
        )
        .await;
    assert_eq!(verdict["valid"], true);

    // Refused by the channel: the call succeeds, the transfer fails later with the reason.
    refuse_next(&h, "transfer", "o_frozen", "收款用户账户被冻结").await;
    let mut args = pingpp_transfer_args(&unique("NO"));
    args["recipient"] = json!("o_frozen");
    let refused = h.ok("create_transfer", args).await;
    let refused = h
        .ok("retrieve_transfer", json!({"transfer_id": refused["id"]}))
        .await;
    assert_eq!(
        (refused["status"].as_str(), refused["failure_msg"].as_str()),
        (Some("failed"), Some("收款用户账户被冻结"))
    );
    let failed = h.ok("list_transfers", json!({"status": "failed"})).await;
    assert_eq!(failed["data"].as_array().unwrap().len(), 1);

    // Cancelled while scheduled; the repeat is answered by the guard, nothing is sent again.
    let card = h.ok("create_transfer", unionpay_transfer_args()).await;
    assert_eq!(card["status"], "scheduled");
    let cancel = json!({"transfer_id": card["id"]});
    let canceled = h.ok("cancel_transfer", cancel.clone()).await;
    assert_eq!(canceled["status"], "canceled");
    let before = h.upstream_requests().await;
    let again = h.ok("cancel_transfer", cancel).await;
    assert_eq!(again["replayed"], true, "{again}");
    assert_eq!(h.upstream_requests().await, before);
    let card = h
        .ok("retrieve_transfer", json!({"transfer_id": card["id"]}))
        .await;
    assert_eq!(card["status"], "canceled");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_refund_over_three_charges_with_one_item_refused() {
    let h = Harness::start(&[]).await;
    let charges = [
        paid_charge(&h).await,
        paid_charge(&h).await,
        paid_charge(&h).await,
    ];
    refuse_next(&h, "batch_refund", &charges[1], "渠道拒绝退款").await;
    let batch_no = unique("BRX");
    let batch = h
        .ok(
            "create_batch_refund",
            batch_refund_args(&batch_no, &charges, 2_500),
        )
        .await;
    assert_eq!(batch["status"], "pending");
    let done = h
        .ok(
            "retrieve_batch_refund",
            json!({"batch_refund_id": batch["id"]}),
        )
        .await;
    assert_eq!(done["status"], "partially_succeeded");
    let items = done["charges"].as_array().unwrap();
    let statuses: Vec<&str> = items
        .iter()
        .map(|i| i["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, vec!["succeeded", "failed", "succeeded"]);
    assert_eq!(items[1]["failure_msg"], "渠道拒绝退款");
    for (charge, refunded) in charges.iter().zip([2_500, 0, 2_500]) {
        let c = h.ok("retrieve_charge", json!({"charge_id": charge})).await;
        assert_eq!(c["amount_refunded"], refunded, "{charge}");
    }
    // The refused item can be refunded again, on its own.
    let again = h
        .ok(
            "create_refund",
            json!({"charge_id": charges[1], "amount": 2_500, "description": "retry", "refund_no": unique("RN")}),
        )
        .await;
    assert_eq!(again["amount"], 2_500);
    assert_eq!(
        h.ledger(&batch_no).await["by_kind"]["pingpp_batch_refund"],
        1
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payees_outside_the_allowlist_are_refused_and_nothing_is_sent() {
    let allowed = "o_adversary_payee,payee1@example.com,payee2@example.com,6228480402564890011";
    let h = Harness::start(&[("ZHIFU_TRANSFER_PAYEES", allowed)]).await;
    let before = h.upstream_requests().await;
    let mut stranger = pingpp_transfer_args(&unique("P"));
    stranger["recipient"] = json!("o_stranger");
    let mut card = unionpay_transfer_args();
    card["card_number"] = json!("6200000000000000001");
    let mut batch = batch_transfer_args(&unique("BATCHP"));
    batch["recipients"][1]["account"] = json!("thief@example.com");
    let mut unnamed = batch_transfer_args(&unique("BATCHN"));
    unnamed["recipients"][1]
        .as_object_mut()
        .unwrap()
        .remove("account");
    let mut envelope = red_envelope_args(&unique("7"));
    envelope["recipient"] = json!("o_stranger");
    let cases = [
        ("create_transfer", stranger, "o_stranger"),
        ("create_transfer", card, "6200000000000000001"),
        ("create_batch_transfer", batch, "thief@example.com"),
        ("create_batch_transfer", unnamed, "recipients[1]"),
        ("create_red_envelope", envelope, "o_stranger"),
    ];
    for (tool, args, named) in cases {
        let err = h.err(tool, args).await;
        assert_eq!(err["rule"], "transfer_payees", "{tool}: {err}");
        assert!(
            err["message"].as_str().unwrap().contains(named),
            "{tool}: names {named}: {err}"
        );
    }
    assert_eq!(h.upstream_requests().await, before, "nothing was sent");
    // The allowed ones go through.
    h.ok("create_transfer", pingpp_transfer_args(&unique("P")))
        .await;
    h.ok("create_transfer", unionpay_transfer_args()).await;
    h.ok(
        "create_batch_transfer",
        batch_transfer_args(&unique("BATCHA")),
    )
    .await;
    h.ok("create_red_envelope", red_envelope_args(&unique("7")))
        .await;
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_counts_as_its_total_and_its_confirmation_shows_count_and_total() {
    let h = Harness::start(&[("ZHIFU_PINGPP_MAX_PER_CALL_YUAN", "2.50")]).await;
    let before = h.upstream_requests().await;
    // ¥1.00 + ¥2.00: each item is under the limit, the batch is not.
    let err = h
        .err(
            "create_batch_transfer",
            batch_transfer_args(&unique("BATCHL")),
        )
        .await;
    assert_eq!(err["rule"], "per_call_limit", "{err}");
    assert!(err["message"].as_str().unwrap().contains("¥3.00"), "{err}");
    // A batch refund has no total of its own: the sum of its items (¥2.00 + ¥2.00) counts.
    let err = h
        .err(
            "create_batch_refund",
            batch_refund_args(&unique("BRS"), &["ch_a".into(), "ch_b".into()], 200),
        )
        .await;
    assert_eq!(err["rule"], "per_call_limit", "{err}");
    assert!(err["message"].as_str().unwrap().contains("¥4.00"), "{err}");
    // Items without amounts: the total is not known, so a limited server refuses.
    let err = h
        .err(
            "create_batch_refund",
            json!({"batch_no": unique("BRL"), "description": "x", "charges": [{"charge": "ch_a"}, {"charge": "ch_b"}]}),
        )
        .await;
    assert_eq!(err["rule"], "amount_required", "{err}");
    // A stated total that is not the sum of the items is refused, naming it.
    let mut wrong = batch_transfer_args(&unique("BATCHW"));
    wrong["amount"] = json!(250);
    let err = h.err("create_batch_transfer", wrong).await;
    assert_eq!(
        (err["kind"].as_str(), err["field"].as_str()),
        (Some("invalid_arguments"), Some("amount")),
        "{err}"
    );
    assert_eq!(h.upstream_requests().await, before, "nothing was sent");
    h.stop().await;

    let options = opts(&[("ZHIFU_CONFIRM", "always")]);
    let h = Harness::with(options.clone()).await;
    let user = User::new(ElicitationAction::Accept);
    let client = connect(&h, &options, user.clone(), false).await;
    let batch_no = unique("BATCHC");
    let (failed, v) = call(
        &client,
        "create_batch_transfer",
        batch_transfer_args(&batch_no),
    )
    .await;
    assert!(!failed, "{v}");
    let asked = user.asked.lock().unwrap().clone();
    assert_eq!(asked.len(), 1);
    for needle in [
        "¥3.00 in total, over 2 items of recipients",
        "payee1@example.com, payee2@example.com",
        batch_no.as_str(),
    ] {
        assert!(
            asked[0].contains(needle),
            "the prompt shows {needle}: {}",
            asked[0]
        );
    }
    let _ = client.cancel().await;
    h.stop().await;
}

/// Seed 000, "Customer Onboarding": a new buyer gets a profile, and their payments are bound to it.
/// The current model is the account system's user (the legacy customer API says so itself).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn customer_onboarding_binds_payments_to_a_user() {
    let h = Harness::start(&[]).await;
    let tools = h.tools().await;
    let legacy = tools.iter().find(|t| t.name == "create_customer").unwrap();
    let text = legacy.description.as_deref().unwrap_or_default();
    assert!(
        text.contains("LEGACY") && text.contains("create_user"),
        "{text}"
    );

    let user_id = unique("buyer_");
    let user = h
        .ok(
            "create_user",
            json!({"user_id": user_id, "name": "New buyer", "mobile": "13800000000"}),
        )
        .await;
    assert_eq!(user["id"], user_id.as_str());
    // Money bound to the user: a recharge, then a charge paid from that balance.
    let order_no: String = unique("ON").chars().take(20).collect();
    h.ok(
        "create_recharge",
        json!({"user": user_id, "amount": 5_000, "channel": "wx", "order_no": order_no, "subject": "Top-up", "body": "First top-up"}),
    )
    .await;
    let mut args = charge_args(&unique("ONB"), 1_990);
    args["channel"] = json!("balance");
    args["extra"] = json!({"user": user_id});
    let charge = h.ok("create_charge", args).await;
    assert_eq!(charge["paid"], true);
    let user = h.ok("retrieve_user", json!({"user_id": user_id})).await;
    assert_eq!(user["available_balance"], 5_000 - 1_990);
    let moves = h
        .ok("list_balance_transactions", json!({"user": user_id}))
        .await;
    let sources: Vec<&str> = moves["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["source"].as_str().unwrap())
        .collect();
    assert_eq!(
        sources[0],
        charge["id"].as_str().unwrap(),
        "the payment is bound to the user"
    );
    // A retry of the onboarding call is answered without a second user.
    let again = h
        .ok(
            "create_user",
            json!({"user_id": user_id, "name": "New buyer", "mobile": "13800000000"}),
        )
        .await;
    assert_eq!(again["replayed"], true);
    h.stop().await;
}

/// Seed 000, "Batch Reconciliation": list every account, then pull each one's balance and
/// payments; the movements of each account add up to its balance.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_reconciliation_of_users() {
    let h = Harness::start(&[]).await;
    let prefix = unique("rc");
    for (i, (top_up, spend)) in [(3_000, 1_000), (2_000, 0), (4_000, 3_999)]
        .into_iter()
        .enumerate()
    {
        let user_id = format!("{prefix}_{i}");
        h.ok("create_user", json!({"user_id": user_id})).await;
        let order_no: String = unique("RR").chars().take(20).collect();
        h.ok(
            "create_recharge",
            json!({"user": user_id, "amount": top_up, "channel": "alipay", "order_no": order_no, "subject": "Top-up", "body": "Top-up"}),
        )
        .await;
        if spend > 0 {
            let mut args = charge_args(&unique("SP"), spend);
            args["channel"] = json!("balance");
            args["extra"] = json!({"user": user_id});
            h.ok("create_charge", args).await;
        }
    }
    // Page through the users two at a time.
    let mut ids = Vec::new();
    for page in 1.. {
        let users = h
            .ok("list_users", json!({"page": page, "per_page": 2}))
            .await;
        ids.extend(
            users["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|u| u["id"].as_str().unwrap().to_string()),
        );
        if users["has_more"] == false {
            break;
        }
        assert!(page < 10, "paging ends");
    }
    assert_eq!(ids.len(), 3, "{ids:?}");
    let mut balances = Vec::new();
    for id in &ids {
        let user = h.ok("retrieve_user", json!({"user_id": id})).await;
        let moves = h
            .ok(
                "list_balance_transactions",
                json!({"user": id, "per_page": 100}),
            )
            .await;
        let sum: i64 = moves["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                assert_eq!(t["user"], id.as_str());
                t["amount"].as_i64().unwrap()
            })
            .sum();
        assert_eq!(user["available_balance"], sum, "{id} reconciles");
        balances.push(sum);
    }
    balances.sort_unstable();
    assert_eq!(balances, vec![1, 2_000, 2_000]);
    h.stop().await;
}
