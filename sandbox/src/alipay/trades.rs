//! Trades (alipay.md §6.1–6.6): create / precreate / page.pay / wap.pay with out_trade_no
//! idempotency, query, close, cancel, the buyer paying (sandbox endpoint) and time-outs. States:
//! WAIT_BUYER_PAY → TRADE_SUCCESS (paid) → TRADE_CLOSED (fully refunded), or WAIT_BUYER_PAY →
//! TRADE_CLOSED (closed, cancelled or timed out unpaid).

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};
use zhifu_signing::alipay::{beijing_timestamp, parse_beijing_timestamp};

use super::biz::{GwError, GwResult, MAX_FEN, acq_invalid, parse_yuan, trade_not_exist, yuan};
use super::gateway::Ctx;
use super::ledger::{Movement, service_fee};
use super::refunds::{self, RefundRecord};
use super::{AlipayApp, AlipayStore, new_user_id, notify, ymd};
use crate::store::{Store, alnum, digits};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TradeStatus {
    WaitBuyerPay,
    TradeSuccess,
    TradeClosed,
}

impl TradeStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TradeStatus::WaitBuyerPay => "WAIT_BUYER_PAY",
            TradeStatus::TradeSuccess => "TRADE_SUCCESS",
            TradeStatus::TradeClosed => "TRADE_CLOSED",
        }
    }
}

/// The (fake) buyer who paid.
#[derive(Debug, Clone)]
pub struct Buyer {
    pub user_id: String,
    /// An 11-digit mobile number used as the Alipay account.
    pub logon_id: String,
    pub name: String,
}

impl Buyer {
    pub fn new(user_id: Option<String>) -> Self {
        Self {
            user_id: user_id.unwrap_or_else(new_user_id),
            logon_id: format!("138{}", digits(8)),
            name: "沙箱买家".to_string(),
        }
    }

    /// `138****1234`, as buyer_logon_id is shown to merchants.
    pub fn masked_logon_id(&self) -> String {
        format!("{}****{}", &self.logon_id[..3], &self.logon_id[7..])
    }

    /// `*箱买家(138****1234)`, the 对方账户 cell of bills.
    pub fn bill_account(&self) -> String {
        let rest: String = self.name.chars().skip(1).collect();
        format!("*{rest}({})", self.masked_logon_id())
    }
}

#[derive(Debug, Clone)]
pub struct Trade {
    pub trade_no: String,
    pub out_trade_no: String,
    /// Fen.
    pub total: i64,
    pub subject: String,
    pub body: Option<String>,
    pub product_code: String,
    /// `alipay.trade.create`, `…precreate`, `…page.pay`, `…wap.pay`, or `alipay.trade.cancel`
    /// for the placeholder a cancel of an unknown out_trade_no leaves behind.
    pub method: String,
    pub buyer_id: Option<String>,
    pub store_id: Option<String>,
    pub operator_id: Option<String>,
    pub terminal_id: Option<String>,
    pub passback_params: Option<String>,
    pub notify_url: Option<String>,
    pub qr_code: Option<String>,
    pub created: i64,
    pub expires: Option<i64>,
    pub status: TradeStatus,
    pub paid_at: Option<i64>,
    pub closed_at: Option<i64>,
    pub buyer: Option<Buyer>,
    pub refunds: Vec<RefundRecord>,
    /// What a repeat create must match (ACQ.CONTEXT_INCONSISTENT otherwise).
    pub fingerprint: String,
    /// `close` or `refund` once alipay.trade.cancel acted on the trade.
    pub cancel_action: Option<&'static str>,
}

/// `refund_reason` of the refund that alipay.trade.cancel makes of a paid trade.
pub const CANCEL_REFUND_REASON: &str = "交易撤销";

/// `method` of the placeholder that a cancel of an unknown out_trade_no leaves behind.
const CANCEL_PLACEHOLDER: &str = "alipay.trade.cancel";

impl Trade {
    /// A trade that never existed but whose out_trade_no was cancelled in advance: invisible to
    /// every method, yet it blocks the number (ACQ.TRADE_HAS_CLOSE on create).
    pub fn is_placeholder(&self) -> bool {
        self.method == CANCEL_PLACEHOLDER
    }

    fn placeholder(out_trade_no: String, now: i64) -> Self {
        Trade {
            trade_no: format!("{}22001{}", ymd(now), digits(15)),
            out_trade_no,
            total: 0,
            subject: String::new(),
            body: None,
            product_code: String::new(),
            method: CANCEL_PLACEHOLDER.into(),
            buyer_id: None,
            store_id: None,
            operator_id: None,
            terminal_id: None,
            passback_params: None,
            notify_url: None,
            qr_code: None,
            created: now,
            expires: None,
            status: TradeStatus::TradeClosed,
            paid_at: None,
            closed_at: Some(now),
            buyer: None,
            refunds: Vec::new(),
            fingerprint: String::new(),
            cancel_action: None,
        }
    }

