//! Runs one tool call end to end, independent of MCP: orchestration only.
//!
//! [`Engine::prepare`]: availability → validation → checks → policy (nothing sent; a refusal is
//! audited). Then the MCP layer asks the user when the policy says so. [`Engine::execute`]: the
//! idempotency guard ([`crate::guard::idempotency`]) around the provider call
//! ([`crate::providers`]), then the audit record. [`Engine::call`] does both for callers that
//! cannot ask anyone (the `call` command).

use std::sync::{Arc, OnceLock};
use std::time::{Instant, SystemTime};

use serde_json::{Map, Value};
use tokio::sync::{Mutex, OnceCell};

use crate::config::{Config, ServerConfig};
use crate::context::CallContext;
use crate::error::{ErrorKind, ToolError};
use crate::guard::audit::{AuditRecord, pick_upstream_ids, rfc3339_utc_millis, summarize_args};
use crate::guard::confirm::{self, ConfirmRequest, Confirmation, Tickets};
use crate::guard::idempotency::{Calls, Guard, GuardedCall, Spend, call_digest};
use crate::guard::policy::{self, CallFacts, Decision};
use crate::guard::store::Store;
use crate::money::yuan_from_fen;
use crate::money_facts::{self, MoneyFacts, reference_of};
use crate::providers::{Environment, Gateways, ListPage, http::Http, not_configured};

use crate::time::unix_now;
use crate::tool::{Effect, Operation, Provider, ToolDef};
use crate::validate::Validators;

// The path the binary uses.
pub use crate::services::Services;

/// Produces the configuration later (the embedded sandbox starts in the background).
pub type PendingConfig = std::pin::Pin<Box<dyn Future<Output = Result<Config, String>> + Send>>;

/// The tool table plus everything needed to run its tools.
pub struct Engine {
    tools: &'static [&'static ToolDef],
    validators: Validators,
    config: OnceCell<Result<Arc<Config>, String>>,
    pending: Mutex<Option<PendingConfig>>,
    /// Settings known before the providers are: which tools are listed and callable, policy.
    server: ServerConfig,
    /// Providers that are not configured: their tools are not listed (a call says how to configure).
    unconfigured: Vec<Provider>,
    gateways: Gateways,
    guard: Guard,
    audit: crate::guard::audit::AuditLog,
    tickets: Tickets,
    /// Files and texts offered as MCP resources (e.g. a parsed bill's rows).
    resources: Arc<crate::mcp::resources::Resources>,
    /// The state store, for operations that read received events (and the receivers).
    store: Arc<dyn Store>,
}

/// A validated call that policy allows, waiting for confirmation (if needed) and execution.
pub struct Prepared {
    pub tool: &'static ToolDef,
    args: Map<String, Value>,
    config: Arc<Config>,
    /// Digest of the validated arguments (defaults filled): binds confirmations and idempotency.
    /// Computed when one of them first needs it ([`Prepared::digest`]).
    digest: OnceLock<String>,
    decision: Decision,
    environment: Environment,
    /// Amount, payees and batch size, as the spec reads them from the arguments.
    facts: MoneyFacts,
    record: AuditRecord,
    started: Instant,
}

impl Prepared {
    /// The digest of the validated arguments (see [`call_digest`]).
    pub fn digest(&self) -> &str {
        self.digest
            .get_or_init(|| call_digest(self.tool.name, &self.args))
    }
}

