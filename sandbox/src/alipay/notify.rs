//! Asynchronous notifications (`notify_type=trade_status_sync`, alipay.md §4): built when a trade
//! is paid or refunded, signed with the sandbox Alipay key over every parameter except `sign`
//! and `sign_type`, and kept (newest first at `/_sandbox/alipay/notifications`) together with the
//! form body that would be POSTed to the trade's notify_url.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Map, Value, json};
use zhifu_signing::alipay::{NotifyKind, beijing_timestamp, notify_sign_content};
use zhifu_signing::rsa_sha256_sign;

use super::AlipayApp;
use super::biz::yuan;
use super::refunds::RefundRecord;
use super::trades::Trade;
use crate::store::alnum;

/// One notification as it would be delivered.
#[derive(Debug, Clone)]
pub struct Notification {
    pub params: Vec<(String, String)>,
    pub body: String,
    pub notify_url: Option<String>,
}

impl Notification {
    pub fn to_json(&self) -> Value {
        let params: Map<String, Value> = self
            .params
            .iter()
            .map(|(k, v)| (k.clone(), Value::from(v.as_str())))
            .collect();
        json!({ "params": params, "body": self.body, "notify_url": self.notify_url })
    }
}

/// Form encoding as Java's `URLEncoder`: unreserved `-_.*` kept, space as `+`.
const FORM: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'*')
    .remove(b' ');

fn form_encode(s: &str) -> String {
    utf8_percent_encode(s, FORM).to_string().replace(' ', "+")
}

/// The `trade_status_sync` notification for `trade` as it is now; `refund` adds the refund
/// fields (`out_biz_no`, `refund_fee`, `gmt_refund`).
pub fn trade_status_sync(
    app: &AlipayApp,
    trade: &Trade,
    refund: Option<&RefundRecord>,
    now: i64,
) -> Notification {
    let mut p: Vec<(String, String)> = Vec::new();
    let mut add = |k: &str, v: String| {
        if !v.is_empty() {
            p.push((k.to_string(), v));
        }
    };
    add("notify_time", beijing_timestamp(now));
    add("notify_type", "trade_status_sync".into());
    add("notify_id", format!("2024{}", alnum(30).to_lowercase()));
    add("app_id", app.app_id.clone());
    add("auth_app_id", app.app_id.clone());
    add("charset", "utf-8".into());
    add("version", "1.0".into());
    add("sign_type", "RSA2".into());
    add("trade_no", trade.trade_no.clone());
    add("out_trade_no", trade.out_trade_no.clone());
    if let Some(buyer) = &trade.buyer {
        add("buyer_id", buyer.user_id.clone());
        add("buyer_logon_id", buyer.masked_logon_id());
    }
    add("seller_id", app.pid.clone());
    add("trade_status", trade.status.as_str().into());
    add("total_amount", yuan(trade.total));
    add("receipt_amount", yuan(trade.total));
    add("invoice_amount", yuan(trade.total));
    add("buyer_pay_amount", yuan(trade.total));
    add("point_amount", "0.00".into());
    add("subject", trade.subject.clone());
    add("body", trade.body.clone().unwrap_or_default());
    add("gmt_create", beijing_timestamp(trade.created));
    if let Some(paid) = trade.paid_at {
        add("gmt_payment", beijing_timestamp(paid));
    }
    if let Some(closed) = trade.closed_at {
        add("gmt_close", beijing_timestamp(closed));
    }
    add(
        "fund_bill_list",
        json!([{ "amount": yuan(trade.total), "fundChannel": "ALIPAYACCOUNT" }]).to_string(),
    );
    add(
        "passback_params",
        trade.passback_params.clone().unwrap_or_default(),
    );
    if let Some(r) = refund {
        add("out_biz_no", r.out_request_no.clone());
        add("refund_fee", yuan(r.refund_fee_after));
        add("gmt_refund", beijing_timestamp(r.at));
    }
    let content = notify_sign_content(
        p.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        NotifyKind::Payment,
    );
    let sign = rsa_sha256_sign(&app.alipay_private, content.as_bytes());
    p.push(("sign".to_string(), sign));
    let body = p
        .iter()
        .map(|(k, v)| format!("{}={}", form_encode(k), form_encode(v)))
        .collect::<Vec<_>>()
        .join("&");
    Notification {
        params: p,
        body,
        notify_url: trade.notify_url.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_encoding_matches_url_encoder() {
        assert_eq!(form_encode("a b+c/中*-_."), "a+b%2Bc%2F%E4%B8%AD*-_.");
    }
}
