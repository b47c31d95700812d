//! Argument validation against the generated schema, exactly as received, before anything is sent.
//!
//! Order: normalise integral floats (`100.0`, `1e2` → `100`) and refuse numbers beyond ±2^53
//! (they cannot be carried exactly) → refuse nesting deeper than the spec's `max_depth` → JSON
//! Schema 2020-12 over the arguments as sent (`null` is a value, never "absent") → the rules a
//! schema cannot say (metadata totals, yuan amounts) → defaults from the spec and from
//! configuration (a required argument the configuration cannot supply is refused). Every failure
//! names the argument.

use std::sync::OnceLock;

use serde_json::{Map, Number, Value};

use crate::config::Config;
use crate::error::{ErrorKind, ToolError, Violation};
use crate::tool::{Kind, ToolDef};

/// Largest magnitude a JSON number may have here: beyond 2^53 - 1, integers stop being exact in
/// the IEEE doubles that many JSON implementations (and the gateways' SDKs) use.
pub const MAX_EXACT_INTEGER: u64 = (1 << 53) - 1;

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
        let mut value = Value::Object(args);
        let mut violations = Vec::new();
        normalise_numbers(&mut value, &mut String::new(), &mut violations);
        check_depth(
            &value,
            tool.max_depth,
            0,
            &mut String::new(),
            &mut violations,
        );
        if violations.is_empty() {
            let validator = self.get(index, tool)?;
            violations.extend(validator.iter_errors(&value).map(|e| violation(tool, &e)));
        }
        if !violations.is_empty() {
            return Err(invalid_many(violations));
        }
        let Value::Object(mut args) = value else {
            unreachable!("built from a map")
        };
        for param in tool.params {
            match (param.kind, args.get(param.name)) {
                (Kind::Metadata, Some(Value::Object(meta))) => {
                    check_metadata(tool, param, meta, &args)?
                }
                (Kind::AmountYuan, Some(Value::String(text))) => check_yuan(param.name, text)?,
                _ => {}
            }
        }
        fill_defaults(tool, &mut args, config)?;
        if tool.pagination == crate::tool::Pagination::Cursor
            && let Some(created) = args.get_mut("created")
        {
            crate::composite::charges::dates_to_unix(created)?;
        }
        Ok(args)
    }
}

/// Integral floats become integers (`100.0` → `100`: JSON Schema counts them as integers, and the
/// gateways must receive the integer); numbers beyond ±[`MAX_EXACT_INTEGER`] are violations.
fn normalise_numbers(value: &mut Value, path: &mut String, out: &mut Vec<Violation>) {
    match value {
        Value::Number(n) => {
            let exact = if let Some(u) = n.as_u64() {
                u <= MAX_EXACT_INTEGER
            } else if let Some(i) = n.as_i64() {
                i.unsigned_abs() <= MAX_EXACT_INTEGER
            } else {
                let f = n.as_f64().unwrap_or(f64::INFINITY);
                let ok = f.is_finite() && f.abs() <= MAX_EXACT_INTEGER as f64;
                if ok && f.fract() == 0.0 {
                    // The range check above makes the cast exact; -0.0 becomes 0.
                    *n = Number::from(f as i64);
                }
                ok
            };
            if !exact {
                out.push(too_large(path, &n.to_string()));
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                let len = path.len();
                push_segment(path, &i.to_string());
                normalise_numbers(item, path, out);
                path.truncate(len);
            }
        }
        Value::Object(map) => {
            for (k, item) in map.iter_mut() {
                let len = path.len();
                push_segment(path, k);
                normalise_numbers(item, path, out);
                path.truncate(len);
            }
        }
        _ => {}
    }
}

fn too_large(path: &str, shown: &str) -> Violation {
    let shown: String = shown.chars().take(40).collect();
    Violation {
        field: path.to_string(),
        message: format!(
            "{shown} is out of range: numbers must lie within ±{MAX_EXACT_INTEGER} (2^53 - 1)"
        ),
    }
}

fn push_segment(path: &mut String, segment: &str) {
    if !path.is_empty() {
        path.push('.');
    }
    path.push_str(segment);
}

/// Objects and arrays nested deeper than `max` (the arguments object itself is level 0, a
/// top-level `extra` object level 1) are refused; the first offending path is named.
fn check_depth(
    value: &Value,
    max: u8,
    depth: usize,
    path: &mut String,
    out: &mut Vec<Violation>,
) -> bool {
    let children: Vec<(String, &Value)> = match value {
        Value::Object(map) => map.iter().map(|(k, v)| (k.clone(), v)).collect(),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, v)| (i.to_string(), v))
            .collect(),
        _ => return true,
    };
    if depth > usize::from(max) {
        out.push(Violation {
            field: path.clone(),
            message: format!("is nested deeper than {max} levels of objects and arrays"),
        });
        return false;
    }
    for (key, child) in children {
        let len = path.len();
        push_segment(path, &key);
        let ok = check_depth(child, max, depth + 1, path, out);
        path.truncate(len);
        if !ok {
            return false;
        }
    }
    true
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

