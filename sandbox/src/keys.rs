//! Fresh RSA keys per start: the merchant key (the sandbox keeps its public half to verify
//! request signatures) and the sandbox's own "Ping++" key that signs webhooks.

use anyhow::Context as _;
use rsa::pkcs8::{EncodePrivateKey as _, EncodePublicKey as _, LineEnding};
use rsa::{PrivateKey, PublicKey};

/// Ping++'s keys are 2048-bit RSA (shared/reference/pingpp.md §3).
const BITS: usize = 2048;

pub struct Keys {
    pub merchant_private_pem: String,
    pub merchant_public: PublicKey,
    pub pingpp_private: PrivateKey,
    pub pingpp_public_pem: String,
}

fn new_key() -> anyhow::Result<PrivateKey> {
    PrivateKey::new(&mut getrandom::SysRng, BITS).context("generating an RSA key")
}

/// Generates both keys in parallel on the blocking pool (key generation dominates start-up).
pub async fn generate() -> anyhow::Result<Keys> {
    let merchant = tokio::task::spawn_blocking(new_key);
    let pingpp = tokio::task::spawn_blocking(new_key);
    let (merchant, pingpp) = (merchant.await??, pingpp.await??);
    let merchant_private_pem = merchant
        .to_pkcs8_pem(LineEnding::LF)
        .context("encoding the merchant key")?
        .to_string();
    let pingpp_public_pem = pingpp
        .to_public_key()
        .to_public_key_pem(LineEnding::LF)
        .context("encoding the Ping++ public key")?;
    Ok(Keys {
        merchant_private_pem,
        merchant_public: merchant.to_public_key(),
        pingpp_private: pingpp,
        pingpp_public_pem,
    })
}
