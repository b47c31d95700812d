//! Charges and their refunds over real HTTP: de-duplication by the six elements, paying,
//! partial and full refunds, refund settlement with events, cursor pagination and filters.

mod common;

use common::{Client, start, start_with};
use reqwest::Method;
use serde_json::{Value, json};
use zhifu_sandbox::SandboxOptions;

fn id(v: &Value) -> String {
    v["id"].as_str().expect("object has an id").to_string()
}

fn ids(list: &Value) -> Vec<String> {
    list["data"]
        .as_array()
        .expect("list data")
        .iter()
        .map(id)
        .collect()
}

#[tokio::test]
async fn a_charge_looks_like_ping_plus_plus() {
    let c = start().await;
    let ch = c.create_charge("shape0001", 1550).await;
    let ch_id = id(&ch);
    assert!(ch_id.starts_with("ch_") && ch_id.len() == 27, "{ch_id}");
    assert_eq!(ch["object"], "charge");
    assert_eq!(ch["livemode"], false);
    assert_eq!(ch["paid"], false);
    assert_eq!(ch["refunded"], false);
    assert_eq!(ch["app"], c.app_id());
    assert_eq!(ch["amount"], 1550);
    assert_eq!(ch["amount_refunded"], 0);
    assert_eq!(ch["credential"]["object"], "credential");
    assert!(ch["credential"]["alipay"].is_object());
    assert_eq!(
        ch["refunds"],
        json!({ "object": "list", "url": format!("/v1/charges/{ch_id}/refunds"), "has_more": false, "data": [] })
    );
    assert_eq!(
        ch["time_expire"].as_i64().unwrap() - ch["created"].as_i64().unwrap(),
        86_400
    );
    assert!(ch["time_paid"].is_null() && ch["transaction_no"].is_null());

    let fetched = c.get(&format!("/v1/charges/{ch_id}")).await.expect(200);
    assert_eq!(fetched, ch);
    let expanded = c
        .get(&format!("/v1/charges/{ch_id}?expand%5B%5D=app"))
        .await
        .expect(200);
    assert_eq!(expanded["app"]["id"], c.app_id());
    assert_eq!(expanded["app"]["object"], "app");

    let missing = c.get("/v1/charges/ch_000000000000000000000000").await;
    assert_eq!(missing.status, 404);
    assert_eq!(
        missing.body["error"]["message"],
        "未找到 charge : ch_000000000000000000000000。"
    );
    assert_eq!(missing.body["error"]["param"], "id");
}

#[tokio::test]
async fn same_six_elements_give_the_same_charge_and_a_changed_one_is_refused() {
    let c = start().await;
    let first = c.create_charge("dedup0001", 100).await;
    let mut replay = c.charge_params("dedup0001", 100);
    replay["metadata"] = json!({ "note": "not one of the six elements" });
    let second = c.post("/v1/charges", &replay).await.expect(200);
    assert_eq!(id(&first), id(&second));

    let changed = c
        .post("/v1/charges", &c.charge_params("dedup0001", 200))
        .await;
    assert_eq!(changed.status, 400);
    assert_eq!(changed.body["error"]["type"], "invalid_request_error");
    assert_eq!(changed.body["error"]["param"], "order_no");
    assert!(
        changed.error_message().contains("dedup0001") && changed.error_message().contains("amount"),
        "{}",
        changed.body
    );

    // After the one-minute window a non-WeChat channel creates a new charge for an unpaid order…
    c.sandbox(
        Method::POST,
        "/_sandbox/clock",
        Some(&json!({ "advance_seconds": 61 })),
    )
    .await
    .expect(200);
    let later = c.create_charge("dedup0001", 100).await;
    assert_ne!(id(&later), id(&first));
    // …but never reuses a paid one.
    c.pay(&id(&later)).await;
    c.sandbox(
        Method::POST,
        "/_sandbox/clock",
        Some(&json!({ "advance_seconds": 61 })),
    )
    .await
    .expect(200);
    let paid_again = c
        .post("/v1/charges", &c.charge_params("dedup0001", 100))
        .await;
    assert_eq!(
        (
            paid_again.status,
            paid_again.body["error"]["param"].as_str()
        ),
        (400, Some("order_no"))
    );
}

