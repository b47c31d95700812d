//! Transfers (企业付款, shared/reference/pingpp.md §4.6, §5): create with the per-channel
//! order_no, recipient and `extra` rules; retrieve; list (cursor); cancel (unionpay, while
//! `scheduled`); reverse (while `pending`).
//!
//! State machine (test mode: retrieving a transfer advances it, doc "创建 Transfer 对象"):
//! `pending` → `paid` | `failed` on retrieve; unionpay starts `scheduled` and stays so for
//! [`SCHEDULE_SECS`] (sandbox clock), when cancel can stop it (→ `canceled`), then goes on like a
//! pending one; reverse takes a `pending` one back (→ `reversed`; UNSURE in the reference).
//! Events: `transfer.succeeded` (documented), `transfer.failed`, `transfer.canceled`,
//! `transfer.reversed` (names UNSURE). A transfer fails only when a failure was injected for it
//! (`/_sandbox/failures`); a paid transfer on channel `balance` credits the user's balance.
//!
//! Idempotency (UNSURE at the real gateway): the same `order_no` with the same parameters answers
//! the same transfer; with other parameters it is refused naming `order_no`.

use serde_json::{Map, Value, json};

use super::failures::On;
use super::users::{self, Movement};
use super::{Ctx, shared};
use crate::error::{ApiError, ApiResult};
use crate::list::{CURSOR_PARAMS, Cursor, list_object};
use crate::params::Body;
use crate::store::{Record, Store, alnum, digits};

/// How long a unionpay transfer (or batch) stays `scheduled`, cancellable (pingpp.md §4.7).
pub const SCHEDULE_SECS: i64 = 300;

/// Roughly the last month is searched when no `created` filter is given (§4.1).
const DEFAULT_LIST_SPAN_SECS: i64 = 31 * 86_400;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Scheduled,
    Pending,
    Paid,
    Failed,
    Canceled,
    Reversed,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Scheduled => "scheduled",
            Status::Pending => "pending",
            Status::Paid => "paid",
            Status::Failed => "failed",
            Status::Canceled => "canceled",
            Status::Reversed => "reversed",
        }
    }

    /// No money moved and none will.
    pub fn is_void(self) -> bool {
        matches!(self, Status::Failed | Status::Canceled | Status::Reversed)
    }
}

#[derive(Debug, Clone)]
pub struct Transfer {
    pub id: String,
    pub created: i64,
    pub status: Status,
    pub time_transferred: Option<i64>,
    pub channel: String,
    pub order_no: String,
    /// Set on the transfers a batch transfer makes.
    pub batch_no: Option<String>,
    pub amount: i64,
    pub kind: String,
    pub recipient: Option<String>,
    pub description: Option<String>,
    pub transaction_no: Option<String>,
    pub failure_msg: Option<String>,
    pub extra: Map<String, Value>,
    pub metadata: Map<String, Value>,
    /// An injected failure, applied when the transfer settles.
    pub fate: Option<String>,
    /// The create request's parameters, for the order_no de-duplication.
    pub fingerprint: String,
}

impl Record for Transfer {
    fn id(&self) -> &str {
        &self.id
    }
}

impl Transfer {
    pub fn to_json(&self, app: &str) -> Value {
        json!({
            "id": self.id,
            "object": "transfer",
            "type": self.kind,
            "created": self.created,
            "time_transferred": self.time_transferred,
            "livemode": false,
            "status": self.status.as_str(),
            "app": app,
            "channel": self.channel,
            "order_no": self.order_no,
            "batch_no": self.batch_no,
            "amount": self.amount,
            "amount_settle": self.amount,
            "currency": "cny",
            "recipient": self.recipient,
            "description": self.description,
            "transaction_no": self.transaction_no,
            "failure_msg": self.failure_msg,
            "extra": self.extra,
            "metadata": self.metadata,
        })
    }
}

/// The transfer channels (§6) and their order_no rules (§4.6).
pub const CHANNELS: &[&str] = &[
    "alipay", "wx", "wx_pub", "wx_lite", "balance", "unionpay", "allinpay", "jdpay",
];

/// Bank-card channels: the payee is `extra.card_number`.
pub fn is_bank(channel: &str) -> bool {
    matches!(channel, "unionpay" | "allinpay" | "jdpay")
}

