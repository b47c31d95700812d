//! The Alipay Open Platform v2 gateway (`/gateway.do`): credentials and keys of the sandbox app,
//! the in-memory Alipay state (trades, transfers, the merchant account, OAuth users, signed
//! notifications, bill links), and the modules that implement each method.
//!
//! # Choices where shared/reference/alipay.md does not pin the real behaviour
//!
//! - Answers are `text/html;charset=utf-8` (the real gateway's label for its JSON).
//! - Check order: method (missing → 40001 `isv.missing-method`, unknown → 40002
//!   `isv.invalid-method`, both under `error_response`), app_id (missing/unknown → UNSIGNED
//!   `error_response`), then, signed under `<method>_response`: duplicate parameter names
//!   (`isv.invalid-parameter`), sign, sign_type, timestamp, version (40001 `isv.missing-*`),
//!   charset (absent = utf-8; anything but utf-8 → `isv.invalid-charset`), sign_type ≠ RSA2
//!   (`isv.invalid-signature-type`), format ≠ JSON/json (`isv.invalid-format`), timestamp
//!   (`isv.invalid-timestamp`: not `yyyy-MM-dd HH:mm:ss` or more than 10 minutes from the REAL
//!   clock — the client's clock signs it, so advancing the sandbox clock does not break requests),
//!   certificate SNs, signature. The value of `version` is not checked.
//! - Certificate mode: a missing or wrong `app_cert_sn` → 40002 `isv.invalid-app-cert-sn`, a
//!   missing or wrong `alipay_root_cert_sn` → 40002 `isv.invalid-alipay-root-cert-sn` (sub_codes
//!   chosen here). Key mode ignores SNs sent anyway (they are still part of the signed content).
//! - A non-form request body (e.g. JSON) → unsigned 40002 `isv.invalid-content-type`.
//! - `biz_content` that is not a JSON object → 40002 `isv.invalid-parameter`; an absent one is an
//!   empty object, so the method reports the missing field (40004 `ACQ.INVALID_PARAMETER` /
//!   `INVALID_PARAMETER`). Unknown fields are ignored.
//! - Trades time out on the sandbox clock: `time_expire` / `timeout_express`, default 3h for
//!   create / precreate, 15d for page / wap pay. Paying takes 0.6 % service fee from the merchant
//!   account (shown in bills); a refund gives it back pro rata.
//! - alipay.trade.cancel: repeating it answers the same `action` (`close`, or `refund` for a
//!   trade it refunded; `close` for a trade closed otherwise); an unknown out_trade_no answers
//!   success without `action` and blocks that number (later create → ACQ.TRADE_HAS_CLOSE).
//! - alipay.trade.refund: a repeat of an out_request_no with the same amount (and no or the same
//!   reason) answers the first result with `fund_change: N` and the current cumulative
//!   `refund_fee`; another amount or reason → ACQ.DISCORDANT_REPEAT_REQUEST. Closed unpaid →
//!   ACQ.TRADE_STATUS_ERROR, fully refunded → ACQ.TRADE_HAS_CLOSE, merchant balance too low →
//!   ACQ.SELLER_BALANCE_NOT_ENOUGH.
//! - fastpay.refund.query for an out_request_no without a refund: success without
//!   `refund_status` / `refund_amount`.
//! - Transfers work in key mode too (production requires certificate mode; the runtime checks
//!   that). Payee `2088000000000404` → PAYEE_NOT_EXIST and a FAIL order for common.query;
//!   ALIPAY_LOGON_ID without `name`, amounts under 0.10 (TRANS_ACCOUNT_NO_PWD) / 0.01
//!   (STD_RED_PACKET), malformed user ids → INVALID_PARAMETER; payee = merchant →
//!   PAYER_PAYEE_CANNOT_SAME. common.query by out_biz_no does not require product_code /
//!   biz_scene, but they must match when given.
//! - Bills: a bad bill_type or date, today / this month or later, before 2016 → 40004
//!   `isv.invalid_arguments`; nothing that day → 40004 `isp.bill_not_exist`. The link (with the
//!   real link's query parameters) works 30 s of sandbox time, then 410; unknown tokens 404.
//!   CSV lines end in CRLF. signcustomer income/expense cells are `12.34` / `-12.34` (`0.00` in
//!   the other column); its summary file's columns are this sandbox's own.
//! - OAuth: codes are single use and do not expire; oauth.token failures are signed
//!   `error_response` (isv.code-invalid, isv.grant-type-invalid, isv.refresh-token-invalid,
//!   isv.refreshed-token-invalid, isv.refresh-token-time-out); successes carry `code`/`msg`.
//!   user.info.share with a missing/unknown token → 20001 aop.invalid-auth-token, expired →
//!   aop.auth-token-time-out.
//! - Notifications are built (and kept) for every payment and refund; they are not POSTed.

