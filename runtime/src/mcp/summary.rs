//! The text of every successful tool result: one line with amounts in yuan (and, for a list, one
//! line per item). Which result fields it shows, and how, is spec data (`summary: true` fields
//! of the tool's response, or of a list's items); the whole result is the `structuredContent`.

use serde_json::Value;

use crate::money::{fen_from_yuan, yuan_from_fen};
use crate::tool::{Pagination, SummaryKind, ToolDef};

/// A one-line human summary of a result; `amount` is the call's own amount (`¥15.50`), echoed
/// when the result does not show it.
pub fn summary(tool: &ToolDef, value: &Value, amount: Option<&str>) -> String {
    let replay = if value.get("replayed").and_then(Value::as_bool) == Some(true) {
        " (replayed: an earlier identical call's result; nothing was sent again)"
    } else if value.get("recovered_by_query").is_some() {
        " (an earlier call with the same reference had an unknown outcome; the query shows it happened, so nothing was sent again)"
    } else {
        ""
    };
    let (line, items) = match value.get("data").and_then(Value::as_array) {
        Some(items) if tool.pagination != Pagination::None => (
            list_line(tool, value, items.len()),
            items
                .iter()
                .map(|item| format!("\n- {}", fields(tool, item).join(", ")))
                .collect(),
        ),
        _ => (fields_line(tool, value), String::new()),
    };
    let echo = match amount {
        Some(a) if !line.contains(a) => format!(" Amount: {a}."),
        _ => String::new(),
    };
    format!("{line}{echo}{replay}{items}")
}

/// `list_charges: 10 items; more remain: pass starting_after="ch_…" for the next page.`
fn list_line(tool: &ToolDef, value: &Value, n: usize) -> String {
    let more = value.get("has_more").and_then(Value::as_bool) == Some(true);
    match value.get("next_cursor").and_then(Value::as_str) {
        Some(c) if more => format!(
            "{}: {n} items; more remain: pass starting_after=\"{c}\" for the next page.",
            tool.name
        ),
        _ if more => format!("{}: {n} items; more remain.", tool.name),
        _ => format!("{}: {n} items; no more.", tool.name),
    }
}

/// `refund_trade: out_trade_no T1, refund_fee ¥5.00.`
fn fields_line(tool: &ToolDef, value: &Value) -> String {
    let parts = fields(tool, value);
    if parts.is_empty() {
        format!("{}: done.", tool.name)
    } else {
        format!("{}: {}.", tool.name, parts.join(", "))
    }
}

/// The summary fields `value` has, shown: `out_trade_no T1`, `refund_fee ¥5.00`.
fn fields(tool: &ToolDef, value: &Value) -> Vec<String> {
    tool.summary
        .iter()
        .filter_map(|f| {
            let v = value.get(f.field)?;
            let name = f.field;
            match f.kind {
                SummaryKind::Text => match v {
                    Value::String(s) if !s.is_empty() => Some(format!("{name} {s}")),
                    Value::Number(n) => Some(format!("{name} {n}")),
                    _ => None,
                },
                SummaryKind::Fen => {
                    let fen = v.as_i64()?;
                    Some(format!("{name} {} ({fen} fen)", yuan_from_fen(fen)))
                }
                SummaryKind::Yuan => {
                    let fen = v.as_str().and_then(fen_from_yuan)?;
                    Some(format!("{name} {}", yuan_from_fen(fen)))
                }
                SummaryKind::Flag => match v.as_bool()? {
                    true => Some(name.to_string()),
                    false => Some(format!("not {name}")),
                },
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tool::SummaryField;
    use serde_json::json;

    static TOOL: ToolDef = ToolDef {
        name: "refund_trade",
        summary: &[
            SummaryField {
                field: "out_trade_no",
                kind: SummaryKind::Text,
            },
            SummaryField {
                field: "refund_fee",
                kind: SummaryKind::Yuan,
            },
            SummaryField {
                field: "amount",
                kind: SummaryKind::Fen,
            },
            SummaryField {
                field: "paid",
                kind: SummaryKind::Flag,
            },
        ],
        ..ToolDef::BLANK
    };

    #[test]
    fn shows_the_declared_fields_in_yuan() {
        let v = json!({"out_trade_no": "T1", "refund_fee": "5.00", "amount": 1550, "paid": false, "other": "x"});
        assert_eq!(
            summary(&TOOL, &v, Some("¥5.00")),
            "refund_trade: out_trade_no T1, refund_fee ¥5.00, amount ¥15.50 (1550 fen), not paid."
        );
        assert_eq!(
            summary(&TOOL, &json!({}), Some("¥1.00")),
            "refund_trade: done. Amount: ¥1.00."
        );
        let replayed = json!({"out_trade_no": "T1", "replayed": true});
        assert!(summary(&TOOL, &replayed, None).contains("nothing was sent again"));
    }

    #[test]
    fn a_list_shows_one_line_per_item() {
        let list = ToolDef {
            name: "list_refunds",
            pagination: Pagination::Cursor,
            ..TOOL
        };
        let v = json!({"object": "list", "has_more": true, "next_cursor": "re_2", "data": [
            {"out_trade_no": "T1", "amount": 100, "paid": true},
            {"out_trade_no": "T2", "amount": 250, "paid": false},
        ]});
        assert_eq!(
            summary(&list, &v, None),
            "list_refunds: 2 items; more remain: pass starting_after=\"re_2\" for the next page.\n\
             - out_trade_no T1, amount ¥1.00 (100 fen), paid\n\
             - out_trade_no T2, amount ¥2.50 (250 fen), not paid"
        );
    }
}
