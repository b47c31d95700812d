//! Ping++ protocol: turn validated arguments into the exact request bytes, sign them, and read the
//! answer (objects, lists, `{"error":{…}}`) into results and errors a model can act on; verify
//! webhooks.
//!
//! Everything here is pure; the clock and the network live in [`super::Gateways`].

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Map, Value, json};

use super::http::HttpResponse;
use super::wire::insert_nested;
use super::{Environment, ListPage, Outgoing, Protocol, Request, spec_bug};
use crate::config::PingppConfig;
use crate::error::{ErrorKind, ToolError, Upstream};
use crate::signing::pingpp as sig;
use crate::tool::{Check, HttpMethod, LocalOp, Location, Operation, Pagination, ToolDef};

/// Characters left as they are in path segments and query components (RFC 3986 unreserved).
const COMPONENT: &AsciiSet = super::wire::UNRESERVED;
/// Path segments also encode `.`, so no argument can become a `..` segment.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'~');

impl Protocol for PingppConfig {
    fn request(
        &self,
        tool: &ToolDef,
        args: &Map<String, Value>,
        now_unix: i64,
    ) -> Result<Outgoing, ToolError> {
        let prepared = build_request(tool, args)?;
        let headers = headers(self, &prepared, now_unix.max(0) as u64);
        Ok(Outgoing::Send(Request {
            method: prepared.method,
            url: format!("{}{}", self.api_base, prepared.target),
            headers,
            body: prepared.body,
        }))
    }

    fn interpret(&self, tool: &ToolDef, response: &HttpResponse) -> Result<Value, ToolError> {
        interpret(tool, response.status, &response.body)
    }

    fn check(&self, tool: &ToolDef, check: Check) -> Result<(), ToolError> {
        Err(spec_bug(tool, &format!("Ping++ has no check {check:?}")))
    }

    fn local(&self, op: LocalOp, args: &Map<String, Value>) -> Result<Value, ToolError> {
        let text = |name: &str| args.get(name).and_then(Value::as_str).unwrap_or_default();
        match op {
            LocalOp::PingppVerifyWebhook => verify_webhook(self, text("body"), text("signature")),
            other => Err(ToolError::new(
                ErrorKind::Configuration,
                format!("{other:?} is not a Ping++ operation"),
                "Report this bug.",
            )),
        }
    }

    fn environment(&self) -> Environment {
        if self.is_live() {
            Environment {
                name: "live",
                live: true,
            }
        } else {
            Environment {
                name: "test",
                live: false,
            }
        }
    }

    fn secrets(&self) -> Vec<&str> {
        vec![self.api_key.expose()]
    }

    /// Cursor lists: `{"data": [...], "has_more": bool}`; the next page starts after the last id.
    fn list_page<'v>(
        &self,
        tool: &ToolDef,
        result: &'v Value,
        page: usize,
    ) -> Option<ListPage<'v>> {
        let items = result.get("data")?.as_array()?;
        let more = result.get("has_more").and_then(Value::as_bool) == Some(true);
        let next = match (more, tool.pagination) {
            (false, _) => None,
            (true, Pagination::Cursor) => {
                let last = items.last()?.get("id")?.as_str()?;
                Some(Map::from_iter([("starting_after".into(), json!(last))]))
            }
            (true, Pagination::Page) => Some(Map::from_iter([("page".into(), json!(page + 1))])),
            (true, Pagination::None) => return None,
        };
        Some(ListPage { items, next })
    }
}

/// Checks an `X-Pingplusplus-Signature` value over the raw webhook body with the configured Ping++
/// public key. A body that fails verification is not parsed: none of its data is passed on.
pub fn verify_webhook(
    config: &PingppConfig,
    body: &str,
    signature: &str,
) -> Result<Value, ToolError> {
    let Some(key) = config.public_key.as_ref() else {
        return Err(ToolError::new(
            ErrorKind::Configuration,
            "no Ping++ public key is configured (PINGPP_PUBLIC_KEY or PINGPP_PUBLIC_KEY_PATH)",
            "Ask the operator to configure the Ping++ public key from the dashboard.",
        ));
    };
    let valid = sig::verify_webhook(key, body.as_bytes(), signature);
    let event: Option<Value> = if valid {
        serde_json::from_str(body).ok()
    } else {
        None
    };
    let field = |k: &str| {
        event
            .as_ref()
            .and_then(|e| e.get(k))
            .cloned()
            .unwrap_or(Value::Null)
    };
    Ok(json!({ "valid": valid, "event_id": field("id"), "event_type": field("type") }))
}

