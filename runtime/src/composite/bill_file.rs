//! Reads an Alipay settlement bill archive (alipay.md §8) in one streaming pass: the ZIP's GBK
//! detail and summary CSVs (`#` comment lines, header, rows, footer totals), exact amounts in fen,
//! totals, a bounded breakdown, the largest rows, rows above a threshold, the cross-check of the
//! detail against the summary file and the footer, and the rows as UTF-8 CSV for a resource.
//!
//! Memory does not grow with the number of rows: lines are read one at a time, the breakdown keeps
//! at most [`MAX_GROUPS`] keys and the lists are bounded.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Read, Seek, Write};

use encoding_rs::GBK;
use serde_json::{Value, json};

/// Keys the breakdown keeps; later new keys are counted under [`OTHER`].
pub const MAX_GROUPS: usize = 10_000;
/// Groups shown in a result (the rest folded into one `其他` row).
pub const SHOWN_GROUPS: usize = 20;
/// Largest rows shown.
pub const SHOWN_LARGEST: usize = 10;
/// Flagged rows listed (all are counted and summed).
pub const SHOWN_FLAGGED: usize = 50;
const OTHER: &str = "(其他)";

/// Which bill: `trade` (业务明细) or `signcustomer` (账务明细).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BillKind {
    Trade,
    Account,
}

/// What the breakdown groups by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupBy {
    /// 商品名称.
    Product,
    /// 门店编号 (trade bills).
    Store,
    /// 业务类型.
    BusinessType,
    /// 交易渠道 (account bills).
    Channel,
    /// The day of 完成时间 / 发生时间 (useful for a month).
    Day,
}

impl GroupBy {
    pub fn parse(text: &str) -> Option<GroupBy> {
        Some(match text {
            "product" => GroupBy::Product,
            "store" => GroupBy::Store,
            "business_type" => GroupBy::BusinessType,
            "channel" => GroupBy::Channel,
            "day" => GroupBy::Day,
            _ => return None,
        })
    }

    fn column(self, kind: BillKind) -> Option<&'static str> {
        match (self, kind) {
            (GroupBy::Product, _) => Some("商品名称"),
            (GroupBy::Store, BillKind::Trade) => Some("门店编号"),
            (GroupBy::BusinessType, _) => Some("业务类型"),
            (GroupBy::Channel, BillKind::Account) => Some("交易渠道"),
            (GroupBy::Day, BillKind::Trade) => Some("完成时间"),
            (GroupBy::Day, BillKind::Account) => Some("发生时间"),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            GroupBy::Product => "product",
            GroupBy::Store => "store",
            GroupBy::BusinessType => "business_type",
            GroupBy::Channel => "channel",
            GroupBy::Day => "day",
        }
    }
}

/// How to read a bill.
pub struct Options {
    pub kind: BillKind,
    pub group_by: GroupBy,
    /// Rows whose absolute amount is above this many fen are flagged.
    pub flag_above: Option<i64>,
}

/// Why a bill could not be read.
#[derive(Debug)]
pub struct BillError(pub String);

impl std::fmt::Display for BillError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn err(msg: impl Into<String>) -> BillError {
    BillError(msg.into())
}

/// `"-12.34"`, `"12.3"`, `"0"`, `""` (zero) → fen, exactly; `None` for anything else.
pub fn parse_fen(text: &str) -> Option<i64> {
    let t = text.trim().trim_start_matches('`');
    if t.is_empty() {
        return Some(0);
    }
    let (neg, t) = match t.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let fen = crate::money::fen_from_yuan(t)?;
    Some(if neg { -fen } else { fen })
}

/// `1234` → `"12.34"`, `-5` → `"-0.05"`.
pub fn yuan(fen: i64) -> String {
    let sign = if fen < 0 { "-" } else { "" };
    let abs = fen.unsigned_abs();
    format!("{sign}{}.{:02}", abs / 100, abs % 100)
}

