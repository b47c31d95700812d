//! Settlement bills (alipay.md §6.11, §8): alipay.data.dataservice.bill.downloadurl.query answers
//! a link valid 30 seconds (sandbox clock) to a ZIP of GBK CSVs built from the sandbox's own
//! ledger — `trade` bills (业务明细 + 汇总) from payments and refunds, `signcustomer` bills
//! (账务明细 + 汇总) from every movement of the merchant account — for one past Beijing day or
//! month. `POST /_sandbox/alipay/bills/days` adds generated business to a past day (N paid trades,
//! partial and full refunds, fees; deterministic from a seed) so a bill of any size exists; a
//! day with neither real nor generated business has no bill (isp.bill_not_exist). Archives are
//! written to a temporary file as they are generated (deflated, GBK), never held in memory.

use std::collections::{BTreeMap, HashMap};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use encoding_rs::GBK;
use serde_json::{Map, Value};
use zhifu_signing::alipay::{beijing_timestamp, parse_beijing_timestamp};

use super::biz::{GwError, GwResult, yuan};
use super::gateway::Ctx;
use super::ledger::service_fee;
use super::trades::{Trade, sorted};
use super::zipfile::{EntryWriter, ZipStream};
use super::{AlipayApp, AlipayStore};
use crate::store::alnum;

/// How long a download link works (seconds, sandbox clock).
pub const LINK_SECONDS: i64 = 30;

/// A file deleted when dropped.
pub struct TempPath(PathBuf);

impl TempPath {
    fn new() -> TempPath {
        TempPath(std::env::temp_dir().join(format!(
            "zhifu-sandbox-bill-{}-{}.zip",
            std::process::id(),
            alnum(16)
        )))
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// A built archive behind a download token.
pub struct BillFile {
    pub path: std::sync::Arc<TempPath>,
    pub file_name: String,
    pub expires: i64,
}

/// Generated business of one past day (`POST /_sandbox/alipay/bills/days`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GeneratedDay {
    pub trades: u64,
    /// The first `partial_refunds` trades are refunded by half.
    pub partial_refunds: u64,
    /// The next `full_refunds` trades are refunded in full.
    pub full_refunds: u64,
    pub seed: u64,
}

#[derive(Default)]
pub struct BillLinks {
    pub files: HashMap<String, BillFile>,
    /// `yyyy-MM-dd` → what was generated for it.
    pub days: BTreeMap<String, GeneratedDay>,
}

/// Why a download failed.
pub enum Fetch<'a> {
    Ok(&'a BillFile),
    Expired,
    Unknown,
}

impl BillLinks {
    /// Adds generated business to a past day (replacing what was generated for it before).
    pub fn generate(&mut self, date: &str, day: GeneratedDay, now: i64) -> GwResult<()> {
        let p = period(date, now)?;
        if p.end - p.start != 86_400 {
            return Err(invalid("date 应为 yyyy-MM-dd"));
        }
        if day.partial_refunds + day.full_refunds > day.trades {
            return Err(invalid("退款笔数不能多于交易笔数"));
        }
        self.days.insert(date.to_string(), day);
        Ok(())
    }

    pub fn fetch(&self, token: &str, now: i64) -> Fetch<'_> {
        match self.files.get(token) {
            None => Fetch::Unknown,
            Some(f) if now > f.expires => Fetch::Expired,
            Some(f) => Fetch::Ok(f),
        }
    }
}

fn invalid(msg: impl Into<String>) -> GwError {
    GwError::business("isv.invalid_arguments", msg)
}

/// A bill period in Beijing time: `[start, end)`, the `yyyyMMdd` / `yyyyMM` label.
struct Period {
    start: i64,
    end: i64,
    label: String,
}