impl Engine {
    /// An engine whose configuration is ready now.
    pub fn new(
        tools: &'static [&'static ToolDef],
        config: Config,
        services: Services,
    ) -> Result<Self, String> {
        let mut engine = Self::build(tools, config.server.clone(), None, services)?;
        engine.unconfigured = tools
            .iter()
            .map(|t| t.provider)
            .filter(|p| !config.offered(*p))
            .collect();
        engine.unconfigured.sort();
        engine.unconfigured.dedup();
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
        mut server: ServerConfig,
        pending: Option<PendingConfig>,
        services: Services,
    ) -> Result<Self, String> {
        // Allowlist entries may use other servers' names (`mobilePay` in AP_SELECT_TOOLS).
        for name in server.tools.iter_mut().flatten() {
            if let Some(ours) = crate::compat::tool_named(tools, name) {
                *name = ours.to_string();
            }
        }
        policy::check_tool_names(&server, tools)?;
        let timeout = server.state.http_timeout_ms.map_or(
            crate::providers::http::REQUEST_TIMEOUT,
            std::time::Duration::from_millis,
        );
        Ok(Engine {
            tools,
            validators: Validators::new(tools.len()),
            config: OnceCell::new(),
            pending: Mutex::new(pending),
            server,
            unconfigured: Vec::new(),
            gateways: Gateways::new(Http::with_timeout(timeout)),
            tickets: Tickets::new(services.store.clone()),
            store: services.store.clone(),
            guard: Guard::new(services.store, timeout),
            audit: services.audit,
            resources: Arc::default(),
        })
    }

    /// The resources this engine offers (read by the MCP layer's `resources/*`).
    pub fn resources(&self) -> &Arc<crate::mcp::resources::Resources> {
        &self.resources
    }

    /// The shared HTTP client, for composite operations that download a linked file.
    pub(crate) fn http(&self) -> &crate::providers::http::Http {
        self.gateways.http()
    }

    /// Runs a `read` tool of the table from inside a composite operation: validated like any
    /// call and sent through its provider; the composite call itself is the one audited.
    /// (Boxed: a composite operation runs inside `dispatch` and calls back into it.)
    pub(crate) fn call_inner<'a>(
        &'a self,
        name: &'a str,
        args: Map<String, Value>,
        config: &'a Config,
        ctx: &'a CallContext,
    ) -> std::pin::Pin<Box<dyn Future<Output = Result<Value, ToolError>> + Send + 'a>> {
        Box::pin(async move {
            let Some((index, tool)) = self.find(name).filter(|(_, t)| t.effect == Effect::Read)
            else {
                return Err(ToolError::new(
                    ErrorKind::Configuration,
                    format!(
                        "a composite operation needs the read tool `{name}`, which is not in the table"
                    ),
                    "Report this bug.",
                ));
            };
            let args = self.validators.check(index, tool, args, config)?;
            self.dispatch(tool, &args, config, ctx).await
        })
    }

    /// The server-wide settings (allowlist, read-only, naming).
    pub fn settings(&self) -> &ServerConfig {
        &self.server
    }

    /// The state store (idempotency records, received events).
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// Every tool in the table, listed or not.
    pub fn all_tools(&self) -> &'static [&'static ToolDef] {
        self.tools
    }

    /// A tool of the table by name, with its index (the table is sorted by name).
    fn find(&self, name: &str) -> Option<(usize, &'static ToolDef)> {
        self.tools
            .binary_search_by(|t| t.name.cmp(name))
            .ok()
            .map(|i| (i, self.tools[i]))
    }

    /// Why a tool is not offered in this configuration, if it is not (allowlist, denylist, read-only).
    pub fn refusal(&self, tool: &ToolDef) -> Option<ToolError> {
        policy::availability(&self.server, tool)
    }

    /// The tools a client sees: those of configured providers that policy offers.
    pub fn listed(&self) -> impl Iterator<Item = (usize, &'static ToolDef)> + '_ {
        self.tools
            .iter()
            .copied()
            .enumerate()
            .filter(|(_, t)| !self.unconfigured.contains(&t.provider) || self.any_provider_op(t))
            .filter(|(_, t)| self.refusal(t).is_none())
    }

    /// A tool over both gateways ([`crate::tool::LocalOp::any_provider`]) while at least one
    /// provider is configured.
    fn any_provider_op(&self, tool: &ToolDef) -> bool {
        let configured = [Provider::Pingpp, Provider::Alipay]
            .iter()
            .any(|p| !self.unconfigured.contains(p));
        matches!(tool.operation, Operation::Local { op } if op.any_provider()) && configured
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
        self.call_with(name, args, &CallContext::none()).await
    }

    /// [`Engine::call`] with a client's progress sink and cancellation.
    pub async fn call_with(
        &self,
        name: &str,
        args: Map<String, Value>,
        ctx: &CallContext,
    ) -> Result<Value, ToolError> {
        let prepared = self.prepare(name, args).await?;
        let confirmation = if prepared.needs_confirmation() {
            Confirmation::Unsupported
        } else {
            Confirmation::NotRequired
        };
        self.execute(prepared, confirmation, ctx).await
    }

    /// Validates and checks a call against policy; nothing is sent. Refusals are audited.
    pub async fn prepare(
        &self,
        name: &str,
        args: Map<String, Value>,
    ) -> Result<Prepared, ToolError> {
        let started = Instant::now();
        let Some((index, tool)) = self.find(name) else {
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
        match self.prepare_checked(index, tool, args, &mut record).await {
            Ok((args, config, decision, environment, facts)) => Ok(Prepared {
                tool,
                args,
                config,
                digest: OnceLock::new(),
                decision,
                environment,
                facts,
                record,
                started,
            }),
            Err(e) => Err(self.audit_failure(tool, record, started, e)),
        }
    }

    /// The steps of [`prepare`](Self::prepare) that can refuse the call.
    #[allow(clippy::type_complexity)]
    async fn prepare_checked(
        &self,
        index: usize,
        tool: &'static ToolDef,
        args: Map<String, Value>,
        record: &mut AuditRecord,
    ) -> Result<
        (
            Map<String, Value>,
            Arc<Config>,
            Decision,
            Environment,
            MoneyFacts,
        ),
        ToolError,
    > {
        if let Some(refusal) = self.refusal(tool) {
            return Err(refusal);
        }
        let config = self.config().await?;
        let Some(protocol) = protocol_for(&config, tool) else {
            return Err(not_configured(tool, config.required_setting(tool.provider)));
        };
        let environment = config.environment(tool.provider, protocol);
        record.environment = environment.name.to_string();
        let args = self.validators.check(index, tool, args, &config)?;
        record.args = summarize_args(tool.params, &args);
        record.merchant_reference = reference_of(tool, &args);
        let facts = money_facts::read(tool, &args)?;
        record.amount_fen = facts.amount_fen;
        record.amount = facts.amount_fen.map(yuan_from_fen);
        crate::checks::run(tool, &args, protocol, &crate::time::beijing_today())?;
        let payees: Vec<&str> = facts.payees.iter().map(|(_, v)| v.as_str()).collect();
        let decision = self.server.policy.evaluate(CallFacts {
            tool,
            amount_fen: facts.amount_fen,
            live: environment.live,
            payees: &payees,
            unnamed_payee: facts.unnamed_payee.as_deref(),
        })?;
        Ok((args, config, decision, environment, facts))
    }

    /// What to show the user, when policy asks for confirmation.
    pub fn confirm_request(&self, p: &Prepared) -> Option<ConfirmRequest> {
        if !p.decision.confirm {
            return None;
        }
        let text = |name: &str| {
            p.args
                .get(name)
                .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
        };
        let counterparty = p
            .tool
            .payee_params
            .iter()
            .chain(p.tool.counterparty)
            .find_map(|name| text(name).map(|v| (*name, v)))
            .or_else(|| batch_payees(&p.facts));
        Some(confirm::request(&confirm::Effect {
            tool_title: p.tool.title,
            tool: p.tool.name,
            provider: p.tool.provider.title(),
            environment: p.environment.name,
            amount: p.facts.amount_fen.map(yuan_from_fen),
            items: p.tool.batch.zip(p.facts.items).map(|(b, n)| (n, b.param)),
            reference: p
                .tool
                .merchant_reference
                .and_then(|r| text(r).map(|v| (r, v))),
            counterparty,
        }))
    }

    /// A single-use confirmation ticket bound to this call's arguments (2026-07-28 clients).
    pub async fn seal_ticket(&self, p: &Prepared) -> Result<String, ToolError> {
        self.tickets
            .seal(p.tool.name, p.digest(), unix_now())
            .await
            .map_err(crate::guard::idempotency::store_error)
    }

    /// Whether a ticket echoed by a retry matches this call's arguments and was not used before
    /// (on any instance sharing the state store).
    pub async fn redeem_ticket(&self, p: &Prepared, state: &str) -> bool {
        self.tickets
            .redeem(state, p.tool.name, p.digest(), unix_now())
            .await
    }

    /// Sends a prepared call (when the confirmation allows it) and audits the outcome.
    pub async fn execute(
        &self,
        mut p: Prepared,
        confirmation: Confirmation,
        ctx: &CallContext,
    ) -> Result<Value, ToolError> {
        p.record.confirmation = Some(confirmation.as_str().to_string());
        if p.decision.confirm && confirmation != Confirmation::Accepted {
            let err = confirm::not_confirmed(confirmation);
            return Err(self.audit_failure(p.tool, p.record, p.started, err));
        }
        let call = GuardedCall {
            tool: p.tool,
            args: &p.args,
            digest: &p.digest,
            spend: self.spend(&p),
        };
        let calls = EngineCalls {
            engine: self,
            config: &p.config,
            ctx,
        };
        let provider = p.tool.provider;
        let daily = |fen, spent, limit| {
            self.server
                .policy
                .daily_refusal(provider, fen, spent, limit)
        };
        let guarded = self.guard.run(&call, &calls, daily).await;
        p.record.idempotency = guarded.idempotency.map(str::to_string);
        self.audit(p.tool, p.record, p.started, guarded.outcome.as_ref());
        guarded.outcome
    }

    /// A gateway read on behalf of an engine-run operation (wait_for_payment's query):
    /// availability, validation, the gateway call. Only `read` tools over the network; no guard
    /// (reads need none) and no audit line of its own.
    pub async fn read(
        &self,
        name: &str,
        args: Map<String, Value>,
        config: &Config,
    ) -> Result<Value, ToolError> {
        let Some((index, tool)) = self.find(name) else {
            return Err(ToolError::new(
                ErrorKind::NotAvailable,
                format!("unknown tool `{name}`"),
                "",
            ));
        };
        if let Some(refusal) = self.refusal(tool) {
            return Err(refusal);
        }
        let (Effect::Read, false) = (
            tool.effect,
            matches!(tool.operation, Operation::Local { .. }),
        ) else {
            return Err(ToolError::new(
                ErrorKind::NotAvailable,
                format!("`{name}` is not a gateway read"),
                "",
            ));
        };
        let Some(protocol) = config.protocol(tool.provider) else {
            return Err(not_configured(tool, config.required_setting(tool.provider)));
        };
        let args = self.validators.check(index, tool, args, config)?;
        self.gateways
            .call(protocol, tool, &args)
            .await
            .map_err(|e| e.scrubbed(&protocol.secrets(), tool.provider_def.secret_fields))
    }

    /// The spend a money-moving call reserves against its provider's daily limit.
    fn spend(&self, p: &Prepared) -> Option<Spend> {
        let (Some(fen), Effect::MovesMoney) = (p.decision.reserve_fen, p.tool.effect) else {
            return None;
        };
        let daily_limit_fen = self
            .server
            .policy
            .limits
            .get(&p.tool.provider)
            .and_then(|l| l.daily_fen);
        Some(Spend {
            fen,
            daily_limit_fen,
        })
    }

    /// The upstream (or local) operation, then what the spec says about its result: a result
    /// matching `pending_when` is not final (UNKNOWN), and a `follow_up` query completes it.
    async fn dispatch(
        &self,
        tool: &ToolDef,
        args: &Map<String, Value>,
        config: &Config,
        ctx: &CallContext,
    ) -> Result<Value, ToolError> {
        let mut value = self.call_provider(tool, args, config, ctx).await?;
        if args.get("compact") == Some(&Value::Bool(true)) {
            compact_list(&mut value);
        }
        if let Some((field, v)) = tool
            .pending_when
            .iter()
            .find(|(f, v)| value.get(*f).and_then(Value::as_str) == Some(*v))
        {
            return Err(not_final(tool, field, v));
        }
        if let Some(follow) = tool.follow_up
            && follow
                .when
                .iter()
                .all(|(f, v)| value.get(*f).and_then(Value::as_str) == Some(*v))
        {
            self.follow_up(tool, follow, args, config, ctx, &mut value)
                .await;
        }
        Ok(value)
    }

    /// Queries the tool's `query_tool` and copies fields of its answer into `value`. The call
    /// itself already succeeded: a failed follow-up only leaves the fields out.
    async fn follow_up(
        &self,
        tool: &ToolDef,
        follow: &crate::tool::FollowUp,
        args: &Map<String, Value>,
        config: &Config,
        ctx: &CallContext,
        value: &mut Value,
    ) {
        let Some((qi, query)) = tool.query_tool.and_then(|q| self.find(q)) else {
            return;
        };
        let shared: Map<String, Value> = query
            .params
            .iter()
            .filter_map(|qp| args.get(qp.name).map(|v| (qp.name.to_string(), v.clone())))
            .collect();
        let answer = match self.validators.check(qi, query, shared, config) {
            Ok(qargs) => self.call_provider(query, &qargs, config, ctx).await,
            Err(e) => Err(e),
        };
        match (answer, value.as_object_mut()) {
            (Ok(found), Some(result)) => {
                for (to, from) in follow.copy {
                    if let Some(v) = found.get(*from) {
                        result.insert((*to).to_string(), v.clone());
                    }
                }
            }
            (Err(e), _) => {
                tracing::warn!(tool = tool.name, error = %e.message, "follow-up query failed");
            }
            _ => {}
        }
    }

    /// The provider call itself; secrets a gateway echoes are masked.
    async fn call_provider(
        &self,
        tool: &ToolDef,
        args: &Map<String, Value>,
        config: &Config,
        ctx: &CallContext,
    ) -> Result<Value, ToolError> {
        let Some(protocol) = protocol_for(config, tool) else {
            return Err(not_configured(tool, config.required_setting(tool.provider)));
        };
        let outcome = match tool.operation {
            Operation::Local { op } => {
                match crate::composite::run(self, op, args, config, ctx).await {
                    Some(outcome) => outcome,
                    None => protocol.local(op, args),
                }
            }
            _ => self.gateways.call(protocol, tool, args).await,
        };
        outcome.map_err(|e| {
            let mut secrets = protocol.secrets();
            secrets.extend(
                tool.params
                    .iter()
                    .filter(|p| p.secret)
                    .filter_map(|p| args.get(p.name).and_then(Value::as_str)),
            );
            e.scrubbed(&secrets, tool.provider_def.secret_fields)
        })
    }

    /// Audits a call that ended before or at execution with an error; returns the error.
    fn audit_failure(
        &self,
        tool: &ToolDef,
        record: AuditRecord,
        started: Instant,
        err: ToolError,
    ) -> ToolError {
        self.audit(tool, record, started, Err(&err));
        err
    }

    /// Writes the audit line of one call.
    fn audit(
        &self,
        tool: &ToolDef,
        mut record: AuditRecord,
        started: Instant,
        outcome: Result<&Value, &ToolError>,
    ) {
        if !self.audit.is_enabled() {
            return;
        }
        record.time = rfc3339_utc_millis(SystemTime::now());
        record.duration_ms = started.elapsed().as_millis() as u64;
        match outcome {
            Ok(v) => {
                record.result = "ok".into();
                record.upstream_ids = pick_upstream_ids(tool.upstream_ids, v);
            }
            Err(e) => {
                record.result = e.kind.as_str().to_string();
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
        if let Err(e) = self.audit.write(&record) {
            tracing::error!(error = %e, "could not write the audit log");
        }
    }
}

/// What the guard may do through the engine during one call.
struct EngineCalls<'a> {
    engine: &'a Engine,
    config: &'a Config,
    ctx: &'a CallContext,
}

impl Calls for EngineCalls<'_> {
    fn tool(&self, name: &str) -> Option<&'static ToolDef> {
        self.engine.find(name).map(|(_, t)| t)
    }

    fn validate(
        &self,
        tool: &'static ToolDef,
        args: Map<String, Value>,
    ) -> Result<Map<String, Value>, ToolError> {
        let (index, _) = self.engine.find(tool.name).ok_or_else(|| {
            ToolError::new(
                ErrorKind::NotAvailable,
                format!("unknown tool `{}`", tool.name),
                "",
            )
        })?;
        self.engine.validators.check(index, tool, args, self.config)
    }

    async fn dispatch(
        &self,
        tool: &'static ToolDef,
        args: &Map<String, Value>,
    ) -> Result<Value, ToolError> {
        self.engine
            .dispatch(tool, args, self.config, self.ctx)
            .await
    }

    fn list_page<'v>(
        &self,
        tool: &'static ToolDef,
        result: &'v Value,
        page: usize,
    ) -> Option<ListPage<'v>> {
        self.config
            .protocol(tool.provider)?
            .list_page(tool, result, page)
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