/// At most 10 keys and 1000 characters (keys and values) in all, counting the keys other
/// arguments carry into the same object (a `wire` like `metadata.refund_no`), which the caller's
/// metadata may not also set.
pub fn check_metadata(
    tool: &ToolDef,
    param: &crate::tool::Param,
    meta: &Map<String, Value>,
    args: &Map<String, Value>,
) -> Result<(), ToolError> {
    let name = param.name;
    let prefix = format!("{}.", param.wire);
    let mut carried = Vec::new();
    for other in tool.params {
        let Some(key) = other.wire.strip_prefix(&prefix) else {
            continue;
        };
        if meta.contains_key(key) {
            return Err(ToolError::invalid(
                format!("{name}.{key}"),
                format!("is reserved: the server puts `{}` there", other.name),
            ));
        }
        if let Some(v) = args.get(other.name) {
            carried.push((key, v));
        }
    }
    let keys = meta.len() + carried.len();
    if keys > METADATA_MAX_KEYS {
        return Err(ToolError::invalid(
            name,
            format!(
                "has {keys} keys (with those the server adds); at most {METADATA_MAX_KEYS} are allowed"
            ),
        ));
    }
    let chars = |k: &str, v: &Value| {
        k.chars().count()
            + v.as_str()
                .map_or_else(|| v.to_string().chars().count(), |s| s.chars().count())
    };
    let total: usize = meta.iter().map(|(k, v)| chars(k, v)).sum::<usize>()
        + carried.iter().map(|(k, v)| chars(k, v)).sum::<usize>();
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
                // A required argument must exist; an optional one is simply not sent.
                None if param.default_json.is_none() && param.required => {
                    return Err(ToolError::new(
                        ErrorKind::InvalidArguments,
                        format!(
                            "`{}` is required: pass it, or configure {}",
                            param.name,
                            Config::env_name(key.as_str())
                        ),
                        format!(
                            "Pass `{}` explicitly, or ask the operator to set {}.",
                            param.name,
                            Config::env_name(key.as_str())
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
        Param::new("amount", Location::Body, Kind::AmountFen),
        Param {
            required: false,
            default_json: Some("\"cny\""),
            ..Param::new("currency", Location::Body, Kind::String)
        },
        Param {
            wire: "app.id",
            default_from: Some(ConfigKey::PingppAppId),
            ..Param::new("app", Location::Body, Kind::String)
        },
        Param {
            required: false,
            ..Param::new("metadata", Location::Body, Kind::Metadata)
        },
        Param {
            required: false,
            secret: true,
            ..Param::new("code", Location::Body, Kind::String)
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
        amount_param: Some("amount"),
        input_schema: r#"{"type":"object","additionalProperties":false,"required":["amount"],"properties":{"amount":{"type":"integer","minimum":1},"currency":{"type":"string","enum":["cny"]},"app":{"type":"string"},"metadata":{"type":"object","maxProperties":10,"additionalProperties":{"type":"string"}},"code":{"type":"string","minLength":10}}}"#,
        validation_schema: r#"{"type":"object","additionalProperties":false,"required":["amount"],"properties":{"amount":{"type":"integer","minimum":1},"currency":{"type":"string","enum":["cny"]},"app":{"type":"string"},"metadata":{"type":"object","maxProperties":10,"additionalProperties":{"type":"string"}},"code":{"type":"string","minLength":10}}}"#,
        output_schema: r#"{"type":"object"}"#,
        ..ToolDef::BLANK
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
    fn null_and_empty_are_values_not_absence() {
        // `amount: null` once refunded a whole charge: null is checked like any value.
        let e = check(serde_json::json!({"amount": null}), Some("app_1")).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("amount"), "{e:?}");
        let e = check(
            serde_json::json!({"amount": 5, "currency": null}),
            Some("app_1"),
        )
        .unwrap_err();
        assert_eq!(e.field.as_deref(), Some("currency"), "{e:?}");
        let e = check(
            serde_json::json!({"amount": 5, "metadata": ""}),
            Some("app_1"),
        )
        .unwrap_err();
        assert_eq!(e.field.as_deref(), Some("metadata"), "{e:?}");
    }

    #[test]
    fn defaults_fill_omitted_arguments() {
        let args = check(serde_json::json!({"amount": 5}), Some("app_1")).unwrap();
        assert_eq!(args["currency"], "cny");
        assert_eq!(args["app"], "app_1");
        let e = check(serde_json::json!({"amount": 5}), None).unwrap_err();
        assert_eq!(
            e.field.as_deref(),
            Some("app"),
            "a required default_from argument must exist"
        );
        assert!(e.message.contains("PINGPP_APP_ID"), "{}", e.message);
    }

    #[test]
    fn integral_floats_become_integers_and_huge_numbers_are_refused() {
        for sent in [serde_json::json!(100.0), serde_json::json!(1e2)] {
            let args = check(serde_json::json!({"amount": sent}), Some("app_1")).unwrap();
            assert!(args["amount"].is_u64(), "{:?}", args["amount"]);
            assert_eq!(args["amount"], 100);
        }
        let big: Value = serde_json::from_str("9223372036854775808").unwrap();
        for sent in [
            serde_json::json!(1e308),
            big,
            serde_json::json!(9007199254740992u64),
        ] {
            let e = check(serde_json::json!({"amount": sent}), Some("app_1")).unwrap_err();
            assert_eq!(e.field.as_deref(), Some("amount"), "{e:?}");
        }
        let e = check(serde_json::json!({"amount": 1.5}), Some("app_1")).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("amount"));
    }

    #[test]
    fn deep_nesting_is_refused_naming_the_path() {
        let mut deep = serde_json::json!("x");
        for _ in 0..9 {
            deep = serde_json::json!({ "k": deep });
        }
        // Nine nested objects starting at metadata (level 1): the innermost is level 9 > 8.
        let e = check(
            serde_json::json!({"amount": 1, "metadata": deep}),
            Some("app_1"),
        )
        .unwrap_err();
        assert!(
            e.field
                .as_deref()
                .is_some_and(|f| f.starts_with("metadata.k")),
            "{e:?}"
        );
        assert!(e.message.contains("deeper than 8"), "{}", e.message);
    }
}
