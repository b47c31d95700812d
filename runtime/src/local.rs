//! Tools that run inside the server with no network (`local:` operations in the spec).

use serde_json::{Map, Value, json};

use crate::config::Config;
use crate::error::{ErrorKind, ToolError};
use crate::signing::alipay::{NotifyKind, verify_notification};
use crate::signing::pingpp as pingpp_sig;

/// Runs the local operation `op` named by a spec.
pub fn run(op: &str, args: &Map<String, Value>, config: &Config) -> Result<Value, ToolError> {
    let text = |name: &str| args.get(name).and_then(Value::as_str).unwrap_or_default();
    match op {
        "pingpp.verify_webhook" => verify_pingpp_webhook(config, text("body"), text("signature")),
        "alipay.verify_notification" => verify_alipay_notification(config, args),
        other => Err(ToolError::new(
            ErrorKind::Configuration,
            format!("unknown local operation `{other}` in the spec"),
            "Report this bug: the spec names an operation the runtime does not have.",
        )),
    }
}

/// Checks an `X-Pingplusplus-Signature` value over the raw webhook body with the configured Ping++
/// public key. A body that fails verification is not parsed: none of its data is passed on.
pub fn verify_pingpp_webhook(
    config: &Config,
    body: &str,
    signature: &str,
) -> Result<Value, ToolError> {
    let Some(key) = config.pingpp.as_ref().and_then(|p| p.public_key.as_ref()) else {
        return Err(ToolError::new(
            ErrorKind::Configuration,
            "no Ping++ public key is configured (PINGPP_PUBLIC_KEY or PINGPP_PUBLIC_KEY_PATH)",
            "Ask the operator to configure the Ping++ public key from the dashboard.",
        ));
    };
    let valid = pingpp_sig::verify_webhook(key, body.as_bytes(), signature);
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

/// Checks an Alipay asynchronous notification (form fields, or the raw form body) with the Alipay
/// public key. Payment notifications exclude `sign` and `sign_type` from the signed content,
/// app-gateway notifications keep `sign_type`. Unverified fields are not passed on.
pub fn verify_alipay_notification(
    config: &Config,
    args: &Map<String, Value>,
) -> Result<Value, ToolError> {
    let Some(alipay) = &config.alipay else {
        return Err(ToolError::new(
            ErrorKind::Configuration,
            "Alipay is not configured (ALIPAY_APP_ID and its keys)",
            "Ask the operator to configure Alipay.",
        ));
    };
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

/// Decodes an `application/x-www-form-urlencoded` body once (`+` is a space).
pub fn parse_form(body: &str) -> Result<Vec<(String, String)>, String> {
    let decode = |s: &str| -> Result<String, String> {
        let spaced = s.replace('+', " ");
        percent_encoding::percent_decode_str(&spaced)
            .decode_utf8()
            .map(|c| c.into_owned())
            .map_err(|_| "the form body is not UTF-8 after percent-decoding".to_string())
    };
    body.trim_end_matches(['\r', '\n'])
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            Ok((decode(k)?, decode(v)?))
        })
        .collect()
}
