//! Values that satisfy a JSON Schema (2020-12, the keywords the generated schemas use): types,
//! `const`, `enum`, lengths, patterns, bounds, `properties`/`required`/`additionalProperties`,
//! `items`, and the conditional rules (`allOf` of `if`/`then`, `anyOf` of `required`).

use std::collections::HashMap;

use serde_json::{Map, Value, json};

use crate::Rng;
use crate::pattern::{WIDE, gen_re, parse_pattern};

/// Compiled sub-schemas (`if` conditions, `then` constraints), compiled once per text.
#[derive(Default)]
pub struct Validators(HashMap<String, jsonschema::Validator>);

impl Validators {
    pub fn valid(&mut self, schema: &Value, value: &Value) -> bool {
        self.0
            .entry(schema.to_string())
            .or_insert_with(|| jsonschema::draft202012::new(schema).expect("sub-schema compiles"))
            .is_valid(value)
    }
}

pub struct Gen<'a> {
    pub rng: &'a mut Rng,
    pub validators: &'a mut Validators,
}

pub fn schema_type(schema: &Value) -> &str {
    match schema.get("type").and_then(Value::as_str) {
        Some(t) => t,
        None if schema.get("properties").is_some() || schema.get("required").is_some() => "object",
        None => "string",
    }
}

/// `base` with `extra`'s keywords on top (`required` lists joined).
fn merged(base: Option<&Value>, extra: Option<&Value>) -> Value {
    let mut out = base.cloned().unwrap_or_else(|| json!({}));
    if let (Value::Object(out), Some(Value::Object(extra))) = (&mut out, extra) {
        for (k, v) in extra {
            match (k.as_str(), out.get_mut(k)) {
                ("required", Some(Value::Array(have))) => {
                    have.extend(v.as_array().cloned().unwrap_or_default())
                }
                _ => {
                    out.insert(k.clone(), v.clone());
                }
            }
        }
    }
    out
}

pub fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

impl Gen<'_> {
    pub fn value(&mut self, schema: &Value) -> Value {
        if let Some(c) = schema.get("const") {
            return c.clone();
        }
        if let Some(Value::Array(choices)) = schema.get("enum") {
            return self.rng.pick(choices).clone();
        }
        match schema_type(schema) {
            "object" => self.object(schema),
            "integer" => json!(self.integer(schema)),
            "number" => json!(self.integer(schema) as f64 / 4.0),
            "boolean" => json!(self.rng.chance(0.5)),
            "array" => {
                let items = schema.get("items").cloned().unwrap_or(json!({}));
                let n = self.rng.range(0, 3);
                Value::Array((0..n).map(|_| self.value(&items)).collect())
            }
            _ => json!(self.string(schema)),
        }
    }

    fn integer(&mut self, schema: &Value) -> i64 {
        let min = schema.get("minimum").and_then(Value::as_i64).unwrap_or(0);
        let max = schema
            .get("maximum")
            .and_then(Value::as_i64)
            .unwrap_or(min.saturating_add(100_000));
        if self.rng.chance(0.2) {
            return *self.rng.pick(&[min, max]);
        }
        self.rng.range(min, max.min(min.saturating_add(100_000)))
    }

    fn string(&mut self, schema: &Value) -> String {
        let min = schema.get("minLength").and_then(Value::as_u64).unwrap_or(0) as usize;
        let max = schema
            .get("maxLength")
            .and_then(Value::as_u64)
            .map(|m| m as usize);
        let fits = |s: &str| {
            let n = s.chars().count();
            n >= min && max.is_none_or(|m| n <= m)
        };
        let mut text = String::new();
        for _ in 0..40 {
            text.clear();
            match schema.get("pattern").and_then(Value::as_str) {
                Some(p) => gen_re(&parse_pattern(p), self.rng, &mut text),
                None => {
                    let hi = max.unwrap_or(min + 24).min(min + 24);
                    let n = self.rng.range(min.max(1) as i64, hi.max(min.max(1)) as i64);
                    for _ in 0..n {
                        text.push(*self.rng.pick(WIDE));
                    }
                }
            }
            if fits(&text) {
                break;
            }
        }
        text
    }

    fn object(&mut self, schema: &Value) -> Value {
        let empty = Map::new();
        let props = schema
            .get("properties")
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        let required = strings(schema.get("required"));
        let mut obj = Map::new();
        for (k, s) in props {
            if required.contains(k) || self.rng.chance(0.5) {
                obj.insert(k.clone(), self.value(s));
            }
        }
        if props.is_empty() {
            let extra = match schema.get("additionalProperties") {
                Some(Value::Bool(false)) => None,
                Some(s @ Value::Object(_)) => Some(s.clone()),
                _ => Some(json!({"type": "string", "maxLength": 24})),
            };
            if let Some(extra) = extra {
                for i in 0..self.rng.range(0, 3) {
                    obj.insert(format!("k{i}"), self.value(&extra));
                }
            }
        }
        for k in &required {
            if !obj.contains_key(k) {
                obj.insert(k.clone(), json!(self.string(&json!({"minLength": 1}))));
            }
        }
        self.conditionals(schema, &mut obj);
        Value::Object(obj)
    }

    /// `allOf` of `if`/`then` and of `anyOf` of `required`: make the object satisfy them.
    fn conditionals(&mut self, schema: &Value, obj: &mut Map<String, Value>) {
        let mut parts: Vec<Value> = schema
            .get("allOf")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        // A root anyOf behaves like one more allOf entry holding it.
        if let Some(any) = schema.get("anyOf") {
            parts.push(json!({ "anyOf": any }));
        }
        for part in &parts {
            if let Some(Value::Array(branches)) = part.get("anyOf") {
                let branch = self.rng.pick(branches).clone();
                self.impose(schema, &branch, obj);
            }
            if let Some(cond) = part.get("if") {
                let holds = self.validators.valid(cond, &Value::Object(obj.clone()));
                let next = if holds {
                    part.get("then")
                } else {
                    part.get("else")
                };
                if let Some(next) = next {
                    self.impose(schema, next, obj);
                }
            }
        }
    }

    /// Makes `obj` meet `part` (its `required` and `properties`), regenerating what fails.
    fn impose(&mut self, schema: &Value, part: &Value, obj: &mut Map<String, Value>) {
        let prop = |k: &str| schema.get("properties").and_then(|p| p.get(k));
        for k in strings(part.get("required")) {
            if !obj.contains_key(&k) {
                let extra = part.get("properties").and_then(|p| p.get(&k));
                let s = merged(prop(&k), extra);
                obj.insert(k.clone(), self.value(&s));
            }
        }
        if let Some(Value::Object(extra)) = part.get("properties") {
            for (k, constraint) in extra {
                let Some(current) = obj.get(k) else { continue };
                if !self.validators.valid(constraint, current) {
                    let s = merged(prop(k), Some(constraint));
                    obj.insert(k.clone(), self.value(&s));
                }
            }
        }
    }
}
