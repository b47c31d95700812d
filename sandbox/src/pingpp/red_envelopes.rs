//! Red envelopes (红包, the Ping++ docs "Red Envelopes 红包"): create (wx_pub), retrieve, list
//! (cursor).
//!
//! State machine (test mode: "需要主动调用红包查询接口才能刷新红包订单的状态且触发 Webhooks"):
//! `sending` → `sent` (event `red_envelope.sent`) or `failed` (when a failure was injected;
//! event `red_envelope.failed`, name UNSURE) on the first retrieve; `sent` → `received` (event
//! `red_envelope.received`) on the next, or → `refund` when [`UNCLAIMED_SECS`] passed since it
//! was sent (event `red_envelope.refunded`, name UNSURE).
//!
//! Idempotency (UNSURE at the real gateway): the same `order_no` with the same parameters answers
//! the same envelope; with other parameters it is refused naming `order_no`.

use serde_json::{Map, Value, json};

use super::failures::On;
use super::{Ctx, shared};
use crate::error::{ApiError, ApiResult};
use crate::list::{CURSOR_PARAMS, Cursor, list_object};
use crate::store::{Record, Store, alnum, digits};

/// An unclaimed envelope goes back after 24 hours.
pub const UNCLAIMED_SECS: i64 = 86_400;

/// Roughly the last month is searched when no `created` filter is given.
const DEFAULT_LIST_SPAN_SECS: i64 = 31 * 86_400;

/// WeChat's usual range (fen); amounts outside need `extra.scene_id`.
const USUAL: std::ops::RangeInclusive<i64> = 100..=20_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Sending,
    Sent,
    Failed,
    Received,
    Refund,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::Sending => "sending",
            Status::Sent => "sent",
            Status::Failed => "failed",
            Status::Received => "received",
            Status::Refund => "refund",
        }
    }
}

#[derive(Debug, Clone)]
pub struct RedEnvelope {
    pub id: String,
    pub created: i64,
    pub sent: Option<i64>,
    pub received: Option<i64>,
    pub refunded: Option<i64>,
    pub status: Status,
    pub order_no: String,
    pub amount: i64,
    pub recipient: String,
    pub subject: String,
    pub body: String,
    pub description: String,
    pub transaction_no: Option<String>,
    pub failure_msg: Option<String>,
    pub extra: Map<String, Value>,
    pub metadata: Map<String, Value>,
    fate: Option<String>,
    fingerprint: String,
}

impl Record for RedEnvelope {
    fn id(&self) -> &str {
        &self.id
    }
}

impl RedEnvelope {
    /// No money left the merchant for good.
    pub fn is_void(&self) -> bool {
        matches!(self.status, Status::Failed | Status::Refund)
    }

    fn to_json(&self, app: &str) -> Value {
        json!({
            "id": self.id,
            "object": "red_envelope",
            "created": self.created,
            "received": self.received,
            "refunded": self.refunded,
            "livemode": false,
            "status": self.status.as_str(),
            "app": app,
            "channel": "wx_pub",
            "order_no": self.order_no,
            "transaction_no": self.transaction_no,
            "amount": self.amount,
            "amount_settle": self.amount,
            "currency": "cny",
            "recipient": self.recipient,
            "subject": self.subject,
            "body": self.body,
            "description": self.description,
            "failure_msg": self.failure_msg,
            "extra": self.extra,
            "metadata": self.metadata,
        })
    }
}

