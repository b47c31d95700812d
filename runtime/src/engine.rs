//! Runs one tool call end to end, independent of MCP: availability → validation → request →
//! gateway → result. The MCP handler and the `call` command both go through [`Engine::call`].

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value, json};
use tokio::sync::{Mutex, OnceCell};

use crate::config::Config;
use crate::error::{ErrorKind, Outcome, ToolError};
use crate::http::{Http, HttpResponse, TransportError};
use crate::money::yuan_from_fen;
use crate::tool::{Effect, HttpMethod, Operation, Provider, ToolDef};
use crate::validate::Validators;
use crate::{alipay, pingpp};

/// Produces the configuration later (the embedded sandbox starts in the background).
pub type PendingConfig = std::pin::Pin<Box<dyn Future<Output = Result<Config, String>> + Send>>;

/// The tool table plus everything needed to run its tools.
pub struct Engine {
    tools: &'static [&'static ToolDef],
    validators: Validators,
    config: OnceCell<Result<Arc<Config>, String>>,
    pending: Mutex<Option<PendingConfig>>,
    /// Settings known before the providers are: which tools are listed and callable.
    server: crate::config::ServerConfig,
    http: Http,
}

impl Engine {
    /// An engine whose configuration is ready now.
    pub fn new(tools: &'static [&'static ToolDef], config: Config) -> Result<Self, String> {
        let engine = Self::build(tools, config.server.clone(), None)?;
        let _ = engine.config.set(Ok(Arc::new(config)));
        Ok(engine)
    }

    /// An engine whose provider configuration arrives later (`server` settings apply at once).
    pub fn deferred(
        tools: &'static [&'static ToolDef],
        server: crate::config::ServerConfig,
        pending: PendingConfig,
    ) -> Result<Self, String> {
        Self::build(tools, server, Some(pending))
    }

    fn build(
        tools: &'static [&'static ToolDef],
        server: crate::config::ServerConfig,
        pending: Option<PendingConfig>,
    ) -> Result<Self, String> {
        if let Some(allow) = &server.tools {
            let unknown: Vec<&str> = allow
                .iter()
                .map(String::as_str)
                .filter(|n| !tools.iter().any(|t| t.name == *n))
                .collect();
            if !unknown.is_empty() {
                return Err(format!(
                    "ZHIFU_TOOLS names unknown tools: {}; known tools: {}",
                    unknown.join(", "),
                    tools.iter().map(|t| t.name).collect::<Vec<_>>().join(", ")
                ));
            }
        }
        Ok(Engine {
            tools,
            validators: Validators::new(tools.len()),
            config: OnceCell::new(),
            pending: Mutex::new(pending),
            server,
            http: Http::new(),
        })
    }

    /// Every tool in the table, listed or not.
    pub fn all_tools(&self) -> &'static [&'static ToolDef] {
        self.tools
    }

    /// Why a tool cannot be called in this configuration, if it cannot.
    pub fn refusal(&self, tool: &ToolDef) -> Option<ToolError> {
        if let Some(allow) = &self.server.tools
            && !allow.iter().any(|n| n == tool.name)
        {
            return Some(ToolError::new(
                ErrorKind::NotAvailable,
                format!(
                    "{} is not enabled on this server (the ZHIFU_TOOLS allowlist)",
                    tool.name
                ),
                "Use one of the tools this server lists.",
            ));
        }
        if self.server.read_only && tool.effect != Effect::Read {
            return Some(ToolError::new(
                ErrorKind::NotAvailable,
                format!(
                    "{} changes state ({}) and this server runs read-only (ZHIFU_READ_ONLY)",
                    tool.name,
                    tool.effect.as_str()
                ),
                "Only read tools are available; tell the user the operation needs a server without read-only mode.",
            ));
        }
        None
    }

    /// The tools a client sees.
    pub fn listed(&self) -> impl Iterator<Item = (usize, &'static ToolDef)> + '_ {
        self.tools
            .iter()
            .copied()
            .enumerate()
            .filter(|(_, t)| self.refusal(t).is_none())
    }

    /// The configuration, waiting for the embedded sandbox if it is still starting.
    pub async fn config(&self) -> Result<Arc<Config>, ToolError> {
        self.config
            .get_or_init(|| async {
                let pending = self.pending.lock().await.take();
                match pending {
                    Some(fut) => fut.await.map(Arc::new),
                    None => Err("no configuration was provided".to_string()),
                }
            })
            .await
            .clone()
            .map_err(|e| {
                ToolError::new(
                    ErrorKind::Configuration,
                    format!("the server could not start its gateways: {e}"),
                    "Tell the operator; see the server's stderr.",
                )
            })
    }

    /// Runs the named tool.
    pub async fn call(&self, name: &str, args: Map<String, Value>) -> Result<Value, ToolError> {
        let Some((index, tool)) = self
            .tools
            .iter()
            .copied()
            .enumerate()
            .find(|(_, t)| t.name == name)
        else {
            return Err(ToolError::new(
                ErrorKind::NotAvailable,
                format!("unknown tool `{name}`"),
                "Use one of the tools this server lists.",
            ));
        };
        if let Some(refusal) = self.refusal(tool) {
            return Err(refusal);
        }
        let config = self.config().await?;
        let args = self.validators.check(index, tool, args, &config)?;
        match tool.operation {
            Operation::Local { op } => crate::local::run(op, &args, &config),
            Operation::Rest { .. } => match tool.provider {
                Provider::Pingpp => self.call_pingpp(tool, &args, &config).await,
                Provider::Alipay => Err(not_configured(tool, "Alipay REST tools do not exist")),
            },
            Operation::Gateway { .. } | Operation::GatewayUrl { .. } => {
                self.call_alipay(tool, &args, &config).await
            }
        }
    }

    async fn call_pingpp(
        &self,
        tool: &ToolDef,
        args: &Map<String, Value>,
        config: &Config,
    ) -> Result<Value, ToolError> {
        let Some(pingpp_cfg) = &config.pingpp else {
            return Err(not_configured(
                tool,
                "Ping++ is not configured (PINGPP_API_KEY)",
            ));
        };
        let request = pingpp::build_request(tool, args)?;
        let url = format!("{}{}", pingpp_cfg.api_base, request.target);
        let headers = || pingpp::headers(pingpp_cfg, &request, unix_now());
        let response = self
            .exchange(tool, request.method, &url, headers, request.body.as_deref())
            .await?;
        pingpp::interpret(tool, response.status, &response.body)
    }

    async fn call_alipay(
        &self,
        tool: &ToolDef,
        args: &Map<String, Value>,
        config: &Config,
    ) -> Result<Value, ToolError> {
        let Some(cfg) = &config.alipay else {
            return Err(not_configured(
                tool,
                "Alipay is not configured (ALIPAY_APP_ID and its keys)",
            ));
        };
        let now = unix_now() as i64;
        let timestamp = crate::signing::alipay::beijing_timestamp(now);
        alipay::check(tool, args, cfg, &timestamp[..10])?;
        let signed = alipay::build(tool, args, cfg, &timestamp)?;
        if let Operation::GatewayUrl { .. } = tool.operation {
            return Ok(json!({ "url": signed.url(&cfg.gateway), "method": "GET" }));
        }
        let body = signed.form_body();
        let headers = || {
            vec![(
                "Content-Type",
                "application/x-www-form-urlencoded;charset=utf-8".to_string(),
            )]
        };
        let response = self
            .exchange(
                tool,
                HttpMethod::Post,
                &cfg.gateway,
                headers,
                Some(body.as_bytes()),
            )
            .await?;
        alipay::interpret(tool, cfg, response.status, &response.body)
    }

    /// Sends one request, retrying once only where a retry cannot act twice: a request that never
    /// connected, or a read. `headers` is called per attempt (Ping++ signs a fresh timestamp).
    async fn exchange(
        &self,
        tool: &ToolDef,
        method: HttpMethod,
        url: &str,
        headers: impl Fn() -> Vec<(&'static str, String)>,
        body: Option<&[u8]>,
    ) -> Result<HttpResponse, ToolError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let result = self.http.send(method, url, &headers(), body).await;
            let retry = match &result {
                // Never connected: nothing was sent, so one more try cannot do anything twice.
                Err(TransportError::NotSent) => true,
                // Reads may be repeated; writes are only repeated when they never left.
                Err(_) => tool.effect == Effect::Read,
                Ok(r) => r.status == 502 && tool.effect == Effect::Read,
            };
            if retry && attempt < 2 {
                tracing::warn!(tool = tool.name, attempt, "retrying once");
                continue;
            }
            return result.map_err(|e| transport_error(tool, e));
        }
    }
}