/// Whether `order_no` fits `channel` (§4.6), and the rule when it does not.
pub fn check_order_no(channel: &str, order_no: &str) -> Result<(), &'static str> {
    let alnum = order_no.bytes().all(|b| b.is_ascii_alphanumeric());
    let len = order_no.len();
    let ok = match channel {
        "wx" | "wx_pub" | "wx_lite" => alnum && (1..=32).contains(&len),
        "unionpay" => order_no.bytes().all(|b| b.is_ascii_digit()) && (1..=16).contains(&len),
        "allinpay" => alnum && (20..=40).contains(&len),
        "balance" => {
            order_no
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                && (1..=64).contains(&len)
        }
        _ => alnum && (1..=64).contains(&len),
    };
    if ok {
        return Ok(());
    }
    Err(match channel {
        "wx" | "wx_pub" | "wx_lite" => "1 到 32 位字母和数字",
        "unionpay" => "1 到 16 位数字",
        "allinpay" => "20 到 40 位字母和数字 (以通联商户号开头)",
        "balance" => "1 到 64 位字母、数字、- 或 _",
        _ => "1 到 64 位字母和数字",
    })
}

/// Checks the channel-specific payee of a transfer: `recipient` (and, for balance, a known
/// user), or for bank cards `extra.card_number`, `extra.user_name` and the bank.
fn check_payee(
    store: &Store,
    body: &Body,
    channel: &str,
    recipient: Option<&str>,
    extra: &Map<String, Value>,
) -> ApiResult<()> {
    let has = |k: &str| extra.get(k).is_some_and(|v| !v.is_null() && v != "");
    if is_bank(channel) {
        for key in ["card_number", "user_name"] {
            if !has(key) {
                return Err(ApiError::param(
                    format!("extra[{key}]"),
                    format!("渠道 {channel} 缺少必填参数: extra[{key}]"),
                ));
            }
        }
        if !has("open_bank_code") && !has("open_bank") {
            return Err(ApiError::param(
                "extra[open_bank_code]",
                "open_bank_code 和 open_bank 必须传一个",
            ));
        }
        return Ok(());
    }
    let Some(recipient) = recipient else {
        return Err(ApiError::param(
            body.name("recipient"),
            format!("渠道 {channel} 缺少必填参数: recipient"),
        ));
    };
    if channel == "alipay" && !has("recipient_name") {
        return Err(ApiError::param(
            "extra[recipient_name]",
            "渠道 alipay 缺少必填参数: extra[recipient_name]",
        ));
    }
    if channel == "balance" {
        users::spendable(store, recipient).map_err(|_| {
            ApiError::param(
                "recipient",
                format!("余额转账的接收用户不存在或已禁用: {recipient}"),
            )
        })?;
    }
    Ok(())
}

/// A transfer to make: validated create parameters, or one item of a batch.
pub struct NewTransfer {
    pub order_no: String,
    pub channel: String,
    pub amount: i64,
    pub kind: String,
    pub recipient: Option<String>,
    pub description: Option<String>,
    pub extra: Map<String, Value>,
    pub metadata: Map<String, Value>,
    /// The batch that makes it.
    pub batch_no: Option<String>,
    /// An injected failure, applied when it settles.
    pub fate: Option<String>,
}

fn read(store: &Store, body: &Body) -> ApiResult<NewTransfer> {
    body.allow_only(&[
        "order_no",
        "app",
        "channel",
        "amount",
        "currency",
        "type",
        "recipient",
        "description",
        "extra",
        "metadata",
    ])?;
    shared::check_app_object(store, body)?;
    let channel = body.req_str("channel", 32)?;
    if !CHANNELS.contains(&channel.as_str()) {
        return Err(ApiError::param(
            "channel",
            format!("不支持的企业付款渠道 (channel): {channel}"),
        ));
    }
    let order_no = body.req_str("order_no", 64)?;
    check_order_no(&channel, &order_no).map_err(|rule| {
        ApiError::param(
            "order_no",
            format!("渠道 {channel} 的 order_no 必须是 {rule}，收到: {order_no}"),
        )
    })?;
    let min = if channel == "balance" { 1 } else { 100 };
    let amount = body.req_int("amount", min, 100_000_000_000)?;
    let currency = body.req_str("currency", 3)?;
    if currency != "cny" {
        return Err(ApiError::param("currency", "企业付款仅支持 cny"));
    }
    let kind = body.req_str("type", 3)?;
    match kind.as_str() {
        "b2c" => {}
        "b2b" if channel == "alipay" || is_bank(&channel) => {}
        "b2b" => {
            return Err(ApiError::param(
                "type",
                format!("渠道 {channel} 仅支持 b2c 企业付款"),
            ));
        }
        other => {
            return Err(ApiError::param(
                "type",
                format!("type 只能是 b2c 或 b2b，收到: {other}"),
            ));
        }
    }
    let recipient = body.opt_str("recipient", 64)?;
    let description = body.req_str("description", 255)?;
    let max_desc = if channel == "allinpay" { 30 } else { 100 };
    if description.chars().count() > max_desc {
        return Err(ApiError::param(
            "description",
            format!("渠道 {channel} 的 description 不能超过 {max_desc} 个字符"),
        ));
    }
    let extra = body
        .opt_object("extra")?
        .map(Body::into_map)
        .unwrap_or_default();
    check_payee(store, body, &channel, recipient.as_deref(), &extra)?;
    Ok(NewTransfer {
        order_no,
        channel,
        amount,
        kind,
        recipient,
        description: Some(description),
        extra,
        metadata: body.metadata()?.unwrap_or_default(),
        batch_no: None,
        fate: None,
    })
}

