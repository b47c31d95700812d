//! Alipay gateway protocol (`gateway.do`, v2): validated arguments → signed form parameters, and a
//! signed response → a trusted result or an error a model can act on; notification checks.
//!
//! Pure: the timestamp comes in as an argument; the network lives in [`super::Gateways`]. A
//! response whose signature does not verify is never trusted: none of its data is passed on.

use serde_json::{Map, Value, json};

use super::http::HttpResponse;
use super::wire::{form_encode, insert_nested, parse_form};
use super::{Environment, ListPage, Outgoing, Protocol, Request, spec_bug};
use crate::config::{AlipayConfig, AlipayEnv};
use crate::error::{ErrorKind, Outcome, ToolError, Upstream};
use crate::signing::alipay as sig;
use crate::signing::alipay::{NotifyKind, verify_notification};
use crate::tool::{Check, Effect, HttpMethod, LocalOp, Location, Operation, ToolDef};

impl Protocol for AlipayConfig {
    fn request(
        &self,
        tool: &ToolDef,
        args: &Map<String, Value>,
        now_unix: i64,
    ) -> Result<Outgoing, ToolError> {
        let timestamp = sig::beijing_timestamp(now_unix);
        let signed = build(tool, args, self, &timestamp)?;
        if let Operation::GatewayUrl { .. } = tool.operation {
            return Ok(Outgoing::Answer(
                json!({ "url": signed.url(&self.gateway), "method": "GET" }),
            ));
        }
        Ok(Outgoing::Send(Request {
            method: HttpMethod::Post,
            url: self.gateway.clone(),
            headers: vec![(
                "Content-Type",
                "application/x-www-form-urlencoded;charset=utf-8".to_string(),
            )],
            body: Some(signed.form_body().into_bytes()),
        }))
    }

    fn interpret(&self, tool: &ToolDef, response: &HttpResponse) -> Result<Value, ToolError> {
        interpret(tool, self, response.status, &response.body)
    }

    fn check(&self, tool: &ToolDef, check: Check) -> Result<(), ToolError> {
        match check {
            Check::CertModeInProduction
                if self.env == AlipayEnv::Production && self.cert.is_none() =>
            {
                Err(ToolError::new(
                    ErrorKind::Configuration,
                    format!(
                        "{} ({}) requires public-key certificate mode on the production gateway, and this server is configured in key mode",
                        tool.name,
                        method_of(tool).unwrap_or_default()
                    ),
                    "Nothing was sent. Tell the operator to configure ALIPAY_APP_CERT_PATH, ALIPAY_CERT_PATH and ALIPAY_ROOT_CERT_PATH (certificate mode).",
                ))
            }
            Check::CertModeInProduction => Ok(()),
            other => Err(spec_bug(tool, &format!("Alipay has no check {other:?}"))),
        }
    }

    fn local(&self, op: LocalOp, args: &Map<String, Value>) -> Result<Value, ToolError> {
        match op {
            LocalOp::AlipayVerifyNotification => verify_alipay_notification(self, args),
            other => Err(ToolError::new(
                ErrorKind::Configuration,
                format!("{other:?} is not an Alipay operation"),
                "Report this bug.",
            )),
        }
    }

    fn environment(&self) -> Environment {
        match self.env {
            AlipayEnv::Production => Environment {
                name: "production",
                live: true,
            },
            AlipayEnv::Sandbox => Environment {
                name: "sandbox",
                live: false,
            },
        }
    }

    fn secrets(&self) -> Vec<&str> {
        self.app_auth_token.iter().map(|t| t.expose()).collect()
    }

    fn list_page<'v>(&self, _: &ToolDef, _: &'v Value, _: usize) -> Option<ListPage<'v>> {
        // Alipay's v2 queries answer about one object; there are no lists to page through.
        None
    }
}

