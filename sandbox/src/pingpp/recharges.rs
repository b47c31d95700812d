//! App-scoped balance recharges (`/v1/apps/{app}/recharges`, shared/reference/pingpp.md §4.5):
//! the embedded charge is paid at once in the sandbox, the recharge succeeds with a
//! `recharge.succeeded` event, and it can be refunded once, in full. Page pagination.

use serde_json::{Map, Value, json};

use super::Ctx;
use super::charges::{self, NewCharge, read_new_charge};
use super::refunds::{self, Refund};
use super::shared::check_path_app;
use super::users::{self, Movement};
use crate::error::{ApiError, ApiResult};
use crate::list::{PAGE_PARAMS, Page, list_object};
use crate::store::{Record, Store, digits};

#[derive(Debug, Clone)]
pub struct Recharge {
    pub id: String,
    pub created: i64,
    pub user: String,
    pub from_user: String,
    pub user_fee: i64,
    pub balance_bonus: Option<i64>,
    pub charge: String,
    pub time_succeeded: i64,
    pub balance_transaction: String,
    pub description: Option<String>,
    pub metadata: Map<String, Value>,
}

impl Record for Recharge {
    fn id(&self) -> &str {
        &self.id
    }
}

fn to_json(store: &Store, r: &Recharge) -> Value {
    let charge = store
        .charges
        .get(&r.charge)
        .expect("a recharge's charge exists");
    let refunds: Vec<Value> = charge
        .refund_ids
        .iter()
        .rev()
        .filter_map(|id| store.refunds.get(id))
        .map(Refund::to_json)
        .collect();
    json!({
        "id": r.id,
        "object": "recharge",
        "app": store.app_id,
        "created": r.created,
        "livemode": false,
        "amount": credited(store, r),
        "succeeded": true,
        "time_succeeded": r.time_succeeded,
        "refunded": !charge.refund_ids.is_empty(),
        "user": r.user,
        "from_user": r.from_user,
        "user_fee": r.user_fee,
        "charge": charges::to_json(store, charge, false),
        "balance_bonus": r.balance_bonus.map(|amount| json!({ "amount": amount })),
        "refunds": list_object(&format!("/v1/apps/{}/recharges/{}/refunds", store.app_id, r.id), false, refunds),
        "balance_transaction": r.balance_transaction,
        "description": r.description,
        "metadata": r.metadata,
    })
}

/// What a recharge put on the user's balance: the charge, plus the bonus, less the user fee.
fn credited(store: &Store, r: &Recharge) -> i64 {
    let charge = store
        .charges
        .get(&r.charge)
        .expect("a recharge's charge exists");
    charge.amount + r.balance_bonus.unwrap_or(0) - r.user_fee
}

/// A failed refund of a recharge's charge gives the amount taken off back to the user.
pub fn refund_failed(store: &mut Store, charge_id: &str, refund_id: &str) {
    let Some(recharge) = store
        .charges
        .get(charge_id)
        .and_then(|c| c.recharge_id.as_deref())
        .and_then(|r| store.recharges.get(r))
    else {
        return;
    };
    let (user, amount) = (recharge.user.clone(), credited(store, recharge));
    let movement = Movement {
        amount,
        kind: "recharge_refund_failed",
        source: refund_id,
        description: "充值退款失败",
        withdrawable: false,
    };
    let _ = users::move_balance(store, &user, true, &movement);
}

fn find<'a>(store: &'a Store, id: &str) -> ApiResult<&'a Recharge> {
    store
        .recharges
        .get(id)
        .ok_or_else(|| ApiError::not_found("recharge", id))
}

