//! Batch transfers (批量企业付款, shared/reference/pingpp.md §4.7, §5): create, retrieve, list
//! (page), cancel (unionpay, while `scheduled`).
//!
//! Every recipient is checked for its channel (alipay: `account` and `name`; wx_pub: `open_id`;
//! unionpay, allinpay, jdpay: `account`, `name` and the bank; balance: a known `user`) and
//! `amount` must be their sum, or the whole batch is refused naming the field. A valid batch
//! makes one transfer per recipient (carrying the `batch_no`) and is `pending` — `scheduled` on
//! unionpay for [`SCHEDULE_SECS`], when cancel stops it and every item (→ `canceled`).
//! Retrieving it (test mode) settles every item: `paid`, or `failed` with `failure_msg` when a
//! failure was injected for that payee (`/_sandbox/failures`, on `batch_transfer`); the batch ends
//! `succeeded`, `partially_succeeded` or `failed` with the event `batch_transfer.succeeded`
//! (documented) or `batch_transfer.failed` (name UNSURE); each item's transfer emits its own.
//!
//! Idempotency (UNSURE at the real gateway): the same `batch_no` with the same parameters answers
//! the same batch; with other parameters it is refused naming `batch_no`.

use serde_json::{Map, Value, json};

use super::failures::On;
use super::transfers::{self, NewTransfer, SCHEDULE_SECS, Status as TransferStatus, is_bank};
use super::users;
use super::{Ctx, shared};
use crate::error::{ApiError, ApiResult};
use crate::list::{PAGE_PARAMS, Page, list_object};
use crate::params::Body;
use crate::store::{Record, Store, digits};

/// The channels a batch can pay on (node example/batch_transfer_create.js, go
/// BatchTransferRecipient `user`).
const CHANNELS: &[&str] = &[
    "alipay", "wx_pub", "unionpay", "allinpay", "jdpay", "balance",
];

/// The keys a recipient may carry (go types.go BatchTransferRecipient, node example).
const RECIPIENT_KEYS: &[&str] = &[
    "account",
    "open_id",
    "user",
    "amount",
    "name",
    "description",
    "order_no",
    "account_type",
    "open_bank_code",
    "open_bank",
    "business_code",
    "card_type",
    "force_check",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Scheduled,
    Pending,
    Succeeded,
    PartiallySucceeded,
    Failed,
    Canceled,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::Scheduled => "scheduled",
            Status::Pending => "pending",
            Status::Succeeded => "succeeded",
            Status::PartiallySucceeded => "partially_succeeded",
            Status::Failed => "failed",
            Status::Canceled => "canceled",
        }
    }

    /// No money moved and none will.
    pub fn is_void(self) -> bool {
        matches!(self, Status::Failed | Status::Canceled)
    }
}

#[derive(Debug, Clone)]
pub struct BatchTransfer {
    pub id: String,
    pub batch_no: String,
    pub created: i64,
    pub status: Status,
    time_succeeded: Option<i64>,
    channel: String,
    amount: i64,
    kind: String,
    description: String,
    metadata: Map<String, Value>,
    /// Each recipient as sent, and the transfer made for it.
    items: Vec<(Map<String, Value>, String)>,
    fingerprint: String,
}

impl Record for BatchTransfer {
    fn id(&self) -> &str {
        &self.id
    }
}

