//! Batch refunds (批量退款, shared/reference/pingpp.md §4.7, §5): create, retrieve, list (page).
//!
//! Every charge of the batch must be paid, not fully refunded and listed once, or the whole
//! batch is refused (naming `charges[i]`). A valid batch makes one pending refund per item and
//! is `pending`; retrieving it (test mode) settles every item — `succeeded`, or `failed` with
//! `failure_msg` when a failure was injected for that charge (`/_sandbox/failures`, on
//! `batch_refund`), which gives the amount back to the charge — and the batch ends
//! `succeeded`, `partially_succeeded` or `failed`, with the event `batch_refund.succeeded`
//! (documented) or `batch_refund.failed` (name UNSURE); each item's refund emits its own
//! `refund.succeeded`.
//!
//! Idempotency (UNSURE at the real gateway): the same `batch_no` with the same parameters answers
//! the same batch; with other parameters it is refused naming `batch_no`.

use serde_json::{Map, Value, json};

use super::failures::On;
use super::refunds::{self, NewRefund, Refund};
use super::{Ctx, shared};
use crate::error::{ApiError, ApiResult};
use crate::list::{PAGE_PARAMS, Page, list_object};
use crate::params::Body;
use crate::store::{Record, Store, digits};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Pending,
    Succeeded,
    PartiallySucceeded,
    Failed,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Succeeded => "succeeded",
            Status::PartiallySucceeded => "partially_succeeded",
            Status::Failed => "failed",
        }
    }
}

/// One charge of a batch and the refund made for it.
#[derive(Debug, Clone)]
struct Item {
    charge: String,
    amount: Option<i64>,
    description: Option<String>,
    funding_source: Option<String>,
    refund: String,
    fate: Option<String>,
}

#[derive(Debug, Clone)]
pub struct BatchRefund {
    pub id: String,
    pub batch_no: String,
    pub created: i64,
    pub status: Status,
    pub time_succeeded: Option<i64>,
    description: String,
    metadata: Map<String, Value>,
    items: Vec<Item>,
    fingerprint: String,
}

impl Record for BatchRefund {
    fn id(&self) -> &str {
        &self.id
    }
}

impl BatchRefund {
    fn to_json(&self, store: &Store) -> Value {
        let refunds: Vec<&Refund> = self
            .items
            .iter()
            .filter_map(|i| store.refunds.get(&i.refund))
            .collect();
        let charges: Vec<Value> = self
            .items
            .iter()
            .zip(&refunds)
            .map(|(item, refund)| {
                let r = refund.to_json();
                json!({
                    "charge": item.charge,
                    "amount": item.amount.unwrap_or(refund.amount),
                    "description": item.description,
                    "funding_source": item.funding_source,
                    "status": r["status"],
                    "failure_msg": r["failure_msg"],
                    "refund": item.refund,
                })
            })
            .collect();
        let data = refunds.iter().map(|r| r.to_json()).collect();
        json!({
            "id": self.id,
            "object": "batch_refund",
            "app": store.app_id,
            "batch_no": self.batch_no,
            "created": self.created,
            "description": self.description,
            "metadata": self.metadata,
            "charges": charges,
            "refunds": list_object(&format!("/v1/batch_refunds/{}/refunds", self.id), false, data),
            "refund_url": null,
            "status": self.status.as_str(),
            "time_succeeded": self.time_succeeded,
            "livemode": false,
        })
    }
}

/// Reads and checks every item before any refund is made: one bad item refuses the batch.
fn read_items(store: &Store, body: &Body) -> ApiResult<Vec<(Item, i64, NewRefund)>> {
    let description = body.req_str("description", 255)?;
    let mut out: Vec<(Item, i64, NewRefund)> = Vec::new();
    for item in body.req_list("charges", 100)? {
        item.allow_only(&["charge", "amount", "description", "funding_source"])?;
        let charge = item.req_str("charge", 64)?;
        if out.iter().any(|(i, _, _)| i.charge == charge) {
            return Err(ApiError::param(
                item.name("charge"),
                format!("Charge {charge} 在 charges 中出现了不止一次"),
            ));
        }
        let own = store.charges.get(&charge);
        if let Some(recharge) = own.and_then(|c| c.recharge_id.as_deref()) {
            return Err(ApiError::param(
                item.name("charge"),
                format!("Charge {charge} 属于充值 {recharge}，不能批量退款"),
            ));
        }
        let amount = item.opt_int("amount", 1, i64::MAX)?;
        let amount_name = item.name("amount");
        // Any refusal of one charge refuses the batch, naming the item (a 400 either way).
        let refund_amount =
            refunds::refundable(store, &charge, amount, &amount_name).map_err(|e| {
                let param = match e.param {
                    Some(p) if p == amount_name => p,
                    _ => item.name("charge"),
                };
                ApiError::param(param, e.message)
            })?;
        let item_description = item.opt_str("description", 255)?;
        let new = NewRefund {
            description: item_description
                .clone()
                .unwrap_or_else(|| description.clone()),
            funding_source: refunds::read_funding_source(&item)?,
            ..NewRefund::default()
        };
        let entry = Item {
            charge,
            amount,
            description: item_description,
            funding_source: new.funding_source.clone(),
            refund: String::new(),
            fate: None,
        };
        out.push((entry, refund_amount, new));
    }
    Ok(out)
}