fn period(bill_date: &str, now: i64) -> GwResult<Period> {
    let today = &beijing_timestamp(now)[..10];
    let bad = || {
        invalid(format!(
            "bill_date 格式错误：{bill_date}，应为 yyyy-MM-dd 或 yyyy-MM"
        ))
    };
    let (first_day, daily) = match bill_date.len() {
        10 => (bill_date.to_string(), true),
        7 => (format!("{bill_date}-01"), false),
        _ => return Err(bad()),
    };
    let start = parse_beijing_timestamp(&format!("{first_day} 00:00:00")).ok_or_else(bad)?;
    if first_day.as_str() < "2016-01-01" {
        return Err(invalid("账单日期不能早于 2016-01-01"));
    }
    let end = if daily {
        if bill_date >= today {
            return Err(invalid(format!(
                "日期参数错误：只能查询今天以前的账单，今天是 {today}"
            )));
        }
        start + 86_400
    } else {
        if bill_date >= &today[..7] {
            return Err(invalid(format!(
                "日期参数错误：只能查询本月以前的月账单，本月是 {}",
                &today[..7]
            )));
        }
        let (y, m): (i64, i64) = (
            bill_date[..4].parse().map_err(|_| bad())?,
            bill_date[5..7].parse().map_err(|_| bad())?,
        );
        let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
        parse_beijing_timestamp(&format!("{ny:04}-{nm:02}-01 00:00:00")).ok_or_else(bad)?
    };
    Ok(Period {
        start,
        end,
        label: bill_date.replace('-', ""),
    })
}

/// `alipay.data.dataservice.bill.downloadurl.query`.
pub fn download_url_query(ctx: &mut Ctx) -> GwResult<Map<String, Value>> {
    let now = ctx.now();
    let bill_type = ctx
        .biz
        .text("bill_type")
        .ok_or_else(|| invalid("缺少必选参数 bill_type"))?;
    let bill_date = ctx
        .biz
        .text("bill_date")
        .ok_or_else(|| invalid("缺少必选参数 bill_date"))?;
    let p = period(&bill_date, now)?;
    let store = &ctx.store.alipay;
    let account = ctx.app.bill_account();
    let path = TempPath::new();
    let io = |e: io::Error| GwError::business("isp.unknown-error", format!("账单生成失败：{e}"));
    let file = std::fs::File::create(path.path()).map_err(io)?;
    let mut zip = ZipStream::new(BufWriter::with_capacity(256 * 1024, file), local_time(now));
    let built = match bill_type.as_str() {
        "trade" => trade_bill(ctx.app, store, &p, now, &mut zip),
        "signcustomer" => account_bill(ctx.app, store, &p, now, &mut zip),
        other => {
            return Err(invalid(format!(
                "bill_type 无效：{other}，可选 trade、signcustomer"
            )));
        }
    }
    .map_err(io)?;
    if !built {
        return Err(GwError::business("isp.bill_not_exist", "账单不存在"));
    }
    zip.finish().map_err(io)?.flush().map_err(io)?;
    let file_name = format!("{account}_{}.csv.zip", p.label);
    let token = alnum(32);
    let url = format!(
        "{}/_sandbox/alipay/bills/{token}?bizType={bill_type}&userId={}&fileType=csv.zip&bizDates={}&downloadFileName={file_name}",
        ctx.app.base_url, ctx.app.pid, p.label
    );
    let links = &mut ctx.store.alipay.bills;
    // Links expired a while ago go, with their files.
    links.files.retain(|_, f| f.expires + 600 > now);
    links.files.insert(
        token,
        BillFile {
            path: std::sync::Arc::new(path),
            file_name,
            expires: now + LINK_SECONDS,
        },
    );
    Ok(sorted(BTreeMap::from([("bill_download_url", url.into())])))
}

fn gbk(text: &str) -> Vec<u8> {
    GBK.encode(text).0.into_owned()
}

/// Writes `text` GBK-encoded.
fn put(out: &mut EntryWriter<'_>, text: &str) -> io::Result<()> {
    out.write_all(&GBK.encode(text).0)
}

/// `(y, mo, d, h, mi, s)` in Beijing time.
fn local_time(unix: i64) -> (u16, u16, u16, u16, u16, u16) {
    let t = beijing_timestamp(unix);
    let n = |a: usize, b: usize| t[a..b].parse::<u16>().unwrap_or(0);
    (n(0, 4), n(5, 7), n(8, 10), n(11, 13), n(14, 16), n(17, 19))
}

