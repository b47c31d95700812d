//! Secret scan (issue 7 item 6) through the real binary at `RUST_LOG=trace`, `debug` and the
//! default level: a server configured with known secrets (Ping++ API key, Alipay app_auth_token,
//! private keys) runs calls that carry secrets (an OAuth code, access and refresh tokens, a bogus
//! token, an auth code under an unknown key, secret-looking metadata) and a call that the Alipay
//! gateway refuses with `isv.invalid-signature`, whose message echoes the signed string (with
//! app_auth_token) like the real gateway. No secret may appear in stderr, in any tool result, or in
//! the audit log. The only exception is the one place a secret is the product: the access and
//! refresh tokens in `get_oauth_token`'s own result.

mod common;

use common::adversary::{Captured, Outcome, call_peer, options, trade_args};
use common::{Options, server_command, start_sandbox, temp_dir, unique};
use serde_json::{Value, json};

const APP_AUTH_TOKEN: &str = "202611BB4d7c0ffee5ecretAuthTok3n9";
const UNKNOWN_KEY_AUTH_CODE: &str = "289912345678901234";
const BOGUS_TOKEN: &str = "authusrBogusSecretToken0123456789";
/// Secret-looking values under free-form keys: only the audit log is checked for these (a
/// charge's metadata comes back in its result by design).
const METADATA_SECRETS: [&str; 2] = ["cvv-739-SECRET-metadata", "sess_SECRETmetadataValue42"];

/// A secret and where it may legitimately appear.
struct Secret {
    what: String,
    value: String,
    /// Tool whose successful result may carry it.
    returned_by: Option<&'static str>,
    /// Checked only in the audit log.
    audit_only: bool,
}

fn secret(what: &str, value: &str) -> Secret {
    Secret {
        what: what.to_string(),
        value: value.to_string(),
        returned_by: None,
        audit_only: false,
    }
}

/// The base64 body lines of a PEM private key (each one is key material).
fn key_lines(pem: &str) -> Vec<String> {
    pem.lines()
        .map(str::trim)
        .filter(|l| !l.starts_with("-----") && l.len() >= 16)
        .map(str::to_string)
        .collect()
}

/// One tool call and what came back.
struct Seen {
    tool: &'static str,
    outcome: Outcome,
}