/// Checks an Alipay asynchronous notification (form fields, or the raw form body) with the Alipay
/// public key. Payment notifications exclude `sign` and `sign_type` from the signed content,
/// app-gateway notifications keep `sign_type`. Unverified fields are not passed on.
pub fn verify_alipay_notification(
    alipay: &AlipayConfig,
    args: &Map<String, Value>,
) -> Result<Value, ToolError> {
    let kind_name = args
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or("payment");
    let kind = match kind_name {
        "app_gateway" => NotifyKind::AppGateway,
        _ => NotifyKind::Payment,
    };
    let fields: Vec<(String, String)> =
        match (args.get("params"), args.get("body").and_then(Value::as_str)) {
            (Some(Value::Object(map)), _) => map
                .iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        v.as_str().map_or_else(|| v.to_string(), str::to_string),
                    )
                })
                .collect(),
            (_, Some(body)) => parse_form(body).map_err(|why| ToolError::invalid("body", why))?,
            _ => {
                return Err(ToolError::invalid(
                    "params",
                    "pass the notification's form fields as `params`, or its raw body as `body`",
                ));
            }
        };
    let valid = verify_notification(
        &alipay.alipay_public_key,
        fields.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        kind,
    );
    let field = |name: &str| -> Value {
        if !valid {
            return Value::Null;
        }
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map_or(Value::Null, |(_, v)| Value::String(v.clone()))
    };
    Ok(json!({
        "valid": valid,
        "kind": kind_name,
        "notify_type": field("notify_type"),
        "out_trade_no": field("out_trade_no"),
        "trade_no": field("trade_no"),
        "trade_status": field("trade_status"),
        "total_amount": field("total_amount"),
    }))
}

/// The common parameters and business content of one request, signed; `sign` is the last entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedParams {
    pub method: &'static str,
    pub params: Vec<(String, String)>,
}

impl SignedParams {
    /// `application/x-www-form-urlencoded` body carrying every parameter (the gateway merges query
    /// and body, so one place is enough).
    pub fn form_body(&self) -> String {
        let mut out = String::new();
        for (i, (k, v)) in self.params.iter().enumerate() {
            if i > 0 {
                out.push('&');
            }
            out.push_str(&form_encode(k));
            out.push('=');
            out.push_str(&form_encode(v));
        }
        out
    }

    /// The signed `gateway.do?…` link for page-jump methods.
    pub fn url(&self, gateway: &str) -> String {
        let sign = self
            .params
            .iter()
            .find(|(k, _)| k == "sign")
            .map(|(_, v)| v.as_str())
            .unwrap_or_default();
        let unsigned = self
            .params
            .iter()
            .filter(|(k, _)| k != "sign")
            .map(|(k, v)| (k.as_str(), v.as_str()));
        format!("{gateway}?{}", sig::signed_query(unsigned, sign))
    }
}

/// The gateway method of a tool.
pub fn method_of(tool: &ToolDef) -> Option<&'static str> {
    match tool.operation {
        Operation::Gateway { method } | Operation::GatewayUrl { method } => Some(method),
        _ => None,
    }
}