/// `2019年09月16日 00:00:00`.
fn cn_time(unix: i64) -> String {
    let t = beijing_timestamp(unix);
    format!("{}年{}月{}日 {}", &t[..4], &t[5..7], &t[8..10], &t[11..])
}

/// A CSV text cell: quoted only when it holds a comma, quote or line break.
fn cell(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// An ID-like cell: a TAB before the comma keeps Excel from turning it into a number.
fn id(s: &str) -> String {
    format!("{}\t", cell(s))
}

const EOL: &str = "\r\n";
/// `#` + 41 dashes + list name + 40 dashes (header) or + `结束` + 36 dashes (footer), as in
/// alipay.md §8.
fn rule(list: &str) -> String {
    format!("#{}{list}{}", "-".repeat(41), "-".repeat(40))
}

fn footer_rule(list: &str) -> String {
    format!("#{}{list}结束{}", "-".repeat(41), "-".repeat(36))
}

fn header(title: &str, list: &str, account: &str, p: &Period) -> String {
    [
        format!("#{title}"),
        format!("#账号：[{account}]"),
        format!(
            "#起始日期：[{}]   终止日期：[{}]",
            cn_time(p.start),
            cn_time(p.end)
        ),
        rule(list),
    ]
    .join(EOL)
        + EOL
}

fn in_period(p: &Period, at: i64) -> bool {
    (p.start..p.end).contains(&at)
}

const TRADE_COLUMNS: &str = "支付宝交易号,商户订单号,业务类型,商品名称,创建时间,完成时间,门店编号,门店名称,操作员,终端号,对方账户,订单金额（元）,商家实收（元）,支付宝红包（元）,集分宝（元）,支付宝优惠（元）,商家优惠（元）,券核销金额（元）,券名称,商家红包消费金额（元）,卡消费金额（元）,退款批次号/请求号,服务费（元）,分润（元）,备注";

const SUMMARY_COLUMNS: &str = "门店编号,门店名称,交易订单总笔数,退款订单总笔数,订单金额（元）,商家实收（元）,支付宝优惠（元）,商家优惠（元）,卡消费金额（元）,服务费（元）,分润（元）,实收净额（元）";

/// One 业务明细 row, real or generated.
struct DetailRow<'a> {
    trade_no: &'a str,
    out_trade_no: &'a str,
    refund: bool,
    subject: &'a str,
    created: i64,
    at: i64,
    store_id: &'a str,
    operator: &'a str,
    terminal: &'a str,
    counterparty: &'a str,
    /// Signed: refunds negative.
    amount: i64,
    /// Signed: fees negative, fees given back positive.
    fee: i64,
    batch: &'a str,
    remark: &'a str,
}

/// Totals while the detail is written: per store (trades, refunds, order amount, fee), and
/// (trades, refunds, trade amount, refund amount) for the footer.
#[derive(Default)]
struct TradeTotals {
    stores: BTreeMap<String, (u64, u64, i64, i64)>,
    n_trades: u64,
    n_refunds: u64,
    trade_sum: i64,
    refund_sum: i64,
}

impl TradeTotals {
    fn write(&mut self, out: &mut EntryWriter<'_>, r: &DetailRow) -> io::Result<()> {
        let kind = if r.refund { "退款" } else { "交易" };
        if r.refund {
            self.n_refunds += 1;
            self.refund_sum += r.amount;
        } else {
            self.n_trades += 1;
            self.trade_sum += r.amount;
        }
        let s = match self.stores.get_mut(r.store_id) {
            Some(s) => s,
            None => self.stores.entry(r.store_id.to_string()).or_default(),
        };
        if r.refund {
            s.1 += 1;
        } else {
            s.0 += 1;
        }
        s.2 += r.amount;
        s.3 += r.fee;
        let cells = [
            id(r.trade_no),
            id(r.out_trade_no),
            id(kind),
            cell(r.subject),
            beijing_timestamp(r.created),
            beijing_timestamp(r.at),
            id(r.store_id),
            id(""),
            id(r.operator),
            id(r.terminal),
            id(r.counterparty),
            yuan(r.amount),
            yuan(r.amount),
            yuan(0),
            yuan(0),
            yuan(0),
            yuan(0),
            yuan(0),
            String::new(),
            id(&yuan(0)),
            yuan(0),
            id(r.batch),
            yuan(r.fee),
            yuan(0),
            cell(r.remark),
        ];
        let mut line = cells.join(",");
        line.push_str(EOL);
        put(out, &line)
    }
}