impl BatchTransfer {
    fn to_json(&self, store: &Store) -> Value {
        let recipients: Vec<Value> = self
            .items
            .iter()
            .map(|(sent, transfer)| {
                let mut r = sent.clone();
                let t = store.transfers.get(transfer);
                r.insert("transfer".into(), json!(transfer));
                r.insert("status".into(), json!(t.map(|t| t.status.as_str())));
                r.insert(
                    "failure_msg".into(),
                    json!(t.and_then(|t| t.failure_msg.clone())),
                );
                r.insert(
                    "transaction_no".into(),
                    json!(t.and_then(|t| t.transaction_no.clone())),
                );
                r.insert("fee".into(), json!(0));
                Value::Object(r)
            })
            .collect();
        let failed = self
            .items
            .iter()
            .filter(|(_, t)| {
                store
                    .transfers
                    .get(t)
                    .is_some_and(|t| t.status == TransferStatus::Failed)
            })
            .count();
        json!({
            "id": self.id,
            "object": "batch_transfer",
            "app": store.app_id,
            "amount": self.amount,
            "batch_no": self.batch_no,
            "channel": self.channel,
            "currency": "cny",
            "created": self.created,
            "description": self.description,
            "extra": {},
            "failure_msg": (failed > 0).then(|| format!("{failed} 笔付款失败")),
            "fee": 0,
            "livemode": false,
            "metadata": self.metadata,
            "recipients": recipients,
            "status": self.status.as_str(),
            "time_succeeded": self.time_succeeded,
            "type": self.kind,
        })
    }
}

/// Checks one recipient for `channel` and turns it into the transfer to make.
fn read_recipient(
    store: &Store,
    item: &Body,
    channel: &str,
    kind: &str,
    batch_no: &str,
) -> ApiResult<(NewTransfer, String)> {
    item.allow_only(RECIPIENT_KEYS)?;
    let amount = item.req_int("amount", 1, 100_000_000_000)?;
    let missing = |key: &str| {
        let name = item.name(key);
        ApiError::param(name.clone(), format!("渠道 {channel} 缺少必填参数: {name}"))
    };
    let text = |key: &str| item.opt_str(key, 100);
    let (party, recipient, mut extra) = match channel {
        "wx_pub" => {
            let open_id = text("open_id")?.ok_or_else(|| missing("open_id"))?;
            (open_id.clone(), Some(open_id), Map::new())
        }
        "balance" => {
            let user = text("user")?.ok_or_else(|| missing("user"))?;
            users::spendable(store, &user).map_err(|_| {
                ApiError::param(item.name("user"), format!("接收用户不存在或已禁用: {user}"))
            })?;
            (user.clone(), Some(user), Map::new())
        }
        _ => {
            let account = text("account")?.ok_or_else(|| missing("account"))?;
            let name = text("name")?.ok_or_else(|| missing("name"))?;
            let mut extra = Map::new();
            if is_bank(channel) {
                if text("open_bank_code")?.is_none() && text("open_bank")?.is_none() {
                    return Err(missing("open_bank_code"));
                }
                extra.insert("card_number".into(), json!(account));
                extra.insert("user_name".into(), json!(name));
                (account, None, extra)
            } else {
                extra.insert("recipient_name".into(), json!(name));
                (account.clone(), Some(account), extra)
            }
        }
    };
    for key in [
        "open_bank_code",
        "open_bank",
        "business_code",
        "account_type",
    ] {
        if let Some(v) = text(key)? {
            extra.insert(key.into(), json!(v));
        }
    }
    let order_no = match text("order_no")? {
        Some(no) => {
            transfers::check_order_no(channel, &no).map_err(|rule| {
                ApiError::param(
                    item.name("order_no"),
                    format!("渠道 {channel} 的 order_no 必须是 {rule}"),
                )
            })?;
            no
        }
        None => digits(if channel == "allinpay" { 20 } else { 16 }),
    };
    let transfer = NewTransfer {
        order_no,
        channel: channel.to_string(),
        amount,
        kind: kind.to_string(),
        recipient,
        description: text("description")?,
        extra,
        metadata: Map::new(),
        batch_no: Some(batch_no.to_string()),
        fate: None,
    };
    Ok((transfer, party))
}

/// The validated batch: its fields and one transfer (with its payee) per recipient.
struct NewBatch {
    channel: String,
    amount: i64,
    kind: String,
    description: String,
    metadata: Map<String, Value>,
    items: Vec<(Map<String, Value>, NewTransfer, String)>,
}

