//! JSON Schema 2020-12 for tool inputs and outputs, built as `serde_json::Value` in a fixed key order.

use serde_json::{Map, Value, json};

use super::model::schema::{METADATA_MAX_KEYS, channel_rules_schema, node_schema, object_schema};
use super::model::*;

/// The dialect every generated schema declares.
pub const DIALECT: &str = "https://json-schema.org/draft/2020-12/schema";

/// The input schema of a tool: root object, closed, every parameter a property.
pub fn input_schema(t: &Tool) -> Value {
    let mut props = Map::new();
    let mut required = Vec::new();
    for p in &t.params {
        let mut s = node_schema(&p.node);
        if let (Some(key), Value::Object(m)) = (&p.default_from, &mut s) {
            let d = m
                .get("description")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            let note = format!("Omit to use the configured `{key}`.");
            let text = if d.is_empty() {
                note
            } else if d.contains(key.as_str()) || d.contains("Defaults to") {
                d
            } else {
                format!("{d} {note}")
            };
            m.insert("description".into(), json!(text));
        }
        if let Value::Object(m) = &mut s {
            reserve_child_keys(m, p, &t.params);
        }
        props.insert(p.name.clone(), s);
        // A required argument the configuration can supply may be left out by the caller.
        if p.required && p.default_from.is_none() {
            required.push(json!(p.name));
        }
    }
    let mut s = Map::new();
    s.insert("$schema".into(), json!(DIALECT));
    s.insert("title".into(), json!(format!("{} arguments", t.name)));
    let mut sentences = rule_sentences(t);
    if let Some(rules) = &t.channel_rules {
        sentences.extend(channel_rule_sentences(rules));
    }
    if !sentences.is_empty() {
        s.insert("description".into(), json!(sentences.join(" ")));
    }
    s.insert("type".into(), json!("object"));
    s.insert("properties".into(), Value::Object(props));
    if !required.is_empty() {
        s.insert("required".into(), Value::Array(required));
    }
    s.insert("additionalProperties".into(), json!(false));
    let mut all = Vec::new();
    if let Some(rules) = &t.channel_rules
        && let Value::Array(entries) = channel_rules_schema(rules)
    {
        all.extend(entries);
    }
    all.extend(t.rules.iter().map(rule_schema));
    if !t.require_any.is_empty() {
        let any: Vec<Value> = t
            .require_any
            .iter()
            .map(|n| json!({ "required": [n] }))
            .collect();
        all.push(json!({ "anyOf": any }));
    }
    if !all.is_empty() {
        s.insert("allOf".into(), Value::Array(all));
    }
    Value::Object(s)
}

/// The keys of an `object` or `metadata` argument that later arguments set (`metadata.refund_no`
/// from `refund_no`), each with the argument that sets it.
pub fn child_keys<'a>(p: &Param, params: &'a [Param]) -> Vec<(String, &'a str)> {
    let prefix = format!("{}.", p.wire);
    params
        .iter()
        .filter(|c| c.location == p.location)
        .filter_map(|c| {
            let rest = c.wire.strip_prefix(&prefix)?;
            let key = rest.split('.').next().unwrap_or(rest);
            Some((key.to_owned(), c.name.as_str()))
        })
        .collect()
}

/// Keeps the caller from giving keys that other arguments set: they are refused by name, a
/// `metadata` argument leaves room for them, and the description says where they come from.
fn reserve_child_keys(m: &mut Map<String, Value>, p: &Param, params: &[Param]) {
    let children = child_keys(p, params);
    if children.is_empty() {
        return;
    }
    let mut keys: Vec<&str> = children.iter().map(|(k, _)| k.as_str()).collect();
    keys.dedup();
    let names = match keys.as_slice() {
        [one] => json!({ "not": { "const": one } }),
        many => json!({ "not": { "enum": many } }),
    };
    m.insert("propertyNames".into(), names);
    if p.node.ty == Ty::Metadata {
        m.insert(
            "maxProperties".into(),
            json!(METADATA_MAX_KEYS.saturating_sub(keys.len())),
        );
    }
    let notes: Vec<String> = children
        .iter()
        .map(|(k, from)| format!("`{k}` is set from the `{from}` argument; do not put it here."))
        .collect();
    let d = m
        .get("description")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let text = std::iter::once(d.to_owned())
        .chain(notes)
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    m.insert("description".into(), json!(text));
}