/// A request ready to send: the bytes here are the bytes signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreparedRequest {
    pub method: HttpMethod,
    /// Path plus `?query` when there is a query, exactly as it goes on the wire.
    pub target: String,
    /// JSON body for POST/PUT; `None` for GET/DELETE.
    pub body: Option<Vec<u8>>,
}

/// Builds method, request target and body from a tool's spec and validated arguments.
pub fn build_request(
    tool: &ToolDef,
    args: &Map<String, Value>,
) -> Result<PreparedRequest, ToolError> {
    let Operation::Rest { method, path } = tool.operation else {
        return Err(ToolError::new(
            ErrorKind::Configuration,
            format!("{} is not a REST tool", tool.name),
            "Report this bug.",
        ));
    };
    let mut target = String::with_capacity(path.len() + 32);
    let mut rest = path;
    while let Some(open) = rest.find('{') {
        let close = rest[open..]
            .find('}')
            .map(|c| open + c)
            .ok_or_else(|| spec_bug(tool, "unclosed path placeholder"))?;
        target.push_str(&rest[..open]);
        let name = &rest[open + 1..close];
        let value = args
            .get(name)
            .and_then(scalar_text)
            .ok_or_else(|| ToolError::invalid(name, "is required"))?;
        if value.is_empty() {
            return Err(ToolError::invalid(name, "must not be empty"));
        }
        target.extend(utf8_percent_encode(&value, SEGMENT));
        rest = &rest[close + 1..];
    }
    target.push_str(rest);

    let mut query = Vec::new();
    let mut body = Map::new();
    for param in tool.params {
        let Some(value) = args.get(param.name) else {
            continue;
        };
        match param.location {
            Location::Query => encode_query(&bracket_name(param.wire), value, &mut query),
            Location::Body => insert_nested(&mut body, param.wire, value.clone()),
            Location::Path | Location::Local => {}
            Location::BizContent | Location::Common => {
                return Err(spec_bug(tool, "Alipay location on a Ping++ tool"));
            }
        }
    }
    if !query.is_empty() {
        target.push('?');
        target.push_str(&query.join("&"));
    }
    let body = match method {
        HttpMethod::Post | HttpMethod::Put => Some(
            serde_json::to_vec(&Value::Object(body)).map_err(|e| spec_bug(tool, &e.to_string()))?,
        ),
        HttpMethod::Get | HttpMethod::Delete => None,
    };
    Ok(PreparedRequest {
        method,
        target,
        body,
    })
}

fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// `app.id` → `app[id]`.
fn bracket_name(wire: &str) -> String {
    let mut parts = wire.split('.');
    let mut out = parts.next().unwrap_or_default().to_string();
    for p in parts {
        out.push('[');
        out.push_str(p);
        out.push(']');
    }
    out
}

/// Bracket notation, brackets percent-encoded as most SDKs send them: `created%5Bgt%5D=1`, `expand%5B%5D=app`.
fn encode_query(name: &str, value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                encode_query(&format!("{name}[{k}]"), v, out);
            }
        }
        Value::Array(items) => {
            for item in items {
                encode_query(&format!("{name}[]"), item, out);
            }
        }
        Value::Null => {}
        other => {
            let text = scalar_text(other).unwrap_or_default();
            out.push(format!(
                "{}={}",
                utf8_percent_encode(name, COMPONENT),
                utf8_percent_encode(&text, COMPONENT)
            ));
        }
    }
}

