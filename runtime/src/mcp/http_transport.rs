//! MCP over Streamable HTTP: rmcp's `StreamableHttpService` on axum, mounted at `/mcp`, behind a
//! guard that refuses foreign `Host`/`Origin` headers (403, DNS-rebinding protection) and then
//! checks an optional bearer token (401), plus a `GET /healthz` probe without auth.
//!
//! Order of checks on `/mcp`: Host → Origin → bearer token → body size (413) → rmcp (which checks
//! Host and Origin again with the same lists and speaks the protocol). The provenance checks come
//! first so a page on a foreign origin learns nothing, not even whether a token is needed.
//!
//! A JSON body that is not a readable JSON-RPC message gets 400 with a JSON-RPC error body
//! (`-32700` parse error, `-32600` invalid request, the request's id when it can be recovered),
//! as over stdio; rmcp alone would answer a plain-text 415.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::serve::ListenerExt as _;
use rmcp::transport::streamable_http_server::SessionManager;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::session::never::NeverSessionManager;
use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};
use subtle::ConstantTimeEq as _;
use tokio::net::TcpListener;

use crate::config::Secret;
use crate::mcp::server::{TransportKind, ZhifuServer};
use crate::mcp::stdio::ProtocolError;

/// Bearer token for `/mcp`; required when listening on a non-loopback address.
pub const ENV_TOKEN: &str = "ZHIFU_HTTP_TOKEN";
/// Extra accepted `Host` values (comma-separated `host` or `host:port`).
pub const ENV_ALLOWED_HOSTS: &str = "ZHIFU_HTTP_ALLOWED_HOSTS";
/// Extra accepted browser origins (comma-separated `scheme://host[:port]`).
pub const ENV_ALLOWED_ORIGINS: &str = "ZHIFU_HTTP_ALLOWED_ORIGINS";

/// Default request body limit: 1 MiB is far above any tool call this server takes.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;

/// How the HTTP endpoint is protected and run.
#[derive(Clone, Debug)]
pub struct HttpOptions {
    /// Required `Authorization: Bearer …` value; `None` = no auth (loopback only).
    pub token: Option<Secret>,
    /// `Host` values accepted besides `localhost`, `127.0.0.1` and `[::1]` with the bound port.
    pub allowed_hosts: Vec<String>,
    /// `Origin` values accepted besides `http://localhost:PORT`, `http://127.0.0.1:PORT` and
    /// `http://[::1]:PORT`. Requests without an `Origin` header (non-browser clients) pass.
    pub allowed_origins: Vec<String>,
    /// Larger POST bodies get 413.
    pub max_body_bytes: usize,
    /// No `Mcp-Session-Id` sessions: every request is served on its own (JSON responses).
    pub stateless: bool,
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            token: None,
            allowed_hosts: Vec::new(),
            allowed_origins: Vec::new(),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            stateless: false,
        }
    }
}

impl HttpOptions {
    /// Reads `ZHIFU_HTTP_TOKEN`, `ZHIFU_HTTP_ALLOWED_HOSTS` and `ZHIFU_HTTP_ALLOWED_ORIGINS`
    /// through `get` (the process environment in `main`). An empty token counts as none.
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> HttpOptions {
        let list = |name: &str| -> Vec<String> {
            get(name)
                .unwrap_or_default()
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        };
        HttpOptions {
            token: get(ENV_TOKEN)
                .map(|t| t.trim().to_owned())
                .filter(|t| !t.is_empty())
                .map(Secret::new),
            allowed_hosts: list(ENV_ALLOWED_HOSTS),
            allowed_origins: list(ENV_ALLOWED_ORIGINS),
            ..HttpOptions::default()
        }
    }
}

/// Binds `addr`, prints `zhifu-mcp: listening on http://ADDR/mcp` on stderr and serves until
/// Ctrl-C or SIGTERM. Refuses a non-loopback address without a token.
pub async fn serve_http(
    server: ZhifuServer,
    addr: SocketAddr,
    options: HttpOptions,
) -> anyhow::Result<()> {
    check_bind(addr, &options)?;
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    serve_http_on(listener, server, options, shutdown_signal()).await
}

