//! Customers (legacy CRUD), app-scoped recharges with their one full refund, metadata limits,
//! and webhook bodies signed with the sandbox's Ping++ key.

mod common;

use common::start;
use reqwest::Method;
use serde_json::{Value, json};
use zhifu_signing::keys::public_key_from_text;
use zhifu_signing::pingpp::verify_webhook;

fn id(v: &Value) -> String {
    v["id"].as_str().expect("object has an id").to_string()
}

#[tokio::test]
async fn customers_create_retrieve_list_update_delete() {
    let c = start().await;
    let body = json!({ "app": c.app_id(), "email": "buyer@example.com", "description": "VIP", "metadata": { "level": "3" } });
    let cus = c.post("/v1/customers", &body).await.expect(200);
    let cus_id = id(&cus);
    assert!(cus_id.starts_with("cus_") && cus_id.len() == 28, "{cus_id}");
    assert_eq!(
        (cus["object"].as_str(), cus["livemode"].as_bool()),
        (Some("customer"), Some(false))
    );
    assert_eq!(cus["email"], "buyer@example.com");
    assert_eq!(
        c.get(&format!("/v1/customers/{cus_id}")).await.expect(200),
        cus
    );

    let with_card = json!({ "app": c.app_id(), "source": { "number": "6222000011112222" } });
    let other = c.post("/v1/customers", &with_card).await.expect(200);
    assert_eq!(other["sources"]["data"][0]["last4"], "2222");
    assert_eq!(other["default_source"], other["sources"]["data"][0]["id"]);

    let list = c.get("/v1/customers?limit=1").await.expect(200);
    assert_eq!(
        (list["data"][0]["id"].as_str(), list["has_more"].as_bool()),
        (other["id"].as_str(), Some(true))
    );
    let next = c
        .get(&format!(
            "/v1/customers?limit=1&starting_after={}",
            id(&other)
        ))
        .await
        .expect(200);
    assert_eq!(
        (id(&next["data"][0]), next["has_more"].as_bool()),
        (cus_id.clone(), Some(false))
    );

    let target = format!("/v1/customers/{cus_id}");
    let updated = c
        .call(
            Method::PUT,
            &target,
            Some(&json!({ "description": "VVIP", "metadata": { "level": "4" } })),
        )
        .await
        .expect(200);
    assert_eq!(
        (
            updated["description"].as_str(),
            updated["metadata"]["level"].as_str()
        ),
        (Some("VVIP"), Some("4"))
    );
    assert_eq!(
        updated["email"], "buyer@example.com",
        "untouched fields stay"
    );
    let bad_card = c
        .call(
            Method::PUT,
            &target,
            Some(&json!({ "default_source": "card_nope" })),
        )
        .await;
    assert_eq!(
        (bad_card.status, bad_card.body["error"]["param"].as_str()),
        (400, Some("default_source"))
    );

    let deleted = c.call(Method::DELETE, &target, None).await.expect(200);
    assert_eq!(deleted, json!({ "deleted": true, "id": cus_id }));
    let gone = c.get(&target).await;
    assert_eq!(
        (gone.status, gone.error_message()),
        (404, format!("未找到 customer : {cus_id}。").as_str())
    );

    let wrong_app = c
        .post("/v1/customers", &json!({ "app": "app_0000000000000000" }))
        .await;
    assert_eq!(
        (wrong_app.status, wrong_app.body["error"]["param"].as_str()),
        (400, Some("app"))
    );
}

#[tokio::test]
async fn metadata_is_limited_to_ten_keys_and_1000_characters() {
    let c = start().await;
    let eleven: serde_json::Map<String, Value> =
        (0..11).map(|i| (format!("k{i}"), json!("v"))).collect();
    let too_long = json!({ "note": "长".repeat(997) }); // 4 + 997 characters
    for metadata in [Value::Object(eleven), too_long] {
        let mut params = c.charge_params("meta00001", 100);
        params["metadata"] = metadata;
        let answer = c.post("/v1/charges", &params).await;
        assert_eq!(
            (answer.status, answer.body["error"]["param"].as_str()),
            (400, Some("metadata")),
            "{}",
            answer.body
        );
    }
    let mut params = c.charge_params("meta00001", 100);
    params["metadata"] = json!({ "note": "长".repeat(996) });
    assert_eq!(
        c.post("/v1/charges", &params).await.expect(200)["metadata"]["note"]
            .as_str()
            .unwrap()
            .chars()
            .count(),
        996
    );
}

