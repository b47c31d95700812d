//! Payment channels: required `extra` keys, `order_no` lengths, de-duplication windows and the
//! fake client credential each channel returns (shared/reference/pingpp.md §4.2, §6, §7).

use serde_json::{Value, json};

use crate::store::{alnum, digits};

/// Facts about one channel.
#[derive(Debug)]
pub struct Channel {
    pub code: &'static str,
    pub required_extra: &'static [&'static str],
    pub order_no_len: (usize, usize),
}

const fn ch(
    code: &'static str,
    required_extra: &'static [&'static str],
    order_no_len: (usize, usize),
) -> Channel {
    Channel {
        code,
        required_extra,
        order_no_len,
    }
}

const ALIPAY: (usize, usize) = (1, 64);
const WX: (usize, usize) = (2, 32);
const UPACP: (usize, usize) = (8, 40);
const ISV: (usize, usize) = (8, 32);

/// §6 table; order_no lengths from the §4.2 create-parameter table.
pub static CHANNELS: &[Channel] = &[
    ch("alipay", &[], ALIPAY),
    ch("alipay_wap", &["success_url"], ALIPAY),
    ch("alipay_pc_direct", &["success_url"], ALIPAY),
    ch("alipay_qr", &[], ALIPAY),
    ch("alipay_scan", &["scan_code", "terminal_id"], ALIPAY),
    ch("wx", &[], WX),
    ch("wx_pub", &["open_id"], WX),
    ch("wx_pub_qr", &["product_id"], WX),
    ch("wx_pub_scan", &["scan_code"], (1, 32)),
    ch("wx_lite", &["open_id"], WX),
    ch("wx_wap", &[], WX),
    ch("upacp", &[], UPACP),
    ch("upacp_wap", &["result_url"], UPACP),
    ch("upacp_pc", &["result_url"], UPACP),
    ch("cp_b2b", &[], UPACP),
    ch("applepay_upacp", &[], UPACP),
    ch("bfb", &[], (1, 20)),
    ch("bfb_wap", &["result_url", "bfb_login"], (1, 20)),
    ch("jdpay_wap", &["success_url", "fail_url"], (1, 30)),
    ch(
        "yeepay_wap",
        &[
            "product_category",
            "identity_id",
            "identity_type",
            "terminal_type",
            "terminal_id",
            "user_ua",
            "result_url",
        ],
        (1, 50),
    ),
    ch("qpay", &["device"], (1, 30)),
    ch(
        "cmb_wallet",
        &["result_url", "p_no", "seq", "m_uid", "mobile"],
        (6, 32),
    ),
    ch("isv_qr", &["pay_channel", "terminal_id"], ISV),
    ch("isv_scan", &["scan_code", "terminal_id"], ISV),
    ch(
        "isv_wap",
        &["pay_channel", "result_url", "terminal_id"],
        ISV,
    ),
    ch("balance", &["user"], (1, 64)),
    ch("cb_alipay", &[], ALIPAY),
    ch("cb_wx", &["goods_list"], (1, 32)),
    ch("cb_wx_pub", &["open_id", "goods_list"], (1, 32)),
    ch("cb_wx_pub_qr", &["product_id", "goods_list"], (1, 32)),
    ch("cb_wx_pub_scan", &["scan_code", "goods_list"], (1, 32)),
];

pub fn find(code: &str) -> Option<&'static Channel> {
    CHANNELS.iter().find(|c| c.code == code)
}

impl Channel {
    /// WeChat channels (domestic and cross-border).
    pub fn is_wechat(&self) -> bool {
        self.code.starts_with("wx") || self.code.starts_with("cb_wx")
    }

    /// UnionPay channels count `subject` in bytes, not characters.
    pub fn subject_in_bytes(&self) -> bool {
        matches!(
            self.code,
            "upacp" | "upacp_wap" | "upacp_pc" | "cp_b2b" | "applepay_upacp"
        )
    }

    pub fn max_body_chars(&self) -> usize {
        if self.code == "yeepay_wap" { 100 } else { 128 }
    }

    /// How long an identical create returns the same charge (help article 132326).
    pub fn dedup_window_secs(&self) -> i64 {
        match self.code {
            "wx_wap" => 5 * 60,
            "wx_pub_scan" | "cb_wx_pub_scan" => 60,
            _ if self.is_wechat() => 2 * 3600,
            _ => 60,
        }
    }

    /// Whether reusing an order_no after the window is refused (WeChat rejects it itself; the
    /// offline isv channels refuse it too) rather than creating a new charge.
    pub fn refuses_reuse_after_window(&self) -> bool {
        self.is_wechat() || matches!(self.code, "isv_qr" | "isv_scan")
    }

    /// Default and maximum `time_expire` distance (§6 field limits).
    pub fn expiry_secs(&self) -> (i64, i64) {
        match self.code {
            _ if self.is_wechat() => (2 * 3600, 7 * 86_400),
            "upacp" | "upacp_wap" | "upacp_pc" => (3600, 3600),
            _ => (86_400, 15 * 86_400),
        }
    }

    /// A fake client credential keyed by channel, like `{"object":"credential","alipay":{…}}`.
    pub fn credential(&self, charge_id: &str, order_no: &str, amount: i64) -> Value {
        let nonce = alnum(32);
        let sign = alnum(172);
        let inner = match self.code {
            "alipay" | "cb_alipay" => json!({
                "orderInfo": format!("app_id=2021000000000000&biz_content={{\"out_trade_no\":\"{order_no}\",\"total_amount\":\"{}.{:02}\"}}&method=alipay.trade.app.pay&sign={sign}", amount / 100, amount % 100)
            }),
            "alipay_wap" | "alipay_pc_direct" => json!({
                "channel_url": "https://openapi.alipay.com/gateway.do",
                "out_trade_no": order_no,
                "total_amount": format!("{}.{:02}", amount / 100, amount % 100),
                "sign": sign,
            }),
            "wx" | "cb_wx" => json!({
                "appId": format!("wx{}", alnum(16).to_lowercase()),
                "partnerId": digits(10),
                "prepayId": format!("wx{}", digits(28)),
                "nonceStr": nonce,
                "timeStamp": crate::store::unix_now(),
                "packageValue": "Sign=WXPay",
                "sign": sign,
            }),
            "wx_pub" | "wx_lite" | "cb_wx_pub" => json!({
                "appId": format!("wx{}", alnum(16).to_lowercase()),
                "timeStamp": crate::store::unix_now().to_string(),
                "nonceStr": nonce,
                "package": format!("prepay_id=wx{}", digits(28)),
                "signType": "RSA",
                "paySign": sign,
            }),
            "alipay_qr" => Value::String(format!(
                "https://qr.alipay.com/sandbox{}",
                alnum(20).to_lowercase()
            )),
            "wx_pub_qr" | "cb_wx_pub_qr" => {
                Value::String(format!("weixin://wxpay/bizpayurl?pr={}", alnum(7)))
            }
            "wx_wap" => Value::String(format!(
                "https://wx.tenpay.com/cgi-bin/mmpayweb-bin/checkmweb?prepay_id=wx{}",
                digits(28)
            )),
            "upacp" | "applepay_upacp" => json!({ "tn": digits(21), "mode": "00" }),
            _ => json!({ "sandbox": true, "charge": charge_id, "order_no": order_no }),
        };
        json!({ "object": "credential", (self.code): inner })
    }
}