/// The input schema as published in `tools/list`: the validation schema without root
/// combinators (the Anthropic API rejects a tool whose `input_schema` has a root
/// `allOf`/`anyOf`/`oneOf`); the rules they carry are sentences in its `description`.
pub fn published_input_schema(validate: &Value) -> Value {
    let mut s = validate.clone();
    if let Value::Object(m) = &mut s {
        for key in ["allOf", "anyOf", "oneOf", "if", "then", "else", "not"] {
            m.remove(key);
        }
    }
    s
}

/// `{"if": {when}, "then": {"required": [...]}}` for one conditional requirement.
pub fn rule_schema(r: &Rule) -> Value {
    let mut props = Map::new();
    let mut names = Vec::new();
    for c in &r.when {
        let cond = match c.values.as_slice() {
            [one] => json!({ "const": one }),
            many => json!({ "enum": many }),
        };
        props.insert(c.param.clone(), cond);
        // An omitted argument takes its default: when that meets the condition, absence must too.
        if !c.default_matches {
            names.push(json!(c.param));
        }
    }
    let mut cond = Map::new();
    cond.insert("properties".into(), Value::Object(props));
    if !names.is_empty() {
        cond.insert("required".into(), Value::Array(names));
    }
    json!({
        "if": Value::Object(cond),
        "then": { "required": r.require },
    })
}

/// `` `a`, `b` and `c` `` (or with `or`).
fn ticked(names: &[String], conjunction: &str) -> String {
    let t: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
    match t.as_slice() {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} {conjunction} {last}", init.join(", ")),
    }
}

fn value_text(v: &Value) -> String {
    v.as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| v.to_string())
}

/// The rules of a tool as sentences for a model: the input schema's `description` and the docs.
pub fn rule_sentences(t: &Tool) -> Vec<String> {
    let mut out = Vec::new();
    if !t.require_any.is_empty() {
        out.push(format!(
            "Give at least one of {}.",
            ticked(&t.require_any, "or")
        ));
    }
    for r in &t.rules {
        let conds: Vec<String> = r
            .when
            .iter()
            .map(|c| {
                let name = &c.param;
                let v: Vec<String> = c
                    .values
                    .iter()
                    .map(|v| format!("`{}`", value_text(v)))
                    .collect();
                let omitted = if c.default_matches {
                    " (or omitted)"
                } else {
                    ""
                };
                match v.as_slice() {
                    [one] => format!("`{name}` is {one}{omitted}"),
                    many => format!("`{name}` is one of {}{omitted}", many.join(", ")),
                }
            })
            .collect();
        let verb = if r.require.len() == 1 { "is" } else { "are" };
        out.push(format!(
            "When {}, {} {verb} required.",
            conds.join(" and "),
            ticked(&r.require, "and")
        ));
    }
    out
}

/// The channel table as sentences for a model (the published schema has no root `allOf` to
/// carry it): which `extra` keys and which `order_no` lengths each channel needs, channels with
/// the same requirement grouped, in table order.
pub fn channel_rule_sentences(r: &ChannelRules) -> Vec<String> {
    fn grouped<K: PartialEq>(rows: impl Iterator<Item = (K, String)>) -> Vec<(K, Vec<String>)> {
        let mut groups: Vec<(K, Vec<String>)> = Vec::new();
        for (key, code) in rows {
            match groups.iter_mut().find(|(k, _)| *k == key) {
                Some((_, codes)) => codes.push(code),
                None => groups.push((key, vec![code])),
            }
        }
        groups
    }
    let extra = grouped(
        r.table
            .iter()
            .filter(|(_, row)| !row.extra.is_empty())
            .map(|(code, row)| (row.extra.clone(), code.clone())),
    );
    let lengths = grouped(
        r.table
            .iter()
            .filter_map(|(code, row)| row.order_no.map(|len| (len, code.clone()))),
    );
    let mut out = Vec::new();
    if !extra.is_empty() {
        let parts: Vec<String> = extra
            .iter()
            .map(|(keys, codes)| format!("{} for {}", ticked(keys, "and"), codes.join(", ")))
            .collect();
        out.push(format!(
            "By `{}`, `{}` must carry: {}.",
            r.channel,
            r.extra,
            parts.join("; ")
        ));
    }
    if !lengths.is_empty() {
        let parts: Vec<String> = lengths
            .iter()
            .map(|([min, max], codes)| format!("{min}-{max} for {}", codes.join(", ")))
            .collect();
        out.push(format!(
            "By `{}`, `{}` must have this many characters: {}.",
            r.channel,
            r.order_no,
            parts.join("; ")
        ));
    }
    out
}