/// Counts and sums of one group (or of the whole bill).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    /// Trade bill: 交易 rows; account bill: income rows.
    pub in_count: u64,
    /// Trade bill: 订单金额 of 交易 rows; account bill: income.
    pub in_fen: i64,
    /// Trade bill: 退款 rows; account bill: expense rows.
    pub out_count: u64,
    /// Trade bill: refunded amount (positive); account bill: expense (positive).
    pub out_fen: i64,
    /// Trade bill: 服务费 as in the file (fees negative, refunded fees positive).
    pub fee_fen: i64,
    /// Trade bill: 商家实收 + 服务费 + 分润; account bill: income − expense.
    pub net_fen: i64,
}

impl Tally {
    fn add(&mut self, o: &Tally) {
        self.in_count += o.in_count;
        self.in_fen += o.in_fen;
        self.out_count += o.out_count;
        self.out_fen += o.out_fen;
        self.fee_fen += o.fee_fen;
        self.net_fen += o.net_fen;
    }
}

/// One row worth showing (largest or flagged).
#[derive(Debug, Clone)]
struct Shown {
    abs: i64,
    line: u64,
    value: Value,
}

/// What one pass over a bill found.
#[derive(Debug, Default)]
pub struct Summary {
    pub files: Vec<String>,
    pub account: Option<String>,
    pub period: Option<String>,
    pub rows: u64,
    /// Rows that are neither trade nor refund (trade bill) — counted, not summed.
    pub other_rows: u64,
    /// 商家实收 of all rows (trade bill).
    pub received_fen: i64,
    /// 商家实收 of 退款 rows (negative).
    pub refund_received_fen: i64,
    /// 订单金额 of all rows, refunds negative (trade bill).
    pub order_fen: i64,
    pub total: Tally,
    groups: HashMap<String, Tally>,
    largest: Vec<Shown>,
    flagged: Vec<Shown>,
    pub flagged_count: u64,
    pub flagged_fen: i64,
    footer: Vec<String>,
    summary_total: Option<HashMap<String, String>>,
}

/// Column positions of a detail file's header.
struct Columns {
    index: HashMap<String, usize>,
}

impl Columns {
    fn get(&self, name: &str) -> Option<usize> {
        self.index.get(name).copied()
    }

    fn need(&self, name: &str) -> Result<usize, BillError> {
        self.get(name)
            .ok_or_else(|| err(format!("the bill's header has no column {name}")))
    }
}

/// Splits one CSV line into cells (quotes honoured), each without the TAB Alipay appends to
/// ID-like cells and without surrounding spaces.
pub fn split_csv(line: &str, out: &mut Vec<String>) {
    // The cells' strings are reused from row to row: a million-row bill makes no allocation per
    // cell once the first rows have sized them.
    let mut n = 0;
    if !line.contains('"') {
        for piece in line.split(',') {
            slot(out, n).push_str(piece.trim());
            n += 1;
        }
        out.truncate(n);
        return;
    }
    let mut cell = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                cell.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            ',' if !quoted => {
                slot(out, n).push_str(cell.trim());
                n += 1;
                cell.clear();
            }
            _ => cell.push(c),
        }
    }
    slot(out, n).push_str(cell.trim());
    out.truncate(n + 1);
}

/// The `n`th cell of `out`, emptied (a new one when the row is wider than any before).
fn slot(out: &mut Vec<String>, n: usize) -> &mut String {
    if out.len() <= n {
        out.push(String::new());
    }
    let cell = &mut out[n];
    cell.clear();
    cell
}

/// Writes cells as one CSV line (quoted when needed), CRLF-free.
fn write_csv(out: &mut dyn Write, cells: &[String]) -> std::io::Result<()> {
    for (i, c) in cells.iter().enumerate() {
        if i > 0 {
            out.write_all(b",")?;
        }
        if c.contains([',', '"', '\n', '\r']) {
            write!(out, "\"{}\"", c.replace('"', "\"\""))?;
        } else {
            out.write_all(c.as_bytes())?;
        }
    }
    out.write_all(b"\n")
}

/// Reads GBK lines (without their line end) one at a time, joining a quoted cell that spans
/// lines.
struct Lines<R> {
    reader: R,
    raw: Vec<u8>,
    text: String,
}