#[tokio::test]
async fn wechat_keeps_the_same_charge_for_two_hours_then_refuses_the_order_no() {
    let c = start().await;
    let mut params = c.charge_params("wxdedup01", 100);
    params["channel"] = json!("wx");
    let first = c.post("/v1/charges", &params).await.expect(200);
    assert_eq!(
        first["time_expire"].as_i64().unwrap() - first["created"].as_i64().unwrap(),
        7200
    );
    c.sandbox(
        Method::POST,
        "/_sandbox/clock",
        Some(&json!({ "advance_seconds": 3600 })),
    )
    .await
    .expect(200);
    assert_eq!(
        id(&c.post("/v1/charges", &params).await.expect(200)),
        id(&first)
    );
    c.sandbox(
        Method::POST,
        "/_sandbox/clock",
        Some(&json!({ "advance_seconds": 3601 })),
    )
    .await
    .expect(200);
    let refused = c.post("/v1/charges", &params).await;
    assert_eq!(
        (refused.status, refused.body["error"]["param"].as_str()),
        (400, Some("order_no"))
    );
}

#[tokio::test]
async fn pay_then_partial_refunds_until_fully_refunded() {
    let c = start().await;
    let ch_id = id(&c.create_charge("refund001", 1000).await);
    let unpaid = c
        .post(
            &format!("/v1/charges/{ch_id}/refunds"),
            &json!({ "description": "too early" }),
        )
        .await;
    assert_eq!(unpaid.status, 400);
    assert!(
        unpaid.error_message().contains("Charge 未支付"),
        "{}",
        unpaid.body
    );

    let paid = c.pay(&ch_id).await;
    assert_eq!(paid["paid"], true);
    assert!(paid["time_paid"].is_i64() && paid["transaction_no"].is_string());

    let refunds = format!("/v1/charges/{ch_id}/refunds");
    let missing_description = c.post(&refunds, &json!({ "amount": 100 })).await;
    assert_eq!(
        (
            missing_description.status,
            missing_description.body["error"]["param"].as_str()
        ),
        (400, Some("description"))
    );
    let too_much = c
        .post(&refunds, &json!({ "amount": 1001, "description": "x" }))
        .await;
    assert_eq!(
        (too_much.status, too_much.body["error"]["param"].as_str()),
        (400, Some("amount"))
    );

    let first = c
        .post(
            &refunds,
            &json!({ "amount": 300, "description": "部分退款" }),
        )
        .await
        .expect(200);
    assert!(id(&first).starts_with("re_") && id(&first).len() == 27);
    assert_eq!(first["object"], "refund");
    assert_eq!(
        (first["status"].as_str(), first["succeed"].as_bool()),
        (Some("pending"), Some(false))
    );
    assert_eq!(first["charge"], ch_id.as_str());
    assert_eq!(first["charge_order_no"], "refund001");
    assert_eq!(first["amount"], 300);

    let charge = c.get(&format!("/v1/charges/{ch_id}")).await.expect(200);
    assert_eq!(
        (
            charge["refunded"].as_bool(),
            charge["amount_refunded"].as_i64()
        ),
        (Some(true), Some(300))
    );

    let rest = c
        .post(
            &refunds,
            &json!({ "description": "余下的全部", "metadata": { "refund_no": "R-2", "ticket": "7" } }),
        )
        .await
        .expect(200);
    assert_eq!(rest["amount"], 700, "amount defaults to what remains");
    let third = c
        .post(&refunds, &json!({ "amount": 1, "description": "one more" }))
        .await;
    assert_eq!(third.status, 400);
    assert_eq!(
        third.error_message(),
        format!("不能对订单号 refund001 发起退款，因为已经全额退款了。Charge id: {ch_id}")
    );
    let charge = c.get(&format!("/v1/charges/{ch_id}")).await.expect(200);
    assert_eq!(charge["amount_refunded"], 1000);
    assert_eq!(ids(&charge["refunds"]), vec![id(&rest), id(&first)]);
    // A listed refund keeps its metadata: the server finds a retried refund by its refund_no.
    let listed = c.get(&refunds).await.expect(200);
    assert_eq!(
        listed["data"][0]["metadata"],
        json!({ "refund_no": "R-2", "ticket": "7" })
    );
    assert_eq!(listed["data"][1]["metadata"], json!({}));
}

