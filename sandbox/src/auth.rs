//! API-key authentication (Bearer or HTTP Basic with the key as user name) and request-signature
//! verification over the raw body ‖ raw request target ‖ timestamp (shared/reference/pingpp.md §1–2).

use axum::http::{HeaderMap, StatusCode, header};
use base64::Engine as _;
use rsa::PublicKey;
use zhifu_signing::pingpp::{SIGNATURE_HEADER, TIMESTAMP_HEADER, verify_request};

use crate::error::{ApiError, ApiResult};

/// Allowed distance between `Pingplusplus-Request-Timestamp` and the sandbox clock. Ping++ does
/// not document one (pingpp.md §9); five minutes is the usual choice.
pub const MAX_CLOCK_SKEW_SECS: i64 = 300;

/// Status for signature failures. Ping++'s answer to a missing signature surfaces in pingpp-java
/// as `InvalidRequestException` (issue #30), which that SDK raises for HTTP 400/404, not 401.
pub const SIGNATURE_ERROR_STATUS: StatusCode = StatusCode::BAD_REQUEST;

/// The key from `Authorization: Bearer <key>` or `Authorization: Basic base64(<key>:)`.
/// A header sent more than once is treated as absent: which copy would a gateway trust?
fn single<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    let mut values = headers.get_all(name).iter();
    let value = values.next()?;
    if values.next().is_some() {
        return None;
    }
    value.to_str().ok().map(str::trim)
}

fn presented_key(headers: &HeaderMap) -> Option<String> {
    let value = single(headers, header::AUTHORIZATION.as_str())?;
    let (scheme, rest) = value.split_once(' ')?;
    let rest = rest.trim();
    if scheme.eq_ignore_ascii_case("bearer") {
        return Some(rest.to_string());
    }
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(rest)
            .ok()?;
        let text = String::from_utf8(decoded).ok()?;
        let user = text.split_once(':').map_or(text.as_str(), |(user, _)| user);
        return Some(user.to_string());
    }
    None
}

/// `sk_test_***`-style masking: never echo a key.
fn mask(key: &str) -> String {
    ["sk_test_", "sk_live_", "rk_test_", "rk_live_"]
        .iter()
        .find(|prefix| key.starts_with(**prefix))
        .map_or_else(|| "***".to_string(), |prefix| format!("{prefix}***"))
}

/// 401 unless the request carries exactly the sandbox's test key.
pub fn check_key(headers: &HeaderMap, expected: &str) -> ApiResult<()> {
    let Some(key) = presented_key(headers) else {
        return Err(ApiError::unauthorized(
            "没有提供 API KEY (或提供了多个 Authorization 头)。请使用 Authorization: Bearer <API KEY>，或 HTTP Basic 认证 (API KEY 作为用户名，密码为空)。",
        ));
    };
    if key == expected {
        return Ok(());
    }
    let mut message = format!("提供了无效的 API KEY: {}。", mask(&key));
    if key.starts_with("sk_live_") {
        message.push_str("本地 sandbox 只支持 test 模式 (sk_test_)，不会产生真实交易。");
    }
    Err(ApiError::unauthorized(message))
}

fn signature_error(message: &str) -> ApiError {
    ApiError::new(SIGNATURE_ERROR_STATUS, "invalid_request_error", message)
}

/// Verifies `Pingplusplus-Signature` over exactly the bytes received. `request_target` is the
/// path plus `?` and the raw query as sent (trailing `?` and the client's encoding kept).
pub fn check_signature(
    headers: &HeaderMap,
    body: &[u8],
    request_target: &str,
    key: &PublicKey,
    now: i64,
) -> ApiResult<()> {
    let header_text = |name: &str| single(headers, name);
    let Some(signature) = header_text(SIGNATURE_HEADER).filter(|s| !s.is_empty()) else {
        // Ping++'s own wording for this case (pingpp-java issue #30).
        return Err(signature_error(
            "没有提供签名串，需要在 header 中加入签名串。",
        ));
    };
    let Some(timestamp) = header_text(TIMESTAMP_HEADER).and_then(|t| t.parse::<u64>().ok()) else {
        return Err(signature_error(
            "缺少请求时间戳 Pingplusplus-Request-Timestamp，或其值不是 Unix 时间戳 (秒)。",
        ));
    };
    if (timestamp as i64 - now).abs() > MAX_CLOCK_SKEW_SECS {
        return Err(signature_error(&format!(
            "请求时间戳 Pingplusplus-Request-Timestamp ({timestamp}) 与服务器时间 ({now}) 相差超过 {MAX_CLOCK_SKEW_SECS} 秒。"
        )));
    }
    if !verify_request(key, body, request_target, timestamp, signature) {
        return Err(signature_error(
            "签名验证失败 (Pingplusplus-Signature)。签名内容为: 请求体原文 + 请求 URI (含 ? 和查询串，与发送时完全一致) + 时间戳。",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn with_auth(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn bearer_and_basic() {
        assert!(check_key(&with_auth("Bearer sk_test_abc"), "sk_test_abc").is_ok());
        assert!(check_key(&with_auth("Basic c2tfdGVzdF9hYmM6"), "sk_test_abc").is_ok()); // "sk_test_abc:"
        assert!(check_key(&with_auth("Basic c2tfdGVzdF9hYmM="), "sk_test_abc").is_ok()); // no colon
        let err = check_key(&with_auth("Bearer sk_test_nope"), "sk_test_abc").unwrap_err();
        assert_eq!(err.message, "提供了无效的 API KEY: sk_test_***。");
        assert_eq!(err.status, StatusCode::UNAUTHORIZED);
        let live = check_key(&with_auth("Bearer sk_live_abc"), "sk_test_abc").unwrap_err();
        assert!(
            live.message
                .starts_with("提供了无效的 API KEY: sk_live_***。")
        );
        assert!(
            !check_key(&HeaderMap::new(), "k")
                .unwrap_err()
                .message
                .contains("sk_")
        );
        let mut twice = with_auth("Bearer sk_test_abc");
        twice.append(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer sk_test_other"),
        );
        assert!(check_key(&twice, "sk_test_abc").is_err());
    }
}
