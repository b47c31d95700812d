//! Reads an Alipay settlement bill archive (alipay.md §8) in one streaming pass: the ZIP's GBK
//! detail and summary CSVs (`#` comment lines, header, rows, footer totals), exact amounts in fen,
//! totals, a bounded breakdown, the largest rows, rows above a threshold, the cross-check of the
//! detail against the summary file and the footer, and the rows as UTF-8 CSV for a resource.
//!
//! Memory does not grow with the number of rows: lines are read one at a time, the breakdown keeps
//! at most [`MAX_GROUPS`] keys and the lists are bounded.

use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Seek, Write};
use std::sync::mpsc;

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
    if let Some(fen) = plain_fen(text.as_bytes()) {
        return Some(fen);
    }
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

/// The common shape of a bill amount, `-?\d{1,12}\.\d\d`, read without a detour; anything
/// else is left to the general rule of [`parse_fen`].
fn plain_fen(b: &[u8]) -> Option<i64> {
    let (neg, digits) = match b.split_first()? {
        (b'-', rest) => (true, rest),
        _ => (false, b),
    };
    let n = digits.len();
    if !(4..=15).contains(&n) || digits[n - 3] != b'.' {
        return None;
    }
    let mut fen: i64 = 0;
    for &d in digits[..n - 3].iter().chain(&digits[n - 2..]) {
        if !d.is_ascii_digit() {
            return None;
        }
        fen = fen * 10 + i64::from(d - b'0');
    }
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
    /// foldhash: fast on short keys, seeded per process (a crafted file cannot aim collisions).
    groups: foldhash::HashMap<String, Tally>,
    largest: Vec<Shown>,
    flagged: Vec<Shown>,
    pub flagged_count: u64,
    pub flagged_fen: i64,
    footer: Vec<String>,
    summary_total: Option<HashMap<String, String>>,
}

/// Column positions of a detail file's header, by name (for the rare lookups: rows shown).
struct Columns {
    index: HashMap<String, usize>,
}

impl Columns {
    fn new(header: &Row<'_>) -> Columns {
        let mut index = HashMap::new();
        for (i, c) in header.cells().enumerate() {
            index.insert(c.to_string(), i);
        }
        Columns { index }
    }

    fn get(&self, name: &str) -> Option<usize> {
        self.index.get(name).copied()
    }
}

/// The columns every row reads, looked up once after the header. A required column that is
/// missing is an error at the first row (a header-only file is still an empty bill).
struct Layout {
    kind: BillKind,
    /// 业务类型 (trade bills).
    kind_col: Option<usize>,
    /// Trade: 订单金额, 商家实收, 服务费; account: 收入金额, 支出金额 (and `None`).
    amounts: [Result<usize, &'static str>; 3],
    /// 分润 (trade bills; optional).
    share: Option<usize>,
    group: Option<Result<usize, &'static str>>,
}

const TRADE_AMOUNTS: [&str; 3] = ["订单金额（元）", "商家实收（元）", "服务费（元）"];
const ACCOUNT_AMOUNTS: [&str; 2] = ["收入金额（+元）", "支出金额（-元）"];

impl Layout {
    fn new(cols: &Columns, options: &Options) -> Layout {
        let at = |name: &'static str| cols.get(name).ok_or(name);
        let amounts = match options.kind {
            BillKind::Trade => TRADE_AMOUNTS.map(at),
            BillKind::Account => [at(ACCOUNT_AMOUNTS[0]), at(ACCOUNT_AMOUNTS[1]), Err("")],
        };
        Layout {
            kind: options.kind,
            kind_col: cols.get("业务类型"),
            amounts,
            share: cols.get("分润（元）"),
            group: options.group_by.column(options.kind).map(at),
        }
    }

    /// The `k`th amount of a row, exactly, in fen.
    fn amount(&self, row: &Row<'_>, k: usize, line: u64) -> Result<i64, BillError> {
        let i = self.amounts[k]
            .map_err(|name| err(format!("the bill's header has no column {name}")))?;
        let text = row.cell(i);
        parse_fen(text).ok_or_else(|| {
            let name = match self.kind {
                BillKind::Trade => TRADE_AMOUNTS[k],
                BillKind::Account => ACCOUNT_AMOUNTS[k],
            };
            err(format!("line {line}: {name} is not an amount: {text:?}"))
        })
    }
}

/// Splits CSV lines into cells, reusing its buffers from row to row (a million-row bill makes
/// no allocation per row).
#[derive(Default)]
pub struct Splitter {
    /// The unescaped text of a line with quotes.
    scratch: String,
    spans: Vec<(usize, usize)>,
}

/// One CSV line's cells: each cell's span in the line (or, for a line with quotes, in its
/// unescaped copy), without the TAB Alipay appends to ID-like cells and without surrounding
/// spaces.
pub struct Row<'a> {
    text: &'a str,
    spans: &'a [(usize, usize)],
    /// Some cell holds `,`, `"`, CR or LF: written quoted.
    special: bool,
}

