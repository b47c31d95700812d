//! App-scoped users of the account system (`/v1/apps/{app}/users`, shared/reference/pingpp.md
//! §4.4) and the movements of their balances (`/v1/apps/{app}/balance_transactions`). Page
//! pagination. Every balance change goes through [`move_balance`], which writes a balance
//! transaction with the balance after it: recharges and transfers received add, balance
//! payments and recharge refunds take away, refunds of balance payments give back.

use serde_json::{Map, Value, json};

use super::Ctx;
use super::shared::check_path_app;
use crate::error::{ApiError, ApiResult};
use crate::list::{PAGE_PARAMS, Page, list_object};
use crate::params::Body;
use crate::store::{Record, Store, digits};

/// Profile keys a user accepts (create and update).
const PROFILE: &[&str] = &[
    "address", "avatar", "email", "gender", "mobile", "name", "metadata",
];

#[derive(Debug, Clone)]
pub struct User {
    pub id: String,
    pub created: i64,
    pub profile: Map<String, Value>,
    pub metadata: Map<String, Value>,
    pub disabled: bool,
    /// Fen the user can spend.
    pub available_balance: i64,
    /// Fen the user could withdraw: what others paid in (transfers), not their own recharges.
    pub withdrawable_balance: i64,
}

impl Record for User {
    fn id(&self) -> &str {
        &self.id
    }
}

impl User {
    fn new(id: &str, created: i64) -> Self {
        Self {
            id: id.to_string(),
            created,
            profile: Map::new(),
            metadata: Map::new(),
            disabled: false,
            available_balance: 0,
            withdrawable_balance: 0,
        }
    }

    fn to_json(&self, app: &str) -> Value {
        let field = |k: &str| self.profile.get(k).cloned().unwrap_or(Value::Null);
        json!({
            "id": self.id,
            "object": "user",
            "app": app,
            "address": field("address"),
            "avatar": field("avatar"),
            "email": field("email"),
            "gender": field("gender"),
            "mobile": field("mobile"),
            "name": field("name"),
            "type": "customer",
            "related_app": null,
            "available_coupons": 0,
            "available_balance": self.available_balance,
            "withdrawable_balance": self.withdrawable_balance,
            "created": self.created,
            "disabled": self.disabled,
            "identified": false,
            "livemode": false,
            "metadata": self.metadata,
            "settle_accounts": [],
        })
    }
}

/// One movement of a user's balance (§ "Balance Transactions 余额明细").
#[derive(Debug, Clone)]
pub struct BalanceTransaction {
    pub id: String,
    pub user: String,
    pub amount: i64,
    pub available_balance: i64,
    pub created: i64,
    pub kind: &'static str,
    pub source: String,
    pub description: String,
}

impl Record for BalanceTransaction {
    fn id(&self) -> &str {
        &self.id
    }
}

impl BalanceTransaction {
    fn to_json(&self, app: &str) -> Value {
        json!({
            "id": self.id,
            "object": "balance_transaction",
            "app": app,
            "user": self.user,
            "amount": self.amount,
            "available_balance": self.available_balance,
            "created": self.created,
            "description": self.description,
            "livemode": false,
            "source": self.source,
            "type": self.kind,
        })
    }
}

/// What moves a balance.
pub struct Movement<'a> {
    /// Signed fen: positive adds to the balance.
    pub amount: i64,
    /// The balance transaction `type` (recharge, payment, payment_refund, transfer, …).
    pub kind: &'static str,
    /// Id of the object behind it.
    pub source: &'a str,
    pub description: &'a str,
    /// Whether the money (when added) may be withdrawn.
    pub withdrawable: bool,
}

/// Moves `user`'s balance (creating the user when `create` and unknown) and records it. A
/// balance must not go below zero: the caller checks [`spendable`] first.
pub fn move_balance(store: &mut Store, user: &str, create: bool, m: &Movement) -> ApiResult<()> {
    let now = store.now();
    if store.users.get(user).is_none() {
        if !create {
            return Err(not_found(user));
        }
        store.users.insert(User::new(user, now));
    }
    let u = store.users.get_mut(user).expect("exists");
    u.available_balance += m.amount;
    if m.withdrawable && m.amount > 0 {
        u.withdrawable_balance += m.amount;
    }
    // Spending takes from the balance as a whole; what is left to withdraw cannot exceed it.
    u.withdrawable_balance = u.withdrawable_balance.clamp(0, u.available_balance.max(0));
    let after = u.available_balance;
    store.balance_transactions.insert(BalanceTransaction {
        id: digits(24),
        user: user.to_string(),
        amount: m.amount,
        available_balance: after,
        created: now,
        kind: m.kind,
        source: m.source.to_string(),
        description: m.description.to_string(),
    });
    Ok(())
}

/// The balance `user` can spend, or why it cannot pay at all.
pub fn spendable(store: &Store, user: &str) -> ApiResult<i64> {
    let u = store.users.get(user).ok_or_else(|| not_found(user))?;
    if u.disabled {
        return Err(ApiError::invalid(format!(
            "用户 {user} 已被禁用，不能使用余额。"
        )));
    }
    Ok(u.available_balance)
}