fn recharge_params(order_no: &str, amount: i64) -> Value {
    json!({
        "user": "user_001",
        "charge": { "amount": amount, "channel": "alipay", "order_no": order_no, "subject": "余额充值", "body": "充值 sandbox" },
        "balance_bonus": { "amount": 10 },
        "description": "充值",
        "metadata": { "campaign": "spring" },
    })
}

#[tokio::test]
async fn recharge_succeeds_and_can_be_refunded_once_in_full() {
    let c = start().await;
    let base = format!("/v1/apps/{}/recharges", c.app_id());
    let recharge = c
        .post(&base, &recharge_params("rc00000001", 1000))
        .await
        .expect(200);
    let rc_id = id(&recharge);
    assert!(
        rc_id.len() == 19 && rc_id.bytes().all(|b| b.is_ascii_digit()),
        "{rc_id}"
    );
    assert_eq!(
        (recharge["object"].as_str(), recharge["succeeded"].as_bool()),
        (Some("recharge"), Some(true))
    );
    assert_eq!(recharge["amount"], 1010, "charge amount plus bonus");
    assert_eq!(
        (
            recharge["charge"]["paid"].as_bool(),
            recharge["charge"]["amount"].as_i64()
        ),
        (Some(true), Some(1000))
    );
    assert_eq!(recharge["charge"]["client_ip"], "127.0.0.1");
    assert_eq!(
        c.get(&format!("{base}/{rc_id}")).await.expect(200),
        recharge
    );

    let events = c
        .sandbox(Method::GET, "/_sandbox/events", None)
        .await
        .expect(200);
    assert_eq!(events["data"][0]["type"], "recharge.succeeded");
    assert_eq!(events["data"][0]["data"]["object"]["id"], rc_id.as_str());

    // The embedded charge is refunded through the recharge, not directly.
    let ch_id = id(&recharge["charge"]);
    let direct = c
        .post(
            &format!("/v1/charges/{ch_id}/refunds"),
            &json!({ "description": "x" }),
        )
        .await;
    assert_eq!(direct.status, 400);

    let refunds = format!("{base}/{rc_id}/refunds");
    let with_amount = c
        .post(&refunds, &json!({ "description": "部分", "amount": 10 }))
        .await;
    assert_eq!(
        with_amount.error_message(),
        "Received unknown parameter: amount"
    );
    let refund = c
        .post(
            &refunds,
            &json!({ "description": "充值退款", "metadata": { "refund_no": "RR-1" } }),
        )
        .await
        .expect(200);
    assert_eq!(
        (refund["amount"].as_i64(), refund["status"].as_str()),
        (Some(1000), Some("pending"))
    );
    let second = c.post(&refunds, &json!({ "description": "again" })).await;
    assert_eq!(second.status, 400);
    assert!(
        second.error_message().contains("已经退款"),
        "{}",
        second.body
    );

    let fetched = c
        .get(&format!("{refunds}/{}", id(&refund)))
        .await
        .expect(200);
    assert_eq!(fetched["status"], "succeeded");
    let list = c
        .get(&format!("{refunds}?page=1&per_page=10"))
        .await
        .expect(200);
    assert_eq!(
        (list["data"][0]["id"].as_str(), list["has_more"].as_bool()),
        (refund["id"].as_str(), Some(false))
    );
    assert_eq!(
        list["data"][0]["metadata"],
        json!({ "refund_no": "RR-1" }),
        "a listed refund keeps its metadata (the server finds a retried refund by it)"
    );
    assert_eq!(
        c.get(&format!("{base}/{rc_id}")).await.expect(200)["refunded"],
        true
    );
}

