//! Reconciliation through the real binary on the sandbox: summarize_bill against an independent
//! reading of the same ZIP (real trades, partial and full refunds, fees, generated rows), a month
//! bill, an expired link, a bill not generated and an empty day, the rows as a UTF-8 CSV
//! resource; summarize_charges against the sum of the listed charges; Beijing dates in `created`;
//! progress notifications and cancellation.

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use common::{Harness, unique};
use rmcp::model::{
    CallToolRequestParams, ClientRequest, ProgressNotificationParam, ReadResourceRequestParams,
    Request, ResourceContents,
};
use rmcp::service::{NotificationContext, PeerRequestOptions};
use rmcp::{ClientHandler, RoleClient, ServiceExt};
use serde_json::{Value, json};
use zhifu_runtime::signing::alipay::beijing_timestamp;

fn day_before(days: i64) -> String {
    beijing_timestamp(zhifu_runtime::time::unix_now() - days * 86_400)[..10].to_string()
}

fn fen(yuan: &str) -> i64 {
    let (neg, t) = match yuan.strip_prefix('-') {
        Some(t) => (true, t),
        None => (false, yuan),
    };
    let v = zhifu_runtime::money::fen_from_yuan(t).unwrap_or_else(|| panic!("amount {yuan}"));
    if neg { -v } else { v }
}

/// A plain CSV split written for this test (quotes honoured, TABs and spaces trimmed).
fn cells(line: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                out.last_mut().unwrap().push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(String::new()),
            _ => out.last_mut().unwrap().push(c),
        }
    }
    out.iter().map(|c| c.trim().to_string()).collect()
}

#[derive(Debug, Default, PartialEq)]
struct Totals {
    trades: u64,
    gross: i64,
    refunds: u64,
    refunded: i64,
    fee: i64,
    net: i64,
    rows: u64,
}

/// Totals of a trade bill's detail file, read independently of the server.
fn independent(detail: &str) -> Totals {
    let mut lines = detail.lines().filter(|l| !l.starts_with('#'));
    let header = cells(lines.next().expect("header"));
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let (kind, order, received, fee) = (
        col("业务类型"),
        col("订单金额（元）"),
        col("商家实收（元）"),
        col("服务费（元）"),
    );
    let mut t = Totals::default();
    for line in lines {
        let c = cells(line);
        t.rows += 1;
        match c[kind].as_str() {
            "交易" => {
                t.trades += 1;
                t.gross += fen(&c[order]);
            }
            "退款" => {
                t.refunds += 1;
                t.refunded -= fen(&c[order]);
            }
            other => panic!("unexpected 业务类型 {other}"),
        }
        t.fee -= fen(&c[fee]);
        t.net += fen(&c[received]) + fen(&c[fee]);
    }
    t
}

fn totals_of(result: &Value) -> Totals {
    let y = |k: &str| {
        fen(result[k]
            .as_str()
            .unwrap_or_else(|| panic!("{k}: {result}")))
    };
    Totals {
        trades: result["trade_count"].as_u64().unwrap(),
        gross: y("gross_income"),
        refunds: result["refund_count"].as_u64().unwrap(),
        refunded: y("refund_amount"),
        fee: y("service_fee"),
        net: y("net_settlement"),
        rows: result["rows"].as_u64().unwrap(),
    }
}

async fn download_detail(h: &Harness, bill_date: &str) -> String {
    let link = h
        .ok(
            "query_bill_download_url",
            json!({"bill_type": "trade", "bill_date": bill_date}),
        )
        .await;
    let url = link["bill_download_url"].as_str().unwrap();
    let zip = reqwest::get(url).await.unwrap().bytes().await.unwrap();
    common::unzip_gbk(&zip)
        .into_iter()
        .find(|(name, _)| name.contains("业务明细") && !name.contains("汇总"))
        .expect("detail CSV")
        .1
}

