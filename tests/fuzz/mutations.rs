//! Mutations of a valid argument set: wrong types, null for optional and required fields, empty
//! strings, 100 KB strings, unicode, deep nesting, boundary numbers, unknown keys, missing
//! required fields — applied to a property of the root or of a nested object.

use serde_json::{Map, Value, json};

use crate::Rng;
use crate::values::{schema_type, strings};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Mutation {
    Valid,
    WrongType,
    NullOptional,
    NullRequired,
    EmptyString,
    HugeString,
    Unicode,
    DeepNesting,
    BoundaryNumber,
    UnknownKey,
    MissingRequired,
}

/// Weights: about a third valid, the rest spread over the mutations.
pub const MUTATIONS: &[(Mutation, u32)] = &[
    (Mutation::Valid, 30),
    (Mutation::WrongType, 8),
    (Mutation::NullOptional, 9),
    (Mutation::NullRequired, 6),
    (Mutation::EmptyString, 9),
    (Mutation::HugeString, 5),
    (Mutation::Unicode, 7),
    (Mutation::DeepNesting, 6),
    (Mutation::BoundaryNumber, 8),
    (Mutation::UnknownKey, 6),
    (Mutation::MissingRequired, 6),
];

const UNICODE: &[&str] = &[
    "订单测试支付",
    "💳💰🧧👨‍👩‍👧",
    "مرحبا بالعالم",
    "שלום\u{202E}evil",
    "a\u{0}b",
    "e\u{301}\u{301}\u{301}",
    "\u{FEFF}zero\u{200B}width",
    "𠜎𠜱𡃁",
];

fn boundary_numbers() -> Vec<Value> {
    vec![
        json!(0),
        json!(-1),
        json!(9_007_199_254_740_992u64),
        json!(9_007_199_254_740_993u64),
        json!(9_223_372_036_854_775_808u64),
        json!(i64::MIN),
        json!(1e308),
        json!(100.0),
        // `1e2` on the wire parses to the same f64 as 100.0; serde_json writes it as `100.0`.
        json!(1e2),
        json!(-0.0),
        json!(0.5),
    ]
}

/// Where a mutation can land: a property of the root or of a nested object with `properties`.
#[derive(Debug, Clone)]
struct Slot {
    path: Vec<String>,
    schema: Value,
    required: bool,
}

fn slots(schema: &Value, prefix: &[String], out: &mut Vec<Slot>) {
    let required = strings(schema.get("required"));
    let Some(props) = schema.get("properties").and_then(Value::as_object) else {
        return;
    };
    for (k, s) in props {
        let mut path = prefix.to_vec();
        path.push(k.clone());
        out.push(Slot {
            path: path.clone(),
            schema: s.clone(),
            required: required.contains(k),
        });
        if prefix.is_empty() && s.get("properties").is_some() {
            slots(s, &path, out);
        }
    }
}

/// The object at `path` (created as needed); `None` if something else is in the way.
fn object_at<'a>(root: &'a mut Value, path: &[String]) -> Option<&'a mut Map<String, Value>> {
    let mut here = root;
    for k in path {
        let map = here.as_object_mut()?;
        here = map.entry(k.clone()).or_insert_with(|| json!({}));
    }
    here.as_object_mut()
}

fn set(root: &mut Value, path: &[String], value: Value) {
    let (last, parent) = path.split_last().expect("non-empty path");
    if let Some(map) = object_at(root, parent) {
        map.insert(last.clone(), value);
    }
}

fn remove(root: &mut Value, path: &[String]) {
    let (last, parent) = path.split_last().expect("non-empty path");
    if let Some(map) = object_at(root, parent) {
        map.remove(last);
    }
}

fn nested(depth: usize) -> Value {
    let mut v = json!("bottom");
    for _ in 0..depth {
        v = json!({ "n": v });
    }
    v
}

fn wrong_type(schema: &Value, rng: &mut Rng) -> Value {
    let choices = match schema_type(schema) {
        "string" => vec![json!(12345), json!(true), json!([]), json!({})],
        "integer" | "number" => vec![json!("100"), json!(1.5), json!(true), json!([1])],
        "object" => vec![json!("x"), json!([]), json!(1)],
        "array" => vec![json!({}), json!("x")],
        _ => vec![json!("true"), json!(1)],
    };
    rng.pick(&choices).clone()
}

