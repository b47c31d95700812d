//! The built binary over stdio with rmcp's client, against the Alipay sandbox gateway: every Alipay
//! tool, the seed's use cases, certificate mode and local rejections.

mod common;

use std::collections::BTreeSet;

use common::{Harness, Options, assert_matches_output_schema, unique};
use serde_json::{Value, json};

/// Every Alipay tool of the generated table: a tool added to the spec must be called by
/// `every_alipay_tool_once`, or that test fails.
fn alipay_tools() -> BTreeSet<&'static str> {
    zhifu_generated::TOOLS
        .iter()
        .filter(|t| t.provider == zhifu_runtime::tool::Provider::Alipay)
        .map(|t| t.name)
        .collect()
}

fn trade_args(out_trade_no: &str, amount: &str, subject: &str) -> Value {
    json!({"out_trade_no": out_trade_no, "total_amount": amount, "subject": subject})
}

/// Every Alipay tool at least once, each result matching its output schema.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_alipay_tool_once() {
    let h = Harness::start(&[]).await;
    let tools = h.tools().await;
    let schema_of = |name: &str| {
        tools
            .iter()
            .find(|t| t.name == name)
            .unwrap_or_else(|| panic!("{name} not listed"))
            .clone()
    };
    // A payment link creates a payable order like create_trade: annotated as moving money.
    for name in [
        "create_trade",
        "create_page_payment_url",
        "create_wap_payment_url",
    ] {
        let ann = schema_of(name).annotations.expect("annotations");
        assert_eq!(
            (ann.read_only_hint, ann.destructive_hint),
            (Some(false), Some(true)),
            "{name}"
        );
    }
    let mut called = BTreeSet::new();
    macro_rules! ok {
        ($name:expr, $args:expr) => {{
            let v = h.ok($name, $args).await;
            assert_matches_output_schema(&schema_of($name), &v);
            called.insert($name);
            v
        }};
    }

    let paid_no = unique("T");
    let created = ok!(
        "create_trade",
        trade_args(&paid_no, "88.88", "Premium plan")
    );
    assert_eq!(created["out_trade_no"], paid_no.as_str());
    assert!(created["trade_no"].as_str().unwrap().len() >= 16);
    h.sandbox_post(&format!("/_sandbox/alipay/trades/{paid_no}/pay"), json!({}))
        .await;
    let q = ok!("query_trade", json!({"out_trade_no": paid_no}));
    assert_eq!(q["trade_status"], "TRADE_SUCCESS");
    let refund = ok!(
        "refund_trade",
        json!({"out_trade_no": paid_no, "refund_amount": "8.88", "out_request_no": "R1", "refund_reason": "late delivery"})
    );
    assert_eq!(refund["refund_fee"], "8.88");
    let rq = ok!(
        "query_refund",
        json!({"out_trade_no": paid_no, "out_request_no": "R1"})
    );
    assert_eq!(rq["refund_status"], "REFUND_SUCCESS");

    let qr_no = unique("Q");
    let pre = ok!(
        "precreate_trade",
        trade_args(&qr_no, "12.00", "Scan to pay")
    );
    assert!(pre["qr_code"].as_str().unwrap().starts_with("https://"));
    let closed = ok!("close_trade", json!({"out_trade_no": qr_no}));
    assert_eq!(closed["out_trade_no"], qr_no.as_str());

    let cancel_no = unique("C");
    h.ok("create_trade", trade_args(&cancel_no, "5.00", "To cancel"))
        .await;
    let cancelled = ok!("cancel_trade", json!({"out_trade_no": cancel_no}));
    assert_eq!(cancelled["action"], "close");
    // Cancelling a paid trade refunds the buyer in full, and the result says so.
    let paid_cancel_no = unique("C");
    h.ok(
        "create_trade",
        trade_args(&paid_cancel_no, "6.00", "To refund"),
    )
    .await;
    h.sandbox_post(
        &format!("/_sandbox/alipay/trades/{paid_cancel_no}/pay"),
        json!({}),
    )
    .await;
    let result = h
        .call("cancel_trade", json!({"out_trade_no": paid_cancel_no}))
        .await;
    called.insert("cancel_trade");
    let refunded = result
        .structured_content
        .clone()
        .expect("structured result");
    assert_eq!(refunded["action"], "refund", "{refunded}");
    assert!(refunded["gmt_refund_pay"].is_string(), "{refunded}");
    // The cancel answer has no amount: the follow-up query supplies it, and the summary says
    // that the buyer was refunded, and how much.
    assert_eq!(refunded["refunded_amount"], "6.00", "{refunded}");
    let headline = result.content[0]
        .as_text()
        .map(|t| t.text.clone())
        .unwrap_or_default();
    assert!(
        headline.contains("action refund") && headline.contains("refunded_amount ¥6.00"),
        "the summary says the paid trade was refunded, with the amount: {headline}"
    );

    let page = ok!(
        "create_page_payment_url",
        trade_args(&unique("P"), "99.00", "Premium Subscription")
    );
    let url = page["url"].as_str().unwrap();
    assert!(
        url.starts_with(&h.sandbox.alipay.gateway_url)
            && url.contains("sign=")
            && url.contains("alipay.trade.page.pay"),
        "{url}"
    );
    let wap = ok!(
        "create_wap_payment_url",
        trade_args(&unique("W"), "99.00", "Premium Subscription")
    );
    assert!(
        wap["url"]
            .as_str()
            .unwrap()
            .contains("alipay.trade.wap.pay")
    );

    let biz = unique("B");
    let transfer = ok!(
        "transfer_fund",
        json!({"out_biz_no": biz, "trans_amount": "1.50", "payee_identity": "2088123412341234", "payee_identity_type": "ALIPAY_USER_ID", "order_title": "Refund of deposit"})
    );
    assert_eq!(transfer["status"], "SUCCESS");
    let tq = ok!("query_transfer", json!({"out_biz_no": biz}));
    assert_eq!(tq["status"], "SUCCESS");

    let code = h
        .sandbox_post("/_sandbox/alipay/oauth/codes", json!({}))
        .await;
    let token = ok!(
        "get_oauth_token",
        json!({"grant_type": "authorization_code", "code": code["code"]})
    );
    let access = token["access_token"].as_str().unwrap().to_string();
    let user = ok!("query_user_info", json!({"auth_token": access}));
    assert!(user["user_id"].as_str().unwrap().starts_with("2088"));

    let yesterday =
        zhifu_runtime::signing::alipay::beijing_timestamp(zhifu_runtime::time::unix_now() - 86_400)
            [..10]
            .to_string();
    let bill = h
        .call(
            "query_bill_download_url",
            json!({"bill_type": "trade", "bill_date": yesterday}),
        )
        .await;
    // No activity yesterday in a fresh sandbox: the gateway answers isp.bill_not_exist; the tool ran.
    assert_eq!(
        bill.is_error,
        Some(true),
        "a fresh sandbox has no bill for yesterday"
    );
    let err = common::error_of(&bill);
    assert_eq!(err["upstream"]["sub_code"], "isp.bill_not_exist", "{err}");
    called.insert("query_bill_download_url");

    let notifications = h.sandbox_get("/_sandbox/alipay/notifications").await;
    let first = notifications
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["params"]["out_trade_no"] == paid_no.as_str())
        .expect("a notification was produced for the paid trade")
        .clone();
    let verdict = ok!("verify_notification", json!({"body": first["body"]}));
    assert_eq!(verdict["valid"], true);
    assert_eq!(verdict["trade_status"], "TRADE_SUCCESS");
    let mut params = first["params"].as_object().unwrap().clone();
    params.insert("total_amount".into(), json!("0.01"));
    let forged = h.ok("verify_notification", json!({"params": params})).await;
    assert_eq!(forged["valid"], false);
    assert!(
        forged["out_trade_no"].is_null(),
        "nothing from an unverified notification is passed on"
    );

    h.sandbox_post(
        "/_sandbox/alipay/bills/days",
        json!({"date": yesterday, "trades": 5, "full_refunds": 1}),
    )
    .await;
    let summary = ok!("summarize_bill", json!({"bill_date": yesterday}));
    assert_eq!(summary["trade_count"], 5);
    assert_eq!(summary["refund_count"], 1);

    let missing: Vec<_> = alipay_tools().difference(&called).copied().collect();
    assert!(missing.is_empty(), "never called: {missing:?}");
    h.stop().await;
}

