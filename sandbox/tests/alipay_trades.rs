//! Alipay trades and refunds over real HTTP: create idempotency, precreate, paying, query,
//! close, cancel, partial/repeated/discordant/full refunds, refund queries and the signed
//! trade_status_sync notifications.

mod alipay_support;

use alipay_support::{Ali, start};
use reqwest::Method;
use serde_json::{Value, json};
use zhifu_signing::alipay::{NotifyKind, sign_params, signed_query, verify_notification};

async fn notifications(c: &Ali) -> Vec<Value> {
    let (status, v) = c
        .sandbox(Method::GET, "/_sandbox/alipay/notifications", None)
        .await;
    assert_eq!(status, 200);
    v.as_array().unwrap().clone()
}

fn params_of(n: &Value) -> Vec<(String, String)> {
    n["params"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
        .collect()
}

#[tokio::test]
async fn create_is_idempotent_per_out_trade_no() {
    let c = start().await;
    let first = c.create("T100", "88.88").await;
    let trade_no = first["trade_no"].as_str().unwrap().to_string();
    assert_eq!(first["out_trade_no"], "T100");
    assert_eq!(trade_no.len(), 28, "{trade_no}");
    assert_eq!(&trade_no[8..13], "22001");
    assert!(trade_no.bytes().all(|b| b.is_ascii_digit()));

    let again = c.create("T100", "88.88").await;
    assert_eq!(again["trade_no"], trade_no.as_str());
    c.fails(
        "alipay.trade.create",
        json!({ "out_trade_no": "T100", "total_amount": "88.89", "subject": "测试商品" }),
        "ACQ.CONTEXT_INCONSISTENT",
    )
    .await;
    c.fails(
        "alipay.trade.create",
        json!({ "out_trade_no": "T100", "total_amount": "88.88", "subject": "别的商品" }),
        "ACQ.CONTEXT_INCONSISTENT",
    )
    .await;

    c.pay("T100").await;
    c.fails(
        "alipay.trade.create",
        json!({ "out_trade_no": "T100", "total_amount": "88.88", "subject": "测试商品" }),
        "ACQ.TRADE_HAS_SUCCESS",
    )
    .await;

    c.create("T101", "1.00").await;
    c.ok("alipay.trade.close", json!({ "out_trade_no": "T101" }))
        .await;
    c.fails(
        "alipay.trade.create",
        json!({ "out_trade_no": "T101", "total_amount": "1.00", "subject": "测试商品" }),
        "ACQ.TRADE_HAS_CLOSE",
    )
    .await;
}

#[tokio::test]
async fn amounts_and_required_fields_are_checked() {
    let c = start().await;
    for (amount, sub_code) in [
        ("0.00", "ACQ.INVALID_PARAMETER"),
        ("1.234", "ACQ.INVALID_PARAMETER"),
        ("-1", "ACQ.INVALID_PARAMETER"),
        ("abc", "ACQ.INVALID_PARAMETER"),
        ("100000000.01", "ACQ.TOTAL_FEE_EXCEED"),
    ] {
        c.fails(
            "alipay.trade.create",
            json!({ "out_trade_no": "T200", "total_amount": amount, "subject": "x" }),
            sub_code,
        )
        .await;
    }
    c.fails(
        "alipay.trade.create",
        json!({ "out_trade_no": "T200", "total_amount": "1.00" }),
        "ACQ.INVALID_PARAMETER",
    )
    .await;
    c.fails("alipay.trade.query", json!({}), "ACQ.INVALID_PARAMETER")
        .await;
    c.fails(
        "alipay.trade.query",
        json!({ "trade_no": "2024010122001400000000000001" }),
        "ACQ.TRADE_NOT_EXIST",
    )
    .await;
    let max = c.create("T201", "100000000").await;
    assert_eq!(max["code"], "10000");
    let q = c.query("T201").await;
    assert_eq!(q["total_amount"], "100000000.00");
}

#[tokio::test]
async fn precreate_pay_and_query() {
    let c = start().await;
    let pre = c
        .ok(
            "alipay.trade.precreate",
            json!({ "out_trade_no": "T300", "total_amount": "15.5", "subject": "扫码" }),
        )
        .await;
    assert!(
        pre["qr_code"]
            .as_str()
            .unwrap()
            .starts_with("https://qr.alipay.com/bax"),
        "{pre}"
    );
    let q = c.query("T300").await;
    assert_eq!(q["trade_status"], "WAIT_BUYER_PAY");
    assert_eq!(q["total_amount"], "15.50");
    assert_eq!(q["receipt_amount"], "0.00");
    assert!(q.get("send_pay_date").is_none());

    let (status, paid) = c
        .sandbox(
            Method::POST,
            "/_sandbox/alipay/trades/T300/pay",
            Some(json!({ "buyer_id": "2088123456789012" })),
        )
        .await;
    assert_eq!(status, 200, "{paid}");
    let q = c.query("T300").await;
    assert_eq!(q["trade_status"], "TRADE_SUCCESS");
    assert_eq!(q["buyer_user_id"], "2088123456789012");
    assert_eq!(q["buyer_pay_amount"], "15.50");
    assert_eq!(q["receipt_amount"], "15.50");
    let logon = q["buyer_logon_id"].as_str().unwrap();
    assert!(logon.contains("****"), "{logon}");
    assert_eq!(q["send_pay_date"], paid["gmt_payment"]);
    // By trade_no too; trade_no wins over a mismatching out_trade_no.
    let by_no = c
        .ok("alipay.trade.query", json!({ "trade_no": q["trade_no"] }))
        .await;
    assert_eq!(by_no["out_trade_no"], "T300");
    c.fails(
        "alipay.trade.query",
        json!({ "trade_no": q["trade_no"], "out_trade_no": "T999" }),
        "ACQ.TRADE_NOT_EXIST",
    )
    .await;

    // Paying twice or paying an unknown trade is refused by the sandbox endpoint.
    assert_eq!(
        c.sandbox(Method::POST, "/_sandbox/alipay/trades/T300/pay", None)
            .await
            .0,
        409
    );
    assert_eq!(
        c.sandbox(Method::POST, "/_sandbox/alipay/trades/NOPE/pay", None)
            .await
            .0,
        404
    );
}

#[tokio::test]
async fn close_only_while_unpaid() {
    let c = start().await;
    c.create("T400", "5.00").await;
    let closed = c
        .ok("alipay.trade.close", json!({ "out_trade_no": "T400" }))
        .await;
    assert_eq!(closed["out_trade_no"], "T400");
    assert_eq!(c.query("T400").await["trade_status"], "TRADE_CLOSED");
    c.fails(
        "alipay.trade.close",
        json!({ "out_trade_no": "T400" }),
        "ACQ.TRADE_STATUS_ERROR",
    )
    .await;
    assert_eq!(
        c.sandbox(Method::POST, "/_sandbox/alipay/trades/T400/pay", None)
            .await
            .0,
        409,
        "a closed trade cannot be paid"
    );

    c.paid("T401", "5.00").await;
    c.fails(
        "alipay.trade.close",
        json!({ "out_trade_no": "T401" }),
        "ACQ.TRADE_STATUS_ERROR",
    )
    .await;
    c.fails(
        "alipay.trade.close",
        json!({ "out_trade_no": "T402" }),
        "ACQ.TRADE_NOT_EXIST",
    )
    .await;
}

#[tokio::test]
async fn unpaid_trades_time_out_on_the_sandbox_clock() {
    let c = start().await;
    c.ok(
        "alipay.trade.create",
        json!({ "out_trade_no": "T450", "total_amount": "1.00", "subject": "x", "timeout_express": "30m" }),
    )
    .await;
    c.advance(31 * 60).await;
    let q = c.query("T450").await;
    assert_eq!(q["trade_status"], "TRADE_CLOSED");
}

#[tokio::test]
async fn cancel_closes_or_refunds() {
    let c = start().await;
    c.create("T500", "20.00").await;
    let v = c
        .ok("alipay.trade.cancel", json!({ "out_trade_no": "T500" }))
        .await;
    assert_eq!(
        (v["action"].as_str(), v["retry_flag"].as_str()),
        (Some("close"), Some("N"))
    );
    assert_eq!(c.query("T500").await["trade_status"], "TRADE_CLOSED");
    let again = c
        .ok("alipay.trade.cancel", json!({ "out_trade_no": "T500" }))
        .await;
    assert_eq!(again["action"], "close");

    c.paid("T501", "20.00").await;
    let v = c
        .ok("alipay.trade.cancel", json!({ "out_trade_no": "T501" }))
        .await;
    assert_eq!(v["action"], "refund", "{v}");
    assert!(v["gmt_refund_pay"].is_string());
    let q = c.query("T501").await;
    assert_eq!(q["trade_status"], "TRADE_CLOSED");
    let again = c
        .ok("alipay.trade.cancel", json!({ "out_trade_no": "T501" }))
        .await;
    assert_eq!(again["action"], "refund", "repeat answers the same action");
    let trades = c
        .sandbox(Method::GET, "/_sandbox/alipay/trades", None)
        .await
        .1;
    let t501 = trades
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["out_trade_no"] == "T501")
        .unwrap();
    assert_eq!(t501["refund_fee"], "20.00");
    assert_eq!(
        t501["refunds"].as_array().unwrap().len(),
        1,
        "refunded once"
    );

    // An out_trade_no never seen: success without action, and it can no longer be used.
    let v = c
        .ok("alipay.trade.cancel", json!({ "out_trade_no": "T502" }))
        .await;
    assert!(v.get("action").is_none(), "{v}");
    c.fails(
        "alipay.trade.create",
        json!({ "out_trade_no": "T502", "total_amount": "1.00", "subject": "x" }),
        "ACQ.TRADE_HAS_CLOSE",
    )
    .await;
    // …while it stays invisible to the other methods; cancelling it again is fine.
    c.fails(
        "alipay.trade.query",
        json!({ "out_trade_no": "T502" }),
        "ACQ.TRADE_NOT_EXIST",
    )
    .await;
    let v = c
        .ok("alipay.trade.cancel", json!({ "out_trade_no": "T502" }))
        .await;
    assert!(v.get("action").is_none(), "{v}");
}

