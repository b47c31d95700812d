//! Tools that run inside the server with no network (`local:` operations in the spec).

use serde_json::{Map, Value, json};

use crate::config::Config;
use crate::error::{ErrorKind, ToolError};
use crate::signing::pingpp as pingpp_sig;

/// Runs the local operation `op` named by a spec.
pub fn run(op: &str, args: &Map<String, Value>, config: &Config) -> Result<Value, ToolError> {
    let text = |name: &str| args.get(name).and_then(Value::as_str).unwrap_or_default();
    match op {
        "pingpp.verify_webhook" => verify_pingpp_webhook(config, text("body"), text("signature")),
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
