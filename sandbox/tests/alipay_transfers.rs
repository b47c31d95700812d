//! Alipay transfers over real HTTP: success with a ledger entry and a lower balance, out_biz_no
//! idempotency and PAYMENT_INFO_INCONSISTENCY, insufficient balance, the well-known missing payee,
//! parameter checks, and alipay.fund.trans.common.query.

mod alipay_support;

use alipay_support::{Ali, start};
use reqwest::Method;
use serde_json::{Value, json};

const TRANSFER: &str = "alipay.fund.trans.uni.transfer";
const QUERY: &str = "alipay.fund.trans.common.query";

fn transfer(out_biz_no: &str, amount: &str, identity: &str) -> Value {
    json!({
        "out_biz_no": out_biz_no,
        "trans_amount": amount,
        "product_code": "TRANS_ACCOUNT_NO_PWD",
        "biz_scene": "DIRECT_TRANSFER",
        "order_title": "佣金",
        "payee_info": { "identity": identity, "identity_type": "ALIPAY_USER_ID" },
    })
}

async fn ledger(c: &Ali) -> Vec<Value> {
    c.sandbox(Method::GET, "/_sandbox/alipay/transfers", None)
        .await
        .1
        .as_array()
        .unwrap()
        .clone()
}

async fn balance(c: &Ali) -> String {
    c.sandbox(Method::GET, "/_sandbox/alipay/balance", None)
        .await
        .1["balance"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn set_balance(c: &Ali, balance: &str) {
    let (status, v) = c
        .sandbox(
            Method::POST,
            "/_sandbox/alipay/balance",
            Some(json!({ "balance": balance })),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["balance"], balance);
}

#[tokio::test]
async fn a_transfer_moves_money_once_per_out_biz_no() {
    let c = start().await;
    assert_eq!(balance(&c).await, "100000.00");
    let t = c
        .ok(TRANSFER, transfer("B1", "15.50", "2088123412341234"))
        .await;
    assert_eq!(t["status"], "SUCCESS");
    assert_eq!(t["out_biz_no"], "B1");
    let order_id = t["order_id"].as_str().unwrap().to_string();
    assert_eq!(order_id.len(), 32, "{order_id}");
    assert!(t["pay_fund_order_id"].as_str().unwrap().len() == 32);
    assert_eq!(t["trans_date"].as_str().unwrap().len(), 19);
    assert_eq!(balance(&c).await, "99984.50");

    let again = c
        .ok(TRANSFER, transfer("B1", "15.50", "2088123412341234"))
        .await;
    assert_eq!(again["order_id"], order_id.as_str());
    assert_eq!(ledger(&c).await.len(), 1, "no second transfer");
    assert_eq!(balance(&c).await, "99984.50");

    c.fails(
        TRANSFER,
        transfer("B1", "15.51", "2088123412341234"),
        "PAYMENT_INFO_INCONSISTENCY",
    )
    .await;
    c.fails(
        TRANSFER,
        transfer("B1", "15.50", "2088123412349999"),
        "PAYMENT_INFO_INCONSISTENCY",
    )
    .await;

    let entry = &ledger(&c).await[0];
    assert_eq!(entry["trans_amount"], "15.50");
    assert_eq!(entry["payee_info"]["identity"], "2088123412341234");
    assert_eq!(entry["order_id"], order_id.as_str());

    // Queries by out_biz_no (+ product_code / biz_scene), order_id and pay_fund_order_id agree.
    let by_out = c
        .ok(
            QUERY,
            json!({ "out_biz_no": "B1", "product_code": "TRANS_ACCOUNT_NO_PWD", "biz_scene": "DIRECT_TRANSFER" }),
        )
        .await;
    assert_eq!(by_out["status"], "SUCCESS");
    assert_eq!(by_out["trans_amount"], "15.50");
    assert_eq!(by_out["order_id"], order_id.as_str());
    assert!(by_out["pay_date"].is_string());
    let by_order = c.ok(QUERY, json!({ "order_id": order_id })).await;
    assert_eq!(by_order, by_out);
    let by_fund = c
        .ok(
            QUERY,
            json!({ "pay_fund_order_id": t["pay_fund_order_id"] }),
        )
        .await;
    assert_eq!(by_fund, by_out);
    c.fails(QUERY, json!({ "out_biz_no": "B404" }), "ORDER_NOT_EXIST")
        .await;
    c.fails(
        QUERY,
        json!({ "out_biz_no": "B1", "product_code": "STD_RED_PACKET" }),
        "ORDER_NOT_EXIST",
    )
    .await;
    c.fails(QUERY, json!({}), "INVALID_PARAMETER").await;
}

#[tokio::test]
async fn balance_payee_and_parameter_failures() {
    let c = start().await;
    set_balance(&c, "10.00").await;
    c.fails(
        TRANSFER,
        transfer("B2", "10.01", "2088123412341234"),
        "PAYER_BALANCE_NOT_ENOUGH",
    )
    .await;
    assert!(ledger(&c).await.is_empty());
    c.fails(QUERY, json!({ "out_biz_no": "B2" }), "ORDER_NOT_EXIST")
        .await;
    // Retrying the same out_biz_no once the money is there works.
    set_balance(&c, "100.00").await;
    c.ok(TRANSFER, transfer("B2", "10.01", "2088123412341234"))
        .await;
    assert_eq!(balance(&c).await, "89.99");

    // The well-known missing payee: the transfer fails, the order explains why, nothing moves.
    c.fails(
        TRANSFER,
        transfer("B3", "1.00", "2088000000000404"),
        "PAYEE_NOT_EXIST",
    )
    .await;
    c.fails(
        TRANSFER,
        transfer("B3", "1.00", "2088000000000404"),
        "PAYEE_NOT_EXIST",
    )
    .await;
    let failed = c.ok(QUERY, json!({ "out_biz_no": "B3" })).await;
    assert_eq!(failed["status"], "FAIL");
    assert_eq!(failed["error_code"], "PAYEE_NOT_EXIST");
    assert!(failed["fail_reason"].is_string());
    assert_eq!(ledger(&c).await.len(), 1);
    assert_eq!(balance(&c).await, "89.99");

    let mut logon = transfer("B4", "1.00", "someone@example.com");
    logon["payee_info"]["identity_type"] = "ALIPAY_LOGON_ID".into();
    c.fails(TRANSFER, logon.clone(), "INVALID_PARAMETER").await;
    logon["payee_info"]["name"] = "张三".into();
    c.ok(TRANSFER, logon).await;

    for bad in [
        transfer("B5", "0.09", "2088123412341234"),
        transfer("B5", "1.001", "2088123412341234"),
        transfer("B5", "1.00", "2099123412341234"),
        json!({ "out_biz_no": "B5", "trans_amount": "1.00", "product_code": "TRANS_ACCOUNT_NO_PWD" }),
        json!({ "out_biz_no": "B5", "trans_amount": "1.00", "product_code": "NOPE", "payee_info": {"identity": "2088123412341234", "identity_type": "ALIPAY_USER_ID"} }),
    ] {
        c.fails(TRANSFER, bad, "INVALID_PARAMETER").await;
    }
    assert_eq!(ledger(&c).await.len(), 2);
}