    pub fn refunded(&self) -> i64 {
        self.refunds.iter().map(|r| r.amount).sum()
    }

    pub fn fee(&self) -> i64 {
        service_fee(self.total)
    }

    /// The sandbox listing (`GET /_sandbox/alipay/trades`).
    pub fn to_json(&self) -> Value {
        json!({
            "trade_no": self.trade_no,
            "out_trade_no": self.out_trade_no,
            "method": self.method,
            "trade_status": self.status.as_str(),
            "total_amount": yuan(self.total),
            "refund_fee": yuan(self.refunded()),
            "subject": self.subject,
            "body": self.body,
            "product_code": self.product_code,
            "notify_url": self.notify_url,
            "passback_params": self.passback_params,
            "qr_code": self.qr_code,
            "gmt_create": beijing_timestamp(self.created),
            "gmt_payment": self.paid_at.map(beijing_timestamp),
            "gmt_close": self.closed_at.map(beijing_timestamp),
            "time_expire": self.expires.map(beijing_timestamp),
            "buyer_user_id": self.buyer.as_ref().map(|b| b.user_id.clone()),
            "buyer_logon_id": self.buyer.as_ref().map(Buyer::masked_logon_id),
            "refunds": self.refunds.iter().map(RefundRecord::to_json).collect::<Vec<_>>(),
        })
    }
}

/// Fields in alphabetical order, as the gateway emits them after `code` and `msg`.
pub fn sorted(fields: BTreeMap<&str, Value>) -> Map<String, Value> {
    fields
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
}

/// Closes unpaid trades whose time has run out (at their expiry time).
pub fn expire_due(store: &mut AlipayStore, now: i64) {
    for t in &mut store.trades {
        if t.status == TradeStatus::WaitBuyerPay
            && let Some(at) = t.expires
            && at <= now
        {
            t.status = TradeStatus::TradeClosed;
            t.closed_at = Some(at);
        }
    }
}

/// Index of the trade named by biz `trade_no` (wins) or `out_trade_no`.
pub fn locate(ctx: &mut Ctx) -> GwResult<usize> {
    let now = ctx.now();
    expire_due(&mut ctx.store.alipay, now);
    let trade_no = ctx.biz.text("trade_no");
    let out_trade_no = ctx.biz.text("out_trade_no");
    let a = &ctx.store.alipay;
    let index = match (&trade_no, &out_trade_no) {
        (None, None) => {
            return Err(acq_invalid(
                "参数有误：trade_no 和 out_trade_no 不能同时为空",
            ));
        }
        (Some(no), out) => {
            let i = *a.by_trade_no.get(no).ok_or_else(trade_not_exist)?;
            if out.as_ref().is_some_and(|o| *o != a.trades[i].out_trade_no) {
                return Err(trade_not_exist());
            }
            i
        }
        (None, Some(out)) => *a.by_out_trade_no.get(out).ok_or_else(trade_not_exist)?,
    };
    if a.trades[index].is_placeholder() {
        return Err(trade_not_exist());
    }
    Ok(index)
}

/// `timeout_express`: `Nm`, `Nh`, `Nd` (1m–15d) or `1c` (end of today, Beijing time).
fn timeout_seconds(text: &str, now: i64) -> Option<i64> {
    if text == "1c" {
        let today =
            parse_beijing_timestamp(&format!("{} 00:00:00", &beijing_timestamp(now)[..10]))?;
        return Some(today + 86_400 - now);
    }
    let (n, unit) = text.split_at(text.len().checked_sub(1)?);
    let n: i64 = n.parse().ok().filter(|n| *n > 0)?;
    let seconds = match unit {
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86_400,
        _ => return None,
    };
    (60..=15 * 86_400).contains(&seconds).then_some(seconds)
}

