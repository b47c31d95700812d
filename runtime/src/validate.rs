//! Argument validation against the generated input schema, before anything is sent.
//!
//! Order: drop `null`/`""` for optional arguments (clients send them for "not given") → JSON Schema
//! 2020-12 → the rules a schema cannot say (metadata total length) → fill defaults from the spec and
//! from configuration. Every failure names the argument.

use std::sync::OnceLock;

use serde_json::{Map, Value};

use crate::config::Config;
use crate::error::{ErrorKind, ToolError, Violation};
use crate::tool::{Kind, ToolDef};

/// Metadata limits of Ping++ (seed 002): at most 10 keys, 1000 characters in all.
pub const METADATA_MAX_KEYS: usize = 10;
pub const METADATA_MAX_CHARS: usize = 1000;

/// One compiled validator per tool, built on first use.
pub struct Validators {
    compiled: Vec<OnceLock<Result<jsonschema::Validator, String>>>,
}

impl Validators {
    pub fn new(count: usize) -> Self {
        Validators {
            compiled: (0..count).map(|_| OnceLock::new()).collect(),
        }
    }

    fn get(&self, index: usize, tool: &ToolDef) -> Result<&jsonschema::Validator, ToolError> {
        self.compiled[index]
            .get_or_init(|| {
                let schema: Value =
                    serde_json::from_str(tool.validation_schema).map_err(|e| e.to_string())?;
                jsonschema::draft202012::new(&schema).map_err(|e| e.to_string())
            })
            .as_ref()
            .map_err(|e| {
                ToolError::new(
                    ErrorKind::Configuration,
                    format!("the input schema of {} does not compile: {e}", tool.name),
                    "This is a bug in the generated code; report it.",
                )
            })
    }

    /// Validates and completes `args` for `tool` (the tool at `index` of the table).
    pub fn check(
        &self,
        index: usize,
        tool: &ToolDef,
        args: Map<String, Value>,
        config: &Config,
    ) -> Result<Map<String, Value>, ToolError> {
        let mut args = strip_empty_optionals(tool, args);
        let value = Value::Object(std::mem::take(&mut args));
        let validator = self.get(index, tool)?;
        let violations: Vec<Violation> = validator
            .iter_errors(&value)
            .map(|e| violation(tool, &e))
            .collect();
        if !violations.is_empty() {
            return Err(invalid_many(violations));
        }
        let Value::Object(mut args) = value else {
            unreachable!("built from a map")
        };
        for param in tool.params {
            match (param.kind, args.get(param.name)) {
                (Kind::Metadata, Some(Value::Object(meta))) => check_metadata(param.name, meta)?,
                (Kind::AmountYuan, Some(Value::String(text))) => check_yuan(param.name, text)?,
                _ => {}
            }
        }
        fill_defaults(tool, &mut args, config)?;
        Ok(args)
    }
}

/// Optional arguments sent as `null` or `""` count as absent (many clients send them that way).
fn strip_empty_optionals(tool: &ToolDef, mut args: Map<String, Value>) -> Map<String, Value> {
    args.retain(|name, value| {
        let optional = tool.param(name).is_some_and(|p| !p.required);
        !(optional && (value.is_null() || value.as_str() == Some("")))
    });
    args
}

/// Turns one schema error into "field: message", never echoing a secret argument's value.
fn violation(tool: &ToolDef, error: &jsonschema::ValidationError<'_>) -> Violation {
    let path = error.instance_path().to_string();
    let mut segments = path
        .trim_start_matches('/')
        .split('/')
        .filter(|s| !s.is_empty());
    let top = segments.next().map(str::to_string);
    let mut message = error.to_string();
    let field = match &top {
        Some(_) => path.trim_start_matches('/').replace('/', "."),
        None => required_or_additional(&message).unwrap_or_default(),
    };
    let top_name = field.split('.').next().unwrap_or_default();
    if tool.param(top_name).is_some_and(|p| p.secret) {
        message = "invalid value (not shown: the argument is secret)".into();
    } else if message.len() > 300 {
        let cut = message
            .char_indices()
            .take_while(|(i, _)| *i < 300)
            .last()
            .map_or(0, |(i, c)| i + c.len_utf8());
        message = format!("{}…", &message[..cut]);
    }
    Violation { field, message }
}

/// For errors at the root (missing or unexpected properties), the property named in the message.
fn required_or_additional(message: &str) -> Option<String> {
    let start = message.find(['"', '\''])?;
    let quote = message[start..].chars().next()?;
    let rest = &message[start + 1..];
    let end = rest.find(quote)?;
    Some(rest[..end].to_string())
}

