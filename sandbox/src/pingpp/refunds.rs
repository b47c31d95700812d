//! Charge refunds: partial refunds up to the charge amount; a refund is `pending` when created
//! and `succeeded` (with a `refund.succeeded` event) once it is retrieved or listed, or when the
//! sandbox is told so. The sandbox can also make a pending refund fail the way a channel refusal
//! looks: HTTP 200, `status: "failed"`, and the amount becomes refundable again.

use serde_json::{Map, Value, json};

use super::Ctx;
use super::users::{self, Movement};
use crate::error::{ApiError, ApiResult};
use crate::list::{Cursor, list_object};
use crate::params::Body;
use crate::store::{Record, Store, alnum, digits};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Pending,
    Succeeded,
    Failed,
}

/// A refund as stored (§5).
#[derive(Debug, Clone)]
pub struct Refund {
    pub id: String,
    pub order_no: String,
    pub amount: i64,
    pub created: i64,
    pub status: Status,
    pub time_succeed: Option<i64>,
    pub description: String,
    pub metadata: Map<String, Value>,
    pub charge: String,
    pub charge_order_no: String,
    pub transaction_no: Option<String>,
    pub funding_source: Option<String>,
    pub extra: Map<String, Value>,
    /// `(failure_code, failure_msg)` once failed.
    pub failure: Option<(String, String)>,
}

impl Record for Refund {
    fn id(&self) -> &str {
        &self.id
    }
}

impl Refund {
    pub fn to_json(&self) -> Value {
        let succeeded = self.status == Status::Succeeded;
        let status = match self.status {
            Status::Pending => "pending",
            Status::Succeeded => "succeeded",
            Status::Failed => "failed",
        };
        let (failure_code, failure_msg) = self.failure.clone().unzip();
        json!({
            "id": self.id,
            "object": "refund",
            "order_no": self.order_no,
            "amount": self.amount,
            "currency": "cny",
            "created": self.created,
            "succeed": succeeded,
            "status": status,
            "time_succeed": self.time_succeed,
            "description": self.description,
            "failure_code": failure_code,
            "failure_msg": failure_msg,
            "metadata": self.metadata,
            "charge": self.charge,
            "charge_order_no": self.charge_order_no,
            "transaction_no": self.transaction_no,
            "funding_source": self.funding_source,
            "extra": self.extra,
        })
    }
}

/// Refund parameters accepted on charge refunds (recharge refunds take all but `amount`).
pub const REFUND_PARAMS: &[&str] = &[
    "description",
    "amount",
    "metadata",
    "funding_source",
    "extra",
];

/// A refund to make: the validated parameters (of a refund request, or of a batch item).
#[derive(Debug, Clone, Default)]
pub struct NewRefund {
    pub description: String,
    pub metadata: Map<String, Value>,
    pub extra: Map<String, Value>,
    pub funding_source: Option<String>,
}

/// Reads the refund parameters other than `amount`.
pub fn read_new(body: &Body) -> ApiResult<NewRefund> {
    let description = body.req_str("description", 255)?;
    let metadata = body.metadata()?.unwrap_or_default();
    let extra = body
        .opt_object("extra")?
        .map(Body::into_map)
        .unwrap_or_default();
    let funding_source = read_funding_source(body)?;
    Ok(NewRefund {
        description,
        metadata,
        extra,
        funding_source,
    })
}

/// `funding_source`: `unsettled_funds` or `recharge_funds`.
pub fn read_funding_source(body: &Body) -> ApiResult<Option<String>> {
    let funding_source = body.opt_str("funding_source", 32)?;
    if let Some(fs) = &funding_source
        && fs != "unsettled_funds"
        && fs != "recharge_funds"
    {
        return Err(ApiError::param(
            body.name("funding_source"),
            format!("funding_source 只能是 unsettled_funds 或 recharge_funds，收到: {fs}"),
        ));
    }
    Ok(funding_source)
}

