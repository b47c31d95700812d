//! Runs one tool call end to end, independent of MCP.
//!
//! [`Engine::prepare`]: availability → validation → local checks → policy (nothing sent; a refusal
//! is audited). Then the MCP layer asks the user when the policy says so. [`Engine::execute`]:
//! idempotency guard → daily limit reservation → request → gateway → result → audit record.
//! [`Engine::call`] does both for callers that cannot ask anyone (the `call` command).

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value, json};
use tokio::sync::{Mutex, OnceCell};

use crate::audit::{AuditLog, AuditRecord, pick_upstream_ids, rfc3339_utc_millis, summarize_args};
use crate::config::{AlipayEnv, Config, ServerConfig};
use crate::confirm::{self, ConfirmRequest, Confirmation, Tickets};
use crate::error::{ErrorKind, Outcome, ToolError};
use crate::http::{Http, HttpResponse, TransportError};
use crate::money::{fen_from_yuan, yuan_from_fen};
use crate::policy::{CallFacts, Decision};
use crate::store::{
    Begun, IdemKey, IdemRecord, IdemState, Lease, Reservation, SpendRequest, Store, args_digest,
};
use crate::tool::{Effect, HttpMethod, Kind, Operation, Pagination, Provider, ToolDef};
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
    /// Random id of this engine, the first half of every claim's owner token.
    instance: String,
    /// Claims made by this engine, the second half of the owner token.
    claims: std::sync::atomic::AtomicU64,
    /// How long a claim may stay in flight before its owner is presumed dead.
    lease_secs: i64,
    /// How long a repeat waits for an identical call in flight before answering "in progress".
    wait_budget: Duration,
    /// How long after an unknown outcome a "not found" from a list can be trusted.
    settle_secs: i64,
}

