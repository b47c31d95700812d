//! The merchant's Alipay account: its balance and every movement of money (payments received,
//! service fees, refunds, transfers, sandbox adjustments), the source of the `signcustomer` bill
//! and of the balance transfers draw on.

use serde_json::{Value, json};
use zhifu_signing::alipay::beijing_timestamp;

use super::biz::yuan;
use super::ymd;
use crate::store::digits;

/// Balance at start: 100000.00 yuan, in fen.
pub const DEFAULT_BALANCE: i64 = 100_000 * 100;

/// The service fee Alipay keeps on a payment (and gives back pro rata on a refund): 0.6 %, half
/// up, in fen.
pub fn service_fee(amount: i64) -> i64 {
    (amount * 6 + 500) / 1000
}

/// One account movement (账务明细).
#[derive(Debug, Clone)]
pub struct Entry {
    /// 账务流水号.
    pub id: String,
    /// 业务流水号: the trade_no or transfer order_id.
    pub biz_no: String,
    /// 商户订单号: out_trade_no, out_request_no or out_biz_no.
    pub out_no: String,
    pub subject: String,
    pub at: i64,
    /// 对方账号.
    pub counterparty: String,
    /// Positive = income, negative = expense (fen).
    pub amount: i64,
    /// Balance after this movement (fen).
    pub balance: i64,
    /// 业务类型: 在线支付, 收费, 交易退款, 转账, 其他.
    pub kind: &'static str,
    pub remark: String,
}

impl Entry {
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "biz_no": self.biz_no,
            "out_no": self.out_no,
            "subject": self.subject,
            "time": beijing_timestamp(self.at),
            "counterparty": self.counterparty,
            "amount": yuan(self.amount),
            "balance": yuan(self.balance),
            "kind": self.kind,
            "remark": self.remark,
        })
    }
}

/// What a movement is about, apart from its amount and time.
pub struct Movement<'a> {
    pub kind: &'static str,
    pub biz_no: &'a str,
    pub out_no: &'a str,
    pub subject: &'a str,
    pub counterparty: &'a str,
    pub remark: &'a str,
}

#[derive(Debug)]
pub struct Account {
    pub balance: i64,
    pub entries: Vec<Entry>,
}

impl Account {
    pub fn new(balance: i64) -> Self {
        Self {
            balance,
            entries: Vec::new(),
        }
    }

    /// Books `amount` (signed fen) at `at`.
    pub fn post(&mut self, at: i64, amount: i64, m: Movement) {
        if amount == 0 {
            return;
        }
        self.balance += amount;
        self.entries.push(Entry {
            id: format!("{}{}", ymd(at), digits(16)),
            biz_no: m.biz_no.to_string(),
            out_no: m.out_no.to_string(),
            subject: m.subject.to_string(),
            at,
            counterparty: m.counterparty.to_string(),
            amount,
            balance: self.balance,
            kind: m.kind,
            remark: m.remark.to_string(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fee_is_six_per_mille_half_up() {
        assert_eq!(service_fee(8888), 53);
        assert_eq!(service_fee(100), 1);
        assert_eq!(service_fee(1), 0);
        assert_eq!(service_fee(10_000), 60);
    }
}
