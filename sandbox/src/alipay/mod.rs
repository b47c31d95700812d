//! The Alipay Open Platform v2 gateway (`/gateway.do`): credentials and keys of the sandbox app,
//! the in-memory Alipay state (trades, transfers, the merchant account, OAuth users, signed
//! notifications, bill links), and the modules that implement each method.

pub mod api;
pub mod bills;
pub mod biz;
pub mod certs;
pub mod gateway;
pub mod ledger;
pub mod notify;
pub mod oauth;
pub mod refunds;
pub mod trades;
pub mod transfers;
pub mod zipfile;

use std::collections::HashMap;

use rsa::{PrivateKey, PublicKey};
use zhifu_runtime::signing::alipay::beijing_timestamp;

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
