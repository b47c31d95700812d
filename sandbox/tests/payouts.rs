//! Payouts and balances on the Ping++ sandbox over real signed HTTP: transfers (state machine,
//! cancel, reverse, injected failures, de-duplication by order_no), batch transfers and batch
//! refunds (checks that refuse the whole batch, items that fail, page lists), red envelopes,
//! users and their balance transactions, charge reversal, the event list with signed webhooks,
//! and the ledger's movement kinds.

mod common;

use common::{Client, start};
use reqwest::Method;
use serde_json::{Value, json};
use zhifu_signing::keys::public_key_from_text;
use zhifu_signing::pingpp::verify_webhook;

fn id(v: &Value) -> String {
    v["id"].as_str().expect("object has an id").to_string()
}

fn transfer(c: &Client, order_no: &str, channel: &str, recipient: &str) -> Value {
    json!({
        "order_no": order_no,
        "app": { "id": c.app_id() },
        "channel": channel,
        "amount": 150,
        "currency": "cny",
        "type": "b2c",
        "recipient": recipient,
        "description": "sandbox payout",
    })
}

fn card_transfer(c: &Client, order_no: &str) -> Value {
    json!({
        "order_no": order_no,
        "app": { "id": c.app_id() },
        "channel": "unionpay",
        "amount": 500,
        "currency": "cny",
        "type": "b2b",
        "description": "card payout",
        "extra": { "card_number": "6228480402564890011", "user_name": "张三", "open_bank_code": "0103" },
    })
}

async fn advance_clock(c: &Client, seconds: i64) {
    c.sandbox(
        Method::POST,
        "/_sandbox/clock",
        Some(&json!({ "advance_seconds": seconds })),
    )
    .await
    .expect(200);
}

async fn fail_next(c: &Client, rule: Value) {
    c.sandbox(Method::POST, "/_sandbox/failures", Some(&rule))
        .await
        .expect(200);
}

/// Every event of `kind`, newest first, through the event list.
async fn events(c: &Client, kind: &str) -> Vec<Value> {
    let list = c
        .get(&format!("/v1/events?type={kind}&limit=100"))
        .await
        .expect(200);
    list["data"].as_array().unwrap().clone()
}

async fn movements(c: &Client, reference: &str) -> Value {
    c.sandbox(
        Method::GET,
        &format!("/_sandbox/ledger?reference={reference}"),
        None,
    )
    .await
    .expect(200)["by_kind"]
        .clone()
}

#[tokio::test]
async fn a_transfer_is_paid_when_retrieved_once_and_its_order_no_is_its_key() {
    let c = start().await;
    let body = transfer(&c, "TR0001", "wx_pub", "o_payee");
    let created = c.post("/v1/transfers", &body).await.expect(200);
    assert_eq!(
        (created["object"].as_str(), created["status"].as_str()),
        (Some("transfer"), Some("pending"))
    );
    // The same parameters (in another key order) answer the same transfer; others are refused.
    let mut reordered = serde_json::Map::new();
    for (k, v) in body.as_object().unwrap().iter().rev() {
        reordered.insert(k.clone(), v.clone());
    }
    let again = c
        .post("/v1/transfers", &Value::Object(reordered))
        .await
        .expect(200);
    assert_eq!(id(&again), id(&created));
    let mut changed = body.clone();
    changed["amount"] = json!(151);
    let refused = c.post("/v1/transfers", &changed).await;
    assert_eq!(
        (refused.status, refused.body["error"]["param"].as_str()),
        (400, Some("order_no"))
    );

    let paid = c
        .get(&format!("/v1/transfers/{}", id(&created)))
        .await
        .expect(200);
    assert_eq!(paid["status"], "paid");
    assert!(paid["time_transferred"].is_i64() && paid["transaction_no"].is_string());
    let hooks = events(&c, "transfer.succeeded").await;
    assert_eq!(hooks.len(), 1, "one event for one state change");
    assert_eq!(hooks[0]["data"]["object"]["id"], created["id"]);
    assert_eq!(movements(&c, "TR0001").await["pingpp_transfer"], 1);

    // The event a webhook delivers is signed with the Ping++ key over its exact bytes.
    let hook = c
        .sandbox(
            Method::GET,
            &format!("/_sandbox/events/{}/webhook", id(&hooks[0])),
            None,
        )
        .await
        .expect(200);
    let key = public_key_from_text(&c.sandbox.pingpp.pingpp_public_key_pem, "test").unwrap();
    assert!(verify_webhook(
        &key,
        hook["body"].as_str().unwrap().as_bytes(),
        hook["signature"].as_str().unwrap()
    ));
}