impl<R: BufRead> Lines<R> {
    fn new(reader: R) -> Self {
        Lines {
            reader,
            raw: Vec::with_capacity(1024),
            text: String::with_capacity(1024),
        }
    }

    /// The next line, decoded; `None` at the end.
    fn next_line(&mut self) -> Result<Option<&str>, BillError> {
        self.raw.clear();
        loop {
            let n = self
                .reader
                .read_until(b'\n', &mut self.raw)
                .map_err(|e| err(format!("the bill archive could not be read: {e}")))?;
            // A quoted cell may hold a line break: keep reading until the quotes balance. A
            // quote byte (0x22) is never part of a GBK double-byte character.
            let quotes = self.raw.iter().filter(|b| **b == b'"').count();
            if n == 0 || quotes % 2 == 0 {
                break;
            }
        }
        if self.raw.is_empty() {
            return Ok(None);
        }
        while matches!(self.raw.last(), Some(b'\n' | b'\r')) {
            self.raw.pop();
        }
        self.text.clear();
        let mut decoder = GBK.new_decoder_without_bom_handling();
        self.text.reserve(self.raw.len() * 3 / 2 + 4);
        let (_, _, _) = decoder.decode_to_string(&self.raw, &mut self.text, true);
        Ok(Some(&self.text))
    }
}

/// Feedback during a long read, every 1024 rows: rows so far; answering `false` stops it.
pub type Tick<'a> = &'a mut dyn FnMut(u64) -> bool;

/// Reads the bill archive at `zip`, writing the detail rows as UTF-8 CSV into `csv`.
pub fn summarize<R: Read + Seek>(
    zip: R,
    options: &Options,
    csv: &mut dyn Write,
    tick: Tick,
) -> Result<Summary, BillError> {
    let mut archive = zip::ZipArchive::new(zip)
        .map_err(|e| err(format!("the bill is not a ZIP archive: {e}")))?;
    let names: Vec<String> = (0..archive.len())
        .map(|i| {
            archive
                .by_index_raw(i)
                .map(|f| GBK.decode_without_bom_handling(f.name_raw()).0.into_owned())
                .unwrap_or_default()
        })
        .collect();
    let detail_word = match options.kind {
        BillKind::Trade => "业务明细",
        BillKind::Account => "账务明细",
    };
    let detail = names
        .iter()
        .position(|n| n.contains(detail_word) && !n.contains("汇总"))
        .ok_or_else(|| err(format!("the archive has no {detail_word} file: {names:?}")))?;
    let mut summary = Summary {
        files: names.clone(),
        ..Summary::default()
    };
    {
        let file = archive
            .by_index(detail)
            .map_err(|e| err(format!("the detail file could not be opened: {e}")))?;
        read_detail(
            BufReader::with_capacity(256 * 1024, file),
            options,
            &mut summary,
            csv,
            tick,
        )?;
    }
    if let Some(i) = names.iter().position(|n| n.contains("汇总")) {
        let file = archive
            .by_index(i)
            .map_err(|e| err(format!("the summary file could not be opened: {e}")))?;
        summary.summary_total = read_summary_total(BufReader::new(file))?;
    }
    Ok(summary)
}