/// Products of generated trades (one with a comma, quoted in the CSV).
const PRODUCTS: [&str; 8] = [
    "测试商品",
    "会员月卡",
    "咖啡豆 500g",
    "保温杯",
    "蓝牙耳机",
    "数据线",
    "礼盒,限量版",
    "雨伞",
];

/// A deterministic 64-bit mix (splitmix64).
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// Writes the generated rows of one day.
fn generated_rows(
    out: &mut EntryWriter<'_>,
    totals: &mut TradeTotals,
    date: &str,
    day: &GeneratedDay,
) -> io::Result<()> {
    let Some(start) = parse_beijing_timestamp(&format!("{date} 00:00:00")) else {
        return Ok(());
    };
    let ymd = date.replace('-', "");
    let n = day.trades.max(1);
    for i in 0..day.trades {
        let h = mix(day.seed ^ mix(i));
        // ¥1.00 to ¥999.99; one trade in 97 is fifty times larger.
        let mut amount = 100 + (h % 99_900) as i64;
        if i % 97 == 96 {
            amount *= 50;
        }
        let fee = service_fee(amount);
        let paid = start + 60 + (i as i64 * 86_000) / n as i64;
        let trade_no = format!("{ymd}22001{:04}{i:011}", day.seed % 10_000);
        let out_trade_no = format!("GEN{ymd}{i:08}");
        let subject = PRODUCTS[(h >> 32) as usize % PRODUCTS.len()];
        let mut row = DetailRow {
            trade_no: &trade_no,
            out_trade_no: &out_trade_no,
            refund: false,
            subject,
            created: paid - 5,
            at: paid,
            store_id: "",
            operator: "",
            terminal: "",
            counterparty: "*三(138****0000)",
            amount,
            fee: -fee,
            batch: "",
            remark: subject,
        };
        totals.write(out, &row)?;
        let refund = if i < day.partial_refunds {
            amount / 2
        } else if i < day.partial_refunds + day.full_refunds {
            amount
        } else {
            0
        };
        if refund > 0 {
            let batch = format!("R{out_trade_no}");
            row.refund = true;
            row.at = paid + 30;
            row.amount = -refund;
            row.fee = if refund == amount {
                fee
            } else {
                service_fee(refund).min(fee)
            };
            row.batch = &batch;
            row.remark = "退款";
            totals.write(out, &row)?;
        }
    }
    Ok(())
}