impl Splitter {
    /// Splits one logical line (line end removed) into cells; `plain`: the caller saw no quote
    /// and no CR in it.
    pub fn split<'a>(&'a mut self, line: &'a str, plain: bool) -> Row<'a> {
        self.spans.clear();
        let bytes = line.as_bytes();
        if plain {
            split_commas(line, &mut self.spans);
            return Row {
                text: line,
                spans: &self.spans,
                special: false,
            };
        }
        if let Some(special) = split_plain(line, &mut self.spans) {
            return Row {
                text: line,
                spans: &self.spans,
                special,
            };
        }
        self.spans.clear();
        // Quotes: unescape into `scratch`, cutting only at ASCII bytes, so every piece is whole
        // UTF-8 text.
        let out = &mut self.scratch;
        out.clear();
        let mut special = false;
        let mut end_cell = |out: &mut String, spans: &mut Vec<(usize, usize)>, start: usize| {
            let span = trimmed(out, start, out.len());
            special |= needs_quotes(&out[span.0..span.1]);
            spans.push(span);
        };
        let (mut quoted, mut cell_start, mut run, mut i) = (false, 0, 0, 0);
        while i < bytes.len() {
            match bytes[i] {
                b'"' if quoted && bytes.get(i + 1) == Some(&b'"') => {
                    out.push_str(&line[run..=i]);
                    i += 2;
                    run = i;
                    continue;
                }
                b'"' => {
                    out.push_str(&line[run..i]);
                    quoted = !quoted;
                    run = i + 1;
                }
                b',' if !quoted => {
                    out.push_str(&line[run..i]);
                    end_cell(out, &mut self.spans, cell_start);
                    cell_start = out.len();
                    run = i + 1;
                }
                _ => {}
            }
            i += 1;
        }
        out.push_str(&line[run.min(bytes.len())..]);
        end_cell(out, &mut self.spans, cell_start);
        Row {
            text: &self.scratch,
            spans: &self.spans,
            special,
        }
    }
}

impl Row<'_> {
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// The `i`th cell; `""` past the end.
    pub fn cell(&self, i: usize) -> &str {
        self.spans.get(i).map_or("", |&(a, b)| &self.text[a..b])
    }

    pub fn cells(&self) -> impl Iterator<Item = &str> {
        self.spans.iter().map(|&(a, b)| &self.text[a..b])
    }

    /// Appends the cells as one CSV line (quoted where needed).
    fn write_csv(&self, out: &mut Vec<u8>) {
        let bytes = self.text.as_bytes();
        for (i, &(a, b)) in self.spans.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            let c = &bytes[a..b];
            if self.special && c.iter().any(|b| matches!(b, b',' | b'"' | b'\n' | b'\r')) {
                out.push(b'"');
                for piece in c.split(|b| *b == b'"') {
                    out.extend_from_slice(piece);
                    out.extend_from_slice(b"\"\"");
                }
                out.truncate(out.len() - 2);
                out.push(b'"');
            } else {
                out.extend_from_slice(c);
            }
        }
        out.push(b'\n');
    }
}

/// Each byte of `word` equal to `byte` marked by its high bit (exactly: no carry crosses bytes).
fn byte_mask(word: u64, byte: u8) -> u64 {
    const LOW7: u64 = u64::from_ne_bytes([0x7f; 8]);
    let x = word ^ u64::from_ne_bytes([byte; 8]);
    !(((x & LOW7).wrapping_add(LOW7)) | x | LOW7)
}

/// Splits a line without quotes at its commas, eight bytes at a time, into trimmed spans;
/// whether a cell holds a CR. `None` as soon as a quote is seen (the caller unescapes).
fn split_plain(line: &str, spans: &mut Vec<(usize, usize)>) -> Option<bool> {
    split_unquoted::<true>(line, spans)
}