fn read_detail<R: BufRead>(
    reader: R,
    options: &Options,
    s: &mut Summary,
    csv: &mut dyn Write,
    tick: Tick,
) -> Result<(), BillError> {
    let mut lines = Lines::new(reader);
    let mut columns: Option<Columns> = None;
    let mut cells = Vec::with_capacity(32);
    let mut line_no = 0u64;
    let mut in_footer = false;
    let write_err = |e: std::io::Error| err(format!("the rows could not be written: {e}"));
    while let Some(line) = lines.next_line()? {
        line_no += 1;
        if line.trim().is_empty() {
            continue;
        }
        if let Some(comment) = line.strip_prefix('#') {
            if comment.contains("结束") && comment.starts_with('-') {
                in_footer = true;
            } else if in_footer {
                s.footer.push(comment.to_string());
            } else if let Some(acc) = comment.strip_prefix("账号：") {
                s.account = Some(acc.trim_matches(['[', ']']).to_string());
            } else if comment.starts_with("起始日期") {
                s.period = Some(comment.to_string());
            }
            continue;
        }
        let Some(cols) = &columns else {
            split_csv(line, &mut cells);
            write_csv(csv, &cells).map_err(write_err)?;
            columns = Some(Columns {
                index: cells
                    .iter()
                    .enumerate()
                    .map(|(i, c)| (c.clone(), i))
                    .collect(),
            });
            continue;
        };
        split_csv(line, &mut cells);
        write_csv(csv, &cells).map_err(write_err)?;
        s.rows += 1;
        let row = match options.kind {
            BillKind::Trade => trade_row(cols, &cells, line_no)?,
            BillKind::Account => account_row(cols, &cells, line_no)?,
        };
        let Some((tally, abs, shown)) = row else {
            s.other_rows += 1;
            continue;
        };
        if options.kind == BillKind::Trade {
            let at = |name| cols.get(name).and_then(|i| cells.get(i));
            let received = at("商家实收（元）").and_then(|c| parse_fen(c)).unwrap_or(0);
            s.received_fen += received;
            if tally.out_count > 0 {
                s.refund_received_fen += received;
            }
            s.order_fen += at("订单金额（元）").and_then(|c| parse_fen(c)).unwrap_or(0);
        }
        s.total.add(&tally);
        if let Some(column) = options.group_by.column(options.kind) {
            let i = cols.need(column)?;
            let mut key = cells.get(i).map(String::as_str).unwrap_or("");
            if options.group_by == GroupBy::Day {
                key = key.get(..10).unwrap_or(key);
            }
            let key = if key.is_empty() { "(空)" } else { key };
            if let Some(g) = s.groups.get_mut(key) {
                g.add(&tally);
            } else if s.groups.len() < MAX_GROUPS {
                s.groups.insert(key.to_string(), tally);
            } else {
                s.groups.entry(OTHER.to_string()).or_default().add(&tally);
            }
        }
        keep_largest(&mut s.largest, abs, line_no, || shown(cols, &cells));
        if options.flag_above.is_some_and(|limit| abs > limit) {
            s.flagged_count += 1;
            s.flagged_fen += abs;
            if s.flagged.len() < SHOWN_FLAGGED {
                s.flagged.push(Shown {
                    abs,
                    line: line_no,
                    value: shown(cols, &cells),
                });
            }
        }
        if s.rows.is_multiple_of(1024) && !tick(s.rows) {
            return Err(err("cancelled"));
        }
    }
    if columns.is_none() {
        return Err(err("the detail file has no header line"));
    }
    Ok(())
}

type RowView = fn(&Columns, &[String]) -> Value;

/// Keeps the `SHOWN_LARGEST` rows with the largest absolute amount (ties: the earlier row).
fn keep_largest(list: &mut Vec<Shown>, abs: i64, line: u64, value: impl FnOnce() -> Value) {
    if list.len() == SHOWN_LARGEST && list.last().is_some_and(|l| l.abs >= abs) {
        return;
    }
    let at = list.partition_point(|l| l.abs >= abs);
    list.insert(
        at,
        Shown {
            abs,
            line,
            value: value(),
        },
    );
    list.truncate(SHOWN_LARGEST);
}

fn cell<'a>(cols: &Columns, cells: &'a [String], name: &str) -> &'a str {
    cols.get(name)
        .and_then(|i| cells.get(i))
        .map_or("", String::as_str)
}

fn amount(cols: &Columns, cells: &[String], name: &str, line: u64) -> Result<i64, BillError> {
    let i = cols.need(name)?;
    let text = cells.get(i).map_or("", String::as_str);
    parse_fen(text).ok_or_else(|| err(format!("line {line}: {name} is not an amount: {text:?}")))
}

