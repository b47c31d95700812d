//! The Ping++ `/v1` API: routing, and the pipeline every request goes through — accounting,
//! faults, API key, signature over the raw bytes, body and query parsing — before a handler runs
//! on the locked store.

pub mod batch_refunds;
pub mod batch_transfers;
pub mod channels;
pub mod charge_fates;
pub mod charges;
pub mod customers;
pub mod events;
pub mod failures;
pub mod recharges;
pub mod red_envelopes;
pub mod refunds;
pub mod shared;
pub mod transfers;
pub mod users;

use std::sync::Arc;

use axum::body::to_bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use percent_encoding::percent_decode_str;
use serde_json::Value;

use crate::App;
use crate::error::{ApiError, ApiResult, json_response};
use crate::faults::{FaultKind, InFlight, status_error};
use crate::params::Body;
use crate::query::Query;
use crate::server::DropConnection;
use crate::store::{Store, alnum, lock, unix_now};

/// Largest request body accepted.
const MAX_BODY: usize = 1 << 20;

/// What a handler gets: the store (locked), path parameters in order, query and body.
pub struct Ctx<'a> {
    pub store: &'a mut Store,
    pub params: Vec<String>,
    pub query: Query,
    pub body: Body,
    /// `iar_…` id of this request, recorded on the events it causes.
    pub request_id: String,
    pub auto_pay: bool,
}

impl Ctx<'_> {
    pub fn param(&self, i: usize) -> &str {
        &self.params[i]
    }
}

type Handler = fn(&mut Ctx) -> ApiResult<Value>;

