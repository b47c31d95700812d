//! Alipay settlement bills over real HTTP: a day with payments, a partial refund and a transfer,
//! then (clock advanced a day) yesterday's `trade` and `signcustomer` bills — download, unzip
//! with an independent reader, GBK names without the UTF-8 flag, GBK contents in the layout of
//! alipay.md §8, rows and totals matching the ledger — plus the rejections and link expiry.

mod alipay_support;

use std::io::Read as _;

use alipay_support::Ali;
use encoding_rs::GBK;
use reqwest::Method;
use serde_json::json;
use zhifu_signing::alipay::beijing_timestamp;

const BILL: &str = "alipay.data.dataservice.bill.downloadurl.query";

async fn sandbox_now(c: &Ali) -> i64 {
    c.sandbox(
        Method::POST,
        "/_sandbox/clock",
        Some(json!({ "advance_seconds": 0 })),
    )
    .await
    .1["now"]
        .as_i64()
        .unwrap()
}

/// Moves the sandbox clock to the next 12:00 Beijing time, so a test's activity never straddles
/// midnight. Returns that day (`yyyy-MM-dd`).
async fn to_noon(c: &Ali) -> String {
    let now = sandbox_now(c).await;
    let local = now + 8 * 3600;
    let noon = local - local.rem_euclid(86_400) + 12 * 3600 + 86_400 - 8 * 3600;
    c.advance(noon - now).await;
    beijing_timestamp(noon)[..10].to_string()
}

/// `(GBK-decoded name, GBK-decoded content, raw general-purpose flags)` of every entry.
fn unzip(bytes: &[u8]) -> Vec<(String, String, u16)> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).expect("a ZIP");
    let mut out = Vec::new();
    for i in 0..archive.len() {
        let mut file = archive.by_index(i).unwrap();
        let (name, _, bad_name) = GBK.decode(file.name_raw());
        assert!(!bad_name);
        let name = name.into_owned();
        let mut data = Vec::new();
        file.read_to_end(&mut data).unwrap();
        let (text, _, bad_text) = GBK.decode(&data);
        assert!(!bad_text, "GBK content");
        assert!(std::str::from_utf8(&data).is_err(), "content is not UTF-8");
        out.push((name, text.into_owned(), 0));
    }
    // General-purpose flags of the local headers (found through the central directory, since
    // entries are deflated with sizes after the data): bit 11 (UTF-8) never set.
    let mut flags = Vec::new();
    let end = bytes.len() - 22;
    assert_eq!(
        &bytes[end..end + 4],
        b"PK\x05\x06",
        "end of central directory"
    );
    let mut at = u32::from_le_bytes(bytes[end + 16..end + 20].try_into().unwrap()) as usize;
    while bytes[at..].starts_with(b"PK\x01\x02") {
        let local = u32::from_le_bytes(bytes[at + 42..at + 46].try_into().unwrap()) as usize;
        assert_eq!(&bytes[local..local + 4], b"PK\x03\x04");
        flags.push(u16::from_le_bytes([bytes[local + 6], bytes[local + 7]]));
        let name_len = u16::from_le_bytes([bytes[at + 28], bytes[at + 29]]) as usize;
        let extra = u16::from_le_bytes([bytes[at + 30], bytes[at + 31]]) as usize;
        let comment = u16::from_le_bytes([bytes[at + 32], bytes[at + 33]]) as usize;
        at += 46 + name_len + extra + comment;
    }
    assert_eq!(flags.len(), out.len());
    for (entry, flag) in out.iter_mut().zip(flags) {
        assert_eq!(flag & 0x0800, 0, "no UTF-8 flag on {}", entry.0);
        entry.2 = flag;
    }
    out
}

async fn bill_url(c: &Ali, bill_type: &str, bill_date: &str) -> String {
    let v = c
        .ok(
            BILL,
            json!({ "bill_type": bill_type, "bill_date": bill_date }),
        )
        .await;
    v["bill_download_url"].as_str().unwrap().to_string()
}

async fn download(c: &Ali, url: &str) -> (u16, Vec<u8>) {
    let response = c.http.get(url).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.bytes().await.unwrap().to_vec())
}

fn cells(line: &str) -> Vec<&str> {
    line.split(',').collect()
}