#[tokio::test]
async fn recharges_are_paged_and_scoped_to_the_app() {
    let c = start().await;
    let base = format!("/v1/apps/{}/recharges", c.app_id());
    let mut created = Vec::new();
    for i in 0..3 {
        created.push(id(&c
            .post(&base, &recharge_params(&format!("rcpage{i:04}"), 100))
            .await
            .expect(200)));
    }
    created.reverse();
    let p1 = c.get(&format!("{base}?per_page=2")).await.expect(200);
    let p2 = c
        .get(&format!("{base}?per_page=2&page=2"))
        .await
        .expect(200);
    let page_ids = |p: &Value| {
        p["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(id)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        (page_ids(&p1), p1["has_more"].as_bool()),
        (created[0..2].to_vec(), Some(true))
    );
    assert_eq!(
        (page_ids(&p2), p2["has_more"].as_bool()),
        (created[2..].to_vec(), Some(false))
    );
    let bad = c.get(&format!("{base}?per_page=101")).await;
    assert_eq!(
        (bad.status, bad.body["error"]["param"].as_str()),
        (400, Some("per_page"))
    );

    let other_app = c.get("/v1/apps/app_0000000000000000/recharges").await;
    assert_eq!(
        (other_app.status, other_app.body["error"]["param"].as_str()),
        (404, Some("app"))
    );
    // A retry of the same recharge gives the same recharge; the order_no with other elements is refused.
    let replay = c
        .post(&base, &recharge_params("rcpage0000", 100))
        .await
        .expect(200);
    assert_eq!(id(&replay), created[2]);
    let page_all = c.get(&format!("{base}?per_page=100")).await.expect(200);
    assert_eq!(
        page_all["data"].as_array().unwrap().len(),
        3,
        "the replay created nothing"
    );
    let reused = c.post(&base, &recharge_params("rcpage0000", 200)).await;
    assert_eq!(
        (reused.status, reused.body["error"]["param"].as_str()),
        (400, Some("charge[order_no]"))
    );
    let short = c.post(&base, &recharge_params("rc1", 100)).await;
    assert_eq!(
        (short.status, short.body["error"]["param"].as_str()),
        (400, Some("charge[order_no]"))
    );
}

#[tokio::test]
async fn webhook_bodies_verify_with_the_ping_plus_plus_public_key_and_tampering_fails() {
    let c = start().await;
    let ch_id = id(&c.create_charge("hook00001", 100).await);
    c.pay(&ch_id).await;
    let events = c
        .sandbox(Method::GET, "/_sandbox/events", None)
        .await
        .expect(200);
    let event_id = id(&events["data"][0]);
    let hook = c
        .sandbox(
            Method::GET,
            &format!("/_sandbox/events/{event_id}/webhook"),
            None,
        )
        .await
        .expect(200);
    let body = hook["body"].as_str().unwrap();
    let signature = hook["signature"].as_str().unwrap();

    let key = public_key_from_text(&c.sandbox.pingpp.pingpp_public_key_pem, "test").unwrap();
    assert!(verify_webhook(&key, body.as_bytes(), signature));
    let mut tampered = body.as_bytes().to_vec();
    let at = body.find("100").expect("the amount is in the body");
    tampered[at] = b'9';
    assert!(!verify_webhook(&key, &tampered, signature));
    let merchant = public_key_from_text(&rsa_public_pem(&c), "test").unwrap();
    assert!(
        !verify_webhook(&merchant, body.as_bytes(), signature),
        "signed with the Ping++ key, not the merchant's"
    );

    let event: Value = serde_json::from_str(body).unwrap();
    assert_eq!(
        (event["id"].as_str(), event["type"].as_str()),
        (Some(event_id.as_str()), Some("charge.succeeded"))
    );
    assert_eq!(event["data"]["object"]["id"], ch_id.as_str());
    assert!(event["request"].as_str().unwrap().starts_with("iar_"));
    assert_eq!(event["pending_webhooks"], 0);
    let missing = c
        .sandbox(Method::GET, "/_sandbox/events/evt_nope/webhook", None)
        .await;
    assert_eq!(missing.status, 404);
}

fn rsa_public_pem(c: &common::Client) -> String {
    use rsa::pkcs8::{EncodePublicKey, LineEnding};
    c.key
        .to_public_key()
        .to_public_key_pem(LineEnding::LF)
        .unwrap()
}