/// Refuses to expose an unauthenticated endpoint beyond loopback.
pub fn check_bind(addr: SocketAddr, options: &HttpOptions) -> anyhow::Result<()> {
    if !addr.ip().is_loopback() && options.token.is_none() {
        anyhow::bail!(
            "refusing to serve MCP over HTTP on the non-loopback address {addr} without a bearer token: \
             set {ENV_TOKEN} (and {ENV_ALLOWED_HOSTS} to the host names clients use), or listen on 127.0.0.1"
        );
    }
    Ok(())
}

/// Serves on an already bound listener until `shutdown` completes.
pub async fn serve_http_on(
    listener: TcpListener,
    server: ZhifuServer,
    options: HttpOptions,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let local = listener.local_addr()?;
    let guard = Guard::new(local, &options);
    let server = server.with_transport(if options.stateless {
        TransportKind::StatelessHttp
    } else {
        TransportKind::Http
    });
    let mut config = StreamableHttpServerConfig::default()
        .with_allowed_hosts(guard.hosts.iter().cloned())
        .with_allowed_origins(guard.origins.iter().map(|o| o.raw.clone()))
        .enforce_origin_validation()
        .with_max_request_body_bytes(options.max_body_bytes);
    if options.stateless {
        config = config
            .with_legacy_session_mode(false)
            .with_json_response(true);
    }
    let cancel = config.cancellation_token.clone();
    let app = if options.stateless {
        router(server, config, NeverSessionManager::default(), guard)
    } else {
        router(server, config, LocalSessionManager::default(), guard)
    };
    if !local.ip().is_loopback() && options.allowed_hosts.is_empty() {
        eprintln!(
            "zhifu-mcp: listening beyond loopback; only Host headers naming localhost or {local} are \
             accepted: set {ENV_ALLOWED_HOSTS} to the names clients use"
        );
    }
    eprintln!(
        "zhifu-mcp: listening on http://{local}/mcp ({}, {})",
        if options.stateless {
            "stateless"
        } else {
            "sessions"
        },
        if options.token.is_some() {
            "bearer token required"
        } else {
            "no auth, loopback"
        }
    );
    eprintln!(
        "zhifu-mcp: receiving gateway events at http://{local}{} and http://{local}{}",
        crate::receive::PINGPP_PATH,
        crate::receive::ALIPAY_PATH
    );
    serve_router(listener, app, async move {
        shutdown.await;
        // Ends open SSE streams so the graceful shutdown does not wait on them.
        cancel.cancel();
    })
    .await
    .context("HTTP server failed")?;
    Ok(())
}

/// The accept loop for every HTTP listener of the server (the MCP endpoint, webhook receivers):
/// each accepted socket gets `TCP_NODELAY` ([`no_delay`]) before a byte is read. Serve any new
/// listener through this rather than through `axum::serve` directly.
pub async fn serve_router(
    listener: TcpListener,
    app: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener.tap_io(no_delay), app)
        .with_graceful_shutdown(shutdown)
        .await
}

/// Every accepted connection sends small replies at once: without `TCP_NODELAY`, Nagle's
/// algorithm holds the second piece of a session-mode reply until the client's delayed ACK
/// (~40 ms on Linux), which capped stateful HTTP at ~23 requests/s per connection.
pub fn no_delay(stream: &mut tokio::net::TcpStream) {
    if let Err(e) = stream.set_nodelay(true) {
        tracing::debug!(error = %e, "could not set TCP_NODELAY on an accepted connection");
    }
}