/// A trade-bill row: its tally, its absolute amount and how to show it; `None` for a row that
/// is neither 交易 nor 退款.
fn trade_row(
    cols: &Columns,
    cells: &[String],
    line: u64,
) -> Result<Option<(Tally, i64, RowView)>, BillError> {
    let kind = cell(cols, cells, "业务类型");
    let order = amount(cols, cells, "订单金额（元）", line)?;
    let received = amount(cols, cells, "商家实收（元）", line)?;
    let fee = amount(cols, cells, "服务费（元）", line)?;
    let share = match cols.get("分润（元）") {
        Some(_) => amount(cols, cells, "分润（元）", line)?,
        None => 0,
    };
    let mut t = Tally {
        fee_fen: fee,
        net_fen: received + fee + share,
        ..Tally::default()
    };
    match kind {
        "交易" => {
            t.in_count = 1;
            t.in_fen = order;
        }
        "退款" => {
            t.out_count = 1;
            t.out_fen = -order;
        }
        _ => return Ok(None),
    }
    let view: RowView = |cols, cells| {
        json!({
            "trade_no": cell(cols, cells, "支付宝交易号"),
            "out_trade_no": cell(cols, cells, "商户订单号"),
            "type": cell(cols, cells, "业务类型"),
            "name": cell(cols, cells, "商品名称"),
            "amount": cell(cols, cells, "订单金额（元）"),
            "time": cell(cols, cells, "完成时间"),
            "refund_request_no": cell(cols, cells, "退款批次号/请求号"),
        })
    };
    Ok(Some((t, order.abs(), view)))
}

/// An account-bill row: income and expense.
fn account_row(
    cols: &Columns,
    cells: &[String],
    line: u64,
) -> Result<Option<(Tally, i64, RowView)>, BillError> {
    let income = amount(cols, cells, "收入金额（+元）", line)?;
    let expense = amount(cols, cells, "支出金额（-元）", line)?.abs();
    let mut t = Tally {
        net_fen: income - expense,
        ..Tally::default()
    };
    if income != 0 {
        t.in_count = 1;
        t.in_fen = income;
    }
    if expense != 0 {
        t.out_count = 1;
        t.out_fen = expense;
    }
    let view: RowView = |cols, cells| {
        json!({
            "entry_no": cell(cols, cells, "账务流水号"),
            "biz_no": cell(cols, cells, "业务流水号"),
            "out_trade_no": cell(cols, cells, "商户订单号"),
            "type": cell(cols, cells, "业务类型"),
            "name": cell(cols, cells, "商品名称"),
            "income": cell(cols, cells, "收入金额（+元）"),
            "expense": cell(cols, cells, "支出金额（-元）"),
            "time": cell(cols, cells, "发生时间"),
        })
    };
    Ok(Some((t, income.max(expense), view)))
}

/// The summary file's `合计` row, by column name.
fn read_summary_total<R: BufRead>(reader: R) -> Result<Option<HashMap<String, String>>, BillError> {
    let mut lines = Lines::new(reader);
    let mut header: Option<Vec<String>> = None;
    let mut cells = Vec::new();
    while let Some(line) = lines.next_line()? {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        split_csv(line, &mut cells);
        match &header {
            None => header = Some(cells.clone()),
            Some(h) if cells.iter().any(|c| c == "合计") => {
                return Ok(Some(h.iter().cloned().zip(cells.iter().cloned()).collect()));
            }
            Some(_) => {}
        }
    }
    Ok(None)
}

/// `#交易合计：6笔，商家实收共0.06元…` → (6, 6 fen).
fn footer_pair(footer: &[String], prefix: &str, amount_word: &str) -> Option<(u64, i64)> {
    let line = footer.iter().find(|l| l.starts_with(prefix))?;
    let rest = &line[prefix.len()..];
    let (count, rest) = rest.split_once('笔')?;
    let after = rest.split_once(amount_word)?.1;
    let amount = after.split_once('元')?.0;
    Some((count.trim().parse().ok()?, parse_fen(amount)?))
}

/// One comparison of the detail's own totals with another statement of them.
fn check(name: &str, source: &str, detail: String, stated: Option<String>) -> Option<Value> {
    let stated = stated?;
    Some(json!({
        "item": name,
        "source": source,
        "detail": detail,
        "stated": stated,
        "ok": detail == stated,
    }))
}

