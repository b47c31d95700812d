//! Local gateways for tests and the embedded sandbox: a Ping++ REST API on loopback that checks
//! API keys and request signatures against the raw bytes, keeps charges/refunds/customers/
//! recharges/events with the real state machines, and can inject faults.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! let sandbox = zhifu_sandbox::start("127.0.0.1:0".parse()?, Default::default()).await?;
//! println!("Ping++ sandbox at {} for app {}", sandbox.base_url, sandbox.pingpp.app_id);
//! sandbox.shutdown().await;
//! # Ok(()) }
//! ```

mod auth;
mod error;
mod faults;
mod keys;
mod list;
mod params;
mod pingpp;
mod query;
mod sandbox_api;
mod server;
mod store;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use rsa::{PrivateKey, PublicKey};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How the sandbox behaves.
#[derive(Debug, Clone)]
pub struct SandboxOptions {
    /// Charges become paid right after creation (embedded-mode convenience).
    pub auto_pay: bool,
    /// Verify `Pingplusplus-Signature` on every `/v1` request.
    pub require_signature: bool,
}

impl Default for SandboxOptions {
    fn default() -> Self {
        Self {
            auto_pay: false,
            require_signature: true,
        }
    }
}

/// What a client needs to talk to the Ping++ sandbox. Fresh for every start.
#[derive(Clone)]
pub struct PingppCredentials {
    /// `sk_test_` + 24 alphanumerics.
    pub api_key: String,
    /// `app_` + 16 alphanumerics.
    pub app_id: String,
    /// PKCS#8 PEM of the merchant key; the sandbox verifies request signatures with its public half.
    pub merchant_private_key_pem: String,
    /// SPKI PEM of the sandbox's "Ping++" key that signs events and webhooks.
    pub pingpp_public_key_pem: String,
}

impl std::fmt::Debug for PingppCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PingppCredentials")
            .field("api_key", &"sk_test_***")
            .field("app_id", &self.app_id)
            .field("merchant_private_key_pem", &"<redacted>")
            .field("pingpp_public_key_pem", &"<public key>")
            .finish()
    }
}

/// A running sandbox. Dropping it (or calling [`Sandbox::shutdown`]) stops the server.
#[derive(Debug)]
pub struct Sandbox {
    pub addr: SocketAddr,
    /// `http://127.0.0.1:PORT`
    pub base_url: String,
    pub pingpp: PingppCredentials,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl Sandbox {
    /// Stops accepting connections, closes open ones and waits for the server task.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// Shared state of one running sandbox.
pub(crate) struct App {
    pub api_key: String,
    pub merchant_public: PublicKey,
    pub pingpp_private: PrivateKey,
    pub options: SandboxOptions,
    pub store: Mutex<store::Store>,
    pub faults: Mutex<faults::Faults>,
    pub stats: Mutex<faults::Stats>,
}

/// Generates fresh keys and credentials, binds `listen` and serves until the [`Sandbox`] is dropped.
pub async fn start(listen: SocketAddr, options: SandboxOptions) -> anyhow::Result<Sandbox> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let addr = listener.local_addr()?;
    let keys = keys::generate().await?;
    let api_key = format!("sk_test_{}", store::alnum(24));
    let app_id = format!("app_{}", store::alnum(16));
    let pingpp = PingppCredentials {
        api_key: api_key.clone(),
        app_id: app_id.clone(),
        merchant_private_key_pem: keys.merchant_private_pem,
        pingpp_public_key_pem: keys.pingpp_public_pem,
    };
    let app = Arc::new(App {
        api_key,
        merchant_public: keys.merchant_public,
        pingpp_private: keys.pingpp_private,
        options,
        store: Mutex::new(store::Store::new(app_id)),
        faults: Mutex::default(),
        stats: Mutex::default(),
    });
    let router = sandbox_api::router()
        .fallback(pingpp::handle)
        .with_state(app);
    let (stop, stopped) = watch::channel(false);
    let task = tokio::spawn(server::serve(listener, router, stopped));
    tracing::info!(%addr, "Ping++ sandbox listening (test mode only; no real money moves)");
    Ok(Sandbox {
        addr,
        base_url: format!("http://{addr}"),
        pingpp,
        stop,
        task: Some(task),
    })
}