#[tokio::test]
async fn transfers_check_their_channel_rules() {
    let c = start().await;
    let cases: Vec<(Value, &str)> = vec![
        (
            transfer(&c, "1234567890123456789", "unionpay", "x"),
            "order_no",
        ),
        (
            transfer(&c, "TR0002", "alipay", "a@b.c"),
            "extra[recipient_name]",
        ),
        (transfer(&c, "TR0003", "balance", "nobody"), "recipient"),
        (
            {
                let mut b = transfer(&c, "TR0004", "wx_pub", "o_1");
                b["type"] = json!("b2b");
                b
            },
            "type",
        ),
        (
            {
                let mut b = card_transfer(&c, "12345");
                b["extra"] = json!({ "card_number": "6228480402564890011", "user_name": "张三" });
                b
            },
            "extra[open_bank_code]",
        ),
        (
            {
                let mut b = transfer(&c, "TR0005", "wx_pub", "o_1");
                b["amount"] = json!(99);
                b
            },
            "amount",
        ),
    ];
    for (body, param) in cases {
        let answer = c.post("/v1/transfers", &body).await;
        assert_eq!(
            (answer.status, answer.body["error"]["param"].as_str()),
            (400, Some(param)),
            "{body}: {}",
            answer.body
        );
    }
    let list = c.get("/v1/transfers").await.expect(200);
    assert_eq!(list["data"], json!([]), "nothing was created");
}

#[tokio::test]
async fn unionpay_is_scheduled_and_cancellable_for_five_minutes_and_pending_ones_reverse() {
    let c = start().await;
    let first = c
        .post("/v1/transfers", &card_transfer(&c, "1001"))
        .await
        .expect(200);
    assert_eq!(first["status"], "scheduled");
    let target = format!("/v1/transfers/{}", id(&first));
    assert_eq!(c.get(&target).await.expect(200)["status"], "scheduled");
    let canceled = c
        .call(Method::PUT, &target, Some(&json!({ "status": "canceled" })))
        .await
        .expect(200);
    assert_eq!(canceled["status"], "canceled");
    assert_eq!(c.get(&target).await.expect(200)["status"], "canceled");
    let again = c
        .call(Method::PUT, &target, Some(&json!({ "status": "canceled" })))
        .await;
    assert_eq!(again.status, 400);

    let second = c
        .post("/v1/transfers", &card_transfer(&c, "1002"))
        .await
        .expect(200);
    advance_clock(&c, 301).await;
    let late = format!("/v1/transfers/{}", id(&second));
    let refused = c
        .call(Method::PUT, &late, Some(&json!({ "status": "canceled" })))
        .await;
    assert_eq!(refused.status, 400, "the window is over");
    assert_eq!(c.get(&late).await.expect(200)["status"], "paid");

    let pending = c
        .post("/v1/transfers", &transfer(&c, "TR0010", "wx", "o_2"))
        .await
        .expect(200);
    let reverse = format!("/v1/transfers/{}/reverse", id(&pending));
    let reversed = c.post(&reverse, &json!({})).await.expect(200);
    assert_eq!(reversed["status"], "reversed");
    assert_eq!(c.post(&reverse, &json!({})).await.status, 400);
    let paid_reverse = c.post(&format!("{late}/reverse"), &json!({})).await;
    assert_eq!(
        paid_reverse.status, 400,
        "a paid transfer cannot be reversed"
    );
    for kind in [
        "transfer.canceled",
        "transfer.reversed",
        "transfer.succeeded",
    ] {
        assert_eq!(events(&c, kind).await.len(), 1, "{kind}");
    }
    let ledger = movements(&c, "1001").await;
    assert_eq!(
        ledger["pingpp_transfer"], 0,
        "a canceled transfer moved nothing"
    );
    assert_eq!(movements(&c, "TR0010").await["pingpp_transfer"], 0);
}