/// Writes the trade bill's two files; `false` for a period without payments, refunds or
/// generated days.
fn trade_bill<W: Write>(
    app: &AlipayApp,
    store: &AlipayStore,
    p: &Period,
    now: i64,
    zip: &mut ZipStream<W>,
) -> io::Result<bool> {
    struct Real<'a> {
        trade: &'a Trade,
        refund: Option<(&'a str, i64, i64, Option<&'a str>)>,
        at: i64,
    }
    let mut rows: Vec<Real> = Vec::new();
    for t in &store.trades {
        if let Some(paid) = t.paid_at.filter(|at| in_period(p, *at)) {
            rows.push(Real {
                trade: t,
                refund: None,
                at: paid,
            });
        }
        for r in t.refunds.iter().filter(|r| in_period(p, r.at)) {
            rows.push(Real {
                trade: t,
                refund: Some((&r.out_request_no, r.amount, r.fee_back, r.reason.as_deref())),
                at: r.at,
            });
        }
    }
    let days: Vec<(&String, &GeneratedDay)> = store
        .bills
        .days
        .iter()
        .filter(|(d, _)| {
            parse_beijing_timestamp(&format!("{d} 00:00:00")).is_some_and(|t| in_period(p, t))
        })
        .collect();
    if rows.is_empty() && days.is_empty() {
        return Ok(false);
    }
    rows.sort_by_key(|r| r.at);
    let account = app.bill_account();
    let mut totals = TradeTotals::default();
    let exported = format!("#导出时间：[{}]", cn_time(now));
    let detail_name = gbk(&format!("{account}_{}_业务明细.csv", p.label));
    zip.entry(&detail_name, |out| {
        put(
            out,
            &header("支付宝业务明细查询", "业务明细列表", &account, p),
        )?;
        put(out, TRADE_COLUMNS)?;
        put(out, EOL)?;
        for row in &rows {
            let t = row.trade;
            let counterparty = t
                .buyer
                .as_ref()
                .map(|b| b.bill_account())
                .unwrap_or_default();
            let body = t.body.clone().unwrap_or_else(|| t.subject.clone());
            let (refund, amount, fee, batch, remark) = match row.refund {
                None => (false, t.total, -t.fee(), "", body.as_str()),
                Some((no, amount, fee_back, reason)) => (
                    true,
                    -amount,
                    fee_back,
                    no,
                    reason.unwrap_or(t.subject.as_str()),
                ),
            };
            totals.write(
                out,
                &DetailRow {
                    trade_no: &t.trade_no,
                    out_trade_no: &t.out_trade_no,
                    refund,
                    subject: &t.subject,
                    created: t.created,
                    at: row.at,
                    store_id: t.store_id.as_deref().unwrap_or_default(),
                    operator: t.operator_id.as_deref().unwrap_or_default(),
                    terminal: t.terminal_id.as_deref().unwrap_or_default(),
                    counterparty: &counterparty,
                    amount,
                    fee,
                    batch,
                    remark,
                },
            )?;
        }
        for (date, day) in &days {
            generated_rows(out, &mut totals, date, day)?;
        }
        put(
            out,
            &[
                footer_rule("业务明细列表"),
                format!(
                    "#交易合计：{}笔，商家实收共{}元，商家优惠共0.00元",
                    totals.n_trades,
                    yuan(totals.trade_sum)
                ),
                format!(
                    "#退款合计：{}笔，商家实收退款共{}元，商家优惠退款共0.00元",
                    totals.n_refunds,
                    yuan(totals.refund_sum)
                ),
                exported.clone(),
            ]
            .join(EOL),
        )?;
        put(out, EOL)
    })?;
    let mut summary = header("支付宝业务汇总查询", "业务汇总列表", &account, p);
    summary.push_str(SUMMARY_COLUMNS);
    summary.push_str(EOL);
    let summary_row = |first: String, second: String, s: &(u64, u64, i64, i64)| {
        [
            first,
            second,
            s.0.to_string(),
            s.1.to_string(),
            yuan(s.2),
            yuan(s.2),
            yuan(0),
            yuan(0),
            yuan(0),
            yuan(s.3),
            yuan(0),
            yuan(s.2 + s.3),
        ]
        .join(",")
    };
    let mut total = (0u64, 0u64, 0i64, 0i64);
    for (store_id, s) in &totals.stores {
        summary.push_str(&summary_row(id(store_id), id(""), s));
        summary.push_str(EOL);
        total = (total.0 + s.0, total.1 + s.1, total.2 + s.2, total.3 + s.3);
    }
    summary.push_str(&summary_row("合计".into(), String::new(), &total));
    summary.push_str(EOL);
    summary.push_str(&[footer_rule("业务汇总列表"), exported].join(EOL));
    summary.push_str(EOL);
    zip.entry(
        &gbk(&format!("{account}_{}_业务明细(汇总).csv", p.label)),
        |out| put(out, &summary),
    )?;
    Ok(true)
}

const ACCOUNT_COLUMNS: &str = "账务流水号,业务流水号,商户订单号,商品名称,发生时间,对方账号,收入金额（+元）,支出金额（-元）,账户余额（元）,交易渠道,业务类型,备注";

const ACCOUNT_SUMMARY_COLUMNS: &str =
    "业务类型,收入笔数,收入金额（+元）,支出笔数,支出金额（-元）,合计（元）";