/// Headers for one request: auth, content type and, with a merchant key, the signature over the
/// exact body and target at `timestamp` (Unix seconds).
pub fn headers(
    config: &PingppConfig,
    request: &PreparedRequest,
    timestamp: u64,
) -> Vec<(&'static str, String)> {
    let mut out = vec![
        (
            "Authorization",
            format!("Bearer {}", config.api_key.expose()),
        ),
        ("Accept", "application/json".to_string()),
        (
            "User-Agent",
            concat!("zhifu-mcp/", env!("CARGO_PKG_VERSION")).to_string(),
        ),
    ];
    if request.body.is_some() {
        out.push((
            "Content-Type",
            "application/json; charset=UTF-8".to_string(),
        ));
    }
    if let Some(key) = &config.private_key {
        let body = request.body.as_deref().unwrap_or_default();
        out.push((sig::TIMESTAMP_HEADER, timestamp.to_string()));
        out.push((
            sig::SIGNATURE_HEADER,
            sig::sign_request(key, body, &request.target, timestamp),
        ));
    }
    out
}

/// Reads a Ping++ answer. Lists gain `next_cursor` (the id to pass as `starting_after`).
pub fn interpret(tool: &ToolDef, status: u16, body: &[u8]) -> Result<Value, ToolError> {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    if (200..300).contains(&status) {
        let Some(Value::Object(mut object)) = parsed else {
            return Err(unreadable(tool, status));
        };
        if tool.pagination == Pagination::Cursor {
            let has_more = object
                .get("has_more")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            let last_id = object
                .get("data")
                .and_then(Value::as_array)
                .and_then(|d| d.last())
                .and_then(|o| o.get("id"))
                .cloned();
            object.insert(
                "next_cursor".into(),
                if has_more {
                    last_id.unwrap_or(Value::Null)
                } else {
                    Value::Null
                },
            );
        }
        return Ok(Value::Object(object));
    }
    let error = parsed
        .as_ref()
        .and_then(|v| v.get("error"))
        .and_then(Value::as_object);
    let Some(error) = error else {
        return Err(upstream_error(
            tool,
            status,
            Upstream {
                provider: "pingpp",
                http_status: Some(status),
                ..Default::default()
            },
        ));
    };
    let text = |k: &str| error.get(k).and_then(Value::as_str).map(str::to_string);
    let upstream = Upstream {
        provider: "pingpp",
        http_status: Some(status),
        error_type: text("type"),
        code: text("code"),
        sub_code: None,
        param: text("param"),
        message: text("message"),
        // A well-formed Ping++ error object from the configured endpoint (TLS): authentic.
        verified: true,
    };
    Err(upstream_error(tool, status, upstream))
}

fn unreadable(tool: &ToolDef, status: u16) -> ToolError {
    super::unreadable(tool, "Ping++", status, "not a JSON object")
}

