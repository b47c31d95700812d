//! Pure Alipay OpenAPI v2 protocol functions: request sign content and RSA2 signatures, signed
//! response extraction and verification, notification verification, Beijing timestamps and the
//! page-payment query string. No clock, no I/O: callers pass every input.
//!
//! Rules follow `shared/reference/alipay.md` §2–4 (JAVA-sig `getSignContent` / `rsaCheckV1` /
//! `rsaCheckV2`, EASY `SignContentExtractor`).

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use rsa::{PrivateKey, PublicKey};

use super::{rsa_sha256_sign, rsa_sha256_verify};

/// Root key used by the gateway when it rejects a request before the method runs.
pub const ERROR_RESPONSE: &str = "error_response";

/// Builds the v2 sign content: every parameter except `sign`, entries with an empty key or value
/// dropped, sorted by key (byte order, stable for repeated keys), joined as `k=v` with `&`.
/// Values are used raw: no URL encoding, no JSON escaping.
pub fn sign_content<I, K, V>(params: I) -> String
where
    I: IntoIterator<Item = (K, V)>,
    K: AsRef<str>,
    V: AsRef<str>,
{
    joined(params, &["sign"])
}

/// RSA2 (SHA256withRSA, PKCS#1 v1.5) over the UTF-8 sign content; standard base64 with padding.
pub fn sign_params<I, K, V>(key: &PrivateKey, params: I) -> String
where
    I: IntoIterator<Item = (K, V)>,
    K: AsRef<str>,
    V: AsRef<str>,
{
    rsa_sha256_sign(key, sign_content(params).as_bytes())
}

/// Checks an RSA2 request signature over [`sign_content`] of `params` (a `sign` entry among the
/// params is ignored; pass its value as `signature`).
pub fn verify_params<I, K, V>(key: &PublicKey, params: I, signature: &str) -> bool
where
    I: IntoIterator<Item = (K, V)>,
    K: AsRef<str>,
    V: AsRef<str>,
{
    rsa_sha256_verify(key, sign_content(params).as_bytes(), signature)
}

fn joined<I, K, V>(params: I, exclude: &[&str]) -> String
where
    I: IntoIterator<Item = (K, V)>,
    K: AsRef<str>,
    V: AsRef<str>,
{
    let mut pairs: Vec<(K, V)> = params
        .into_iter()
        .filter(|(k, v)| {
            let k = k.as_ref();
            !k.is_empty() && !v.as_ref().is_empty() && !exclude.contains(&k)
        })
        .collect();
    // `str` ordering is byte order; `sort_by` is stable so repeated keys keep input order.
    pairs.sort_by(|a, b| a.0.as_ref().cmp(b.0.as_ref()));
    let mut out = String::new();
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(k.as_ref());
        out.push('=');
        out.push_str(v.as_ref());
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Responses
// ---------------------------------------------------------------------------------------------

/// The signed part of a v2 gateway response, borrowed from the body exactly as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedResponse<'a> {
    /// `<method with . as _>_response`, or [`ERROR_RESPONSE`].
    pub root_key: String,
    /// The raw root object, `{` through its matching `}`, byte for byte as received. This is what
    /// the signature covers; parse the business fields from THIS text, not from the whole body.
    pub content: &'a str,
    /// Top-level `sign`; `None` when absent or empty (unsigned gateway errors).
    pub sign: Option<String>,
    /// Top-level `alipay_cert_sn` (public-key certificate mode); `None` when absent or empty.
    pub alipay_cert_sn: Option<String>,
}

/// Why a response body could not be split into root object and signature.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResponseError {
    #[error("Alipay response is not valid JSON (garbage or truncated body)")]
    NotJson,
    #[error("Alipay response is not a JSON object")]
    NotObject,
    #[error("Alipay response has neither `{root_key}` nor `error_response`")]
    MissingRoot { root_key: String },
    #[error("Alipay response carries both `{root_key}` and `error_response`")]
    AmbiguousRoot { root_key: String },
    #[error("Alipay response repeats the top-level key `{key}` (possible injection)")]
    DuplicateKey { key: String },
    #[error(
        "Alipay response mentions `{root_key}` again after the signed object (possible injection)"
    )]
    DuplicateRoot { root_key: String },
    #[error(
        "`{root_key}` in the Alipay response is not a JSON object (encrypted responses are not supported)"
    )]
    RootNotObject { root_key: String },
    #[error("`{field}` in the Alipay response is not a JSON string")]
    FieldNotString { field: &'static str },
}