/// Seed use case: a customer return refunded in part, with the reason, then verified.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn customer_return_refunded_in_part() {
    let h = Harness::start(&[]).await;
    let no = unique("AP");
    h.ok("create_trade", trade_args(&no, "120.00", "Headphones"))
        .await;
    h.sandbox_post(&format!("/_sandbox/alipay/trades/{no}/pay"), json!({}))
        .await;
    let args = json!({"out_trade_no": no, "refund_amount": "50.00", "out_request_no": "RET1", "refund_reason": "damaged goods"});
    let refund = h.ok("refund_trade", args.clone()).await;
    assert_eq!(refund["refund_fee"], "50.00");
    assert_eq!(refund["fund_change"], "Y");
    let text = h.call("refund_trade", args.clone()).await;
    let again = text.structured_content.unwrap();
    assert_eq!(
        again["refund_fee"], "50.00",
        "an exact retry does not refund twice"
    );
    let status = h
        .ok(
            "query_refund",
            json!({"out_trade_no": no, "out_request_no": "RET1"}),
        )
        .await;
    assert_eq!(status["refund_status"], "REFUND_SUCCESS");
    assert_eq!(status["refund_amount"], "50.00");
    let trade = h.ok("query_trade", json!({"out_trade_no": no})).await;
    assert_eq!(
        trade["trade_status"], "TRADE_SUCCESS",
        "a partial refund keeps the trade open"
    );
    // The rest, then nothing more can be refunded.
    h.ok(
        "refund_trade",
        json!({"out_trade_no": no, "refund_amount": "70.00", "out_request_no": "RET2"}),
    )
    .await;
    let trade = h.ok("query_trade", json!({"out_trade_no": no})).await;
    assert_eq!(trade["trade_status"], "TRADE_CLOSED");
    let err = h
        .err(
            "refund_trade",
            json!({"out_trade_no": no, "refund_amount": "0.01", "out_request_no": "RET3"}),
        )
        .await;
    assert_eq!(err["kind"], "upstream", "{err}");
    h.stop().await;
}