/// Books a new transfer (of a batch or of its own): `scheduled` on unionpay, `pending`
/// otherwise. Returns its id.
pub fn insert(store: &mut Store, new: NewTransfer, fingerprint: String) -> String {
    let id = format!("tr_{}", alnum(24));
    let status = if new.channel == "unionpay" {
        Status::Scheduled
    } else {
        Status::Pending
    };
    store.transfers.insert(Transfer {
        id: id.clone(),
        created: store.now(),
        status,
        time_transferred: None,
        channel: new.channel,
        order_no: new.order_no,
        batch_no: new.batch_no,
        amount: new.amount,
        kind: new.kind,
        recipient: new.recipient,
        description: new.description,
        transaction_no: None,
        failure_msg: None,
        extra: new.extra,
        metadata: new.metadata,
        fate: new.fate,
        fingerprint,
    });
    id
}

/// `POST /v1/transfers`
pub fn create(ctx: &mut Ctx) -> ApiResult<Value> {
    let fingerprint = ctx.body.fingerprint();
    let order_no = ctx.body.req_str("order_no", 64)?;
    let store = &*ctx.store;
    let earlier = store
        .transfer_order_nos
        .get(&order_no)
        .and_then(|id| store.transfers.get(id))
        .map(|t| (t.id.as_str(), t.fingerprint.as_str()));
    let key = ("order_no", order_no.as_str());
    if let Some(id) = shared::reuse(key, earlier, &fingerprint, "Transfer")? {
        return Ok(find(store, &id)?.to_json(&store.app_id));
    }
    let mut new = read(ctx.store, &ctx.body)?;
    new.fate = {
        let card = new.extra.get("card_number").and_then(Value::as_str);
        let parties: Vec<&str> = new.recipient.as_deref().into_iter().chain(card).collect();
        ctx.store
            .failures
            .take(On::Transfer, &new.channel, &parties)
    };
    let order_no = new.order_no.clone();
    let id = insert(ctx.store, new, fingerprint);
    ctx.store.transfer_order_nos.insert(order_no, id.clone());
    Ok(find(ctx.store, &id)?.to_json(&ctx.store.app_id))
}

/// Moves a transfer on one step if it is due: a scheduled one leaves the schedule once its
/// window is over, a pending one is paid (or fails, when a failure was injected). Events and
/// the balance credit go with it. Anything else is left alone.
pub fn advance(store: &mut Store, id: &str, request_id: &str) {
    let now = store.now();
    let Some(t) = store.transfers.get_mut(id) else {
        return;
    };
    match t.status {
        Status::Scheduled if now < t.created + SCHEDULE_SECS => return,
        Status::Scheduled | Status::Pending => {}
        _ => return,
    }
    let (kind, credit) = match t.fate.take() {
        Some(message) => {
            t.status = Status::Failed;
            t.failure_msg = Some(message);
            ("transfer.failed", None)
        }
        None => {
            t.status = Status::Paid;
            t.time_transferred = Some(now);
            t.transaction_no = Some(digits(28));
            let credit = (t.channel == "balance").then(|| (t.recipient.clone(), t.amount));
            ("transfer.succeeded", credit)
        }
    };
    if let Some((Some(user), amount)) = credit {
        let movement = Movement {
            amount,
            kind: "transfer",
            source: id,
            description: "企业付款到余额",
            withdrawable: true,
        };
        // The user was checked at creation; a user made since cannot vanish.
        let _ = users::move_balance(store, &user, true, &movement);
    }
    let object = store
        .transfers
        .get(id)
        .expect("exists")
        .to_json(&store.app_id);
    store.emit(kind, object, request_id);
}

fn find<'a>(store: &'a Store, id: &str) -> ApiResult<&'a Transfer> {
    store
        .transfers
        .get(id)
        .ok_or_else(|| ApiError::not_found("transfer", id))
}

