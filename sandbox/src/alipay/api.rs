//! Sandbox-only Alipay endpoints under `/_sandbox/alipay` (no auth, loopback only): the buyer
//! pays, auth codes for fake users, the merchant balance, the transfer ledger, trades and
//! notifications for tests, and the bill downloads that bill_download_url points at.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use super::bills::Fetch;
use super::biz::{parse_yuan, yuan};
use super::ledger::Movement;
use super::trades;
use crate::App;
use crate::error::{ApiError, json_response};
use crate::params::Body;
use crate::store::lock;

fn ok(value: Value) -> Response {
    json_response(StatusCode::OK, &value)
}

fn conflict(message: String) -> Response {
    ApiError::new(StatusCode::CONFLICT, "invalid_request_error", message).into_response()
}

/// `{"buyer_id"?: "2088…"}`.
async fn pay(
    State(app): State<Arc<App>>,
    Path(out_trade_no): Path<String>,
    raw: Bytes,
) -> Response {
    let buyer_id = if raw.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        match Body::parse(&raw).and_then(|b| {
            b.allow_only(&["buyer_id"])?;
            b.opt_str("buyer_id", 16)
        }) {
            Ok(id) => id,
            Err(e) => return e.into_response(),
        }
    };
    let mut store = lock(&app.store);
    match trades::pay(&mut store, &app.alipay, &out_trade_no, buyer_id) {
        Ok(trade) => ok(trade),
        Err(message) if message.starts_with("交易不存在") => {
            ApiError::not_found("trade", &out_trade_no).into_response()
        }
        Err(message) => conflict(message),
    }
}

async fn auth_code(State(app): State<Arc<App>>) -> Response {
    ok(lock(&app.store).alipay.oauth.issue_code())
}

/// `{"balance": "123.45"}` sets the merchant balance (booked as an adjustment).
async fn set_balance(State(app): State<Arc<App>>, raw: Bytes) -> Response {
    let parsed = Body::parse(&raw).and_then(|b| {
        b.allow_only(&["balance"])?;
        let text = b.req_str("balance", 16)?;
        parse_yuan(&text).ok_or_else(|| ApiError::param("balance", "balance 应为元，如 \"123.45\""))
    });
    let target = match parsed {
        Ok(fen) => fen,
        Err(e) => return e.into_response(),
    };
    let mut store = lock(&app.store);
    let now = store.now();
    let account = &mut store.alipay.account;
    let delta = target - account.balance;
    account.post(
        now,
        delta,
        Movement {
            kind: "其他",
            biz_no: "",
            out_no: "",
            subject: "沙箱余额调整",
            counterparty: "",
            remark: "sandbox balance adjustment",
        },
    );
    ok(json!({ "balance": yuan(account.balance) }))
}

async fn balance(State(app): State<Arc<App>>) -> Response {
    let store = lock(&app.store);
    let account = &store.alipay.account;
    let entries: Vec<Value> = account.entries.iter().map(|e| e.to_json()).collect();
    ok(json!({ "balance": yuan(account.balance), "entries": entries }))
}

async fn transfers(State(app): State<Arc<App>>) -> Response {
    let store = lock(&app.store);
    let ledger: Vec<Value> = store
        .alipay
        .transfers
        .ledger()
        .map(|t| t.to_json())
        .collect();
    ok(Value::Array(ledger))
}

async fn all_trades(State(app): State<Arc<App>>) -> Response {
    let mut store = lock(&app.store);
    let now = store.now();
    trades::expire_due(&mut store.alipay, now);
    ok(Value::Array(
        store.alipay.trades.iter().map(|t| t.to_json()).collect(),
    ))
}

async fn notifications(State(app): State<Arc<App>>) -> Response {
    let store = lock(&app.store);
    ok(Value::Array(
        store
            .alipay
            .notifications
            .iter()
            .rev()
            .map(|n| n.to_json())
            .collect(),
    ))
}

async fn bill(State(app): State<Arc<App>>, Path(token): Path<String>) -> Response {
    let store = lock(&app.store);
    match store.alipay.bills.fetch(&token, store.now()) {
        Fetch::Ok(file) => {
            let mut response = (StatusCode::OK, file.bytes.clone()).into_response();
            let headers = response.headers_mut();
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            );
            if let Ok(v) =
                HeaderValue::from_str(&format!("attachment; filename=\"{}\"", file.file_name))
            {
                headers.insert(header::CONTENT_DISPOSITION, v);
            }
            response
        }
        Fetch::Expired => (
            StatusCode::GONE,
            "bill download link expired (valid 30 seconds)",
        )
            .into_response(),
        Fetch::Unknown => (StatusCode::NOT_FOUND, "no such bill").into_response(),
    }
}

pub fn router() -> Router<Arc<App>> {
    Router::new()
        .route("/_sandbox/alipay/trades/{out_trade_no}/pay", post(pay))
        .route("/_sandbox/alipay/trades", get(all_trades))
        .route("/_sandbox/alipay/oauth/codes", post(auth_code))
        .route("/_sandbox/alipay/balance", post(set_balance).get(balance))
        .route("/_sandbox/alipay/transfers", get(transfers))
        .route("/_sandbox/alipay/notifications", get(notifications))
        .route("/_sandbox/alipay/bills/{token}", get(bill))
}