/// A Ping++ error answer: the message and field as Ping++ gave them, outcome, retry safety and
/// next step from the error catalogue (`errors:` in spec/pingpp/provider.yaml).
fn upstream_error(tool: &ToolDef, status: u16, upstream: Upstream) -> ToolError {
    let message = upstream
        .message
        .clone()
        .unwrap_or_else(|| format!("HTTP {status}"));
    let param = upstream.param.clone();
    let mut err = super::catalogue::tool_error(
        tool,
        upstream,
        format!("Ping++ error (HTTP {status}): {message}"),
    );
    err.field = param;
    err
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tool::*;

    static PARAMS: &[Param] = &[
        Param::new("charge_id", Location::Path, Kind::String),
        Param {
            wire: "app.id",
            required: false,
            ..Param::new("app", Location::Query, Kind::String)
        },
        Param {
            required: false,
            ..Param::new("created", Location::Query, Kind::Object)
        },
        Param {
            required: false,
            ..Param::new("expand", Location::Query, Kind::Array)
        },
        Param {
            required: false,
            ..Param::new("limit", Location::Query, Kind::Integer)
        },
    ];
    static LIST: ToolDef = ToolDef {
        name: "list_refunds",
        provider: Provider::Pingpp,
        effect: Effect::Read,
        idempotent: true,
        operation: Operation::Rest {
            method: HttpMethod::Get,
            path: "/v1/charges/{charge_id}/refunds",
        },
        params: PARAMS,
        pagination: Pagination::Cursor,
        ..ToolDef::BLANK
    };
    static BODY_PARAMS: &[Param] = &[
        Param::new("order_no", Location::Body, Kind::String),
        Param {
            wire: "app.id",
            ..Param::new("app", Location::Body, Kind::String)
        },
        Param::new("amount", Location::Body, Kind::AmountFen),
    ];
    static CREATE: ToolDef = ToolDef {
        name: "create_charge",
        provider: Provider::Pingpp,
        effect: Effect::MovesMoney,
        idempotent: true,
        operation: Operation::Rest {
            method: HttpMethod::Post,
            path: "/v1/charges",
        },
        params: BODY_PARAMS,
        merchant_reference: Some("order_no"),
        amount_param: Some("amount"),
        query_tool: Some("retrieve_charge"),
        ..ToolDef::BLANK
    };

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn query_uses_bracket_notation_in_spec_order() {
        let req = build_request(
            &LIST,
            &obj(serde_json::json!({"limit": 3, "charge_id": "ch_1/..", "expand": ["app"], "created": {"gte": 10}, "app": "app_1"})),
        )
        .unwrap();
        assert_eq!(
            req.target,
            "/v1/charges/ch_1%2F%2E%2E/refunds?app%5Bid%5D=app_1&created%5Bgte%5D=10&expand%5B%5D=app&limit=3"
        );
        assert!(req.body.is_none());
    }

    #[test]
    fn body_nests_dotted_wire_names() {
        let req = build_request(
            &CREATE,
            &obj(serde_json::json!({"order_no": "A1", "app": "app_1", "amount": 100})),
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(req.body.unwrap()).unwrap(),
            r#"{"order_no":"A1","app":{"id":"app_1"},"amount":100}"#
        );
        assert_eq!(req.target, "/v1/charges");
    }

    #[test]
    fn signed_headers_cover_exact_bytes() {
        let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/vectors/pingpp/request_signing_generated/test_merchant_private_key_pkcs8.pem")).unwrap();
        let cfg = PingppConfig {
            api_key: crate::config::Secret::new("sk_test_k"),
            app_id: None,
            private_key: Some(crate::keys::private_key_from_text(&text, "test").unwrap()),
            public_key: None,
            api_base: String::new(),
        };
        let req = PreparedRequest {
            method: HttpMethod::Get,
            target: "/v1/charges/ch_L8qn10mLmr1GS8e5OODmHaL4".into(),
            body: None,
        };
        let h = headers(&cfg, &req, 1_700_000_000);
        let sig = &h
            .iter()
            .find(|(k, _)| *k == sig::SIGNATURE_HEADER)
            .unwrap()
            .1;
        // cases.json get_retrieve_charge_no_query
        assert!(
            sig.starts_with("sPr8GULmcD4dk1FUBYY4KFRJKuU4KbVgigamWnYfRy"),
            "{sig}"
        );
    }

    #[test]
    fn errors_carry_upstream_fields_and_next_step() {
        let body = br#"{"error":{"type":"invalid_request_error","message":"No such charge","param":"id"}}"#;
        let e = interpret(&LIST, 404, body).unwrap_err();
        let up = e.upstream.as_ref().unwrap();
        assert_eq!(up.error_type.as_deref(), Some("invalid_request_error"));
        assert_eq!(up.message.as_deref(), Some("No such charge"));
        assert_eq!(e.field.as_deref(), Some("id"));
        assert!(e.message.contains("HTTP 404") && e.message.contains("No such charge"));
        // Outcome, retry safety and advice come from the spec's catalogue: tested against the
        // generated descriptors in generated/tests/catalogue.rs.
    }

    #[test]
    fn lists_gain_next_cursor() {
        let v = interpret(
            &LIST,
            200,
            br#"{"object":"list","has_more":true,"data":[{"id":"re_1"},{"id":"re_2"}]}"#,
        )
        .unwrap();
        assert_eq!(v["next_cursor"], "re_2");
        let v = interpret(
            &LIST,
            200,
            br#"{"object":"list","has_more":false,"data":[{"id":"re_1"}]}"#,
        )
        .unwrap();
        assert!(v["next_cursor"].is_null());
    }
}