/// The response root key for a method: `alipay.trade.query` → `alipay_trade_query_response`.
pub fn response_root_key(method: &str) -> String {
    format!("{}_response", method.replace('.', "_"))
}

/// Splits a v2 response body into the raw signed root object and the top-level `sign` /
/// `alipay_cert_sn`. The body must be one valid JSON object. The root is
/// [`response_root_key`]`(method)`, falling back to `error_response`. Rejected: a repeated
/// top-level key, both roots at once, and (as EASY does) any occurrence of the root key name after
/// the extracted object.
pub fn extract_signed_response<'a>(
    body: &'a str,
    method: &str,
) -> Result<SignedResponse<'a>, ResponseError> {
    // Full validation first: everything below may then rely on well-formed JSON, and garbage or
    // truncated bodies fail here without reaching the scanner.
    serde_json::from_str::<serde::de::IgnoredAny>(body).map_err(|_| ResponseError::NotJson)?;
    let members = top_level_members(body)?;

    let mut decoded: Vec<(String, usize, usize)> = Vec::with_capacity(members.len());
    for m in &members {
        let key: String =
            serde_json::from_str(&body[m.key.0..m.key.1]).map_err(|_| ResponseError::NotJson)?;
        if decoded.iter().any(|(k, _, _)| *k == key) {
            return Err(ResponseError::DuplicateKey { key });
        }
        decoded.push((key, m.value.0, m.value.1));
    }
    let find = |name: &str| {
        decoded
            .iter()
            .find(|(k, _, _)| k == name)
            .map(|(_, s, e)| (*s, *e))
    };

    let method_root = response_root_key(method);
    let (root_key, (start, end)) = match (find(&method_root), find(ERROR_RESPONSE)) {
        (Some(_), Some(_)) if method_root != ERROR_RESPONSE => {
            return Err(ResponseError::AmbiguousRoot {
                root_key: method_root,
            });
        }
        (Some(span), _) => (method_root, span),
        (None, Some(span)) => (ERROR_RESPONSE.to_string(), span),
        (None, None) => {
            return Err(ResponseError::MissingRoot {
                root_key: method_root,
            });
        }
    };
    let content = &body[start..end];
    if !content.starts_with('{') {
        return Err(ResponseError::RootNotObject { root_key });
    }
    if body[end..].contains(root_key.as_str()) {
        return Err(ResponseError::DuplicateRoot { root_key });
    }
    let string_field = |field: &'static str| -> Result<Option<String>, ResponseError> {
        match find(field) {
            None => Ok(None),
            Some((s, e)) => {
                let v: String = serde_json::from_str(&body[s..e])
                    .map_err(|_| ResponseError::FieldNotString { field })?;
                Ok(if v.is_empty() { None } else { Some(v) })
            }
        }
    };
    Ok(SignedResponse {
        sign: string_field("sign")?,
        alipay_cert_sn: string_field("alipay_cert_sn")?,
        root_key,
        content,
    })
}

/// Checks the RSA2 signature over the raw `content` bytes. `false` when there is no `sign`.
///
/// If the first check fails and `content` contains the JSON escape `\/`, the check is repeated
/// once with every such escape (inside strings only, never a `\\` followed by `/`) replaced by
/// `/`, as the Java SDK does (it retries with `\/` → `/`, because the gateway sometimes signs the
/// unescaped form while the body shows `\/`). Both texts parse to the same JSON value, so the
/// retry cannot change what the caller reads from `content`.
pub fn verify_response(key: &PublicKey, signed: &SignedResponse) -> bool {
    let Some(sign) = signed.sign.as_deref() else {
        return false;
    };
    if rsa_sha256_verify(key, signed.content.as_bytes(), sign) {
        return true;
    }
    match unescape_solidus(signed.content) {
        Some(alt) => rsa_sha256_verify(key, alt.as_bytes(), sign),
        None => false,
    }
}

/// Builds a compact response body the way the gateway does: root object first, optional
/// `alipay_cert_sn`, `sign` last, the signature computed over exactly `content` as emitted.
/// `content` must be a JSON object text (the caller serialises it; avoid emitting `\/`).
pub fn build_response_body(
    key: &PrivateKey,
    root_key: &str,
    content: &str,
    alipay_cert_sn: Option<&str>,
) -> String {
    let sign = rsa_sha256_sign(key, content.as_bytes());
    let quote = |s: &str| serde_json::Value::String(s.to_owned()).to_string();
    let mut body = format!("{{{}:{content}", quote(root_key));
    if let Some(sn) = alipay_cert_sn {
        body.push_str(&format!(",\"alipay_cert_sn\":{}", quote(sn)));
    }
    body.push_str(&format!(",\"sign\":{}}}", quote(&sign)));
    body
}