/// Seed use case: a subscription trade with a notify URL, unpaid until the buyer pays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscription_trade() {
    let h = Harness::start(&[]).await;
    let no = unique("SUB");
    let mut args = trade_args(&no, "99.00", "Premium Subscription");
    args["notify_url"] = json!("https://merchant.example.com/alipay/notify");
    args["timeout_express"] = json!("30m");
    let created = h.call("create_trade", args).await;
    let text: String = created
        .content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect();
    assert!(
        text.contains("¥99.00"),
        "the result echoes the yuan amount: {text}"
    );
    let q = h.ok("query_trade", json!({"out_trade_no": no})).await;
    assert_eq!(q["trade_status"], "WAIT_BUYER_PAY");
    assert_eq!(q["total_amount"], "99.00");
    h.sandbox_post(&format!("/_sandbox/alipay/trades/{no}/pay"), json!({}))
        .await;
    let q = h.ok("query_trade", json!({"out_trade_no": no})).await;
    assert_eq!(q["trade_status"], "TRADE_SUCCESS");
    let err = h.err("close_trade", json!({"out_trade_no": no})).await;
    assert_eq!(
        err["upstream"]["sub_code"], "ACQ.TRADE_STATUS_ERROR",
        "a paid trade cannot be closed: {err}"
    );
    h.stop().await;
}

/// Seed use case: a payout that did not arrive: the transfer failed, and querying it says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_transfer_investigation() {
    let h = Harness::start(&[]).await;
    let biz = unique("TR");
    let err = h
        .err("transfer_fund", json!({"out_biz_no": biz, "trans_amount": "10.00", "payee_identity": "2088000000000404", "payee_identity_type": "ALIPAY_USER_ID"}))
        .await;
    assert_eq!(err["upstream"]["sub_code"], "PAYEE_NOT_EXIST", "{err}");
    // The failed order is on record: the query says why it failed.
    let failed = h.ok("query_transfer", json!({"out_biz_no": biz})).await;
    assert_eq!(failed["status"], "FAIL", "{failed}");
    assert_eq!(failed["error_code"], "PAYEE_NOT_EXIST", "{failed}");
    let missing = h
        .err("query_transfer", json!({"out_biz_no": "NEVER_SENT_1"}))
        .await;
    assert_eq!(
        missing["upstream"]["sub_code"], "ORDER_NOT_EXIST",
        "{missing}"
    );
    h.sandbox_post("/_sandbox/alipay/balance", json!({"balance": "5.00"}))
        .await;
    let poor = h
        .err("transfer_fund", json!({"out_biz_no": unique("TR"), "trans_amount": "10.00", "payee_identity": "2088123412341234", "payee_identity_type": "ALIPAY_USER_ID"}))
        .await;
    assert_eq!(poor["upstream"]["sub_code"], "PAYER_BALANCE_NOT_ENOUGH");
    assert!(
        poor["next_step"].as_str().unwrap().contains("balance"),
        "{poor}"
    );
    let ledger = h.sandbox_get("/_sandbox/alipay/transfers").await;
    assert_eq!(
        ledger.as_array().unwrap().len(),
        0,
        "no money left the account"
    );
    h.stop().await;
}

