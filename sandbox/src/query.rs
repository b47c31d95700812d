//! Query strings in Ping++'s bracket notation (`app[id]`, `created[gt]`, `expand[]`), with the
//! brackets either percent-encoded (most SDKs) or literal (Ruby). Java's `expand[0]` indices are
//! read as `expand[]`.

use percent_encoding::percent_decode_str;

use crate::error::{ApiError, ApiResult};

/// Decoded `key=value` pairs in the order received.
#[derive(Debug, Default, Clone)]
pub struct Query {
    pairs: Vec<(String, String)>,
}

fn decode(part: &str) -> String {
    let spaced = part.replace('+', " ");
    percent_decode_str(&spaced).decode_utf8_lossy().into_owned()
}

/// `expand[0]` → `expand[]`; other keys unchanged.
fn normalize_key(key: String) -> String {
    if let Some(open) = key.find('[') {
        let inner = &key[open + 1..key.len().saturating_sub(1)];
        if key.ends_with(']') && !inner.is_empty() && inner.bytes().all(|b| b.is_ascii_digit()) {
            return format!("{}[]", &key[..open]);
        }
    }
    key
}

impl Query {
    /// Parses a raw query string (without the leading `?`). Empty pieces (`a=1&&b=2`) are skipped.
    pub fn parse(raw: Option<&str>) -> Self {
        let pairs = raw
            .unwrap_or("")
            .split('&')
            .filter(|piece| !piece.is_empty())
            .map(|piece| {
                let (k, v) = piece.split_once('=').unwrap_or((piece, ""));
                (normalize_key(decode(k)), decode(v))
            })
            .collect();
        Self { pairs }
    }

    /// The first value for `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Every value for `key` (for `expand[]`).
    pub fn all(&self, key: &str) -> Vec<&str> {
        self.pairs
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// Rejects parameters the endpoint does not know, like the body check does.
    pub fn allow_only(&self, allowed: &[&str]) -> ApiResult<()> {
        match self
            .pairs
            .iter()
            .find(|(k, _)| !allowed.contains(&k.as_str()))
        {
            Some((k, _)) => Err(ApiError::param(
                k.clone(),
                format!("Received unknown parameter: {k}"),
            )),
            None => Ok(()),
        }
    }

    /// An integer parameter; anything else is a 400 naming it.
    pub fn int(&self, key: &str) -> ApiResult<Option<i64>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v
                .trim()
                .parse::<i64>()
                .map(Some)
                .map_err(|_| ApiError::param(key, format!("参数 {key} 必须是整数，收到: {v}"))),
        }
    }

    /// A boolean parameter (`true`/`false`, also `1`/`0`).
    pub fn bool(&self, key: &str) -> ApiResult<Option<bool>> {
        match self.get(key) {
            None => Ok(None),
            Some("true" | "1") => Ok(Some(true)),
            Some("false" | "0") => Ok(Some(false)),
            Some(v) => Err(ApiError::param(
                key,
                format!("参数 {key} 必须是 true 或 false，收到: {v}"),
            )),
        }
    }

    /// Whether `expand[]` asks for `what`.
    pub fn expands(&self, what: &str) -> bool {
        self.all("expand[]").contains(&what) || self.get("expand") == Some(what)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoded_and_literal_brackets_read_the_same() {
        let encoded = Query::parse(Some("app%5Bid%5D=app_1&created%5Bgt%5D=5&expand%5B%5D=app"));
        let literal = Query::parse(Some("app[id]=app_1&created[gt]=5&expand[]=app"));
        for q in [encoded, literal] {
            assert_eq!(q.get("app[id]"), Some("app_1"));
            assert_eq!(q.int("created[gt]").unwrap(), Some(5));
            assert!(q.expands("app"));
        }
    }

    #[test]
    fn java_indices_become_empty_brackets() {
        let q = Query::parse(Some("expand%5B0%5D=app"));
        assert_eq!(q.all("expand[]"), vec!["app"]);
    }

    #[test]
    fn unknown_and_malformed_parameters_are_rejected() {
        let q = Query::parse(Some("limit=x&foo=1"));
        assert_eq!(q.int("limit").unwrap_err().param.as_deref(), Some("limit"));
        assert_eq!(
            q.allow_only(&["limit"]).unwrap_err().param.as_deref(),
            Some("foo")
        );
        assert!(Query::parse(Some("a=1&&b=%E4%B8%AD+x")).get("b") == Some("中 x"));
    }
}
