//! Runs one tool call end to end, independent of MCP.
//!
//! [`Engine::prepare`]: availability → validation → local checks → policy (nothing sent; a refusal
//! is audited). Then the MCP layer asks the user when the policy says so. [`Engine::execute`]:
//! idempotency guard → daily limit reservation → request → gateway → result → audit record.
//! [`Engine::call`] does both for callers that cannot ask anyone (the `call` command).

use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value, json};
use tokio::sync::{Mutex, OnceCell};

use crate::audit::{AuditLog, AuditRecord, pick_upstream_ids, redact_args, rfc3339_utc_millis};
use crate::config::{AlipayEnv, Config, ServerConfig};
use crate::confirm::{self, ConfirmRequest, Confirmation, Tickets};
use crate::error::{ErrorKind, Outcome, ToolError};
use crate::http::{Http, HttpResponse, TransportError};
use crate::money::{fen_from_yuan, yuan_from_fen};
use crate::policy::{CallFacts, Decision};
use crate::store::{Claim, IdemKey, IdemState, Reservation, Store, args_digest};
use crate::tool::{Effect, HttpMethod, Kind, Operation, Provider, ToolDef};
use crate::validate::Validators;
use crate::{alipay, pingpp};

/// Produces the configuration later (the embedded sandbox starts in the background).
pub type PendingConfig = std::pin::Pin<Box<dyn Future<Output = Result<Config, String>> + Send>>;

/// Durable services: where idempotency records, spend counters and audit lines go.
pub struct Services {
    pub store: Arc<dyn Store>,
    pub audit: AuditLog,
}

impl Services {
    /// Opens the state database and the audit log where the configuration says, by default
    /// under `$XDG_STATE_HOME/zhifu-mcp` (or `~/.local/state/zhifu-mcp`). The embedded sandbox
    /// keeps idempotency records in memory unless `ZHIFU_STATE_DB` is set: its gateway is new on
    /// every start, so records from an earlier run would point at objects that no longer exist.
    pub fn open(state: &crate::config::StateConfig, sandbox: bool) -> Result<Self, String> {
        let dir = state.dir.clone().unwrap_or_else(default_state_dir);
        let store: Arc<dyn Store> = match (&state.db, sandbox) {
            (Some(path), _) => Arc::new(
                crate::store::SqliteStore::open(path)
                    .map_err(|e| format!("ZHIFU_STATE_DB {}: {e}", path.display()))?,
            ),
            (None, true) => {
                Arc::new(crate::store::SqliteStore::in_memory().map_err(|e| e.to_string())?)
            }
            (None, false) => {
                let path = dir.join("state.db");
                Arc::new(
                    crate::store::SqliteStore::open(&path)
                        .map_err(|e| format!("state database {}: {e}", path.display()))?,
                )
            }
        };
        if let Err(e) = store.prune(unix_now() as i64) {
            tracing::warn!(error = %e, "could not prune old idempotency records");
        }
        let audit = if state.audit_disabled {
            AuditLog::disabled()
        } else {
            let path = state
                .audit_log
                .clone()
                .unwrap_or_else(|| dir.join("audit.jsonl"));
            AuditLog::open(&path, state.audit_max_bytes, 5)
                .map_err(|e| format!("audit log {}: {e}", path.display()))?
        };
        Ok(Services { store, audit })
    }

    /// In-memory store and no audit log (tests, one-off tools listing).
    pub fn ephemeral() -> Self {
        Services {
            store: Arc::new(
                crate::store::SqliteStore::in_memory().expect("an in-memory SQLite database opens"),
            ),
            audit: AuditLog::disabled(),
        }
    }
}

fn default_state_dir() -> std::path::PathBuf {
    let base = std::env::var_os("XDG_STATE_HOME")
        .map(std::path::PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".local/state"))
        })
        .unwrap_or_else(std::env::temp_dir);
    base.join("zhifu-mcp")
}

