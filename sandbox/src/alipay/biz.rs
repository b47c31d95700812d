//! Gateway errors (`code`/`msg`/`sub_code`/`sub_msg`, alipay.md §7), typed access to the
//! `biz_content` object, and yuan amounts (strings with at most two decimals, kept as fen).

use serde_json::{Map, Value};

/// Where an error answer is placed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Root {
    /// Inside `<method>_response` (business errors and most gateway checks).
    Method,
    /// Inside `error_response` (no usable method, and oauth.token failures).
    ErrorResponse,
}

/// One error answer.
#[derive(Debug, Clone)]
pub struct GwError {
    pub code: &'static str,
    pub msg: &'static str,
    pub sub_code: String,
    pub sub_msg: String,
    pub root: Root,
}

pub type GwResult<T> = Result<T, GwError>;

impl GwError {
    pub fn new(
        code: &'static str,
        msg: &'static str,
        sub_code: impl Into<String>,
        sub_msg: impl Into<String>,
    ) -> Self {
        Self {
            code,
            msg,
            sub_code: sub_code.into(),
            sub_msg: sub_msg.into(),
            root: Root::Method,
        }
    }

    /// 40001 Missing Required Arguments.
    pub fn missing(sub_code: &str, sub_msg: &str) -> Self {
        Self::new("40001", "Missing Required Arguments", sub_code, sub_msg)
    }

    /// 40002 Invalid Arguments.
    pub fn invalid(sub_code: &str, sub_msg: impl Into<String>) -> Self {
        Self::new("40002", "Invalid Arguments", sub_code, sub_msg)
    }

    /// 40004 Business Failed with an API-specific sub_code.
    pub fn business(sub_code: &str, sub_msg: impl Into<String>) -> Self {
        Self::new("40004", "Business Failed", sub_code, sub_msg)
    }

    /// 20001 Insufficient Token Permissions (user access tokens).
    pub fn token(sub_code: &str, sub_msg: &str) -> Self {
        Self::new("20001", "Insufficient Token Permissions", sub_code, sub_msg)
    }

    /// 20000 Service Currently Unavailable (injected faults only).
    pub fn unavailable() -> Self {
        Self::new(
            "20000",
            "Service Currently Unavailable",
            "isp.unknow-error",
            "系统繁忙",
        )
    }

    pub fn in_error_response(mut self) -> Self {
        self.root = Root::ErrorResponse;
        self
    }

    /// `{"code","msg","sub_code","sub_msg"}` in that order.
    pub fn content(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("code".into(), self.code.into());
        m.insert("msg".into(), self.msg.into());
        m.insert("sub_code".into(), self.sub_code.clone().into());
        m.insert("sub_msg".into(), self.sub_msg.clone().into());
        m
    }
}

/// `ACQ.INVALID_PARAMETER` (trade APIs).
pub fn acq_invalid(sub_msg: impl Into<String>) -> GwError {
    GwError::business("ACQ.INVALID_PARAMETER", sub_msg)
}

/// `ACQ.TRADE_NOT_EXIST`.
pub fn trade_not_exist() -> GwError {
    GwError::business("ACQ.TRADE_NOT_EXIST", "交易不存在")
}

/// The decoded `biz_content` object. Unknown fields are ignored, as the real gateway does.
#[derive(Debug, Clone, Default)]
pub struct Biz(pub Map<String, Value>);

impl Biz {
    /// A text field: strings as given, numbers and booleans in their JSON form; empty strings
    /// and nulls count as absent.
    pub fn text(&self, key: &str) -> Option<String> {
        match self.0.get(key)? {
            Value::String(s) if s.is_empty() => None,
            Value::String(s) => Some(s.clone()),
            Value::Null => None,
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            other => Some(other.to_string()),
        }
    }

    /// A required text field, or the given error.
    pub fn need(&self, key: &str, err: impl FnOnce(String) -> GwError) -> GwResult<String> {
        self.text(key)
            .ok_or_else(|| err(format!("缺少必选参数 {key}")))
    }

    /// A text field no longer than `max` characters.
    pub fn bounded(
        &self,
        key: &str,
        max: usize,
        err: impl FnOnce(String) -> GwError,
    ) -> GwResult<Option<String>> {
        match self.text(key) {
            Some(v) if v.chars().count() > max => Err(err(format!("参数 {key} 长度超过 {max}"))),
            other => Ok(other),
        }
    }

    /// A nested object (e.g. `payee_info`); absent or not an object → `None`.
    pub fn object(&self, key: &str) -> Option<Biz> {
        match self.0.get(key)? {
            Value::Object(m) => Some(Biz(m.clone())),
            _ => None,
        }
    }
}

/// Parses a yuan amount: digits with at most two decimals (`"15.5"`, `"15.50"`, `"15"`), no sign,
/// no exponent. Returns fen.
pub fn parse_yuan(text: &str) -> Option<i64> {
    let (int, frac) = match text.split_once('.') {
        Some((i, f)) => (i, f),
        None => (text, ""),
    };
    if int.is_empty() || int.len() > 12 || !int.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if frac.len() > 2 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if text.contains('.') && frac.is_empty() {
        return None;
    }
    let int: i64 = int.parse().ok()?;
    let frac: i64 = format!("{frac:0<2}").parse().ok()?;
    Some(int * 100 + frac)
}

/// Fen as yuan with two decimals: `1550` → `"15.50"`, `-4` → `"-0.04"`.
pub fn yuan(fen: i64) -> String {
    let sign = if fen < 0 { "-" } else { "" };
    let abs = fen.unsigned_abs();
    format!("{sign}{}.{:02}", abs / 100, abs % 100)
}

/// Largest amount accepted anywhere: 100000000 yuan (alipay.md §6).
pub const MAX_FEN: i64 = 100_000_000 * 100;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts() {
        assert_eq!(parse_yuan("15.50"), Some(1550));
        assert_eq!(parse_yuan("15.5"), Some(1550));
        assert_eq!(parse_yuan("15"), Some(1500));
        assert_eq!(parse_yuan("0.01"), Some(1));
        for bad in ["", ".5", "1.", "1.234", "-1", "1e3", "1,00", " 1"] {
            assert_eq!(parse_yuan(bad), None, "{bad}");
        }
        assert_eq!(yuan(1550), "15.50");
        assert_eq!(yuan(-4), "-0.04");
        assert_eq!(yuan(0), "0.00");
    }
}