impl Summary {
    /// The cross-check of the detail rows against the summary file's `合计` row and the detail
    /// footer; every item with its two values.
    pub fn cross_check(&self, kind: BillKind) -> Value {
        let t = &self.total;
        let mut checks: Vec<Value> = Vec::new();
        let stated =
            |col: &str| -> Option<String> { self.summary_total.as_ref()?.get(col).cloned() };
        let money = |col: &str| stated(col).and_then(|v| parse_fen(&v)).map(yuan);
        let count = |col: &str| stated(col).map(|v| v.trim().to_string());
        const S: &str = "summary file 合计";
        const F: &str = "detail footer";
        match kind {
            BillKind::Trade => {
                checks.extend(check(
                    "trade_count",
                    S,
                    t.in_count.to_string(),
                    count("交易订单总笔数"),
                ));
                checks.extend(check(
                    "refund_count",
                    S,
                    t.out_count.to_string(),
                    count("退款订单总笔数"),
                ));
                checks.extend(check(
                    "order_amount",
                    S,
                    yuan(self.order_fen),
                    money("订单金额（元）"),
                ));
                checks.extend(check(
                    "received",
                    S,
                    yuan(self.received_fen),
                    money("商家实收（元）"),
                ));
                checks.extend(check(
                    "service_fee",
                    S,
                    yuan(t.fee_fen),
                    money("服务费（元）"),
                ));
                checks.extend(check(
                    "net_settlement",
                    S,
                    yuan(t.net_fen),
                    money("实收净额（元）"),
                ));
                if let Some((n, fen)) = footer_pair(&self.footer, "交易合计：", "商家实收共")
                {
                    checks.extend(check(
                        "trade_count",
                        F,
                        t.in_count.to_string(),
                        Some(n.to_string()),
                    ));
                    checks.extend(check(
                        "trade_received",
                        F,
                        yuan(self.received_fen - self.refund_received_fen),
                        Some(yuan(fen)),
                    ));
                }
                if let Some((n, fen)) = footer_pair(&self.footer, "退款合计：", "商家实收退款共")
                {
                    checks.extend(check(
                        "refund_count",
                        F,
                        t.out_count.to_string(),
                        Some(n.to_string()),
                    ));
                    checks.extend(check(
                        "refund_received",
                        F,
                        yuan(self.refund_received_fen),
                        Some(yuan(fen)),
                    ));
                }
            }
            BillKind::Account => {
                checks.extend(check(
                    "income_count",
                    S,
                    t.in_count.to_string(),
                    count("收入笔数"),
                ));
                checks.extend(check("income", S, yuan(t.in_fen), money("收入金额（+元）")));
                checks.extend(check(
                    "expense_count",
                    S,
                    t.out_count.to_string(),
                    count("支出笔数"),
                ));
                checks.extend(check(
                    "expense",
                    S,
                    yuan(-t.out_fen),
                    money("支出金额（-元）"),
                ));
                checks.extend(check("net", S, yuan(t.net_fen), money("合计（元）")));
                if let Some((n, fen)) = footer_pair(&self.footer, "收入合计：", "共") {
                    checks.extend(check(
                        "income_count",
                        F,
                        t.in_count.to_string(),
                        Some(n.to_string()),
                    ));
                    checks.extend(check("income", F, yuan(t.in_fen), Some(yuan(fen))));
                }
                if let Some((n, fen)) = footer_pair(&self.footer, "支出合计：", "共") {
                    checks.extend(check(
                        "expense_count",
                        F,
                        t.out_count.to_string(),
                        Some(n.to_string()),
                    ));
                    checks.extend(check("expense", F, yuan(-t.out_fen), Some(yuan(fen))));
                }
            }
        }
        let consistent = checks.iter().all(|c| c["ok"] == true);
        let mismatches: Vec<&Value> = checks.iter().filter(|c| c["ok"] != true).collect();
        json!({
            "consistent": consistent,
            "compared": checks.len(),
            "mismatches": mismatches,
            "summary_file_found": self.summary_total.is_some(),
        })
    }