fn invalid_many(violations: Vec<Violation>) -> ToolError {
    let first = &violations[0];
    let summary = violations
        .iter()
        .map(|v| {
            if v.field.is_empty() {
                v.message.clone()
            } else {
                format!("`{}`: {}", v.field, v.message)
            }
        })
        .collect::<Vec<_>>()
        .join("; ");
    let mut err = ToolError::invalid(first.field.clone(), first.message.clone());
    err.message = format!("invalid arguments: {summary}");
    err.next_step = "Fix the named arguments and call the tool again; nothing was sent.".into();
    if first.field.is_empty() {
        err.field = None;
    }
    err.violations = violations.into_boxed_slice();
    err
}

/// At most 10 keys and 1000 characters (keys and values) in all.
pub fn check_metadata(name: &str, meta: &Map<String, Value>) -> Result<(), ToolError> {
    if meta.len() > METADATA_MAX_KEYS {
        return Err(ToolError::invalid(
            name,
            format!(
                "has {} keys; at most {METADATA_MAX_KEYS} are allowed",
                meta.len()
            ),
        ));
    }
    let total: usize = meta
        .iter()
        .map(|(k, v)| {
            k.chars().count()
                + v.as_str()
                    .map_or_else(|| v.to_string().chars().count(), |s| s.chars().count())
        })
        .sum();
    if total > METADATA_MAX_CHARS {
        return Err(ToolError::invalid(
            name,
            format!("holds {total} characters; at most {METADATA_MAX_CHARS} in all"),
        ));
    }
    Ok(())
}

/// A yuan amount: at most two decimals, within [0.01, 100000000].
pub fn check_yuan(name: &str, text: &str) -> Result<(), ToolError> {
    match crate::money::fen_from_yuan(text) {
        None => Err(ToolError::invalid(
            name,
            format!(
                "\"{text}\" is not a yuan amount like \"15.50\" (digits, at most two decimals)"
            ),
        )),
        Some(fen)
            if !(crate::money::ALIPAY_MIN_FEN..=crate::money::ALIPAY_MAX_FEN).contains(&fen) =>
        {
            Err(ToolError::invalid(
                name,
                format!("{text} yuan is outside [0.01, 100000000]"),
            ))
        }
        Some(_) => Ok(()),
    }
}