fn valid_out_no(s: &str) -> bool {
    s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn valid_user_id(s: &str) -> bool {
    s.len() == 16 && s.starts_with("2088") && s.bytes().all(|b| b.is_ascii_digit())
}

/// Creates the trade, or finds the identical one (same out_trade_no, same parameters).
pub fn open_trade(ctx: &mut Ctx, method: &str) -> GwResult<usize> {
    let now = ctx.now();
    expire_due(&mut ctx.store.alipay, now);
    let biz = &ctx.biz;
    let out_trade_no = biz.need("out_trade_no", acq_invalid)?;
    if !valid_out_no(&out_trade_no) {
        return Err(acq_invalid(
            "参数有误：out_trade_no 只能包含字母、数字、下划线，最长 64 位",
        ));
    }
    let amount_text = biz.need("total_amount", acq_invalid)?;
    let total = parse_yuan(&amount_text)
        .ok_or_else(|| acq_invalid(format!("参数有误：total_amount 格式错误：{amount_text}")))?;
    if total < 1 {
        return Err(acq_invalid("参数有误：total_amount 最小为 0.01"));
    }
    if total > MAX_FEN {
        return Err(GwError::business(
            "ACQ.TOTAL_FEE_EXCEED",
            "订单金额超过限额",
        ));
    }
    let subject = biz.need("subject", acq_invalid)?;
    if subject.chars().count() > 256 {
        return Err(acq_invalid("参数有误：subject 长度超过 256"));
    }
    let body = biz.bounded("body", 128, acq_invalid)?;
    let default_product = match method {
        "alipay.trade.page.pay" => "FAST_INSTANT_TRADE_PAY",
        "alipay.trade.wap.pay" => "QUICK_WAP_WAY",
        _ => "FACE_TO_FACE_PAYMENT",
    };
    let product_code = biz
        .text("product_code")
        .unwrap_or_else(|| default_product.to_string());
    if let Some(seller) = biz.text("seller_id")
        && seller != ctx.app.pid
    {
        return Err(GwError::business("ACQ.SELLER_NOT_EXIST", "卖家不存在"));
    }
    let buyer_id = biz.text("buyer_id");
    if let Some(b) = &buyer_id {
        if !valid_user_id(b) {
            return Err(acq_invalid("参数有误：buyer_id 应为 2088 开头的 16 位数字"));
        }
        if *b == ctx.app.pid {
            return Err(GwError::business(
                "ACQ.BUYER_SELLER_EQUAL",
                "买卖家不能相同",
            ));
        }
    }
    let expires = match (biz.text("time_expire"), biz.text("timeout_express")) {
        (Some(t), _) => Some(
            parse_beijing_timestamp(&t)
                .ok_or_else(|| acq_invalid("参数有误：time_expire 格式应为 yyyy-MM-dd HH:mm:ss"))?,
        ),
        (None, Some(t)) => Some(
            now + timeout_seconds(&t, now)
                .ok_or_else(|| acq_invalid(format!("参数有误：timeout_express 无效：{t}")))?,
        ),
        (None, None) => Some(
            now + match method {
                "alipay.trade.page.pay" | "alipay.trade.wap.pay" => 15 * 86_400,
                _ => 3 * 3600,
            },
        ),
    };
    if expires.is_some_and(|e| e <= now) {
        return Err(GwError::business(
            "ACQ.NOW_TIME_AFTER_EXPIRE_TIME_ERROR",
            "当前时间已超过允许支付的时间",
        ));
    }
    let fingerprint = json!([
        total,
        subject,
        body,
        buyer_id,
        biz.text("buyer_open_id"),
        product_code
    ])
    .to_string();
    let notify_url = ctx.param("notify_url");
    let store = &mut ctx.store.alipay;
    if let Some(&i) = store.by_out_trade_no.get(&out_trade_no) {
        let t = &store.trades[i];
        return match t.status {
            TradeStatus::TradeSuccess => {
                Err(GwError::business("ACQ.TRADE_HAS_SUCCESS", "交易已被支付"))
            }
            TradeStatus::TradeClosed => {
                Err(GwError::business("ACQ.TRADE_HAS_CLOSE", "交易已经关闭"))
            }
            TradeStatus::WaitBuyerPay if t.fingerprint == fingerprint => Ok(i),
            TradeStatus::WaitBuyerPay => Err(GwError::business(
                "ACQ.CONTEXT_INCONSISTENT",
                "交易信息被篡改",
            )),
        };
    }
    let trade = Trade {
        trade_no: format!("{}22001{}", ymd(now), digits(15)),
        out_trade_no: out_trade_no.clone(),
        total,
        subject,
        body,
        product_code,
        method: method.to_string(),
        buyer_id,
        store_id: biz.text("store_id"),
        operator_id: biz.text("operator_id"),
        terminal_id: biz.text("terminal_id"),
        passback_params: biz.text("passback_params"),
        notify_url,
        qr_code: (method == "alipay.trade.precreate")
            .then(|| format!("https://qr.alipay.com/bax{}", alnum(21).to_lowercase())),
        created: now,
        expires,
        status: TradeStatus::WaitBuyerPay,
        paid_at: None,
        closed_at: None,
        buyer: None,
        refunds: Vec::new(),
        fingerprint,
        cancel_action: None,
    };
    Ok(insert(store, trade))
}

fn insert(store: &mut AlipayStore, trade: Trade) -> usize {
    let i = store.trades.len();
    store.by_out_trade_no.insert(trade.out_trade_no.clone(), i);
    store.by_trade_no.insert(trade.trade_no.clone(), i);
    store.trades.push(trade);
    i
}

/// `alipay.trade.create` → `{out_trade_no, trade_no}`.
pub fn create(ctx: &mut Ctx) -> GwResult<Map<String, Value>> {
    let i = open_trade(ctx, "alipay.trade.create")?;
    let t = &ctx.store.alipay.trades[i];
    Ok(sorted(BTreeMap::from([
        ("out_trade_no", t.out_trade_no.clone().into()),
        ("trade_no", t.trade_no.clone().into()),
    ])))
}

/// `alipay.trade.precreate` → `{out_trade_no, qr_code}`.
pub fn precreate(ctx: &mut Ctx) -> GwResult<Map<String, Value>> {
    let i = open_trade(ctx, "alipay.trade.precreate")?;
    let t = &ctx.store.alipay.trades[i];
    let qr = t
        .qr_code
        .clone()
        .unwrap_or_else(|| format!("https://qr.alipay.com/bax{}", alnum(21).to_lowercase()));
    Ok(sorted(BTreeMap::from([
        ("out_trade_no", t.out_trade_no.clone().into()),
        ("qr_code", qr.into()),
    ])))
}

/// `alipay.trade.query`.
pub fn query(ctx: &mut Ctx) -> GwResult<Map<String, Value>> {
    let i = locate(ctx)?;
    let t = &ctx.store.alipay.trades[i];
    let paid = t.paid_at.is_some();
    let paid_amount = if paid { yuan(t.total) } else { yuan(0) };
    let mut f = BTreeMap::from([
        ("trade_no", t.trade_no.clone().into()),
        ("out_trade_no", t.out_trade_no.clone().into()),
        ("trade_status", t.status.as_str().into()),
        ("total_amount", yuan(t.total).into()),
        ("buyer_pay_amount", paid_amount.clone().into()),
        ("receipt_amount", paid_amount.clone().into()),
        ("invoice_amount", paid_amount.clone().into()),
        ("point_amount", "0.00".into()),
    ]);
    if let Some(b) = &t.buyer {
        f.insert("buyer_logon_id", b.masked_logon_id().into());
        f.insert("buyer_user_id", b.user_id.clone().into());
        f.insert("buyer_user_type", "PRIVATE".into());
    }
    if let Some(at) = t.paid_at {
        f.insert("send_pay_date", beijing_timestamp(at).into());
        f.insert(
            "fund_bill_list",
            json!([{ "amount": paid_amount, "fund_channel": "ALIPAYACCOUNT" }]),
        );
    }
    for (key, value) in [
        ("store_id", &t.store_id),
        ("terminal_id", &t.terminal_id),
        ("passback_params", &t.passback_params),
    ] {
        if let Some(v) = value {
            f.insert(key, v.clone().into());
        }
    }
    Ok(sorted(f))
}

/// `alipay.trade.close`: only an unpaid trade closes.
pub fn close(ctx: &mut Ctx) -> GwResult<Map<String, Value>> {
    let i = locate(ctx)?;
    let now = ctx.now();
    let t = &mut ctx.store.alipay.trades[i];
    if t.status != TradeStatus::WaitBuyerPay {
        return Err(GwError::business(
            "ACQ.TRADE_STATUS_ERROR",
            "交易状态不合法，只有等待买家付款的交易可以关闭",
        ));
    }
    t.status = TradeStatus::TradeClosed;
    t.closed_at = Some(now);
    let answer = sorted(BTreeMap::from([
        ("out_trade_no", t.out_trade_no.clone().into()),
        ("trade_no", t.trade_no.clone().into()),
    ]));
    notify_closed(ctx, i, now);
    Ok(answer)
}

/// The `TRADE_CLOSED` notification of an unpaid trade closed by the merchant (to its notify_url).
fn notify_closed(ctx: &mut Ctx, i: usize, now: i64) {
    let note = notify::trade_status_sync(ctx.app, &ctx.store.alipay.trades[i], None, now);
    ctx.store.alipay.notifications.push(note);
}

/// `alipay.trade.cancel`: an unpaid trade is closed (`action: close`), a paid one fully refunded
/// and closed (`action: refund`); repeating it answers the same action. An out_trade_no the
/// gateway has never seen is "cancelled" in advance: success without `action`, and the number
/// can no longer be used for a trade.
pub fn cancel(ctx: &mut Ctx) -> GwResult<Map<String, Value>> {
    let now = ctx.now();
    let i = match locate(ctx) {
        Ok(i) => i,
        Err(e) if e.sub_code == "ACQ.TRADE_NOT_EXIST" && ctx.biz.text("trade_no").is_none() => {
            let out_trade_no = ctx.biz.text("out_trade_no").unwrap_or_default();
            if !valid_out_no(&out_trade_no) {
                return Err(acq_invalid("参数有误：out_trade_no 无效"));
            }
            let store = &mut ctx.store.alipay;
            if !store.by_out_trade_no.contains_key(&out_trade_no) {
                insert(store, Trade::placeholder(out_trade_no.clone(), now));
            }
            return Ok(sorted(BTreeMap::from([
                ("out_trade_no", out_trade_no.into()),
                ("retry_flag", "N".into()),
            ])));
        }
        Err(e) => return Err(e),
    };
    let status = ctx.store.alipay.trades[i].status;
    let mut f = BTreeMap::new();
    let action = match status {
        TradeStatus::WaitBuyerPay => {
            let t = &mut ctx.store.alipay.trades[i];
            t.status = TradeStatus::TradeClosed;
            t.closed_at = Some(now);
            notify_closed(ctx, i, now);
            "close"
        }
        TradeStatus::TradeSuccess => {
            let t = &ctx.store.alipay.trades[i];
            let remaining = t.total - t.refunded();
            let no = if t.refunds.iter().any(|r| r.out_request_no == t.out_trade_no) {
                format!("{}_cancel", t.out_trade_no)
            } else {
                t.out_trade_no.clone()
            };
            let record = refunds::apply(ctx, i, &no, remaining, Some(CANCEL_REFUND_REASON.into()))?;
            f.insert("gmt_refund_pay", beijing_timestamp(record.at).into());
            "refund"
        }
        TradeStatus::TradeClosed => {
            let t = &ctx.store.alipay.trades[i];
            if let (Some("refund"), Some(r)) = (t.cancel_action, t.refunds.last()) {
                f.insert("gmt_refund_pay", beijing_timestamp(r.at).into());
            }
            t.cancel_action.unwrap_or("close")
        }
    };
    let t = &mut ctx.store.alipay.trades[i];
    t.cancel_action.get_or_insert(action);
    f.insert("trade_no", t.trade_no.clone().into());
    f.insert("out_trade_no", t.out_trade_no.clone().into());
    f.insert("retry_flag", "N".into());
    f.insert("action", action.into());
    Ok(sorted(f))
}

/// The buyer pays (sandbox endpoint): WAIT_BUYER_PAY → TRADE_SUCCESS, the money (less the
/// service fee) reaches the merchant account and a notification is built.
pub fn pay(
    store: &mut Store,
    app: &AlipayApp,
    out_trade_no: &str,
    buyer_id: Option<String>,
) -> Result<Value, String> {
    let now = store.now();
    let a = &mut store.alipay;
    expire_due(a, now);
    let i = *a
        .by_out_trade_no
        .get(out_trade_no)
        .ok_or_else(|| format!("交易不存在：{out_trade_no}"))?;
    if let Some(b) = &buyer_id
        && !valid_user_id(b)
    {
        return Err(format!("buyer_id 应为 2088 开头的 16 位数字：{b}"));
    }
    let t = &mut a.trades[i];
    if t.status != TradeStatus::WaitBuyerPay {
        return Err(format!(
            "交易状态为 {}，只有 WAIT_BUYER_PAY 的交易可以付款",
            t.status.as_str()
        ));
    }
    let buyer = Buyer::new(buyer_id.or_else(|| t.buyer_id.clone()));
    t.status = TradeStatus::TradeSuccess;
    t.paid_at = Some(now);
    t.buyer = Some(buyer.clone());
    let trade = t.clone();
    let counterparty = buyer.bill_account();
    a.account.post(
        now,
        trade.total,
        Movement {
            kind: "在线支付",
            biz_no: &trade.trade_no,
            out_no: &trade.out_trade_no,
            subject: &trade.subject,
            counterparty: &counterparty,
            remark: &trade.subject,
        },
    );
    a.account.post(
        now,
        -trade.fee(),
        Movement {
            kind: "收费",
            biz_no: &trade.trade_no,
            out_no: &trade.out_trade_no,
            subject: "服务费",
            counterparty: "",
            remark: "交易服务费",
        },
    );
    a.notifications
        .push(notify::trade_status_sync(app, &trade, None, now));
    Ok(trade.to_json())
}