/// The tool table plus everything needed to run its tools.
pub struct Engine {
    tools: &'static [&'static ToolDef],
    validators: Validators,
    config: OnceCell<Result<Arc<Config>, String>>,
    pending: Mutex<Option<PendingConfig>>,
    /// Settings known before the providers are: which tools are listed and callable, policy.
    server: ServerConfig,
    http: Http,
    services: Services,
    tickets: Tickets,
}

/// A validated call that policy allows, waiting for confirmation (if needed) and execution.
pub struct Prepared {
    pub tool: &'static ToolDef,
    args: Map<String, Value>,
    config: Arc<Config>,
    /// Digest of the validated arguments (defaults filled): binds confirmations and idempotency.
    pub digest: String,
    decision: Decision,
    record: AuditRecord,
    started: Instant,
}

/// What the idempotency guard decided.
enum Guard {
    /// No merchant reference, or a read: nothing to guard.
    None,
    /// A fresh call under this key.
    New(IdemKey),
    /// The same call finished before: its result, without a second upstream call.
    Replay(Value),
    /// The earlier outcome was unknown; the query found it happened.
    Recovered(Value),
    /// The earlier outcome was unknown; the query shows it did not happen: send again.
    Resend(IdemKey),
}

impl Engine {
    /// An engine whose configuration is ready now.
    pub fn new(
        tools: &'static [&'static ToolDef],
        config: Config,
        services: Services,
    ) -> Result<Self, String> {
        let engine = Self::build(tools, config.server.clone(), None, services)?;
        let _ = engine.config.set(Ok(Arc::new(config)));
        Ok(engine)
    }

    /// An engine whose provider configuration arrives later (`server` settings apply at once).
    pub fn deferred(
        tools: &'static [&'static ToolDef],
        server: ServerConfig,
        pending: PendingConfig,
        services: Services,
    ) -> Result<Self, String> {
        Self::build(tools, server, Some(pending), services)
    }

    fn build(
        tools: &'static [&'static ToolDef],
        server: ServerConfig,
        pending: Option<PendingConfig>,
        services: Services,
    ) -> Result<Self, String> {
        let known = |n: &str| tools.iter().any(|t| t.name == n);
        for (names, setting) in [
            (server.tools.as_deref(), "ZHIFU_TOOLS"),
            (
                Some(server.policy.deny_tools.as_slice()),
                "ZHIFU_DENY_TOOLS",
            ),
        ] {
            let unknown: Vec<&str> = names
                .unwrap_or_default()
                .iter()
                .map(String::as_str)
                .filter(|n| !known(n))
                .collect();
            if !unknown.is_empty() {
                return Err(format!(
                    "{setting} names unknown tools: {}; known tools: {}",
                    unknown.join(", "),
                    tools.iter().map(|t| t.name).collect::<Vec<_>>().join(", ")
                ));
            }
        }
        let http = match server.state.http_timeout_ms {
            Some(ms) => Http::with_timeout(std::time::Duration::from_millis(ms)),
            None => Http::new(),
        };
        Ok(Engine {
            tools,
            validators: Validators::new(tools.len()),
            config: OnceCell::new(),
            pending: Mutex::new(pending),
            server,
            http,
            services,
            tickets: Tickets::new(),
        })
    }

    /// Every tool in the table, listed or not.
    pub fn all_tools(&self) -> &'static [&'static ToolDef] {
        self.tools
    }

    /// Why a tool is not offered in this configuration, if it is not (allowlist, denylist, read-only).
    pub fn refusal(&self, tool: &ToolDef) -> Option<ToolError> {
        if let Some(allow) = &self.server.tools
            && !allow.iter().any(|n| n == tool.name)
        {
            return Some(crate::policy::refusal(
                "tools_allowlist",
                format!("{} is not on the tool allowlist", tool.name),
                "ZHIFU_TOOLS",
            ));
        }
        if self.server.policy.denies(tool) {
            return Some(crate::policy::refusal(
                "deny_tools",
                format!("{} is on the denylist", tool.name),
                "ZHIFU_DENY_TOOLS",
            ));
        }
        if self.server.read_only && tool.effect != Effect::Read {
            return Some(crate::policy::refusal(
                "read_only",
                format!(
                    "{} changes state ({}) and this server is read-only",
                    tool.name,
                    tool.effect.as_str()
                ),
                "ZHIFU_READ_ONLY",
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

    /// Runs the named tool without anyone to ask: calls that need confirmation are refused.
    pub async fn call(&self, name: &str, args: Map<String, Value>) -> Result<Value, ToolError> {
        let prepared = self.prepare(name, args).await?;
        let confirmation = if prepared.needs_confirmation() {
            Confirmation::Unsupported
        } else {
            Confirmation::NotRequired
        };
        self.execute(prepared, confirmation).await
    }

    /// Validates and checks a call against policy; nothing is sent. Refusals are audited.
    pub async fn prepare(
        &self,
        name: &str,
        args: Map<String, Value>,
    ) -> Result<Prepared, ToolError> {
        let started = Instant::now();
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
        let mut record = AuditRecord {
            tool: tool.name.to_string(),
            provider: tool.provider.as_str().to_string(),
            args: redact_args(&secret_names(tool), &args),
            policy: "allowed".into(),
            ..AuditRecord::default()
        };
        if let Some(refusal) = self.refusal(tool) {
            return Err(self.audit_failure(record, started, refusal));
        }
        let config = match self.config().await {
            Ok(c) => c,
            Err(e) => return Err(self.audit_failure(record, started, e)),
        };
        let (environment, live) = environment(tool, &config);
        record.environment = environment.to_string();
        let args = match self.validators.check(index, tool, args, &config) {
            Ok(a) => a,
            Err(e) => return Err(self.audit_failure(record, started, e)),
        };
        record.args = redact_args(&secret_names(tool), &args);
        record.merchant_reference = reference_of(tool, &args);
        let amount_fen = amount_of(tool, &args);
        record.amount_fen = amount_fen;
        record.amount = amount_fen.map(yuan_from_fen);
        if let (Provider::Alipay, Some(cfg)) = (tool.provider, &config.alipay) {
            let today = crate::signing::alipay::beijing_timestamp(unix_now() as i64);
            if let Err(e) = alipay::check(tool, &args, cfg, &today[..10]) {
                return Err(self.audit_failure(record, started, e));
            }
        }
        let payee = tool
            .payee_param
            .and_then(|p| args.get(p))
            .and_then(Value::as_str);
        let decision = match self.server.policy.evaluate(CallFacts {
            tool,
            amount_fen,
            live,
            payee,
        }) {
            Ok(d) => d,
            Err(e) => return Err(self.audit_failure(record, started, e)),
        };
        let digest = args_digest(&json!({ "tool": tool.name, "args": &args }));
        Ok(Prepared {
            tool,
            args,
            config,
            digest,
            decision,
            record,
            started,
        })
    }

    /// What to show the user, when policy asks for confirmation.
    pub fn confirm_request(&self, p: &Prepared) -> Option<ConfirmRequest> {
        if !p.decision.confirm {
            return None;
        }
        let provider = match p.tool.provider {
            Provider::Pingpp => "Ping++",
            Provider::Alipay => "Alipay",
        };
        let text = |name: &str| {
            p.args
                .get(name)
                .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
        };
        let counterparty = p
            .tool
            .payee_param
            .into_iter()
            .chain([
                "charge_id",
                "out_trade_no",
                "trade_no",
                "recharge_id",
                "customer",
            ])
            .find_map(|name| text(name).map(|v| (name, v)));
        Some(confirm::request(&confirm::Effect {
            tool_title: p.tool.title,
            tool: p.tool.name,
            provider,
            environment: &p.record.environment,
            amount: p.record.amount.clone(),
            reference: p
                .tool
                .merchant_reference
                .and_then(|r| text(r).map(|v| (r, v))),
            counterparty,
        }))
    }

    /// A single-use confirmation ticket bound to this call's arguments (2026-07-28 clients).
    pub fn seal_ticket(&self, p: &Prepared) -> String {
        self.tickets.seal(p.tool.name, &p.digest, unix_now() as i64)
    }

    /// Whether a ticket echoed by a retry matches this call's arguments and was not used before.
    pub fn redeem_ticket(&self, p: &Prepared, state: &str) -> bool {
        self.tickets
            .redeem(state, p.tool.name, &p.digest, unix_now() as i64)
    }

    /// Sends a prepared call (when the confirmation allows it) and audits the outcome.
    pub async fn execute(
        &self,
        mut p: Prepared,
        confirmation: Confirmation,
    ) -> Result<Value, ToolError> {
        p.record.confirmation = Some(confirmation.as_str().to_string());
        if p.decision.confirm && confirmation != Confirmation::Accepted {
            let (why, next) = match confirmation {
                Confirmation::Unsupported => (
                    "this call needs the user's confirmation and the client cannot ask for it (no elicitation support)",
                    "Nothing was sent. Tell the user to run it from a client that supports confirmation prompts, or ask the operator.",
                ),
                Confirmation::Invalid => (
                    "the confirmation does not match these arguments, has expired or was already used",
                    "Nothing was sent. Call the tool again to ask the user afresh.",
                ),
                _ => (
                    "the user did not confirm this call",
                    "Nothing was sent. Do not retry unless the user asks for it again.",
                ),
            };
            let err = ToolError::new(ErrorKind::NotConfirmed, why, next);
            return Err(self.audit_failure(p.record, p.started, err));
        }
        let outcome = self.guarded(&mut p).await;
        self.audit(p.record, p.started, outcome.as_ref());
        outcome
    }

    /// Idempotency guard and daily reservation around the upstream call.
    async fn guarded(&self, p: &mut Prepared) -> Result<Value, ToolError> {
        let now = unix_now() as i64;
        let guard = self.guard(p, now).await?;
        let key = match guard {
            Guard::None => None,
            Guard::Replay(v) => return Ok(v),
            Guard::Recovered(v) => return Ok(v),
            Guard::New(k) | Guard::Resend(k) => Some(k),
        };
        let reservation = match self.reserve(p, now).await {
            Ok(r) => r,
            Err(e) => {
                if let Some(k) = key {
                    let _ = self
                        .stored(move |s| s.finish(&k, IdemState::Failed, None, now))
                        .await;
                }
                return Err(e);
            }
        };
        let outcome = self.dispatch(p.tool, &p.args, &p.config).await;
        let unknown = outcome
            .as_ref()
            .err()
            .is_some_and(|e| e.outcome == Some(Outcome::Unknown));
        let done_at = unix_now() as i64;
        if let Some(k) = &key {
            let (state, result) = match &outcome {
                Ok(v) => (IdemState::Done, Some(v)),
                Err(_) if unknown => (IdemState::Unknown, None),
                Err(_) => (IdemState::Failed, None),
            };
            let (key, result) = (k.clone(), result.cloned());
            if let Err(e) = self
                .stored(move |s| s.finish(&key, state, result.as_ref(), done_at))
                .await
            {
                tracing::error!(key = %k, error = %e, "could not record the idempotency outcome");
            }
        }
        if let (Some(id), Err(_)) = (reservation, &outcome)
            && !unknown
        {
            let _ = self.stored(move |s| s.release_spend(id)).await;
        }
        outcome
    }

    /// Decides what to do with the call's merchant reference (see [`Guard`]).
    async fn guard(&self, p: &mut Prepared, now: i64) -> Result<Guard, ToolError> {
        let tool = p.tool;
        let reference = tool
            .merchant_reference
            .and_then(|r| p.args.get(r))
            .and_then(Value::as_str);
        let (Some(reference), true) = (reference, tool.effect != Effect::Read && tool.open_world())
        else {
            return Ok(Guard::None);
        };
        let key = IdemKey::new(tool.provider.as_str(), tool.name, reference);
        let (k, digest) = (key.clone(), p.digest.clone());
        let claim = self
            .stored(move |s| s.claim(&k, &digest, now))
            .await
            .map_err(store_error)?;
        let existing = match claim {
            Claim::Claimed => {
                p.record.idempotency = Some("new".into());
                return Ok(Guard::New(key));
            }
            Claim::Existing(rec) => rec,
        };
        let reference_name = tool.merchant_reference.unwrap_or("merchant reference");
        if existing.args_digest != p.digest {
            p.record.idempotency = Some("conflict".into());
            let upstream = tool
                .reference_conflict
                .map(|c| format!(" (the gateway answers such a repeat with {c})"))
                .unwrap_or_default();
            let next = match tool.query_tool {
                Some(q) => format!(
                    "Call {q} to see the earlier {reference_name}; use a new {reference_name} only for a genuinely different operation."
                ),
                None => {
                    format!("Use a new {reference_name} only for a genuinely different operation.")
                }
            };
            let mut err = ToolError::new(
                ErrorKind::IdempotencyConflict,
                format!("{reference_name} {reference} was already used for {} with different arguments{upstream}; nothing was sent", tool.name),
                next,
            )
            .with_field(reference_name);
            err.rule = Some("idempotency");
            return Err(err);
        }
        match existing.state {
            IdemState::Done => {
                p.record.idempotency = Some("replayed".into());
                let mut value = existing.result.unwrap_or(Value::Null);
                if let Value::Object(m) = &mut value {
                    m.insert("replayed".into(), Value::Bool(true));
                }
                Ok(Guard::Replay(value))
            }
            IdemState::Pending | IdemState::Unknown | IdemState::Failed => {
                p.record.idempotency = Some("queried_first".into());
                match self.query_first(tool, &p.args, &p.config).await {
                    QueryVerdict::Found(mut v) => {
                        if let Value::Object(m) = &mut v {
                            m.insert(
                                "recovered_by_query".into(),
                                Value::String(tool.query_tool.unwrap_or_default().into()),
                            );
                        }
                        let (k, found) = (key.clone(), v.clone());
                        let at = unix_now() as i64;
                        let _ = self
                            .stored(move |s| s.finish(&k, IdemState::Done, Some(&found), at))
                            .await;
                        Ok(Guard::Recovered(v))
                    }
                    QueryVerdict::NotFound => Ok(Guard::Resend(key)),
                    QueryVerdict::Unknown(mut e) => {
                        e.outcome = Some(Outcome::Unknown);
                        e.message = format!(
                            "an earlier {} with {reference_name} {reference} has an unknown outcome and checking it failed: {}",
                            tool.name, e.message
                        );
                        e.next_step = crate::error::next_after_unknown(tool);
                        e.retry_safe = false;
                        Err(e)
                    }
                }
            }
        }
    }

    /// Asks the gateway whether an earlier call with an unknown outcome happened.
    async fn query_first(
        &self,
        tool: &ToolDef,
        args: &Map<String, Value>,
        config: &Config,
    ) -> QueryVerdict {
        let Some((qi, query)) = tool.query_tool.and_then(|q| {
            self.tools
                .iter()
                .copied()
                .enumerate()
                .find(|(_, t)| t.name == q)
        }) else {
            return self.unqueryable(tool);
        };
        let shared: Map<String, Value> = query
            .params
            .iter()
            .filter_map(|qp| args.get(qp.name).map(|v| (qp.name.to_string(), v.clone())))
            .collect();
        let Ok(qargs) = self.validators.check(qi, query, shared, config) else {
            return self.unqueryable(tool);
        };
        match self.dispatch(query, &qargs, config).await {
            Ok(v) => match tool.query_found_field {
                Some(f) if v.get(f).is_none_or(Value::is_null) => QueryVerdict::NotFound,
                _ => QueryVerdict::Found(v),
            },
            Err(e) if is_not_found(&e) => QueryVerdict::NotFound,
            Err(e) => QueryVerdict::Unknown(e),
        }
    }

    /// The earlier call cannot be looked up: resend only when the gateway itself de-duplicates.
    fn unqueryable(&self, tool: &ToolDef) -> QueryVerdict {
        if tool.idempotent {
            QueryVerdict::NotFound
        } else {
            QueryVerdict::Unknown(ToolError::new(
                ErrorKind::Transport,
                "the earlier call cannot be looked up automatically",
                "",
            ))
        }
    }

    /// Reserves the amount against the rolling 24-hour limit (money-moving tools only).
    async fn reserve(&self, p: &Prepared, now: i64) -> Result<Option<i64>, ToolError> {
        let (Some(fen), Effect::MovesMoney) = (p.decision.reserve_fen, p.tool.effect) else {
            return Ok(None);
        };
        let provider = p.tool.provider;
        let limit = self
            .server
            .policy
            .limits
            .get(&provider)
            .and_then(|l| l.daily_fen);
        let reference = p.record.merchant_reference.clone().unwrap_or_default();
        let reserved = self
            .stored(move |s| s.reserve_spend(provider.as_str(), fen, limit, now, &reference))
            .await;
        match reserved.map_err(store_error)? {
            Reservation::Reserved { id, .. } => Ok(Some(id)),
            Reservation::OverLimit { spent, limit } => Err(self
                .server
                .policy
                .daily_refusal(provider, fen, spent, limit)),
        }
    }

    /// Runs a store operation on the blocking pool: a file store syncs every write to disk
    /// (about 4 ms), which must not stall the async workers.
    async fn stored<T: Send + 'static>(
        &self,
        op: impl FnOnce(&dyn Store) -> T + Send + 'static,
    ) -> T {
        let store = Arc::clone(&self.services.store);
        match tokio::task::spawn_blocking(move || op(store.as_ref())).await {
            Ok(v) => v,
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        }
    }

    /// The upstream (or local) operation itself.
    async fn dispatch(
        &self,
        tool: &ToolDef,
        args: &Map<String, Value>,
        config: &Config,
    ) -> Result<Value, ToolError> {
        match tool.operation {
            Operation::Local { op } => crate::local::run(op, args, config),
            Operation::Rest { .. } => match tool.provider {
                Provider::Pingpp => self.call_pingpp(tool, args, config).await,
                Provider::Alipay => Err(not_configured(tool, "Alipay REST tools do not exist")),
            },
            Operation::Gateway { .. } | Operation::GatewayUrl { .. } => {
                self.call_alipay(tool, args, config).await
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
        let timestamp = crate::signing::alipay::beijing_timestamp(unix_now() as i64);
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

    /// Audits a call that ended before or at execution with an error; returns the error.
    fn audit_failure(&self, record: AuditRecord, started: Instant, err: ToolError) -> ToolError {
        self.audit(record, started, Err(&err));
        err
    }

    /// Writes the audit line of one call.
    fn audit(
        &self,
        mut record: AuditRecord,
        started: Instant,
        outcome: Result<&Value, &ToolError>,
    ) {
        if !self.services.audit.is_enabled() {
            return;
        }
        record.time = rfc3339_utc_millis(SystemTime::now());
        record.duration_ms = started.elapsed().as_millis() as u64;
        match outcome {
            Ok(v) => {
                record.result = "ok".into();
                record.upstream_ids = pick_upstream_ids(v);
            }
            Err(e) => {
                record.result = serde_json::to_value(e.kind)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default();
                record.code = e
                    .upstream
                    .as_ref()
                    .and_then(|u| {
                        u.sub_code
                            .clone()
                            .or_else(|| u.code.clone())
                            .or_else(|| u.error_type.clone())
                    })
                    .or_else(|| e.rule.map(str::to_string));
                record.outcome = e.outcome.map(|_| "UNKNOWN".to_string());
                if e.kind == ErrorKind::PolicyRefused {
                    record.policy = format!("refused: {}", e.rule.unwrap_or("policy"));
                }
                record.upstream_ids = Value::Object(Map::new());
            }
        }
        if let Err(e) = self.services.audit.write(&record) {
            tracing::error!(error = %e, "could not write the audit log");
        }
    }
}

impl Prepared {
    /// The human amount this call moves (`¥15.50`), when it names one.
    pub fn amount(&self) -> Option<&str> {
        self.record.amount.as_deref()
    }

    /// Whether the policy asks the user before sending.
    pub fn needs_confirmation(&self) -> bool {
        self.decision.confirm
    }
}

enum QueryVerdict {
    Found(Value),
    NotFound,
    Unknown(ToolError),
}

/// Upstream answers meaning "no such operation".
fn is_not_found(e: &ToolError) -> bool {
    let Some(up) = &e.upstream else { return false };
    matches!(
        up.sub_code.as_deref(),
        Some("ACQ.TRADE_NOT_EXIST" | "TRADE_NOT_EXIST" | "ORDER_NOT_EXIST")
    ) || up.http_status == Some(404)
}

fn store_error(e: crate::store::StoreError) -> ToolError {
    ToolError::new(
        ErrorKind::Configuration,
        format!("the state database failed: {e}; nothing was sent"),
        "Tell the operator (ZHIFU_STATE_DB); retry later.",
    )
}

fn secret_names(tool: &ToolDef) -> Vec<&'static str> {
    tool.params
        .iter()
        .filter(|p| p.secret)
        .map(|p| p.name)
        .collect()
}

fn reference_of(tool: &ToolDef, args: &Map<String, Value>) -> Option<String> {
    let name = tool.merchant_reference?;
    args.get(name).and_then(Value::as_str).map(str::to_string)
}

/// The amount a call moves, in fen.
fn amount_of(tool: &ToolDef, args: &Map<String, Value>) -> Option<i64> {
    let param = tool.param(tool.amount_param?)?;
    match (param.kind, args.get(param.name)?) {
        (Kind::AmountFen, v) => v.as_i64(),
        (Kind::AmountYuan, Value::String(s)) => fen_from_yuan(s),
        _ => None,
    }
}

/// The environment name for audit and confirmation, and whether real money moves.
fn environment(tool: &ToolDef, config: &Config) -> (&'static str, bool) {
    if config.sandbox {
        return ("sandbox", false);
    }
    match tool.provider {
        Provider::Pingpp => match &config.pingpp {
            Some(p) if p.is_live() => ("live", true),
            _ => ("test", false),
        },
        Provider::Alipay => match config.alipay.as_ref().map(|a| a.env) {
            Some(AlipayEnv::Production) => ("production", true),
            _ => ("sandbox", false),
        },
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
pub fn summary(tool: &ToolDef, value: &Value, amount: Option<&str>) -> String {
    let amount_of_value = |v: &Value| -> Option<String> {
        let fen = v.get("amount")?.as_i64()?;
        Some(format!("{} ({fen} fen)", yuan_from_fen(fen)))
    };
    let replay = if value.get("replayed").and_then(Value::as_bool) == Some(true) {
        " (replayed: an earlier identical call's result; nothing was sent again)"
    } else if value.get("recovered_by_query").is_some() {
        " (an earlier call with the same reference had an unknown outcome; the query shows it happened, so nothing was sent again)"
    } else {
        ""
    };
    let line = match value.get("object").and_then(Value::as_str) {
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
            match amount_of_value(value) {
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
                    .and_then(fen_from_yuan)
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
    };
    let echo = match amount {
        Some(a) if !line.contains(a) => format!(" Amount: {a}."),
        _ => String::new(),
    };
    format!("{line}{echo}{replay}")
}