/// A recharge whose `charge[order_no]` was used before: the identical request (same user and the
/// charge's six elements) within the charge's de-duplication window gives the same recharge, like
/// charges do (a retry after a timeout must not recharge twice); anything else is refused.
fn replayed(store: &Store, user: &str, new: &NewCharge) -> ApiResult<Option<String>> {
    let Some(prev) = store
        .order_nos
        .get(&new.order_no)
        .and_then(|id| store.charges.get(id))
    else {
        return Ok(None);
    };
    let recharge = prev
        .recharge_id
        .as_deref()
        .and_then(|id| store.recharges.get(id));
    let same = recharge.is_some_and(|r| r.user == user)
        && prev.channel == new.channel.code
        && prev.amount == new.amount
        && prev.subject == new.subject
        && prev.body == new.body;
    match recharge {
        Some(r) if same && store.now() - prev.created <= new.channel.dedup_window_secs() => {
            Ok(Some(r.id.clone()))
        }
        _ => Err(ApiError::param(
            "charge[order_no]",
            format!(
                "订单号 {} 已被使用 (Charge {})，充值请使用新的 order_no；重试同一笔充值时请使用完全相同的参数。",
                new.order_no, prev.id
            ),
        )),
    }
}

/// `POST /v1/apps/{app}/recharges`
pub fn create(ctx: &mut Ctx) -> ApiResult<Value> {
    check_path_app(ctx)?;
    let body = &ctx.body;
    body.allow_only(&[
        "user",
        "charge",
        "user_fee",
        "balance_bonus",
        "from_user",
        "description",
        "metadata",
    ])?;
    let user = body.req_str("user", 64)?;
    let charge_body = body.req_object("charge")?;
    charge_body.allow_only(&[
        "amount",
        "channel",
        "order_no",
        "subject",
        "body",
        "time_expire",
        "client_ip",
        "extra",
        "description",
    ])?;
    let amount = charge_body.req_int("amount", 1, 1_000_000_000)?;
    let order_no = charge_body.req_str("order_no", 20)?;
    if order_no.len() < 8 {
        return Err(ApiError::param(
            "charge[order_no]",
            format!("charge[order_no] 长度必须为 8 到 20 位，收到: {order_no}"),
        ));
    }
    let new = read_new_charge(&charge_body, ctx.store.now(), Some("127.0.0.1"))?;
    if let Some(existing) = replayed(ctx.store, &user, &new)? {
        return Ok(to_json(ctx.store, find(ctx.store, &existing)?));
    }
    let user_fee = body.opt_int("user_fee", 0, amount)?;
    let bonus = body.opt_object("balance_bonus")?;
    if user_fee.is_some() && bonus.is_some() {
        return Err(ApiError::param(
            "balance_bonus",
            "user_fee 和 balance_bonus 不能同时使用",
        ));
    }
    let balance_bonus = match bonus {
        Some(b) => {
            b.allow_only(&["amount"])?;
            Some(b.req_int("amount", 0, 1_000_000_000)?)
        }
        None => None,
    };
    let from_user = body
        .opt_str("from_user", 64)?
        .unwrap_or_else(|| user.clone());
    let description = body.opt_str("description", 255)?;
    let metadata = body.metadata()?.unwrap_or_default();

    let id = format!("2{}", digits(18));
    let (charge_id, _) = charges::insert(ctx.store, new, Some(id.clone()))?;
    debug_assert_eq!(
        ctx.store.charges.get(&charge_id).map(|c| c.amount),
        Some(amount)
    );
    charges::pay(ctx.store, &charge_id, &ctx.request_id)?;
    let now = ctx.store.now();
    let recharge = Recharge {
        id: id.clone(),
        created: now,
        user,
        from_user,
        user_fee: user_fee.unwrap_or(0),
        balance_bonus,
        charge: charge_id,
        time_succeeded: now,
        balance_transaction: digits(18),
        description,
        metadata,
    };
    ctx.store.recharges.insert(recharge);
    let credited = credited(ctx.store, find(ctx.store, &id)?);
    let user = find(ctx.store, &id)?.user.clone();
    let movement = Movement {
        amount: credited,
        kind: "recharge",
        source: &id,
        description: "充值",
        withdrawable: false,
    };
    users::move_balance(ctx.store, &user, true, &movement)?;
    let object = to_json(ctx.store, find(ctx.store, &id)?);
    ctx.store
        .emit("recharge.succeeded", object.clone(), &ctx.request_id);
    Ok(object)
}

/// `GET /v1/apps/{app}/recharges/{id}`
pub fn retrieve(ctx: &mut Ctx) -> ApiResult<Value> {
    check_path_app(ctx)?;
    ctx.query.allow_only(&[])?;
    Ok(to_json(ctx.store, find(ctx.store, ctx.param(1))?))
}

