//! Test harness: a sandbox gateway in this process, the real `zhifu-mcp` binary as a child process,
//! and rmcp's client talking to it over stdio.
#![allow(dead_code)]

pub mod adversary;
pub mod backend;
pub mod elicit;

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

/// The binary with a clean environment (no provider settings leak in from the developer's shell)
/// and its state (database, audit log) in a fresh temp folder.
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
    cmd.env("ZHIFU_STATE_DIR", temp_dir("state"));
    cmd
}

/// How to start a harness.
#[derive(Default, Clone)]
pub struct Options {
    /// Run the sandbox's Alipay gateway in certificate mode and configure the server with the certificates.
    pub cert_mode: bool,
    /// Leave ALIPAY_ENV unset (production semantics) while still pointing at the sandbox gateway.
    pub alipay_production: bool,
    /// Extra environment for the server.
    pub env: Vec<(String, String)>,
}

/// A sandbox with both gateways.
pub async fn start_sandbox(options: &Options) -> zhifu_sandbox::Sandbox {
    let sandbox_options = zhifu_sandbox::SandboxOptions {
        alipay_cert_mode: options.cert_mode,
        ..Default::default()
    };
    zhifu_sandbox::start("127.0.0.1:0".parse().unwrap(), sandbox_options)
        .await
        .expect("sandbox starts")
}

/// `zhifu-mcp serve` configured for `sandbox`, with key files and state under `dir`.
pub fn server_command(
    sandbox: &zhifu_sandbox::Sandbox,
    dir: &std::path::Path,
    options: &Options,
) -> tokio::process::Command {
    configured_command(sandbox, dir, options, &["serve"])
}

/// `zhifu-mcp ARGS…` configured for `sandbox`, with key files and state under `dir`.
pub fn configured_command(
    sandbox: &zhifu_sandbox::Sandbox,
    dir: &std::path::Path,
    options: &Options,
    args: &[&str],
) -> tokio::process::Command {
    let write = |name: &str, text: &str| {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    };
    let mut cmd = command();
    cmd.args(args)
        .env("ZHIFU_STATE_DIR", dir.join("state"))
        .env("PINGPP_API_BASE", &sandbox.base_url)
        .env("PINGPP_API_KEY", &sandbox.pingpp.api_key)
        .env("PINGPP_APP_ID", &sandbox.pingpp.app_id)
        .env(
            "PINGPP_PRIVATE_KEY_PATH",
            write("merchant.pem", &sandbox.pingpp.merchant_private_key_pem),
        )
        .env(
            "PINGPP_PUBLIC_KEY_PATH",
            write("pingpp_public.pem", &sandbox.pingpp.pingpp_public_key_pem),
        )
        .env("ALIPAY_APP_ID", &sandbox.alipay.app_id)
        .env("ALIPAY_GATEWAY", &sandbox.alipay.gateway_url)
        .env(
            "ALIPAY_PRIVATE_KEY_PATH",
            write(
                "alipay_app_private.pem",
                &sandbox.alipay.app_private_key_pem,
            ),
        );
    if !options.alipay_production {
        cmd.env("ALIPAY_ENV", "sandbox");
    }
    match &sandbox.alipay.cert {
        Some(cert) if options.cert_mode => {
            cmd.env(
                "ALIPAY_APP_CERT_PATH",
                write("appCertPublicKey.crt", &cert.app_cert_pem),
            )
            .env(
                "ALIPAY_CERT_PATH",
                write("alipayCertPublicKey_RSA2.crt", &cert.alipay_cert_pem),
            )
            .env(
                "ALIPAY_ROOT_CERT_PATH",
                write("alipayRootCert.crt", &cert.alipay_root_cert_pem),
            );
        }
        _ => {
            cmd.env(
                "ALIPAY_PUBLIC_KEY_PATH",
                write("alipay_public.pem", &sandbox.alipay.alipay_public_key_pem),
            );
        }
    }
    for (k, v) in &options.env {
        cmd.env(k, v);
    }
    cmd
}

impl Harness {
    /// Sandbox + server configured with its Ping++ and Alipay credentials (request signing on).
    pub async fn start(extra_env: &[(&str, &str)]) -> Harness {
        Self::with(adversary::options(extra_env)).await
    }

    /// Sandbox + server, as `options` say.
    pub async fn with(options: Options) -> Harness {
        let sandbox = start_sandbox(&options).await;
        let dir = temp_dir("h");
        let client = Self::spawn_client(&sandbox, &dir, &options).await;
        Harness {
            sandbox,
            client,
            dir,
            http: reqwest::Client::new(),
        }
    }

    /// Starts another server process on the same sandbox and state (e.g. after a restart).
    pub async fn restart(self, options: &Options) -> Harness {
        let Harness {
            sandbox,
            client,
            dir,
            http,
        } = self;
        let _ = client.cancel().await;
        let client = Self::spawn_client(&sandbox, &dir, options).await;
        Harness {
            sandbox,
            client,
            dir,
            http,
        }
    }

    async fn spawn_client(
        sandbox: &zhifu_sandbox::Sandbox,
        dir: &std::path::Path,
        options: &Options,
    ) -> RunningService<RoleClient, ()> {
        let cmd = server_command(sandbox, dir, options);
        let (transport, _stderr) = TokioChildProcess::builder(cmd)
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn zhifu-mcp");
        ().serve(transport).await.expect("MCP initialize")
    }

