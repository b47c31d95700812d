//! `pingpp.summarize_charges`: every charge created in a range of Beijing dates, read page by
//! page through `list_charges` and summed per channel and per channel family (WeChat, Alipay,
//! UnionPay, other) — revenue by channel in one call instead of one call per 100 charges.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::bill::cancelled;
use crate::config::Config;
use crate::context::CallContext;
use crate::engine::Engine;
use crate::error::ToolError;

/// Charges per page (Ping++'s maximum).
const PAGE: u64 = 100;
/// Most charges one call reads unless the caller allows more.
pub const DEFAULT_MAX: u64 = 100_000;

/// The family of a Ping++ channel code.
pub fn family(channel: &str) -> &'static str {
    let c = channel.strip_prefix("cb_").unwrap_or(channel);
    if c.starts_with("wx") {
        "wechat"
    } else if c.starts_with("alipay") {
        "alipay"
    } else if c.starts_with("upacp") || c == "applepay_upacp" {
        "unionpay"
    } else {
        "other"
    }
}

/// Sums of one channel or family, in fen.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Sums {
    pub count: u64,
    pub paid_count: u64,
    pub gross: i64,
    pub refunded: i64,
}

impl Sums {
    fn add_charge(&mut self, charge: &Value) {
        self.count += 1;
        if charge.get("paid").and_then(Value::as_bool) == Some(true) {
            self.paid_count += 1;
            self.gross += charge.get("amount").and_then(Value::as_i64).unwrap_or(0);
            self.refunded += charge
                .get("amount_refunded")
                .and_then(Value::as_i64)
                .unwrap_or(0);
        }
    }

    fn json(&self, key: (&str, &str)) -> Value {
        json!({
            key.0: key.1,
            "count": self.count,
            "paid_count": self.paid_count,
            "unpaid_count": self.count - self.paid_count,
            "gross": self.gross,
            "refunded": self.refunded,
            "net": self.gross - self.refunded,
        })
    }
}

fn day(args: &Map<String, Value>, name: &str) -> Result<String, ToolError> {
    let text = args.get(name).and_then(Value::as_str).unwrap_or_default();
    zhifu_signing::alipay::parse_beijing_timestamp(&format!("{text} 00:00:00"))
        .map(|_| text.to_string())
        .ok_or_else(|| ToolError::invalid(name, format!("{text} is not a date yyyy-MM-dd")))
}