fn read(store: &Store, body: &Body, batch_no: &str) -> ApiResult<NewBatch> {
    let channel = body.req_str("channel", 16)?;
    if !CHANNELS.contains(&channel.as_str()) {
        return Err(ApiError::param(
            "channel",
            format!("不支持的批量付款渠道 (channel): {channel}"),
        ));
    }
    let kind = body.opt_str("type", 3)?.unwrap_or_else(|| "b2c".into());
    if kind != "b2c" && !(kind == "b2b" && channel != "wx_pub" && channel != "balance") {
        return Err(ApiError::param(
            "type",
            format!("渠道 {channel} 不支持 type {kind}"),
        ));
    }
    if body.opt_str("currency", 3)?.is_some_and(|c| c != "cny") {
        return Err(ApiError::param("currency", "批量付款仅支持 cny"));
    }
    let description = body.req_str("description", 200)?;
    body.check_bytes("description", &description, 200)?;
    let amount = body.req_int("amount", 1, 100_000_000_000)?;
    let mut items = Vec::new();
    for item in body.req_list("recipients", 100)? {
        let (transfer, party) = read_recipient(store, &item, &channel, &kind, batch_no)?;
        items.push((item.into_map(), transfer, party));
    }
    let sum: i64 = items.iter().map(|(_, t, _)| t.amount).sum();
    if sum != amount {
        return Err(ApiError::param(
            "amount",
            format!("amount {amount} 与 recipients 的金额之和 {sum} 不一致"),
        ));
    }
    Ok(NewBatch {
        channel,
        amount,
        kind,
        description,
        metadata: body.metadata()?.unwrap_or_default(),
        items,
    })
}

/// `POST /v1/batch_transfers`
pub fn create(ctx: &mut Ctx) -> ApiResult<Value> {
    let body = &ctx.body;
    body.allow_only(&[
        "app",
        "batch_no",
        "channel",
        "amount",
        "description",
        "recipients",
        "type",
        "currency",
        "metadata",
    ])?;
    let fingerprint = body.fingerprint();
    shared::check_app_string(ctx.store, body)?;
    let batch_no = body.req_str("batch_no", 32)?;
    if batch_no.len() < 11 || !batch_no.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(ApiError::param(
            "batch_no",
            format!("batch_no 必须是 11 到 32 位字母和数字，收到: {batch_no}"),
        ));
    }
    let store = &*ctx.store;
    let earlier = store
        .batch_transfer_nos
        .get(&batch_no)
        .and_then(|id| store.batch_transfers.get(id))
        .map(|b| (b.id.as_str(), b.fingerprint.as_str()));
    let key = ("batch_no", batch_no.as_str());
    if let Some(id) = shared::reuse(key, earlier, &fingerprint, "batch_transfer")? {
        return Ok(store
            .batch_transfers
            .get(&id)
            .expect("found")
            .to_json(store));
    }
    let new = read(ctx.store, body, &batch_no)?;
    let mut items = Vec::with_capacity(new.items.len());
    for (sent, mut transfer, party) in new.items {
        transfer.fate = ctx
            .store
            .failures
            .take(On::BatchTransfer, &new.channel, &[party.as_str()]);
        items.push((sent, transfers::insert(ctx.store, transfer, String::new())));
    }
    let id = digits(18);
    let batch = BatchTransfer {
        id: id.clone(),
        batch_no: batch_no.clone(),
        created: ctx.store.now(),
        status: if new.channel == "unionpay" {
            Status::Scheduled
        } else {
            Status::Pending
        },
        time_succeeded: None,
        channel: new.channel,
        amount: new.amount,
        kind: new.kind,
        description: new.description,
        metadata: new.metadata,
        items,
        fingerprint,
    };
    let json = batch.to_json(ctx.store);
    ctx.store.batch_transfers.insert(batch);
    ctx.store.batch_transfer_nos.insert(batch_no, id);
    Ok(json)
}