/// `GET /v1/apps/{app}/recharges` — `page`, `per_page`.
pub fn list(ctx: &mut Ctx) -> ApiResult<Value> {
    check_path_app(ctx)?;
    ctx.query.allow_only(PAGE_PARAMS)?;
    let page = Page::from_query(&ctx.query)?;
    let (items, has_more) = page.slice(ctx.store.recharges.newest_first().collect());
    let data = items.into_iter().map(|r| to_json(ctx.store, r)).collect();
    Ok(list_object(
        &format!("/v1/apps/{}/recharges", ctx.store.app_id),
        has_more,
        data,
    ))
}

/// `POST /v1/apps/{app}/recharges/{id}/refunds` — full amount only, once.
pub fn refund(ctx: &mut Ctx) -> ApiResult<Value> {
    check_path_app(ctx)?;
    ctx.body
        .allow_only(&["description", "metadata", "funding_source"])?;
    let recharge = find(ctx.store, ctx.param(1))?;
    let charge = ctx
        .store
        .charges
        .get(&recharge.charge)
        .expect("a recharge's charge exists");
    let live_refund = charge
        .refund_ids
        .iter()
        .filter_map(|id| ctx.store.refunds.get(id))
        .find(|r| r.status != refunds::Status::Failed);
    if let Some(previous) = live_refund {
        return Err(ApiError::invalid(format!(
            "充值 {} 已经退款 (Refund {})，不能重复退款。",
            recharge.id, previous.id
        )));
    }
    let charge_id = charge.id.clone();
    // The recharged amount leaves the balance when the refund is made; a user who spent it
    // cannot have it refunded.
    let (user, amount) = (recharge.user.clone(), credited(ctx.store, recharge));
    if ctx
        .store
        .users
        .get(&user)
        .map_or(0, |u| u.available_balance)
        < amount
    {
        return Err(ApiError::invalid(format!(
            "用户 {user} 的余额不足 {amount} 分，不能退款充值 {}。",
            recharge.id
        )));
    }
    let id = refunds::insert(ctx.store, &charge_id, &ctx.body, None)?;
    let movement = Movement {
        amount: -amount,
        kind: "recharge_refund",
        source: &id,
        description: "充值退款",
        withdrawable: false,
    };
    users::move_balance(ctx.store, &user, false, &movement)?;
    Ok(ctx.store.refunds.get(&id).expect("inserted").to_json())
}

/// The refund `re` of recharge `id`, or 404.
fn find_refund(ctx: &Ctx) -> ApiResult<(String, String)> {
    let recharge = find(ctx.store, ctx.param(1))?;
    let re = ctx.param(2);
    refunds::find(ctx.store, &recharge.charge, re)?;
    Ok((recharge.charge.clone(), re.to_string()))
}

/// `GET /v1/apps/{app}/recharges/{id}/refunds/{re}` — a pending refund succeeds when looked at.
pub fn retrieve_refund(ctx: &mut Ctx) -> ApiResult<Value> {
    check_path_app(ctx)?;
    ctx.query.allow_only(&[])?;
    let (_, re) = find_refund(ctx)?;
    refunds::succeed(ctx.store, &re, &ctx.request_id)
}

/// `GET /v1/apps/{app}/recharges/{id}/refunds` — `page`, `per_page`.
pub fn list_refunds(ctx: &mut Ctx) -> ApiResult<Value> {
    check_path_app(ctx)?;
    ctx.query.allow_only(PAGE_PARAMS)?;
    let page = Page::from_query(&ctx.query)?;
    let recharge_id = ctx.param(1).to_string();
    let charge_id = find(ctx.store, &recharge_id)?.charge.clone();
    refunds::settle_all(ctx.store, &charge_id, &ctx.request_id);
    let store = &*ctx.store;
    let ids = &store.charges.get(&charge_id).expect("exists").refund_ids;
    let (items, has_more) = page.slice(
        ids.iter()
            .rev()
            .filter_map(|id| store.refunds.get(id))
            .collect(),
    );
    let data = items.into_iter().map(Refund::to_json).collect();
    Ok(list_object(
        &format!("/v1/apps/{}/recharges/{recharge_id}/refunds", store.app_id),
        has_more,
        data,
    ))
}