#[tokio::test]
async fn page_pay_links_open_a_cashier_that_creates_the_trade() {
    let c = start().await;
    let biz = json!({ "out_trade_no": "T800", "total_amount": "9.90", "subject": "网页 支付", "product_code": "FAST_INSTANT_TRADE_PAY" });
    let mut p = c.common("alipay.trade.page.pay");
    p.push(("biz_content".into(), biz.to_string()));
    p.push(("notify_url".into(), "http://127.0.0.1:9/notify".into()));
    p.push(("return_url".into(), "http://127.0.0.1:9/return".into()));
    let sign = sign_params(&c.key, p.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let link = format!(
        "{}?{}",
        c.sandbox.alipay.gateway_url,
        signed_query(p.iter().map(|(k, v)| (k.as_str(), v.as_str())), &sign)
    );
    for _ in 0..2 {
        let raw = c.send(c.http.get(&link)).await;
        assert_eq!(raw.status, 200);
        assert!(raw.content_type.starts_with("text/html"), "{raw:?}");
        assert!(
            raw.body.contains("<span id=\"out_trade_no\">T800</span>"),
            "{}",
            raw.body
        );
        assert!(raw.body.contains("<span id=\"total_amount\">9.90</span>"));
    }
    let q = c.query("T800").await;
    assert_eq!(q["trade_status"], "WAIT_BUYER_PAY");
    let trades = c
        .sandbox(Method::GET, "/_sandbox/alipay/trades", None)
        .await
        .1;
    assert_eq!(
        trades.as_array().unwrap().len(),
        1,
        "opening the link twice makes one trade"
    );
    assert_eq!(trades[0]["product_code"], "FAST_INSTANT_TRADE_PAY");
    assert_eq!(trades[0]["notify_url"], "http://127.0.0.1:9/notify");
    c.pay("T800").await;
    let raw = c.send(c.http.get(&link)).await;
    assert!(raw.body.contains("ACQ.TRADE_HAS_SUCCESS"), "{}", raw.body);
    // A link whose signature does not match shows the gateway error.
    let raw = c.send(c.http.get(link.replace("9.90", "0.01"))).await;
    assert!(raw.body.contains("isv.invalid-signature"), "{}", raw.body);
}

#[tokio::test]
async fn partial_repeated_discordant_and_full_refunds() {
    let c = start().await;
    c.create("T600", "100.00").await;
    c.fails(
        "alipay.trade.refund",
        json!({ "out_trade_no": "T600", "refund_amount": "1.00" }),
        "ACQ.TRADE_STATUS_ERROR",
    )
    .await;
    c.pay("T600").await;

    let r1 = c
        .ok(
            "alipay.trade.refund",
            json!({ "out_trade_no": "T600", "refund_amount": "30.00", "out_request_no": "R1", "refund_reason": "质量问题" }),
        )
        .await;
    assert_eq!(r1["fund_change"], "Y");
    assert_eq!(r1["refund_fee"], "30.00");
    assert_eq!(r1["out_trade_no"], "T600");
    let r2 = c.refund("T600", "20.50", "R2").await;
    assert_eq!(
        (r2["fund_change"].as_str(), r2["refund_fee"].as_str()),
        (Some("Y"), Some("50.50"))
    );
    assert_eq!(c.query("T600").await["trade_status"], "TRADE_SUCCESS");

    // Repeat of R1: nothing moves, same answer with fund_change N.
    let again = c
        .ok(
            "alipay.trade.refund",
            json!({ "out_trade_no": "T600", "refund_amount": "30.00", "out_request_no": "R1", "refund_reason": "质量问题" }),
        )
        .await;
    assert_eq!(
        (again["fund_change"].as_str(), again["refund_fee"].as_str()),
        (Some("N"), Some("50.50"))
    );
    assert_eq!(again["gmt_refund_pay"], r1["gmt_refund_pay"]);
    c.fails(
        "alipay.trade.refund",
        json!({ "out_trade_no": "T600", "refund_amount": "31.00", "out_request_no": "R1" }),
        "ACQ.DISCORDANT_REPEAT_REQUEST",
    )
    .await;
    c.fails(
        "alipay.trade.refund",
        json!({ "out_trade_no": "T600", "refund_amount": "49.51", "out_request_no": "R3" }),
        "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL",
    )
    .await;

    let q1 = c
        .ok(
            "alipay.trade.fastpay.refund.query",
            json!({ "out_trade_no": "T600", "out_request_no": "R1" }),
        )
        .await;
    assert_eq!(q1["refund_status"], "REFUND_SUCCESS");
    assert_eq!(q1["refund_amount"], "30.00");
    assert_eq!(q1["total_amount"], "100.00");
    assert_eq!(q1["refund_reason"], "质量问题");
    assert_eq!(q1["out_request_no"], "R1");
    let none = c
        .ok(
            "alipay.trade.fastpay.refund.query",
            json!({ "out_trade_no": "T600", "out_request_no": "R9" }),
        )
        .await;
    assert!(none.get("refund_status").is_none(), "{none}");
    assert!(none.get("refund_amount").is_none(), "{none}");
    c.fails(
        "alipay.trade.fastpay.refund.query",
        json!({ "out_trade_no": "NOPE", "out_request_no": "R1" }),
        "ACQ.TRADE_NOT_EXIST",
    )
    .await;

    let full = c.refund("T600", "49.50", "R3").await;
    assert_eq!(full["refund_fee"], "100.00", "{full}");
    assert_eq!(c.query("T600").await["trade_status"], "TRADE_CLOSED");
    c.fails(
        "alipay.trade.refund",
        json!({ "out_trade_no": "T600", "refund_amount": "0.01", "out_request_no": "R4" }),
        "ACQ.TRADE_HAS_CLOSE",
    )
    .await;

    // Without out_request_no the request number is the out_trade_no: one full refund.
    c.paid("T601", "9.99").await;
    let whole = c
        .ok(
            "alipay.trade.refund",
            json!({ "out_trade_no": "T601", "refund_amount": "9.99" }),
        )
        .await;
    assert_eq!(whole["refund_fee"], "9.99");
    let q = c
        .ok(
            "alipay.trade.fastpay.refund.query",
            json!({ "out_trade_no": "T601", "out_request_no": "T601" }),
        )
        .await;
    assert_eq!(q["refund_status"], "REFUND_SUCCESS");
}

#[tokio::test]
async fn payments_and_refunds_send_signed_notifications() {
    let c = start().await;
    c.ok(
        "alipay.trade.create",
        json!({ "out_trade_no": "T700", "total_amount": "12.00", "subject": "通知 & 测试", "passback_params": "a%3Db" }),
    )
    .await;
    // notify_url is a top-level parameter.
    c.call_with(
        "alipay.trade.create",
        Some(&json!({ "out_trade_no": "T701", "total_amount": "3.00", "subject": "x" })),
        &[("notify_url", "https://merchant.example/notify?x=1")],
    )
    .await;
    assert!(
        notifications(&c).await.is_empty(),
        "no notification before payment"
    );
    c.pay("T700").await;
    c.pay("T701").await;
    c.refund("T700", "2.00", "R1").await;

    let all = notifications(&c).await;
    assert_eq!(all.len(), 3);
    let refund = &all[0];
    let payment = &all[2];
    assert_eq!(all[1]["notify_url"], "https://merchant.example/notify?x=1");
    for n in &all {
        let params = params_of(n);
        assert!(
            verify_notification(&c.alipay_public, params.clone(), NotifyKind::Payment),
            "{n}"
        );
        // The body decodes to exactly the params.
        let decoded: Vec<(String, String)> = n["body"]
            .as_str()
            .unwrap()
            .split('&')
            .map(|kv| {
                let (k, v) = kv.split_once('=').unwrap();
                let d = |s: &str| {
                    percent_encoding::percent_decode_str(&s.replace('+', " "))
                        .decode_utf8()
                        .unwrap()
                        .into_owned()
                };
                (d(k), d(v))
            })
            .collect();
        assert_eq!(decoded, params);
        assert!(verify_notification(
            &c.alipay_public,
            decoded,
            NotifyKind::Payment
        ));
    }
    let p = &payment["params"];
    assert_eq!(p["notify_type"], "trade_status_sync");
    assert_eq!(p["trade_status"], "TRADE_SUCCESS");
    assert_eq!(p["out_trade_no"], "T700");
    assert_eq!(p["total_amount"], "12.00");
    assert_eq!(p["subject"], "通知 & 测试");
    assert_eq!(p["passback_params"], "a%3Db");
    assert_eq!(p["app_id"], c.app_id());
    assert_eq!(p["sign_type"], "RSA2");
    let r = &refund["params"];
    assert_eq!(r["out_biz_no"], "R1");
    assert_eq!(r["refund_fee"], "2.00");
    assert_eq!(r["trade_status"], "TRADE_SUCCESS");
    assert!(r["gmt_refund"].is_string());

    // Tampering breaks the signature.
    let mut forged = params_of(payment);
    for (k, v) in forged.iter_mut() {
        if k == "total_amount" {
            *v = "0.01".into();
        }
    }
    assert!(!verify_notification(
        &c.alipay_public,
        forged,
        NotifyKind::Payment
    ));
}