/// Runs `summarize_charges`.
pub async fn summarize(
    engine: &Engine,
    args: &Map<String, Value>,
    config: &Config,
    ctx: &CallContext,
) -> Result<Value, ToolError> {
    let from = day(args, "from")?;
    let to = day(args, "to")?;
    if to < from {
        return Err(ToolError::invalid(
            "to",
            format!("{to} is before {from}: `to` is the last day of the range"),
        ));
    }
    let max = args
        .get("max_charges")
        .and_then(Value::as_u64)
        .unwrap_or(DEFAULT_MAX);
    let mut query = Map::new();
    query.insert("limit".into(), PAGE.into());
    query.insert("created".into(), json!({ "gte": from, "lte": to }));
    for name in ["app", "channel", "paid", "refunded"] {
        if let Some(v) = args.get(name) {
            query.insert(name.into(), v.clone());
        }
    }
    let mut total = Sums::default();
    let mut channels: BTreeMap<String, Sums> = BTreeMap::new();
    let mut pages = 0u64;
    let mut complete = true;
    loop {
        if ctx.is_cancelled() {
            return Err(cancelled());
        }
        let page = engine
            .call_inner("list_charges", query.clone(), config, ctx)
            .await?;
        pages += 1;
        let items = page
            .get("data")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        for charge in items {
            let channel = charge
                .get("channel")
                .and_then(Value::as_str)
                .unwrap_or("unknown");
            total.add_charge(charge);
            channels
                .entry(channel.to_string())
                .or_default()
                .add_charge(charge);
        }
        ctx.progress(
            pages as f64,
            None,
            format!("{} charges read ({pages} pages)", total.count),
        );
        let more = page.get("has_more").and_then(Value::as_bool) == Some(true);
        let last = items
            .last()
            .and_then(|c| c.get("id"))
            .and_then(Value::as_str);
        match (more, last) {
            (true, Some(id)) if total.count < max => {
                query.insert("starting_after".into(), id.into());
            }
            (true, _) => {
                complete = false;
                break;
            }
            _ => break,
        }
    }
    if ctx.is_cancelled() {
        return Err(cancelled());
    }
    let mut families: BTreeMap<&str, Sums> = BTreeMap::new();
    for (channel, s) in &channels {
        let f = families.entry(family(channel)).or_default();
        f.count += s.count;
        f.paid_count += s.paid_count;
        f.gross += s.gross;
        f.refunded += s.refunded;
    }
    let mut by_channel: Vec<(&String, &Sums)> = channels.iter().collect();
    by_channel.sort_by(|a, b| b.1.gross.cmp(&a.1.gross).then_with(|| a.0.cmp(b.0)));
    let mut by_family: Vec<(&&str, &Sums)> = families.iter().collect();
    by_family.sort_by(|a, b| b.1.gross.cmp(&a.1.gross).then_with(|| a.0.cmp(b.0)));
    let mut out = total.json(("from", &from));
    let map = out.as_object_mut().expect("an object");
    map.insert("to".into(), to.clone().into());
    map.insert("charges_read".into(), total.count.into());
    map.insert("pages".into(), pages.into());
    map.insert("complete".into(), complete.into());
    if !complete {
        map.insert(
            "note".into(),
            format!(
                "Stopped after {} charges (max_charges); the totals cover only those. Narrow the dates or raise max_charges.",
                total.count
            )
            .into(),
        );
    }
    map.insert(
        "by_channel".into(),
        by_channel
            .iter()
            .map(|(c, s)| {
                let mut v = s.json(("channel", c));
                v["family"] = family(c).into();
                v
            })
            .collect(),
    );
    map.insert(
        "by_family".into(),
        by_family
            .iter()
            .map(|(f, s)| s.json(("family", f)))
            .collect(),
    );
    Ok(out)
}

/// A cursor list tool's `created` bounds may be Beijing dates: `gte`/`lt` a date mean its first
/// second, `lte`/`gt` its last; they become Unix seconds before anything is sent.
pub fn dates_to_unix(created: &mut Value) -> Result<(), ToolError> {
    let Some(bounds) = created.as_object_mut() else {
        return Ok(());
    };
    for (key, value) in bounds.iter_mut() {
        let Some(text) = value.as_str() else {
            continue;
        };
        let start = zhifu_signing::alipay::parse_beijing_timestamp(&format!("{text} 00:00:00"))
            .filter(|_| text.len() == 10)
            .ok_or_else(|| {
                ToolError::invalid(
                    format!("created.{key}"),
                    format!("{text} is not a date yyyy-MM-dd (Beijing) or Unix seconds"),
                )
            })?;
        let unix = match key.as_str() {
            "gte" | "lt" => start,
            _ => start + 86_399,
        };
        *value = unix.into();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families() {
        assert_eq!(family("wx_pub"), "wechat");
        assert_eq!(family("cb_wx_pub_qr"), "wechat");
        assert_eq!(family("alipay_qr"), "alipay");
        assert_eq!(family("upacp_wap"), "unionpay");
        assert_eq!(family("applepay_upacp"), "unionpay");
        assert_eq!(family("balance"), "other");
    }

    #[test]
    fn beijing_dates_become_inclusive_unix_bounds() {
        let mut created = json!({"gte": "2024-03-14", "lte": "2024-03-14", "lt": 5});
        dates_to_unix(&mut created).unwrap();
        // 2024-03-14 00:00:00 +08:00 = 1710345600.
        assert_eq!(created["gte"], 1_710_345_600);
        assert_eq!(created["lte"], 1_710_345_600 + 86_399);
        assert_eq!(created["lt"], 5);
        assert!(dates_to_unix(&mut json!({"gt": "2024-3-1"})).is_err());
    }
}