fn router<M: SessionManager>(
    server: ZhifuServer,
    config: StreamableHttpServerConfig,
    sessions: M,
    guard: Guard,
) -> Router {
    // The gateways' receivers sit beside /mcp, outside its Host/Origin/token guard: a gateway
    // sends its own Host and no token; the signature authenticates it (receive/).
    let receivers = crate::receive::router(server.engine().clone());
    // Shared behind an Arc: axum clones a route's service for every request, and rmcp's own
    // `call` clones it again, each time copying its configuration (host and origin lists).
    let service = Arc::new(StreamableHttpService::new(
        move || Ok(server.clone()),
        Arc::new(sessions),
        config,
    ));
    let handle = move |request: Request| {
        let service = Arc::clone(&service);
        async move { service.handle(request).await }
    };
    let mcp = Router::new()
        .route("/mcp", any(handle))
        .layer(middleware::map_response(
            crate::mcp::sse_coalesce::coalesce_sse,
        ))
        .layer(middleware::from_fn_with_state(
            Arc::new(guard),
            check_request,
        ));
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .merge(receivers)
        .merge(mcp)
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

/// An allowed origin: scheme, lower-case host, port (the scheme's default when absent).
#[derive(Clone, Debug)]
struct Origin {
    raw: String,
    scheme: String,
    host: String,
    port: Option<u16>,
}

fn parse_origin(raw: &str) -> Option<Origin> {
    let uri: axum::http::Uri = raw.trim().parse().ok()?;
    let scheme = uri.scheme_str()?.to_ascii_lowercase();
    let authority = uri.authority()?;
    let port = authority.port_u16().or(match scheme.as_str() {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    });
    Some(Origin {
        raw: raw.trim().to_owned(),
        scheme,
        host: normalize_host(authority.host()),
        port,
    })
}

fn normalize_host(host: &str) -> String {
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase()
}

/// The checks that run before rmcp sees a request.
struct Guard {
    token: Option<Secret>,
    max_body_bytes: usize,
    /// `host` or `host:port` entries, as rmcp's `allowed_hosts` takes them.
    hosts: Vec<String>,
    origins: Vec<Origin>,
}

impl Guard {
    fn new(local: SocketAddr, options: &HttpOptions) -> Guard {
        let port = local.port();
        let mut hosts = vec![
            format!("localhost:{port}"),
            format!("127.0.0.1:{port}"),
            format!("[::1]:{port}"),
        ];
        if !local.ip().is_unspecified() && !local.ip().is_loopback() {
            hosts.push(local.to_string());
        }
        hosts.extend(options.allowed_hosts.iter().cloned());
        let mut origins: Vec<Origin> = [
            format!("http://localhost:{port}"),
            format!("http://127.0.0.1:{port}"),
            format!("http://[::1]:{port}"),
        ]
        .iter()
        .filter_map(|o| parse_origin(o))
        .collect();
        for raw in &options.allowed_origins {
            match parse_origin(raw) {
                Some(o) => origins.push(o),
                None => eprintln!(
                    "zhifu-mcp: ignoring {ENV_ALLOWED_ORIGINS} entry {raw:?}: expected scheme://host[:port]"
                ),
            }
        }
        Guard {
            token: options.token.clone(),
            max_body_bytes: options.max_body_bytes,
            hosts,
            origins,
        }
    }

    fn host_allowed(&self, headers: &HeaderMap) -> bool {
        let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else {
            return false;
        };
        let Ok(host) = host.parse::<axum::http::uri::Authority>() else {
            return false;
        };
        let (name, port) = (normalize_host(host.host()), host.port_u16());
        self.hosts.iter().any(|allowed| {
            let Ok(a) = allowed.parse::<axum::http::uri::Authority>() else {
                return normalize_host(allowed) == name;
            };
            normalize_host(a.host()) == name && a.port_u16().is_none_or(|p| port == Some(p))
        })
    }

    /// `None` = no Origin header (not a browser); `Some(ok)` otherwise.
    fn origin_allowed(&self, headers: &HeaderMap) -> Option<bool> {
        let value = headers.get(header::ORIGIN)?;
        let Some(origin) = value.to_str().ok().and_then(parse_origin) else {
            return Some(false);
        };
        Some(
            self.origins.iter().any(|a| {
                a.scheme == origin.scheme && a.host == origin.host && a.port == origin.port
            }),
        )
    }

    fn token_ok(&self, headers: &HeaderMap) -> Result<(), bool> {
        let Some(expected) = &self.token else {
            return Ok(());
        };
        let Some(given) = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(bearer)
        else {
            return Err(false);
        };
        if bool::from(given.as_bytes().ct_eq(expected.expose().as_bytes())) {
            Ok(())
        } else {
            Err(true)
        }
    }
}

/// The credentials of an `Authorization: Bearer <token>` header (scheme case-insensitive).
fn bearer(value: &str) -> Option<&str> {
    let (scheme, rest) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| rest.trim())
        .filter(|t| !t.is_empty())
}

