//! Public-key certificate mode (公钥证书模式) material, generated per start: a root CA and the two
//! certificates it signs (the app certificate for the app key, the "Alipay" certificate for the
//! sandbox's response-signing key), as PEM, plus the serial numbers the gateway expects.
//!
//! Issuer DNs are `CN=…,OU=…,O=…,C=…` like Alipay's, so `zhifu_signing::cert::cert_sn` (MD5 of
//! the RFC 2253 issuer + decimal serial, alipay.md §3) gives stable SNs.

use std::str::FromStr as _;
use std::time::Duration;

use anyhow::Context as _;
use base64::Engine as _;
use rsa::pkcs1v15::SigningKey;
use rsa::sha2::Sha256;
use rsa::{PrivateKey, PublicKey};
use x509_cert::builder::{Builder as _, CertificateBuilder, profile::BuilderProfile};
use x509_cert::certificate::TbsCertificate;
use x509_cert::der::Encode as _;
use x509_cert::ext::Extension;
use x509_cert::ext::pkix::BasicConstraints;
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::{EncodePublicKey as _, SubjectPublicKeyInfo, SubjectPublicKeyInfoRef};
use x509_cert::time::Validity;
use zhifu_signing::cert::{cert_sn, root_cert_sn};

/// The root's subject (and so the issuer of both leaf certificates).
const ROOT_DN: &str =
    "CN=Zhifu Sandbox Certification Authority R1,OU=Certification Authority,O=Zhifu Sandbox,C=CN";

/// PEM texts handed to the client, and the SNs the gateway checks and sends.
pub struct CertMaterial {
    pub app_cert_pem: String,
    pub alipay_cert_pem: String,
    pub alipay_root_cert_pem: String,
    pub app_cert_sn: String,
    pub alipay_cert_sn: String,
    pub root_cert_sn: String,
}

/// Fixed issuer and subject, no profile-specific extensions.
struct Plain {
    issuer: Name,
    subject: Name,
}

impl BuilderProfile for Plain {
    fn get_issuer(&self, _subject: &Name) -> Name {
        self.issuer.clone()
    }

    fn get_subject(&self) -> Name {
        self.subject.clone()
    }

    fn build_extensions(
        &self,
        _spk: SubjectPublicKeyInfoRef<'_>,
        _issuer_spk: SubjectPublicKeyInfoRef<'_>,
        _tbs: &TbsCertificate,
    ) -> x509_cert::builder::Result<Vec<Extension>> {
        Ok(Vec::new())
    }
}

fn name(dn: &str) -> anyhow::Result<Name> {
    Name::from_str(dn).with_context(|| format!("certificate name {dn}"))
}

fn serial() -> anyhow::Result<SerialNumber> {
    // Positive, 9 significant bytes at most: like the 16–20 digit serials Alipay certs carry.
    let value: u64 = rand::random::<u64>() >> 1;
    SerialNumber::new(&value.max(1).to_be_bytes()).context("certificate serial number")
}

fn sign(
    issuer_key: &PrivateKey,
    issuer: &str,
    subject: &str,
    subject_key: &PublicKey,
    ca: bool,
) -> anyhow::Result<String> {
    let spki_der = subject_key
        .to_public_key_der()
        .context("encoding a certificate public key")?;
    let spki = SubjectPublicKeyInfo::try_from(spki_der.as_bytes())
        .context("decoding a certificate public key")?;
    let profile = Plain {
        issuer: name(issuer)?,
        subject: name(subject)?,
    };
    // Valid from a day ago (clock skew) for ten years.
    let mut validity = Validity::from_now(Duration::from_secs(10 * 365 * 86_400))
        .context("certificate validity")?;
    let start = std::time::SystemTime::now() - Duration::from_secs(86_400);
    validity.not_before = x509_cert::time::Time::try_from(start).context("not_before")?;
    let mut builder = CertificateBuilder::new(profile, serial()?, validity, spki)
        .context("certificate builder")?;
    if ca {
        builder
            .add_extension(&BasicConstraints {
                ca: true,
                path_len_constraint: None,
            })
            .context("basic constraints")?;
    }
    let signer = SigningKey::<Sha256>::new(issuer_key.clone());
    let cert = builder
        .build::<_, rsa::pkcs1v15::Signature>(&signer)
        .context("signing a certificate")?;
    let der = cert.to_der().context("encoding a certificate")?;
    Ok(pem(&der))
}

/// PEM with 64-column base64 lines.
fn pem(der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
    out
}

/// Issues the three certificates. `root_key` only signs; `app_id` and `pid` name the subjects.
pub fn generate(
    root_key: &PrivateKey,
    app_public: &PublicKey,
    alipay_public: &PublicKey,
    app_id: &str,
    pid: &str,
) -> anyhow::Result<CertMaterial> {
    let root = sign(root_key, ROOT_DN, ROOT_DN, &root_key.to_public_key(), true)?;
    let app = sign(
        root_key,
        ROOT_DN,
        &format!("CN={pid}-{app_id},OU=Alipay,O=Zhifu Sandbox Merchant,C=CN"),
        app_public,
        false,
    )?;
    let alipay = sign(
        root_key,
        ROOT_DN,
        &format!("CN=Alipay Sandbox-{pid},OU=Alipay,O=Alipay Sandbox,C=CN"),
        alipay_public,
        false,
    )?;
    Ok(CertMaterial {
        app_cert_sn: cert_sn(app.as_bytes(), "sandbox app cert")?,
        alipay_cert_sn: cert_sn(alipay.as_bytes(), "sandbox alipay cert")?,
        root_cert_sn: root_cert_sn(&root, "sandbox root cert")?,
        app_cert_pem: app,
        alipay_cert_pem: alipay,
        alipay_root_cert_pem: root,
    })
}
