//! The Alipay gateway's common checks over real HTTP: each 40001/40002 rejection, the signature
//! error carrying the gateway's verify string, signed vs unsigned error bodies, GET and POST
//! parameter merging, the response shape, stats and faults.

mod alipay_support;

use alipay_support::{Ali, form, now, owned, start};
use reqwest::Method;
use serde_json::{Value, json};
use zhifu_signing::alipay::{beijing_timestamp, sign_content};

const QUERY: &str = "alipay.trade.query";

fn biz() -> Value {
    json!({ "out_trade_no": "T-unknown" })
}

/// Builds signed params for trade.query, applies `edit` to the unsigned params, signs (unless
/// `sign` was removed by `edit_after`), posts, and returns the raw body.
async fn send_edited(
    c: &Ali,
    edit: impl FnOnce(&mut Vec<(String, String)>),
    edit_after: impl FnOnce(&mut Vec<(String, String)>),
) -> String {
    let mut p = c.common(QUERY);
    p.push(("biz_content".into(), biz().to_string()));
    edit(&mut p);
    c.sign(&mut p);
    edit_after(&mut p);
    let raw = c.post_form(&p).await;
    assert_eq!(raw.status, 200, "{raw:?}");
    raw.body
}

fn remove(p: &mut Vec<(String, String)>, key: &str) {
    p.retain(|(k, _)| k != key);
}

fn set(p: &mut [(String, String)], key: &str, value: &str) {
    for (k, v) in p.iter_mut() {
        if k == key {
            *v = value.to_string();
        }
    }
}

fn codes(v: &Value) -> (String, String) {
    (
        v["code"].as_str().unwrap_or_default().to_string(),
        v["sub_code"].as_str().unwrap_or_default().to_string(),
    )
}

/// An unsigned `{"error_response":{…}}` body.
fn unsigned(body: &str) -> Value {
    let v: Value = serde_json::from_str(body).expect("JSON");
    assert!(v.get("sign").is_none(), "unsigned: {body}");
    assert_eq!(v.as_object().unwrap().len(), 1, "{body}");
    v["error_response"].clone()
}