/// The input schema of an alias: its argument names with the schemas of the parameters they map
/// to. A decimal-yuan parameter also takes a JSON number under an alias (the other server's
/// `totalAmount: 15.5`); the runtime turns it into the decimal string before validating.
pub fn alias_input_schema(t: &Tool, alias: &Alias) -> Value {
    let mut props = Map::new();
    let mut required = Vec::new();
    for (theirs, ours) in &alias.args {
        let p = t
            .params
            .iter()
            .find(|p| p.name == *ours)
            .expect("checked by lowering");
        let mut s = node_schema(&p.node);
        if let (Ty::AmountYuan, Value::Object(m)) = (p.node.ty, &mut s) {
            m.insert("type".into(), json!(["number", "string"]));
            m.insert("minimum".into(), json!(0.01));
            m.insert("maximum".into(), json!(100_000_000));
        }
        props.insert(theirs.clone(), s);
        if p.required && p.default_from.is_none() {
            required.push(json!(theirs));
        }
    }
    let mut s = Map::new();
    s.insert("$schema".into(), json!(DIALECT));
    s.insert("title".into(), json!(format!("{} arguments", alias.name)));
    s.insert("type".into(), json!("object"));
    s.insert("properties".into(), Value::Object(props));
    if !required.is_empty() {
        s.insert("required".into(), Value::Array(required));
    }
    s.insert("additionalProperties".into(), json!(false));
    Value::Object(s)
}

/// The output schema of a tool (`structuredContent`).
pub fn output_schema(t: &Tool) -> Value {
    let body = match &t.response {
        Response::Object { object, .. } | Response::Inline(object) => object_schema(object),
        Response::ListOf { name, object } => {
            let mut props = Map::new();
            props.insert(
                "object".into(),
                json!({ "type": "string", "const": "list" }),
            );
            props.insert(
                "url".into(),
                json!({ "type": "string", "description": "API path of this list." }),
            );
            props.insert(
                "has_more".into(),
                json!({ "type": "boolean", "description": "Whether more objects remain after this page." }),
            );
            props.insert(
                "data".into(),
                json!({
                    "type": "array",
                    "description": format!("The {name} objects of this page, newest first."),
                    "items": object_schema(object),
                }),
            );
            if t.pagination == PaginationSpec::Cursor {
                props.insert(
                    "next_cursor".into(),
                    json!({
                        "type": ["string", "null"],
                        "description": "Pass as `starting_after` to get the next page; null when `has_more` is false.",
                    }),
                );
            }
            json!({
                "type": "object",
                "description": format!("A page of {name} objects."),
                "properties": props,
                "required": ["object", "has_more", "data"],
            })
        }
    };
    let Value::Object(body) = body else {
        unreachable!("schemas are objects")
    };
    let mut s = Map::new();
    s.insert("$schema".into(), json!(DIALECT));
    s.insert("title".into(), json!(format!("{} result", t.name)));
    s.extend(body);
    Value::Object(s)
}

/// Pretty JSON with 2-space indent and a trailing newline.
pub fn to_text(v: &Value) -> String {
    let mut s = serde_json::to_string_pretty(v).expect("JSON values serialize");
    s.push('\n');
    s
}