/// What can be refunded of `charge_id` for `amount` (default: all that remains); the error
/// names `amount_param` when the amount is too large.
pub fn refundable(
    store: &Store,
    charge_id: &str,
    amount: Option<i64>,
    amount_param: &str,
) -> ApiResult<i64> {
    let charge = store
        .charges
        .get(charge_id)
        .ok_or_else(|| ApiError::not_found("charge", charge_id))?;
    if !charge.paid {
        return Err(ApiError::invalid(format!(
            "Charge 未支付，不能退款。Charge id: {charge_id}"
        )));
    }
    let remaining = charge.amount - charge.amount_refunded;
    if remaining <= 0 {
        return Err(ApiError::invalid(format!(
            "不能对订单号 {} 发起退款，因为已经全额退款了。Charge id: {charge_id}",
            charge.order_no
        )));
    }
    let amount = amount.unwrap_or(remaining);
    if amount > remaining {
        return Err(ApiError::param(
            amount_param,
            format!(
                "退款金额 {amount} 超过了可退金额 {remaining} (Charge 金额 {}，已退 {})",
                charge.amount, charge.amount_refunded
            ),
        ));
    }
    Ok(amount)
}

/// Creates a pending refund of `charge_id` for `amount` (default: all that remains).
pub fn insert(
    store: &mut Store,
    charge_id: &str,
    body: &Body,
    amount: Option<i64>,
) -> ApiResult<String> {
    let new = read_new(body)?;
    let amount = refundable(store, charge_id, amount, "amount")?;
    Ok(insert_new(store, charge_id, amount, new))
}

/// Books a pending refund whose amount [`refundable`] allowed.
pub fn insert_new(store: &mut Store, charge_id: &str, amount: i64, new: NewRefund) -> String {
    let now = store.now();
    let charge = store
        .charges
        .get_mut(charge_id)
        .expect("checked refundable");
    let id = format!("re_{}", alnum(24));
    charge.refund_ids.push(id.clone());
    charge.amount_refunded += amount;
    let refund = Refund {
        id: id.clone(),
        order_no: digits(24),
        amount,
        created: now,
        status: Status::Pending,
        time_succeed: None,
        description: new.description,
        metadata: new.metadata,
        charge: charge_id.to_string(),
        charge_order_no: charge.order_no.clone(),
        transaction_no: None,
        funding_source: new.funding_source,
        extra: new.extra,
        failure: None,
    };
    store.refunds.insert(refund);
    id
}

/// Moves a pending refund to `succeeded` and emits `refund.succeeded`; no-op otherwise.
pub fn succeed(store: &mut Store, id: &str, request_id: &str) -> ApiResult<Value> {
    let now = store.now();
    let refund = store
        .refunds
        .get_mut(id)
        .ok_or_else(|| ApiError::not_found("refund", id))?;
    if refund.status == Status::Pending {
        refund.status = Status::Succeeded;
        refund.time_succeed = Some(now);
        refund.transaction_no = Some(digits(28));
        let (object, charge, amount) = (refund.to_json(), refund.charge.clone(), refund.amount);
        give_back_to_balance(store, &charge, id, amount);
        store.emit("refund.succeeded", object, request_id);
    }
    Ok(store.refunds.get(id).expect("exists").to_json())
}

/// Fails a pending refund (what a channel refusal looks like: HTTP 200 with `status: "failed"`);
/// its amount becomes refundable again. Observed failure code: `refund_refused_msg` (pingpp.md §5).
pub fn fail(
    store: &mut Store,
    id: &str,
    code: Option<String>,
    message: Option<String>,
) -> ApiResult<Value> {
    let refund = store
        .refunds
        .get_mut(id)
        .ok_or_else(|| ApiError::not_found("refund", id))?;
    match refund.status {
        Status::Failed => return Ok(refund.to_json()),
        Status::Succeeded => {
            return Err(ApiError::invalid(format!(
                "Refund {id} 已成功，不能再改为失败。"
            )));
        }
        Status::Pending => {}
    }
    refund.status = Status::Failed;
    refund.failure = Some((
        code.unwrap_or_else(|| "refund_refused_msg".into()),
        message.unwrap_or_else(|| "退款失败，被支付渠道拒绝 (sandbox)。".into()),
    ));
    let (charge_id, amount) = (refund.charge.clone(), refund.amount);
    if let Some(charge) = store.charges.get_mut(&charge_id) {
        charge.amount_refunded -= amount;
    }
    super::recharges::refund_failed(store, &charge_id, id);
    Ok(store.refunds.get(id).expect("exists").to_json())
}