/// `POST /v1/red_envelopes`
pub fn create(ctx: &mut Ctx) -> ApiResult<Value> {
    let body = &ctx.body;
    body.allow_only(&[
        "order_no",
        "app",
        "channel",
        "amount",
        "currency",
        "recipient",
        "subject",
        "body",
        "description",
        "extra",
        "metadata",
    ])?;
    let fingerprint = body.fingerprint();
    let order_no = body.req_str("order_no", 28)?;
    if !order_no.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ApiError::param(
            "order_no",
            format!("wx_pub 渠道的 order_no 必须是 1 到 28 位数字，收到: {order_no}"),
        ));
    }
    let store = &*ctx.store;
    let earlier = store
        .red_envelope_order_nos
        .get(&order_no)
        .and_then(|id| store.red_envelopes.get(id))
        .map(|e| (e.id.as_str(), e.fingerprint.as_str()));
    let key = ("order_no", order_no.as_str());
    if let Some(id) = shared::reuse(key, earlier, &fingerprint, "red_envelope")? {
        let e = store.red_envelopes.get(&id).expect("found");
        return Ok(e.to_json(&store.app_id));
    }
    shared::check_app_object(ctx.store, body)?;
    let channel = body.req_str("channel", 16)?;
    if channel != "wx_pub" {
        return Err(ApiError::param(
            "channel",
            format!("红包仅支持 wx_pub 渠道，收到: {channel}"),
        ));
    }
    if body.req_str("currency", 3)? != "cny" {
        return Err(ApiError::param("currency", "红包仅支持 cny"));
    }
    let amount = body.req_int("amount", 1, 100_000_000)?;
    let recipient = body.req_str("recipient", 64)?;
    let (subject, text, description) = (
        body.req_str("subject", 32)?,
        body.req_str("body", 128)?,
        body.req_str("description", 255)?,
    );
    body.check_bytes("subject", &subject, 32)?;
    body.check_bytes("body", &text, 128)?;
    body.check_bytes("description", &description, 255)?;
    let extra_body = body.req_object("extra")?;
    extra_body.allow_only(&["send_name", "scene_id", "nick_name"])?;
    let send_name = extra_body.req_str("send_name", 32)?;
    extra_body.check_bytes("send_name", &send_name, 32)?;
    if !USUAL.contains(&amount) && extra_body.opt_str("scene_id", 16)?.is_none() {
        return Err(ApiError::param(
            "extra[scene_id]",
            format!("红包金额 {amount} 分不在 100 到 20000 之间，必须传 extra[scene_id]"),
        ));
    }
    let metadata = body.metadata()?.unwrap_or_default();
    let fate = ctx
        .store
        .failures
        .take(On::RedEnvelope, "wx_pub", &[recipient.as_str()]);
    let id = format!("red_{}", alnum(24));
    let envelope = RedEnvelope {
        id: id.clone(),
        created: ctx.store.now(),
        sent: None,
        received: None,
        refunded: None,
        status: Status::Sending,
        order_no: order_no.clone(),
        amount,
        recipient,
        subject,
        body: text,
        description,
        transaction_no: None,
        failure_msg: None,
        extra: extra_body.into_map(),
        metadata,
        fate,
        fingerprint,
    };
    let json = envelope.to_json(&ctx.store.app_id);
    ctx.store.red_envelopes.insert(envelope);
    ctx.store.red_envelope_order_nos.insert(order_no, id);
    Ok(json)
}

/// One step of the state machine, with its event.
fn advance(store: &mut Store, id: &str, request_id: &str) {
    let now = store.now();
    let Some(e) = store.red_envelopes.get_mut(id) else {
        return;
    };
    let event = match e.status {
        Status::Sending => match e.fate.take() {
            Some(message) => {
                e.status = Status::Failed;
                e.failure_msg = Some(message);
                "red_envelope.failed"
            }
            None => {
                e.status = Status::Sent;
                e.sent = Some(now);
                e.transaction_no = Some(digits(28));
                "red_envelope.sent"
            }
        },
        Status::Sent if now >= e.sent.unwrap_or(now) + UNCLAIMED_SECS => {
            e.status = Status::Refund;
            e.refunded = Some(now);
            "red_envelope.refunded"
        }
        Status::Sent => {
            e.status = Status::Received;
            e.received = Some(now);
            "red_envelope.received"
        }
        _ => return,
    };
    let object = e.to_json(&store.app_id);
    store.emit(event, object, request_id);
}

/// `GET /v1/red_envelopes/{id}` — advances the envelope one step (test mode).
pub fn retrieve(ctx: &mut Ctx) -> ApiResult<Value> {
    ctx.query.allow_only(&["expand[]", "expand"])?;
    let id = ctx.param(0).to_string();
    if ctx.store.red_envelopes.get(&id).is_none() {
        return Err(ApiError::not_found("red_envelope", &id));
    }
    advance(ctx.store, &id, &ctx.request_id);
    let e = ctx.store.red_envelopes.get(&id).expect("exists");
    Ok(e.to_json(&ctx.store.app_id))
}

/// `GET /v1/red_envelopes` — `app[id]` required; cursor; `channel`, `status`, `created`.
pub fn list(ctx: &mut Ctx) -> ApiResult<Value> {
    let q = &ctx.query;
    let mut allowed = vec!["app[id]", "channel", "status"];
    allowed.extend_from_slice(CURSOR_PARAMS);
    q.allow_only(&allowed)?;
    shared::check_app_query(ctx, "app[id]", true)?;
    let cursor = Cursor::from_query(q)?;
    let (channel, status) = (q.get("channel"), q.get("status"));
    let since = if cursor.created.is_empty() {
        ctx.store.now() - DEFAULT_LIST_SPAN_SECS
    } else {
        i64::MIN
    };
    let (page, has_more) = cursor.page(ctx.store.red_envelopes.newest_first().collect(), |e| {
        e.created >= since
            && cursor.created.matches(e.created)
            && channel.is_none_or(|c| c == "wx_pub")
            && status.is_none_or(|s| e.status.as_str() == s)
    })?;
    let data = page
        .into_iter()
        .map(|e| e.to_json(&ctx.store.app_id))
        .collect();
    Ok(list_object("/v1/red_envelopes", has_more, data))
}
