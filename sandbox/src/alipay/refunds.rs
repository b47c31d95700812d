//! Refunds (alipay.md §6.7–6.8): partial refunds up to the paid amount, at most once per
//! out_request_no (a repeat answers the same result with `fund_change: N`, a repeat with other
//! parameters is ACQ.DISCORDANT_REPEAT_REQUEST), TRADE_CLOSED once fully refunded, and
//! alipay.trade.fastpay.refund.query.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};
use zhifu_signing::alipay::beijing_timestamp;

use super::biz::{GwError, GwResult, acq_invalid, parse_yuan, yuan};
use super::gateway::Ctx;
use super::ledger::{Movement, service_fee};
use super::notify;
use super::trades::{TradeStatus, locate, sorted};

/// One refund that moved money.
#[derive(Debug, Clone)]
pub struct RefundRecord {
    pub out_request_no: String,
    /// Fen.
    pub amount: i64,
    pub reason: Option<String>,
    pub at: i64,
    /// Cumulative refunded amount of the trade after this refund (fen).
    pub refund_fee_after: i64,
    /// Service fee given back with this refund (fen).
    pub fee_back: i64,
}

impl RefundRecord {
    pub fn to_json(&self) -> Value {
        json!({
            "out_request_no": self.out_request_no,
            "refund_amount": yuan(self.amount),
            "refund_reason": self.reason,
            "gmt_refund_pay": beijing_timestamp(self.at),
            "refund_fee": yuan(self.refund_fee_after),
        })
    }
}

/// Refunds `amount` of trade `i` now: the merchant account pays it (less the service fee given
/// back), the trade closes when nothing is left, and a notification is built.
pub fn apply(
    ctx: &mut Ctx,
    i: usize,
    out_request_no: &str,
    amount: i64,
    reason: Option<String>,
) -> GwResult<RefundRecord> {
    let now = ctx.now();
    let a = &mut ctx.store.alipay;
    let t = &a.trades[i];
    let after = t.refunded() + amount;
    let fee_given_back: i64 = t.refunds.iter().map(|r| r.fee_back).sum();
    let fee_back = if after == t.total {
        t.fee() - fee_given_back
    } else {
        service_fee(amount).min(t.fee() - fee_given_back)
    }
    .max(0);
    if a.account.balance < amount - fee_back {
        return Err(GwError::business(
            "ACQ.SELLER_BALANCE_NOT_ENOUGH",
            "卖家余额不足",
        ));
    }
    let record = RefundRecord {
        out_request_no: out_request_no.to_string(),
        amount,
        reason,
        at: now,
        refund_fee_after: after,
        fee_back,
    };
    let t = &mut a.trades[i];
    t.refunds.push(record.clone());
    if after == t.total {
        t.status = TradeStatus::TradeClosed;
        t.closed_at = Some(now);
    }
    let trade = t.clone();
    let counterparty = trade
        .buyer
        .as_ref()
        .map(|b| b.bill_account())
        .unwrap_or_default();
    a.account.post(
        now,
        -amount,
        Movement {
            kind: "交易退款",
            biz_no: &trade.trade_no,
            out_no: out_request_no,
            subject: &trade.subject,
            counterparty: &counterparty,
            remark: record.reason.as_deref().unwrap_or("退款"),
        },
    );
    a.account.post(
        now,
        fee_back,
        Movement {
            kind: "收费",
            biz_no: &trade.trade_no,
            out_no: out_request_no,
            subject: "服务费退回",
            counterparty: "",
            remark: "退款退回服务费",
        },
    );
    a.notifications.push(notify::trade_status_sync(
        ctx.app,
        &trade,
        Some(&record),
        now,
    ));
    Ok(record)
}