async fn read_resource(h: &Harness, uri: &str) -> String {
    let read = h
        .client
        .read_resource(ReadResourceRequestParams::new(uri))
        .await
        .expect("resources/read");
    match &read.contents[0] {
        ResourceContents::TextResourceContents { text, .. } => text.clone(),
        other => panic!("not text: {other:?}"),
    }
}

/// Real trades yesterday (one partly, one fully refunded) plus 300 generated trades with
/// refunds: the tool's totals equal a separate reading of the same ZIP, the cross-check agrees,
/// and the rows come back as UTF-8 CSV with the GBK names intact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn summarize_bill_equals_an_independent_reading_of_the_zip() {
    let h = Harness::start(&[]).await;
    h.sandbox_post("/_sandbox/clock", json!({"offset_seconds": -86_400}))
        .await;
    for (i, amount) in ["100.00", "250.50", "49.50"].iter().enumerate() {
        let no = unique(&format!("R{i}"));
        h.ok(
            "create_trade",
            json!({"out_trade_no": no, "total_amount": amount, "subject": "对账商品"}),
        )
        .await;
        h.sandbox_post(&format!("/_sandbox/alipay/trades/{no}/pay"), json!({}))
            .await;
        let refund = match i {
            1 => Some("50.50"),
            2 => Some("49.50"),
            _ => None,
        };
        if let Some(r) = refund {
            h.ok("refund_trade", json!({"out_trade_no": no, "refund_amount": r, "out_request_no": format!("RR{i}"), "refund_reason": "退款"})).await;
        }
    }
    h.sandbox_post("/_sandbox/clock", json!({"offset_seconds": 0}))
        .await;
    let yesterday = day_before(1);
    h.sandbox_post(
        "/_sandbox/alipay/bills/days",
        json!({"date": yesterday, "trades": 300, "partial_refunds": 20, "full_refunds": 10, "seed": 7}),
    )
    .await;
    let result = h
        .ok(
            "summarize_bill",
            json!({"bill_date": yesterday, "flag_above": "5000"}),
        )
        .await;
    let detail = download_detail(&h, &yesterday).await;
    let expected = independent(&detail);
    assert_eq!(totals_of(&result), expected, "{result}");
    assert_eq!(expected.trades, 303);
    assert_eq!(expected.refunds, 32);
    assert_eq!(result["cross_check"]["consistent"], true, "{result}");
    assert!(result["cross_check"]["compared"].as_u64().unwrap() >= 8);
    // Flagged rows: every row above ¥5000, counted independently.
    let above = detail
        .lines()
        .filter(|l| !l.starts_with('#'))
        .skip(1)
        .filter(|l| fen(&cells(l)[11]).abs() > 500_000)
        .count() as u64;
    assert!(above > 0);
    assert_eq!(result["flagged"]["count"], above, "{}", result["flagged"]);
    assert_eq!(result["largest"].as_array().unwrap().len(), 10);
    // The breakdown by product adds up to the totals.
    let groups = result["groups"].as_array().unwrap();
    let sum: i64 = groups
        .iter()
        .map(|g| fen(g["gross_income"].as_str().unwrap()))
        .sum();
    assert_eq!(sum, expected.gross);
    assert!(groups.iter().any(|g| g["key"] == "对账商品"), "{groups:?}");
    // The rows as a resource: UTF-8, GBK names intact, one line per row plus the header.
    let uri = result["resource_link"]["uri"].as_str().unwrap();
    let csv = read_resource(&h, uri).await;
    assert!(
        csv.starts_with("支付宝交易号,商户订单号,业务类型,商品名称"),
        "{csv:.200}"
    );
    assert!(csv.contains(",退款,") && csv.contains("对账商品") && csv.contains("商品"));
    assert!(
        csv.contains("\"礼盒,限量版\""),
        "a cell with a comma stays quoted"
    );
    assert!(!csv.contains('\t'));
    assert_eq!(csv.lines().count() as u64, expected.rows + 1);
    let listed = h.client.list_all_resources().await.unwrap();
    assert!(listed.iter().any(|r| r.uri == uri));
    // The result links to it.
    let call = h
        .call("summarize_bill", json!({"bill_date": yesterday}))
        .await;
    assert!(
        call.content
            .iter()
            .any(|c| matches!(c, rmcp::model::ContentBlock::ResourceLink(_))),
        "a resource_link content block"
    );
    h.stop().await;
}

