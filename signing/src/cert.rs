//! Alipay public-key certificate mode (公钥证书模式): certificate serial numbers (`app_cert_sn`,
//! `alipay_cert_sn`, `alipay_root_cert_sn`) and the RSA public key inside a certificate.
//!
//! SN = lowercase hex MD5 of (issuer DN as Java's `getIssuerX500Principal().getName()` prints it,
//! i.e. RFC 2253 with the last RDN first, + the serial number in decimal). See
//! `shared/reference/alipay.md` §3. Pure functions: callers read the files. Errors name the
//! setting or file (`source`), never certificate or key bytes.

use base64::Engine as _;
use md5::{Digest as _, Md5};
use rsa::PublicKey;
use rsa::pkcs8::DecodePublicKey;
use x509_cert::Certificate;
use x509_cert::der::{Decode, Encode, Tag, Tagged};
use x509_cert::name::Name;

/// Why a certificate could not be used. `setting` names the setting or file.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    #[error("{setting}: no certificate found (expected PEM `BEGIN CERTIFICATE` blocks or DER)")]
    NoCertificate { setting: String },
    #[error("{setting}: certificate #{index} is not valid base64 PEM")]
    Encoding { setting: String, index: usize },
    #[error("{setting}: certificate #{index} is not a valid X.509 certificate")]
    Der { setting: String, index: usize },
    #[error("{setting}: the certificate does not carry an RSA public key")]
    NotRsa { setting: String },
    #[error("{setting}: the root bundle holds no RSA-signed certificate")]
    NoRsaRoot { setting: String },
}

/// Prefix of the RSA signature algorithm OIDs (`1.2.840.113549.1.1.*`); matched as a string prefix,
/// exactly as the Java and Node SDKs do.
const RSA_SIGNATURE_OID_PREFIX: &str = "1.2.840.113549.1.1";

/// SN of the FIRST certificate in `pem_or_der` (PEM text or raw DER), e.g. `app_cert_sn` from
/// `appCertPublicKey_<appid>.crt` or the expected `alipay_cert_sn` from `alipayCertPublicKey_RSA2.crt`.
pub fn cert_sn(pem_or_der: &[u8], source: &str) -> Result<String, CertError> {
    let certs = parse_certs(pem_or_der, source)?;
    Ok(sn_of(&certs[0]))
}

/// `alipay_root_cert_sn`: every certificate of the bundle in file order, keeping those whose
/// signature algorithm OID starts with `1.2.840.113549.1.1` (RSA), SNs joined with `_`.
pub fn root_cert_sn(bundle_pem: &str, source: &str) -> Result<String, CertError> {
    let certs = parse_certs(bundle_pem.as_bytes(), source)?;
    let sns: Vec<String> = certs
        .iter()
        .filter(|c| {
            c.signature_algorithm()
                .oid
                .to_string()
                .starts_with(RSA_SIGNATURE_OID_PREFIX)
        })
        .map(sn_of)
        .collect();
    if sns.is_empty() {
        return Err(CertError::NoRsaRoot {
            setting: source.into(),
        });
    }
    Ok(sns.join("_"))
}

/// The RSA public key of the FIRST certificate in `pem` (PEM text or raw DER). In certificate
/// mode, the key in `alipayCertPublicKey_RSA2.crt` verifies gateway responses and notifications.
pub fn cert_public_key(pem: &[u8], source: &str) -> Result<PublicKey, CertError> {
    let certs = parse_certs(pem, source)?;
    let not_rsa = || CertError::NotRsa {
        setting: source.into(),
    };
    let spki = certs[0]
        .tbs_certificate()
        .subject_public_key_info()
        .to_der()
        .map_err(|_| not_rsa())?;
    PublicKey::from_public_key_der(&spki).map_err(|_| not_rsa())
}

/// The issuer DN as Java's `X500Principal.getName()` (RFC 2253) prints it.
pub fn issuer_dn_rfc2253(cert: &Certificate) -> String {
    rfc2253(cert.tbs_certificate().issuer())
}

