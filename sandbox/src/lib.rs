//! Local gateways for tests and the embedded sandbox, on loopback: a Ping++ REST API that checks
//! API keys and request signatures against the raw bytes and keeps charges (and their reversal),
//! refunds and batch refunds, transfers and batch transfers, red envelopes, users with balances and
//! balance transactions, recharges, legacy customers and events with the real state machines (payout
//! refusals can be injected); and an Alipay Open Platform v2 gateway
//! (`/gateway.do`, RSA2 in key or certificate mode) with trades, refunds, transfers, OAuth,
//! signed notifications and GBK settlement bills. Both can inject faults.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! let sandbox = zhifu_sandbox::start("127.0.0.1:0".parse()?, Default::default()).await?;
//! println!("Ping++ sandbox at {} for app {}", sandbox.base_url, sandbox.pingpp.app_id);
//! println!("Alipay gateway {} for app {}", sandbox.alipay.gateway_url, sandbox.alipay.app_id);
//! sandbox.shutdown().await;
//! # Ok(()) }
//! ```

mod alipay;
mod auth;
mod deliver;
mod error;
mod faults;
mod keys;
mod list;
mod movements;
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
    /// Run the Alipay gateway in public-key certificate mode (公钥证书模式): requests must carry
    /// `app_cert_sn` / `alipay_root_cert_sn`, responses carry `alipay_cert_sn`.
    pub alipay_cert_mode: bool,
    /// Yesterday (Beijing) has generated business from the start — 120 paid trades, 6 partly and
    /// 3 fully refunded — so its trade bill exists (embedded-mode convenience).
    pub demo_bill_yesterday: bool,
    /// Where Ping++ events are POSTed (the dashboard's Webhooks URL); `None`: kept, not sent.
    /// Alipay notifications go to each trade's `notify_url`.
    pub webhook_url: Option<String>,
}

impl Default for SandboxOptions {
    fn default() -> Self {
        Self {
            auto_pay: false,
            require_signature: true,
            alipay_cert_mode: false,
            demo_bill_yesterday: false,
            webhook_url: None,
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

/// Certificate-mode files for the Alipay app (PEM), as the Open Platform console hands them out.
#[derive(Clone, Debug)]
pub struct AlipayCertFiles {
    /// `appCertPublicKey_<appid>.crt`: the app key's certificate.
    pub app_cert_pem: String,
    /// `alipayCertPublicKey_RSA2.crt`: the sandbox's "Alipay" key certificate.
    pub alipay_cert_pem: String,
    /// `alipayRootCert.crt`: the root that issued both.
    pub alipay_root_cert_pem: String,
}

/// What a client needs to talk to the Alipay sandbox gateway. Fresh for every start.
#[derive(Clone)]
pub struct AlipayCredentials {
    /// 16 digits starting `2021`.
    pub app_id: String,
    /// `{base_url}/gateway.do`
    pub gateway_url: String,
    /// PKCS#8 PEM of the app key; the sandbox verifies request signatures with its public half.
    pub app_private_key_pem: String,
    /// SPKI PEM of the sandbox's "Alipay" key that signs responses and notifications.
    pub alipay_public_key_pem: String,
    /// Certificate files, when started with `alipay_cert_mode`.
    pub cert: Option<AlipayCertFiles>,
}

impl std::fmt::Debug for AlipayCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlipayCredentials")
            .field("app_id", &self.app_id)
            .field("gateway_url", &self.gateway_url)
            .field("app_private_key_pem", &"<redacted>")
            .field("alipay_public_key_pem", &"<public key>")
            .field("cert", &self.cert.as_ref().map(|_| "<certificates>"))
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
    pub alipay: AlipayCredentials,
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
    pub alipay: alipay::AlipayApp,
}

/// Generates fresh keys and credentials, binds `listen` and serves until the [`Sandbox`] is dropped.
pub async fn start(listen: SocketAddr, options: SandboxOptions) -> anyhow::Result<Sandbox> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let addr = listener.local_addr()?;
    let keys = keys::generate(options.alipay_cert_mode).await?;
    let base_url = format!("http://{addr}");
    let api_key = format!("sk_test_{}", store::alnum(24));
    let app_id = format!("app_{}", store::alnum(16));
    let pingpp = PingppCredentials {
        api_key: api_key.clone(),
        app_id: app_id.clone(),
        merchant_private_key_pem: keys.merchant_private_pem,
        pingpp_public_key_pem: keys.pingpp_public_pem,
    };
    let alipay_app_id = alipay::new_app_id();
    let pid = alipay::new_user_id();
    let app_public = keys.alipay_app_private.to_public_key();
    let (cert_files, cert_sns) = match &keys.alipay_root {
        Some(root) => {
            let material = alipay::certs::generate(
                root,
                &app_public,
                &keys.alipay_private.to_public_key(),
                &alipay_app_id,
                &pid,
            )?;
            (
                Some(AlipayCertFiles {
                    app_cert_pem: material.app_cert_pem,
                    alipay_cert_pem: material.alipay_cert_pem,
                    alipay_root_cert_pem: material.alipay_root_cert_pem,
                }),
                Some(alipay::CertSns {
                    app_cert_sn: material.app_cert_sn,
                    alipay_cert_sn: material.alipay_cert_sn,
                    root_cert_sn: material.root_cert_sn,
                }),
            )
        }
        None => (None, None),
    };
    let alipay_credentials = AlipayCredentials {
        app_id: alipay_app_id.clone(),
        gateway_url: format!("{base_url}/gateway.do"),
        app_private_key_pem: keys.alipay_app_private_pem,
        alipay_public_key_pem: keys.alipay_public_pem,
        cert: cert_files,
    };
    let mut store = store::Store::new(app_id);
    if options.demo_bill_yesterday {
        let now = store.now();
        let yesterday = &zhifu_signing::alipay::beijing_timestamp(now - 86_400)[..10];
        let day = alipay::bills::GeneratedDay {
            trades: 120,
            partial_refunds: 6,
            full_refunds: 3,
            seed: 1,
        };
        let _ = store.alipay.bills.generate(yesterday, day, now);
    }
    let webhook_url = options.webhook_url.clone();
    let app = Arc::new(App {
        api_key,
        merchant_public: keys.merchant_public,
        pingpp_private: keys.pingpp_private,
        options,
        store: Mutex::new({
            store.deliveries.webhook_url = webhook_url;
            store
        }),
        faults: Mutex::default(),
        stats: Mutex::default(),
        alipay: alipay::AlipayApp {
            app_id: alipay_app_id,
            pid,
            app_public,
            alipay_private: keys.alipay_private,
            cert: cert_sns,
            base_url: base_url.clone(),
        },
    });
    let router = sandbox_api::router()
        .merge(alipay::api::router())
        .route(
            "/gateway.do",
            axum::routing::get(alipay::gateway::handle).post(alipay::gateway::handle),
        )
        .fallback(pingpp::handle)
        .with_state(app.clone());
    let (stop, stopped) = watch::channel(false);
    tokio::spawn(deliver::run(app.clone(), stopped.clone()));
    let task = tokio::spawn(server::serve(listener, router, stopped));
    tracing::info!(%addr, "Ping++ and Alipay sandbox listening (test mode only; no real money moves)");
    Ok(Sandbox {
        addr,
        base_url,
        pingpp,
        alipay: alipay_credentials,
        stop,
        task: Some(task),
    })
}
