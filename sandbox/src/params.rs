//! Request bodies: JSON objects read field by field, with Ping++-style 400s that name the
//! parameter (`charge[amount]` for nested ones) and the metadata limits (10 keys, 1000 chars).

use serde_json::{Map, Value};

use crate::error::{ApiError, ApiResult};

/// Message Ping++ answers for a body that is not JSON (observed, pingpp-java issue #16).
pub const NOT_JSON: &str = "请求体解析失败: 不是一个合法的 json 格式字符串";

/// A JSON object body, or a nested object of one (`prefix` is then e.g. `charge`).
#[derive(Debug, Default, Clone)]
pub struct Body {
    map: Map<String, Value>,
    prefix: Option<String>,
}

impl Body {
    /// Parses raw bytes whatever the Content-Type said. Empty, `{}` and `[]` (PHP's empty array)
    /// are an empty object.
    pub fn parse(raw: &[u8]) -> ApiResult<Self> {
        if raw.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self::default());
        }
        match serde_json::from_slice::<Value>(raw) {
            Ok(Value::Object(map)) => Ok(Self { map, prefix: None }),
            Ok(Value::Array(items)) if items.is_empty() => Ok(Self::default()),
            Ok(_) => Err(ApiError::invalid("请求体必须是一个 JSON 对象")),
            Err(_) => Err(ApiError::invalid(NOT_JSON)),
        }
    }

    /// The display name of a field: `amount` or `charge[amount]`.
    pub fn name(&self, key: &str) -> String {
        match &self.prefix {
            Some(p) => format!("{p}[{key}]"),
            None => key.to_string(),
        }
    }

    fn value(&self, key: &str) -> Option<&Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    /// Rejects unknown fields: `Received unknown parameter: <name>` (observed wording).
    pub fn allow_only(&self, allowed: &[&str]) -> ApiResult<()> {
        match self.map.keys().find(|k| !allowed.contains(&k.as_str())) {
            Some(k) => {
                let name = self.name(k);
                Err(ApiError::param(
                    name.clone(),
                    format!("Received unknown parameter: {name}"),
                ))
            }
            None => Ok(()),
        }
    }

    fn missing(&self, key: &str) -> ApiError {
        let name = self.name(key);
        ApiError::param(name.clone(), format!("缺少必填参数: {name}"))
    }

    fn wrong_type(&self, key: &str, expected: &str) -> ApiError {
        let name = self.name(key);
        ApiError::param(
            name.clone(),
            format!("参数 {name} 的类型不正确，应为 {expected}"),
        )
    }

    /// A required string of 1..=`max_chars` Unicode characters.
    pub fn req_str(&self, key: &str, max_chars: usize) -> ApiResult<String> {
        self.opt_str(key, max_chars)?
            .ok_or_else(|| self.missing(key))
    }

    /// An optional string; empty strings count as absent (as Ping++'s SDKs treat them).
    pub fn opt_str(&self, key: &str, max_chars: usize) -> ApiResult<Option<String>> {
        match self.value(key) {
            None => Ok(None),
            Some(Value::String(s)) if s.is_empty() => Ok(None),
            Some(Value::String(s)) if s.chars().count() > max_chars => {
                let name = self.name(key);
                Err(ApiError::param(
                    name.clone(),
                    format!("参数 {name} 长度不能超过 {max_chars} 个字符"),
                ))
            }
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(self.wrong_type(key, "string")),
        }
    }

    /// A required integer in `min..=max`. Amounts are integers in fen: JSON integers and digit
    /// strings (PHP's docs send `'100'`) are accepted, fractions are not.
    pub fn req_int(&self, key: &str, min: i64, max: i64) -> ApiResult<i64> {
        self.opt_int(key, min, max)?
            .ok_or_else(|| self.missing(key))
    }

    pub fn opt_int(&self, key: &str, min: i64, max: i64) -> ApiResult<Option<i64>> {
        let n = match self.value(key) {
            None => return Ok(None),
            Some(Value::Number(n)) => n.as_i64(),
            Some(Value::String(s)) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
                s.parse().ok()
            }
            Some(_) => None,
        };
        let Some(n) = n else {
            return Err(self.wrong_type(key, "整数 (integer)"));
        };
        if n < min || n > max {
            let name = self.name(key);
            return Err(ApiError::param(
                name.clone(),
                format!("参数 {name} 的取值范围是 {min} 到 {max}，收到: {n}"),
            ));
        }
        Ok(Some(n))
    }

    /// A nested object, read with the same checks and `key[...]` names.
    pub fn opt_object(&self, key: &str) -> ApiResult<Option<Body>> {
        match self.value(key) {
            None => Ok(None),
            Some(Value::Object(map)) => Ok(Some(Body {
                map: map.clone(),
                prefix: Some(self.name(key)),
            })),
            Some(Value::Array(items)) if items.is_empty() => Ok(Some(Body {
                map: Map::new(),
                prefix: Some(self.name(key)),
            })),
            Some(_) => Err(self.wrong_type(key, "object")),
        }
    }

    /// An optional boolean.
    pub fn opt_bool(&self, key: &str) -> ApiResult<Option<bool>> {
        match self.value(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(self.wrong_type(key, "boolean")),
        }
    }

    /// A required array of 1..=`max` objects, each read with `key[i][...]` names.
    pub fn req_list(&self, key: &str, max: usize) -> ApiResult<Vec<Body>> {
        let items = match self.value(key) {
            None => return Err(self.missing(key)),
            Some(Value::Array(items)) => items,
            Some(_) => return Err(self.wrong_type(key, "array")),
        };
        let name = self.name(key);
        if items.is_empty() || items.len() > max {
            return Err(ApiError::param(
                name.clone(),
                format!("{name} 必须包含 1 到 {max} 项，收到 {} 项", items.len()),
            ));
        }
        items
            .iter()
            .enumerate()
            .map(|(i, item)| match item {
                Value::Object(map) => Ok(Body {
                    map: map.clone(),
                    prefix: Some(format!("{name}[{i}]")),
                }),
                _ => Err(ApiError::param(
                    format!("{name}[{i}]"),
                    format!("{name}[{i}] 的类型不正确，应为 object"),
                )),
            })
            .collect()
    }

    /// A string of at most `max_bytes` UTF-8 bytes (WeChat and bank channels count bytes).
    pub fn check_bytes(&self, key: &str, value: &str, max_bytes: usize) -> ApiResult<()> {
        if value.len() <= max_bytes {
            return Ok(());
        }
        let name = self.name(key);
        Err(ApiError::param(
            name.clone(),
            format!(
                "参数 {name} 不能超过 {max_bytes} 个字节，收到 {} 个",
                value.len()
            ),
        ))
    }

    /// The object as JSON with its keys sorted at every level: two requests with the same
    /// parameters have the same text, whatever order the client wrote them in.
    pub fn fingerprint(&self) -> String {
        canonical(&Value::Object(self.map.clone()))
    }

    pub fn req_object(&self, key: &str) -> ApiResult<Body> {
        self.opt_object(key)?.ok_or_else(|| self.missing(key))
    }

    /// Any JSON value, unchecked (for pass-through fields like `source`).
    pub fn raw(&self, key: &str) -> Option<&Value> {
        self.value(key)
    }

    pub fn into_map(self) -> Map<String, Value> {
        self.map
    }

    /// `metadata`: an object of at most 10 keys whose keys and values total ≤ 1000 characters
    /// (seed 002 "Metadata"). Values are kept as sent; non-string values count by their JSON text.
    pub fn metadata(&self) -> ApiResult<Option<Map<String, Value>>> {
        let Some(body) = self.opt_object("metadata")? else {
            return Ok(None);
        };
        let name = self.name("metadata");
        let map = body.into_map();
        if map.len() > 10 {
            return Err(ApiError::param(
                name.clone(),
                format!("{name} 最多可以有 10 个键值对，收到 {} 个", map.len()),
            ));
        }
        let total: usize = map
            .iter()
            .map(|(k, v)| {
                k.chars().count()
                    + match v {
                        Value::String(s) => s.chars().count(),
                        other => other.to_string().chars().count(),
                    }
            })
            .sum();
        if total > 1000 {
            return Err(ApiError::param(
                name.clone(),
                format!("{name} 的数据总长度不能超过 1000 个字符，收到 {total} 个"),
            ));
        }
        Ok(Some(map))
    }
}

