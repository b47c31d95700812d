//! Legacy top-level customers (`/v1/customers`, shared/reference/pingpp.md §4.4): create,
//! retrieve, list, update, delete. A `source` becomes a fake card.

use serde_json::{Map, Value, json};

use super::Ctx;
use crate::error::{ApiError, ApiResult};
use crate::list::{CURSOR_PARAMS, Cursor, list_object};
use crate::params::Body;
use crate::store::{Record, alnum, digits};

#[derive(Debug, Clone)]
pub struct Customer {
    pub id: String,
    pub created: i64,
    pub email: Option<String>,
    pub description: Option<String>,
    pub metadata: Map<String, Value>,
    pub sources: Vec<Value>,
    pub default_source: Option<String>,
    pub deleted: bool,
}

impl Record for Customer {
    fn id(&self) -> &str {
        &self.id
    }
}

impl Customer {
    fn to_json(&self, app: &str) -> Value {
        json!({
            "id": self.id,
            "object": "customer",
            "created": self.created,
            "livemode": false,
            "app": app,
            "name": null,
            "email": self.email,
            "currency": "cny",
            "description": self.description,
            "metadata": self.metadata,
            "sources": list_object(&format!("/v1/customers/{}/sources", self.id), false, self.sources.clone()),
            "default_source": self.default_source,
        })
    }
}

fn read_email(body: &Body) -> ApiResult<Option<String>> {
    let email = body.opt_str("email", 255)?;
    if let Some(e) = &email
        && !e.contains('@')
    {
        return Err(ApiError::param("email", format!("email 格式不正确: {e}")));
    }
    Ok(email)
}

/// A fake card for a `source` (a token id string or a card hash with `number`).
fn card_for(source: &Value, customer: &str, now: i64) -> ApiResult<Value> {
    let last4 = match source {
        Value::String(token) if !token.is_empty() => digits(4),
        Value::Object(card) => match card.get("number").and_then(Value::as_str) {
            Some(n) if n.len() >= 12 && n.bytes().all(|b| b.is_ascii_digit()) => {
                n[n.len() - 4..].to_string()
            }
            _ => {
                return Err(ApiError::param(
                    "source[number]",
                    "source 中的卡号 (number) 无效",
                ));
            }
        },
        _ => {
            return Err(ApiError::param(
                "source",
                "source 必须是 token id 或卡片信息对象",
            ));
        }
    };
    Ok(json!({
        "id": format!("card_{}", alnum(24)),
        "object": "card",
        "created": now,
        "last4": last4,
        "funding": "debit",
        "brand": "UnionPay",
        "bank": "sandbox",
        "customer": customer,
    }))
}

fn find<'a>(ctx: &'a mut Ctx, id: &str) -> ApiResult<&'a mut Customer> {
    ctx.store
        .customers
        .get_mut(id)
        .filter(|c| !c.deleted)
        .ok_or_else(|| ApiError::not_found("customer", id))
}

/// `POST /v1/customers` — `app` (string) required.
pub fn create(ctx: &mut Ctx) -> ApiResult<Value> {
    let body = &ctx.body;
    body.allow_only(&[
        "app",
        "source",
        "sms_code",
        "description",
        "email",
        "metadata",
    ])?;
    let app = body.req_str("app", 64)?;
    if app != ctx.store.app_id {
        return Err(ApiError::param("app", format!("未找到 app : {app}。")));
    }
    let now = ctx.store.now();
    let id = format!("cus_{}", alnum(24));
    let sources: Vec<Value> = body
        .raw("source")
        .map(|s| card_for(s, &id, now))
        .transpose()?
        .into_iter()
        .collect();
    let customer = Customer {
        default_source: sources
            .first()
            .and_then(|c| c["id"].as_str())
            .map(str::to_string),
        id: id.clone(),
        created: now,
        email: read_email(body)?,
        description: body.opt_str("description", 255)?,
        metadata: body.metadata()?.unwrap_or_default(),
        sources,
        deleted: false,
    };
    let json = customer.to_json(&ctx.store.app_id);
    ctx.store.customers.insert(customer);
    Ok(json)
}

/// `GET /v1/customers/{id}`
pub fn retrieve(ctx: &mut Ctx) -> ApiResult<Value> {
    ctx.query.allow_only(&[])?;
    let id = ctx.param(0).to_string();
    let app = ctx.store.app_id.clone();
    Ok(find(ctx, &id)?.to_json(&app))
}

/// `PUT /v1/customers/{id}` — `description`, `email`, `metadata` (replaces), `default_source`.
pub fn update(ctx: &mut Ctx) -> ApiResult<Value> {
    let body = ctx.body.clone();
    body.allow_only(&["description", "email", "metadata", "default_source"])?;
    let (email, description, metadata) = (
        read_email(&body)?,
        body.opt_str("description", 255)?,
        body.metadata()?,
    );
    let default_source = body.opt_str("default_source", 64)?;
    let id = ctx.param(0).to_string();
    let app = ctx.store.app_id.clone();
    let customer = find(ctx, &id)?;
    if let Some(card) = &default_source
        && !customer.sources.iter().any(|s| s["id"] == card.as_str())
    {
        return Err(ApiError::param(
            "default_source",
            format!("该 customer 没有这张卡: {card}"),
        ));
    }
    if email.is_some() {
        customer.email = email;
    }
    if description.is_some() {
        customer.description = description;
    }
    if let Some(metadata) = metadata {
        customer.metadata = metadata;
    }
    if default_source.is_some() {
        customer.default_source = default_source;
    }
    Ok(customer.to_json(&app))
}

/// `DELETE /v1/customers/{id}` → `{"deleted": true, "id": …}`
pub fn delete(ctx: &mut Ctx) -> ApiResult<Value> {
    ctx.query.allow_only(&[])?;
    let id = ctx.param(0).to_string();
    find(ctx, &id)?.deleted = true;
    Ok(json!({ "deleted": true, "id": id }))
}

/// `GET /v1/customers` — cursor pagination and `created` filters.
pub fn list(ctx: &mut Ctx) -> ApiResult<Value> {
    ctx.query.allow_only(CURSOR_PARAMS)?;
    let cursor = Cursor::from_query(&ctx.query)?;
    let all: Vec<&Customer> = ctx
        .store
        .customers
        .newest_first()
        .filter(|c| !c.deleted)
        .collect();
    let (page, has_more) = cursor.page(all, |c| cursor.created.matches(c.created))?;
    let data = page
        .into_iter()
        .map(|c| c.to_json(&ctx.store.app_id))
        .collect();
    Ok(list_object("/v1/customers", has_more, data))
}