/// A bill whose rows pass what one resources/read answer carries (8 MiB): the result says in how
/// many parts; the parts, each beginning with the header line and cut between rows, hold every
/// row once (61,500 in all); the whole URI is refused with the parts named.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_bill_is_read_in_parts() {
    let h = Harness::start(&[]).await;
    let day = day_before(2);
    h.sandbox_post(
        "/_sandbox/alipay/bills/days",
        json!({"date": day, "trades": 60_000, "partial_refunds": 900, "full_refunds": 600, "seed": 3}),
    )
    .await;
    let result = h.ok("summarize_bill", json!({"bill_date": day})).await;
    assert_eq!(result["rows"], 61_500, "{result}");
    let uri = result["resource_link"]["uri"].as_str().unwrap();
    let size = result["resource_link"]["size"].as_u64().unwrap();
    let parts = result["resource_parts"].as_u64().unwrap();
    assert!(size > 8 << 20, "{size}");
    let least = size.div_ceil(8 << 20);
    assert!(
        (least..=least + 1).contains(&parts),
        "{parts} parts of {size} bytes"
    );
    let whole = h
        .client
        .read_resource(ReadResourceRequestParams::new(uri))
        .await
        .expect_err("too large for one answer");
    assert!(whole.to_string().contains("?part=1"), "{whole}");
    let mut header = None;
    let mut rows = 0u64;
    let mut seen_ids = std::collections::HashSet::new();
    for k in 1..=parts {
        let part = read_resource(&h, &format!("{uri}?part={k}")).await;
        assert!(part.len() <= 8 << 20, "part {k}: {} bytes", part.len());
        let mut lines = part.lines();
        let first = lines.next().unwrap().to_string();
        assert!(first.starts_with("支付宝交易号,"), "part {k}: {first:.80}");
        assert_eq!(header.get_or_insert(first.clone()), &first);
        for line in lines {
            // Each row whole (as many cells as the header, quoted commas aside) and seen once.
            assert_eq!(
                cells(line).len(),
                cells(&first).len(),
                "part {k}: {line:.80}"
            );
            assert!(seen_ids.insert(line.to_string()), "a row twice: {line:.80}");
            rows += 1;
        }
    }
    assert_eq!(rows, 61_500);
    h.stop().await;
}

/// A month bill sums its generated days; grouped by day it shows each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn month_bill_and_empty_and_missing_days() {
    let h = Harness::start(&[]).await;
    let now = zhifu_runtime::time::unix_now();
    let this_month = &beijing_timestamp(now)[..7];
    // Two days of the previous month.
    let mut t = now;
    while &beijing_timestamp(t)[..7] == this_month {
        t -= 86_400;
    }
    let month = beijing_timestamp(t)[..7].to_string();
    for (d, n) in [("01", 40), ("02", 25)] {
        h.sandbox_post(
            "/_sandbox/alipay/bills/days",
            json!({"date": format!("{month}-{d}"), "trades": n, "full_refunds": 3, "seed": n}),
        )
        .await;
    }
    let result = h
        .ok(
            "summarize_bill",
            json!({"bill_date": month, "group_by": "day"}),
        )
        .await;
    assert_eq!(result["trade_count"], 65, "{result}");
    assert_eq!(result["refund_count"], 6);
    assert_eq!(result["cross_check"]["consistent"], true);
    let days: Vec<&str> = result["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["key"].as_str().unwrap())
        .collect();
    assert_eq!(days.len(), 2, "{days:?}");
    assert!(days.contains(&format!("{month}-01").as_str()));
    // A generated day without business: a bill with no rows, said plainly.
    let empty = format!("{month}-03");
    h.sandbox_post(
        "/_sandbox/alipay/bills/days",
        json!({"date": empty, "trades": 0}),
    )
    .await;
    let result = h.ok("summarize_bill", json!({"bill_date": empty})).await;
    assert_eq!(result["rows"], 0);
    assert_eq!(result["gross_income"], "0.00");
    assert!(
        result["note"].as_str().unwrap().contains("no rows"),
        "{result}"
    );
    // A day Alipay has no bill for.
    let err = h
        .err(
            "summarize_bill",
            json!({"bill_date": format!("{month}-04")}),
        )
        .await;
    assert_eq!(err["upstream"]["sub_code"], "isp.bill_not_exist", "{err}");
    // An account bill cannot be grouped by store.
    let err = h
        .err(
            "summarize_bill",
            json!({"bill_date": month, "bill_type": "signcustomer", "group_by": "store"}),
        )
        .await;
    assert_eq!(err["field"], "group_by", "{err}");
    h.stop().await;
}

