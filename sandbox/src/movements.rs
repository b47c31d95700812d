//! Sandbox-only `GET /_sandbox/ledger?reference=…`: how many money movements the sandbox booked
//! under one merchant reference, by kind, so reliability tests can assert "exactly one" after
//! faults and retries. A movement is:
//!
//! - `pingpp_charge`: a charge (not a recharge's) whose `order_no` is the reference;
//! - `pingpp_recharge`: a recharge whose charge's `order_no` is the reference;
//! - `pingpp_refund` / `pingpp_recharge_refund`: a refund, not failed, of a charge / of a
//!   recharge, whose `metadata.refund_no` is the reference (Ping++ refunds have no merchant
//!   reference of their own);
//! - `pingpp_charge_reversal`: a reversed charge whose id is the reference (the reversal's key);
//! - `pingpp_transfer`: a transfer of its own (not of a batch) whose `order_no` is the reference,
//!   not failed, canceled or reversed;
//! - `pingpp_batch_transfer` / `pingpp_batch_refund`: a batch whose `batch_no` is the reference,
//!   not failed or canceled (a batch counts once, whatever its items);
//! - `pingpp_red_envelope`: a red envelope whose `order_no` is the reference, not failed;
//! - `alipay_trade`: a trade whose `out_trade_no` is the reference (placeholders left by a cancel
//!   of an unknown number are not trades);
//! - `alipay_refund`: a refund of any trade whose `out_request_no` is the reference;
//! - `alipay_cancel_refund`: a refund that alipay.trade.cancel made of the trade whose
//!   `out_trade_no` is the reference;
//! - `alipay_transfer`: a successful transfer whose `out_biz_no` is the reference.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::App;
use crate::alipay::trades::CANCEL_REFUND_REASON;
use crate::alipay::transfers::TransferStatus;
use crate::error::{ApiError, json_response};
use crate::pingpp::batch_refunds::Status as BatchRefundStatus;
use crate::pingpp::refunds::Status;
use crate::query::Query;
use crate::store::{Store, lock};

/// Every kind, so an answer lists zeros too.
const KINDS: &[&str] = &[
    "pingpp_charge",
    "pingpp_recharge",
    "pingpp_refund",
    "pingpp_recharge_refund",
    "pingpp_charge_reversal",
    "pingpp_transfer",
    "pingpp_batch_transfer",
    "pingpp_batch_refund",
    "pingpp_red_envelope",
    "alipay_trade",
    "alipay_refund",
    "alipay_cancel_refund",
    "alipay_transfer",
];

/// Movements booked under `reference`, by kind.
pub fn count(store: &Store, reference: &str) -> BTreeMap<&'static str, u64> {
    let mut by_kind: BTreeMap<&'static str, u64> = KINDS.iter().map(|k| (*k, 0)).collect();
    let mut add = |kind: &'static str| *by_kind.entry(kind).or_default() += 1;
    for charge in store.charges.newest_first() {
        if charge.order_no == reference {
            add(if charge.recharge_id.is_some() {
                "pingpp_recharge"
            } else {
                "pingpp_charge"
            });
        }
        if charge.id == reference && charge.reversed {
            add("pingpp_charge_reversal");
        }
    }
    for t in store.transfers.newest_first() {
        if t.batch_no.is_none() && t.order_no == reference && !t.status.is_void() {
            add("pingpp_transfer");
        }
    }
    for b in store.batch_transfers.newest_first() {
        if b.batch_no == reference && !b.status.is_void() {
            add("pingpp_batch_transfer");
        }
    }
    for b in store.batch_refunds.newest_first() {
        if b.batch_no == reference && b.status != BatchRefundStatus::Failed {
            add("pingpp_batch_refund");
        }
    }
    for e in store.red_envelopes.newest_first() {
        if e.order_no == reference && !e.is_void() {
            add("pingpp_red_envelope");
        }
    }
    for refund in store.refunds.newest_first() {
        let keyed = refund.metadata.get("refund_no").and_then(Value::as_str) == Some(reference);
        if keyed && refund.status != Status::Failed {
            let of_recharge = store
                .charges
                .get(&refund.charge)
                .is_some_and(|c| c.recharge_id.is_some());
            add(if of_recharge {
                "pingpp_recharge_refund"
            } else {
                "pingpp_refund"
            });
        }
    }
    let alipay = &store.alipay;
    for trade in alipay.trades.iter().filter(|t| !t.is_placeholder()) {
        let own = trade.out_trade_no == reference;
        if own {
            add("alipay_trade");
        }
        for refund in &trade.refunds {
            let by_cancel = refund.reason.as_deref() == Some(CANCEL_REFUND_REASON);
            if by_cancel && own {
                add("alipay_cancel_refund");
            } else if !by_cancel && refund.out_request_no == reference {
                add("alipay_refund");
            }
        }
    }
    for transfer in &alipay.transfers.orders {
        if transfer.out_biz_no == reference && transfer.status == TransferStatus::Success {
            add("alipay_transfer");
        }
    }
    by_kind
}

/// `GET /_sandbox/ledger?reference=…` → `{"reference", "movements", "by_kind"}`.
pub async fn ledger(State(app): State<Arc<App>>, RawQuery(raw): RawQuery) -> Response {
    let query = Query::parse(raw.as_deref());
    let Some(reference) = query.get("reference").filter(|r| !r.is_empty()) else {
        return ApiError::param("reference", "缺少 reference 参数").into_response();
    };
    let by_kind = count(&lock(&app.store), reference);
    let total: u64 = by_kind.values().sum();
    json_response(
        StatusCode::OK,
        &json!({ "reference": reference, "movements": total, "by_kind": by_kind }),
    )
}