    /// The largest groups first (by amount in), the rest folded into one row.
    pub fn groups(&self, kind: BillKind) -> Vec<Value> {
        let mut all: Vec<(&String, &Tally)> = self.groups.iter().collect();
        all.sort_by(|a, b| b.1.in_fen.cmp(&a.1.in_fen).then_with(|| a.0.cmp(b.0)));
        let mut shown: Vec<(String, Tally)> = all
            .iter()
            .take(SHOWN_GROUPS)
            .map(|(k, t)| ((*k).clone(), **t))
            .collect();
        if all.len() > SHOWN_GROUPS {
            let mut rest = Tally::default();
            for (_, t) in &all[SHOWN_GROUPS..] {
                rest.add(t);
            }
            shown.push((format!("{OTHER} ({} more)", all.len() - SHOWN_GROUPS), rest));
        }
        shown
            .into_iter()
            .map(|(k, t)| group_json(kind, &k, &t))
            .collect()
    }

    pub fn group_count(&self) -> usize {
        self.groups.len()
    }

    pub fn largest(&self) -> Vec<Value> {
        self.largest.iter().map(|s| s.value.clone()).collect()
    }

    pub fn flagged(&self) -> Vec<Value> {
        let mut list = self.flagged.clone();
        list.sort_by_key(|s| s.line);
        list.into_iter().map(|s| s.value).collect()
    }
}

fn group_json(kind: BillKind, key: &str, t: &Tally) -> Value {
    let mut v = tally_json(kind, t);
    v.insert("key".into(), key.into());
    Value::Object(v)
}

/// The totals of a tally as a result shows them (yuan strings; counts).
pub fn tally_json(kind: BillKind, t: &Tally) -> serde_json::Map<String, Value> {
    let v = match kind {
        BillKind::Trade => json!({
            "trade_count": t.in_count,
            "gross_income": yuan(t.in_fen),
            "refund_count": t.out_count,
            "refund_amount": yuan(t.out_fen),
            "service_fee": yuan(-t.fee_fen),
            "net_settlement": yuan(t.net_fen),
        }),
        BillKind::Account => json!({
            "income_count": t.in_count,
            "income": yuan(t.in_fen),
            "expense_count": t.out_count,
            "expense": yuan(t.out_fen),
            "net_settlement": yuan(t.net_fen),
        }),
    };
    match v {
        Value::Object(m) => m,
        _ => unreachable!("an object literal"),
    }
}

/// Totals by group as a sorted map (for tests and benches).
pub fn group_map(s: &Summary) -> BTreeMap<String, Tally> {
    s.groups.iter().map(|(k, v)| (k.clone(), *v)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_exact() {
        assert_eq!(parse_fen("-0.53"), Some(-53));
        assert_eq!(parse_fen("88.88"), Some(8888));
        assert_eq!(parse_fen("0"), Some(0));
        assert_eq!(parse_fen(""), Some(0));
        assert_eq!(parse_fen("1.005"), None);
        assert_eq!(yuan(-5), "-0.05");
        assert_eq!(yuan(123456), "1234.56");
    }

    #[test]
    fn csv_cells_lose_tabs_and_keep_quoted_commas() {
        let mut out = Vec::new();
        split_csv("2019\t,\"a,\"\"b\"\",c\",-0.53", &mut out);
        assert_eq!(out, vec!["2019", "a,\"b\",c", "-0.53"]);
        // Cells are reused row to row: a narrower row leaves nothing of the wider one behind.
        split_csv(" x ,y,,z\t", &mut out);
        assert_eq!(out, vec!["x", "y", "", "z"]);
        split_csv("only", &mut out);
        assert_eq!(out, vec!["only"]);
        split_csv("\"q\",", &mut out);
        assert_eq!(out, vec!["q", ""]);
    }

    #[test]
    fn footer_lines_read() {
        let footer = vec![
            "交易合计：6笔，商家实收共0.06元，商家优惠共0.00元".to_string(),
            "退款合计：4笔，商家实收退款共-0.04元，商家优惠退款共0.00元".to_string(),
        ];
        assert_eq!(
            footer_pair(&footer, "交易合计：", "商家实收共"),
            Some((6, 6))
        );
        assert_eq!(
            footer_pair(&footer, "退款合计：", "商家实收退款共"),
            Some((4, -4))
        );
    }
}