fn not_found(user: &str) -> ApiError {
    ApiError::not_found("user", user)
}

/// Reads the profile keys given in `body` (strings; `metadata` an object).
fn read_profile(body: &Body) -> ApiResult<Map<String, Value>> {
    let mut profile = Map::new();
    for key in PROFILE.iter().filter(|k| **k != "metadata") {
        let max = if *key == "avatar" { 1024 } else { 255 };
        if let Some(v) = body.opt_str(key, max)? {
            profile.insert((*key).to_string(), Value::String(v));
        }
    }
    if let Some(g) = profile.get("gender").and_then(Value::as_str)
        && g != "MALE"
        && g != "FEMALE"
    {
        return Err(ApiError::param(
            body.name("gender"),
            format!("gender 只能是 MALE 或 FEMALE，收到: {g}"),
        ));
    }
    Ok(profile)
}

/// `POST /v1/apps/{app}/users`
pub fn create(ctx: &mut Ctx) -> ApiResult<Value> {
    check_path_app(ctx)?;
    let mut allowed = PROFILE.to_vec();
    allowed.push("id");
    ctx.body.allow_only(&allowed)?;
    let id = ctx.body.req_str("id", 64)?;
    if ctx.store.users.get(&id).is_some() {
        return Err(ApiError::param("id", format!("用户 {id} 已存在。")));
    }
    let mut user = User::new(&id, ctx.store.now());
    user.profile = read_profile(&ctx.body)?;
    user.metadata = ctx.body.metadata()?.unwrap_or_default();
    let json = user.to_json(&ctx.store.app_id);
    ctx.store.users.insert(user);
    Ok(json)
}

/// `GET /v1/apps/{app}/users/{id}`
pub fn retrieve(ctx: &mut Ctx) -> ApiResult<Value> {
    check_path_app(ctx)?;
    ctx.query.allow_only(&[])?;
    let id = ctx.param(1);
    let user = ctx.store.users.get(id).ok_or_else(|| not_found(id))?;
    Ok(user.to_json(&ctx.store.app_id))
}

/// `PUT /v1/apps/{app}/users/{id}`: profile keys, or `disabled` alone.
pub fn update(ctx: &mut Ctx) -> ApiResult<Value> {
    check_path_app(ctx)?;
    let mut allowed = PROFILE.to_vec();
    allowed.push("disabled");
    ctx.body.allow_only(&allowed)?;
    let disabled = ctx.body.opt_bool("disabled")?;
    let profile = read_profile(&ctx.body)?;
    let metadata = ctx.body.metadata()?;
    if disabled.is_some() && (!profile.is_empty() || metadata.is_some()) {
        return Err(ApiError::param(
            "disabled",
            "使用 disabled 参数时，不能同时更新其他参数。",
        ));
    }
    let id = ctx.param(1).to_string();
    let app = ctx.store.app_id.clone();
    let user = ctx.store.users.get_mut(&id).ok_or_else(|| not_found(&id))?;
    if let Some(d) = disabled {
        user.disabled = d;
    }
    user.profile.extend(profile);
    if let Some(m) = metadata {
        user.metadata = m;
    }
    Ok(user.to_json(&app))
}

/// `GET /v1/apps/{app}/users` — `page`, `per_page`.
pub fn list(ctx: &mut Ctx) -> ApiResult<Value> {
    check_path_app(ctx)?;
    ctx.query.allow_only(PAGE_PARAMS)?;
    let page = Page::from_query(&ctx.query)?;
    let (items, has_more) = page.slice(ctx.store.users.newest_first().collect());
    let app = &ctx.store.app_id;
    let data = items.into_iter().map(|u| u.to_json(app)).collect();
    Ok(list_object(
        &format!("/v1/apps/{app}/users"),
        has_more,
        data,
    ))
}

/// `GET /v1/apps/{app}/balance_transactions` — `page`, `per_page`, `user`.
pub fn list_transactions(ctx: &mut Ctx) -> ApiResult<Value> {
    check_path_app(ctx)?;
    let mut allowed = PAGE_PARAMS.to_vec();
    allowed.push("user");
    ctx.query.allow_only(&allowed)?;
    let page = Page::from_query(&ctx.query)?;
    let user = ctx.query.get("user").filter(|u| !u.is_empty());
    let all = ctx
        .store
        .balance_transactions
        .newest_first()
        .filter(|t| user.is_none_or(|u| t.user == u))
        .collect();
    let (items, has_more) = page.slice(all);
    let app = &ctx.store.app_id;
    let data = items.into_iter().map(|t| t.to_json(app)).collect();
    Ok(list_object(
        &format!("/v1/apps/{app}/balance_transactions"),
        has_more,
        data,
    ))
}

/// `GET /v1/apps/{app}/balance_transactions/{id}`
pub fn retrieve_transaction(ctx: &mut Ctx) -> ApiResult<Value> {
    check_path_app(ctx)?;
    ctx.query.allow_only(&[])?;
    let id = ctx.param(1);
    let t = ctx
        .store
        .balance_transactions
        .get(id)
        .ok_or_else(|| ApiError::not_found("balance_transaction", id))?;
    Ok(t.to_json(&ctx.store.app_id))
}
