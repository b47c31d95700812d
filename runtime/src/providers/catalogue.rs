//! Reads a provider's error catalogue (spec data, `errors:` in `provider.yaml`): which rule an
//! upstream error matches, and the tool error a model gets from it.

use crate::error::{ErrorKind, Outcome, ToolError, Upstream};
use crate::tool::{ErrorMatch, ErrorOutcome, ErrorRule, RetrySafety, ToolDef};

/// The first rule of the tool's provider that matches `upstream` and whose advice can be
/// filled in for this call (a rule naming `{query_tool}`, `{reference}` or `{param}` is
/// skipped when the tool or the error has none; the next rule is its fallback).
pub fn rule_for(tool: &ToolDef, upstream: &Upstream) -> Option<&'static ErrorRule> {
    let reads = tool.read_only();
    tool.provider_def
        .errors
        .iter()
        .find(|r| matches(&r.when, upstream, reads) && fillable(r.next_step, tool, upstream))
}

fn fillable(text: &str, tool: &ToolDef, upstream: &Upstream) -> bool {
    (!text.contains("{query_tool}") || tool.query_tool.is_some())
        && (!text.contains("{reference}") || tool.merchant_reference.is_some())
        && (!text.contains("{param}") || upstream.param.is_some())
}

fn matches(when: &ErrorMatch, up: &Upstream, reads: bool) -> bool {
    let status_ok = when
        .http_status
        .is_none_or(|(low, high)| up.http_status.is_some_and(|s| (low..=high).contains(&s)));
    let text_ok = |want: Option<&str>, have: Option<&str>| {
        want.is_none_or(|w| have.is_some_and(|h| pattern(w, h)))
    };
    let message = up.message.as_deref().unwrap_or_default();
    let lower = message.to_lowercase();
    status_ok
        && when.reads.is_none_or(|r| r == reads)
        && text_ok(when.error_type, up.error_type.as_deref())
        && text_ok(when.code, up.code.as_deref())
        && text_ok(when.sub_code, up.sub_code.as_deref().or(up.code.as_deref()))
        && (when.message_contains.is_empty()
            || when
                .message_contains
                .iter()
                .any(|m| lower.contains(&m.to_lowercase())))
}

/// `ACQ.TRADE_NOT_EXIST` exactly; `*_PROCESSING` / `ACQ.*` with a wildcard at one end.
fn pattern(want: &str, have: &str) -> bool {
    if let Some(suffix) = want.strip_prefix('*') {
        have.ends_with(suffix)
    } else if let Some(prefix) = want.strip_suffix('*') {
        have.starts_with(prefix)
    } else {
        want == have
    }
}

/// The tool error for an upstream error: the catalogue's outcome, retry safety and next step,
/// with `message` as the headline.
pub fn tool_error(tool: &ToolDef, upstream: Upstream, message: String) -> ToolError {
    let rule = rule_for(tool, &upstream);
    let keyed = tool.idempotent && tool.merchant_reference.is_some();
    let (outcome, retry_safe, next) = match rule {
        Some(r) => (
            r.outcome,
            match r.retry {
                RetrySafety::Yes => true,
                RetrySafety::No => false,
                RetrySafety::IfKeyed => keyed,
            },
            render(r.next_step, tool, &upstream),
        ),
        None => (
            ErrorOutcome::Failed,
            false,
            "Read the gateway's code and message, fix the request and call again.".to_string(),
        ),
    };
    let mut err = ToolError::new(ErrorKind::Upstream, message, next).retry_safe(retry_safe);
    match outcome {
        ErrorOutcome::Pending if !tool.read_only() => err.outcome = Some(Outcome::Unknown),
        ErrorOutcome::NotFound => err.not_found = true,
        _ => {}
    }
    err.upstream = Some(Box::new(upstream));
    err
}