#[tokio::test]
async fn a_pending_refund_succeeds_when_retrieved_and_emits_one_event() {
    let c = start().await;
    let ch_id = id(&c.create_charge("settle001", 500).await);
    c.pay(&ch_id).await;
    let re = c
        .post(
            &format!("/v1/charges/{ch_id}/refunds"),
            &json!({ "description": "退货" }),
        )
        .await
        .expect(200);
    let re_id = id(&re);

    let fetched = c
        .get(&format!("/v1/charges/{ch_id}/refunds/{re_id}"))
        .await
        .expect(200);
    assert_eq!(
        (fetched["status"].as_str(), fetched["succeed"].as_bool()),
        (Some("succeeded"), Some(true))
    );
    assert!(fetched["time_succeed"].is_i64() && fetched["transaction_no"].is_string());
    let again = c
        .get(&format!("/v1/charges/{ch_id}/refunds/{re_id}"))
        .await
        .expect(200);
    assert_eq!(again["time_succeed"], fetched["time_succeed"]);

    let events = c
        .sandbox(Method::GET, "/_sandbox/events", None)
        .await
        .expect(200);
    let kinds: Vec<&str> = events["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        vec!["refund.succeeded", "charge.succeeded"],
        "newest first, one per transition"
    );
    let event = &events["data"][0];
    assert_eq!(event["data"]["object"]["id"], re_id.as_str());
    let via_api = c
        .get(&format!("/v1/events/{}", id(event)))
        .await
        .expect(200);
    assert_eq!(&via_api, event);

    let wrong_charge = c
        .get(&format!(
            "/v1/charges/ch_000000000000000000000000/refunds/{re_id}"
        ))
        .await;
    assert_eq!(wrong_charge.status, 404);
    let unknown_event = c.get("/v1/events/evt_000000000000000000000000").await;
    assert_eq!(
        (unknown_event.status, unknown_event.error_message()),
        (404, "No such event: evt_000000000000000000000000")
    );
}

