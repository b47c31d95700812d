//! The spec's `checks:`: rules the runtime verifies before sending because a JSON Schema cannot.
//! Generic checks run here for every provider; a provider-specific one is asked of the
//! provider's protocol module.

use serde_json::{Map, Value};

use crate::error::ToolError;
use crate::providers::Protocol;
use crate::tool::{Check, ToolDef};

/// Runs every check of `tool`; `today` is the Beijing date `yyyy-MM-dd`.
pub fn run(
    tool: &ToolDef,
    args: &Map<String, Value>,
    protocol: &dyn Protocol,
    today: &str,
) -> Result<(), ToolError> {
    for check in tool.checks {
        match *check {
            Check::PastDate { param } => {
                let Some(value) = args.get(param).and_then(Value::as_str) else {
                    continue;
                };
                if !is_past_period(value, today) {
                    return Err(ToolError::invalid(
                        param,
                        format!(
                            "{value} is not finished yet (today is {today} in Beijing time); only past days (yyyy-MM-dd) or past months (yyyy-MM) can be asked for"
                        ),
                    ));
                }
            }
            other => protocol.check(tool, other)?,
        }
    }
    Ok(())
}

/// `yyyy-MM-dd` strictly before `today`, or `yyyy-MM` strictly before today's month.
pub fn is_past_period(value: &str, today: &str) -> bool {
    match value.len() {
        10 => value < today,
        7 => value < &today[..7],
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn past_periods() {
        assert!(is_past_period("2026-11-23", "2026-11-24"));
        assert!(!is_past_period("2026-11-24", "2026-11-24"));
        assert!(!is_past_period("2026-12-01", "2026-11-24"));
        assert!(is_past_period("2026-10", "2026-11-24"));
        assert!(!is_past_period("2026-11", "2026-11-24"));
        assert!(!is_past_period("garbage", "2026-11-24"));
    }
}