fn sn_of(cert: &Certificate) -> String {
    let tbs = cert.tbs_certificate();
    let input = format!(
        "{}{}",
        rfc2253(tbs.issuer()),
        signed_decimal(tbs.serial_number().as_bytes())
    );
    let digest = Md5::digest(input.as_bytes());
    // Two hex digits per byte: always 32 characters, i.e. Java's left-padding to 32.
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Certificates from PEM `CERTIFICATE` blocks (any other PEM blocks are ignored; base64 bodies
/// may be on one line or wrapped) or, when the input has no PEM armour, one raw DER certificate.
fn parse_certs(input: &[u8], source: &str) -> Result<Vec<Certificate>, CertError> {
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    let text = String::from_utf8_lossy(input);
    let mut ders = Vec::new();
    if text.contains("-----BEGIN") {
        let mut rest: &str = &text;
        while let Some(start) = rest.find(BEGIN) {
            let after = &rest[start + BEGIN.len()..];
            let index = ders.len();
            let end = after.find(END).ok_or_else(|| CertError::Encoding {
                setting: source.into(),
                index,
            })?;
            let body: String = after[..end]
                .chars()
                .filter(|c| !c.is_whitespace())
                .collect();
            let der = base64::engine::general_purpose::STANDARD
                .decode(body.as_bytes())
                .map_err(|_| CertError::Encoding {
                    setting: source.into(),
                    index,
                })?;
            ders.push(der);
            rest = &after[end + END.len()..];
        }
    } else if input.first() == Some(&0x30) {
        ders.push(input.to_vec());
    }
    if ders.is_empty() {
        return Err(CertError::NoCertificate {
            setting: source.into(),
        });
    }
    ders.iter()
        .enumerate()
        .map(|(index, der)| {
            Certificate::from_der(der).map_err(|_| CertError::Der {
                setting: source.into(),
                index,
            })
        })
        .collect()
}

/// Java `X500Name.getRFC2253Name()`: RDNs last-to-first joined by `,`, AVAs of one RDN by `+`,
/// keywords only for CN C L ST O OU STREET DC UID (other types as dotted OID), values of string
/// types escaped, anything else as `#` + hex of the DER encoding.
fn rfc2253(name: &Name) -> String {
    let rdns: Vec<String> = name
        .iter_rdn()
        .map(|rdn| {
            rdn.iter()
                .map(|ava| {
                    let oid = ava.oid.to_string();
                    let keyword = rfc2253_keyword(&oid);
                    let text = match ava.value.tag() {
                        Tag::PrintableString
                        | Tag::Utf8String
                        | Tag::Ia5String
                        | Tag::TeletexString
                        | Tag::GeneralString => {
                            // Java decodes the content bytes as UTF-8 whatever the string type.
                            Some(String::from_utf8_lossy(ava.value.value()))
                        }
                        _ => None,
                    };
                    match (keyword, text) {
                        (Some(k), Some(v)) => format!("{k}={}", escape_rfc2253(&v)),
                        _ => {
                            let der = ava.value.to_der().unwrap_or_default();
                            let hex: String = der.iter().map(|b| format!("{b:02x}")).collect();
                            format!("{}=#{hex}", keyword.unwrap_or(&oid))
                        }
                    }
                })
                .collect::<Vec<_>>()
                .join("+")
        })
        .collect();
    rdns.into_iter().rev().collect::<Vec<_>>().join(",")
}

fn rfc2253_keyword(oid: &str) -> Option<&'static str> {
    Some(match oid {
        "2.5.4.3" => "CN",
        "2.5.4.6" => "C",
        "2.5.4.7" => "L",
        "2.5.4.8" => "ST",
        "2.5.4.9" => "STREET",
        "2.5.4.10" => "O",
        "2.5.4.11" => "OU",
        "0.9.2342.19200300.100.1.25" => "DC",
        "0.9.2342.19200300.100.1.1" => "UID",
        _ => return None,
    })
}

/// Backslash before `, = + < > # ; " \` anywhere, `\00` for NUL, and a backslash before each
/// leading and trailing space or CR (Java `AVA.toRFC2253String`).
fn escape_rfc2253(v: &str) -> String {
    let mut chars: Vec<String> = v
        .chars()
        .map(|c| match c {
            ',' | '=' | '+' | '<' | '>' | '#' | ';' | '"' | '\\' => format!("\\{c}"),
            '\0' => "\\00".to_owned(),
            c => c.to_string(),
        })
        .collect();
    let blank = |c: &&String| *c == " " || *c == "\r";
    let lead = chars.iter().take_while(blank).count();
    let trail = chars.iter().rev().take_while(blank).count();
    let n = chars.len();
    for (i, c) in chars.iter_mut().enumerate() {
        if i < lead || i >= n.saturating_sub(trail) {
            c.insert(0, '\\');
        }
    }
    chars.concat()
}

/// Decimal text of a big-endian two's-complement integer (Java `BigInteger.toString()`).
fn signed_decimal(bytes: &[u8]) -> String {
    let negative = bytes.first().is_some_and(|b| b & 0x80 != 0);
    let mut magnitude: Vec<u8> = if negative {
        // Two's complement negation: invert and add one.
        let mut m: Vec<u8> = bytes.iter().map(|b| !b).collect();
        for byte in m.iter_mut().rev() {
            let (v, carry) = byte.overflowing_add(1);
            *byte = v;
            if !carry {
                break;
            }
        }
        m
    } else {
        bytes.to_vec()
    };
    let mut digits = Vec::new();
    while magnitude.iter().any(|&b| b != 0) {
        let mut rem = 0u32;
        for byte in magnitude.iter_mut() {
            let cur = (rem << 8) | u32::from(*byte);
            *byte = (cur / 10) as u8;
            rem = cur % 10;
        }
        digits.push(b'0' + rem as u8);
    }
    if digits.is_empty() {
        return "0".to_owned();
    }
    if negative {
        digits.push(b'-');
    }
    digits.reverse();
    String::from_utf8(digits).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_serials() {
        assert_eq!(signed_decimal(&[]), "0");
        assert_eq!(signed_decimal(&[0x00]), "0");
        assert_eq!(signed_decimal(&[0x01, 0x00]), "256");
        assert_eq!(signed_decimal(&[0x00, 0xff]), "255");
        assert_eq!(signed_decimal(&[0xff]), "-1");
        assert_eq!(signed_decimal(&[0x80]), "-128");
        assert_eq!(
            signed_decimal(&[0x69, 0xe2, 0xfe, 0xc0, 0x17, 0x0a, 0xc6, 0x7b]),
            "7629940819692799611"
        );
    }

    #[test]
    fn rfc2253_escaping() {
        assert_eq!(escape_rfc2253("Ant Financial"), "Ant Financial");
        assert_eq!(escape_rfc2253("a,b+c"), "a\\,b\\+c");
        assert_eq!(escape_rfc2253(" x "), "\\ x\\ ");
        assert_eq!(escape_rfc2253("#a=b"), "\\#a\\=b");
        assert_eq!(escape_rfc2253("a\r"), "a\\\r");
        assert_eq!(escape_rfc2253("   "), "\\ \\ \\ ");
    }
}
