//! Ping++ request signing and webhook verification (shared/reference/pingpp.md §2–3).

use rsa::{PrivateKey, PublicKey};

/// Header carrying the request signature.
pub const SIGNATURE_HEADER: &str = "Pingplusplus-Signature";
/// Header carrying the Unix timestamp that was signed.
pub const TIMESTAMP_HEADER: &str = "Pingplusplus-Request-Timestamp";
/// Header carrying a webhook (or response) signature.
pub const WEBHOOK_SIGNATURE_HEADER: &str = "X-Pingplusplus-Signature";

/// `body ‖ request_target ‖ timestamp`, the exact bytes Ping++ verifies. `request_target` is the
/// path plus `?query` exactly as sent; `body` is empty for GET and DELETE.
pub fn string_to_sign(body: &[u8], request_target: &str, timestamp: u64) -> Vec<u8> {
    let ts = timestamp.to_string();
    let mut out = Vec::with_capacity(body.len() + request_target.len() + ts.len());
    out.extend_from_slice(body);
    out.extend_from_slice(request_target.as_bytes());
    out.extend_from_slice(ts.as_bytes());
    out
}

/// The `Pingplusplus-Signature` value for one request.
pub fn sign_request(key: &PrivateKey, body: &[u8], request_target: &str, timestamp: u64) -> String {
    super::rsa_sha256_sign(key, &string_to_sign(body, request_target, timestamp))
}

/// Checks a request signature the way the gateway does: over the raw bytes received.
pub fn verify_request(
    key: &PublicKey,
    body: &[u8],
    request_target: &str,
    timestamp: u64,
    signature_b64: &str,
) -> bool {
    super::rsa_sha256_verify(
        key,
        &string_to_sign(body, request_target, timestamp),
        signature_b64,
    )
}

/// Signs a webhook body (what Ping++ does with its own key).
pub fn sign_webhook(key: &PrivateKey, raw_body: &[u8]) -> String {
    super::rsa_sha256_sign(key, raw_body)
}

/// Checks an `X-Pingplusplus-Signature` value against the raw webhook body as received.
pub fn verify_webhook(key: &PublicKey, raw_body: &[u8], signature_b64: &str) -> bool {
    super::rsa_sha256_verify(key, raw_body, signature_b64)
}