#[tokio::test]
async fn the_sandbox_can_settle_a_refund_and_listing_settles_the_rest() {
    let c = start().await;
    let ch_id = id(&c.create_charge("settle002", 500).await);
    c.pay(&ch_id).await;
    let refunds = format!("/v1/charges/{ch_id}/refunds");
    let a = id(&c
        .post(&refunds, &json!({ "amount": 100, "description": "a" }))
        .await
        .expect(200));
    let b = id(&c
        .post(&refunds, &json!({ "amount": 100, "description": "b" }))
        .await
        .expect(200));
    let settled = c
        .sandbox(
            Method::POST,
            &format!("/_sandbox/refunds/{a}/succeed"),
            None,
        )
        .await
        .expect(200);
    assert_eq!(settled["status"], "succeeded");
    let list = c.get(&refunds).await.expect(200);
    assert_eq!(ids(&list), vec![b, a]);
    assert!(
        list["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["status"] == "succeeded")
    );
    assert_eq!(list["url"], refunds.as_str());
}

#[tokio::test]
async fn a_refused_refund_fails_with_200_and_frees_the_amount() {
    let c = start().await;
    let ch_id = id(&c.create_charge("refuse001", 500).await);
    c.pay(&ch_id).await;
    let refunds = format!("/v1/charges/{ch_id}/refunds");
    let re_id = id(&c
        .post(&refunds, &json!({ "description": "全部" }))
        .await
        .expect(200));
    let failed = c
        .sandbox(
            Method::POST,
            &format!("/_sandbox/refunds/{re_id}/fail"),
            Some(&json!({})),
        )
        .await
        .expect(200);
    assert_eq!(
        (failed["status"].as_str(), failed["succeed"].as_bool()),
        (Some("failed"), Some(false))
    );
    assert_eq!(failed["failure_code"], "refund_refused_msg");
    // Looking at a failed refund does not make it succeed.
    let fetched = c.get(&format!("{refunds}/{re_id}")).await.expect(200);
    assert_eq!(fetched["status"], "failed");
    let charge = c.get(&format!("/v1/charges/{ch_id}")).await.expect(200);
    assert_eq!(
        (
            charge["refunded"].as_bool(),
            charge["amount_refunded"].as_i64()
        ),
        (Some(true), Some(0))
    );
    let retry = c
        .post(&refunds, &json!({ "description": "重试" }))
        .await
        .expect(200);
    assert_eq!(retry["amount"], 500);
    let succeeded = c
        .get(&format!("{refunds}/{}", id(&retry)))
        .await
        .expect(200);
    let refail = c
        .sandbox(
            Method::POST,
            &format!("/_sandbox/refunds/{}/fail", id(&succeeded)),
            None,
        )
        .await;
    assert_eq!(refail.status, 400, "a succeeded refund cannot fail");
}

async fn charges_page(c: &Client, extra: &str) -> Value {
    c.get(&format!("/v1/charges?app%5Bid%5D={}{extra}", c.app_id()))
        .await
        .expect(200)
}

#[tokio::test]
async fn listing_pages_forward_and_back_newest_first() {
    let c = start().await;
    let mut created = Vec::new();
    for i in 0..7 {
        created.push(id(&c.create_charge(&format!("list{i:05}"), 100 + i).await));
    }
    created.reverse(); // newest first, even within the same second

    let p1 = charges_page(&c, "&limit=3").await;
    assert_eq!(
        (ids(&p1), p1["has_more"].as_bool()),
        (created[0..3].to_vec(), Some(true))
    );
    assert_eq!(p1["object"], "list");
    assert_eq!(p1["url"], "/v1/charges");
    let p2 = charges_page(&c, &format!("&limit=3&starting_after={}", created[2])).await;
    assert_eq!(
        (ids(&p2), p2["has_more"].as_bool()),
        (created[3..6].to_vec(), Some(true))
    );
    let p3 = charges_page(&c, &format!("&limit=3&starting_after={}", created[5])).await;
    assert_eq!(
        (ids(&p3), p3["has_more"].as_bool()),
        (created[6..7].to_vec(), Some(false))
    );

    let back = charges_page(&c, &format!("&limit=2&ending_before={}", created[3])).await;
    assert_eq!(
        (ids(&back), back["has_more"].as_bool()),
        (created[1..3].to_vec(), Some(true))
    );
    let default = charges_page(&c, "").await;
    assert_eq!(ids(&default), created, "default limit 10");

    for bad in ["&limit=0", "&limit=101"] {
        let answer = c
            .get(&format!("/v1/charges?app%5Bid%5D={}{bad}", c.app_id()))
            .await;
        assert_eq!(
            (answer.status, answer.body["error"]["param"].as_str()),
            (400, Some("limit")),
            "{bad}"
        );
    }
    let no_app = c.get("/v1/charges?limit=3").await;
    assert_eq!(
        (no_app.status, no_app.body["error"]["param"].as_str()),
        (400, Some("app[id]"))
    );
}

#[tokio::test]
async fn listing_filters_by_created_paid_and_refunded() {
    let c = start().await;
    let old = id(&c.create_charge("filter001", 100).await);
    let t = c
        .sandbox(
            Method::POST,
            "/_sandbox/clock",
            Some(&json!({ "advance_seconds": 100 })),
        )
        .await
        .expect(200)["now"]
        .as_i64()
        .unwrap();
    let new = id(&c.create_charge("filter002", 100).await);
    c.pay(&new).await;

    assert_eq!(
        ids(&charges_page(&c, &format!("&created%5Bgte%5D={t}")).await),
        vec![new.clone()]
    );
    assert_eq!(
        ids(&charges_page(&c, &format!("&created[lt]={t}")).await),
        vec![old.clone()]
    );
    assert_eq!(
        ids(&charges_page(&c, &format!("&created%5Bgt%5D={}", t + 1000)).await),
        Vec::<String>::new()
    );
    assert_eq!(
        ids(&charges_page(&c, "&paid=true").await),
        vec![new.clone()]
    );
    assert_eq!(
        ids(&charges_page(&c, "&paid=false").await),
        vec![old.clone()]
    );
    c.post(
        &format!("/v1/charges/{new}/refunds"),
        &json!({ "amount": 1, "description": "r" }),
    )
    .await
    .expect(200);
    assert_eq!(
        ids(&charges_page(&c, "&refunded=true").await),
        vec![new.clone()]
    );
    assert_eq!(
        ids(&charges_page(&c, "&channel=wx").await),
        Vec::<String>::new()
    );
    let bad = c
        .get(&format!(
            "/v1/charges?app%5Bid%5D={}&created%5Bgt%5D=yesterday",
            c.app_id()
        ))
        .await;
    assert_eq!(
        (bad.status, bad.body["error"]["param"].as_str()),
        (400, Some("created[gt]"))
    );
}

#[tokio::test]
async fn auto_pay_pays_at_creation() {
    let c = start_with(SandboxOptions {
        auto_pay: true,
        ..Default::default()
    })
    .await;
    let ch = c.create_charge("autopay01", 100).await;
    assert_eq!(ch["paid"], true);
    let events = c
        .sandbox(Method::GET, "/_sandbox/events", None)
        .await
        .expect(200);
    assert_eq!(events["data"][0]["type"], "charge.succeeded");
}