/// Fills spec defaults and configuration defaults for arguments the caller left out.
fn fill_defaults(
    tool: &ToolDef,
    args: &mut Map<String, Value>,
    config: &Config,
) -> Result<(), ToolError> {
    for param in tool.params {
        if args.contains_key(param.name) {
            continue;
        }
        if let Some(key) = param.default_from {
            match config.lookup(key) {
                Some(v) => {
                    args.insert(param.name.to_string(), Value::String(v.to_string()));
                    continue;
                }
                // A path argument cannot be left out; other arguments are simply not sent.
                None if param.default_json.is_none()
                    && param.location == crate::tool::Location::Path =>
                {
                    return Err(ToolError::new(
                        ErrorKind::InvalidArguments,
                        format!(
                            "`{}` is required: pass it, or configure {}",
                            param.name,
                            Config::env_name(key)
                        ),
                        format!(
                            "Pass `{}` explicitly, or ask the operator to set {}.",
                            param.name,
                            Config::env_name(key)
                        ),
                    )
                    .with_field(param.name));
                }
                None => {}
            }
        }
        if let Some(json) = param.default_json {
            let value = serde_json::from_str(json).map_err(|e| {
                ToolError::new(
                    ErrorKind::Configuration,
                    format!("bad default for {}: {e}", param.name),
                    "Report this bug.",
                )
            })?;
            args.insert(param.name.to_string(), value);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tool::*;

    static PARAMS: &[Param] = &[
        Param {
            name: "amount",
            location: Location::Body,
            wire: "amount",
            kind: Kind::AmountFen,
            required: true,
            default_from: None,
            default_json: None,
            secret: false,
        },
        Param {
            name: "currency",
            location: Location::Body,
            wire: "currency",
            kind: Kind::String,
            required: false,
            default_from: None,
            default_json: Some("\"cny\""),
            secret: false,
        },
        Param {
            name: "app",
            location: Location::Body,
            wire: "app.id",
            kind: Kind::String,
            required: true,
            default_from: Some("pingpp.app_id"),
            default_json: None,
            secret: false,
        },
        Param {
            name: "metadata",
            location: Location::Body,
            wire: "metadata",
            kind: Kind::Metadata,
            required: false,
            default_from: None,
            default_json: None,
            secret: false,
        },
        Param {
            name: "code",
            location: Location::Body,
            wire: "code",
            kind: Kind::String,
            required: false,
            default_from: None,
            default_json: None,
            secret: true,
        },
    ];
    static TOOL: ToolDef = ToolDef {
        name: "t",
        title: "t",
        description: "t",
        provider: Provider::Pingpp,
        effect: Effect::MovesMoney,
        idempotent: false,
        operation: Operation::Rest {
            method: HttpMethod::Post,
            path: "/v1/x",
        },
        params: PARAMS,
        pagination: Pagination::None,
        merchant_reference: None,
        amount_param: Some("amount"),
        query_tool: None,
        payee_param: None,
        reference_conflict: None,
        query_found_field: None,
        checks: &[],
        query_match: None,
        max_depth: 8,
        input_schema: r#"{"type":"object","additionalProperties":false,"required":["amount"],"properties":{"amount":{"type":"integer","minimum":1},"currency":{"type":"string","enum":["cny"]},"app":{"type":"string"},"metadata":{"type":"object","maxProperties":10,"additionalProperties":{"type":"string"}},"code":{"type":"string","minLength":10}}}"#,
        validation_schema: r#"{"type":"object","additionalProperties":false,"required":["amount"],"properties":{"amount":{"type":"integer","minimum":1},"currency":{"type":"string","enum":["cny"]},"app":{"type":"string"},"metadata":{"type":"object","maxProperties":10,"additionalProperties":{"type":"string"}},"code":{"type":"string","minLength":10}}}"#,
        output_schema: r#"{"type":"object"}"#,
    };

    fn cfg(app: Option<&str>) -> Config {
        Config {
            pingpp: Some(crate::config::PingppConfig {
                api_key: crate::config::Secret::new("sk_test_x"),
                app_id: app.map(String::from),
                private_key: None,
                public_key: None,
                api_base: "http://x".into(),
            }),
            ..Config::default()
        }
    }

    fn check(args: Value, app: Option<&str>) -> Result<Map<String, Value>, ToolError> {
        let Value::Object(m) = args else { panic!() };
        Validators::new(1).check(0, &TOOL, m, &cfg(app))
    }

    #[test]
    fn names_the_field() {
        let e = check(serde_json::json!({"amount": 1.5}), Some("app_1")).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("amount"));
        let e = check(serde_json::json!({}), Some("app_1")).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("amount"), "{e:?}");
        let e = check(
            serde_json::json!({"amount": 1, "colour": "x"}),
            Some("app_1"),
        )
        .unwrap_err();
        assert_eq!(e.field.as_deref(), Some("colour"), "{e:?}");
    }

    #[test]
    fn secret_values_are_not_echoed() {
        let e = check(
            serde_json::json!({"amount": 1, "code": "SHORTSECRET"[..5].to_string()}),
            Some("app_1"),
        )
        .unwrap_err();
        assert!(!e.to_value().to_string().contains("SHORT"), "{e:?}");
        assert_eq!(e.field.as_deref(), Some("code"));
    }

    #[test]
    fn metadata_limits() {
        let eleven: Map<String, Value> = (0..11)
            .map(|i| (format!("k{i}"), Value::String("v".into())))
            .collect();
        let e = check(
            serde_json::json!({"amount": 1, "metadata": eleven}),
            Some("app_1"),
        )
        .unwrap_err();
        assert_eq!(e.field.as_deref(), Some("metadata"));
        let long = "x".repeat(600);
        let e = check(
            serde_json::json!({"amount": 1, "metadata": {"a": long, "b": long}}),
            Some("app_1"),
        )
        .unwrap_err();
        assert!(e.message.contains("1202 characters"), "{}", e.message);
    }

    #[test]
    fn defaults_and_empty_optionals() {
        let args = check(
            serde_json::json!({"amount": 5, "currency": null, "metadata": ""}),
            Some("app_1"),
        )
        .unwrap();
        assert_eq!(args["currency"], "cny");
        assert_eq!(args["app"], "app_1");
        assert!(!args.contains_key("metadata"));
        let args = check(serde_json::json!({"amount": 5}), None).unwrap();
        assert!(
            !args.contains_key("app"),
            "an unconfigured default is left out"
        );
    }
}
