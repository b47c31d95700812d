//! RSA key loading: PKCS#1 or PKCS#8, PEM (also with one-line bodies) or bare base64 DER.
//!
//! Errors never echo key material: they say what was expected and where the key came from.

use base64::Engine as _;
use rsa::pkcs1::{DecodeRsaPrivateKey, DecodeRsaPublicKey};
use rsa::pkcs8::{DecodePrivateKey, DecodePublicKey};
use rsa::{PrivateKey, PublicKey};

/// Why a key could not be loaded. `source` names the setting or file, never the key itself.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("{setting}: not PEM or base64 ({reason})")]
    Encoding {
        setting: String,
        reason: &'static str,
    },
    #[error("{setting}: not an RSA {kind} key in PKCS#1 or PKCS#8/SPKI form")]
    Format { setting: String, kind: &'static str },
    #[error("{setting}: cannot read file {path}: {err}")]
    Io {
        setting: String,
        path: String,
        err: std::io::Error,
    },
}

/// Strips PEM armour lines and all whitespace, then base64-decodes the body. Accepts one-line PEM
/// bodies (as the Alipay key tool writes them) and bare base64 without armour.
fn der_from_text(text: &str, source: &str) -> Result<(Vec<u8>, Option<String>), KeyError> {
    let text = text.trim_start_matches('\u{feff}');
    let mut label = None;
    let mut body = String::with_capacity(text.len());
    // PEM armour may sit on its own lines or share a line with the body.
    let mut rest = text;
    while let Some(start) = rest.find("-----") {
        body.push_str(&rest[..start]);
        let after = &rest[start + 5..];
        let Some(end) = after.find("-----") else {
            return Err(KeyError::Encoding {
                setting: source.into(),
                reason: "unterminated PEM armour line",
            });
        };
        let armour = &after[..end];
        if let Some(l) = armour.strip_prefix("BEGIN ") {
            label = Some(l.trim().to_string());
        }
        rest = &after[end + 5..];
    }
    body.push_str(rest);
    body.retain(|c| !c.is_whitespace());
    if body.is_empty() {
        return Err(KeyError::Encoding {
            setting: source.into(),
            reason: "empty",
        });
    }
    let der = base64::engine::general_purpose::STANDARD
        .decode(body.as_bytes())
        .map_err(|_| KeyError::Encoding {
            setting: source.into(),
            reason: "invalid base64",
        })?;
    Ok((der, label))
}

/// Parses a private key from text: PKCS#1 (`RSA PRIVATE KEY`) or PKCS#8 (`PRIVATE KEY`), PEM or bare base64.
pub fn private_key_from_text(text: &str, source: &str) -> Result<PrivateKey, KeyError> {
    let (der, label) = der_from_text(text, source)?;
    let parsed = match label.as_deref() {
        Some("RSA PRIVATE KEY") => PrivateKey::from_pkcs1_der(&der).ok(),
        Some("PRIVATE KEY") => PrivateKey::from_pkcs8_der(&der).ok(),
        _ => PrivateKey::from_pkcs8_der(&der)
            .ok()
            .or_else(|| PrivateKey::from_pkcs1_der(&der).ok()),
    };
    parsed.ok_or_else(|| KeyError::Format {
        setting: source.into(),
        kind: "private",
    })
}

/// Parses a public key from text: SPKI (`PUBLIC KEY`) or PKCS#1 (`RSA PUBLIC KEY`), PEM or bare base64.
pub fn public_key_from_text(text: &str, source: &str) -> Result<PublicKey, KeyError> {
    let (der, label) = der_from_text(text, source)?;
    let parsed = match label.as_deref() {
        Some("RSA PUBLIC KEY") => PublicKey::from_pkcs1_der(&der).ok(),
        Some("PUBLIC KEY") => PublicKey::from_public_key_der(&der).ok(),
        _ => PublicKey::from_public_key_der(&der)
            .ok()
            .or_else(|| PublicKey::from_pkcs1_der(&der).ok()),
    };
    parsed.ok_or_else(|| KeyError::Format {
        setting: source.into(),
        kind: "public",
    })
}

/// Reads a key file; `source` names the setting that pointed at it.
pub fn read_key_file(path: &std::path::Path, source: &str) -> Result<String, KeyError> {
    std::fs::read_to_string(path).map_err(|err| KeyError::Io {
        setting: source.into(),
        path: path.display().to_string(),
        err,
    })
}
