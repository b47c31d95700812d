//! Transfers to Alipay accounts (alipay.md §6.9–6.10): alipay.fund.trans.uni.transfer with
//! out_biz_no idempotency and the merchant balance, and alipay.fund.trans.common.query.
//!
//! Sandbox conventions: payee `2088000000000404` does not exist (PAYEE_NOT_EXIST; the order is
//! kept as FAIL so a query can explain it); ALIPAY_LOGON_ID payees need `name`.

use std::collections::{BTreeMap, HashMap};

use serde_json::{Map, Value, json};
use zhifu_signing::alipay::beijing_timestamp;

use super::biz::{Biz, GwError, GwResult, MAX_FEN, parse_yuan, yuan};
use super::gateway::Ctx;
use super::ledger::Movement;
use super::trades::sorted;
use super::ymd;
use crate::store::digits;

/// The payee identity that never exists.
pub const MISSING_PAYEE: &str = "2088000000000404";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferStatus {
    Success,
    Fail,
}

#[derive(Debug, Clone)]
pub struct Transfer {
    pub out_biz_no: String,
    pub order_id: String,
    pub pay_fund_order_id: String,
    pub amount: i64,
    pub product_code: String,
    pub biz_scene: String,
    pub identity: String,
    pub identity_type: String,
    pub name: Option<String>,
    pub order_title: Option<String>,
    pub remark: Option<String>,
    pub status: TransferStatus,
    pub at: i64,
    /// `(error_code, fail_reason)` of a failed order.
    pub failure: Option<(&'static str, &'static str)>,
    fingerprint: String,
}

impl Transfer {
    pub fn to_json(&self) -> Value {
        json!({
            "out_biz_no": self.out_biz_no,
            "order_id": self.order_id,
            "pay_fund_order_id": self.pay_fund_order_id,
            "trans_amount": yuan(self.amount),
            "product_code": self.product_code,
            "biz_scene": self.biz_scene,
            "payee_info": {
                "identity": self.identity,
                "identity_type": self.identity_type,
                "name": self.name,
            },
            "order_title": self.order_title,
            "remark": self.remark,
            "status": match self.status { TransferStatus::Success => "SUCCESS", TransferStatus::Fail => "FAIL" },
            "trans_date": beijing_timestamp(self.at),
        })
    }
}

/// Transfer orders by out_biz_no, order_id and pay_fund_order_id.
#[derive(Debug, Default)]
pub struct Transfers {
    pub orders: Vec<Transfer>,
    by_out_biz_no: HashMap<String, usize>,
}

impl Transfers {
    /// Orders whose money actually moved, oldest first.
    pub fn ledger(&self) -> impl Iterator<Item = &Transfer> {
        self.orders
            .iter()
            .filter(|t| t.status == TransferStatus::Success)
    }
}

fn invalid(msg: impl Into<String>) -> GwError {
    GwError::business("INVALID_PARAMETER", msg)
}

/// The validated request.
struct Request {
    out_biz_no: String,
    amount: i64,
    product_code: String,
    biz_scene: String,
    identity: String,
    identity_type: String,
    name: Option<String>,
    order_title: Option<String>,
    remark: Option<String>,
}

fn read(biz: &Biz) -> GwResult<Request> {
    let out_biz_no = biz.need("out_biz_no", invalid)?;
    if out_biz_no.len() > 64 {
        return Err(invalid("参数有误：out_biz_no 最长 64 位"));
    }
    let amount_text = biz.need("trans_amount", invalid)?;
    let amount = parse_yuan(&amount_text)
        .ok_or_else(|| invalid(format!("参数有误：trans_amount 格式错误：{amount_text}")))?;
    let product_code = biz.need("product_code", invalid)?;
    let (min, scene) = match product_code.as_str() {
        "TRANS_ACCOUNT_NO_PWD" => (10, "DIRECT_TRANSFER"),
        "STD_RED_PACKET" => (1, "PERSONAL_COLLECTION"),
        other => return Err(invalid(format!("参数有误：不支持的 product_code {other}"))),
    };
    if amount < min {
        return Err(invalid(format!(
            "参数有误：单笔最低转账金额 {} 元",
            yuan(min)
        )));
    }
    if amount > MAX_FEN {
        return Err(invalid("参数有误：trans_amount 超过 100000000"));
    }
    let biz_scene = biz.text("biz_scene").unwrap_or_else(|| scene.to_string());
    if biz_scene != scene {
        return Err(invalid(format!(
            "参数有误：product_code {product_code} 对应的 biz_scene 应为 {scene}"
        )));
    }
    let payee = biz
        .object("payee_info")
        .ok_or_else(|| invalid("缺少必选参数 payee_info"))?;
    let identity = payee.need("identity", invalid)?;
    let identity_type = payee.need("identity_type", invalid)?;
    let name = payee.text("name");
    match identity_type.as_str() {
        "ALIPAY_USER_ID" => {
            let ok = identity.len() == 16
                && identity.starts_with("2088")
                && identity.bytes().all(|b| b.is_ascii_digit());
            if !ok {
                return Err(invalid(
                    "参数有误：ALIPAY_USER_ID 应为 2088 开头的 16 位数字",
                ));
            }
        }
        "ALIPAY_LOGON_ID" => {
            if name.is_none() {
                return Err(invalid(
                    "参数有误：identity_type 为 ALIPAY_LOGON_ID 时收款方真实姓名 name 必填",
                ));
            }
        }
        "ALIPAY_OPEN_ID" => {}
        other => return Err(invalid(format!("参数有误：不支持的 identity_type {other}"))),
    }
    Ok(Request {
        out_biz_no,
        amount,
        product_code,
        biz_scene,
        identity,
        identity_type,
        name,
        order_title: biz.bounded("order_title", 128, invalid)?,
        remark: biz.bounded("remark", 200, invalid)?,
    })
}