/// Writes the signcustomer bill's two files; `false` for a period without account movements.
fn account_bill<W: Write>(
    app: &AlipayApp,
    store: &AlipayStore,
    p: &Period,
    now: i64,
    zip: &mut ZipStream<W>,
) -> io::Result<bool> {
    let entries: Vec<_> = store
        .account
        .entries
        .iter()
        .filter(|e| in_period(p, e.at))
        .collect();
    if entries.is_empty() {
        return Ok(false);
    }
    let account = app.bill_account();
    let mut detail = header("支付宝账务明细查询", "账务明细列表", &account, p);
    detail.push_str(ACCOUNT_COLUMNS);
    detail.push_str(EOL);
    // kind → (income count, income, expense count, expense)
    let mut kinds: BTreeMap<&str, (u32, i64, u32, i64)> = BTreeMap::new();
    for e in &entries {
        let (income, expense) = if e.amount > 0 {
            (e.amount, 0)
        } else {
            (0, e.amount)
        };
        let k = kinds.entry(e.kind).or_default();
        if e.amount > 0 {
            k.0 += 1;
            k.1 += income;
        } else {
            k.2 += 1;
            k.3 += expense;
        }
        let cells = [
            id(&e.id),
            id(&e.biz_no),
            id(&e.out_no),
            cell(&e.subject),
            beijing_timestamp(e.at),
            id(&e.counterparty),
            yuan(income),
            yuan(expense),
            yuan(e.balance),
            "支付宝".to_string(),
            e.kind.to_string(),
            cell(&e.remark),
        ];
        detail.push_str(&cells.join(","));
        detail.push_str(EOL);
    }
    let total = kinds.values().fold((0, 0, 0, 0), |t, k| {
        (t.0 + k.0, t.1 + k.1, t.2 + k.2, t.3 + k.3)
    });
    let exported = format!("#导出时间：[{}]", cn_time(now));
    detail.push_str(
        &[
            footer_rule("账务明细列表"),
            format!("#支出合计：{}笔，共{}元", total.2, yuan(total.3)),
            format!("#收入合计：{}笔，共{}元", total.0, yuan(total.1)),
            exported.clone(),
        ]
        .join(EOL),
    );
    detail.push_str(EOL);

    let mut summary = header("支付宝账务汇总查询", "账务汇总列表", &account, p);
    summary.push_str(ACCOUNT_SUMMARY_COLUMNS);
    summary.push_str(EOL);
    let row = |name: &str, k: &(u32, i64, u32, i64)| {
        [
            name.to_string(),
            k.0.to_string(),
            yuan(k.1),
            k.2.to_string(),
            yuan(k.3),
            yuan(k.1 + k.3),
        ]
        .join(",")
    };
    for (kind, k) in &kinds {
        summary.push_str(&row(kind, k));
        summary.push_str(EOL);
    }
    summary.push_str(&row("合计", &total));
    summary.push_str(EOL);
    summary.push_str(&[footer_rule("账务汇总列表"), exported].join(EOL));
    summary.push_str(EOL);
    zip.entry(
        &gbk(&format!("{account}_{}_账务明细.csv", p.label)),
        |out| put(out, &detail),
    )?;
    zip.entry(
        &gbk(&format!("{account}_{}_账务明细(汇总).csv", p.label)),
        |out| put(out, &summary),
    )?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods() {
        let now = parse_beijing_timestamp("2024-03-15 10:00:00").unwrap();
        let day = period("2024-03-14", now).ok().unwrap();
        assert_eq!(day.end - day.start, 86_400);
        assert_eq!(day.label, "20240314");
        let month = period("2024-02", now).ok().unwrap();
        assert_eq!(month.end - month.start, 29 * 86_400);
        for bad in [
            "2024-03-15",
            "2024-03-16",
            "2024-03",
            "2024-3-1",
            "2015-12-31",
            "x",
        ] {
            assert!(period(bad, now).is_err(), "{bad}");
        }
    }

    #[test]
    fn rules_match_the_reference_layout() {
        assert_eq!(
            rule("业务明细列表"),
            "#-----------------------------------------业务明细列表----------------------------------------"
        );
        assert_eq!(
            footer_rule("业务明细列表"),
            "#-----------------------------------------业务明细列表结束------------------------------------"
        );
        assert_eq!(TRADE_COLUMNS.split(',').count(), 25);
    }
}
