//! Fresh RSA keys per start: the Ping++ merchant key (the sandbox keeps its public half to verify
//! request signatures) and the sandbox's own "Ping++" key that signs webhooks; the Alipay app key
//! and the sandbox's "Alipay" key that signs responses and notifications; and, in certificate
//! mode, the key of the root CA that issues the certificates.

use anyhow::Context as _;
use rsa::pkcs8::{EncodePrivateKey as _, EncodePublicKey as _, LineEnding};
use rsa::{PrivateKey, PublicKey};

/// Ping++'s and Alipay's keys are 2048-bit RSA (shared/reference/pingpp.md §3, alipay.md §2).
const BITS: usize = 2048;

pub struct Keys {
    pub merchant_private_pem: String,
    pub merchant_public: PublicKey,
    pub pingpp_private: PrivateKey,
    pub pingpp_public_pem: String,
    pub alipay_app_private: PrivateKey,
    pub alipay_app_private_pem: String,
    pub alipay_private: PrivateKey,
    pub alipay_public_pem: String,
    /// Only in certificate mode.
    pub alipay_root: Option<PrivateKey>,
}

fn new_key() -> anyhow::Result<PrivateKey> {
    PrivateKey::new(&mut getrandom::SysRng, BITS).context("generating an RSA key")
}

fn private_pem(key: &PrivateKey, what: &str) -> anyhow::Result<String> {
    Ok(key
        .to_pkcs8_pem(LineEnding::LF)
        .with_context(|| format!("encoding the {what} key"))?
        .to_string())
}

fn public_pem(key: &PrivateKey, what: &str) -> anyhow::Result<String> {
    key.to_public_key()
        .to_public_key_pem(LineEnding::LF)
        .with_context(|| format!("encoding the {what} public key"))
}

/// Generates every key in parallel on the blocking pool (key generation dominates start-up).
pub async fn generate(with_root: bool) -> anyhow::Result<Keys> {
    let count = if with_root { 5 } else { 4 };
    let tasks: Vec<_> = (0..count)
        .map(|_| tokio::task::spawn_blocking(new_key))
        .collect();
    let mut keys = Vec::with_capacity(count);
    for task in tasks {
        keys.push(task.await??);
    }
    let alipay_root = if with_root { keys.pop() } else { None };
    let (Some(alipay), Some(app), Some(pingpp), Some(merchant)) =
        (keys.pop(), keys.pop(), keys.pop(), keys.pop())
    else {
        anyhow::bail!("key generation returned too few keys");
    };
    Ok(Keys {
        merchant_private_pem: private_pem(&merchant, "merchant")?,
        merchant_public: merchant.to_public_key(),
        pingpp_public_pem: public_pem(&pingpp, "Ping++")?,
        pingpp_private: pingpp,
        alipay_app_private_pem: private_pem(&app, "Alipay app")?,
        alipay_app_private: app,
        alipay_public_pem: public_pem(&alipay, "Alipay")?,
        alipay_private: alipay,
        alipay_root,
    })
}
