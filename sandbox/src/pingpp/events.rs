//! Events (`charge.succeeded`, `refund.succeeded`, `recharge.succeeded`, `transfer.succeeded`,
//! `red_envelope.sent`, `batch_refund.succeeded`, … one per state change): recorded with the exact
//! JSON text a webhook delivery carries, retrievable at `GET /v1/events/{id}` and listed at
//! `GET /v1/events` (cursor, `type`; the list's path and filters are UNSURE, pingpp.md §4.8).

use axum::http::StatusCode;
use rsa::PrivateKey;
use serde_json::{Value, json};
use zhifu_signing::pingpp::sign_webhook;

use super::Ctx;
use crate::error::{ApiError, ApiResult};
use crate::list::{CURSOR_PARAMS, Cursor, list_object};
use crate::store::{Record, Store, alnum};

/// One event; `body` is its serialized form, fixed at creation so every delivery is byte-identical.
#[derive(Debug, Clone)]
pub struct Event {
    pub id: String,
    pub kind: String,
    pub created: i64,
    pub body: String,
}

impl Record for Event {
    fn id(&self) -> &str {
        &self.id
    }
}

impl Event {
    pub fn to_json(&self) -> Value {
        serde_json::from_str(&self.body).expect("event bodies are JSON we wrote")
    }

    /// `{"body": <exact webhook text>, "signature": <base64 RSA-SHA256 with the Ping++ key>}`.
    pub fn webhook(&self, key: &PrivateKey) -> Value {
        json!({ "body": self.body, "signature": sign_webhook(key, self.body.as_bytes()) })
    }
}

impl Store {
    /// Records an event of `kind` about `object` (already rendered) caused by `request_id`.
    pub fn emit(&mut self, kind: &str, object: Value, request_id: &str) {
        let id = format!("evt_{}", alnum(24));
        let event = json!({
            "id": id,
            "object": "event",
            "created": self.now(),
            "livemode": false,
            "type": kind,
            "data": { "object": object },
            "pending_webhooks": 0,
            "request": request_id,
        });
        tracing::info!(event = %id, kind, "Ping++ sandbox event");
        self.events.insert(Event {
            id,
            kind: kind.to_string(),
            created: self.now(),
            body: event.to_string(),
        });
    }
}

/// `GET /v1/events/{id}` — unknown ids answer Ping++'s observed `No such event: evt_…`.
pub fn retrieve(ctx: &mut Ctx) -> ApiResult<Value> {
    ctx.query.allow_only(&[])?;
    let id = ctx.param(0);
    match ctx.store.events.get(id) {
        Some(event) => Ok(event.to_json()),
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            format!("No such event: {id}"),
        )
        .with_param("id")),
    }
}

/// `GET /v1/events` — cursor pagination; `type`, `created`.
pub fn list(ctx: &mut Ctx) -> ApiResult<Value> {
    let mut allowed = vec!["type"];
    allowed.extend_from_slice(CURSOR_PARAMS);
    ctx.query.allow_only(&allowed)?;
    let cursor = Cursor::from_query(&ctx.query)?;
    let kind = ctx.query.get("type");
    let (page, has_more) = cursor.page(ctx.store.events.newest_first().collect(), |e| {
        cursor.created.matches(e.created) && kind.is_none_or(|k| e.kind == k)
    })?;
    let data = page.into_iter().map(Event::to_json).collect();
    Ok(list_object("/v1/events", has_more, data))
}