async fn check_request(State(guard): State<Arc<Guard>>, mut req: Request, next: Next) -> Response {
    let headers = req.headers();
    if !guard.host_allowed(headers) {
        tracing::warn!("refused a request with a foreign Host header (possible DNS rebinding)");
        return refusal(
            StatusCode::FORBIDDEN,
            "forbidden",
            "Host header is not allowed",
        );
    }
    if guard.origin_allowed(headers) == Some(false) {
        tracing::warn!("refused a request with a foreign Origin header");
        return refusal(
            StatusCode::FORBIDDEN,
            "forbidden",
            "Origin header is not allowed",
        );
    }
    if let Err(wrong) = guard.token_ok(headers) {
        let (message, challenge) = if wrong {
            (
                "invalid bearer token",
                r#"Bearer realm="zhifu-mcp", error="invalid_token""#,
            )
        } else {
            ("bearer token required", r#"Bearer realm="zhifu-mcp""#)
        };
        let mut response = refusal(StatusCode::UNAUTHORIZED, "unauthorized", message);
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static(challenge),
        );
        return response;
    }
    // The token has done its job: rmcp, its logs and the tool handlers never see it.
    req.headers_mut().remove(header::AUTHORIZATION);
    if req.method() != axum::http::Method::POST {
        return next.run(req).await;
    }
    let json_body = is_json(req.headers());
    let (parts, body) = req.into_parts();
    let bytes = match read_limited(body, guard.max_body_bytes).await {
        Ok(bytes) => bytes,
        Err(response) => return response,
    };
    let response = next
        .run(Request::from_parts(parts, Body::from(bytes.clone())))
        .await;
    if response.status() == StatusCode::UNSUPPORTED_MEDIA_TYPE && json_body {
        // rmcp answers a JSON body it cannot read as a message with a plain-text 415. Parsing
        // again here costs nothing on the happy path, which never gets this far.
        if let Err(e) = serde_json::from_slice::<rmcp::model::ClientJsonRpcMessage>(&bytes) {
            return json_rpc_error(
                StatusCode::BAD_REQUEST,
                &ProtocolError::unreadable(&bytes, &e),
            );
        }
    }
    response
}

/// Whether the request says its body is JSON (`application/json`, any parameters).
fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("application/json"))
}

/// The whole body, or 413 past `limit` (400 when the body cannot be read at all).
async fn read_limited(body: Body, limit: usize) -> Result<axum::body::Bytes, Response> {
    use http_body_util::BodyExt as _;
    match http_body_util::Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(json_rpc_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            &ProtocolError::too_large(serde_json::Value::Null, limit, "the request body"),
        )),
        Err(e) => Err(refusal(
            StatusCode::BAD_REQUEST,
            "bad_request",
            &format!("cannot read the request body: {e}"),
        )),
    }
}

fn json_rpc_error(status: StatusCode, error: &ProtocolError) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        Body::from(error.to_json().to_string()),
    )
        .into_response()
}

