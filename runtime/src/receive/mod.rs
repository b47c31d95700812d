//! HTTP receivers for what the gateways send on their own: `POST /webhooks/pingpp` (Ping++
//! webhook events, `X-Pingplusplus-Signature` over the raw body) and `POST /notify/alipay`
//! (Alipay asynchronous notifications, form-encoded, RSA2). Served next to `/mcp` by
//! `serve --http` and alone by `receive --listen`.
//!
//! Each request: body size limit (413) → signature over the raw bytes with the configured public
//! key (refused: 400, nothing stored) → [`Store::record_event`](crate::guard::store::Store) →
//! only after the write returned, the acknowledgement the gateway waits for (Ping++: 2xx;
//! Alipay: the literal `success`). A store failure answers 500 / `fail`, so the gateway retries.
//! A duplicate (same event id / `notify_id`) is acknowledged again and changes nothing. There is
//! no token on these paths (a gateway cannot send one): the signature is the authentication.
//! Logs name the provider, the event id and the reason, never the body or the signature.

pub mod event;

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;

use crate::config::Config;
use crate::engine::Engine;
use crate::guard::store::{ReceivedEvent, Recorded};
use crate::providers::wire::parse_form;
use crate::signing::alipay::{NotifyKind, verify_notification};
use crate::time::unix_now;

/// Path of the Ping++ webhook receiver (the URL entered in the Ping++ dashboard ends with it).
pub const PINGPP_PATH: &str = "/webhooks/pingpp";
/// Path of the Alipay notification receiver (the `notify_url` ends with it).
pub const ALIPAY_PATH: &str = "/notify/alipay";
/// Largest body accepted: real events and notifications are a few KiB.
pub const MAX_BODY_BYTES: usize = 256 * 1024;
/// The header Ping++ signs webhooks in.
pub const SIGNATURE_HEADER: &str = "x-pingplusplus-signature";

/// Both receivers on one router, reading keys from the engine's configuration (which may still
/// be starting: the embedded sandbox) and writing to its state store.
pub fn router(engine: Arc<Engine>) -> Router {
    Router::new()
        .route(PINGPP_PATH, post(pingpp))
        .route(ALIPAY_PATH, post(alipay))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(engine)
}

/// Why a delivery was not acknowledged.
enum Refused {
    /// Not from the gateway (bad signature, foreign app, unreadable): 400, nothing stored.
    Forged(&'static str),
    /// Not configured for this provider: 503, the gateway retries later.
    Unconfigured(&'static str),
    /// The store failed: 500, the gateway retries.
    Store,
}

async fn config(engine: &Engine) -> Result<Arc<Config>, Refused> {
    engine
        .config()
        .await
        .map_err(|_| Refused::Unconfigured("the server's configuration did not load"))
}

/// What the receiver accepts from Ping++: the signature verifies over the raw bytes and the body
/// is an event. Pure; the handler stores the row it returns.
pub fn check_pingpp(
    key: &rsa::PublicKey,
    body: &[u8],
    signature: &str,
    now_unix: i64,
) -> Result<ReceivedEvent, &'static str> {
    // Only the canonical spelling: the signature check itself tolerates whitespace and missing
    // padding, and a receiver has no reason to accept a re-spelt header.
    if !canonical_base64(signature) {
        return Err("the signature is not canonical base64");
    }
    if !crate::signing::pingpp::verify_webhook(key, body, signature) {
        return Err("the signature does not verify");
    }
    let text = std::str::from_utf8(body).map_err(|_| "not UTF-8")?;
    event::pingpp_event(text, now_unix)
}

/// Standard-alphabet base64 with its `=` padding, nothing else.
fn canonical_base64(text: &str) -> bool {
    let data = text.trim_end_matches('=');
    text.len().is_multiple_of(4)
        && text.len() - data.len() <= 2
        && !data.is_empty()
        && data
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
}

/// What the receiver accepts from Alipay: a form body signed RSA2 (`sign_type` must say so: it
/// is not itself signed) by the Alipay key, for this app. Pure.
pub fn check_alipay(
    key: &rsa::PublicKey,
    app_id: &str,
    body: &[u8],
    now_unix: i64,
) -> Result<ReceivedEvent, &'static str> {
    // A form-encoded body is visible ASCII: a raw space, control byte or non-ASCII byte is
    // nothing Alipay sends (and a raw space would read like `+`).
    if body.iter().any(|b| !(0x21..=0x7e).contains(b)) {
        return Err("not a form-encoded body");
    }
    let text = std::str::from_utf8(body).map_err(|_| "not UTF-8")?;
    let fields = parse_form(text).map_err(|_| "not a form body")?;
    let field = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    if field("sign_type") != Some("RSA2") {
        return Err("sign_type is not RSA2");
    }
    // One value per name (no second `sign` or `trade_status` to read differently), and the
    // signature spelt canonically (the check itself tolerates missing padding).
    let mut names: Vec<&str> = fields.iter().map(|(k, _)| k.as_str()).collect();
    names.sort_unstable();
    if names.windows(2).any(|w| w[0] == w[1]) {
        return Err("a field appears twice");
    }
    let pairs = fields.iter().map(|(k, v)| (k.as_str(), v.as_str()));
    if !field("sign").is_some_and(canonical_base64)
        || !verify_notification(key, pairs, NotifyKind::Payment)
    {
        return Err("the signature does not verify");
    }
    if field("app_id") != Some(app_id) {
        return Err("the notification is not for this app_id");
    }
    event::alipay_notification(&fields, text, now_unix)
}