/// `GET /v1/transfers/{id}` — advances the transfer (test mode).
pub fn retrieve(ctx: &mut Ctx) -> ApiResult<Value> {
    ctx.query.allow_only(&[])?;
    let id = ctx.param(0).to_string();
    find(ctx.store, &id)?;
    advance(ctx.store, &id, &ctx.request_id);
    Ok(find(ctx.store, &id)?.to_json(&ctx.store.app_id))
}

/// `GET /v1/transfers` — cursor pagination; `app[id]`, `channel`, `status`, `type`, `created`.
pub fn list(ctx: &mut Ctx) -> ApiResult<Value> {
    let q = &ctx.query;
    let mut allowed = vec!["app[id]", "channel", "status", "type"];
    allowed.extend_from_slice(CURSOR_PARAMS);
    q.allow_only(&allowed)?;
    shared::check_app_query(ctx, "app[id]", false)?;
    let cursor = Cursor::from_query(q)?;
    let (channel, status, kind) = (q.get("channel"), q.get("status"), q.get("type"));
    let since = if cursor.created.is_empty() {
        ctx.store.now() - DEFAULT_LIST_SPAN_SECS
    } else {
        i64::MIN
    };
    let (page, has_more) = cursor.page(ctx.store.transfers.newest_first().collect(), |t| {
        t.created >= since
            && cursor.created.matches(t.created)
            && channel.is_none_or(|c| t.channel == c)
            && status.is_none_or(|s| t.status.as_str() == s)
            && kind.is_none_or(|k| t.kind == k)
    })?;
    let data = page
        .into_iter()
        .map(|t| t.to_json(&ctx.store.app_id))
        .collect();
    Ok(list_object("/v1/transfers", has_more, data))
}

/// `PUT /v1/transfers/{id}` `{"status": "canceled"}` — unionpay, while `scheduled`.
pub fn cancel(ctx: &mut Ctx) -> ApiResult<Value> {
    ctx.body.allow_only(&["status"])?;
    if ctx.body.req_str("status", 16)? != "canceled" {
        return Err(ApiError::param("status", "status 只能更新为 canceled"));
    }
    let id = ctx.param(0).to_string();
    let now = ctx.store.now();
    let t = find(ctx.store, &id)?;
    if t.batch_no.is_some() {
        return Err(ApiError::invalid(format!(
            "Transfer {id} 属于批量付款 {}，请取消该批量付款。",
            t.batch_no.as_deref().unwrap_or_default()
        )));
    }
    if t.channel != "unionpay" || t.status != Status::Scheduled || now >= t.created + SCHEDULE_SECS
    {
        return Err(ApiError::invalid(format!(
            "只有 unionpay 渠道、处于 scheduled 状态 (创建后 5 分钟内) 的 Transfer 可以取消；Transfer {id} 的状态是 {}。",
            t.status.as_str()
        )));
    }
    stop(ctx, &id, Status::Canceled, "transfer.canceled")
}

/// `POST /v1/transfers/{id}/reverse` — while `pending` (not yet with the recipient).
pub fn reverse(ctx: &mut Ctx) -> ApiResult<Value> {
    ctx.body.allow_only(&[])?;
    let id = ctx.param(0).to_string();
    let t = find(ctx.store, &id)?;
    if t.status != Status::Pending || t.batch_no.is_some() {
        return Err(ApiError::invalid(format!(
            "只有处于 pending 状态 (尚未到账) 的 Transfer 可以撤销；Transfer {id} 的状态是 {}。",
            t.status.as_str()
        )));
    }
    stop(ctx, &id, Status::Reversed, "transfer.reversed")
}

/// Ends a transfer without paying it, with its event.
fn stop(ctx: &mut Ctx, id: &str, status: Status, event: &str) -> ApiResult<Value> {
    let t = ctx.store.transfers.get_mut(id).expect("found");
    t.status = status;
    t.fate = None;
    let object = t.to_json(&ctx.store.app_id);
    ctx.store.emit(event, object.clone(), &ctx.request_id);
    Ok(object)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_no_rules_by_channel() {
        assert!(check_order_no("unionpay", "1234567890123456").is_ok());
        assert!(check_order_no("unionpay", "12345678901234567").is_err());
        assert!(check_order_no("unionpay", "12AB").is_err());
        assert!(check_order_no("wx_pub", &"a".repeat(33)).is_err());
        assert!(check_order_no("allinpay", "short").is_err());
        assert!(check_order_no("balance", "u-1_2").is_ok());
        assert!(check_order_no("alipay", "u-1").is_err());
    }
}