/// Local rejections: nothing reaches the gateway.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_alipay_inputs_are_rejected_locally() {
    let h = Harness::start(&[]).await;
    let before = h.upstream_requests().await;
    let today = zhifu_runtime::signing::alipay::beijing_timestamp(zhifu_runtime::time::unix_now())
        [..10]
        .to_string();
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "three decimals",
            json!({"out_trade_no": "T1", "refund_amount": "15.505", "out_request_no": "R"}),
            "refund_amount",
        ),
        (
            "zero amount",
            json!({"out_trade_no": "T1", "refund_amount": "0.00", "out_request_no": "R"}),
            "refund_amount",
        ),
        (
            "amount as number",
            json!({"out_trade_no": "T1", "refund_amount": 15.5, "out_request_no": "R"}),
            "refund_amount",
        ),
        (
            "no out_request_no",
            json!({"out_trade_no": "T1", "refund_amount": "1.00"}),
            "out_request_no",
        ),
    ];
    for (what, args, field) in cases {
        let err = h.err("refund_trade", args).await;
        assert_eq!(err["kind"], "invalid_arguments", "{what}: {err}");
        assert_eq!(err["field"], field, "{what}: {err}");
    }
    let err = h
        .err(
            "create_trade",
            json!({"out_trade_no": "T2", "total_amount": "100000000.01", "subject": "x"}),
        )
        .await;
    assert_eq!(err["field"], "total_amount", "{err}");
    let err = h
        .err(
            "create_trade",
            json!({"out_trade_no": "T2", "total_amount": "1.00", "subject": "a&b"}),
        )
        .await;
    assert_eq!(err["field"], "subject", "{err}");
    let err = h
        .err(
            "query_bill_download_url",
            json!({"bill_type": "trade", "bill_date": today}),
        )
        .await;
    assert_eq!(err["field"], "bill_date", "today is rejected: {err}");
    let err = h
        .err(
            "query_bill_download_url",
            json!({"bill_type": "trade", "bill_date": "2999-01"}),
        )
        .await;
    assert_eq!(
        err["field"], "bill_date",
        "a future month is rejected: {err}"
    );
    let err = h
        .err("transfer_fund", json!({"out_biz_no": "B1", "trans_amount": "1.00", "payee_identity": "a@example.com", "payee_identity_type": "ALIPAY_LOGON_ID"}))
        .await;
    assert_eq!(
        err["field"], "payee_name",
        "ALIPAY_LOGON_ID needs the payee name: {err}"
    );
    let err = h
        .err(
            "get_oauth_token",
            json!({"grant_type": "authorization_code"}),
        )
        .await;
    assert_eq!(err["field"], "code", "{err}");
    let err = h.err("query_trade", json!({})).await;
    assert_eq!(err["kind"], "invalid_arguments", "{err}");
    assert_eq!(
        h.upstream_requests().await,
        before,
        "no request may reach the gateway"
    );
    h.stop().await;
}

/// Daily closing: yesterday's trades and refunds, the bill URL fetched at once, the ZIP opened.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daily_closing_reads_yesterdays_bill() {
    let h = Harness::start(&[]).await;
    // Move the sandbox a day back, do business, then return to now.
    h.sandbox_post("/_sandbox/clock", json!({"offset_seconds": -86_400}))
        .await;
    let mut gross = 0i64;
    for (i, amount) in ["100.00", "250.50", "49.50"].iter().enumerate() {
        let no = unique(&format!("D{i}"));
        h.ok("create_trade", trade_args(&no, amount, "Daily goods"))
            .await;
        h.sandbox_post(&format!("/_sandbox/alipay/trades/{no}/pay"), json!({}))
            .await;
        gross += zhifu_runtime::money::fen_from_yuan(amount).unwrap();
        if i == 1 {
            h.ok("refund_trade", json!({"out_trade_no": no, "refund_amount": "50.50", "out_request_no": "DR1", "refund_reason": "partial return"})).await;
        }
    }
    h.sandbox_post("/_sandbox/clock", json!({"offset_seconds": 0}))
        .await;
    let yesterday =
        zhifu_runtime::signing::alipay::beijing_timestamp(zhifu_runtime::time::unix_now() - 86_400)
            [..10]
            .to_string();
    let bill = h
        .ok(
            "query_bill_download_url",
            json!({"bill_type": "trade", "bill_date": yesterday}),
        )
        .await;
    let url = bill["bill_download_url"].as_str().unwrap();
    let zip = reqwest::get(url).await.unwrap().bytes().await.unwrap();
    let files = common::unzip_gbk(&zip);
    let detail = files
        .iter()
        .find(|(name, _)| name.contains("业务明细") && !name.contains("汇总"))
        .expect("detail CSV");
    let summary = files
        .iter()
        .find(|(name, _)| name.contains("汇总"))
        .expect("summary CSV");
    assert!(detail.1.starts_with("#支付宝业务明细查询"), "{}", detail.1);
    let rows: Vec<&str> = detail
        .1
        .lines()
        .filter(|l| !l.starts_with('#') && !l.starts_with("支付宝交易号"))
        .collect();
    assert_eq!(
        rows.iter().filter(|r| r.contains("交易")).count(),
        3,
        "{}",
        detail.1
    );
    assert_eq!(
        rows.iter().filter(|r| r.contains("退款")).count(),
        1,
        "{}",
        detail.1
    );
    let expected_gross = format!("{}.{:02}", gross / 100, gross % 100);
    assert!(
        detail
            .1
            .contains(&format!("#交易合计：3笔，商家实收共{expected_gross}元")),
        "{}",
        detail.1
    );
    assert!(
        detail.1.contains("#退款合计：1笔，商家实收退款共-50.50元"),
        "{}",
        detail.1
    );
    assert!(summary.1.contains("合计"), "{}", summary.1);
    h.stop().await;
}