fn answer(t: &Transfer) -> GwResult<Map<String, Value>> {
    if let (TransferStatus::Fail, Some((code, reason))) = (t.status, t.failure) {
        return Err(GwError::business(code, reason));
    }
    Ok(sorted(BTreeMap::from([
        ("out_biz_no", t.out_biz_no.clone().into()),
        ("order_id", t.order_id.clone().into()),
        ("pay_fund_order_id", t.pay_fund_order_id.clone().into()),
        ("status", "SUCCESS".into()),
        ("trans_date", beijing_timestamp(t.at).into()),
    ])))
}

/// `alipay.fund.trans.uni.transfer`.
pub fn transfer(ctx: &mut Ctx) -> GwResult<Map<String, Value>> {
    let r = read(&ctx.biz)?;
    let now = ctx.now();
    let pid = ctx.app.pid.clone();
    let fingerprint = json!([
        r.amount,
        r.product_code,
        r.biz_scene,
        r.identity,
        r.identity_type,
        r.name
    ])
    .to_string();
    let a = &mut ctx.store.alipay;
    if let Some(&i) = a.transfers.by_out_biz_no.get(&r.out_biz_no) {
        let t = &a.transfers.orders[i];
        if t.fingerprint != fingerprint {
            return Err(GwError::business(
                "PAYMENT_INFO_INCONSISTENCY",
                "两次请求商户单号一样，但是参数不一致",
            ));
        }
        return answer(t);
    }
    if r.identity == pid {
        return Err(GwError::business(
            "PAYER_PAYEE_CANNOT_SAME",
            "收付款方不能相同",
        ));
    }
    let failure = (r.identity == MISSING_PAYEE).then_some(("PAYEE_NOT_EXIST", "收款账号不存在"));
    if failure.is_none() && a.account.balance < r.amount {
        return Err(GwError::business(
            "PAYER_BALANCE_NOT_ENOUGH",
            "付款方余额不足",
        ));
    }
    let day = ymd(now);
    let t = Transfer {
        order_id: format!("{day}11007000{}", digits(16)),
        pay_fund_order_id: format!("{day}11007001{}", digits(16)),
        out_biz_no: r.out_biz_no,
        amount: r.amount,
        product_code: r.product_code,
        biz_scene: r.biz_scene,
        identity: r.identity,
        identity_type: r.identity_type,
        name: r.name,
        order_title: r.order_title,
        remark: r.remark,
        status: if failure.is_some() {
            TransferStatus::Fail
        } else {
            TransferStatus::Success
        },
        at: now,
        failure,
        fingerprint,
    };
    if t.status == TransferStatus::Success {
        let title = t.order_title.clone().unwrap_or_else(|| "转账".into());
        a.account.post(
            now,
            -t.amount,
            Movement {
                kind: "转账",
                biz_no: &t.order_id,
                out_no: &t.out_biz_no,
                subject: &title,
                counterparty: &t.identity,
                remark: t.remark.as_deref().unwrap_or(&title),
            },
        );
    }
    let i = a.transfers.orders.len();
    a.transfers.by_out_biz_no.insert(t.out_biz_no.clone(), i);
    a.transfers.orders.push(t);
    answer(&a.transfers.orders[i])
}

/// `alipay.fund.trans.common.query`: by out_biz_no (product_code / biz_scene, when given, must
/// match), order_id or pay_fund_order_id.
pub fn query(ctx: &mut Ctx) -> GwResult<Map<String, Value>> {
    let biz = &ctx.biz;
    let (out_biz_no, order_id, pay_fund_order_id) = (
        biz.text("out_biz_no"),
        biz.text("order_id"),
        biz.text("pay_fund_order_id"),
    );
    if out_biz_no.is_none() && order_id.is_none() && pay_fund_order_id.is_none() {
        return Err(invalid(
            "参数有误：out_biz_no、order_id、pay_fund_order_id 不能同时为空",
        ));
    }
    let (product_code, biz_scene) = (biz.text("product_code"), biz.text("biz_scene"));
    let found = ctx.store.alipay.transfers.orders.iter().find(|t| {
        let id_matches = match (&order_id, &pay_fund_order_id) {
            (Some(o), _) => *o == t.order_id,
            (None, Some(p)) => *p == t.pay_fund_order_id,
            (None, None) => out_biz_no.as_deref() == Some(t.out_biz_no.as_str()),
        };
        id_matches
            && out_biz_no.as_ref().is_none_or(|o| *o == t.out_biz_no)
            && product_code.as_ref().is_none_or(|p| *p == t.product_code)
            && biz_scene.as_ref().is_none_or(|s| *s == t.biz_scene)
    });
    let t = found.ok_or_else(|| GwError::business("ORDER_NOT_EXIST", "转账订单不存在"))?;
    let mut f = BTreeMap::from([
        ("out_biz_no", t.out_biz_no.clone().into()),
        ("order_id", t.order_id.clone().into()),
        ("pay_fund_order_id", t.pay_fund_order_id.clone().into()),
        ("trans_amount", yuan(t.amount).into()),
        ("order_fee", "0.00".into()),
    ]);
    match (t.status, t.failure) {
        (TransferStatus::Success, _) => {
            f.insert("status", "SUCCESS".into());
            f.insert("pay_date", beijing_timestamp(t.at).into());
        }
        (TransferStatus::Fail, failure) => {
            let (code, reason) = failure.unwrap_or(("SYSTEM_ERROR", "转账失败"));
            f.insert("status", "FAIL".into());
            f.insert("error_code", code.into());
            f.insert("fail_reason", reason.into());
        }
    }
    Ok(sorted(f))
}
