//! Request accounting (`/_sandbox/stats`) and fault injection (`/_sandbox/faults`) for
//! reliability tests: latency, an error status, a dropped connection or a garbled body. Both
//! cover the Ping++ `/v1` routes and the Alipay gateway (whose route name is its `method`).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::App;
use crate::error::{ApiError, ApiResult};
use crate::params::Body;
use crate::store::lock;

/// Counts of gateway requests received (Ping++ `/v1` and Alipay `/gateway.do`), rejected ones
/// included, and how many are being processed right now.
#[derive(Debug, Default)]
pub struct Stats {
    requests: u64,
    by_route: BTreeMap<String, u64>,
    in_flight: u64,
}

impl Stats {
    pub fn record(&mut self, route: &str) {
        self.requests += 1;
        *self.by_route.entry(route.to_string()).or_default() += 1;
    }

    /// Zeroes the counts; requests still being processed stay counted in `in_flight`.
    pub fn reset(&mut self) {
        self.requests = 0;
        self.by_route.clear();
    }

    pub fn json(&self) -> Value {
        json!({ "requests": self.requests, "by_route": self.by_route, "in_flight": self.in_flight })
    }
}

/// One gateway request being processed, counted in `in_flight` until dropped — also when the
/// client goes away mid-request — so a test can wait for a delayed request to land before it
/// reads the ledger. `in_flight` survives `reset-stats`.
pub struct InFlight(Arc<App>);

impl InFlight {
    pub fn enter(app: &Arc<App>) -> Self {
        lock(&app.stats).in_flight += 1;
        InFlight(app.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut stats = lock(&self.0.stats);
        stats.in_flight = stats.in_flight.saturating_sub(1);
    }
}

/// What an injected fault does.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FaultKind {
    /// Wait, then perform the operation and answer normally (also when the client gave up first).
    Latency(Duration),
    /// Answer with this status and an error body; the operation is NOT performed.
    Status(StatusCode),
    /// Perform the operation, then close the connection without answering.
    Reset,
    /// Perform the operation, then answer 200 with a body that is not JSON.
    Garbled,
}

#[derive(Debug, Clone)]
struct Fault {
    matcher: Option<String>,
    kind: FaultKind,
    remaining: u32,
}

/// Queued faults, applied in the order they were added.
#[derive(Debug, Default)]
pub struct Faults {
    queue: Vec<Fault>,
}

/// `matcher` is a prefix of `"METHOD /path"` ending at a segment boundary, tried against the
/// route template (`POST /v1/charges/{id}/refunds`) and the concrete request line.
fn matches(matcher: &str, line: &str) -> bool {
    line.strip_prefix(matcher)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/') || matcher.ends_with('/'))
}

impl Faults {
    /// Adds a fault from the `/_sandbox/faults` body
    /// `{"match"?, "kind", "latency_ms"?, "status"?, "count"?}` (count defaults to 1).
    pub fn add(&mut self, body: &Body) -> ApiResult<Value> {
        body.allow_only(&["match", "kind", "latency_ms", "status", "count"])?;
        let kind = match body.req_str("kind", 16)?.as_str() {
            "latency" => {
                FaultKind::Latency(Duration::from_millis(
                    body.req_int("latency_ms", 0, 600_000)? as u64,
                ))
            }
            "status" => {
                let code = body.opt_int("status", 400, 599)?.unwrap_or(500) as u16;
                FaultKind::Status(
                    StatusCode::from_u16(code)
                        .map_err(|_| ApiError::param("status", "无效的 HTTP 状态码"))?,
                )
            }
            "reset" => FaultKind::Reset,
            "garbled" => FaultKind::Garbled,
            other => {
                return Err(ApiError::param(
                    "kind",
                    format!("未知的 kind: {other} (可选 latency, status, reset, garbled)"),
                ));
            }
        };
        let matcher = body.opt_str("match", 200)?;
        let remaining = body.opt_int("count", 1, 1_000_000)?.unwrap_or(1) as u32;
        self.queue.push(Fault {
            matcher,
            kind,
            remaining,
        });
        Ok(self.json())
    }

    pub fn clear(&mut self) {
        self.queue.clear();
    }

    pub fn json(&self) -> Value {
        let faults: Vec<Value> = self
            .queue
            .iter()
            .map(|f| json!({ "match": f.matcher, "kind": format!("{:?}", f.kind), "remaining": f.remaining }))
            .collect();
        json!({ "faults": faults })
    }

    /// Takes one use of the first fault matching this request.
    pub fn take(&mut self, template_line: &str, concrete_line: &str) -> Option<FaultKind> {
        let index = self.queue.iter().position(|f| {
            f.matcher
                .as_deref()
                .is_none_or(|m| matches(m, template_line) || matches(m, concrete_line))
        })?;
        let fault = &mut self.queue[index];
        let kind = fault.kind;
        fault.remaining -= 1;
        if fault.remaining == 0 {
            self.queue.remove(index);
        }
        Some(kind)
    }
}

/// The answer for a `status` fault, shaped like Ping++'s errors for that status.
pub fn status_error(status: StatusCode) -> ApiError {
    let (kind, message) = match status.as_u16() {
        403 | 429 => (
            "invalid_request_error",
            "请求过于频繁，超过了并发限制 (sandbox 注入的故障)。",
        ),
        400..=499 => ("invalid_request_error", "请求失败 (sandbox 注入的故障)。"),
        _ => ("api_error", "Ping++ 服务器内部错误 (sandbox 注入的故障)。"),
    };
    ApiError::new(status, kind, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn add(faults: &mut Faults, json: &str) {
        faults.add(&Body::parse(json.as_bytes()).unwrap()).unwrap();
    }

    #[test]
    fn matching_and_counts() {
        let mut faults = Faults::default();
        add(
            &mut faults,
            r#"{"match": "POST /v1/charges", "kind": "status", "status": 502, "count": 2}"#,
        );
        assert_eq!(faults.take("GET /v1/charges", "GET /v1/charges"), None);
        assert_eq!(faults.take("POST /v1/chargesx", "POST /v1/chargesx"), None);
        let refund = faults.take(
            "POST /v1/charges/{id}/refunds",
            "POST /v1/charges/ch_1/refunds",
        );
        assert_eq!(refund, Some(FaultKind::Status(StatusCode::BAD_GATEWAY)));
        assert!(
            faults
                .take("POST /v1/charges", "POST /v1/charges")
                .is_some()
        );
        assert_eq!(faults.take("POST /v1/charges", "POST /v1/charges"), None);
    }

    #[test]
    fn alipay_methods_match_exactly() {
        let mut faults = Faults::default();
        add(
            &mut faults,
            r#"{"match": "alipay.trade.refund", "kind": "reset"}"#,
        );
        let gateway = "POST /gateway.do";
        assert_eq!(faults.take("alipay.trade.query", gateway), None);
        assert_eq!(faults.take("alipay.trade.refund.x", gateway), None);
        assert_eq!(
            faults.take("alipay.trade.refund", gateway),
            Some(FaultKind::Reset)
        );
        assert_eq!(faults.take("alipay.trade.refund", gateway), None);
    }

    #[test]
    fn bad_fault_specs_are_rejected() {
        let mut faults = Faults::default();
        for bad in [
            r#"{"kind": "explode"}"#,
            r#"{"kind": "latency"}"#,
            r#"{"kind": "status", "status": 200}"#,
        ] {
            assert!(
                faults.add(&Body::parse(bad.as_bytes()).unwrap()).is_err(),
                "{bad}"
            );
        }
    }
}