fn not_configured(tool: &ToolDef, what: &str) -> ToolError {
    ToolError::new(
        ErrorKind::Configuration,
        format!("{} cannot run: {what}", tool.name),
        "Tell the operator which setting is missing.",
    )
}

fn transport_error(tool: &ToolDef, err: TransportError) -> ToolError {
    let sent = err != TransportError::NotSent;
    let unknown = sent && tool.effect != Effect::Read;
    let next = if unknown {
        crate::error::next_after_unknown(tool)
    } else {
        "Retry the same call in a few seconds.".to_string()
    };
    let mut e = ToolError::new(ErrorKind::Transport, err.describe(), next).retry_safe(!unknown);
    if unknown {
        e.outcome = Some(Outcome::Unknown);
    }
    e
}

/// Seconds since the Unix epoch (the only clock read on the request path).
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A one-line human summary of a result, with amounts in yuan (`¥15.50`).
pub fn summary(tool: &ToolDef, value: &Value) -> String {
    let amount = |v: &Value| -> Option<String> {
        let fen = v.get("amount")?.as_i64()?;
        Some(format!("{} ({fen} fen)", yuan_from_fen(fen)))
    };
    match value.get("object").and_then(Value::as_str) {
        Some("list") => {
            let n = value
                .get("data")
                .and_then(Value::as_array)
                .map_or(0, Vec::len);
            let more = value
                .get("has_more")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            match value.get("next_cursor").and_then(Value::as_str) {
                Some(c) if more => format!(
                    "{}: {n} items; more remain: pass starting_after=\"{c}\" for the next page.",
                    tool.name
                ),
                _ if more => format!("{}: {n} items; more remain.", tool.name),
                _ => format!("{}: {n} items; no more.", tool.name),
            }
        }
        Some(kind) => {
            let id = value.get("id").and_then(Value::as_str).unwrap_or("?");
            let status = value
                .get("status")
                .and_then(Value::as_str)
                .map(|s| format!(", status {s}"))
                .unwrap_or_default();
            let paid = value
                .get("paid")
                .and_then(Value::as_bool)
                .map(|p| if p { ", paid" } else { ", not paid" })
                .unwrap_or_default();
            match amount(value) {
                Some(a) => format!("{}: {kind} {id}, {a}{paid}{status}.", tool.name),
                None => format!("{}: {kind} {id}{paid}{status}.", tool.name),
            }
        }
        None => {
            let mut parts = Vec::new();
            for key in [
                "out_trade_no",
                "trade_no",
                "out_request_no",
                "out_biz_no",
                "order_id",
                "trade_status",
                "status",
                "refund_status",
            ] {
                if let Some(v) = value.get(key).and_then(Value::as_str) {
                    parts.push(format!("{key} {v}"));
                }
            }
            for key in [
                "total_amount",
                "refund_amount",
                "refund_fee",
                "trans_amount",
            ] {
                if let Some(fen) = value
                    .get(key)
                    .and_then(Value::as_str)
                    .and_then(crate::money::fen_from_yuan)
                {
                    parts.push(format!("{key} {}", yuan_from_fen(fen)));
                }
            }
            if parts.is_empty() {
                format!("{}: done.", tool.name)
            } else {
                format!("{}: {}.", tool.name, parts.join(", "))
            }
        }
    }
}