/// Resolves `method path` to (route template for stats/faults, handler, path parameters).
fn resolve(method: &Method, path: &str) -> Option<(&'static str, Handler, Vec<String>)> {
    let rest = path.strip_prefix("/v1/")?;
    let segments: Vec<String> = rest
        .split('/')
        .map(|s| percent_decode_str(s).decode_utf8_lossy().into_owned())
        .collect();
    let s: Vec<&str> = segments.iter().map(String::as_str).collect();
    let p = |idx: &[usize]| idx.iter().map(|&i| segments[i].clone()).collect::<Vec<_>>();
    let (template, handler, params): (&'static str, Handler, Vec<String>) =
        match (method.as_str(), s.as_slice()) {
            ("POST", ["charges"]) => ("POST /v1/charges", charges::create, vec![]),
            ("GET", ["charges"]) => ("GET /v1/charges", charges::list, vec![]),
            ("GET", ["charges", _]) => ("GET /v1/charges/{id}", charges::retrieve, p(&[1])),
            ("POST", ["charges", _, "refunds"]) => {
                ("POST /v1/charges/{id}/refunds", refunds::create, p(&[1]))
            }
            ("GET", ["charges", _, "refunds"]) => {
                ("GET /v1/charges/{id}/refunds", refunds::list, p(&[1]))
            }
            ("GET", ["charges", _, "refunds", _]) => (
                "GET /v1/charges/{id}/refunds/{id}",
                refunds::retrieve,
                p(&[1, 3]),
            ),
            ("POST", ["customers"]) => ("POST /v1/customers", customers::create, vec![]),
            ("GET", ["customers"]) => ("GET /v1/customers", customers::list, vec![]),
            ("GET", ["customers", _]) => ("GET /v1/customers/{id}", customers::retrieve, p(&[1])),
            ("PUT", ["customers", _]) => ("PUT /v1/customers/{id}", customers::update, p(&[1])),
            ("DELETE", ["customers", _]) => {
                ("DELETE /v1/customers/{id}", customers::delete, p(&[1]))
            }
            ("POST", ["apps", _, "recharges"]) => {
                ("POST /v1/apps/{app}/recharges", recharges::create, p(&[1]))
            }
            ("GET", ["apps", _, "recharges"]) => {
                ("GET /v1/apps/{app}/recharges", recharges::list, p(&[1]))
            }
            ("GET", ["apps", _, "recharges", _]) => (
                "GET /v1/apps/{app}/recharges/{id}",
                recharges::retrieve,
                p(&[1, 3]),
            ),
            ("POST", ["apps", _, "recharges", _, "refunds"]) => (
                "POST /v1/apps/{app}/recharges/{id}/refunds",
                recharges::refund,
                p(&[1, 3]),
            ),
            ("GET", ["apps", _, "recharges", _, "refunds"]) => (
                "GET /v1/apps/{app}/recharges/{id}/refunds",
                recharges::list_refunds,
                p(&[1, 3]),
            ),
            ("GET", ["apps", _, "recharges", _, "refunds", _]) => (
                "GET /v1/apps/{app}/recharges/{id}/refunds/{id}",
                recharges::retrieve_refund,
                p(&[1, 3, 5]),
            ),
            ("POST", ["charges", _, "reverse"]) => {
                ("POST /v1/charges/{id}/reverse", charges::reverse, p(&[1]))
            }
            ("GET", ["events"]) => ("GET /v1/events", events::list, vec![]),
            ("GET", ["events", _]) => ("GET /v1/events/{id}", events::retrieve, p(&[1])),
            ("POST", ["transfers"]) => ("POST /v1/transfers", transfers::create, vec![]),
            ("GET", ["transfers"]) => ("GET /v1/transfers", transfers::list, vec![]),
            ("GET", ["transfers", _]) => ("GET /v1/transfers/{id}", transfers::retrieve, p(&[1])),
            ("PUT", ["transfers", _]) => ("PUT /v1/transfers/{id}", transfers::cancel, p(&[1])),
            ("POST", ["transfers", _, "reverse"]) => (
                "POST /v1/transfers/{id}/reverse",
                transfers::reverse,
                p(&[1]),
            ),
            ("POST", ["batch_transfers"]) => {
                ("POST /v1/batch_transfers", batch_transfers::create, vec![])
            }
            ("GET", ["batch_transfers"]) => {
                ("GET /v1/batch_transfers", batch_transfers::list, vec![])
            }
            ("GET", ["batch_transfers", _]) => (
                "GET /v1/batch_transfers/{id}",
                batch_transfers::retrieve,
                p(&[1]),
            ),
            ("PUT", ["batch_transfers", _]) => (
                "PUT /v1/batch_transfers/{id}",
                batch_transfers::cancel,
                p(&[1]),
            ),
            ("POST", ["batch_refunds"]) => {
                ("POST /v1/batch_refunds", batch_refunds::create, vec![])
            }
            ("GET", ["batch_refunds"]) => ("GET /v1/batch_refunds", batch_refunds::list, vec![]),
            ("GET", ["batch_refunds", _]) => (
                "GET /v1/batch_refunds/{id}",
                batch_refunds::retrieve,
                p(&[1]),
            ),
            ("POST", ["red_envelopes"]) => {
                ("POST /v1/red_envelopes", red_envelopes::create, vec![])
            }
            ("GET", ["red_envelopes"]) => ("GET /v1/red_envelopes", red_envelopes::list, vec![]),
            ("GET", ["red_envelopes", _]) => (
                "GET /v1/red_envelopes/{id}",
                red_envelopes::retrieve,
                p(&[1]),
            ),
            ("POST", ["apps", _, "users"]) => ("POST /v1/apps/{app}/users", users::create, p(&[1])),
            ("GET", ["apps", _, "users"]) => ("GET /v1/apps/{app}/users", users::list, p(&[1])),
            ("GET", ["apps", _, "users", _]) => {
                ("GET /v1/apps/{app}/users/{id}", users::retrieve, p(&[1, 3]))
            }
            ("PUT", ["apps", _, "users", _]) => {
                ("PUT /v1/apps/{app}/users/{id}", users::update, p(&[1, 3]))
            }
            ("GET", ["apps", _, "balance_transactions"]) => (
                "GET /v1/apps/{app}/balance_transactions",
                users::list_transactions,
                p(&[1]),
            ),
            ("GET", ["apps", _, "balance_transactions", _]) => (
                "GET /v1/apps/{app}/balance_transactions/{id}",
                users::retrieve_transaction,
                p(&[1, 3]),
            ),
            _ => return None,
        };
    Some((template, handler, params))
}

/// 404 for anything the sandbox does not serve, in Ping++'s error shape.
fn unknown_route(method: &Method, path: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "invalid_request_error",
        format!("Unrecognized request URL ({method}: {path})."),
    )
}