/// The first download answers 410 (expired): the tool asks for a new link and succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_link_is_asked_for_again() {
    let h = Harness::start(&[]).await;
    let yesterday = day_before(1);
    h.sandbox_post(
        "/_sandbox/alipay/bills/days",
        json!({"date": yesterday, "trades": 12}),
    )
    .await;
    h.sandbox_post(
        "/_sandbox/faults",
        json!({"match": "GET /_sandbox/alipay/bills/{token}", "kind": "status", "status": 410}),
    )
    .await;
    let result = h
        .ok("summarize_bill", json!({"bill_date": yesterday}))
        .await;
    assert_eq!(result["trade_count"], 12);
    assert_eq!(result["download"]["links_requested"], 2, "{result}");
    // Three expired links in a row: a clear error, safe to retry.
    h.sandbox_post(
        "/_sandbox/faults",
        json!({"match": "GET /_sandbox/alipay/bills/{token}", "kind": "status", "status": 410, "count": 3}),
    )
    .await;
    let err = h
        .err("summarize_bill", json!({"bill_date": yesterday}))
        .await;
    assert!(
        err["message"].as_str().unwrap().contains("expired"),
        "{err}"
    );
    assert_eq!(err["retry_safe"], true);
    h.stop().await;
}

/// 250 charges over three days and four channels (some unpaid, some refunded): the totals
/// equal the sum over list_charges pages with Beijing-date `created` bounds; compact lists drop
/// the credential.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn summarize_charges_equals_the_sum_of_the_listed_charges() {
    let h = Harness::start(&[]).await;
    let (from, to) = (day_before(3), day_before(1));
    let start = zhifu_signing_day(&from);
    let end = zhifu_signing_day(&to) + 86_399;
    h.sandbox_post(
        "/_sandbox/charges/generate",
        json!({"count": 250, "channels": ["alipay", "wx", "upacp", "wx_pub_qr"], "created_from": start, "created_to": end, "unpaid_every": 7, "refund_every": 5}),
    )
    .await;
    // Outside the range: not counted.
    h.sandbox_post(
        "/_sandbox/charges/generate",
        json!({"count": 5, "created_from": start - 86_400, "created_to": start - 1, "seed": 9}),
    )
    .await;
    let summary = h
        .ok("summarize_charges", json!({"from": from, "to": to}))
        .await;
    // The same range through list_charges, page by page.
    let mut by_channel: BTreeMap<String, (u64, i64, i64)> = BTreeMap::new();
    let (mut count, mut gross, mut refunded) = (0u64, 0i64, 0i64);
    let mut after: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut args = json!({"limit": 100, "created": {"gte": from, "lte": to}});
        if let Some(a) = &after {
            args["starting_after"] = json!(a);
        }
        let page = h.ok("list_charges", args).await;
        pages += 1;
        for c in page["data"].as_array().unwrap() {
            count += 1;
            let e = by_channel
                .entry(c["channel"].as_str().unwrap().to_string())
                .or_default();
            e.0 += 1;
            if c["paid"] == true {
                let (a, r) = (
                    c["amount"].as_i64().unwrap(),
                    c["amount_refunded"].as_i64().unwrap(),
                );
                gross += a;
                refunded += r;
                e.1 += a;
                e.2 += r;
            }
        }
        if page["has_more"] != true {
            break;
        }
        after = page["data"]
            .as_array()
            .unwrap()
            .last()
            .map(|c| c["id"].as_str().unwrap().to_string());
    }
    assert_eq!(count, 250);
    assert!(pages >= 3);
    assert_eq!(summary["count"], count, "{summary}");
    assert_eq!(summary["charges_read"], count);
    assert_eq!(summary["pages"], 3);
    assert_eq!(summary["gross"], gross);
    assert_eq!(summary["refunded"], refunded);
    assert_eq!(summary["net"], gross - refunded);
    assert_eq!(summary["complete"], true);
    for row in summary["by_channel"].as_array().unwrap() {
        let e = by_channel[row["channel"].as_str().unwrap()];
        assert_eq!(
            (
                row["count"].as_u64().unwrap(),
                row["gross"].as_i64().unwrap(),
                row["refunded"].as_i64().unwrap()
            ),
            e,
            "{row}"
        );
    }
    let families: BTreeMap<&str, i64> = summary["by_family"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["family"].as_str().unwrap(), f["gross"].as_i64().unwrap()))
        .collect();
    assert_eq!(
        families["wechat"],
        by_channel["wx"].1 + by_channel["wx_pub_qr"].1
    );
    assert_eq!(families["unionpay"], by_channel["upacp"].1);
    // Compact lists: the same charges without the bulky nested objects.
    let page = |compact: bool| json!({"limit": 5, "paid": true, "compact": compact, "created": {"gte": from, "lte": to}});
    let full = h.ok("list_charges", page(false)).await;
    let small = h.ok("list_charges", page(true)).await;
    let ids = |v: &Value| -> Vec<String> {
        v["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(ids(&full), ids(&small));
    assert!(full["data"][0]["credential"].is_object());
    for c in small["data"].as_array().unwrap() {
        assert!(
            c.get("credential").is_none() && c["amount"].is_i64() && c["paid"] == true,
            "{c}"
        );
    }
    let (f, s) = (full.to_string().len(), small.to_string().len());
    assert!(s * 10 < f * 6, "compact {s} bytes vs {f}");
    // A filter and a cap.
    let alipay = h
        .ok(
            "summarize_charges",
            json!({"from": from, "to": to, "channel": "alipay", "paid": true}),
        )
        .await;
    assert_eq!(alipay["gross"], by_channel["alipay"].1);
    let capped = h
        .ok(
            "summarize_charges",
            json!({"from": from, "to": to, "max_charges": 100}),
        )
        .await;
    assert_eq!(capped["complete"], false);
    assert_eq!(capped["charges_read"], 100);
    h.stop().await;
}

fn zhifu_signing_day(date: &str) -> i64 {
    zhifu_runtime::signing::alipay::parse_beijing_timestamp(&format!("{date} 00:00:00")).unwrap()
}

/// A charge on a channel set to fail carries failure_code and stays unpaid.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn charges_can_stay_unpaid_or_fail() {
    let h = Harness::start(&[]).await;
    h.sandbox_post(
        "/_sandbox/charge_fates",
        json!({"channel": "wx", "failure_code": "INSUFFICIENT_FUNDS", "failure_msg": "余额不足"}),
    )
    .await;
    let charge = h
        .ok("create_charge", common::charge_args(&unique("F"), 1500))
        .await;
    let id = charge["id"].as_str().unwrap();
    let order_no = unique("U");
    h.sandbox_post("/_sandbox/charge_fates", json!({"order_no": order_no}))
        .await;
    // charge_args uses channel alipay: switch to wx for the failing one.
    let wx = h
        .ok(
            "create_charge",
            json!({"order_no": unique("W"), "amount": 800, "channel": "wx", "subject": "s", "body": "b", "client_ip": "127.0.0.1"}),
        )
        .await;
    h.pay(wx["id"].as_str().unwrap()).await;
    let failed = h
        .ok("retrieve_charge", json!({"charge_id": wx["id"]}))
        .await;
    assert_eq!(failed["paid"], false, "{failed}");
    assert_eq!(failed["failure_code"], "INSUFFICIENT_FUNDS");
    assert_eq!(failed["failure_msg"], "余额不足");
    let mut kept = common::charge_args(&order_no, 900);
    kept["order_no"] = json!(order_no);
    let kept = h.ok("create_charge", kept).await;
    h.pay(kept["id"].as_str().unwrap()).await;
    let kept = h
        .ok("retrieve_charge", json!({"charge_id": kept["id"]}))
        .await;
    assert_eq!(kept["paid"], false);
    assert_eq!(kept["failure_code"], Value::Null);
    h.pay(id).await;
    let paid = h.ok("retrieve_charge", json!({"charge_id": id})).await;
    assert_eq!(paid["paid"], true);
    h.stop().await;
}

