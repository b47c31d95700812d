//! JSON Schema 2020-12 of model values (an argument's value, a response object), built as
//! `serde_json::Value` in a fixed key order. Lowering checks defaults against these; the
//! emitters compose them into the per-tool schema files.

use serde_json::{Map, Value, json};

use super::*;

/// Decimal yuan: up to 9 integer digits, at most 2 decimals, no sign, no leading zeros.
pub const YUAN_PATTERN: &str = r"^(0|[1-9][0-9]{0,8})(\.[0-9]{1,2})?$";

/// A Beijing date `yyyy-MM-dd`.
pub const DATE_PATTERN: &str = r"^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$";

/// The most keys a `metadata` argument may have.
pub const METADATA_MAX_KEYS: usize = 10;

/// The schema of one argument value (without `$schema`).
pub fn node_schema(n: &Node) -> Value {
    let mut s = Map::new();
    let json_type = match n.ty {
        Ty::UnixOrDate => {
            let mut s = json!({
                "type": ["integer", "string"],
                "minimum": n.minimum,
                "maximum": n.maximum,
                "pattern": DATE_PATTERN,
            });
            if let Some(d) = &n.description {
                s["description"] = json!(d);
            }
            return s;
        }
        Ty::String | Ty::AmountYuan => "string",
        Ty::Integer | Ty::AmountFen => "integer",
        Ty::Number => "number",
        Ty::Boolean => "boolean",
        Ty::Object | Ty::Metadata => "object",
        Ty::Array => "array",
    };
    s.insert("type".into(), json!(json_type));
    if let Some(d) = &n.description {
        s.insert("description".into(), json!(d));
    }
    if let Some(e) = &n.enum_values {
        s.insert("enum".into(), Value::Array(e.clone()));
    }
    if n.ty == Ty::AmountYuan {
        s.insert("pattern".into(), json!(YUAN_PATTERN));
    }
    if let Some(p) = &n.pattern {
        s.insert("pattern".into(), json!(p));
    }
    // On an array, the lengths count items.
    let (min_key, max_key) = if n.ty == Ty::Array {
        ("minItems", "maxItems")
    } else {
        ("minLength", "maxLength")
    };
    if let Some(v) = n.min_length {
        s.insert(min_key.into(), json!(v));
    }
    if let Some(v) = n.max_length {
        s.insert(max_key.into(), json!(v));
    }
    if let Some(v) = n.minimum {
        s.insert("minimum".into(), json!(v));
    }
    if let Some(v) = n.maximum {
        s.insert("maximum".into(), json!(v));
    }
    if let Some(d) = &n.default {
        s.insert("default".into(), d.clone());
    }
    if let Some(items) = &n.items {
        s.insert("items".into(), node_schema(items));
    }
    if let Some(v) = &n.values {
        s.insert("additionalProperties".into(), node_schema(v));
    }
    if n.ty == Ty::Metadata {
        s.insert("maxProperties".into(), json!(METADATA_MAX_KEYS));
        s.insert("additionalProperties".into(), json!({ "type": "string" }));
    }
    if let Some(props) = &n.properties {
        let mut p = Map::new();
        let mut required = Vec::new();
        for (name, (node, req)) in props {
            p.insert(name.clone(), node_schema(node));
            if *req {
                required.push(json!(name));
            }
        }
        s.insert("properties".into(), Value::Object(p));
        if !required.is_empty() {
            s.insert("required".into(), Value::Array(required));
        }
        s.insert("additionalProperties".into(), json!(false));
    }
    if let Some(rules) = &n.channel_rules {
        s.insert("allOf".into(), channel_rules_schema(rules));
    }
    Value::Object(s)
}

/// `allOf` entries: for each channel, `if channel == X then extra has its keys and order_no fits`.
pub fn channel_rules_schema(r: &ChannelRules) -> Value {
    let mut all = Vec::new();
    for (code, row) in &r.table {
        let mut then = Map::new();
        let mut props = Map::new();
        if !row.extra.is_empty() {
            then.insert("required".into(), json!([r.extra]));
            props.insert(r.extra.clone(), json!({ "required": row.extra }));
        }
        if let Some([min, max]) = row.order_no {
            props.insert(
                r.order_no.clone(),
                json!({ "minLength": min, "maxLength": max }),
            );
        }
        if props.is_empty() {
            continue;
        }
        then.insert("properties".into(), Value::Object(props));
        all.push(json!({
            "if": {
                "properties": { r.channel.clone(): { "const": code } },
                "required": [r.channel],
            },
            "then": Value::Object(then),
        }));
    }
    Value::Array(all)
}

/// The schema of a response field.
fn field_schema(f: &Field) -> Value {
    let mut s = match &f.shape {
        FieldShape::Json(types) => {
            let mut m = Map::new();
            m.insert(
                "type".into(),
                match types.as_slice() {
                    [one] => json!(one),
                    many => json!(many),
                },
            );
            m
        }
        FieldShape::Object {
            object, nullable, ..
        } => {
            let Value::Object(mut m) = object_schema(object) else {
                unreachable!("object_schema returns an object")
            };
            if *nullable {
                m.insert("type".into(), json!(["object", "null"]));
            }
            m
        }
    };
    if let Some(d) = &f.description {
        // A field's own description wins over the embedded object's.
        s.insert("description".into(), json!(d));
    }
    if let Some(c) = &f.const_value {
        s.insert("const".into(), c.clone());
    }
    if let Some(e) = &f.enum_values {
        s.insert("enum".into(), Value::Array(e.clone()));
    }
    reorder(s)
}

/// Puts `type` and `description` first, as in every other generated schema.
fn reorder(m: Map<String, Value>) -> Value {
    let mut out = Map::new();
    for k in ["type", "description"] {
        if let Some(v) = m.get(k) {
            out.insert(k.into(), v.clone());
        }
    }
    for (k, v) in m {
        if k != "type" && k != "description" {
            out.insert(k, v);
        }
    }
    Value::Object(out)
}

/// The schema of a response object: documented fields, more allowed.
pub fn object_schema(o: &Object) -> Value {
    let mut props = Map::new();
    for (name, f) in &o.fields {
        props.insert(name.clone(), field_schema(f));
    }
    let mut s = Map::new();
    s.insert("type".into(), json!("object"));
    s.insert("description".into(), json!(o.description.trim()));
    s.insert("properties".into(), Value::Object(props));
    if !o.required.is_empty() {
        s.insert("required".into(), json!(o.required));
    }
    Value::Object(s)
}
