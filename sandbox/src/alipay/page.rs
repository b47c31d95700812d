//! Page-jump payments (alipay.md §6.3): `alipay.trade.page.pay` / `alipay.trade.wap.pay` links
//! opened in a browser create the trade (idempotently, like alipay.trade.create) and show a
//! sandbox cashier page with a button that pays it; a rejected link shows the error page.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::biz::{GwResult, yuan};
use super::gateway::Ctx;
use super::trades::{open_trade, sorted};

/// `alipay.trade.page.pay` / `alipay.trade.wap.pay` opened in a browser: the trade is created
/// (idempotently) and the cashier page shows it.
pub fn page_pay(ctx: &mut Ctx) -> GwResult<Map<String, Value>> {
    let method = ctx.param("method").unwrap_or_default();
    let i = open_trade(ctx, &method)?;
    let t = &ctx.store.alipay.trades[i];
    Ok(sorted(BTreeMap::from([
        ("out_trade_no", t.out_trade_no.clone().into()),
        ("trade_no", t.trade_no.clone().into()),
        ("total_amount", yuan(t.total).into()),
        ("subject", t.subject.clone().into()),
    ])))
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The HTML a browser sees for page.pay / wap.pay: the sandbox cashier, or the error.
pub fn cashier_page(method: &str, outcome: &GwResult<Map<String, Value>>) -> String {
    let text = |m: &Map<String, Value>, k: &str| {
        html_escape(m.get(k).and_then(Value::as_str).unwrap_or_default())
    };
    let main = match outcome {
        Ok(m) => format!(
            "<h1>支付宝沙箱收银台</h1><p>订单：<span id=\"out_trade_no\">{}</span></p>\
             <p>交易号：<span id=\"trade_no\">{}</span></p><p>商品：{}</p>\
             <p>金额：<span id=\"total_amount\">{}</span> 元</p>\
             <form method=\"post\" action=\"/_sandbox/alipay/trades/{}/pay\"><button>确认付款（沙箱）</button></form>",
            text(m, "out_trade_no"),
            text(m, "trade_no"),
            text(m, "subject"),
            text(m, "total_amount"),
            text(m, "out_trade_no"),
        ),
        Err(e) => format!(
            "<h1>支付宝沙箱：请求出错</h1><p>错误代码：<span id=\"sub_code\">{}</span></p>\
             <p id=\"sub_msg\">{}</p><p>code {} {}</p>",
            html_escape(&e.sub_code),
            html_escape(&e.sub_msg),
            e.code,
            e.msg
        ),
    };
    format!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{}</title></head><body>{main}</body></html>",
        html_escape(method)
    )
}