/// Splits a line known to hold no quote and no CR at its commas.
fn split_commas(line: &str, spans: &mut Vec<(usize, usize)>) {
    let _ = split_unquoted::<false>(line, spans);
}

/// The one splitter behind both: with `CHECK`, it watches for quotes (`None`) and CRs too.
#[inline(always)]
fn split_unquoted<const CHECK: bool>(line: &str, spans: &mut Vec<(usize, usize)>) -> Option<bool> {
    let bytes = line.as_bytes();
    let mut words = bytes.chunks_exact(8);
    let (mut start, mut at, mut cr) = (0, 0, false);
    for word in &mut words {
        let w = u64::from_le_bytes(word.try_into().expect("eight bytes"));
        if CHECK {
            if byte_mask(w, b'"') != 0 {
                return None;
            }
            cr |= byte_mask(w, b'\r') != 0;
        }
        let mut commas = byte_mask(w, b',');
        while commas != 0 {
            let end = at + (commas.trailing_zeros() / 8) as usize;
            spans.push(trimmed(line, start, end));
            start = end + 1;
            commas &= commas - 1;
        }
        at += 8;
    }
    for (k, &b) in words.remainder().iter().enumerate() {
        match b {
            b'"' if CHECK => return None,
            b'\r' if CHECK => cr = true,
            b',' => {
                spans.push(trimmed(line, start, at + k));
                start = at + k + 1;
            }
            _ => {}
        }
    }
    spans.push(trimmed(line, start, bytes.len()));
    Some(cr)
}

fn needs_quotes(cell: &str) -> bool {
    cell.bytes()
        .any(|b| matches!(b, b',' | b'"' | b'\n' | b'\r'))
}

/// `text[start..end]` without surrounding whitespace (as `str::trim`: ASCII fast, Unicode
/// spaces such as U+3000 too).
fn trimmed(text: &str, mut start: usize, mut end: usize) -> (usize, usize) {
    let b = text.as_bytes();
    while start < end && b[start].is_ascii_whitespace() {
        start += 1;
    }
    while end > start && b[end - 1].is_ascii_whitespace() {
        end -= 1;
    }
    if start < end && (b[start] >= 0x80 || b[end - 1] >= 0x80) {
        let cell = &text[start..end];
        let t = cell.trim();
        let from = start + (t.as_ptr() as usize - cell.as_ptr() as usize);
        return (from, from + t.len());
    }
    (start, end)
}

/// Logical lines (line end removed) of UTF-8 text arriving in chunks, a line break inside a
/// quoted cell joined into its line: a line inside one chunk is borrowed from it, only one that
/// crosses chunks is copied.
struct Lines<I> {
    chunks: I,
    /// Spent chunks go back to their producer to be filled again.
    recycle: Option<mpsc::SyncSender<String>>,
    chunk: String,
    pos: usize,
    carry: String,
}

impl<I: Iterator<Item = std::io::Result<String>>> Lines<I> {
    fn new(chunks: I, recycle: Option<mpsc::SyncSender<String>>) -> Self {
        Lines {
            chunks,
            recycle,
            chunk: String::new(),
            pos: 0,
            carry: String::new(),
        }
    }

    /// The next line, and whether it is plain (no quote, no CR but its line end); `None` at
    /// the end.
    fn next_line(&mut self) -> Result<Option<(&str, bool)>, BillError> {
        self.carry.clear();
        let mut carried = false;
        // A quote byte never ends a line: a quoted cell may hold a line break. (Decoded text is
        // UTF-8, where `"`, CR and LF are never part of another character.)
        let (mut quotes, mut cr) = (0usize, false);
        loop {
            let rest = &self.chunk.as_bytes()[self.pos..];
            let mut scan = 0;
            while let Some(k) = memchr::memchr3(b'\n', b'"', b'\r', &rest[scan..]) {
                let end = scan + k;
                scan = end + 1;
                match rest[end] {
                    b'"' => quotes += 1,
                    b'\r' => cr |= rest.get(end + 1) != Some(&b'\n'),
                    _ if quotes.is_multiple_of(2) => {
                        let start = self.pos;
                        self.pos += end + 1;
                        let line = &self.chunk[start..start + end];
                        let plain = quotes == 0 && !cr;
                        if carried {
                            self.carry.push_str(line);
                            return Ok(Some((without_line_end(&self.carry), plain)));
                        }
                        return Ok(Some((without_line_end(line), plain)));
                    }
                    _ => {}
                }
            }
            self.carry.push_str(&self.chunk[self.pos..]);
            carried = true;
            match self.chunks.next() {
                Some(Ok(next)) => {
                    let spent = std::mem::replace(&mut self.chunk, next);
                    if let Some(back) = &self.recycle {
                        let _ = back.try_send(spent);
                    }
                    self.pos = 0;
                }
                Some(Err(e)) => {
                    return Err(err(format!("the bill archive could not be read: {e}")));
                }
                None => {
                    self.pos = self.chunk.len();
                    if self.carry.is_empty() {
                        return Ok(None);
                    }
                    return Ok(Some((without_line_end(&self.carry), false)));
                }
            }
        }
    }
}