/// Byte spans (start, end exclusive) of one top-level member: the quoted key and the raw value.
struct Member {
    key: (usize, usize),
    value: (usize, usize),
}

/// Walks the members of the top-level object without decoding values. Braces, brackets and
/// quotes inside strings are skipped by honouring backslash escapes. Byte scanning is sound for
/// UTF-8: every structural character is ASCII and never part of a multi-byte sequence.
fn top_level_members(body: &str) -> Result<Vec<Member>, ResponseError> {
    let b = body.as_bytes();
    let mut i = skip_ws(b, 0);
    if b.get(i) != Some(&b'{') {
        return Err(ResponseError::NotObject);
    }
    i = skip_ws(b, i + 1);
    let mut members = Vec::new();
    if b.get(i) == Some(&b'}') {
        return finish(b, i + 1, members);
    }
    loop {
        if b.get(i) != Some(&b'"') {
            return Err(ResponseError::NotJson);
        }
        let key_end = scan_string(b, i)?;
        let key = (i, key_end);
        i = skip_ws(b, key_end);
        if b.get(i) != Some(&b':') {
            return Err(ResponseError::NotJson);
        }
        let value_start = skip_ws(b, i + 1);
        let value_end = scan_value(b, value_start)?;
        members.push(Member {
            key,
            value: (value_start, value_end),
        });
        i = skip_ws(b, value_end);
        match b.get(i) {
            Some(b',') => i = skip_ws(b, i + 1),
            Some(b'}') => return finish(b, i + 1, members),
            _ => return Err(ResponseError::NotJson),
        }
    }
}