    /// The audit log lines written so far.
    pub fn audit_lines(&self) -> Vec<Value> {
        self.audit_text()
            .lines()
            .map(|l| serde_json::from_str(l).expect("every audit line is JSON"))
            .collect()
    }

    /// The raw audit log text.
    pub fn audit_text(&self) -> String {
        std::fs::read_to_string(self.dir.join("state").join("audit.jsonl")).unwrap_or_default()
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
            "{name}({args}) failed: {}",
            texts(&result).join(" | ")
        );
        result
            .structured_content
            .unwrap_or_else(|| panic!("{name}: no structuredContent"))
    }

    /// Calls a tool that must fail; returns its `error` object (see [`error_of`]).
    pub async fn err(&self, name: &str, args: Value) -> Value {
        let result = self.call(name, args.clone()).await;
        assert_eq!(
            result.is_error,
            Some(true),
            "{name}({args}) should fail: {:?}",
            result.structured_content
        );
        error_of(&result)
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

    /// POSTs JSON to a sandbox-only endpoint and returns the JSON answer.
    pub async fn sandbox_post(&self, path: &str, body: Value) -> Value {
        let r = self
            .http
            .post(format!("{}{path}", self.sandbox.base_url))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "POST {path}: {}", r.status());
        r.json().await.unwrap_or(Value::Null)
    }

    /// GETs a sandbox-only endpoint.
    pub async fn sandbox_get(&self, path: &str) -> Value {
        let r = self
            .http
            .get(format!("{}{path}", self.sandbox.base_url))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "GET {path}: {}", r.status());
        r.json().await.unwrap()
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

/// Calls that must succeed, each checked against its tool's output schema, and the set of tools
/// called so far (for the every-tool checks).
pub struct Flow<'h> {
    pub h: &'h Harness,
    tools: Vec<Tool>,
    pub called: std::collections::BTreeSet<&'static str>,
}

impl<'h> Flow<'h> {
    pub async fn new(h: &'h Harness) -> Flow<'h> {
        Flow {
            tools: h.tools().await,
            h,
            called: Default::default(),
        }
    }

    /// Calls `name`, which must succeed; its result must match the tool's output schema.
    pub async fn ok(&mut self, name: &'static str, args: Value) -> Value {
        let v = self.h.ok(name, args).await;
        let tool = self
            .tools
            .iter()
            .find(|t| t.name == name)
            .unwrap_or_else(|| panic!("{name} is listed"));
        assert_matches_output_schema(tool, &v);
        self.called.insert(name);
        v
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

/// The text blocks of a result.
pub fn texts(result: &CallToolResult) -> Vec<&str> {
    result
        .content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.as_str()))
        .collect()
}

/// The `error` object of an `isError` result. Error results carry no `structuredContent` (it would
/// break the tool's `outputSchema` for clients that validate it); the error comes as a human line
/// followed by a text block holding `{"error": {...}}` as JSON. Asserts exactly that shape.
pub fn error_of(result: &CallToolResult) -> Value {
    assert_eq!(
        result.is_error,
        Some(true),
        "not an error result: {result:?}"
    );
    assert!(
        result.structured_content.is_none(),
        "an error result must not carry structuredContent: {:?}",
        result.structured_content
    );
    let texts = texts(result);
    assert_eq!(
        texts.len(),
        2,
        "a human line, then the error as JSON: {texts:?}"
    );
    let value: Value = serde_json::from_str(texts[1])
        .unwrap_or_else(|e| panic!("the second text block is not JSON ({e}): {}", texts[1]));
    let error = value.get("error").cloned().expect("an `error` member");
    assert!(
        error["kind"].is_string()
            && error["message"].is_string()
            && error["retry_safe"].is_boolean()
            && error["next_step"].is_string(),
        "kind, message, retry_safe and next_step: {error}"
    );
    error
}

/// What a call returned as data: its `structuredContent`, or `{"error": …}` for an error result.
pub fn payload(result: &CallToolResult) -> Value {
    if result.is_error == Some(true) {
        json!({ "error": error_of(result) })
    } else {
        result.structured_content.clone().unwrap_or(Value::Null)
    }
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

/// Entries of a ZIP whose names and contents are GBK (as Alipay bills are), decoded to UTF-8.
pub fn unzip_gbk(bytes: &[u8]) -> Vec<(String, String)> {
    use std::io::Read;
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).expect("a ZIP archive");
    let mut out = Vec::new();
    for i in 0..archive.len() {
        let mut file = archive.by_index(i).unwrap();
        let (name, _, bad_name) = encoding_rs::GBK.decode(file.name_raw());
        assert!(!bad_name, "entry name is GBK");
        let name = name.into_owned();
        let mut raw = Vec::new();
        file.read_to_end(&mut raw).unwrap();
        let (text, _, bad) = encoding_rs::GBK.decode(&raw);
        assert!(!bad, "{name} is GBK");
        out.push((name, text.into_owned()));
    }
    out
}

/// A merchant reference unique enough for one test run: `tag` + 13 digits of the clock.
pub fn unique(tag: &str) -> String {
    use std::time::{SystemTime, UNIX_EPOCH};
    let n = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos()
        % 10_000_000_000_000;
    format!("{tag}{n}")
}