pub mod api;
pub mod bills;
pub mod biz;
pub mod certs;
pub mod gateway;
pub mod ledger;
pub mod notify;
pub mod oauth;
pub mod page;
pub mod refunds;
pub mod trades;
pub mod transfers;
pub mod zipfile;

use std::collections::HashMap;

use rsa::{PrivateKey, PublicKey};
use zhifu_signing::alipay::beijing_timestamp;

use crate::store::digits;

/// What the gateway knows about the one app it serves, fixed for a start.
pub struct AlipayApp {
    /// 16 digits starting `2021`.
    pub app_id: String,
    /// The merchant's Alipay user id (`2088` + 12 digits), seller of every trade.
    pub pid: String,
    /// Verifies request signatures.
    pub app_public: PublicKey,
    /// Signs responses and notifications (the "Alipay" key).
    pub alipay_private: PrivateKey,
    /// Serial numbers in certificate mode; `None` in key mode.
    pub cert: Option<CertSns>,
    /// `http://127.0.0.1:PORT`, for bill download links.
    pub base_url: String,
}

/// The serial numbers a certificate-mode request must carry and the one responses carry.
pub struct CertSns {
    pub app_cert_sn: String,
    pub alipay_cert_sn: String,
    pub root_cert_sn: String,
}

impl AlipayApp {
    /// The bill account: the merchant pid + `0156` (alipay.md §8).
    pub fn bill_account(&self) -> String {
        format!("{}0156", self.pid)
    }
}

/// `2021` + 12 digits, like a real Open Platform APPID.
pub fn new_app_id() -> String {
    format!("2021{}", digits(12))
}

/// `2088` + 12 digits: an Alipay user id.
pub fn new_user_id() -> String {
    format!("2088{}", digits(12))
}

/// `yyyyMMdd` of a Unix time in Beijing time.
pub fn ymd(unix: i64) -> String {
    beijing_timestamp(unix)[..10].replace('-', "")
}

/// All Alipay objects of one sandbox, kept inside the shared [`crate::store::Store`] so that
/// the sandbox clock and locking are the Ping++ side's.
pub struct AlipayStore {
    pub trades: Vec<trades::Trade>,
    pub by_out_trade_no: HashMap<String, usize>,
    pub by_trade_no: HashMap<String, usize>,
    pub transfers: transfers::Transfers,
    pub account: ledger::Account,
    pub oauth: oauth::OAuth,
    pub notifications: Vec<notify::Notification>,
    pub bills: bills::BillLinks,
}

impl Default for AlipayStore {
    fn default() -> Self {
        Self {
            trades: Vec::new(),
            by_out_trade_no: HashMap::new(),
            by_trade_no: HashMap::new(),
            transfers: Default::default(),
            account: ledger::Account::new(ledger::DEFAULT_BALANCE),
            oauth: Default::default(),
            notifications: Vec::new(),
            bills: Default::default(),
        }
    }
}