/// A refunded balance payment (channel `balance`) goes back to the paying user's balance.
fn give_back_to_balance(store: &mut Store, charge_id: &str, refund_id: &str, amount: i64) {
    let Some(user) = store
        .charges
        .get(charge_id)
        .filter(|c| c.channel == "balance")
        .and_then(|c| c.extra.get("user"))
        .and_then(Value::as_str)
        .map(str::to_string)
    else {
        return;
    };
    let movement = Movement {
        amount,
        kind: "payment_refund",
        source: refund_id,
        description: "余额支付退款",
        withdrawable: false,
    };
    // The user paid from this balance, so it exists.
    let _ = users::move_balance(store, &user, true, &movement);
}

/// The refund `re` of charge `ch`, or 404.
pub fn find<'a>(store: &'a Store, ch: &str, re: &str) -> ApiResult<&'a super::refunds::Refund> {
    store
        .charges
        .get(ch)
        .ok_or_else(|| ApiError::not_found("charge", ch))?;
    store
        .refunds
        .get(re)
        .filter(|r| r.charge == ch)
        .ok_or_else(|| ApiError::not_found("refund", re))
}

/// `POST /v1/charges/{id}/refunds`
pub fn create(ctx: &mut Ctx) -> ApiResult<Value> {
    ctx.body.allow_only(REFUND_PARAMS)?;
    let charge_id = ctx.param(0).to_string();
    let charge = ctx
        .store
        .charges
        .get(&charge_id)
        .ok_or_else(|| ApiError::not_found("charge", &charge_id))?;
    if let Some(recharge) = &charge.recharge_id {
        return Err(ApiError::invalid(format!(
            "Charge {charge_id} 属于充值 {recharge}，请通过 POST /v1/apps/{{app}}/recharges/{recharge}/refunds 退款。"
        )));
    }
    let amount = ctx.body.opt_int("amount", 1, i64::MAX)?;
    let id = insert(ctx.store, &charge_id, &ctx.body, amount)?;
    Ok(ctx.store.refunds.get(&id).expect("inserted").to_json())
}

/// `GET /v1/charges/{id}/refunds/{re}` — a pending refund succeeds when looked at.
pub fn retrieve(ctx: &mut Ctx) -> ApiResult<Value> {
    ctx.query.allow_only(&[])?;
    let (ch, re) = (ctx.param(0).to_string(), ctx.param(1).to_string());
    find(ctx.store, &ch, &re)?;
    succeed(ctx.store, &re, &ctx.request_id)
}

/// Succeeds every pending refund of a charge (listing counts as looking at them).
pub fn settle_all(store: &mut Store, charge_id: &str, request_id: &str) {
    let ids = store
        .charges
        .get(charge_id)
        .map(|c| c.refund_ids.clone())
        .unwrap_or_default();
    for id in ids {
        let _ = succeed(store, &id, request_id);
    }
}

/// `GET /v1/charges/{id}/refunds` — cursor pagination, newest first.
pub fn list(ctx: &mut Ctx) -> ApiResult<Value> {
    ctx.query
        .allow_only(&["limit", "starting_after", "ending_before"])?;
    let cursor = Cursor::from_query(&ctx.query)?;
    let charge_id = ctx.param(0).to_string();
    ctx.store
        .charges
        .get(&charge_id)
        .ok_or_else(|| ApiError::not_found("charge", &charge_id))?;
    settle_all(ctx.store, &charge_id, &ctx.request_id);
    let store = &*ctx.store;
    let ids = &store.charges.get(&charge_id).expect("exists").refund_ids;
    let newest_first: Vec<&Refund> = ids
        .iter()
        .rev()
        .filter_map(|id| store.refunds.get(id))
        .collect();
    let (page, has_more) = cursor.page(newest_first, |_| true)?;
    let data = page.into_iter().map(Refund::to_json).collect();
    Ok(list_object(
        &format!("/v1/charges/{charge_id}/refunds"),
        has_more,
        data,
    ))
}