fn without_line_end(line: &str) -> &str {
    let b = line.as_bytes();
    let mut end = b.len();
    while end > 0 && matches!(b[end - 1], b'\r' | b'\n') {
        end -= 1;
    }
    &line[..end]
}

/// Whether a line holds nothing but whitespace (most lines start with a digit: one byte read).
fn is_blank(line: &str) -> bool {
    line.as_bytes()
        .first()
        .is_none_or(|b| b.is_ascii_whitespace() || *b >= 0x80)
        && line.trim().is_empty()
}

/// Feedback during a long read, every 1024 rows: rows so far; answering `false` stops it.
pub type Tick<'a> = &'a mut dyn FnMut(u64) -> bool;

/// GBK bytes inflated and decoded at a time.
const CHUNK: usize = 128 * 1024;

/// On a second thread: inflates entry `index` of `archive` and decodes it from GBK into UTF-8
/// chunks sent to `tx`, until the end, an error, or the reader hanging up. One core inflates
/// and decodes while the other parses; at most a few chunks exist at once, so memory is flat.
fn inflate<R: Read + Seek>(
    archive: &mut zip::ZipArchive<R>,
    index: usize,
    tx: mpsc::SyncSender<std::io::Result<String>>,
    back: mpsc::Receiver<String>,
) {
    let mut file = match archive.by_index(index) {
        Ok(f) => f,
        Err(e) => {
            let _ = tx.send(Err(std::io::Error::other(format!(
                "the detail file could not be opened: {e}"
            ))));
            return;
        }
    };
    let mut decoder = GBK.new_decoder_without_bom_handling();
    let mut raw = vec![0; CHUNK];
    loop {
        let mut n = 0;
        while n < CHUNK {
            match file.read(&mut raw[n..]) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    let _ = tx.send(Err(e));
                    return;
                }
            }
        }
        let last = n == 0;
        let mut text = back.try_recv().unwrap_or_default();
        text.clear();
        let mut from = 0;
        loop {
            text.reserve(
                decoder
                    .max_utf8_buffer_length(n - from)
                    .unwrap_or(4 * CHUNK),
            );
            let (result, read, _) = decoder.decode_to_string(&raw[from..n], &mut text, last);
            from += read;
            if result == encoding_rs::CoderResult::InputEmpty {
                break;
            }
        }
        if !text.is_empty() && tx.send(Ok(text)).is_err() {
            return;
        }
        if last {
            return;
        }
    }
}

/// Reads the bill archive at `zip`, writing the detail rows as UTF-8 CSV into `csv`.
pub fn summarize<R: Read + Seek + Send>(
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
                .map(|f| entry_name(f.name_raw()))
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
    std::thread::scope(|scope| {
        let (tx, rx) = mpsc::sync_channel(2);
        let (back_tx, back_rx) = mpsc::sync_channel(2);
        let archive = &mut archive;
        let inflating = scope.spawn(move || inflate(archive, detail, tx, back_rx));
        let lines = Lines::new(rx.into_iter(), Some(back_tx));
        let read = read_detail(lines, options, &mut summary, csv, tick);
        // `read_detail` dropped the receiving end: the inflating thread stops at its next send.
        // Its end closes the channel, which reads as the end of the file: had it panicked, the
        // rows read would be a truncated bill, so that is an error, never a summary.
        match (read, inflating.join()) {
            (Ok(()), Err(_)) => Err(err(
                "the bill archive could not be read: inflating it failed",
            )),
            (read, _) => read,
        }
    })?;
    if let Some(i) = names.iter().position(|n| n.contains("汇总")) {
        let mut file = archive
            .by_index(i)
            .map_err(|e| err(format!("the summary file could not be opened: {e}")))?;
        let mut raw = Vec::new();
        (&mut file)
            .take(SUMMARY_FILE_LIMIT)
            .read_to_end(&mut raw)
            .map_err(|e| err(format!("the summary file could not be read: {e}")))?;
        let text = GBK.decode_without_bom_handling(&raw).0.into_owned();
        summary.summary_total = read_summary_total(Lines::new(std::iter::once(Ok(text)), None))?;
    }
    Ok(summary)
}