/// Settles a batch that is due: every item's transfer is paid or fails, then the batch's status
/// and event follow from theirs.
fn settle(store: &mut Store, id: &str, request_id: &str) {
    let now = store.now();
    let Some(batch) = store.batch_transfers.get(id) else {
        return;
    };
    match batch.status {
        Status::Scheduled if now < batch.created + SCHEDULE_SECS => return,
        Status::Scheduled | Status::Pending => {}
        _ => return,
    }
    let transfers: Vec<String> = batch.items.iter().map(|(_, t)| t.clone()).collect();
    for t in &transfers {
        transfers::advance(store, t, request_id);
    }
    let paid = transfers
        .iter()
        .filter(|t| {
            store
                .transfers
                .get(t)
                .is_some_and(|t| t.status == TransferStatus::Paid)
        })
        .count();
    let batch = store.batch_transfers.get_mut(id).expect("exists");
    batch.status = match paid {
        0 => Status::Failed,
        n if n == transfers.len() => Status::Succeeded,
        _ => Status::PartiallySucceeded,
    };
    batch.time_succeeded = (paid > 0).then_some(now);
    let event = if paid > 0 {
        "batch_transfer.succeeded"
    } else {
        "batch_transfer.failed"
    };
    let object = store
        .batch_transfers
        .get(id)
        .expect("exists")
        .to_json(store);
    store.emit(event, object, request_id);
}

fn find<'a>(store: &'a Store, id: &str) -> ApiResult<&'a BatchTransfer> {
    store
        .batch_transfers
        .get(id)
        .ok_or_else(|| ApiError::not_found("batch_transfer", id))
}

/// `GET /v1/batch_transfers/{id}` — settles the batch when due (test mode).
pub fn retrieve(ctx: &mut Ctx) -> ApiResult<Value> {
    ctx.query.allow_only(&[])?;
    let id = ctx.param(0).to_string();
    find(ctx.store, &id)?;
    settle(ctx.store, &id, &ctx.request_id);
    Ok(find(ctx.store, &id)?.to_json(ctx.store))
}

/// `GET /v1/batch_transfers?app=…` — `page`, `per_page`.
pub fn list(ctx: &mut Ctx) -> ApiResult<Value> {
    let mut allowed = PAGE_PARAMS.to_vec();
    allowed.push("app");
    ctx.query.allow_only(&allowed)?;
    shared::check_app_query(ctx, "app", true)?;
    let page = Page::from_query(&ctx.query)?;
    let (items, has_more) = page.slice(ctx.store.batch_transfers.newest_first().collect());
    let data = items.into_iter().map(|b| b.to_json(ctx.store)).collect();
    Ok(list_object("/v1/batch_transfers", has_more, data))
}

/// `PUT /v1/batch_transfers/{id}` `{"status": "canceled"}` — unionpay, while `scheduled`.
pub fn cancel(ctx: &mut Ctx) -> ApiResult<Value> {
    ctx.body.allow_only(&["status"])?;
    if ctx.body.req_str("status", 16)? != "canceled" {
        return Err(ApiError::param("status", "status 只能更新为 canceled"));
    }
    let id = ctx.param(0).to_string();
    let now = ctx.store.now();
    let batch = find(ctx.store, &id)?;
    if batch.status != Status::Scheduled || now >= batch.created + SCHEDULE_SECS {
        return Err(ApiError::invalid(format!(
            "只有 unionpay 渠道、处于 scheduled 状态 (创建后 5 分钟内) 的批量付款可以取消；Batch transfer {id} 的状态是 {}。",
            batch.status.as_str()
        )));
    }
    let transfers: Vec<String> = batch.items.iter().map(|(_, t)| t.clone()).collect();
    for t in transfers {
        if let Some(t) = ctx.store.transfers.get_mut(&t) {
            t.status = TransferStatus::Canceled;
            t.fate = None;
        }
    }
    ctx.store
        .batch_transfers
        .get_mut(&id)
        .expect("found")
        .status = Status::Canceled;
    let object = find(ctx.store, &id)?.to_json(ctx.store);
    ctx.store
        .emit("batch_transfer.canceled", object.clone(), &ctx.request_id);
    Ok(object)
}