#[tokio::test]
async fn a_bad_signature_is_rejected_with_the_gateway_verify_string() {
    let c = start().await;
    let mut tampered = Vec::new();
    let body = send_edited(
        &c,
        |_| {},
        |p| {
            set(p, "biz_content", r#"{"out_trade_no":"T-other"}"#);
            tampered = p.clone();
        },
    )
    .await;
    let (root, v) = c.verified(&body, QUERY);
    assert_eq!(root, "alipay_trade_query_response");
    assert_eq!(codes(&v), ("40002".into(), "isv.invalid-signature".into()));
    assert_eq!(v["msg"], "Invalid Arguments");
    let expected = sign_content(tampered.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let sub_msg = v["sub_msg"].as_str().unwrap();
    assert!(
        sub_msg.starts_with(
            "验签出错，建议检查签名字符串或签名私钥与应用公钥是否匹配，网关生成的验签字符串为："
        ),
        "{sub_msg}"
    );
    assert!(
        sub_msg.ends_with(&expected.replace('&', "&amp;")),
        "{sub_msg}\nexpected {expected}"
    );
    assert!(sub_msg.contains(&format!("app_id={}&amp;biz_content=", c.app_id())));
    assert!(
        sub_msg.contains("&amp;sign_type=RSA2&amp;"),
        "sign_type is signed"
    );

    // A signature made with another key fails the same way.
    let other = rsa::PrivateKey::new(&mut getrandom::SysRng, 2048).unwrap();
    let mut p = c.common(QUERY);
    p.push(("biz_content".into(), biz().to_string()));
    let sign =
        zhifu_signing::alipay::sign_params(&other, p.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    p.push(("sign".into(), sign));
    let raw = c.post_form(&p).await;
    assert_eq!(
        codes(&c.verified(&raw.body, QUERY).1).1,
        "isv.invalid-signature"
    );
}

#[tokio::test]
async fn missing_common_parameters_are_40001() {
    let c = start().await;
    for (param, sub_code) in [
        ("sign_type", "isv.missing-signature-type"),
        ("timestamp", "isv.missing-timestamp"),
        ("version", "isv.missing-version"),
    ] {
        let body = send_edited(&c, |p| remove(p, param), |_| {}).await;
        let (root, v) = c.verified(&body, QUERY);
        assert_eq!(root, "alipay_trade_query_response", "{param}");
        assert_eq!(
            codes(&v),
            ("40001".into(), sub_code.into()),
            "{param}: {body}"
        );
        assert_eq!(v["msg"], "Missing Required Arguments");
    }
    let body = send_edited(&c, |_| {}, |p| remove(p, "sign")).await;
    assert_eq!(
        codes(&c.verified(&body, QUERY).1),
        ("40001".into(), "isv.missing-signature".into())
    );

    // No method: no method root key, so `error_response` — signed, the app is known.
    let body = send_edited(&c, |p| remove(p, "method"), |_| {}).await;
    let (root, v) = c.verified(&body, QUERY);
    assert_eq!(root, "error_response");
    assert_eq!(codes(&v), ("40001".into(), "isv.missing-method".into()));

    // No app_id: nobody to sign for.
    let body = send_edited(&c, |p| remove(p, "app_id"), |_| {}).await;
    let v = unsigned(&body);
    assert_eq!(codes(&v), ("40001".into(), "isv.missing-app-id".into()));
    assert_eq!(v["msg"], "Missing Required Arguments");
}

#[tokio::test]
async fn invalid_common_parameters_are_40002() {
    let c = start().await;
    let body = send_edited(&c, |p| set(p, "method", "alipay.trade.nonsense"), |_| {}).await;
    let (root, v) = c.verified(&body, "alipay.trade.nonsense");
    assert_eq!(root, "error_response");
    assert_eq!(codes(&v), ("40002".into(), "isv.invalid-method".into()));

    let body = send_edited(&c, |p| set(p, "app_id", "2021000000000000"), |_| {}).await;
    let v = unsigned(&body);
    assert_eq!(codes(&v), ("40002".into(), "isv.invalid-app-id".into()));
    assert_eq!(v["msg"], "Invalid Arguments");

    let stale = beijing_timestamp(now() - 11 * 60);
    let early = beijing_timestamp(now() + 11 * 60);
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "timestamp",
            "2024/01/01 10:00:00".into(),
            "isv.invalid-timestamp",
        ),
        (
            "timestamp",
            "2024-02-30 10:00:00".into(),
            "isv.invalid-timestamp",
        ),
        ("timestamp", stale, "isv.invalid-timestamp"),
        ("timestamp", early, "isv.invalid-timestamp"),
        ("charset", "gbk".into(), "isv.invalid-charset"),
        ("sign_type", "RSA".into(), "isv.invalid-signature-type"),
        ("format", "XML".into(), "isv.invalid-format"),
        ("biz_content", "[1,2]".into(), "isv.invalid-parameter"),
        ("biz_content", "{not json".into(), "isv.invalid-parameter"),
    ];
    for (param, value, sub_code) in cases {
        let body = send_edited(&c, |p| set(p, param, &value), |_| {}).await;
        let (root, v) = c.verified(&body, QUERY);
        assert_eq!(root, "alipay_trade_query_response");
        assert_eq!(
            codes(&v),
            ("40002".into(), sub_code.into()),
            "{param}={value}: {body}"
        );
    }
    // A parameter given twice (query and body, or twice in the body).
    let body = send_edited(&c, |p| p.push(("version".into(), "1.0".into())), |_| {}).await;
    assert_eq!(
        codes(&c.verified(&body, QUERY).1),
        ("40002".into(), "isv.invalid-parameter".into())
    );
    // Both spellings of charset and format are accepted.
    for (charset, format) in [("UTF-8", "json"), ("utf-8", "JSON")] {
        let body = send_edited(
            &c,
            |p| {
                set(p, "charset", charset);
                set(p, "format", format);
            },
            |_| {},
        )
        .await;
        let v = c.verified(&body, QUERY).1;
        assert_eq!(v["sub_code"], "ACQ.TRADE_NOT_EXIST", "{charset} {format}");
    }
}

#[tokio::test]
async fn answers_are_compact_signed_and_labelled() {
    let c = start().await;
    let raw = c.post_form(&c.signed(QUERY, Some(&biz()), &[])).await;
    assert_eq!(raw.content_type, "text/html;charset=utf-8");
    assert!(
        raw.body
            .starts_with("{\"alipay_trade_query_response\":{\"code\":\"40004\""),
        "{}",
        raw.body
    );
    let sign_at = raw.body.rfind(",\"sign\":\"").expect("sign member");
    assert!(raw.body[sign_at..].ends_with("\"}"));
    assert!(!raw.body.contains('\n') && !raw.body.contains(": "));
    let v = c.verified(&raw.body, QUERY).1;
    assert_eq!(
        v,
        json!({"code":"40004","msg":"Business Failed","sub_code":"ACQ.TRADE_NOT_EXIST","sub_msg":"交易不存在"})
    );
}

#[tokio::test]
async fn get_and_split_query_body_requests_work_and_plus_is_a_space() {
    let c = start().await;
    let create = json!({ "out_trade_no": "T-get-1", "total_amount": "1.00", "subject": "a b+c", "unknown_field": {"x": 1} });
    let p = c.signed("alipay.trade.create", Some(&create), &[]);
    // Everything in the query of a GET, spaces written as `+`.
    let query = form(&p).replace("%20", "+");
    let raw = c
        .send(c.http.get(format!("{}?{query}", c.url("/gateway.do"))))
        .await;
    let v = c.verified(&raw.body, "alipay.trade.create").1;
    assert_eq!(v["code"], "10000", "{v}");
    let trades = c
        .sandbox(Method::GET, "/_sandbox/alipay/trades", None)
        .await
        .1;
    assert_eq!(trades[0]["subject"], "a b+c");

    // Common params in the query, biz_content in the POST body (the SDKs' split).
    let p = c.signed(QUERY, Some(&json!({"out_trade_no": "T-get-1"})), &[]);
    let (body, query): (Vec<_>, Vec<_>) = p.into_iter().partition(|(k, _)| k == "biz_content");
    let raw = c
        .send(
            c.http
                .post(format!("{}?{}", c.url("/gateway.do"), form(&query)))
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body(form(&body)),
        )
        .await;
    let v = c.verified(&raw.body, QUERY).1;
    assert_eq!(v["trade_status"], "WAIT_BUYER_PAY", "{v}");

    // A JSON body is not a form.
    let raw = c
        .send(
            c.http
                .post(c.url("/gateway.do"))
                .header("Content-Type", "application/json")
                .body("{}"),
        )
        .await;
    let v: Value = serde_json::from_str(&raw.body).unwrap();
    assert_eq!(v["error_response"]["sub_code"], "isv.invalid-content-type");
    let _ = owned(&[]);
}

#[tokio::test]
async fn stats_count_every_gateway_request_and_faults_match_method_names() {
    let c = start().await;
    c.sandbox(Method::POST, "/_sandbox/reset-stats", None).await;
    c.call(QUERY, &biz()).await;
    let mut bad = c.signed(QUERY, Some(&biz()), &[]);
    set(&mut bad, "sign", "AAAA");
    c.post_form(&bad).await;
    c.post_form(&owned(&[("app_id", "x")])).await;
    let stats = c.sandbox(Method::GET, "/_sandbox/stats", None).await.1;
    assert_eq!(stats["by_route"]["alipay.trade.query"], 2, "{stats}");
    assert_eq!(stats["by_route"]["gateway.do (no method)"], 1, "{stats}");
    assert_eq!(stats["requests"], 3);

    // reset on refunds: the refund happens, the connection drops.
    c.paid("T-fault-1", "10.00").await;
    let (status, _) = c
        .sandbox(
            Method::POST,
            "/_sandbox/faults",
            Some(json!({"match": "alipay.trade.refund", "kind": "reset"})),
        )
        .await;
    assert_eq!(status, 200);
    c.call(QUERY, &json!({"out_trade_no": "T-fault-1"})).await; // not matched
    let p = c.signed(
        "alipay.trade.refund",
        Some(
            &json!({"out_trade_no": "T-fault-1", "refund_amount": "1.00", "out_request_no": "R1"}),
        ),
        &[],
    );
    let sent = c
        .http
        .post(c.url("/gateway.do"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(form(&p))
        .send()
        .await;
    assert!(sent.is_err(), "connection dropped: {sent:?}");
    let q = c.query("T-fault-1").await;
    assert_eq!(q["trade_status"], "TRADE_SUCCESS");
    let r = c.refund("T-fault-1", "1.00", "R1").await;
    assert_eq!(
        (r["fund_change"].as_str(), r["refund_fee"].as_str()),
        (Some("N"), Some("1.00")),
        "{r}"
    );

    // A status fault answers an unsigned 20000 error with that status, and does nothing.
    c.sandbox(
        Method::POST,
        "/_sandbox/faults",
        Some(json!({"match": "alipay.fund.trans.uni.transfer", "kind": "status", "status": 503})),
    )
    .await;
    let p = c.signed(
        "alipay.fund.trans.uni.transfer",
        Some(&json!({"out_biz_no": "B-fault", "trans_amount": "1.00", "product_code": "TRANS_ACCOUNT_NO_PWD", "biz_scene": "DIRECT_TRANSFER", "payee_info": {"identity": "2088123412341234", "identity_type": "ALIPAY_USER_ID"}})),
        &[],
    );
    let raw = c.post_form(&p).await;
    assert_eq!(raw.status, 503);
    assert_eq!(unsigned(&raw.body)["code"], "20000");
    let ledger = c
        .sandbox(Method::GET, "/_sandbox/alipay/transfers", None)
        .await
        .1;
    assert_eq!(ledger, json!([]));
}