#[tokio::test]
async fn an_injected_failure_fails_the_transfer_with_its_message() {
    let c = start().await;
    fail_next(
        &c,
        json!({ "on": "transfer", "party": "o_blocked", "failure_msg": "收款用户未实名" }),
    )
    .await;
    let ok = c
        .post("/v1/transfers", &transfer(&c, "TR0020", "wx_pub", "o_fine"))
        .await
        .expect(200);
    let bad = c
        .post(
            "/v1/transfers",
            &transfer(&c, "TR0021", "wx_pub", "o_blocked"),
        )
        .await
        .expect(200);
    assert_eq!(
        bad["status"], "pending",
        "the refusal comes later, as a status"
    );
    let bad = c
        .get(&format!("/v1/transfers/{}", id(&bad)))
        .await
        .expect(200);
    assert_eq!(
        (bad["status"].as_str(), bad["failure_msg"].as_str()),
        (Some("failed"), Some("收款用户未实名"))
    );
    let ok = c
        .get(&format!("/v1/transfers/{}", id(&ok)))
        .await
        .expect(200);
    assert_eq!(ok["status"], "paid");
    assert_eq!(events(&c, "transfer.failed").await.len(), 1);
    assert_eq!(movements(&c, "TR0021").await["pingpp_transfer"], 0);
    let rules = c
        .sandbox(Method::GET, "/_sandbox/failures", None)
        .await
        .expect(200);
    assert_eq!(rules["failures"], json!([]), "the rule was used up");
}