/// `alipay.trade.refund`.
pub fn refund(ctx: &mut Ctx) -> GwResult<Map<String, Value>> {
    let i = locate(ctx)?;
    let amount_text = ctx.biz.need("refund_amount", acq_invalid)?;
    let amount = parse_yuan(&amount_text)
        .filter(|a| *a > 0)
        .ok_or_else(|| acq_invalid(format!("参数有误：refund_amount 无效：{amount_text}")))?;
    let reason = ctx.biz.bounded("refund_reason", 256, acq_invalid)?;
    let out_request_no = match ctx.biz.bounded("out_request_no", 64, acq_invalid)? {
        Some(no) => no,
        None => ctx.store.alipay.trades[i].out_trade_no.clone(),
    };
    let t = &ctx.store.alipay.trades[i];
    let (record, fund_change) = match t
        .refunds
        .iter()
        .find(|r| r.out_request_no == out_request_no)
    {
        Some(previous) => {
            let same_reason = reason.is_none() || reason == previous.reason;
            if previous.amount != amount || !same_reason {
                return Err(GwError::business(
                    "ACQ.DISCORDANT_REPEAT_REQUEST",
                    "请求信息不一致：同一退款请求号的退款金额或原因与之前不同",
                ));
            }
            (previous.clone(), "N")
        }
        None => {
            match t.status {
                TradeStatus::WaitBuyerPay => {
                    return Err(GwError::business(
                        "ACQ.TRADE_STATUS_ERROR",
                        "交易状态不合法：交易未支付",
                    ));
                }
                TradeStatus::TradeClosed if t.paid_at.is_none() => {
                    return Err(GwError::business(
                        "ACQ.TRADE_STATUS_ERROR",
                        "交易状态不合法：交易已关闭，未支付",
                    ));
                }
                TradeStatus::TradeClosed => {
                    return Err(GwError::business(
                        "ACQ.TRADE_HAS_CLOSE",
                        "交易已经关闭：已全额退款",
                    ));
                }
                TradeStatus::TradeSuccess => {}
            }
            if amount > t.total - t.refunded() {
                return Err(GwError::business(
                    "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL",
                    "退款金额超限：退款金额不能大于可退金额",
                ));
            }
            (apply(ctx, i, &out_request_no, amount, reason)?, "Y")
        }
    };
    let t = &ctx.store.alipay.trades[i];
    let mut f = BTreeMap::from([
        ("trade_no", t.trade_no.clone().into()),
        ("out_trade_no", t.out_trade_no.clone().into()),
        ("fund_change", fund_change.into()),
        ("refund_fee", yuan(t.refunded()).into()),
        ("gmt_refund_pay", beijing_timestamp(record.at).into()),
        ("send_back_fee", yuan(record.amount).into()),
    ]);
    if let Some(b) = &t.buyer {
        f.insert("buyer_logon_id", b.masked_logon_id().into());
        f.insert("buyer_user_id", b.user_id.clone().into());
    }
    Ok(sorted(f))
}

/// `alipay.trade.fastpay.refund.query`. An out_request_no without a refund answers success
/// without `refund_status` (what the real gateway does for "not refunded").
pub fn query(ctx: &mut Ctx) -> GwResult<Map<String, Value>> {
    let i = locate(ctx)?;
    let out_request_no = ctx.biz.need("out_request_no", acq_invalid)?;
    let want_time = ctx
        .biz
        .0
        .get("query_options")
        .is_some_and(|o| o.to_string().contains("gmt_refund_pay"));
    let t = &ctx.store.alipay.trades[i];
    let mut f = BTreeMap::from([
        ("trade_no", t.trade_no.clone().into()),
        ("out_trade_no", t.out_trade_no.clone().into()),
        ("out_request_no", out_request_no.clone().into()),
    ]);
    if let Some(r) = t
        .refunds
        .iter()
        .find(|r| r.out_request_no == out_request_no)
    {
        f.insert("total_amount", yuan(t.total).into());
        f.insert("refund_amount", yuan(r.amount).into());
        f.insert("refund_status", "REFUND_SUCCESS".into());
        if let Some(reason) = &r.reason {
            f.insert("refund_reason", reason.clone().into());
        }
        if want_time {
            f.insert("gmt_refund_pay", beijing_timestamp(r.at).into());
        }
        f.insert("send_back_fee", yuan(r.amount).into());
    }
    Ok(sorted(f))
}
