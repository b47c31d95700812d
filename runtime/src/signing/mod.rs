//! Pure signing functions: no clock, no I/O. Callers pass every input, including the timestamp.
//!
//! All RSA work goes through [`rsa_sha256_sign`] and [`rsa_sha256_verify`] so the backend can be
//! swapped in one place.

pub mod alipay;
pub mod pingpp;

use base64::Engine as _;
use rsa::pkcs1v15::{Signature, SigningKey, VerifyingKey};
use rsa::sha2::Sha256;
use rsa::signature::{SignatureEncoding, Signer, Verifier};
use rsa::{PrivateKey, PublicKey};

/// base64(RSASSA-PKCS1-v1_5(SHA-256(message))), standard alphabet with padding.
pub fn rsa_sha256_sign(key: &PrivateKey, message: &[u8]) -> String {
    let signing_key = SigningKey::<Sha256>::new(key.clone());
    let signature = signing_key.sign(message);
    base64::engine::general_purpose::STANDARD.encode(signature.to_bytes())
}

/// Checks a base64 RSASSA-PKCS1-v1_5 SHA-256 signature. Missing `=` padding and embedded
/// whitespace are tolerated (some SDK demos strip them); anything else that is not base64 fails.
pub fn rsa_sha256_verify(key: &PublicKey, message: &[u8], signature_b64: &str) -> bool {
    let cleaned: String = signature_b64
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    let trimmed = cleaned.trim_end_matches('=');
    let Ok(bytes) = base64::engine::general_purpose::STANDARD_NO_PAD.decode(trimmed) else {
        return false;
    };
    let Ok(signature) = Signature::try_from(bytes.as_slice()) else {
        return false;
    };
    VerifyingKey::<Sha256>::new(key.clone())
        .verify(message, &signature)
        .is_ok()
}