/// First and longest pause while polling for an identical call in flight.
const POLL_FIRST: Duration = Duration::from_millis(20);
const POLL_MAX: Duration = Duration::from_millis(250);
/// Pages of a list tool that recovery reads before giving up (100 items each).
const RECOVERY_MAX_PAGES: usize = 20;

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
        let timeout = server
            .state
            .http_timeout_ms
            .map_or(crate::http::REQUEST_TIMEOUT, Duration::from_millis);
        let http = Http::with_timeout(timeout);
        // One attempt plus one retry of a request that never connected, plus margin.
        let lease_secs = 2 * timeout.as_secs().max(1) as i64 + 5;
        Ok(Engine {
            tools,
            validators: Validators::new(tools.len()),
            config: OnceCell::new(),
            pending: Mutex::new(pending),
            server,
            http,
            services,
            tickets: Tickets::new(),
            instance: instance_id(),
            claims: std::sync::atomic::AtomicU64::new(0),
            lease_secs,
            wait_budget: timeout + Duration::from_secs(5),
            settle_secs: timeout.as_secs_f64().ceil() as i64,
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
            args: summarize_args(tool.params, &args),
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
        record.args = summarize_args(tool.params, &args);
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

    /// The idempotency guard and the daily reservation around the upstream call.
    ///
    /// A call with a merchant reference claims `(provider, tool, reference)` and reserves its
    /// spend in one store transaction, then sends. A repeat finds the record: the same
    /// arguments and `Done` → the stored result; in flight (another call, in this process or
    /// another sharing the store, is sending right now) → wait for it, bounded, then answer "in
    /// progress"; `Unknown` (or orphaned by a dead process) → exactly one caller takes it over,
    /// queries the gateway, and resends only on a verified "not found".
    async fn guarded(&self, p: &mut Prepared) -> Result<Value, ToolError> {
        let Some(key) = guard_key(p.tool, &p.args) else {
            return self.unguarded(p).await;
        };
        let owner = self.new_owner();
        let waited_since = Instant::now();
        loop {
            let now = unix_now() as i64;
            let lease = Lease {
                owner: owner.clone(),
                until_unix: now + self.lease_secs,
            };
            let spend = self.spend_request(p);
            let (k, digest, l) = (key.clone(), p.digest.clone(), lease.clone());
            let begun = self
                .stored(move |s| {
                    let spend =
                        spend
                            .as_ref()
                            .map(|(provider, fen, limit, reference)| SpendRequest {
                                provider,
                                fen: *fen,
                                daily_limit_fen: *limit,
                                reference,
                            });
                    s.begin(&k, &digest, now, &l, spend)
                })
                .await
                .map_err(store_error)?;
            let existing = match begun {
                Begun::Claimed { reservation } => {
                    p.record.idempotency = Some(
                        if waited_since.elapsed() > POLL_FIRST {
                            "new_after_wait"
                        } else {
                            "new"
                        }
                        .into(),
                    );
                    return self.send_claimed(p, &key, reservation).await;
                }
                Begun::OverLimit { spent, limit } => {
                    let fen = p.decision.reserve_fen.unwrap_or_default();
                    return Err(self.server.policy.daily_refusal(
                        p.tool.provider,
                        fen,
                        spent,
                        limit,
                    ));
                }
                Begun::Existing(rec) => rec,
            };
            if existing.args_digest != p.digest {
                p.record.idempotency = Some("conflict".into());
                return Err(conflict_error(p.tool, &key.reference));
            }
            match existing.state {
                IdemState::Done => {
                    p.record.idempotency = Some("replayed".into());
                    let mut value = existing.result.unwrap_or(Value::Null);
                    if let Value::Object(m) = &mut value {
                        m.insert("replayed".into(), Value::Bool(true));
                    }
                    return Ok(value);
                }
                IdemState::Pending if existing.in_flight(now) => {
                    if waited_since.elapsed() >= self.wait_budget {
                        p.record.idempotency = Some("in_progress".into());
                        return Err(in_progress_error(p.tool, &key.reference, &existing, now));
                    }
                    self.wait_while_in_flight(&key, waited_since).await;
                }
                IdemState::Pending | IdemState::Unknown | IdemState::Failed => {
                    if let Some(wait) = self.too_early_to_query(p.tool, &existing, now) {
                        p.record.idempotency = Some("unknown_settling".into());
                        return Err(settling_error(p.tool, &key.reference, wait));
                    }
                    let (k, from, l) = (key.clone(), existing.owner.clone(), lease.clone());
                    let took = self
                        .stored(move |s| s.take_over(&k, &from, now, &l))
                        .await
                        .map_err(store_error)?;
                    if took {
                        p.record.idempotency = Some("queried_first".into());
                        return self.recover(p, &key).await;
                    }
                    // Another caller took it over first: it is in flight again; wait for it.
                }
            }
        }
    }

    /// Calls without a merchant reference to guard (reads, local operations, payment links):
    /// only the daily reservation applies.
    async fn unguarded(&self, p: &mut Prepared) -> Result<Value, ToolError> {
        let now = unix_now() as i64;
        let reservation = match self.spend_request(p) {
            None => None,
            Some((provider, fen, limit, reference)) => {
                let reserved = self
                    .stored(move |s| s.reserve_spend(&provider, fen, limit, now, &reference))
                    .await
                    .map_err(store_error)?;
                match reserved {
                    Reservation::Reserved { id, .. } => Some(id),
                    Reservation::OverLimit { spent, limit } => {
                        return Err(self.server.policy.daily_refusal(
                            p.tool.provider,
                            fen,
                            spent,
                            limit,
                        ));
                    }
                }
            }
        };
        let outcome = self.dispatch(p.tool, &p.args, &p.config).await;
        if let (Some(id), Err(e)) = (reservation, &outcome)
            && e.outcome != Some(Outcome::Unknown)
        {
            let _ = self.stored(move |s| s.release_spend(id)).await;
        }
        outcome
    }

    /// Sends a call whose key this caller holds, and records the outcome (giving the
    /// reservation back when the call definitely did not happen) in one store transaction.
    async fn send_claimed(
        &self,
        p: &Prepared,
        key: &IdemKey,
        reservation: Option<i64>,
    ) -> Result<Value, ToolError> {
        let outcome = self.dispatch(p.tool, &p.args, &p.config).await;
        let (state, release) = match &outcome {
            Ok(_) => (IdemState::Done, None),
            Err(e) if e.outcome == Some(Outcome::Unknown) => (IdemState::Unknown, None),
            Err(_) => (IdemState::Failed, reservation),
        };
        self.complete(key, state, outcome.as_ref().ok(), release)
            .await;
        outcome
    }

    /// Recovery after an unknown outcome, by the one caller that took the record over: query
    /// first; resend only when a verified answer says the operation does not exist.
    async fn recover(&self, p: &Prepared, key: &IdemKey) -> Result<Value, ToolError> {
        match self
            .query_first(p.tool, &p.args, &p.config, &key.reference)
            .await
        {
            QueryVerdict::Found(mut v) => {
                if let Value::Object(m) = &mut v {
                    m.insert(
                        "recovered_by_query".into(),
                        Value::String(p.tool.query_tool.unwrap_or_default().into()),
                    );
                }
                self.complete(key, IdemState::Done, Some(&v), None).await;
                Ok(v)
            }
            // The reservation made by the earlier attempt still stands (an unknown outcome
            // keeps it), so the resend reserves nothing new.
            QueryVerdict::NotFound => self.send_claimed(p, key, None).await,
            QueryVerdict::Unknown(mut e) => {
                self.complete(key, IdemState::Unknown, None, None).await;
                let reference_name = p.tool.merchant_reference.unwrap_or("merchant reference");
                e.outcome = Some(Outcome::Unknown);
                e.message = format!(
                    "an earlier {} with {reference_name} {} has an unknown outcome and checking it failed: {}",
                    p.tool.name, key.reference, e.message
                );
                e.next_step = crate::error::next_after_unknown(p.tool);
                e.retry_safe = false;
                Err(e)
            }
        }
    }

    /// Records a call's final state; a failure to do so is logged (the answer still goes out).
    async fn complete(
        &self,
        key: &IdemKey,
        state: IdemState,
        result: Option<&Value>,
        release: Option<i64>,
    ) {
        let (k, result) = (key.clone(), result.cloned());
        let at = unix_now() as i64;
        if let Err(e) = self
            .stored(move |s| s.complete(&k, state, result.as_ref(), at, release))
            .await
        {
            tracing::error!(key = %key, error = %e, "could not record the idempotency outcome");
        }
    }

    /// Polls the store until the in-flight record under `key` changes (done, unknown, gone) or
    /// the wait budget is spent.
    async fn wait_while_in_flight(&self, key: &IdemKey, since: Instant) {
        let mut pause = POLL_FIRST;
        while since.elapsed() < self.wait_budget {
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(POLL_MAX);
            let k = key.clone();
            let now = unix_now() as i64;
            match self.stored(move |s| s.get(&k)).await {
                Ok(Some(rec)) if rec.in_flight(now) => continue,
                _ => return,
            }
        }
    }

    /// For a tool whose gateway cannot de-duplicate by the reference (recovery by listing):
    /// how long until a "not found" can be trusted, if it cannot be yet. The earlier attempt
    /// may still be processing at the gateway for up to one request timeout after it went
    /// unknown.
    fn too_early_to_query(&self, tool: &ToolDef, rec: &IdemRecord, now: i64) -> Option<i64> {
        if tool.query_match.is_none() || rec.state != IdemState::Unknown {
            return None;
        }
        let ready = rec.updated_unix + self.settle_secs;
        (now < ready).then_some(ready - now)
    }

    /// The spend to reserve for this call: (provider, fen, daily limit, reference).
    fn spend_request(&self, p: &Prepared) -> Option<(String, i64, Option<i64>, String)> {
        let (Some(fen), Effect::MovesMoney) = (p.decision.reserve_fen, p.tool.effect) else {
            return None;
        };
        let provider = p.tool.provider;
        let limit = self
            .server
            .policy
            .limits
            .get(&provider)
            .and_then(|l| l.daily_fen);
        let reference = p.record.merchant_reference.clone().unwrap_or_default();
        Some((provider.as_str().to_string(), fen, limit, reference))
    }

    /// A fresh owner token for one claim: this engine's instance id and a counter.
    fn new_owner(&self) -> String {
        let n = self
            .claims
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        format!("{}-{n}", self.instance)
    }

    /// Asks the gateway whether an earlier call with an unknown outcome happened.
    async fn query_first(
        &self,
        tool: &ToolDef,
        args: &Map<String, Value>,
        config: &Config,
        reference: &str,
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
        let mut shared: Map<String, Value> = query
            .params
            .iter()
            .filter_map(|qp| args.get(qp.name).map(|v| (qp.name.to_string(), v.clone())))
            .collect();
        if let Some(path) = tool.query_match {
            return self
                .query_list(qi, query, shared, config, path, reference)
                .await;
        }
        shared.retain(|_, v| !v.is_null());
        let Ok(qargs) = self.validators.check(qi, query, shared, config) else {
            return self.unqueryable(tool);
        };
        match self.dispatch(query, &qargs, config).await {
            Ok(v) => match tool.query_found_field {
                Some(f) if v.get(f).is_none_or(Value::is_null) => QueryVerdict::NotFound,
                _ => QueryVerdict::Found(v),
            },
            Err(e) if is_verified_not_found(&e) => QueryVerdict::NotFound,
            Err(e) => QueryVerdict::Unknown(e),
        }
    }

    /// Recovery through a list tool: pages through it (newest first) looking for the item whose
    /// field at `path` equals the reference.
    async fn query_list(
        &self,
        qi: usize,
        query: &'static ToolDef,
        mut qargs: Map<String, Value>,
        config: &Config,
        path: &str,
        reference: &str,
    ) -> QueryVerdict {
        if query.param("limit").is_some() {
            qargs.insert("limit".into(), Value::from(100));
        }
        for page in 1..=RECOVERY_MAX_PAGES {
            if query.pagination == Pagination::Page {
                qargs.insert("page".into(), Value::from(page));
            }
            let checked = match self.validators.check(qi, query, qargs.clone(), config) {
                Ok(a) => a,
                Err(e) => return QueryVerdict::Unknown(e),
            };
            let list = match self.dispatch(query, &checked, config).await {
                Ok(v) => v,
                Err(e) => return QueryVerdict::Unknown(e),
            };
            let Some(items) = list.get("data").and_then(Value::as_array) else {
                return QueryVerdict::Unknown(unreadable_list(query));
            };
            if let Some(item) = items
                .iter()
                .find(|item| value_at(item, path).and_then(Value::as_str) == Some(reference))
            {
                return QueryVerdict::Found(item.clone());
            }
            if list.get("has_more").and_then(Value::as_bool) != Some(true) {
                return QueryVerdict::NotFound;
            }
            if query.pagination == Pagination::Cursor {
                match list.get("next_cursor").and_then(Value::as_str) {
                    Some(c) => {
                        qargs.insert("starting_after".into(), Value::String(c.to_string()));
                    }
                    None => return QueryVerdict::Unknown(unreadable_list(query)),
                }
            }
        }
        QueryVerdict::Unknown(ToolError::new(
            ErrorKind::Transport,
            format!(
                "{} has more than {RECOVERY_MAX_PAGES} pages; the earlier operation was not found in them",
                query.name
            ),
            "",
        ))
    }

    /// The earlier call cannot be looked up: resend only when the gateway itself de-duplicates.
    fn unqueryable(&self, tool: &ToolDef) -> QueryVerdict {
        if tool.idempotent && tool.query_match.is_none() {
            QueryVerdict::NotFound
        } else {
            QueryVerdict::Unknown(ToolError::new(
                ErrorKind::Transport,
                "the earlier call cannot be looked up automatically",
                "",
            ))
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
        let outcome = match tool.operation {
            Operation::Local { op } => crate::local::run(op, args, config),
            Operation::Rest { .. } => match tool.provider {
                Provider::Pingpp => self.call_pingpp(tool, args, config).await,
                Provider::Alipay => Err(not_configured(tool, "Alipay REST tools do not exist")),
            },
            Operation::Gateway { .. } | Operation::GatewayUrl { .. } => {
                self.call_alipay(tool, args, config).await
            }
        };
        outcome.map_err(|e| scrub_error(e, tool, args, config))
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

/// A verified gateway answer meaning "no such operation": only such an answer may lead to a
/// resend. An unsigned or unreadable answer, or an in-progress one, is never "not found".
fn is_verified_not_found(e: &ToolError) -> bool {
    let Some(up) = &e.upstream else { return false };
    up.verified
        && (matches!(
            up.sub_code.as_deref(),
            Some("ACQ.TRADE_NOT_EXIST" | "TRADE_NOT_EXIST" | "ORDER_NOT_EXIST")
        ) || up.http_status == Some(404))
}

/// The guard's key: money-moving and other state-changing network calls with a reference.
fn guard_key(tool: &ToolDef, args: &Map<String, Value>) -> Option<IdemKey> {
    let reference = tool
        .merchant_reference
        .and_then(|r| args.get(r))
        .and_then(Value::as_str)?;
    (tool.effect != Effect::Read && tool.open_world())
        .then(|| IdemKey::new(tool.provider.as_str(), tool.name, reference))
}

/// The reference was used before with different arguments.
fn conflict_error(tool: &ToolDef, reference: &str) -> ToolError {
    let reference_name = tool.merchant_reference.unwrap_or("merchant reference");
    let upstream = tool
        .reference_conflict
        .map(|c| format!(" (the gateway answers such a repeat with {c})"))
        .unwrap_or_default();
    let next = match tool.query_tool {
        Some(q) => format!(
            "Call {q} to see the earlier {reference_name}; use a new {reference_name} only for a genuinely different operation."
        ),
        None => format!("Use a new {reference_name} only for a genuinely different operation."),
    };
    let mut err = ToolError::new(
        ErrorKind::IdempotencyConflict,
        format!(
            "{reference_name} {reference} was already used for {} with different arguments{upstream}; nothing was sent",
            tool.name
        ),
        next,
    )
    .with_field(reference_name);
    err.rule = Some("idempotency");
    err
}

/// An identical call is still in flight after the wait budget.
fn in_progress_error(tool: &ToolDef, reference: &str, rec: &IdemRecord, now: i64) -> ToolError {
    let reference_name = tool.merchant_reference.unwrap_or("merchant reference");
    let next = match tool.query_tool {
        Some(q) => format!(
            "Call {q} to see its outcome, or repeat this same call (same `{reference_name}`, same arguments) in a few seconds to get its result. Do not use a new {reference_name}."
        ),
        None => format!(
            "Repeat this same call (same `{reference_name}`, same arguments) in a few seconds to get its result."
        ),
    };
    let mut err = ToolError::new(
        ErrorKind::InProgress,
        format!(
            "an identical {} with {reference_name} {reference} is in flight (started {} s ago); this call sent nothing",
            tool.name,
            (now - rec.updated_unix).max(0)
        ),
        next,
    )
    .retry_safe(true)
    .with_field(reference_name);
    err.rule = Some("idempotency");
    err
}

/// An unknown outcome too recent for a "not found" to be trusted.
fn settling_error(tool: &ToolDef, reference: &str, wait_secs: i64) -> ToolError {
    let reference_name = tool.merchant_reference.unwrap_or("merchant reference");
    let mut err = ToolError::new(
        ErrorKind::Transport,
        format!(
            "an earlier {} with {reference_name} {reference} has an unknown outcome and the gateway may still be processing it; this call sent nothing",
            tool.name
        ),
        format!(
            "Wait {wait_secs} s, then repeat this same call (same `{reference_name}`, same arguments): the server will look the earlier one up first and send again only if it does not exist."
        ),
    );
    err.outcome = Some(Outcome::Unknown);
    err
}

fn unreadable_list(query: &ToolDef) -> ToolError {
    ToolError::new(
        ErrorKind::Transport,
        format!("{} answered without a readable list", query.name),
        "",
    )
}

/// The value at a dotted path (`metadata.refund_no`).
fn value_at<'v>(value: &'v Value, path: &str) -> Option<&'v Value> {
    path.split('.').try_fold(value, |v, key| v.get(key))
}

/// 16 random hex digits naming this engine in claim owner tokens.
fn instance_id() -> String {
    let n: u64 = rand::random();
    format!("{n:016x}")
}

/// Masks secrets a gateway may echo in its error message (Alipay's `isv.invalid-signature`
/// quotes the whole signed string, tokens and auth codes included).
fn scrub_error(
    mut e: ToolError,
    tool: &ToolDef,
    args: &Map<String, Value>,
    config: &Config,
) -> ToolError {
    let mut secrets: Vec<&str> = tool
        .params
        .iter()
        .filter(|p| p.secret)
        .filter_map(|p| args.get(p.name).and_then(Value::as_str))
        .collect();
    if let Some(p) = &config.pingpp {
        secrets.push(p.api_key.expose());
    }
    if let Some(t) = config
        .alipay
        .as_ref()
        .and_then(|a| a.app_auth_token.as_ref())
    {
        secrets.push(t.expose());
    }
    e.message = crate::redact::scrub(&e.message, &secrets);
    if let Some(m) = e.upstream.as_mut().and_then(|u| u.message.as_mut()) {
        *m = crate::redact::scrub(m, &secrets);
    }
    e
}

fn store_error(e: crate::store::StoreError) -> ToolError {
    ToolError::new(
        ErrorKind::Configuration,
        format!("the state database failed: {e}; nothing was sent"),
        "Tell the operator (ZHIFU_STATE_DB); retry later.",
    )
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