/// A list page in compact form (`compact: true`): each listed object keeps only its plain fields;
/// nested objects and arrays (a charge's signed `credential`, `extra`, `metadata`, `refunds`)
/// are left out.
fn compact_list(value: &mut Value) {
    if let Some(items) = value.get_mut("data").and_then(Value::as_array_mut) {
        for item in items.iter_mut().filter_map(Value::as_object_mut) {
            item.retain(|_, v| !v.is_object() && !v.is_array());
        }
    }
}

/// The protocol a tool runs under: its provider's, or for an operation over both gateways
/// ([`crate::tool::LocalOp::any_provider`]) any configured one.
fn protocol_for<'c>(
    config: &'c Config,
    tool: &ToolDef,
) -> Option<&'c dyn crate::providers::Protocol> {
    config.protocol(tool.provider).or(match tool.operation {
        Operation::Local { op } if op.any_provider() => config
            .protocol(crate::tool::Provider::Pingpp)
            .or_else(|| config.protocol(crate::tool::Provider::Alipay)),
        _ => None,
    })
}

/// A success the gateway itself calls not final (`pending_when`): the outcome is UNKNOWN.
fn not_final(tool: &ToolDef, field: &str, value: &str) -> ToolError {
    let mut e = ToolError::new(
        ErrorKind::Upstream,
        format!(
            "{} answered {field} {value}: the operation is not finished",
            tool.provider.title()
        ),
        crate::error::next_after_unknown(tool),
    )
    .retry_safe(tool.idempotent && tool.merchant_reference.is_some());
    e.outcome = Some(crate::error::Outcome::Unknown);
    e
}

/// A batch's payees for a confirmation, when no argument names one: the first few, and how many
/// more.
fn batch_payees(facts: &MoneyFacts) -> Option<(&'static str, String)> {
    const SHOWN: usize = 5;
    let mut names: Vec<&str> = Vec::new();
    for (_, v) in &facts.payees {
        if !names.contains(&v.as_str()) {
            names.push(v);
        }
    }
    if names.is_empty() {
        return None;
    }
    let (first, rest) = names.split_at(names.len().min(SHOWN));
    let mut text = first.join(", ");
    if !rest.is_empty() {
        text.push_str(&format!(" and {} more", rest.len()));
    }
    Some(("payees", text))
}
