//! Wire helpers shared by the provider protocols: nesting dotted argument names into JSON
//! objects, and form encoding and decoding.

use serde_json::{Map, Value};

/// Inserts `value` at a dotted `wire` path: `app.id` → `{"app":{"id":value}}` (Ping++ bodies and
/// Alipay's `biz_content`, e.g. `payee_info.identity`). Another argument may already have put a
/// key into the same object (`metadata.refund_no` before `metadata`): objects are merged, the
/// key already there is kept.
pub fn insert_nested(body: &mut Map<String, Value>, wire: &str, value: Value) {
    match wire.split_once('.') {
        None => match (body.get_mut(wire), value) {
            (Some(Value::Object(existing)), Value::Object(new)) => {
                for (k, v) in new {
                    existing.entry(k).or_insert(v);
                }
            }
            (_, value) => {
                body.insert(wire.to_string(), value);
            }
        },
        Some((head, tail)) => {
            let slot = body
                .entry(head.to_string())
                .or_insert_with(|| Value::Object(Map::new()));
            if !slot.is_object() {
                *slot = Value::Object(Map::new());
            }
            if let Value::Object(inner) = slot {
                insert_nested(inner, tail, value);
            }
        }
    }
}

/// Everything but RFC 3986 unreserved characters is percent-encoded (space as `%20`, which
/// every form decoder accepts).
pub const UNRESERVED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// One form or query component, percent-encoded.
pub fn form_encode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, UNRESERVED).to_string()
}

/// Decodes an `application/x-www-form-urlencoded` body once (`+` is a space).
pub fn parse_form(body: &str) -> Result<Vec<(String, String)>, String> {
    let decode = |s: &str| -> Result<String, String> {
        let spaced = s.replace('+', " ");
        percent_encoding::percent_decode_str(&spaced)
            .decode_utf8()
            .map(|c| c.into_owned())
            .map_err(|_| "the form body is not UTF-8 after percent-decoding".to_string())
    };
    body.trim_end_matches(['\r', '\n'])
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            Ok((decode(k)?, decode(v)?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nested_wires_merge_into_one_object() {
        let mut body = Map::new();
        insert_nested(&mut body, "metadata.refund_no", json!("R1"));
        insert_nested(&mut body, "metadata", json!({"a": "1", "refund_no": "X"}));
        insert_nested(&mut body, "app.id", json!("app_1"));
        assert_eq!(
            Value::Object(body),
            json!({"metadata": {"refund_no": "R1", "a": "1"}, "app": {"id": "app_1"}})
        );
    }

    #[test]
    fn forms_round_trip() {
        let pairs = parse_form("a=1&b=%E4%BD%A0+x&c=").unwrap();
        assert_eq!(
            pairs,
            vec![
                ("a".into(), "1".into()),
                ("b".into(), "你 x".into()),
                ("c".into(), "".into())
            ]
        );
        assert_eq!(form_encode("你 x~"), "%E4%BD%A0%20x~");
    }
}