/// Certificate mode: SNs on requests, alipay_cert_sn checked on responses, transfers allowed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificate_mode_round_trip() {
    let h = Harness::with(Options {
        cert_mode: true,
        ..Options::default()
    })
    .await;
    let no = unique("CM");
    h.ok("create_trade", trade_args(&no, "10.00", "Cert mode"))
        .await;
    let q = h.ok("query_trade", json!({"out_trade_no": no})).await;
    assert_eq!(q["trade_status"], "WAIT_BUYER_PAY");
    let t = h
        .ok("transfer_fund", json!({"out_biz_no": unique("CB"), "trans_amount": "2.00", "payee_identity": "2088123412341234", "payee_identity_type": "ALIPAY_USER_ID"}))
        .await;
    assert_eq!(t["status"], "SUCCESS");
    h.stop().await;
}

/// Key mode against a production gateway: transfers need certificate mode, refused locally.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transfer_in_key_mode_on_production_is_refused() {
    let h = Harness::with(Options {
        alipay_production: true,
        env: vec![("ZHIFU_ALLOW_LIVE_WRITES".into(), "1".into())],
        ..Options::default()
    })
    .await;
    let before = h.upstream_requests().await;
    let err = h
        .err("transfer_fund", json!({"out_biz_no": "KM1", "trans_amount": "2.00", "payee_identity": "2088123412341234", "payee_identity_type": "ALIPAY_USER_ID"}))
        .await;
    let message = err["message"].as_str().unwrap();
    assert!(message.contains("certificate mode"), "{err}");
    assert!(
        err["next_step"]
            .as_str()
            .unwrap()
            .contains("ALIPAY_APP_CERT_PATH"),
        "{err}"
    );
    assert_eq!(h.upstream_requests().await, before);
    h.stop().await;
}

/// A response whose signature does not verify is never trusted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_responses_are_discarded() {
    // The server trusts the wrong Alipay key: every signed answer fails verification.
    let other = common::temp_dir("wrongalipay").join("k.pem");
    std::fs::write(
        &other,
        std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../shared/vectors/alipay/keys/alipay-public-key.pem"
        ))
        .unwrap(),
    )
    .unwrap();
    let h = Harness::start(&[("ALIPAY_PUBLIC_KEY_PATH", other.to_str().unwrap())]).await;
    let err = h
        .err("create_trade", trade_args(&unique("F"), "1.00", "x"))
        .await;
    assert_eq!(err["kind"], "untrusted_response", "{err}");
    assert_eq!(
        err["outcome"], "UNKNOWN",
        "a write with an untrusted answer has an unknown outcome: {err}"
    );
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .contains("signature invalid"),
        "{err}"
    );
    assert!(
        err.get("upstream").is_none(),
        "no data from the forged answer: {err}"
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_server_aliases_work() {
    // AP_SELECT_TOOLS with the official server's names selects our tools.
    let h = Harness::start(&[("AP_SELECT_TOOLS", "queryPay,refundPay,webPagePay")]).await;
    let names: BTreeSet<String> = h.tools().await.iter().map(|t| t.name.to_string()).collect();
    let expected: BTreeSet<String> = ["query_trade", "refund_trade", "create_page_payment_url"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(names, expected);
    h.stop().await;
}