fn finish(b: &[u8], i: usize, members: Vec<Member>) -> Result<Vec<Member>, ResponseError> {
    if skip_ws(b, i) == b.len() {
        Ok(members)
    } else {
        Err(ResponseError::NotJson)
    }
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while matches!(b.get(i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
        i += 1;
    }
    i
}

/// `b[start]` is `"`; returns the index just past the closing quote.
fn scan_string(b: &[u8], start: usize) -> Result<usize, ResponseError> {
    let mut i = start + 1;
    while let Some(&c) = b.get(i) {
        match c {
            b'\\' => i += 2,
            b'"' => return Ok(i + 1),
            _ => i += 1,
        }
    }
    Err(ResponseError::NotJson)
}

/// Returns the index just past the value starting at `start`.
fn scan_value(b: &[u8], start: usize) -> Result<usize, ResponseError> {
    match b.get(start) {
        None => Err(ResponseError::NotJson),
        Some(b'"') => scan_string(b, start),
        Some(b'{' | b'[') => {
            let mut depth = 0usize;
            let mut i = start;
            while let Some(&c) = b.get(i) {
                match c {
                    b'"' => {
                        i = scan_string(b, i)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth = depth.checked_sub(1).ok_or(ResponseError::NotJson)?;
                        if depth == 0 {
                            return Ok(i + 1);
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
            Err(ResponseError::NotJson)
        }
        Some(_) => {
            // Number or literal: runs until a delimiter.
            let mut i = start;
            while let Some(&c) = b.get(i) {
                if matches!(c, b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r') {
                    break;
                }
                i += 1;
            }
            Ok(i)
        }
    }
}

/// Replaces each JSON escape `\/` inside strings with `/`; `None` when there is none.
fn unescape_solidus(content: &str) -> Option<String> {
    let b = content.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut in_string = false;
    let mut changed = false;
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        if in_string && c == b'\\' {
            match b.get(i + 1) {
                Some(b'/') => {
                    out.push(b'/');
                    changed = true;
                }
                Some(&next) => {
                    out.push(c);
                    out.push(next);
                }
                None => out.push(c),
            }
            i += 2;
            continue;
        }
        if c == b'"' {
            in_string = !in_string;
        }
        out.push(c);
        i += 1;
    }
    if changed {
        // Only ASCII bytes were removed, so the text stays valid UTF-8.
        String::from_utf8(out).ok()
    } else {
        None
    }
}

// ---------------------------------------------------------------------------------------------
// Notifications
// ---------------------------------------------------------------------------------------------

/// Which parameters a notification signature leaves out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotifyKind {
    /// Payment / refund notifications (`notify_type=trade_status_sync`): `sign` and `sign_type`
    /// are excluded (Java `rsaCheckV1`).
    Payment,
    /// App-gateway notifications (e.g. `alipay.open.servicemarket.order.notify`): only `sign` is
    /// excluded, `sign_type` is signed (Java `rsaCheckV2`).
    AppGateway,
}

impl NotifyKind {
    fn excluded(self) -> &'static [&'static str] {
        match self {
            NotifyKind::Payment => &["sign", "sign_type"],
            NotifyKind::AppGateway => &["sign"],
        }
    }
}

/// Sign content of a notification. `params` are the form-decoded values exactly as the web
/// framework produced them; they are never percent-decoded again. Empty values are dropped (as
/// Java `AlipaySignature` does), the rest sorted by key and joined `k=v` with `&`.
pub fn notify_sign_content<I, K, V>(params: I, kind: NotifyKind) -> String
where
    I: IntoIterator<Item = (K, V)>,
    K: AsRef<str>,
    V: AsRef<str>,
{
    joined(params, kind.excluded())
}

/// Verifies a notification with the Alipay public key. The signature is the `sign` parameter;
/// `false` when it is missing, empty or given more than once.
pub fn verify_notification<I, K, V>(key: &PublicKey, params: I, kind: NotifyKind) -> bool
where
    I: IntoIterator<Item = (K, V)>,
    K: AsRef<str>,
    V: AsRef<str>,
{
    let params: Vec<(K, V)> = params.into_iter().collect();
    let mut signs = params.iter().filter(|(k, _)| k.as_ref() == "sign");
    let (Some((_, sign)), None) = (signs.next(), signs.next()) else {
        return false;
    };
    let sign = sign.as_ref();
    if sign.is_empty() {
        return false;
    }
    let content = notify_sign_content(params.iter().map(|(k, v)| (k.as_ref(), v.as_ref())), kind);
    rsa_sha256_verify(key, content.as_bytes(), sign)
}

pub use crate::time::{beijing_timestamp, parse_beijing_timestamp};

// ---------------------------------------------------------------------------------------------
// Page payment URL
// ---------------------------------------------------------------------------------------------

/// Everything except RFC 3986 unreserved characters is percent-encoded (space → `%20`).
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Query string for a `gateway.do?…` URL (page/wap pay, GET): the same parameters that were
/// signed (empty keys/values dropped, any `sign` among them replaced by `signature`), plus
/// `sign`, sorted by key, keys and values percent-encoded as UTF-8 with `%20` for space.
pub fn signed_query<I, K, V>(params: I, signature: &str) -> String
where
    I: IntoIterator<Item = (K, V)>,
    K: AsRef<str>,
    V: AsRef<str>,
{
    let mut pairs: Vec<(String, String)> = params
        .into_iter()
        .filter(|(k, v)| {
            let k = k.as_ref();
            !k.is_empty() && !v.as_ref().is_empty() && k != "sign"
        })
        .map(|(k, v)| (k.as_ref().to_owned(), v.as_ref().to_owned()))
        .collect();
    pairs.push(("sign".to_owned(), signature.to_owned()));
    pairs.sort_by(|a, b| a.0.cmp(&b.0));
    pairs
        .iter()
        .map(|(k, v)| {
            format!(
                "{}={}",
                utf8_percent_encode(k, QUERY_VALUE),
                utf8_percent_encode(v, QUERY_VALUE)
            )
        })
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn solidus_unescape_respects_escaped_backslash() {
        assert_eq!(
            unescape_solidus(r#"{"u":"a\/b"}"#).as_deref(),
            Some(r#"{"u":"a/b"}"#)
        );
        // `\\/` is an escaped backslash followed by a plain slash: nothing to change.
        assert_eq!(unescape_solidus(r#"{"u":"a\\/b"}"#), None);
        assert_eq!(unescape_solidus(r#"{"u":"ab"}"#), None);
    }

    #[test]
    fn scanner_spans() {
        let body = r#" { "a" : [1,{"b":"}\"{"}] , "c":true,"d":-1.5e3 } "#;
        let m = top_level_members(body).unwrap();
        let spans: Vec<&str> = m.iter().map(|m| &body[m.value.0..m.value.1]).collect();
        assert_eq!(spans, [r#"[1,{"b":"}\"{"}]"#, "true", "-1.5e3"]);
    }
}