#[tokio::test]
async fn yesterdays_trade_bill_matches_the_ledger() {
    let c = alipay_support::start().await;
    let day = to_noon(&c).await;
    let t1 = c.paid("B-T1", "88.88").await;
    c.ok(
        "alipay.trade.create",
        json!({ "out_trade_no": "B-T2", "total_amount": "10.00", "subject": "第二单", "store_id": "S01" }),
    )
    .await;
    c.pay("B-T2").await;
    c.create("B-T3", "5.00").await; // never paid: not in the bill
    c.advance(60).await;
    let r = c.refund("B-T1", "8.88", "RQ1").await;
    assert_eq!(r["fund_change"], "Y");

    // Today's bill does not exist yet.
    let v = c
        .fails(
            BILL,
            json!({ "bill_type": "trade", "bill_date": day }),
            "isv.invalid_arguments",
        )
        .await;
    assert!(v["sub_msg"].is_string());

    c.advance(86_400).await;
    let url = bill_url(&c, "trade", &day).await;
    assert!(
        url.starts_with(&format!("{}/_sandbox/alipay/bills/", c.sandbox.base_url)),
        "{url}"
    );
    let (status, zip_bytes) = download(&c, &url).await;
    assert_eq!(status, 200);
    let entries = unzip(&zip_bytes);
    assert_eq!(entries.len(), 2);
    let label = day.replace('-', "");
    let detail = entries
        .iter()
        .find(|e| e.0.ends_with(&format!("_{label}_业务明细.csv")))
        .unwrap_or_else(|| {
            panic!(
                "detail entry in {:?}",
                entries.iter().map(|e| &e.0).collect::<Vec<_>>()
            )
        });
    let summary = entries
        .iter()
        .find(|e| e.0.ends_with(&format!("_{label}_业务明细(汇总).csv")))
        .expect("summary entry");
    let account = detail.0.split('_').next().unwrap();
    assert!(account.starts_with("2088") && account.ends_with("0156") && account.len() == 20);

    let lines: Vec<&str> = detail.1.lines().collect();
    assert_eq!(lines[0], "#支付宝业务明细查询");
    assert_eq!(lines[1], format!("#账号：[{account}]"));
    let (y, m, d) = (&day[..4], &day[5..7], &day[8..10]);
    assert!(
        lines[2].starts_with(&format!(
            "#起始日期：[{y}年{m}月{d}日 00:00:00]   终止日期：["
        )),
        "{}",
        lines[2]
    );
    assert!(lines[3].contains("业务明细列表"));
    let header = cells(lines[4]);
    assert_eq!(header.len(), 25);
    assert_eq!(header[0], "支付宝交易号");
    assert_eq!(header[11], "订单金额（元）");
    assert_eq!(header[21], "退款批次号/请求号");
    assert_eq!(header[24], "备注");
    let rows: Vec<Vec<&str>> = lines[5..]
        .iter()
        .take_while(|l| !l.starts_with('#'))
        .map(|l| cells(l))
        .collect();
    assert_eq!(rows.len(), 3, "two payments and one refund: {rows:?}");
    for row in &rows {
        assert_eq!(row.len(), 25, "{row:?}");
        assert!(row[0].ends_with('\t') && row[1].ends_with('\t'), "{row:?}");
    }
    let strip = |s: &str| s.trim_end_matches('\t').to_string();
    let trade_no = t1["trade_no"].as_str().unwrap();
    let pay1 = rows
        .iter()
        .find(|r| strip(r[1]) == "B-T1" && strip(r[2]) == "交易")
        .unwrap();
    assert_eq!(strip(pay1[0]), trade_no);
    assert_eq!((pay1[11], pay1[12], pay1[22]), ("88.88", "88.88", "-0.53"));
    assert_eq!(pay1[5], t1["gmt_payment"].as_str().unwrap());
    assert!(
        strip(pay1[10]).contains("****"),
        "masked buyer: {}",
        pay1[10]
    );
    let refund = rows.iter().find(|r| strip(r[2]) == "退款").unwrap();
    assert_eq!(strip(refund[0]), trade_no);
    assert_eq!((refund[11], refund[12]), ("-8.88", "-8.88"));
    assert_eq!(strip(refund[21]), "RQ1");
    assert_eq!(refund[22], "0.05");
    assert_eq!(refund[5], r["gmt_refund_pay"].as_str().unwrap());
    let pay2 = rows.iter().find(|r| strip(r[1]) == "B-T2").unwrap();
    assert_eq!(strip(pay2[6]), "S01");
    assert_eq!(pay2[24], "第二单");

    let footer: Vec<&str> = lines[5 + rows.len()..].to_vec();
    assert!(footer[0].contains("业务明细列表结束"));
    assert_eq!(
        footer[1],
        "#交易合计：2笔，商家实收共98.88元，商家优惠共0.00元"
    );
    assert_eq!(
        footer[2],
        "#退款合计：1笔，商家实收退款共-8.88元，商家优惠退款共0.00元"
    );
    assert!(footer[3].starts_with("#导出时间：[") && footer[3].ends_with(']'));
    assert!(detail.1.contains("\r\n"));

    let lines: Vec<&str> = summary.1.lines().collect();
    assert_eq!(lines[0], "#支付宝业务汇总查询");
    let total = lines
        .iter()
        .find(|l| l.starts_with("合计"))
        .expect("合计 row");
    let total = cells(total);
    assert_eq!(total.len(), 12);
    assert_eq!(
        (total[2], total[3], total[4], total[5], total[9], total[11]),
        ("2", "1", "90.00", "90.00", "-0.54", "89.46")
    );

    // The link expires after 30 seconds of sandbox time; an unknown token is 404.
    c.advance(31).await;
    assert_eq!(download(&c, &url).await.0, 410);
    let unknown = format!("{}/_sandbox/alipay/bills/nope", c.sandbox.base_url);
    assert_eq!(download(&c, &unknown).await.0, 404);
}