/// One argument set: the mutation applied to a valid base, and a label for reports.
pub fn mutate(
    base: &Value,
    schema: &Value,
    mutation: Mutation,
    rng: &mut Rng,
) -> (Value, String, usize) {
    let mut all = Vec::new();
    slots(schema, &[], &mut all);
    let mut args = base.clone();
    let pick = |rng: &mut Rng, keep: &dyn Fn(&Slot) -> bool| -> Option<Slot> {
        let fit: Vec<&Slot> = all.iter().filter(|s| keep(s)).collect();
        (!fit.is_empty()).then(|| (*rng.pick(&fit)).clone())
    };
    let any = |_: &Slot| true;
    let is = |t: &'static str| move |s: &Slot| schema_type(&s.schema) == t;
    let mut depth = 0;
    let label = match mutation {
        Mutation::Valid => "valid".to_string(),
        Mutation::WrongType => match pick(rng, &any) {
            Some(s) => {
                let v = wrong_type(&s.schema, rng);
                set(&mut args, &s.path, v.clone());
                format!("{} = {v}", s.path.join("."))
            }
            None => unknown_key(&mut args, rng),
        },
        Mutation::NullOptional | Mutation::NullRequired => {
            let want = mutation == Mutation::NullRequired;
            match pick(rng, &|s: &Slot| s.required == want) {
                Some(s) => {
                    set(&mut args, &s.path, Value::Null);
                    format!("{} = null", s.path.join("."))
                }
                None => unknown_key(&mut args, rng),
            }
        }
        Mutation::EmptyString => match pick(rng, &is("string")).or_else(|| pick(rng, &any)) {
            Some(s) => {
                set(&mut args, &s.path, json!(""));
                format!("{} = \"\"", s.path.join("."))
            }
            None => unknown_key(&mut args, rng),
        },
        Mutation::HugeString => match pick(rng, &is("string")).or_else(|| pick(rng, &any)) {
            Some(s) => {
                let unit = *rng.pick(&["A", "长", "💳"]);
                let huge = unit.repeat(100 * 1024 / unit.len());
                set(&mut args, &s.path, json!(huge));
                format!("{} = 100 KB of {unit}", s.path.join("."))
            }
            None => unknown_key(&mut args, rng),
        },
        Mutation::Unicode => match pick(rng, &is("string")).or_else(|| pick(rng, &any)) {
            Some(s) => {
                let sample = *rng.pick(UNICODE);
                let value = match (rng.chance(0.5), args.pointer(&pointer(&s.path))) {
                    (true, Some(Value::String(old))) => format!("{old}{sample}"),
                    _ => sample.to_string(),
                };
                set(&mut args, &s.path, json!(value));
                format!("{} = {value:?}", s.path.join("."))
            }
            None => unknown_key(&mut args, rng),
        },
        Mutation::DeepNesting => {
            depth = *rng.pick(&[20, 40, 64, 100, 110, 120, 127, 150, 200]);
            match pick(rng, &is("object")) {
                Some(s) => {
                    let mut inner = args
                        .pointer(&pointer(&s.path))
                        .filter(|v| v.is_object())
                        .cloned()
                        .unwrap_or_else(|| json!({}));
                    inner["deep"] = nested(depth);
                    set(&mut args, &s.path, inner);
                    format!("{}.deep nested {depth} levels", s.path.join("."))
                }
                None => match pick(rng, &any) {
                    Some(s) => {
                        set(&mut args, &s.path, nested(depth));
                        format!("{} = nested {depth} levels", s.path.join("."))
                    }
                    None => unknown_key(&mut args, rng),
                },
            }
        }
        Mutation::BoundaryNumber => {
            let numeric = |s: &Slot| matches!(schema_type(&s.schema), "integer" | "number");
            match pick(rng, &numeric).or_else(|| pick(rng, &any)) {
                Some(s) => {
                    let v = rng.pick(&boundary_numbers()).clone();
                    set(&mut args, &s.path, v.clone());
                    format!("{} = {v}", s.path.join("."))
                }
                None => unknown_key(&mut args, rng),
            }
        }
        Mutation::UnknownKey => unknown_key(&mut args, rng),
        Mutation::MissingRequired => match pick(rng, &|s: &Slot| s.required) {
            Some(s) => {
                remove(&mut args, &s.path);
                format!("{} missing", s.path.join("."))
            }
            None => unknown_key(&mut args, rng),
        },
    };
    (args, label, depth)
}

fn pointer(path: &[String]) -> String {
    path.iter().map(|k| format!("/{k}")).collect()
}

fn unknown_key(args: &mut Value, rng: &mut Rng) -> String {
    let value = rng
        .pick(&[json!("x"), json!(1), json!(null), json!({"a": 1})])
        .clone();
    args["zz_unknown"] = value.clone();
    format!("zz_unknown = {value}")
}