fn refusal(status: StatusCode, error: &str, message: &str) -> Response {
    let body = serde_json::json!({ "error": error, "message": message }).to_string();
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        Body::from(body),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard(options: HttpOptions) -> Guard {
        Guard::new("127.0.0.1:8080".parse().unwrap(), &options)
    }

    fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(k.clone(), HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn hosts_are_loopback_names_with_the_bound_port_plus_extras() {
        let g = guard(HttpOptions {
            allowed_hosts: vec!["mcp.example.com".into()],
            ..HttpOptions::default()
        });
        for ok in [
            "127.0.0.1:8080",
            "localhost:8080",
            "LOCALHOST:8080",
            "[::1]:8080",
            "mcp.example.com",
            "mcp.example.com:443",
        ] {
            assert!(g.host_allowed(&headers(&[(header::HOST, ok)])), "{ok}");
        }
        for bad in ["127.0.0.1:8081", "localhost", "evil.example:8080", "x y"] {
            assert!(!g.host_allowed(&headers(&[(header::HOST, bad)])), "{bad}");
        }
        assert!(!g.host_allowed(&HeaderMap::new()));
    }

    #[test]
    fn origins_default_to_same_host_and_match_scheme_host_port() {
        let g = guard(HttpOptions {
            allowed_origins: vec!["https://app.example.com".into()],
            ..HttpOptions::default()
        });
        assert_eq!(g.origin_allowed(&HeaderMap::new()), None);
        for ok in [
            "http://localhost:8080",
            "http://127.0.0.1:8080",
            "https://app.example.com",
            "https://app.example.com:443",
        ] {
            assert_eq!(
                g.origin_allowed(&headers(&[(header::ORIGIN, ok)])),
                Some(true),
                "{ok}"
            );
        }
        for bad in [
            "http://localhost:9999",
            "https://localhost:8080",
            "http://app.example.com",
            "https://evil.example",
            "null",
        ] {
            assert_eq!(
                g.origin_allowed(&headers(&[(header::ORIGIN, bad)])),
                Some(false),
                "{bad}"
            );
        }
    }

    #[test]
    fn bearer_tokens_are_checked() {
        let g = guard(HttpOptions {
            token: Some(Secret::new("s3cret-token")),
            ..HttpOptions::default()
        });
        let auth = |v: &str| headers(&[(header::AUTHORIZATION, v)]);
        assert_eq!(g.token_ok(&auth("Bearer s3cret-token")), Ok(()));
        assert_eq!(g.token_ok(&auth("bearer  s3cret-token")), Ok(()));
        assert_eq!(g.token_ok(&auth("Bearer s3cret-tokeN")), Err(true));
        assert_eq!(g.token_ok(&auth("Bearer s3cret")), Err(true));
        assert_eq!(g.token_ok(&auth("Basic s3cret-token")), Err(false));
        assert_eq!(g.token_ok(&HeaderMap::new()), Err(false));
        assert_eq!(
            guard(HttpOptions::default()).token_ok(&HeaderMap::new()),
            Ok(())
        );
    }

    #[test]
    fn non_loopback_needs_a_token() {
        let open = HttpOptions::default();
        assert!(check_bind("127.0.0.1:0".parse().unwrap(), &open).is_ok());
        assert!(check_bind("[::1]:0".parse().unwrap(), &open).is_ok());
        let err = check_bind("0.0.0.0:0".parse().unwrap(), &open).unwrap_err();
        assert!(err.to_string().contains(ENV_TOKEN), "{err}");
        let with_token = HttpOptions {
            token: Some(Secret::new("t")),
            ..HttpOptions::default()
        };
        assert!(check_bind("0.0.0.0:0".parse().unwrap(), &with_token).is_ok());
    }

    #[test]
    fn options_from_env() {
        let env = |name: &str| match name {
            ENV_TOKEN => Some(" tok ".to_owned()),
            ENV_ALLOWED_HOSTS => Some("a.example, b.example:8443,,".to_owned()),
            _ => None,
        };
        let o = HttpOptions::from_env(env);
        assert_eq!(o.token.as_ref().map(Secret::expose), Some("tok"));
        assert_eq!(o.allowed_hosts, vec!["a.example", "b.example:8443"]);
        assert!(o.allowed_origins.is_empty());
        assert!(format!("{o:?}").contains("***") && !format!("{o:?}").contains("tok\""));
        let empty = HttpOptions::from_env(|_| Some(String::new()));
        assert!(empty.token.is_none());
    }
}
