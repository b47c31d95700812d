//! Pure signing functions: no clock, no I/O. Callers pass every input, including the timestamp.
//! Also the key and certificate loaders and the Beijing-time calendar the protocols need; the
//! runtime and the sandbox gateways both build on this crate.
//!
//! All RSA work goes through [`rsa_sha256_sign`] and [`rsa_sha256_verify`] so the backend can be
//! swapped in one place.

pub mod alipay;
pub mod cert;
pub mod keys;
pub mod pingpp;
pub mod time;

use base64::Engine as _;
use rsa::pkcs1v15::{Signature, SigningKey, VerifyingKey};
use rsa::sha2::Sha256;
use rsa::signature::{SignatureEncoding, Signer, Verifier};
use rsa::{PrivateKey, PublicKey};
use std::sync::{Arc, Mutex, OnceLock};

/// base64(RSASSA-PKCS1-v1_5(SHA-256(message))), standard alphabet with padding.
///
/// PKCS#1 v1.5 signatures are deterministic, so both backends give byte-identical output (the
/// vector tests pin it): aws-lc-rs when it accepts the key, the pure-Rust `rsa` crate otherwise.
pub fn rsa_sha256_sign(key: &PrivateKey, message: &[u8]) -> String {
    let bytes = match fast_key(key) {
        Some(pair) => {
            let mut out = vec![0u8; pair.public_modulus_len()];
            match pair.sign(
                &aws_lc_rs::signature::RSA_PKCS1_SHA256,
                &aws_lc_rs::rand::SystemRandom::new(),
                message,
                &mut out,
            ) {
                Ok(()) => out,
                Err(_) => rsa_crate_sign(key, message),
            }
        }
        None => {
            tracing::warn!("aws-lc-rs rejected the signing key; signing with the slower rsa crate");
            rsa_crate_sign(key, message)
        }
    };
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn rsa_crate_sign(key: &PrivateKey, message: &[u8]) -> Vec<u8> {
    SigningKey::<Sha256>::new(key.clone())
        .sign(message)
        .to_vec()
}

/// The aws-lc-rs form of `key`, converted once per key (a few keys per process) and kept.
fn fast_key(key: &PrivateKey) -> Option<Arc<aws_lc_rs::signature::RsaKeyPair>> {
    use rsa::pkcs8::EncodePrivateKey;
    use rsa::traits::PublicKeyParts;
    type Cache = Mutex<Vec<(Vec<u8>, Arc<aws_lc_rs::signature::RsaKeyPair>)>>;
    static CACHE: OnceLock<Cache> = OnceLock::new();
    let modulus = key.n().to_be_bytes().to_vec();
    let cache = CACHE.get_or_init(|| Mutex::new(Vec::new()));
    if let Some((_, pair)) = cache.lock().ok()?.iter().find(|(n, _)| *n == modulus) {
        return Some(Arc::clone(pair));
    }
    let der = key.to_pkcs8_der().ok()?;
    let pair = Arc::new(aws_lc_rs::signature::RsaKeyPair::from_pkcs8(der.as_bytes()).ok()?);
    let mut entries = cache.lock().ok()?;
    if entries.len() >= 32 {
        entries.remove(0);
    }
    entries.push((modulus, Arc::clone(&pair)));
    Some(pair)
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
    match fast_public_key(key) {
        Some(public) => public.verify_sig(message, &bytes).is_ok(),
        None => rsa_crate_verify(key, message, &bytes),
    }
}

/// The pure-Rust check, for keys aws-lc-rs does not take (shorter than 2048 bits).
fn rsa_crate_verify(key: &PublicKey, message: &[u8], signature: &[u8]) -> bool {
    let Ok(signature) = Signature::try_from(signature) else {
        return false;
    };
    VerifyingKey::<Sha256>::new(key.clone())
        .verify(message, &signature)
        .is_ok()
}

/// The aws-lc-rs form of a public key, parsed once per key (a few keys per process) and kept.
/// `None` for keys it refuses (RSA below 2048 bits), which the rsa crate then checks.
fn fast_public_key(key: &PublicKey) -> Option<Arc<aws_lc_rs::signature::ParsedPublicKey>> {
    use rsa::pkcs1::EncodeRsaPublicKey;
    use rsa::traits::PublicKeyParts;
    type Cache = Mutex<Vec<(Vec<u8>, Option<Arc<aws_lc_rs::signature::ParsedPublicKey>>)>>;
    static CACHE: OnceLock<Cache> = OnceLock::new();
    let modulus = key.n().to_be_bytes().to_vec();
    let cache = CACHE.get_or_init(|| Mutex::new(Vec::new()));
    if let Some((_, parsed)) = cache.lock().ok()?.iter().find(|(n, _)| *n == modulus) {
        return parsed.clone();
    }
    let der = key.to_pkcs1_der().ok()?;
    let parsed = aws_lc_rs::signature::ParsedPublicKey::new(
        &aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256,
        der.as_bytes(),
    )
    .ok()
    .map(Arc::new);
    let mut entries = cache.lock().ok()?;
    if entries.len() >= 32 {
        entries.remove(0);
    }
    entries.push((modulus, parsed.clone()));
    parsed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verification_backends_make_the_same_decisions() {
        let pem = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../shared/vectors/alipay/keys/app-private-key.pem"
        ))
        .unwrap();
        let private = crate::keys::private_key_from_text(&pem, "test").unwrap();
        let public = private.to_public_key();
        assert!(
            fast_public_key(&public).is_some(),
            "aws-lc-rs takes a 2048-bit key"
        );
        let message = b"alipay_trade_query_response={\"code\":\"10000\"}".to_vec();
        let good = base64::engine::general_purpose::STANDARD
            .decode(rsa_sha256_sign(&private, &message))
            .unwrap();
        // Every single-bit change of the signature, and of the first bytes of the message,
        // is refused by both; the untouched pair is accepted by both.
        let both = |m: &[u8], sig: &[u8]| {
            let b64 = base64::engine::general_purpose::STANDARD.encode(sig);
            let fast = rsa_sha256_verify(&public, m, &b64);
            let pure = rsa_crate_verify(&public, m, sig);
            assert_eq!(fast, pure, "backends disagree");
            fast
        };
        assert!(both(&message, &good));
        for i in 0..good.len() * 8 {
            let mut sig = good.clone();
            sig[i / 8] ^= 1 << (i % 8);
            assert!(!both(&message, &sig), "bit {i} of the signature");
        }
        for i in 0..64 {
            let mut m = message.clone();
            m[i % message.len()] ^= 1 << (i % 8);
            assert!(!both(&m, &good), "bit {i} of the message");
        }
        assert!(
            !both(&message, &good[..good.len() - 1]),
            "a short signature"
        );
        assert!(!both(&message, &[]), "no signature");
    }

    #[test]
    fn aws_lc_backend_takes_the_key_and_matches_the_rsa_crate() {
        let pem = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../shared/vectors/alipay/keys/app-private-key.pem"
        ))
        .unwrap();
        let key = crate::keys::private_key_from_text(&pem, "test").unwrap();
        assert!(fast_key(&key).is_some(), "aws-lc-rs accepts a 2048-bit key");
        let message = b"app_id=2021000122671080&charset=utf-8";
        let fast = rsa_sha256_sign(&key, message);
        let pure = base64::engine::general_purpose::STANDARD.encode(rsa_crate_sign(&key, message));
        assert_eq!(
            fast, pure,
            "PKCS#1 v1.5 is deterministic: both backends agree"
        );
        assert!(rsa_sha256_verify(&key.to_public_key(), message, &fast));
    }
}