/// A client that keeps the progress notifications it receives.
#[derive(Clone, Default)]
struct Progress(Arc<Mutex<Vec<ProgressNotificationParam>>>);

impl ClientHandler for Progress {
    async fn on_progress(
        &self,
        params: ProgressNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        self.0.lock().unwrap().push(params);
    }
}

/// With a progress token the long calls report progress (growing, in order); a cancelled call
/// stops.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn progress_is_reported_and_cancel_stops_the_call() {
    let sandbox = common::start_sandbox(&common::Options::default()).await;
    let dir = common::temp_dir("progress");
    let cmd = common::server_command(&sandbox, &dir, &common::Options::default());
    let transport = rmcp::transport::TokioChildProcess::new(cmd).unwrap();
    let progress = Progress::default();
    let client = progress.clone().serve(transport).await.unwrap();
    let yesterday = day_before(1);
    let http = reqwest::Client::new();
    let post = |path: &str, body: Value| {
        http.post(format!("{}{path}", sandbox.base_url))
            .json(&body)
            .send()
    };
    post(
        "/_sandbox/alipay/bills/days",
        json!({"date": yesterday, "trades": 30_000, "seed": 3}),
    )
    .await
    .unwrap();
    let request = |args: Value| {
        ClientRequest::CallToolRequest(Request::new(
            CallToolRequestParams::new("summarize_bill")
                .with_arguments(args.as_object().unwrap().clone()),
        ))
    };
    let handle = client
        .send_cancellable_request(
            request(json!({"bill_date": yesterday})),
            PeerRequestOptions::no_options(),
        )
        .await
        .unwrap();
    let result = handle.await_response().await.unwrap();
    let rmcp::model::ServerResult::CallToolResult(result) = result else {
        panic!("not a tool result: {result:?}")
    };
    assert_ne!(result.is_error, Some(true), "{result:?}");
    assert_eq!(result.structured_content.unwrap()["trade_count"], 30_000);
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let seen: Vec<f64> = progress
        .0
        .lock()
        .unwrap()
        .iter()
        .map(|p| p.progress)
        .collect();
    assert!(seen.len() >= 4, "link, download, rows…: {seen:?}");
    assert!(seen.windows(2).all(|w| w[0] < w[1]), "growing: {seen:?}");
    // Cancel a second call while it runs: the server stops it (the audit log says cancelled).
    progress.0.lock().unwrap().clear();
    let handle = client
        .send_cancellable_request(
            request(json!({"bill_date": yesterday})),
            PeerRequestOptions::no_options(),
        )
        .await
        .unwrap();
    for _ in 0..200 {
        if !progress.0.lock().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    handle.cancel(Some("test".into())).await.unwrap();
    let audit = dir.join("state").join("audit.jsonl");
    let mut cancelled = false;
    for _ in 0..300 {
        let text = std::fs::read_to_string(&audit).unwrap_or_default();
        if text
            .lines()
            .filter(|l| l.contains("summarize_bill"))
            .any(|l| l.contains("\"cancelled\""))
        {
            cancelled = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(cancelled, "the audit log records the cancelled call");
    let _ = client.cancel().await;
    sandbox.shutdown().await;
}
