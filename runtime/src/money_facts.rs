//! What a call moves and to whom, read from its validated arguments as its spec says: the amount
//! (one `amount_param`, or the sum of a batch's items), the payees the allowlist checks, and the
//! merchant reference. Pure functions; the engine hands the facts to policy and confirmation.

use serde_json::{Map, Value};

use crate::error::ToolError;
use crate::money::{fen_from_yuan, yuan_from_fen};
use crate::tool::{Batch, Kind, ToolDef};

/// The facts of one call.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MoneyFacts {
    /// What the call moves, in fen, when it says.
    pub amount_fen: Option<i64>,
    /// Every payee the call names: `(where, identity)`, e.g. `("recipients[1].account", "a@b")`.
    pub payees: Vec<(String, String)>,
    /// The first batch item that names no payee (`recipients[2]`), when the batch has payee keys.
    pub unnamed_payee: Option<String>,
    /// How many items a batch call has.
    pub items: Option<usize>,
}

/// Reads the facts of a call. A batch whose `amount_param` differs from the sum of its items is
/// refused here, naming the argument: nothing would tell which of the two the caller meant.
pub fn read(tool: &ToolDef, args: &Map<String, Value>) -> Result<MoneyFacts, ToolError> {
    let single = single_amount(tool, args);
    let mut facts = MoneyFacts {
        amount_fen: single,
        ..MoneyFacts::default()
    };
    for name in tool.payee_params {
        if let Some(v) = args.get(*name).and_then(Value::as_str) {
            facts.payees.push(((*name).to_string(), v.to_string()));
        }
    }
    let Some(batch) = tool.batch else {
        return Ok(facts);
    };
    let items: &[Value] = args
        .get(batch.param)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice);
    facts.items = Some(items.len());
    let total = batch_total(batch, items);
    if let (Some(total), Some(stated), Some(name)) = (total, single, tool.amount_param)
        && total != stated
    {
        return Err(ToolError::invalid(
            name,
            format!(
                "is {} but the items of `{}` add up to {} ({} fen); give the sum of the items",
                yuan_from_fen(stated),
                batch.param,
                yuan_from_fen(total),
                total
            ),
        ));
    }
    facts.amount_fen = total.or(single);
    for (i, item) in items.iter().enumerate() {
        let named: Vec<(String, String)> = batch
            .payee
            .iter()
            .filter_map(|key| {
                let v = item.get(*key)?.as_str()?;
                Some((format!("{}[{i}].{key}", batch.param), v.to_string()))
            })
            .collect();
        if named.is_empty() && !batch.payee.is_empty() && facts.unnamed_payee.is_none() {
            facts.unnamed_payee = Some(format!("{}[{i}]", batch.param));
        }
        facts.payees.extend(named);
    }
    Ok(facts)
}

/// The merchant reference of a call, when the tool has one and it was given.
pub fn reference_of(tool: &ToolDef, args: &Map<String, Value>) -> Option<String> {
    let name = tool.merchant_reference?;
    args.get(name).and_then(Value::as_str).map(str::to_string)
}

/// The `amount_param` in fen.
fn single_amount(tool: &ToolDef, args: &Map<String, Value>) -> Option<i64> {
    let param = tool.param(tool.amount_param?)?;
    fen_of(param.kind, args.get(param.name)?)
}

/// The sum of the items' amounts in fen; `None` when an item states none (e.g. a batch refund
/// item that refunds whatever remains) or the sum overflows.
fn batch_total(batch: &Batch, items: &[Value]) -> Option<i64> {
    items.iter().try_fold(0i64, |sum, item| {
        let fen = fen_of(batch.amount_kind, item.get(batch.amount)?)?;
        sum.checked_add(fen)
    })
}

fn fen_of(kind: Kind, value: &Value) -> Option<i64> {
    match (kind, value) {
        (Kind::AmountFen, v) => v.as_i64(),
        (Kind::AmountYuan, Value::String(s)) => fen_from_yuan(s),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::tool::{Location, Param};

    static BATCH: Batch = Batch {
        param: "recipients",
        amount: "amount",
        amount_kind: Kind::AmountFen,
        payee: &["account", "open_id"],
    };
    static PARAMS: &[Param] = &[
        Param::new("amount", Location::Body, Kind::AmountFen),
        Param::new("recipients", Location::Body, Kind::Array),
    ];
    static TOOL: ToolDef = ToolDef {
        name: "batch",
        params: PARAMS,
        amount_param: Some("amount"),
        batch: Some(&BATCH),
        ..ToolDef::BLANK
    };

    fn args(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn a_batch_moves_the_sum_of_its_items_and_names_every_payee() {
        let facts = read(
            &TOOL,
            &args(json!({"amount": 350, "recipients": [
                {"account": "a@x", "amount": 100},
                {"open_id": "o_1", "amount": 250}
            ]})),
        )
        .unwrap();
        assert_eq!(facts.amount_fen, Some(350));
        assert_eq!(facts.items, Some(2));
        assert_eq!(
            facts.payees,
            vec![
                ("recipients[0].account".into(), "a@x".into()),
                ("recipients[1].open_id".into(), "o_1".into())
            ]
        );
        assert_eq!(facts.unnamed_payee, None);
    }

    #[test]
    fn a_stated_total_that_is_not_the_sum_is_refused_naming_it() {
        let err = read(
            &TOOL,
            &args(json!({"amount": 300, "recipients": [{"account": "a", "amount": 100}]})),
        )
        .unwrap_err();
        assert_eq!(err.field.as_deref(), Some("amount"));
        assert!(err.message.contains("¥1.00"), "{}", err.message);
    }

    #[test]
    fn an_item_without_amount_leaves_the_total_unknown_and_one_without_payee_is_flagged() {
        static LOOSE: ToolDef = ToolDef {
            name: "batch",
            params: PARAMS,
            batch: Some(&BATCH),
            ..ToolDef::BLANK
        };
        let facts = read(
            &LOOSE,
            &args(json!({"recipients": [{"account": "a", "amount": 1}, {"amount": 2}, {}]})),
        )
        .unwrap();
        assert_eq!(facts.amount_fen, None);
        assert_eq!(facts.items, Some(3));
        assert_eq!(facts.unnamed_payee.as_deref(), Some("recipients[1]"));
    }
}