async fn pingpp(State(engine): State<Arc<Engine>>, headers: HeaderMap, body: Bytes) -> Response {
    let outcome = async {
        let config = config(&engine).await?;
        let key = config
            .pingpp
            .as_ref()
            .and_then(|p| p.public_key.as_ref())
            .ok_or(Refused::Unconfigured("no Ping++ public key is configured"))?;
        let signature = headers
            .get(SIGNATURE_HEADER)
            .and_then(|v| v.to_str().ok())
            .ok_or(Refused::Forged("no X-Pingplusplus-Signature header"))?;
        let row = check_pingpp(key, &body, signature, unix_now()).map_err(Refused::Forged)?;
        store(&engine, row).await
    }
    .await;
    match outcome {
        Ok(_) => (StatusCode::OK, "ok").into_response(),
        Err(r) => refusal("pingpp", r, "error"),
    }
}

async fn alipay(State(engine): State<Arc<Engine>>, body: Bytes) -> Response {
    let outcome = async {
        let config = config(&engine).await?;
        let alipay = config
            .alipay
            .as_ref()
            .ok_or(Refused::Unconfigured("Alipay is not configured"))?;
        let row = check_alipay(&alipay.alipay_public_key, &alipay.app_id, &body, unix_now())
            .map_err(Refused::Forged)?;
        store(&engine, row).await
    }
    .await;
    match outcome {
        Ok(_) => (StatusCode::OK, "success").into_response(),
        Err(r) => refusal("alipay", r, "fail"),
    }
}

/// Stores the row; returns once the write is durable.
async fn store(engine: &Engine, row: ReceivedEvent) -> Result<Recorded, Refused> {
    let (id, kind) = (row.event_id.clone(), row.event_type.clone());
    match engine.store().record_event(row).await {
        Ok(recorded) => {
            tracing::info!(event = %id, kind = %kind, duplicate = recorded == Recorded::Duplicate, "gateway event received");
            Ok(recorded)
        }
        Err(e) => {
            tracing::error!(event = %id, error = %e, "could not store a gateway event; answered with an error so the gateway retries");
            Err(Refused::Store)
        }
    }
}

fn refusal(provider: &str, r: Refused, word: &'static str) -> Response {
    match r {
        Refused::Forged(why) => {
            tracing::warn!(
                provider,
                reason = why,
                "refused a gateway delivery; nothing stored"
            );
            (StatusCode::BAD_REQUEST, word).into_response()
        }
        Refused::Unconfigured(why) => {
            tracing::warn!(provider, reason = why, "cannot receive gateway deliveries");
            (StatusCode::SERVICE_UNAVAILABLE, word).into_response()
        }
        Refused::Store => (StatusCode::INTERNAL_SERVER_ERROR, word).into_response(),
    }
}

/// Serves the receivers alone (`receive --listen`) on a bound listener until `shutdown`.
pub async fn serve(
    engine: Arc<Engine>,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let local = listener.local_addr()?;
    let app = router(engine).route("/healthz", axum::routing::get(|| async { "ok\n" }));
    eprintln!(
        "zhifu-mcp: receiving gateway events at http://{local}{PINGPP_PATH} and http://{local}{ALIPAY_PATH}"
    );
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await?;
    Ok(())
}
