//! Charges: create (validation and order_no de-duplication), retrieve, list, and paying one
//! (sandbox-only, or automatically with `auto_pay`).

use std::net::IpAddr;

use serde_json::{Map, Value, json};

use super::Ctx;
use super::channels::{self, Channel};
use super::refunds::{self, NewRefund};
use super::users::{self, Movement};
use crate::error::{ApiError, ApiResult};
use crate::list::{CURSOR_PARAMS, Cursor, list_object};
use crate::store::{Record, Store, alnum, digits};

/// A charge as stored. `refunded`/`amount_refunded` follow from `refund_ids` and `amount_refunded`.
#[derive(Debug, Clone)]
pub struct Charge {
    pub id: String,
    pub created: i64,
    pub paid: bool,
    pub reversed: bool,
    pub channel: String,
    pub order_no: String,
    pub client_ip: String,
    pub amount: i64,
    pub currency: String,
    pub subject: String,
    pub body: String,
    pub extra: Map<String, Value>,
    pub time_paid: Option<i64>,
    pub time_expire: i64,
    pub transaction_no: Option<String>,
    pub refund_ids: Vec<String>,
    /// Sum of pending and succeeded refunds.
    pub amount_refunded: i64,
    pub metadata: Map<String, Value>,
    pub credential: Value,
    pub description: Option<String>,
    /// Set when the charge was created by a recharge (refund it through the recharge instead).
    pub recharge_id: Option<String>,
    /// Set when paying it failed (`/_sandbox/charge_fates`).
    pub failure_code: Option<String>,
    pub failure_msg: Option<String>,
}

impl Record for Charge {
    fn id(&self) -> &str {
        &self.id
    }
}

/// The validated create parameters (also used for a recharge's embedded charge).
#[derive(Debug, Clone)]
pub struct NewCharge {
    pub order_no: String,
    pub channel: &'static Channel,
    pub amount: i64,
    pub client_ip: String,
    pub currency: String,
    pub subject: String,
    pub body: String,
    pub extra: Map<String, Value>,
    pub time_expire: Option<i64>,
    pub metadata: Map<String, Value>,
    pub description: Option<String>,
}

/// The charge object of §5. `expand_app` embeds the app object instead of its id.
pub fn to_json(store: &Store, ch: &Charge, expand_app: bool) -> Value {
    let app = if expand_app {
        store.app_json()
    } else {
        Value::from(store.app_id.clone())
    };
    let refunds: Vec<Value> = ch
        .refund_ids
        .iter()
        .rev()
        .take(10)
        .filter_map(|id| store.refunds.get(id))
        .map(|r| r.to_json())
        .collect();
    json!({
        "id": ch.id,
        "object": "charge",
        "created": ch.created,
        "livemode": false,
        "paid": ch.paid,
        "refunded": !ch.refund_ids.is_empty(),
        "reversed": ch.reversed,
        "app": app,
        "channel": ch.channel,
        "order_no": ch.order_no,
        "client_ip": ch.client_ip,
        "amount": ch.amount,
        "amount_settle": ch.amount,
        "currency": ch.currency,
        "subject": ch.subject,
        "body": ch.body,
        "extra": ch.extra,
        "time_paid": ch.time_paid,
        "time_expire": ch.time_expire,
        "time_settle": null,
        "transaction_no": ch.transaction_no,
        "refunds": list_object(&format!("/v1/charges/{}/refunds", ch.id), ch.refund_ids.len() > 10, refunds),
        "amount_refunded": ch.amount_refunded,
        "failure_code": ch.failure_code,
        "failure_msg": ch.failure_msg,
        "metadata": ch.metadata,
        "credential": ch.credential,
        "description": ch.description,
    })
}

