//! Test harness: a sandbox gateway in this process, the real `zhifu-mcp` binary as a child process,
//! and rmcp's client talking to it over stdio.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Stdio;

use rmcp::model::{CallToolRequestParams, CallToolResult, Tool};
use rmcp::service::RunningService;
use rmcp::transport::TokioChildProcess;
use rmcp::{RoleClient, ServiceExt};
use serde_json::{Map, Value, json};

pub struct Harness {
    pub sandbox: zhifu_sandbox::Sandbox,
    pub client: RunningService<RoleClient, ()>,
    pub dir: PathBuf,
    http: reqwest::Client,
}

/// A fresh temp folder for key files.
pub fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "zhifu-test-{tag}-{}-{}",
        std::process::id(),
        rand_suffix()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn rand_suffix() -> u64 {
    use std::time::{SystemTime, UNIX_EPOCH};
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        % 1_000_000_007
}

/// The binary with a clean environment (no provider settings leak in from the developer's shell).
pub fn command() -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_zhifu-mcp"));
    for (k, _) in std::env::vars() {
        if k.starts_with("PINGPP_")
            || k.starts_with("ALIPAY_")
            || k.starts_with("AP_")
            || k.starts_with("ZHIFU_")
        {
            cmd.env_remove(k);
        }
    }
    cmd.env("RUST_LOG", "warn");
    cmd
}

impl Harness {
    /// Sandbox + server configured with its credentials (request signing on).
    pub async fn start(extra_env: &[(&str, &str)]) -> Harness {
        let sandbox = zhifu_sandbox::start(
            "127.0.0.1:0".parse().unwrap(),
            zhifu_sandbox::SandboxOptions::default(),
        )
        .await
        .expect("sandbox starts");
        let dir = temp_dir("h");
        let private = dir.join("merchant.pem");
        let public = dir.join("pingpp_public.pem");
        std::fs::write(&private, &sandbox.pingpp.merchant_private_key_pem).unwrap();
        std::fs::write(&public, &sandbox.pingpp.pingpp_public_key_pem).unwrap();
        let mut cmd = command();
        cmd.arg("serve")
            .env("PINGPP_API_BASE", &sandbox.base_url)
            .env("PINGPP_API_KEY", &sandbox.pingpp.api_key)
            .env("PINGPP_APP_ID", &sandbox.pingpp.app_id)
            .env("PINGPP_PRIVATE_KEY_PATH", &private)
            .env("PINGPP_PUBLIC_KEY_PATH", &public);
        for (k, v) in extra_env {
            cmd.env(k, v);
        }
        let (transport, _stderr) = TokioChildProcess::builder(cmd)
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn zhifu-mcp");
        let client = ().serve(transport).await.expect("MCP initialize");
        Harness {
            sandbox,
            client,
            dir,
            http: reqwest::Client::new(),
        }
    }

    pub async fn tools(&self) -> Vec<Tool> {
        self.client.list_all_tools().await.expect("tools/list")
    }

    /// Calls a tool; protocol errors panic, tool errors come back as `isError` results.
    pub async fn call(&self, name: &str, args: Value) -> CallToolResult {
        let Value::Object(args) = args else {
            panic!("args must be an object")
        };
        self.client
            .call_tool(CallToolRequestParams::new(name.to_string()).with_arguments(args))
            .await
            .unwrap_or_else(|e| panic!("tools/call {name}: {e}"))
    }

    /// Calls a tool that must succeed; returns its structured content.
    pub async fn ok(&self, name: &str, args: Value) -> Value {
        let result = self.call(name, args.clone()).await;
        assert_ne!(
            result.is_error,
            Some(true),
            "{name}({args}) failed: {:?}",
            result.structured_content
        );
        result
            .structured_content
            .unwrap_or_else(|| panic!("{name}: no structuredContent"))
    }

    /// Calls a tool that must fail; returns the `error` object of its structured content.
    pub async fn err(&self, name: &str, args: Value) -> Value {
        let result = self.call(name, args.clone()).await;
        assert_eq!(
            result.is_error,
            Some(true),
            "{name}({args}) should fail: {:?}",
            result.structured_content
        );
        result.structured_content.expect("structured error")["error"].clone()
    }

    /// Number of /v1 requests the sandbox has received.
    pub async fn upstream_requests(&self) -> u64 {
        let stats: Value = self
            .http
            .get(format!("{}/_sandbox/stats", self.sandbox.base_url))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        stats["requests"].as_u64().expect("requests count")
    }

    /// Sandbox-only: the buyer pays the charge.
    pub async fn pay(&self, charge_id: &str) {
        let r = self
            .http
            .post(format!(
                "{}/_sandbox/charges/{charge_id}/pay",
                self.sandbox.base_url
            ))
            .bearer_auth(&self.sandbox.pingpp.api_key)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "pay {charge_id}: {}", r.status());
    }

    /// Sandbox-only: the signed webhook delivery of an event.
    pub async fn webhook(&self, event_id: &str) -> (String, String) {
        let v: Value = self
            .http
            .get(format!(
                "{}/_sandbox/events/{event_id}/webhook",
                self.sandbox.base_url
            ))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        (
            v["body"].as_str().unwrap().to_string(),
            v["signature"].as_str().unwrap().to_string(),
        )
    }

    /// Sandbox-only: every event, newest first.
    pub async fn events(&self) -> Vec<Value> {
        let v: Value = self
            .http
            .get(format!("{}/_sandbox/events", self.sandbox.base_url))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        match v {
            Value::Array(a) => a,
            other => other["data"].as_array().cloned().unwrap_or_default(),
        }
    }

    pub async fn stop(self) {
        let _ = self.client.cancel().await;
    }
}

/// A charge request body for `create_charge`.
pub fn charge_args(order_no: &str, amount: i64) -> Value {
    json!({
        "order_no": order_no,
        "channel": "alipay",
        "amount": amount,
        "subject": "Premium plan",
        "body": "One month of the premium plan",
        "client_ip": "127.0.0.1"
    })
}

/// Checks `value` against a tool's output schema.
pub fn assert_matches_output_schema(tool: &Tool, value: &Value) {
    let schema = Value::Object(
        tool.output_schema
            .as_ref()
            .expect("output schema")
            .as_ref()
            .clone(),
    );
    let validator = jsonschema::draft202012::new(&schema).expect("output schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(value)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{}: structuredContent does not match outputSchema: {errors:?}",
        tool.name
    );
}

pub fn obj(v: Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap()
}