/// Fills `{query_tool}`, `{reference}` and `{param}` for this tool and error.
pub fn render(text: &str, tool: &ToolDef, upstream: &Upstream) -> String {
    text.replace(
        "{query_tool}",
        tool.query_tool.unwrap_or("the matching query tool"),
    )
    .replace(
        "{reference}",
        tool.merchant_reference.unwrap_or("merchant reference"),
    )
    .replace(
        "{param}",
        upstream.param.as_deref().unwrap_or("the named argument"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tool::{Effect, ProviderDef};

    static RULES: &[ErrorRule] = &[
        ErrorRule {
            when: ErrorMatch {
                sub_code: Some("*_PROCESSING"),
                reads: Some(false),
                http_status: None,
                error_type: None,
                code: None,
                message_contains: &[],
            },
            outcome: ErrorOutcome::Pending,
            retry: RetrySafety::IfKeyed,
            next_step: "Call {query_tool} first; retry only with the same `{reference}`.",
        },
        ErrorRule {
            when: ErrorMatch {
                http_status: Some((400, 401)),
                message_contains: &["签名", "signature"],
                reads: None,
                error_type: None,
                code: None,
                sub_code: None,
            },
            outcome: ErrorOutcome::Failed,
            retry: RetrySafety::No,
            next_step: "Check the key.",
        },
        ErrorRule {
            when: ErrorMatch {
                http_status: Some((404, 404)),
                reads: None,
                error_type: None,
                code: None,
                sub_code: None,
                message_contains: &[],
            },
            outcome: ErrorOutcome::NotFound,
            retry: RetrySafety::No,
            next_step: "Nothing exists with that `{param}`.",
        },
        ErrorRule {
            when: ErrorMatch {
                http_status: None,
                reads: None,
                error_type: None,
                code: None,
                sub_code: None,
                message_contains: &[],
            },
            outcome: ErrorOutcome::Failed,
            retry: RetrySafety::No,
            next_step: "Fix it.",
        },
    ];
    static DEF: ProviderDef = ProviderDef {
        errors: RULES,
        ..crate::tool::BLANK_PROVIDER
    };
    static WRITE: ToolDef = ToolDef {
        name: "transfer",
        effect: Effect::MovesMoney,
        idempotent: true,
        merchant_reference: Some("out_biz_no"),
        query_tool: Some("query_transfer"),
        provider_def: &DEF,
        ..ToolDef::BLANK
    };
    static READ: ToolDef = ToolDef {
        name: "query",
        provider_def: &DEF,
        ..ToolDef::BLANK
    };

    fn up(status: u16, sub_code: Option<&str>, message: &str) -> Upstream {
        Upstream {
            provider: "x",
            http_status: Some(status),
            sub_code: sub_code.map(str::to_string),
            message: Some(message.into()),
            param: Some("id".into()),
            ..Upstream::default()
        }
    }

    #[test]
    fn first_matching_rule_decides_outcome_retry_and_words() {
        let e = tool_error(
            &WRITE,
            up(200, Some("REQUEST_PROCESSING"), "busy"),
            "m".into(),
        );
        assert_eq!(e.outcome, Some(Outcome::Unknown));
        assert!(e.retry_safe);
        assert_eq!(
            e.next_step,
            "Call query_transfer first; retry only with the same `out_biz_no`."
        );
        // The same code on a read is not a write rule: the catch-all applies.
        let e = tool_error(
            &READ,
            up(200, Some("REQUEST_PROCESSING"), "busy"),
            "m".into(),
        );
        assert_eq!((e.outcome, e.next_step.as_str()), (None, "Fix it."));
        let e = tool_error(&READ, up(401, None, "请求签名错误"), "m".into());
        assert_eq!(e.next_step, "Check the key.");
        let e = tool_error(&READ, up(404, None, "No such charge"), "m".into());
        assert!(e.not_found && !e.retry_safe);
        assert_eq!(e.next_step, "Nothing exists with that `id`.");
        assert!(!tool_error(&READ, up(500, None, "x"), "m".into()).not_found);
    }

    #[test]
    fn wildcards_match_at_one_end_only() {
        assert!(pattern("*_PROCESSING", "REQUEST_PROCESSING"));
        assert!(pattern("ACQ.*", "ACQ.SYSTEM_ERROR"));
        assert!(!pattern("ACQ.*", "XACQ.SYSTEM_ERROR"));
        assert!(pattern("ORDER_NOT_EXIST", "ORDER_NOT_EXIST"));
        assert!(!pattern("ORDER_NOT_EXIST", "ORDER_NOT_EXISTS"));
    }
}