/// Builds and signs the parameters: app_id, method, format, charset, sign_type, timestamp, version,
/// the certificate serial numbers in certificate mode, the tool's `common` arguments and the
/// `biz_content` JSON (serialized once: the bytes signed are the bytes sent).
pub fn build(
    tool: &ToolDef,
    args: &Map<String, Value>,
    cfg: &AlipayConfig,
    timestamp: &str,
) -> Result<SignedParams, ToolError> {
    let method = method_of(tool).ok_or_else(|| spec_bug(tool, "not an Alipay gateway tool"))?;
    let mut params: Vec<(String, String)> = vec![
        ("app_id".into(), cfg.app_id.clone()),
        ("method".into(), method.into()),
        ("format".into(), "JSON".into()),
        ("charset".into(), "utf-8".into()),
        ("sign_type".into(), "RSA2".into()),
        ("timestamp".into(), timestamp.into()),
        ("version".into(), "1.0".into()),
    ];
    if let Some(token) = &cfg.app_auth_token {
        params.push(("app_auth_token".into(), token.expose().to_string()));
    }
    if let Some(cert) = &cfg.cert {
        params.push(("app_cert_sn".into(), cert.app_cert_sn.clone()));
        params.push(("alipay_root_cert_sn".into(), cert.root_cert_sn.clone()));
    }
    let mut biz = Map::new();
    for param in tool.params {
        let Some(value) = args.get(param.name) else {
            continue;
        };
        match param.location {
            Location::Common => {
                let text = match value {
                    Value::String(s) => s.clone(),
                    Value::Null => continue,
                    other => other.to_string(),
                };
                if !text.is_empty() {
                    params.push((param.wire.to_string(), text));
                }
            }
            Location::BizContent => insert_nested(&mut biz, param.wire, value.clone()),
            Location::Local => {}
            Location::Path | Location::Query | Location::Body => {
                return Err(spec_bug(tool, "REST location on an Alipay tool"));
            }
        }
    }
    if !biz.is_empty() {
        let json = serde_json::to_string(&Value::Object(biz))
            .map_err(|e| spec_bug(tool, &e.to_string()))?;
        params.push(("biz_content".into(), json));
    }
    let signature = sig::sign_params(
        &cfg.private_key,
        params.iter().map(|(k, v)| (k.as_str(), v.as_str())),
    );
    params.push(("sign".into(), signature));
    Ok(SignedParams { method, params })
}

/// Reads a gateway answer: verifies the signature over the raw root object, then maps `code`.
pub fn interpret(
    tool: &ToolDef,
    cfg: &AlipayConfig,
    status: u16,
    body: &[u8],
) -> Result<Value, ToolError> {
    let method = method_of(tool).unwrap_or_default();
    let Ok(text) = std::str::from_utf8(body) else {
        return Err(unreadable(tool, status, "the body is not UTF-8"));
    };
    let signed = match sig::extract_signed_response(text, method) {
        Ok(s) => s,
        Err(e) => return Err(unreadable(tool, status, &e.to_string())),
    };
    let content: Map<String, Value> = match serde_json::from_str(signed.content) {
        Ok(Value::Object(m)) => m,
        _ => {
            return Err(unreadable(
                tool,
                status,
                "the response object is not a JSON object",
            ));
        }
    };
    let code = content
        .get("code")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    match &signed.sign {
        Some(_) => {
            if let Some(cert) = &cfg.cert
                && signed.alipay_cert_sn.as_deref() != Some(cert.alipay_cert_sn.as_str())
            {
                return Err(untrusted(
                    tool,
                    "the response's alipay_cert_sn does not match the configured Alipay certificate (it may have been rotated)",
                ));
            }
            if !sig::verify_response(&cfg.alipay_public_key, &signed) {
                return Err(untrusted(tool, "response signature invalid"));
            }
        }
        // Unsigned bodies are only ever errors (gateway-level rejections); a success must be signed.
        None if code == "10000" || code.is_empty() => {
            return Err(untrusted(tool, "response signature missing"));
        }
        None => {}
    }
    if code == "10000" {
        return Ok(Value::Object(content));
    }
    // Reached with a verified signature, or unsigned (a gateway-level rejection, which the
    // gateway does not sign): such an answer may explain a failure, never justify a resend.
    let verified = signed.sign.is_some();
    let text_of = |k: &str| content.get(k).and_then(Value::as_str).map(str::to_string);
    let upstream = Upstream {
        provider: "alipay",
        http_status: Some(status),
        error_type: None,
        code: Some(code.clone()),
        sub_code: text_of("sub_code"),
        param: None,
        message: match (text_of("msg"), text_of("sub_msg")) {
            (Some(m), Some(s)) => Some(format!("{m}: {s}")),
            (m, s) => s.or(m),
        },
        verified,
    };
    Err(upstream_error(tool, upstream))
}

fn unreadable(tool: &ToolDef, status: u16, why: &str) -> ToolError {
    super::unreadable(tool, "Alipay", status, why)
}

