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

use super::bills::{Fetch, GeneratedDay};
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
    let line = format!("GET /_sandbox/alipay/bills/{token}");
    let fault = lock(&app.faults).take("GET /_sandbox/alipay/bills/{token}", &line);
    if let Some(crate::faults::FaultKind::Status(status)) = fault {
        return (status, "injected fault").into_response();
    }
    let (path, file_name) = {
        let store = lock(&app.store);
        match store.alipay.bills.fetch(&token, store.now()) {
            Fetch::Ok(file) => (file.path.clone(), file.file_name.clone()),
            Fetch::Expired => {
                return (
                    StatusCode::GONE,
                    "bill download link expired (valid 30 seconds)",
                )
                    .into_response();
            }
            Fetch::Unknown => return (StatusCode::NOT_FOUND, "no such bill").into_response(),
        }
    };
    let file = match tokio::fs::File::open(path.path()).await {
        Ok(f) => f,
        Err(_) => return (StatusCode::NOT_FOUND, "no such bill").into_response(),
    };
    let length = file.metadata().await.map(|m| m.len()).ok();
    // An open file outlives its path: a link dropped meanwhile does not cut the download.
    let stream = tokio_util::io::ReaderStream::with_capacity(file, 64 * 1024);
    let mut response = (StatusCode::OK, axum::body::Body::from_stream(stream)).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    if let Some(len) = length {
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    }
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{file_name}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    response
}

/// `{"date": "yyyy-MM-dd", "trades": N, "partial_refunds"?: n, "full_refunds"?: n, "seed"?: n}`:
/// generated business for a past day (its trade bill then has these rows).
async fn generate_day(State(app): State<Arc<App>>, raw: Bytes) -> Response {
    let parsed = Body::parse(&raw).and_then(|b| {
        b.allow_only(&["date", "trades", "partial_refunds", "full_refunds", "seed"])?;
        let date = b.req_str("date", 10)?;
        let n = |k: &str| -> Result<u64, ApiError> {
            Ok(b.opt_int(k, 0, 10_000_000)?.unwrap_or(0) as u64)
        };
        let day = GeneratedDay {
            trades: n("trades")?,
            partial_refunds: n("partial_refunds")?,
            full_refunds: n("full_refunds")?,
            seed: b.opt_int("seed", 0, i64::MAX)?.unwrap_or(1) as u64,
        };
        Ok((date, day))
    });
    let (date, day) = match parsed {
        Ok(v) => v,
        Err(e) => return e.into_response(),
    };
    let mut store = lock(&app.store);
    let now = store.now();
    match store.alipay.bills.generate(&date, day, now) {
        Ok(()) => ok(json!({
            "date": date,
            "trades": day.trades,
            "partial_refunds": day.partial_refunds,
            "full_refunds": day.full_refunds,
            "seed": day.seed,
        })),
        Err(e) => conflict(e.sub_msg),
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
        .route("/_sandbox/alipay/bills/days", post(generate_day))
}
