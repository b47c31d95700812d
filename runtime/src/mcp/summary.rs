//! The one-line human summary that leads every tool result, with amounts in yuan.

use serde_json::Value;

use crate::money::{fen_from_yuan, yuan_from_fen};
use crate::tool::ToolDef;

/// A one-line human summary of a result, with amounts in yuan (`¥15.50`).
pub fn summary(tool: &ToolDef, value: &Value, amount: Option<&str>) -> String {
    let amount_of_value = |v: &Value| -> Option<String> {
        let fen = v.get("amount")?.as_i64()?;
        Some(format!("{} ({fen} fen)", yuan_from_fen(fen)))
    };
    let replay = if value.get("replayed").and_then(Value::as_bool) == Some(true) {
        " (replayed: an earlier identical call's result; nothing was sent again)"
    } else if value.get("recovered_by_query").is_some() {
        " (an earlier call with the same reference had an unknown outcome; the query shows it happened, so nothing was sent again)"
    } else {
        ""
    };
    let line = match value.get("object").and_then(Value::as_str) {
        Some("list") => {
            let n = value
                .get("data")
                .and_then(Value::as_array)
                .map_or(0, Vec::len);
            let more = value
                .get("has_more")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            match value.get("next_cursor").and_then(Value::as_str) {
                Some(c) if more => format!(
                    "{}: {n} items; more remain: pass starting_after=\"{c}\" for the next page.",
                    tool.name
                ),
                _ if more => format!("{}: {n} items; more remain.", tool.name),
                _ => format!("{}: {n} items; no more.", tool.name),
            }
        }
        Some(kind) => {
            let id = value.get("id").and_then(Value::as_str).unwrap_or("?");
            let status = value
                .get("status")
                .and_then(Value::as_str)
                .map(|s| format!(", status {s}"))
                .unwrap_or_default();
            let paid = value
                .get("paid")
                .and_then(Value::as_bool)
                .map(|p| if p { ", paid" } else { ", not paid" })
                .unwrap_or_default();
            match amount_of_value(value) {
                Some(a) => format!("{}: {kind} {id}, {a}{paid}{status}.", tool.name),
                None => format!("{}: {kind} {id}{paid}{status}.", tool.name),
            }
        }
        None => {
            let mut parts = Vec::new();
            for key in [
                "out_trade_no",
                "trade_no",
                "out_request_no",
                "out_biz_no",
                "order_id",
                "trade_status",
                "status",
                "refund_status",
            ] {
                if let Some(v) = value.get(key).and_then(Value::as_str) {
                    parts.push(format!("{key} {v}"));
                }
            }
            for key in [
                "total_amount",
                "refund_amount",
                "refund_fee",
                "trans_amount",
            ] {
                if let Some(fen) = value
                    .get(key)
                    .and_then(Value::as_str)
                    .and_then(fen_from_yuan)
                {
                    parts.push(format!("{key} {}", yuan_from_fen(fen)));
                }
            }
            if parts.is_empty() {
                format!("{}: done.", tool.name)
            } else {
                format!("{}: {}.", tool.name, parts.join(", "))
            }
        }
    };
    let echo = match amount {
        Some(a) if !line.contains(a) => format!(" Amount: {a}."),
        _ => String::new(),
    };
    format!("{line}{echo}{replay}")
}