/// Runs every secret-carrying call on one server at `level` (`None`: RUST_LOG unset); returns the
/// secrets in play, the results, stderr of each server and the audit log.
async fn run(level: Option<&str>) -> (Vec<Secret>, Vec<Seen>, Vec<String>, String) {
    let sandbox = start_sandbox(&Options::default()).await;
    let dir = temp_dir("secrets");
    let configure = |extra: &[(&str, &str)]| {
        let mut env = vec![("ALIPAY_APP_AUTH_TOKEN", APP_AUTH_TOKEN)];
        env.extend_from_slice(extra);
        let mut cmd = server_command(&sandbox, &dir, &options(&env));
        match level {
            Some(l) => cmd.env("RUST_LOG", l),
            None => cmd.env_remove("RUST_LOG"),
        };
        cmd
    };
    let mut secrets = vec![
        secret("PINGPP_API_KEY", &sandbox.pingpp.api_key),
        secret("ALIPAY_APP_AUTH_TOKEN", APP_AUTH_TOKEN),
        secret("a bogus auth_token", BOGUS_TOKEN),
        secret("an auth code under an unknown key", UNKNOWN_KEY_AUTH_CODE),
    ];
    for (i, line) in key_lines(&sandbox.pingpp.merchant_private_key_pem)
        .into_iter()
        .enumerate()
    {
        secrets.push(secret(&format!("Ping++ merchant key line {i}"), &line));
    }
    for (i, line) in key_lines(&sandbox.alipay.app_private_key_pem)
        .into_iter()
        .enumerate()
    {
        secrets.push(secret(&format!("Alipay app key line {i}"), &line));
    }
    for (key, value) in ["metadata.card_cvv", "metadata.session_token"]
        .into_iter()
        .zip(METADATA_SECRETS)
    {
        secrets.push(Secret {
            audit_only: true,
            ..secret(key, value)
        });
    }

    let mut seen = Vec::new();
    let server = Captured::spawn(configure(&[])).await;
    let peer = server.client.peer().clone();
    let mut call = async |tool: &'static str, args: Value| {
        let outcome = call_peer(&peer, tool, &args).await;
        seen.push(Seen {
            tool,
            outcome: outcome.clone(),
        });
        outcome
    };
    let code = reqwest::Client::new()
        .post(format!("{}/_sandbox/alipay/oauth/codes", sandbox.base_url))
        .json(&json!({}))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap()["code"]
        .as_str()
        .expect("an auth code")
        .to_string();
    secrets.push(secret("the OAuth code", &code));
    let token = call(
        "get_oauth_token",
        json!({"grant_type": "authorization_code", "code": code}),
    )
    .await;
    let tokens = structured(&token);
    for name in ["access_token", "refresh_token"] {
        let value = tokens[name].as_str().unwrap_or_default();
        assert!(
            !value.is_empty(),
            "get_oauth_token returns {name}: {}",
            token.summary(300)
        );
        secrets.push(Secret {
            returned_by: Some("get_oauth_token"),
            ..secret(name, value)
        });
    }
    let access = tokens["access_token"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let refresh = tokens["refresh_token"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    call("query_user_info", json!({"auth_token": access})).await;
    call("query_user_info", json!({"auth_token": BOGUS_TOKEN})).await;
    let renewed = call(
        "get_oauth_token",
        json!({"grant_type": "refresh_token", "refresh_token": refresh}),
    )
    .await;
    for name in ["access_token", "refresh_token"] {
        if let Some(value) = structured(&renewed)[name].as_str() {
            secrets.push(Secret {
                returned_by: Some("get_oauth_token"),
                ..secret(&format!("renewed {name}"), value)
            });
        }
    }
    let mut with_auth_code = trade_args(&unique("SEC"));
    with_auth_code["auth_code"] = json!(UNKNOWN_KEY_AUTH_CODE);
    call("create_trade", with_auth_code).await;
    let mut charge = common::charge_args(&unique("SEC"), 100);
    charge["metadata"] =
        json!({"card_cvv": METADATA_SECRETS[0], "session_token": METADATA_SECRETS[1]});
    call("create_charge", charge).await;
    call("create_trade", trade_args(&unique("SEC"))).await;
    let mut stderr = vec![server.finish().await];

    // The wrong app private key (the Ping++ merchant key): Alipay answers isv.invalid-signature
    // and echoes the string it checked, app_auth_token included.
    let wrong_key = dir.join("wrong_alipay_app_private.pem");
    std::fs::write(&wrong_key, &sandbox.pingpp.merchant_private_key_pem).unwrap();
    let wrong_key = wrong_key.display().to_string();
    let server = Captured::spawn(configure(&[("ALIPAY_PRIVATE_KEY_PATH", &wrong_key)])).await;
    let refused = call_peer(
        server.client.peer(),
        "query_trade",
        &json!({"out_trade_no": unique("SIG")}),
    )
    .await;
    assert!(
        refused.is_tool_error() && refused.text().contains("invalid-signature"),
        "the gateway refuses the signature: {}",
        refused.summary(300)
    );
    seen.push(Seen {
        tool: "query_trade",
        outcome: refused,
    });
    stderr.push(server.finish().await);
    let audit = std::fs::read_to_string(dir.join("state").join("audit.jsonl")).unwrap_or_default();
    (secrets, seen, stderr, audit)
}

/// The structured content of a result, from its serialized form.
fn structured(outcome: &Outcome) -> Value {
    outcome
        .text()
        .lines()
        .next()
        .and_then(|l| serde_json::from_str::<Value>(l).ok())
        .map(|v| v["structuredContent"].clone())
        .unwrap_or(Value::Null)
}

/// Every place a secret shows up, as `level: where: what`.
fn leaks(
    level: &str,
    secrets: &[Secret],
    seen: &[Seen],
    stderr: &[String],
    audit: &str,
) -> Vec<String> {
    let mut found = Vec::new();
    for s in secrets {
        for (i, text) in stderr.iter().enumerate() {
            let n = text.matches(s.value.as_str()).count();
            if n > 0 && !s.audit_only {
                found.push(format!(
                    "{level}: stderr of server {}: {} ({n}×)",
                    i + 1,
                    s.what
                ));
            }
        }
        for call in seen {
            let allowed = s.returned_by == Some(call.tool) && call.outcome.is_success();
            if !s.audit_only && !allowed && call.outcome.text().contains(s.value.as_str()) {
                found.push(format!(
                    "{level}: result of {} (isError={}): {}",
                    call.tool,
                    call.outcome.is_tool_error(),
                    s.what
                ));
            }
        }
        let n = audit.matches(s.value.as_str()).count();
        if n > 0 {
            found.push(format!("{level}: audit log: {} ({n}×)", s.what));
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_stderr_results_or_the_audit_log_at_any_log_level() {
    let mut all = Vec::new();
    let mut checked = 0;
    for level in [Some("trace"), Some("debug"), None] {
        let name = level.unwrap_or("default");
        let (secrets, seen, stderr, audit) = run(level).await;
        assert!(seen.len() >= 8, "{name}: every call ran");
        assert!(!audit.is_empty(), "{name}: the audit log was written");
        if level == Some("trace") {
            assert!(
                stderr.iter().any(|e| e.lines().count() > 10),
                "trace logging produces output to scan"
            );
        }
        checked += secrets.len();
        let found = leaks(name, &secrets, &seen, &stderr, &audit);
        eprintln!(
            "{name}: {} secrets × {} results, {} stderr streams ({} bytes), audit log ({} bytes): {} leak(s)",
            secrets.len(),
            seen.len(),
            stderr.len(),
            stderr.iter().map(String::len).sum::<usize>(),
            audit.len(),
            found.len()
        );
        all.extend(found);
    }
    assert!(
        all.is_empty(),
        "{} secret leak(s) over {checked} secret checks:\n{}",
        all.len(),
        all.join("\n")
    );
}