fn is_alnum(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// Reads and checks the create parameters shared by charges and recharges' embedded charges.
pub fn read_new_charge(
    body: &crate::params::Body,
    now: i64,
    client_ip_default: Option<&str>,
) -> ApiResult<NewCharge> {
    let code = body.req_str("channel", 32)?;
    let channel = channels::find(&code).ok_or_else(|| {
        ApiError::param(
            body.name("channel"),
            format!("不支持的支付渠道 (channel): {code}"),
        )
    })?;
    let order_no = body.req_str("order_no", 64)?;
    let (min, max) = channel.order_no_len;
    if !is_alnum(&order_no) || order_no.len() < min || order_no.len() > max {
        return Err(ApiError::param(
            body.name("order_no"),
            format!(
                "order_no 只能包含字母和数字，渠道 {code} 要求长度为 {min} 到 {max} 位，收到: {order_no}"
            ),
        ));
    }
    let amount = body.req_int("amount", 1, 100_000_000_000)?;
    let currency = body.opt_str("currency", 3)?.unwrap_or_else(|| "cny".into());
    if currency != "cny" {
        return Err(ApiError::param(
            body.name("currency"),
            format!("不支持的币种 (currency): {currency}，仅支持 cny"),
        ));
    }
    let subject = body.req_str("subject", 32)?;
    if channel.subject_in_bytes() && subject.len() > 32 {
        return Err(ApiError::param(
            body.name("subject"),
            format!("渠道 {code} 的 subject 不能超过 32 个字节"),
        ));
    }
    let charge_body = body.req_str("body", channel.max_body_chars())?;
    let client_ip = match (body.opt_str("client_ip", 45)?, client_ip_default) {
        (Some(ip), _) => ip,
        (None, Some(default)) => default.to_string(),
        (None, None) => body.req_str("client_ip", 45)?,
    };
    if client_ip.parse::<IpAddr>().is_err() {
        return Err(ApiError::param(
            body.name("client_ip"),
            format!("client_ip 不是合法的 IP 地址: {client_ip}"),
        ));
    }
    let extra = body
        .opt_object("extra")?
        .map(|b| b.into_map())
        .unwrap_or_default();
    if let Some(missing) = channel
        .required_extra
        .iter()
        .find(|k| extra.get(**k).is_none_or(|v| v.is_null() || v == ""))
    {
        let name = format!("{}[{missing}]", body.name("extra"));
        return Err(ApiError::param(
            name.clone(),
            format!("渠道 {code} 缺少必填参数: {name}"),
        ));
    }
    let (_, max_expiry) = channel.expiry_secs();
    let time_expire = body.opt_int("time_expire", 0, i64::MAX)?;
    if let Some(t) = time_expire
        && (t < now + 60 || t > now + max_expiry)
    {
        return Err(ApiError::param(
            body.name("time_expire"),
            format!(
                "time_expire 必须在创建时间之后 60 秒到 {max_expiry} 秒之间 (渠道 {code})，收到: {t}"
            ),
        ));
    }
    Ok(NewCharge {
        order_no,
        channel,
        amount,
        client_ip,
        currency,
        subject,
        body: charge_body,
        extra,
        time_expire,
        metadata: body.metadata()?.unwrap_or_default(),
        description: body.opt_str("description", 255)?,
    })
}

/// Ping++'s "six elements" check (§7): the same elements within the channel's window give the
/// same charge; different elements with a used order_no are refused.
fn find_duplicate(store: &Store, new: &NewCharge, now: i64) -> ApiResult<Option<String>> {
    let Some(prev) = store
        .order_nos
        .get(&new.order_no)
        .and_then(|id| store.charges.get(id))
    else {
        return Ok(None);
    };
    let mut differing = Vec::new();
    if prev.channel != new.channel.code {
        differing.push("channel");
    }
    if prev.amount != new.amount {
        differing.push("amount");
    }
    if prev.subject != new.subject {
        differing.push("subject");
    }
    if prev.body != new.body {
        differing.push("body");
    }
    let order_no = &new.order_no;
    if !differing.is_empty() {
        return Err(ApiError::param(
            "order_no",
            format!(
                "订单号 {order_no} 已被使用 (Charge {})，本次请求的 {} 与之前的请求不一致。重试时请使用完全相同的参数；新的支付请使用新的 order_no。",
                prev.id,
                differing.join(", ")
            ),
        ));
    }
    let window = new.channel.dedup_window_secs();
    if now - prev.created <= window {
        return Ok(Some(prev.id.clone()));
    }
    if prev.paid {
        return Err(ApiError::param(
            "order_no",
            format!(
                "订单号 {order_no} 已支付 (Charge {})，不能重复使用。",
                prev.id
            ),
        ));
    }
    if new.channel.refuses_reuse_after_window() {
        return Err(ApiError::param(
            "order_no",
            format!(
                "订单号 {order_no} 已被使用 (Charge {})，渠道 {} 不允许重复使用订单号。",
                prev.id, new.channel.code
            ),
        ));
    }
    Ok(None)
}

/// Creates (or, for a duplicate, finds) a charge and returns its id.
pub fn insert(
    store: &mut Store,
    new: NewCharge,
    recharge_id: Option<String>,
) -> ApiResult<(String, bool)> {
    let now = store.now();
    if let Some(id) = find_duplicate(store, &new, now)? {
        return Ok((id, false));
    }
    let id = format!("ch_{}", alnum(24));
    let (default_expiry, _) = new.channel.expiry_secs();
    let charge = Charge {
        credential: new.channel.credential(&id, &new.order_no, new.amount),
        id: id.clone(),
        created: now,
        paid: false,
        reversed: false,
        channel: new.channel.code.to_string(),
        order_no: new.order_no.clone(),
        client_ip: new.client_ip,
        amount: new.amount,
        currency: new.currency,
        subject: new.subject,
        body: new.body,
        extra: new.extra,
        time_paid: None,
        time_expire: new.time_expire.unwrap_or(now + default_expiry),
        transaction_no: None,
        refund_ids: Vec::new(),
        amount_refunded: 0,
        metadata: new.metadata,
        description: new.description,
        recharge_id,
        failure_code: None,
        failure_msg: None,
    };
    store.order_nos.insert(new.order_no, id.clone());
    store.charges.insert(charge);
    Ok((id, true))
}

/// Marks a charge paid and emits `charge.succeeded`. Paying a paid charge changes nothing.
pub fn pay(store: &mut Store, id: &str, request_id: &str) -> ApiResult<Value> {
    let now = store.now();
    let charge = store
        .charges
        .get_mut(id)
        .ok_or_else(|| ApiError::not_found("charge", id))?;
    if !charge.paid && charge.failure_code.is_none() {
        if let Some(fate) = store.charge_fates.take(charge) {
            // Kept unpaid, or failed with the rule's code.
            if let Some(code) = fate.failure_code {
                let msg = fate
                    .failure_msg
                    .unwrap_or_else(|| "支付失败 (sandbox 注入)".to_string());
                charge.failure_code = Some(code);
                charge.failure_msg = Some(msg);
            }
            return Ok(to_json(
                store,
                store.charges.get(id).expect("exists"),
                false,
            ));
        }
        if charge.reversed {
            return Err(ApiError::invalid(format!("Charge {id} 已撤销，不能支付。")));
        }
        if now > charge.time_expire {
            return Err(ApiError::invalid(format!(
                "Charge {id} 已过期 (time_expire {})，不能支付。",
                charge.time_expire
            )));
        }
        charge.paid = true;
        charge.time_paid = Some(now);
        charge.transaction_no = Some(digits(28));
        let object = to_json(store, store.charges.get(id).expect("just paid"), false);
        store.emit("charge.succeeded", object, request_id);
    }
    Ok(to_json(
        store,
        store.charges.get(id).expect("exists"),
        false,
    ))
}

/// For channel `balance`: the paying user (`extra.user`), who must exist, be enabled and have
/// the amount; `None` for other channels.
fn balance_payer(store: &Store, new: &NewCharge) -> ApiResult<Option<String>> {
    if new.channel.code != "balance" {
        return Ok(None);
    }
    let user = new.extra["user"].as_str().unwrap_or_default().to_string();
    let available =
        users::spendable(store, &user).map_err(|e| ApiError::param("extra[user]", e.message))?;
    if available < new.amount {
        return Err(ApiError::param(
            "extra[user]",
            format!(
                "用户 {user} 的余额 {available} 分不足以支付 {} 分。",
                new.amount
            ),
        ));
    }
    Ok(Some(user))
}

/// A balance charge is paid at once from the user's balance (no client step).
fn pay_from_balance(store: &mut Store, id: &str, user: &str, request_id: &str) -> ApiResult<Value> {
    let amount = store.charges.get(id).expect("inserted").amount;
    let movement = Movement {
        amount: -amount,
        kind: "payment",
        source: id,
        description: "余额支付",
        withdrawable: false,
    };
    users::move_balance(store, user, false, &movement)?;
    pay(store, id, request_id)
}

/// Offline channels whose charges can be reversed (go `charge/client.go` Reverse comment).
const REVERSIBLE: &[&str] = &["isv_qr", "isv_scan", "isv_wap"];

/// `POST /v1/charges/{id}/reverse` — an unpaid charge can no longer be paid; a paid one is
/// refunded in full (what remains), like alipay.trade.cancel. Reversing a reversed charge
/// answers it unchanged. Event `charge.reversed` (name UNSURE).
pub fn reverse(ctx: &mut Ctx) -> ApiResult<Value> {
    ctx.body.allow_only(&[])?;
    let id = ctx.param(0).to_string();
    let charge = ctx
        .store
        .charges
        .get(&id)
        .ok_or_else(|| ApiError::not_found("charge", &id))?;
    if !REVERSIBLE.contains(&charge.channel.as_str()) {
        return Err(ApiError::invalid(format!(
            "只有线下渠道 (isv_qr, isv_scan, isv_wap) 的 Charge 可以撤销；Charge {id} 的渠道是 {}。请使用退款。",
            charge.channel
        )));
    }
    if charge.reversed {
        return Ok(to_json(ctx.store, charge, false));
    }
    let remaining = charge.amount - charge.amount_refunded;
    if charge.paid && remaining > 0 {
        let refund = NewRefund {
            description: "撤销".into(),
            ..NewRefund::default()
        };
        let refund_id = refunds::insert_new(ctx.store, &id, remaining, refund);
        refunds::succeed(ctx.store, &refund_id, &ctx.request_id)?;
    }
    ctx.store.charges.get_mut(&id).expect("found").reversed = true;
    let object = to_json(ctx.store, ctx.store.charges.get(&id).expect("found"), false);
    ctx.store
        .emit("charge.reversed", object.clone(), &ctx.request_id);
    Ok(object)
}

/// `POST /v1/charges`
pub fn create(ctx: &mut Ctx) -> ApiResult<Value> {
    let body = &ctx.body;
    body.allow_only(&[
        "order_no",
        "app",
        "channel",
        "amount",
        "client_ip",
        "currency",
        "subject",
        "body",
        "extra",
        "time_expire",
        "metadata",
        "description",
    ])?;
    let app = body.req_object("app")?;
    app.allow_only(&["id"])?;
    let app_id = app.req_str("id", 64)?;
    if app_id != ctx.store.app_id {
        return Err(ApiError::param(
            "app[id]",
            format!("未找到 app : {app_id}。"),
        ));
    }
    let new = read_new_charge(body, ctx.store.now(), None)?;
    let balance_payer = balance_payer(ctx.store, &new)?;
    let (id, created) = insert(ctx.store, new, None)?;
    if let (Some(user), true) = (balance_payer, created) {
        return pay_from_balance(ctx.store, &id, &user, &ctx.request_id);
    }
    if created && ctx.auto_pay {
        return pay(ctx.store, &id, &ctx.request_id);
    }
    let expand_app = ctx.query.expands("app");
    Ok(to_json(
        ctx.store,
        ctx.store.charges.get(&id).expect("inserted"),
        expand_app,
    ))
}

/// `GET /v1/charges/{id}` (`expand[]=app`)
pub fn retrieve(ctx: &mut Ctx) -> ApiResult<Value> {
    ctx.query.allow_only(&["expand[]", "expand"])?;
    let id = ctx.param(0);
    let charge = ctx
        .store
        .charges
        .get(id)
        .ok_or_else(|| ApiError::not_found("charge", id))?;
    Ok(to_json(ctx.store, charge, ctx.query.expands("app")))
}

/// Roughly the last month is searched when no `created` filter is given (§4.1).
const DEFAULT_LIST_SPAN_SECS: i64 = 31 * 86_400;

/// `GET /v1/charges` — `app[id]` required; cursor pagination; filters channel/paid/refunded/reversed.
pub fn list(ctx: &mut Ctx) -> ApiResult<Value> {
    let q = &ctx.query;
    let mut allowed = vec![
        "app[id]", "channel", "paid", "refunded", "reversed", "expand[]", "expand",
    ];
    allowed.extend_from_slice(CURSOR_PARAMS);
    q.allow_only(&allowed)?;
    let app_id = q
        .get("app[id]")
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::param("app[id]", "缺少必填参数: app[id]"))?;
    if app_id != ctx.store.app_id {
        return Err(ApiError::param(
            "app[id]",
            format!("未找到 app : {app_id}。"),
        ));
    }
    let cursor = Cursor::from_query(q)?;
    let (channel, paid, refunded, reversed) = (
        q.get("channel"),
        q.bool("paid")?,
        q.bool("refunded")?,
        q.bool("reversed")?,
    );
    let since = if cursor.created.is_empty() {
        ctx.store.now() - DEFAULT_LIST_SPAN_SECS
    } else {
        i64::MIN
    };
    let (page, has_more) =
        cursor.page(ctx.store.charges.newest_first().collect(), |c: &Charge| {
            c.created >= since
                && cursor.created.matches(c.created)
                && channel.is_none_or(|ch| c.channel == ch)
                && paid.is_none_or(|p| c.paid == p)
                && refunded.is_none_or(|r| c.refund_ids.is_empty() != r)
                && reversed.is_none_or(|r| c.reversed == r)
        })?;
    let expand_app = q.expands("app");
    let data = page
        .into_iter()
        .map(|c| to_json(ctx.store, c, expand_app))
        .collect();
    Ok(list_object("/v1/charges", has_more, data))
}
