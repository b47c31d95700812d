//! What a verified Ping++ event or Alipay notification says, as a [`ReceivedEvent`] row: pure
//! functions over the raw body (called only after its signature verified).
//!
//! Object states are ranked so that a late event never moves an object backwards: created (10) <
//! paid / succeeded / failed / closed (20) < refunded / reversed / finished (30). A Ping++
//! `refund.succeeded` is filed under the charge it refunds (`data.object.charge`), so a
//! `charge.succeeded` arriving after it leaves the charge `refunded`.

use serde_json::Value;

use crate::guard::store::ReceivedEvent;
use crate::money::fen_from_yuan;

/// Rank of a state in its object's life; unknown states rank lowest.
pub fn state_rank(state: &str) -> i64 {
    match state {
        "created" | "pending" | "processing" | "WAIT_BUYER_PAY" => 10,
        "paid"
        | "succeeded"
        | "sent"
        | "failed"
        | "closed"
        | "canceled"
        | "TRADE_SUCCESS"
        | "TRADE_CLOSED_UNPAID" => 20,
        "received" | "refunded" | "reversed" | "TRADE_FINISHED" | "TRADE_CLOSED" => 30,
        _ => 0,
    }
}

/// A Ping++ event body (verified) as a row. `Err` when it is not an event object.
pub fn pingpp_event(body: &str, now_unix: i64) -> Result<ReceivedEvent, &'static str> {
    let event: Value = serde_json::from_str(body).map_err(|_| "the body is not JSON")?;
    let text = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
    let id = text(&event, "id").ok_or("the event has no id")?;
    let kind = text(&event, "type").ok_or("the event has no type")?;
    let object = event
        .pointer("/data/object")
        .cloned()
        .unwrap_or(Value::Null);
    let object_kind = text(&object, "object").unwrap_or_default();
    let (object_id, reference, state) = match (kind.as_str(), object_kind.as_str()) {
        ("refund.succeeded", _) => (
            text(&object, "charge").or_else(|| text(&object, "id")),
            text(&object, "charge_order_no").or_else(|| text(&object, "order_no")),
            Some("refunded".to_string()),
        ),
        ("charge.succeeded", _) => (
            text(&object, "id"),
            text(&object, "order_no"),
            Some("paid".to_string()),
        ),
        ("charge.reversed", _) => (
            text(&object, "id"),
            text(&object, "order_no"),
            Some("reversed".to_string()),
        ),
        _ => (
            text(&object, "id"),
            text(&object, "order_no").or_else(|| text(&object, "batch_no")),
            text(&object, "status").or_else(|| kind.rsplit('.').next().map(str::to_string)),
        ),
    };
    let state_rank = state.as_deref().map_or(0, state_rank);
    Ok(ReceivedEvent {
        provider: "pingpp".into(),
        event_id: id,
        event_type: kind,
        object_id,
        reference,
        amount_fen: object.get("amount").and_then(Value::as_i64),
        object_state: state,
        state_rank,
        received_unix: now_unix,
        raw_body: body.to_string(),
        verified: true,
        seq: 0,
    })
}

/// An Alipay notification's form fields (verified) as a row. `Err` without a `notify_id`.
pub fn alipay_notification(
    fields: &[(String, String)],
    body: &str,
    now_unix: i64,
) -> Result<ReceivedEvent, &'static str> {
    let get = |k: &str| {
        fields
            .iter()
            .find(|(name, _)| name == k)
            .map(|(_, v)| v.clone())
            .filter(|v| !v.is_empty())
    };
    let notify_id = get("notify_id").ok_or("the notification has no notify_id")?;
    let notify_type = get("notify_type").unwrap_or_else(|| "notification".into());
    let status = get("trade_status");
    // An unpaid trade that closes is not the same end as a paid one fully refunded.
    let state = match (status.as_deref(), get("gmt_payment")) {
        (Some("TRADE_CLOSED"), None) => Some("TRADE_CLOSED_UNPAID".to_string()),
        (s, _) => s.map(str::to_string),
    };
    let event_type = match &status {
        Some(s) => format!("{notify_type}.{s}"),
        None => notify_type,
    };
    Ok(ReceivedEvent {
        provider: "alipay".into(),
        event_id: notify_id,
        event_type,
        object_id: get("trade_no"),
        reference: get("out_trade_no"),
        amount_fen: get("total_amount").as_deref().and_then(fen_from_yuan),
        state_rank: state.as_deref().map_or(0, state_rank),
        object_state: state,
        received_unix: now_unix,
        raw_body: body.to_string(),
        verified: true,
        seq: 0,
    })
}

/// Whether a state is an end of the payment: settled, failed or closed.
pub fn settled(state: &str) -> bool {
    state_rank(state) >= 20
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refund_is_filed_under_its_charge_and_outranks_the_payment() {
        let paid = pingpp_event(
            r#"{"id":"evt_1","type":"charge.succeeded","data":{"object":{"id":"ch_1","object":"charge","order_no":"o1","amount":100}}}"#,
            1,
        )
        .unwrap();
        let refunded = pingpp_event(
            r#"{"id":"evt_2","type":"refund.succeeded","data":{"object":{"id":"re_1","object":"refund","charge":"ch_1","charge_order_no":"o1","amount":100}}}"#,
            2,
        )
        .unwrap();
        assert_eq!(paid.object_id.as_deref(), Some("ch_1"));
        assert_eq!(refunded.object_id.as_deref(), Some("ch_1"));
        assert_eq!(refunded.reference.as_deref(), Some("o1"));
        assert!(refunded.state_rank > paid.state_rank);
        assert!(pingpp_event("[1]", 1).is_err());
    }

    #[test]
    fn alipay_fields_become_a_row_with_fen() {
        let f = |k: &str, v: &str| (k.to_string(), v.to_string());
        let row = alipay_notification(
            &[
                f("notify_id", "n1"),
                f("notify_type", "trade_status_sync"),
                f("trade_no", "2024"),
                f("out_trade_no", "o1"),
                f("trade_status", "TRADE_SUCCESS"),
                f("total_amount", "12.30"),
            ],
            "raw",
            5,
        )
        .unwrap();
        assert_eq!(row.event_type, "trade_status_sync.TRADE_SUCCESS");
        assert_eq!(row.amount_fen, Some(1230));
        assert_eq!(row.state_rank, 20);
        let closed = alipay_notification(
            &[f("notify_id", "n2"), f("trade_status", "TRADE_CLOSED")],
            "raw",
            5,
        )
        .unwrap();
        assert_eq!(closed.object_state.as_deref(), Some("TRADE_CLOSED_UNPAID"));
        assert!(alipay_notification(&[], "", 1).is_err());
    }
}