fn untrusted(tool: &ToolDef, why: &str) -> ToolError {
    let writes = tool.effect != Effect::Read;
    let mut err = ToolError::new(
        ErrorKind::UntrustedResponse,
        format!("{why}: the answer was discarded and none of its data is used"),
        if writes {
            format!(
                "Do not assume the operation failed or succeeded. {} Tell the operator to check ALIPAY_PUBLIC_KEY / the Alipay certificate.",
                crate::error::next_after_unknown(tool)
            )
        } else {
            "Tell the operator: the configured Alipay public key (or certificate) does not match the gateway's signing key.".to_string()
        },
    );
    if writes {
        err.outcome = Some(Outcome::Unknown);
    }
    err
}

/// An Alipay error answer: outcome, retry safety and next step from the error catalogue
/// (`errors:` in spec/alipay/provider.yaml).
fn upstream_error(tool: &ToolDef, upstream: Upstream) -> ToolError {
    let code = upstream.code.clone().unwrap_or_default();
    let sub = upstream
        .sub_code
        .as_deref()
        .map(|s| format!(" {s}"))
        .unwrap_or_default();
    let message = format!(
        "Alipay error {code}{sub}: {}",
        upstream.message.clone().unwrap_or_default()
    );
    super::catalogue::tool_error(tool, upstream, message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tool::*;

    static PARAMS: &[Param] = &[
        Param::new("out_trade_no", Location::BizContent, Kind::String),
        Param {
            wire: "payee_info.identity",
            required: false,
            ..Param::new("payee", Location::BizContent, Kind::String)
        },
        Param {
            required: false,
            secret: true,
            ..Param::new("auth_token", Location::Common, Kind::String)
        },
    ];
    static TOOL: ToolDef = ToolDef {
        name: "query_trade",
        provider: Provider::Alipay,
        effect: Effect::Read,
        idempotent: true,
        operation: Operation::Gateway {
            method: "alipay.trade.query",
        },
        params: PARAMS,
        ..ToolDef::BLANK
    };

    fn vector(rel: &str) -> String {
        std::fs::read_to_string(
            concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/vectors/alipay/").to_string() + rel,
        )
        .unwrap()
    }

    #[test]
    fn builds_signed_params_with_biz_content_common_and_app_auth_token() {
        let cfg = AlipayConfig {
            app_id: "2021000122671080".into(),
            private_key: crate::keys::private_key_from_text(
                &vector("keys/app-private-key.pem"),
                "t",
            )
            .unwrap(),
            alipay_public_key: crate::keys::public_key_from_text(
                &vector("keys/alipay-public-key.pem"),
                "t",
            )
            .unwrap(),
            cert: None,
            gateway: "https://openapi.alipay.com/gateway.do".into(),
            env: AlipayEnv::Sandbox,
            notify_url: None,
            return_url: None,
            app_auth_token: Some(crate::config::Secret::new("ISV_TOKEN_1")),
        };
        let args: Map<String, Value> =
            serde_json::from_str(r#"{"out_trade_no":"T1","payee":"2088","auth_token":"U1"}"#)
                .unwrap();
        let signed = build(&TOOL, &args, &cfg, "2024-01-01 12:00:00").unwrap();
        let get = |k: &str| {
            signed
                .params
                .iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.clone())
        };
        assert_eq!(
            get("biz_content").as_deref(),
            Some(r#"{"out_trade_no":"T1","payee_info":{"identity":"2088"}}"#)
        );
        assert_eq!(get("auth_token").as_deref(), Some("U1"));
        assert_eq!(get("app_auth_token").as_deref(), Some("ISV_TOKEN_1"));
        assert_eq!(get("timestamp").as_deref(), Some("2024-01-01 12:00:00"));
        let public =
            crate::keys::public_key_from_text(&vector("keys/app-public-key.pem"), "t").unwrap();
        let sign = get("sign").unwrap();
        assert!(sig::verify_params(
            &public,
            signed.params.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            &sign
        ));
        let body = signed.form_body();
        assert!(
            body.contains("app_auth_token=ISV_TOKEN_1") && body.contains("&sign="),
            "{body}"
        );
    }
}