/// `POST /v1/batch_refunds`
pub fn create(ctx: &mut Ctx) -> ApiResult<Value> {
    let body = &ctx.body;
    body.allow_only(&["app", "batch_no", "charges", "description", "metadata"])?;
    let fingerprint = body.fingerprint();
    shared::check_app_string(ctx.store, body)?;
    let batch_no = body.req_str("batch_no", 24)?;
    if batch_no.len() < 3 || !batch_no.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(ApiError::param(
            "batch_no",
            format!("batch_no 必须是 3 到 24 位字母和数字，收到: {batch_no}"),
        ));
    }
    let store = &*ctx.store;
    let earlier = store
        .batch_refund_nos
        .get(&batch_no)
        .and_then(|id| store.batch_refunds.get(id))
        .map(|b| (b.id.as_str(), b.fingerprint.as_str()));
    let key = ("batch_no", batch_no.as_str());
    if let Some(id) = shared::reuse(key, earlier, &fingerprint, "batch_refund")? {
        return Ok(store.batch_refunds.get(&id).expect("found").to_json(store));
    }
    let items = read_items(ctx.store, body)?;
    let metadata = body.metadata()?.unwrap_or_default();
    let description = body.req_str("description", 255)?;
    let mut booked = Vec::with_capacity(items.len());
    for (mut item, amount, new) in items {
        let channel = ctx
            .store
            .charges
            .get(&item.charge)
            .map(|c| c.channel.clone());
        item.fate = ctx.store.failures.take(
            On::BatchRefund,
            channel.as_deref().unwrap_or_default(),
            &[item.charge.as_str()],
        );
        item.refund = refunds::insert_new(ctx.store, &item.charge, amount, new);
        booked.push(item);
    }
    let id = digits(18);
    let batch = BatchRefund {
        id: id.clone(),
        batch_no: batch_no.clone(),
        created: ctx.store.now(),
        status: Status::Pending,
        time_succeeded: None,
        description,
        metadata,
        items: booked,
        fingerprint,
    };
    let json = batch.to_json(ctx.store);
    ctx.store.batch_refunds.insert(batch);
    ctx.store.batch_refund_nos.insert(batch_no, id);
    Ok(json)
}

/// Settles a pending batch: every item's refund succeeds or fails, then the batch's status
/// and event follow from theirs.
fn settle(store: &mut Store, id: &str, request_id: &str) {
    let Some(batch) = store
        .batch_refunds
        .get(id)
        .filter(|b| b.status == Status::Pending)
    else {
        return;
    };
    let items = batch.items.clone();
    let (mut ok, mut failed) = (0, 0);
    for item in &items {
        let outcome = match &item.fate {
            Some(message) => refunds::fail(
                store,
                &item.refund,
                Some("refund_refused".into()),
                Some(message.clone()),
            ),
            None => refunds::succeed(store, &item.refund, request_id),
        };
        match outcome
            .ok()
            .and_then(|r| r["status"].as_str().map(str::to_string))
        {
            Some(s) if s == "succeeded" => ok += 1,
            _ => failed += 1,
        }
    }
    let now = store.now();
    let batch = store.batch_refunds.get_mut(id).expect("exists");
    batch.status = match (ok, failed) {
        (_, 0) => Status::Succeeded,
        (0, _) => Status::Failed,
        _ => Status::PartiallySucceeded,
    };
    batch.time_succeeded = (ok > 0).then_some(now);
    let event = if ok > 0 {
        "batch_refund.succeeded"
    } else {
        "batch_refund.failed"
    };
    let object = store.batch_refunds.get(id).expect("exists").to_json(store);
    store.emit(event, object, request_id);
}

/// `GET /v1/batch_refunds/{id}` — settles a pending batch (test mode).
pub fn retrieve(ctx: &mut Ctx) -> ApiResult<Value> {
    ctx.query.allow_only(&[])?;
    let id = ctx.param(0).to_string();
    if ctx.store.batch_refunds.get(&id).is_none() {
        return Err(ApiError::not_found("batch_refund", &id));
    }
    settle(ctx.store, &id, &ctx.request_id);
    Ok(ctx
        .store
        .batch_refunds
        .get(&id)
        .expect("exists")
        .to_json(ctx.store))
}

/// `GET /v1/batch_refunds?app=…` — `page`, `per_page`.
pub fn list(ctx: &mut Ctx) -> ApiResult<Value> {
    let mut allowed = PAGE_PARAMS.to_vec();
    allowed.push("app");
    ctx.query.allow_only(&allowed)?;
    shared::check_app_query(ctx, "app", true)?;
    let page = Page::from_query(&ctx.query)?;
    let (items, has_more) = page.slice(ctx.store.batch_refunds.newest_first().collect());
    let data = items.into_iter().map(|b| b.to_json(ctx.store)).collect();
    Ok(list_object("/v1/batch_refunds", has_more, data))
}