/// An entry's name: GBK as Alipay writes it, or UTF-8 when it is valid UTF-8 (an archive
/// written by another tool; Chinese GBK text is practically never valid UTF-8).
fn entry_name(raw: &[u8]) -> String {
    match std::str::from_utf8(raw) {
        Ok(name) => name.to_string(),
        Err(_) => GBK.decode_without_bom_handling(raw).0.into_owned(),
    }
}

/// The summary file is a few lines; more than this is not read.
const SUMMARY_FILE_LIMIT: u64 = 16 << 20;

/// Output bytes gathered before one write to the CSV sink.
const CSV_BLOCK: usize = 128 * 1024;

fn read_detail<I: Iterator<Item = std::io::Result<String>>>(
    mut lines: Lines<I>,
    options: &Options,
    s: &mut Summary,
    csv: &mut dyn Write,
    tick: Tick,
) -> Result<(), BillError> {
    let mut header: Option<(Columns, Layout)> = None;
    let mut splitter = Splitter::default();
    let mut out: Vec<u8> = Vec::with_capacity(CSV_BLOCK + 4096);
    let mut line_no = 0u64;
    let mut in_footer = false;
    let write_err = |e: std::io::Error| err(format!("the rows could not be written: {e}"));
    while let Some((line, plain)) = lines.next_line()? {
        line_no += 1;
        if is_blank(line) {
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
        let row = splitter.split(line, plain);
        row.write_csv(&mut out);
        if out.len() >= CSV_BLOCK {
            csv.write_all(&out).map_err(write_err)?;
            out.clear();
        }
        let Some((cols, layout)) = &header else {
            let cols = Columns::new(&row);
            let layout = Layout::new(&cols, options);
            header = Some((cols, layout));
            continue;
        };
        s.rows += 1;
        let parsed = match options.kind {
            BillKind::Trade => trade_row(layout, &row, line_no)?,
            BillKind::Account => account_row(layout, &row, line_no)?,
        };
        let Some((tally, abs, shown)) = parsed else {
            s.other_rows += 1;
            continue;
        };
        s.total.add(&tally);
        if let Some(group) = layout.group {
            let i = group.map_err(|name| err(format!("the bill's header has no column {name}")))?;
            let mut key = row.cell(i);
            if options.group_by == GroupBy::Day {
                key = key.get(..10).unwrap_or(key);
            }
            let key = if key.is_empty() { "(空)" } else { key };
            if let Some(g) = s.groups.get_mut(key) {
                g.add(&tally);
            } else if s.groups.len() < MAX_GROUPS {
                s.groups.insert(key.to_string(), *tally);
            } else {
                s.groups.entry(OTHER.to_string()).or_default().add(&tally);
            }
        }
        if options.kind == BillKind::Trade {
            s.order_fen += tally.order_fen;
            s.received_fen += tally.received_fen;
            if tally.out_count > 0 {
                s.refund_received_fen += tally.received_fen;
            }
        }
        keep_largest(&mut s.largest, abs, line_no, || shown(cols, &row));
        if options.flag_above.is_some_and(|limit| abs > limit) {
            s.flagged_count += 1;
            s.flagged_fen += abs;
            if s.flagged.len() < SHOWN_FLAGGED {
                s.flagged.push(Shown {
                    abs,
                    line: line_no,
                    value: shown(cols, &row),
                });
            }
        }
        if s.rows.is_multiple_of(1024) && !tick(s.rows) {
            return Err(err("cancelled"));
        }
    }
    csv.write_all(&out).map_err(write_err)?;
    if header.is_none() {
        return Err(err("the detail file has no header line (no CSV)"));
    }
    Ok(())
}

type RowView = fn(&Columns, &Row<'_>) -> Value;

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

fn cell<'a>(cols: &Columns, row: &'a Row<'_>, name: &str) -> &'a str {
    cols.get(name).map_or("", |i| row.cell(i))
}

/// What one detail row adds up to: its tally (and, for a trade row, 订单金额 and 商家实收).
struct RowTally {
    tally: Tally,
    order_fen: i64,
    received_fen: i64,
}

impl std::ops::Deref for RowTally {
    type Target = Tally;
    fn deref(&self) -> &Tally {
        &self.tally
    }
}

/// A trade-bill row: its tally, its absolute amount and how to show it; `None` for a row that
/// is neither 交易 nor 退款.
fn trade_row(
    layout: &Layout,
    row: &Row<'_>,
    line: u64,
) -> Result<Option<(RowTally, i64, RowView)>, BillError> {
    let kind = layout.kind_col.map_or("", |i| row.cell(i));
    let order = layout.amount(row, 0, line)?;
    let received = layout.amount(row, 1, line)?;
    let fee = layout.amount(row, 2, line)?;
    let share = match layout.share {
        Some(i) => parse_fen(row.cell(i)).ok_or_else(|| {
            err(format!(
                "line {line}: 分润（元） is not an amount: {:?}",
                row.cell(i)
            ))
        })?,
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
    let view: RowView = |cols, row| {
        json!({
            "trade_no": cell(cols, row, "支付宝交易号"),
            "out_trade_no": cell(cols, row, "商户订单号"),
            "type": cell(cols, row, "业务类型"),
            "name": cell(cols, row, "商品名称"),
            "amount": cell(cols, row, "订单金额（元）"),
            "time": cell(cols, row, "完成时间"),
            "refund_request_no": cell(cols, row, "退款批次号/请求号"),
        })
    };
    let tally = RowTally {
        tally: t,
        order_fen: order,
        received_fen: received,
    };
    Ok(Some((tally, order.abs(), view)))
}

/// An account-bill row: income and expense.
fn account_row(
    layout: &Layout,
    row: &Row<'_>,
    line: u64,
) -> Result<Option<(RowTally, i64, RowView)>, BillError> {
    let income = layout.amount(row, 0, line)?;
    let expense = layout.amount(row, 1, line)?.abs();
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
    let view: RowView = |cols, row| {
        json!({
            "entry_no": cell(cols, row, "账务流水号"),
            "biz_no": cell(cols, row, "业务流水号"),
            "out_trade_no": cell(cols, row, "商户订单号"),
            "type": cell(cols, row, "业务类型"),
            "name": cell(cols, row, "商品名称"),
            "income": cell(cols, row, "收入金额（+元）"),
            "expense": cell(cols, row, "支出金额（-元）"),
            "time": cell(cols, row, "发生时间"),
        })
    };
    let tally = RowTally {
        tally: t,
        order_fen: 0,
        received_fen: 0,
    };
    Ok(Some((tally, income.max(expense), view)))
}

/// The summary file's `合计` row, by column name.
fn read_summary_total<I: Iterator<Item = std::io::Result<String>>>(
    mut lines: Lines<I>,
) -> Result<Option<HashMap<String, String>>, BillError> {
    let mut header: Option<Vec<String>> = None;
    let mut splitter = Splitter::default();
    while let Some((line, plain)) = lines.next_line()? {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let row = splitter.split(line, plain);
        match &header {
            None => header = Some(row.cells().map(str::to_string).collect()),
            Some(h) if row.cells().any(|c| c == "合计") => {
                let total = h.iter().cloned().zip(row.cells().map(str::to_string));
                return Ok(Some(total.collect()));
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
        let cells = |row: &Row<'_>| row.cells().map(str::to_string).collect::<Vec<_>>();
        let mut splitter = Splitter::default();
        let row = splitter.split("2019\t,\"a,\"\"b\"\",c\",-0.53", false);
        assert_eq!(cells(&row), vec!["2019", "a,\"b\",c", "-0.53"]);
        let mut out = Vec::new();
        row.write_csv(&mut out);
        assert_eq!(out, b"2019,\"a,\"\"b\"\",c\",-0.53\n");
        // Buffers are reused row to row: a narrower row leaves nothing of the wider one behind.
        for (line, want) in [
            (" x ,y,,z\t", vec!["x", "y", "", "z"]),
            ("only", vec!["only"]),
            ("\"q\",", vec!["q", ""]),
            ("\u{3000}全角\u{3000},\t\"  a b \"", vec!["全角", "a b"]),
            ("", vec![""]),
            ("a\rb,c", vec!["a\rb", "c"]),
            ("\"两\n行\",\"\"", vec!["两\n行", ""]),
        ] {
            let row = splitter.split(line, false);
            assert_eq!(cells(&row), want, "{line:?}");
            out.clear();
            row.write_csv(&mut out);
            let written = want
                .iter()
                .map(|c| {
                    if needs_quotes(c) {
                        format!("\"{}\"", c.replace('"', "\"\""))
                    } else {
                        c.to_string()
                    }
                })
                .collect::<Vec<_>>()
                .join(",");
            assert_eq!(String::from_utf8(out.clone()).unwrap(), written + "\n");
        }
    }

    #[test]
    fn word_at_a_time_split_agrees_with_a_plain_split() {
        // Every line of up to five symbols from an alphabet of separators, spaces and wide
        // characters: the eight-byte path and the tail agree with `split(',')` + `trim`.
        let alphabet = [
            ",", " ", "\t", "\r", "a", "商", "\u{3000}", "12345678", "\"",
        ];
        let mut splitter = Splitter::default();
        let mut lines = vec![String::new()];
        for _ in 0..5 {
            let mut next = Vec::new();
            for l in &lines {
                for a in alphabet {
                    next.push(format!("{l}{a}"));
                }
            }
            lines.extend(next);
            lines.dedup();
        }
        let mut checked = 0;
        for line in &lines {
            if line.contains('"') {
                assert!(split_plain(line, &mut Vec::new()).is_none(), "{line:?}");
                continue;
            }
            let want: Vec<&str> = line.split(',').map(str::trim).collect();
            let row = splitter.split(line, false);
            assert_eq!(row.cells().collect::<Vec<_>>(), want, "{line:?}");
            assert_eq!(row.special, line.contains('\r'), "{line:?}");
            if !line.contains('\r') {
                let row = splitter.split(line, true);
                assert_eq!(row.cells().collect::<Vec<_>>(), want, "{line:?}");
            }
            checked += 1;
        }
        assert!(checked > 30_000, "{checked}");
    }

    #[test]
    fn lines_join_quoted_breaks_across_chunks() {
        let text = "a,\"x\r\ny\"\r\n\r\nb,2\n\"open";
        // Every way of cutting the text into two chunks gives the same lines.
        for cut in 0..=text.len() {
            if !text.is_char_boundary(cut) {
                continue;
            }
            let chunks = [text[..cut].to_string(), text[cut..].to_string()];
            let mut lines = Lines::new(chunks.into_iter().map(Ok), None);
            let mut got = Vec::new();
            while let Some((line, plain)) = lines.next_line().unwrap() {
                got.push((line.to_string(), plain));
            }
            let want = [
                ("a,\"x\r\ny\"", false),
                ("", true),
                ("b,2", true),
                ("\"open", false),
            ];
            let lines: Vec<&str> = got.iter().map(|(l, _)| l.as_str()).collect();
            assert_eq!(lines, want.map(|(l, _)| l), "cut at {cut}");
            // Never called plain wrongly; called not plain (the careful path) only when the cut
            // falls between a CR and its LF.
            for ((line, plain), (_, want_plain)) in got.iter().zip(want) {
                assert!(!plain || want_plain, "cut at {cut}: {line:?}");
                let between = text[..cut].ends_with('\r') && text[cut..].starts_with('\n');
                assert!(*plain == want_plain || between, "cut at {cut}: {line:?}");
            }
        }
    }

    #[test]
    fn plain_amounts_agree_with_the_general_rule() {
        for text in [
            "0.00",
            "-0.53",
            "12.30",
            "999999999999.99",
            "1.5",
            "1.005",
            "-",
            ".12",
            "1,00.00",
            "a.bc",
            "`12.00",
            " 12.00",
            "+3.00",
            "1234567890123.00",
            "--1.00",
            "-1.0a",
        ] {
            let general = {
                let t = text.trim().trim_start_matches('`');
                let (neg, t) = match t.strip_prefix('-') {
                    Some(rest) => (true, rest),
                    None => (false, t.strip_prefix('+').unwrap_or(t)),
                };
                crate::money::fen_from_yuan(t).map(|f| if neg { -f } else { f })
            };
            assert_eq!(parse_fen(text), general, "{text:?}");
        }
    }

    /// A deflated trade bill of `rows` rows (GBK), as Alipay lays it out.
    fn bill_zip(rows: usize) -> Vec<u8> {
        let mut detail = String::from("#支付宝业务明细查询\n#账号：[2088]\n");
        detail.push_str(
            "支付宝交易号,业务类型,商品名称,订单金额（元）,商家实收（元）,服务费（元）\n",
        );
        for i in 0..rows {
            let (kind, sign) = if i % 3 == 2 {
                ("退款", "-")
            } else {
                ("交易", "")
            };
            detail.push_str(&format!(
                "2026{i:08}\t,{kind}\t,\"商品,{}\",{sign}{}.{:02},{sign}{}.{:02},-0.01\n",
                i % 4,
                i % 1000,
                i % 100,
                i % 1000,
                i % 100
            ));
        }
        detail.push_str("#-----------------------------------------业务明细列表结束------------------------------------\n");
        let mut out = std::io::Cursor::new(Vec::new());
        let mut zip = zip::ZipWriter::new(&mut out);
        let deflated = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        zip.start_file("2088_20261130_业务明细.csv", deflated)
            .unwrap();
        zip.write_all(&GBK.encode(&detail).0).unwrap();
        zip.finish().unwrap();
        out.into_inner()
    }

    fn options() -> Options {
        Options {
            kind: BillKind::Trade,
            group_by: GroupBy::Product,
            flag_above: None,
        }
    }

    #[test]
    fn a_bill_across_many_chunks_adds_up() {
        let rows = 30_000;
        let zip = bill_zip(rows);
        let mut csv = Vec::new();
        let s = summarize(std::io::Cursor::new(zip), &options(), &mut csv, &mut |_| {
            true
        })
        .unwrap();
        assert_eq!(s.rows, rows as u64);
        assert_eq!(s.total.in_count + s.total.out_count, rows as u64);
        let want: i64 = (0..rows)
            .filter(|i| i % 3 != 2)
            .map(|i| (i % 1000 * 100 + i % 100) as i64)
            .sum();
        assert_eq!(s.total.in_fen, want);
        assert_eq!(group_map(&s).len(), 4);
        let csv = String::from_utf8(csv).unwrap();
        assert_eq!(csv.lines().count(), rows + 1);
        assert!(
            csv.lines()
                .nth(1)
                .unwrap()
                .starts_with("202600000000,交易,\"商品,0\",0.00,")
        );
    }

    #[test]
    fn a_corrupt_archive_is_an_error_not_a_hang() {
        let mut zip = bill_zip(20_000);
        // Damage the deflated stream in its middle (the local header and directory stay whole).
        let mid = zip.len() / 2;
        for b in &mut zip[mid..mid + 64] {
            *b ^= 0x5a;
        }
        let got = summarize(
            std::io::Cursor::new(zip),
            &options(),
            &mut Vec::new(),
            &mut |_| true,
        );
        let e = got.expect_err("a damaged archive is refused");
        assert!(
            e.0.contains("could not be read") || e.0.contains("line "),
            "{e}"
        );
    }

    /// An archive reader that panics when asked for bytes in `broken` (the middle of the
    /// deflated entry; the central directory at the end still reads).
    struct PanicPast<R> {
        inner: R,
        broken: std::ops::Range<u64>,
    }

    impl<R: Read + Seek> Read for PanicPast<R> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let at = self.inner.stream_position()?;
            assert!(
                !self.broken.contains(&at),
                "a reader failing in the middle of the archive"
            );
            self.inner.read(buf)
        }
    }

    impl<R: Seek> Seek for PanicPast<R> {
        fn seek(&mut self, pos: std::io::SeekFrom) -> std::io::Result<u64> {
            self.inner.seek(pos)
        }
    }

    #[test]
    fn a_failure_while_inflating_is_an_error_not_a_short_bill() {
        let zip = bill_zip(20_000);
        let len = zip.len() as u64;
        let reader = PanicPast {
            inner: std::io::Cursor::new(zip),
            broken: len / 2..len - 4096,
        };
        let got = summarize(reader, &options(), &mut Vec::new(), &mut |_| true);
        let e = got.expect_err("a bill cut short by a failing reader is refused");
        assert!(e.0.contains("could not be read"), "{e}");
    }

    #[test]
    fn a_stop_asked_for_ends_the_read() {
        let zip = bill_zip(20_000);
        let mut ticks = 0;
        let got = summarize(
            std::io::Cursor::new(zip),
            &options(),
            &mut Vec::new(),
            &mut |_| {
                ticks += 1;
                ticks < 3
            },
        );
        assert_eq!(got.err().map(|e| e.0), Some("cancelled".to_string()));
        assert_eq!(ticks, 3);
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