#[tokio::test]
async fn signcustomer_bill_lists_every_account_movement() {
    let c = alipay_support::start().await;
    let day = to_noon(&c).await;
    c.paid("S-T1", "100.00").await;
    c.refund("S-T1", "40.00", "RQ1").await;
    c.ok(
        "alipay.fund.trans.uni.transfer",
        json!({ "out_biz_no": "S-B1", "trans_amount": "12.34", "product_code": "TRANS_ACCOUNT_NO_PWD", "biz_scene": "DIRECT_TRANSFER", "payee_info": {"identity": "2088123412341234", "identity_type": "ALIPAY_USER_ID"} }),
    )
    .await;
    c.advance(86_400).await;
    let url = bill_url(&c, "signcustomer", &day).await;
    let entries = unzip(&download(&c, &url).await.1);
    let detail = entries
        .iter()
        .find(|e| e.0.ends_with("_账务明细.csv"))
        .expect("account detail");
    assert!(entries.iter().any(|e| e.0.ends_with("_账务明细(汇总).csv")));
    let lines: Vec<&str> = detail.1.lines().collect();
    assert_eq!(lines[0], "#支付宝账务明细查询");
    assert_eq!(cells(lines[4]).len(), 12);
    assert_eq!(cells(lines[4])[6], "收入金额（+元）");
    let rows: Vec<Vec<&str>> = lines[5..]
        .iter()
        .take_while(|l| !l.starts_with('#'))
        .map(|l| cells(l))
        .collect();
    // payment, fee, refund, fee back, transfer
    let kinds: Vec<&str> = rows.iter().map(|r| r[10]).collect();
    assert_eq!(
        kinds,
        ["在线支付", "收费", "交易退款", "收费", "转账"],
        "{rows:?}"
    );
    let income: Vec<&str> = rows.iter().map(|r| r[6]).collect();
    let expense: Vec<&str> = rows.iter().map(|r| r[7]).collect();
    assert_eq!(income, ["100.00", "0.00", "0.00", "0.24", "0.00"]);
    assert_eq!(expense, ["0.00", "-0.60", "-40.00", "0.00", "-12.34"]);
    assert_eq!(rows[4][8], "100047.30", "running balance");
    assert!(lines.contains(&"#支出合计：3笔，共-52.94元"), "{lines:?}");
    assert!(lines.contains(&"#收入合计：2笔，共100.24元"), "{lines:?}");
}

#[tokio::test]
async fn bill_dates_are_checked() {
    let c = alipay_support::start().await;
    let day = to_noon(&c).await;
    c.advance(86_400).await;
    // Yesterday without activity: no bill.
    c.fails(
        BILL,
        json!({ "bill_type": "trade", "bill_date": day }),
        "isp.bill_not_exist",
    )
    .await;
    // A past month without activity: no bill either.
    c.fails(
        BILL,
        json!({ "bill_type": "trade", "bill_date": "2016-01" }),
        "isp.bill_not_exist",
    )
    .await;
    for (bill_type, date) in [
        ("trade", "2015-12-31"),
        ("trade", "2024/01/01"),
        ("trade", "tomorrow"),
        ("nope", day.as_str()),
    ] {
        c.fails(
            BILL,
            json!({ "bill_type": bill_type, "bill_date": date }),
            "isv.invalid_arguments",
        )
        .await;
    }
    let today = &beijing_timestamp(sandbox_now(&c).await)[..10];
    c.fails(
        BILL,
        json!({ "bill_type": "trade", "bill_date": today }),
        "isv.invalid_arguments",
    )
    .await;
    let this_month = &today[..7];
    c.fails(
        BILL,
        json!({ "bill_type": "trade", "bill_date": this_month }),
        "isv.invalid_arguments",
    )
    .await;
}

#[tokio::test]
async fn business_done_yesterday_by_setting_the_clock_back() {
    let c = alipay_support::start().await;
    let (status, v) = c
        .sandbox(
            Method::POST,
            "/_sandbox/clock",
            Some(json!({ "offset_seconds": -86_400 })),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    let paid = c.paid("Y-T1", "7.00").await;
    let day = paid["gmt_payment"].as_str().unwrap()[..10].to_string();
    c.sandbox(
        Method::POST,
        "/_sandbox/clock",
        Some(json!({ "offset_seconds": 0 })),
    )
    .await;
    assert_eq!(day, beijing_timestamp(alipay_support::now() - 86_400)[..10]);
    // Requests are signed with the real clock throughout; the bill is yesterday's.
    let url = bill_url(&c, "trade", &day).await;
    let entries = unzip(&download(&c, &url).await.1);
    let detail = entries
        .iter()
        .find(|e| e.0.ends_with("_业务明细.csv"))
        .unwrap();
    assert!(
        detail.1.contains("#交易合计：1笔，商家实收共7.00元"),
        "{}",
        detail.1
    );
}