/// JSON text with object keys sorted at every level.
pub fn canonical(value: &Value) -> String {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let fields: Vec<String> = keys
                .into_iter()
                .map(|k| format!("{}:{}", Value::from(k.as_str()), canonical(&map[k])))
                .collect();
            format!("{{{}}}", fields.join(","))
        }
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(canonical).collect();
            format!("[{}]", items.join(","))
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(text: &str) -> Body {
        Body::parse(text.as_bytes()).unwrap()
    }

    #[test]
    fn parse_accepts_empty_and_php_empty_array_and_rejects_garbage() {
        assert!(body("").raw("x").is_none());
        assert!(body("[]").raw("x").is_none());
        assert_eq!(Body::parse(b"{oops").unwrap_err().message, NOT_JSON);
        assert_eq!(Body::parse(b"amount=1").unwrap_err().message, NOT_JSON);
    }

    #[test]
    fn integers_only_for_amounts() {
        let b = body(r#"{"a": 100, "b": "250", "c": 1.5, "d": "1.5", "e": 0}"#);
        assert_eq!(b.req_int("a", 1, 10_000).unwrap(), 100);
        assert_eq!(b.req_int("b", 1, 10_000).unwrap(), 250);
        assert!(b.req_int("c", 1, 10_000).is_err());
        assert!(b.req_int("d", 1, 10_000).is_err());
        assert_eq!(
            b.req_int("e", 1, 10).unwrap_err().param.as_deref(),
            Some("e")
        );
        assert!(
            b.req_int("missing", 1, 10)
                .unwrap_err()
                .message
                .contains("missing")
        );
    }

    #[test]
    fn nested_names_and_unknown_parameters() {
        let b = body(r#"{"charge": {"amount": 1, "colour": "red"}}"#);
        let charge = b.req_object("charge").unwrap();
        let err = charge.allow_only(&["amount"]).unwrap_err();
        assert_eq!(err.message, "Received unknown parameter: charge[colour]");
        assert_eq!(err.param.as_deref(), Some("charge[colour]"));
    }

    #[test]
    fn lists_and_fingerprints() {
        let b = body(r#"{"r": [{"a": 1, "b": 2}, {"a": 3}], "x": true}"#);
        let items = b.req_list("r", 5).unwrap();
        assert_eq!(items[1].name("a"), "r[1][a]");
        assert_eq!(b.opt_bool("x").unwrap(), Some(true));
        assert_eq!(b.req_list("x", 5).unwrap_err().param.as_deref(), Some("x"));
        assert!(body(r#"{"r": []}"#).req_list("r", 5).is_err());
        let reordered = body(r#"{"x": true, "r": [{"b": 2, "a": 1}, {"a": 3}]}"#);
        assert_eq!(b.fingerprint(), reordered.fingerprint());
        assert_ne!(
            b.fingerprint(),
            body(r#"{"x": false, "r": []}"#).fingerprint()
        );
    }

    #[test]
    fn metadata_limits() {
        let eleven: Map<String, Value> = (0..11)
            .map(|i| (format!("k{i}"), Value::from("v")))
            .collect();
        let b = body(&serde_json::json!({ "metadata": eleven }).to_string());
        assert_eq!(b.metadata().unwrap_err().param.as_deref(), Some("metadata"));
        let long = body(&serde_json::json!({ "metadata": { "k": "x".repeat(1000) } }).to_string());
        assert!(long.metadata().is_err());
        let ok = body(&serde_json::json!({ "metadata": { "k": "x".repeat(999) } }).to_string());
        assert_eq!(ok.metadata().unwrap().unwrap().len(), 1);
    }
}
