//! Sandbox-only endpoints under `/_sandbox` (no API key, loopback only): pay a charge, settle or
//! fail a refund, read events and their signed webhook bodies, request statistics, fault injection,
//! channel refusals of payouts (`/_sandbox/failures`), the clock, and the money movements booked
//! per merchant reference (`/_sandbox/ledger`), the webhook URL (`/_sandbox/webhooks`) and the
//! delivery counters (`/_sandbox/deliveries`).

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use crate::App;
use crate::error::{ApiError, ApiResult, json_response};
use crate::params::Body;
use crate::pingpp::{charges, refunds};
use crate::store::{alnum, lock};

fn reply(result: ApiResult<Value>) -> Response {
    match result {
        Ok(value) => json_response(StatusCode::OK, &value),
        Err(err) => err.into_response(),
    }
}

fn sandbox_request_id() -> String {
    format!("iar_{}", alnum(24))
}

async fn pay(State(app): State<Arc<App>>, Path(id): Path<String>) -> Response {
    let mut store = lock(&app.store);
    reply(charges::pay(&mut store, &id, &sandbox_request_id()))
}

async fn succeed_refund(State(app): State<Arc<App>>, Path(id): Path<String>) -> Response {
    let mut store = lock(&app.store);
    reply(refunds::succeed(&mut store, &id, &sandbox_request_id()))
}

/// `{"failure_code"?, "failure_msg"?}`
async fn fail_refund(State(app): State<Arc<App>>, Path(id): Path<String>, raw: Bytes) -> Response {
    let result = Body::parse(&raw).and_then(|body| {
        body.allow_only(&["failure_code", "failure_msg"])?;
        let (code, message) = (
            body.opt_str("failure_code", 64)?,
            body.opt_str("failure_msg", 255)?,
        );
        refunds::fail(&mut lock(&app.store), &id, code, message)
    });
    reply(result)
}

async fn events(State(app): State<Arc<App>>) -> Response {
    let store = lock(&app.store);
    let data: Vec<Value> = store.events.newest_first().map(|e| e.to_json()).collect();
    reply(Ok(
        json!({ "object": "list", "url": "/_sandbox/events", "has_more": false, "data": data }),
    ))
}

async fn webhook(State(app): State<Arc<App>>, Path(id): Path<String>) -> Response {
    let store = lock(&app.store);
    reply(
        store
            .events
            .get(&id)
            .map(|e| e.webhook(&app.pingpp_private))
            .ok_or_else(|| ApiError::not_found("event", &id)),
    )
}

async fn stats(State(app): State<Arc<App>>) -> Response {
    reply(Ok(lock(&app.stats).json()))
}

async fn reset_stats(State(app): State<Arc<App>>) -> Response {
    let mut stats = lock(&app.stats);
    stats.reset();
    reply(Ok(stats.json()))
}

async fn add_fault(State(app): State<Arc<App>>, raw: Bytes) -> Response {
    reply(Body::parse(&raw).and_then(|body| lock(&app.faults).add(&body)))
}

async fn list_faults(State(app): State<Arc<App>>) -> Response {
    reply(Ok(lock(&app.faults).json()))
}

async fn clear_faults(State(app): State<Arc<App>>) -> Response {
    let mut faults = lock(&app.faults);
    faults.clear();
    reply(Ok(faults.json()))
}

/// `{"on", "channel"?, "party"?, "failure_msg"?, "count"?}`: a payout that will fail.
async fn add_failure(State(app): State<Arc<App>>, raw: Bytes) -> Response {
    reply(Body::parse(&raw).and_then(|body| lock(&app.store).failures.add(&body)))
}

async fn list_failures(State(app): State<Arc<App>>) -> Response {
    reply(Ok(lock(&app.store).failures.json()))
}

async fn clear_failures(State(app): State<Arc<App>>) -> Response {
    let mut store = lock(&app.store);
    store.failures.clear();
    reply(Ok(store.failures.json()))
}

/// `{"channel"?, "order_no"?, "failure_code"?, "failure_msg"?, "count"?}`: charges that will stay
/// unpaid, or fail with that code, instead of being paid.
async fn add_charge_fate(State(app): State<Arc<App>>, raw: Bytes) -> Response {
    reply(Body::parse(&raw).and_then(|body| lock(&app.store).charge_fates.add(&body)))
}

async fn list_charge_fates(State(app): State<Arc<App>>) -> Response {
    reply(Ok(lock(&app.store).charge_fates.json()))
}

async fn clear_charge_fates(State(app): State<Arc<App>>) -> Response {
    let mut store = lock(&app.store);
    store.charge_fates.clear();
    reply(Ok(store.charge_fates.json()))
}

/// Many charges at once (see `charge_fates::generate`).
async fn generate_charges(State(app): State<Arc<App>>, raw: Bytes) -> Response {
    reply(
        Body::parse(&raw)
            .and_then(|body| crate::pingpp::charge_fates::generate(&mut lock(&app.store), &body)),
    )
}

/// `{"advance_seconds": n}` moves the sandbox clock forward (e.g. past a de-duplication window).
async fn clock(State(app): State<Arc<App>>, raw: Bytes) -> Response {
    let result = Body::parse(&raw).and_then(|body| {
        body.allow_only(&["advance_seconds", "offset_seconds"])?;
        let ten_years = 10 * 365 * 86_400;
        let mut store = lock(&app.store);
        let now = match body.opt_int("offset_seconds", -ten_years, ten_years)? {
            Some(offset) => store.set_clock_offset(offset),
            None => {
                store.advance_clock(body.opt_int("advance_seconds", 0, ten_years)?.unwrap_or(0))
            }
        };
        Ok(json!({ "now": now }))
    });
    reply(result)
}

/// `{"url": "http://…/webhooks/pingpp"}` (or `null`): where Ping++ events are POSTed from now on.
async fn set_webhook_url(State(app): State<Arc<App>>, raw: Bytes) -> Response {
    let result = Body::parse(&raw).and_then(|body| {
        body.allow_only(&["url"])?;
        let url = body.opt_str("url", 2048)?;
        let mut store = lock(&app.store);
        store.deliveries.webhook_url = url;
        Ok(store.deliveries.json())
    });
    reply(result)
}

/// Delivery counters: queued, attempts, retries, delivered, given up, pending.
async fn deliveries(State(app): State<Arc<App>>) -> Response {
    reply(Ok(lock(&app.store).deliveries.json()))
}

pub fn router() -> Router<Arc<App>> {
    Router::new()
        .route("/_sandbox/charges/{id}/pay", post(pay))
        .route("/_sandbox/refunds/{id}/succeed", post(succeed_refund))
        .route("/_sandbox/refunds/{id}/fail", post(fail_refund))
        .route("/_sandbox/events", get(events))
        .route("/_sandbox/events/{id}/webhook", get(webhook))
        .route("/_sandbox/stats", get(stats))
        .route("/_sandbox/reset-stats", post(reset_stats))
        .route(
            "/_sandbox/faults",
            post(add_fault).get(list_faults).delete(clear_faults),
        )
        .route(
            "/_sandbox/failures",
            post(add_failure).get(list_failures).delete(clear_failures),
        )
        .route("/_sandbox/clock", post(clock).get(clock))
        .route(
            "/_sandbox/charge_fates",
            post(add_charge_fate)
                .get(list_charge_fates)
                .delete(clear_charge_fates),
        )
        .route("/_sandbox/charges/generate", post(generate_charges))
        .route("/_sandbox/ledger", get(crate::movements::ledger))
        .route("/_sandbox/webhooks", post(set_webhook_url))
        .route("/_sandbox/deliveries", get(deliveries))
}