/// A request after routing, with everything the checks and the handler need.
struct Incoming<'r> {
    method: &'r Method,
    path: &'r str,
    /// The raw request target exactly as received (`path?query`): the signature covers it.
    target: &'r str,
    headers: &'r HeaderMap,
    raw_body: &'r [u8],
    route: Option<(&'static str, Handler, Vec<String>)>,
}

/// Key, signature, route, body — in that order — then the handler on the locked store.
fn process(app: &App, request: Incoming, query: Query) -> ApiResult<Value> {
    crate::auth::check_key(request.headers, &app.api_key)?;
    if app.options.require_signature {
        let key = &app.merchant_public;
        crate::auth::check_signature(
            request.headers,
            request.raw_body,
            request.target,
            key,
            unix_now(),
        )?;
    }
    let (_, handler, params) = request
        .route
        .ok_or_else(|| unknown_route(request.method, request.path))?;
    let body = match *request.method {
        Method::POST | Method::PUT => Body::parse(request.raw_body)?,
        _ => Body::default(),
    };
    let mut store = lock(&app.store);
    let mut ctx = Ctx {
        store: &mut store,
        params,
        query,
        body,
        request_id: format!("iar_{}", alnum(24)),
        auto_pay: app.options.auto_pay,
    };
    handler(&mut ctx)
}

/// Entry point for every request that is not a `/_sandbox` one: accounting and faults around
/// [`process`], finished even if the client hangs up.
pub async fn handle(State(app): State<Arc<App>>, req: Request) -> Response {
    crate::server::detached(serve(app, req)).await
}

async fn serve(app: Arc<App>, req: Request) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    if path != "/v1" && !path.starts_with("/v1/") {
        return unknown_route(&method, &path).into_response();
    }
    let _in_flight = InFlight::enter(&app);
    let route = resolve(&method, &path);
    let route_line = route
        .as_ref()
        .map_or_else(|| format!("{method} (unmatched)"), |r| r.0.to_string());
    lock(&app.stats).record(&route_line);
    let fault = lock(&app.faults).take(&route_line, &format!("{method} {path}"));
    match fault {
        Some(FaultKind::Latency(delay)) => tokio::time::sleep(delay).await,
        Some(FaultKind::Status(status)) => {
            tracing::info!(%method, %path, %status, "sandbox fault: error status");
            return status_error(status).into_response();
        }
        _ => {}
    }

    let target = req
        .uri()
        .path_and_query()
        .map_or_else(|| path.clone(), |pq| pq.as_str().to_string());
    let query = Query::parse(req.uri().query());
    let (parts, body) = req.into_parts();
    let outcome = match to_bytes(body, MAX_BODY).await {
        Err(_) => Err(ApiError::invalid(format!(
            "请求体过大或读取失败 (上限 {MAX_BODY} 字节)"
        ))),
        Ok(raw) => {
            let request = Incoming {
                method: &method,
                path: &path,
                target: &target,
                headers: &parts.headers,
                raw_body: &raw,
                route,
            };
            process(&app, request, query)
        }
    };
    let mut response = match outcome {
        Ok(value) => json_response(StatusCode::OK, &value),
        Err(err) => {
            tracing::info!(%method, %path, status = %err.status, message = %err.message, "Ping++ sandbox rejected a request");
            err.into_response()
        }
    };
    tracing::debug!(%method, %path, status = %response.status(), "Ping++ sandbox request");
    match fault {
        Some(FaultKind::Reset) => {
            response.extensions_mut().insert(DropConnection);
        }
        Some(FaultKind::Garbled) => {
            tracing::info!(%method, %path, "sandbox fault: garbled body");
            response = (
                StatusCode::OK,
                "<html><body>502 Bad Gateway</body></html>\u{0}garbled",
            )
                .into_response();
        }
        _ => {}
    }
    response
}
