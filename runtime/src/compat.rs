//! Other servers' tool names (spec `aliases:`): which tool a name or allowlist entry means, and
//! a call's arguments under the other server's names turned into the tool's own. The table is
//! spec data; these are the few pure functions that read it.

use serde_json::{Map, Value};

use crate::error::ToolError;
use crate::tool::{Alias, Compat, Kind, ToolDef};

/// The tool an allowlist entry names: its own name, an alias's name or an alias's `select`
/// name (`mobilePay` in `AP_SELECT_TOOLS`); `None` for an unknown name.
pub fn tool_named(tools: &[&'static ToolDef], name: &str) -> Option<&'static str> {
    tools.iter().find_map(|t| {
        (t.name == name
            || t.aliases
                .iter()
                .any(|a| a.name == name || a.select == Some(name)))
        .then_some(t.name)
    })
}

/// The alias called `name`, with its tool.
pub fn alias_named(
    tools: &[&'static ToolDef],
    name: &str,
) -> Option<(&'static ToolDef, &'static Alias)> {
    tools
        .iter()
        .find_map(|t| Some((*t, t.aliases.iter().find(|a| a.name == name)?)))
}

/// The aliases of `tool` in a compatibility mode.
pub fn aliases_in(tool: &'static ToolDef, mode: Compat) -> impl Iterator<Item = &'static Alias> {
    tool.aliases.iter().filter(move |a| a.compat == mode)
}

/// A compatibility mode by its setting's spelling (`alipay-official`).
pub fn parse_mode(text: &str) -> Option<Compat> {
    Compat::ALL
        .iter()
        .copied()
        .find(|c| c.as_str().eq_ignore_ascii_case(text.trim()))
}

/// The arguments of a call made under `alias`, under the tool's own names: each mapped name is
/// renamed, and a JSON number given for a decimal-yuan parameter becomes its decimal string
/// (`15.5` → `"15.50"`; more than two decimals is refused, never rounded). Names the alias does
/// not map stay as they are, so the tool's schema refuses them by name.
pub fn tool_args(
    tool: &ToolDef,
    alias: &Alias,
    args: Map<String, Value>,
) -> Result<Map<String, Value>, ToolError> {
    let mut out = Map::new();
    for (name, value) in args {
        let Some(&(_, ours)) = alias.args.iter().find(|(theirs, _)| *theirs == name) else {
            out.insert(name, value);
            continue;
        };
        let yuan = tool.param(ours).is_some_and(|p| p.kind == Kind::AmountYuan);
        let value = match value {
            Value::Number(n) if yuan => Value::String(yuan_text(&n).ok_or_else(|| {
                ToolError::invalid(
                    name.as_str(),
                    format!("{n} is not an amount in yuan with at most two decimals"),
                )
            })?),
            other => other,
        };
        out.insert(ours.to_string(), value);
    }
    Ok(out)
}

/// `15.5` → `"15.50"`, `3` → `"3.00"`, from the number's shortest decimal text (exact for any
/// amount written with at most two decimals); `None` for a negative number, an exponent or more
/// than two decimals.
fn yuan_text(n: &serde_json::Number) -> Option<String> {
    let text = n.to_string();
    let (whole, frac) = text.split_once('.').unwrap_or((&text, ""));
    let digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
    if whole.is_empty() || !digits(whole) || !digits(frac) || frac.len() > 2 {
        return None;
    }
    Some(format!("{whole}.{frac:0<2}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tool::{Location, Param};
    use serde_json::json;

    static PARAMS: &[Param] = &[
        Param::new("out_trade_no", Location::BizContent, Kind::String),
        Param::new("total_amount", Location::BizContent, Kind::AmountYuan),
    ];
    static ALIAS: Alias = Alias {
        compat: Compat::AlipayOfficial,
        name: "create-mobile-alipay-payment",
        select: Some("mobilePay"),
        title: "",
        description: "",
        args: &[
            ("outTradeNo", "out_trade_no"),
            ("totalAmount", "total_amount"),
        ],
        input_schema: "{}",
    };
    static TOOL: ToolDef = ToolDef {
        name: "create_wap_payment_url",
        params: PARAMS,
        aliases: std::slice::from_ref(&ALIAS),
        ..ToolDef::BLANK
    };

    fn call(args: Value) -> Result<Value, ToolError> {
        let Value::Object(args) = args else {
            unreachable!()
        };
        tool_args(&TOOL, &ALIAS, args).map(Value::Object)
    }

    #[test]
    fn renames_and_turns_numbers_into_yuan_text() {
        assert_eq!(
            call(json!({"outTradeNo": "T1", "totalAmount": 15.5})).unwrap(),
            json!({"out_trade_no": "T1", "total_amount": "15.50"})
        );
        assert_eq!(
            call(json!({"totalAmount": 3})).unwrap(),
            json!({"total_amount": "3.00"})
        );
        assert_eq!(
            call(json!({"totalAmount": 0.01})).unwrap(),
            json!({"total_amount": "0.01"})
        );
        assert_eq!(
            call(json!({"totalAmount": "9.99", "other": 1})).unwrap(),
            json!({"total_amount": "9.99", "other": 1})
        );
    }

    #[test]
    fn refuses_what_is_not_fen_exact() {
        for bad in [json!(15.555), json!(-1), json!(1e21)] {
            let err = call(json!({ "totalAmount": bad })).unwrap_err();
            assert_eq!(err.field.as_deref(), Some("totalAmount"), "{bad}");
        }
    }

    #[test]
    fn finds_tools_by_alias_and_select_names() {
        let tools: &[&'static ToolDef] = &[&TOOL];
        for name in [
            "create_wap_payment_url",
            "create-mobile-alipay-payment",
            "mobilePay",
        ] {
            assert_eq!(tool_named(tools, name), Some("create_wap_payment_url"));
        }
        assert_eq!(tool_named(tools, "webPagePay"), None);
        assert_eq!(
            parse_mode(" Alipay-Official "),
            Some(Compat::AlipayOfficial)
        );
    }
}