#[tokio::test]
async fn users_balances_and_their_movements() {
    let c = start().await;
    let users = format!("/v1/apps/{}/users", c.app_id());
    let user = c
        .post(
            &users,
            &json!({ "id": "u_1", "name": "买家", "gender": "MALE" }),
        )
        .await
        .expect(200);
    assert_eq!(
        (user["object"].as_str(), user["available_balance"].as_i64()),
        (Some("user"), Some(0))
    );
    assert_eq!(c.post(&users, &json!({ "id": "u_1" })).await.status, 400);

    let recharge = json!({
        "user": "u_1",
        "charge": { "amount": 5000, "channel": "alipay", "order_no": "RCHG0001", "subject": "充值", "body": "余额充值" },
    });
    let recharge = c
        .post(&format!("/v1/apps/{}/recharges", c.app_id()), &recharge)
        .await
        .expect(200);
    let mut pay = c.charge_params("BALPAY01", 1200);
    pay["channel"] = json!("balance");
    pay["extra"] = json!({ "user": "u_1" });
    let charge = c.post("/v1/charges", &pay).await.expect(200);
    assert_eq!(charge["paid"], true);
    let mut too_much = c.charge_params("BALPAY02", 10_000);
    too_much["channel"] = json!("balance");
    too_much["extra"] = json!({ "user": "u_1" });
    let refused = c.post("/v1/charges", &too_much).await;
    assert_eq!(
        (refused.status, refused.body["error"]["param"].as_str()),
        (400, Some("extra[user]"))
    );
    // A transfer to the balance adds money the user may withdraw.
    let to_balance = c
        .post("/v1/transfers", &transfer(&c, "BALTR01", "balance", "u_1"))
        .await
        .expect(200);
    c.get(&format!("/v1/transfers/{}", id(&to_balance)))
        .await
        .expect(200);
    let user = c.get(&format!("{users}/u_1")).await.expect(200);
    assert_eq!(user["available_balance"], 5000 - 1200 + 150);
    assert_eq!(user["withdrawable_balance"], 150);

    let txns = c
        .get(&format!(
            "/v1/apps/{}/balance_transactions?user=u_1&per_page=2",
            c.app_id()
        ))
        .await
        .expect(200);
    assert_eq!(txns["has_more"], true);
    let kinds: Vec<(&str, i64, i64)> = txns["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["type"].as_str().unwrap(),
                t["amount"].as_i64().unwrap(),
                t["available_balance"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        vec![("transfer", 150, 3950), ("payment", -1200, 3800)]
    );
    let page2 = c
        .get(&format!(
            "/v1/apps/{}/balance_transactions?user=u_1&per_page=2&page=2",
            c.app_id()
        ))
        .await
        .expect(200);
    assert_eq!(page2["data"][0]["source"], recharge["id"]);
    let one = c
        .get(&format!(
            "/v1/apps/{}/balance_transactions/{}",
            c.app_id(),
            id(&page2["data"][0])
        ))
        .await
        .expect(200);
    assert_eq!(one["type"], "recharge");

    let disabled = c
        .call(
            Method::PUT,
            &format!("{users}/u_1"),
            Some(&json!({ "disabled": true, "name": "x" })),
        )
        .await;
    assert_eq!(disabled.status, 400, "disabled goes alone");
    c.call(
        Method::PUT,
        &format!("{users}/u_1"),
        Some(&json!({ "disabled": true })),
    )
    .await
    .expect(200);
    let mut small = c.charge_params("BALPAY03", 100);
    small["channel"] = json!("balance");
    small["extra"] = json!({ "user": "u_1" });
    assert_eq!(c.post("/v1/charges", &small).await.status, 400);
}

fn batch(c: &Client, batch_no: &str, recipients: Value, amount: i64) -> Value {
    json!({
        "app": c.app_id(),
        "batch_no": batch_no,
        "channel": "wx_pub",
        "amount": amount,
        "description": "奖金",
        "type": "b2c",
        "recipients": recipients,
    })
}

#[tokio::test]
async fn batch_transfers_check_every_item_and_settle_item_by_item() {
    let c = start().await;
    let recipients =
        json!([{ "open_id": "o_a", "amount": 100 }, { "open_id": "o_b", "amount": 200 }]);
    let wrong_sum = c
        .post(
            "/v1/batch_transfers",
            &batch(&c, "BATCH000001", recipients.clone(), 250),
        )
        .await;
    assert_eq!(
        (wrong_sum.status, wrong_sum.body["error"]["param"].as_str()),
        (400, Some("amount"))
    );
    let no_payee = c
        .post(
            "/v1/batch_transfers",
            &batch(
                &c,
                "BATCH000001",
                json!([{ "open_id": "o_a", "amount": 100 }, { "amount": 200 }]),
                300,
            ),
        )
        .await;
    assert_eq!(no_payee.body["error"]["param"], "recipients[1][open_id]");

    fail_next(&c, json!({ "on": "batch_transfer", "party": "o_b" })).await;
    let body = batch(&c, "BATCH000001", recipients, 300);
    let created = c.post("/v1/batch_transfers", &body).await.expect(200);
    assert_eq!(created["status"], "pending");
    let replay = c.post("/v1/batch_transfers", &body).await.expect(200);
    assert_eq!(id(&replay), id(&created));
    let done = c
        .get(&format!("/v1/batch_transfers/{}", id(&created)))
        .await
        .expect(200);
    assert_eq!(done["status"], "partially_succeeded");
    let statuses: Vec<&str> = done["recipients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, vec!["paid", "failed"]);
    assert!(done["recipients"][1]["failure_msg"].is_string());
    let transfer = done["recipients"][0]["transfer"].as_str().unwrap();
    let t = c
        .get(&format!("/v1/transfers/{transfer}"))
        .await
        .expect(200);
    assert_eq!(t["batch_no"], "BATCH000001");
    assert_eq!(events(&c, "batch_transfer.succeeded").await.len(), 1);
    let page = c
        .get(&format!(
            "/v1/batch_transfers?app={}&page=1&per_page=1",
            c.app_id()
        ))
        .await
        .expect(200);
    assert_eq!(
        (
            page["data"].as_array().unwrap().len(),
            page["has_more"].as_bool()
        ),
        (1, Some(false))
    );
    assert_eq!(
        movements(&c, "BATCH000001").await["pingpp_batch_transfer"],
        1
    );
}

#[tokio::test]
async fn a_batch_refund_is_all_or_nothing_at_creation_and_item_by_item_after() {
    let c = start().await;
    let mut charges = Vec::new();
    for i in 0..3 {
        let ch = c.create_charge(&format!("BRCH000{i}"), 1000).await;
        c.pay(&id(&ch)).await;
        charges.push(id(&ch));
    }
    let unpaid = id(&c.create_charge("BRCH0009", 1000).await);
    let items = |extra: &str| {
        let mut v: Vec<Value> = charges
            .iter()
            .map(|ch| json!({ "charge": ch, "amount": 400 }))
            .collect();
        v.push(json!({ "charge": extra }));
        v
    };
    let body = |items: Vec<Value>| json!({ "app": c.app_id(), "batch_no": "BR001", "charges": items, "description": "退货" });
    let refused = c.post("/v1/batch_refunds", &body(items(&unpaid))).await;
    assert_eq!(
        (refused.status, refused.body["error"]["param"].as_str()),
        (400, Some("charges[3][charge]"))
    );
    let duplicate = c.post("/v1/batch_refunds", &body(items(&charges[0]))).await;
    assert_eq!(duplicate.body["error"]["param"], "charges[3][charge]");
    for ch in &charges {
        let charge = c.get(&format!("/v1/charges/{ch}")).await.expect(200);
        assert_eq!(
            charge["amount_refunded"], 0,
            "a refused batch refunds nothing"
        );
    }

    fail_next(&c, json!({ "on": "batch_refund", "party": charges[1] })).await;
    let three: Vec<Value> = charges
        .iter()
        .map(|ch| json!({ "charge": ch, "amount": 400 }))
        .collect();
    let created = c.post("/v1/batch_refunds", &body(three)).await.expect(200);
    assert_eq!(created["status"], "pending");
    let done = c
        .get(&format!("/v1/batch_refunds/{}", id(&created)))
        .await
        .expect(200);
    assert_eq!(done["status"], "partially_succeeded");
    let statuses: Vec<&str> = done["charges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, vec!["succeeded", "failed", "succeeded"]);
    let failed = c
        .get(&format!("/v1/charges/{}", charges[1]))
        .await
        .expect(200);
    assert_eq!(
        failed["amount_refunded"], 0,
        "a failed item gives its amount back"
    );
    assert_eq!(events(&c, "batch_refund.succeeded").await.len(), 1);
    assert_eq!(events(&c, "refund.succeeded").await.len(), 2);
    assert_eq!(movements(&c, "BR001").await["pingpp_batch_refund"], 1);
}

#[tokio::test]
async fn a_red_envelope_is_sent_then_received_or_comes_back() {
    let c = start().await;
    let envelope = |order_no: &str, amount: i64| {
        json!({
            "order_no": order_no,
            "app": { "id": c.app_id() },
            "channel": "wx_pub",
            "amount": amount,
            "currency": "cny",
            "recipient": "o_lucky",
            "subject": "红包",
            "body": "恭喜发财",
            "description": "sandbox",
            "extra": { "send_name": "商户" },
        })
    };
    let big = c.post("/v1/red_envelopes", &envelope("1", 50_000)).await;
    assert_eq!(big.body["error"]["param"], "extra[scene_id]");
    let e = c
        .post("/v1/red_envelopes", &envelope("2", 100))
        .await
        .expect(200);
    let target = format!("/v1/red_envelopes/{}", id(&e));
    assert_eq!(e["status"], "sending");
    assert_eq!(c.get(&target).await.expect(200)["status"], "sent");
    assert_eq!(c.get(&target).await.expect(200)["status"], "received");
    let unclaimed = c
        .post("/v1/red_envelopes", &envelope("3", 100))
        .await
        .expect(200);
    let later = format!("/v1/red_envelopes/{}", id(&unclaimed));
    c.get(&later).await.expect(200);
    advance_clock(&c, 86_400).await;
    assert_eq!(c.get(&later).await.expect(200)["status"], "refund");
    for kind in [
        "red_envelope.sent",
        "red_envelope.received",
        "red_envelope.refunded",
    ] {
        assert!(!events(&c, kind).await.is_empty(), "{kind}");
    }
    let list = c
        .get(&format!(
            "/v1/red_envelopes?app[id]={}&status=received",
            c.app_id()
        ))
        .await
        .expect(200);
    assert_eq!(list["data"][0]["id"], e["id"]);
    assert_eq!(movements(&c, "2").await["pingpp_red_envelope"], 1);
}

#[tokio::test]
async fn an_offline_charge_reverses_once_and_a_paid_one_is_refunded() {
    let c = start().await;
    let mut params = c.charge_params("OFFLINE0001", 800);
    params["channel"] = json!("isv_qr");
    params["extra"] = json!({ "pay_channel": "alipay", "terminal_id": "T1" });
    let charge = c.post("/v1/charges", &params).await.expect(200);
    c.pay(&id(&charge)).await;
    let target = format!("/v1/charges/{}/reverse", id(&charge));
    let reversed = c.post(&target, &json!({})).await.expect(200);
    assert_eq!(
        (
            reversed["reversed"].as_bool(),
            reversed["amount_refunded"].as_i64()
        ),
        (Some(true), Some(800))
    );
    let again = c.post(&target, &json!({})).await.expect(200);
    assert_eq!(
        again["amount_refunded"], 800,
        "reversing twice refunds once"
    );
    assert_eq!(
        movements(&c, &id(&charge)).await["pingpp_charge_reversal"],
        1
    );
    let online = c.create_charge("ONLINE0001", 100).await;
    let refused = c
        .post(&format!("/v1/charges/{}/reverse", id(&online)), &json!({}))
        .await;
    assert_eq!(refused.status, 400, "only offline channels reverse");
    let list = c
        .get(&format!("/v1/charges?app[id]={}&reversed=true", c.app_id()))
        .await
        .expect(200);
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
}
