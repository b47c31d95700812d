//! The idempotency guard: one movement per merchant reference, whatever the retries, races and
//! crashes.
//!
//! A call with a merchant reference claims `(provider, tool, reference)` and reserves its spend
//! in one store transaction, then sends. A repeat finds the record:
//!
//! | record                                 | what the repeat does                              |
//! |----------------------------------------|---------------------------------------------------|
//! | other arguments                        | refused (the gateway's own conflict error named)  |
//! | `Done`                                 | returns the stored result; nothing is sent        |
//! | `Pending`, lease alive (in flight)     | waits for it (bounded), then "in progress"        |
//! | `Unknown`, or `Pending` with a dead lease | one caller takes it over (compare-and-set), queries the gateway, resends only on a verified "not found" |
//!
//! The store is shared by every process (and, with PostgreSQL, every instance), so all of this
//! holds across them. The guard reads no clock of its own and sends nothing itself: the
//! [`Calls`] it is given does both.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use serde_json::{Map, Value};

use super::store::{
    Begin, Begun, IdemKey, IdemRecord, IdemState, Lease, Reservation, Spend as StoreSpend, Store,
    StoreError,
};
use crate::error::{ErrorKind, Outcome, ToolError};
use crate::tool::{Effect, ToolDef};

/// First and longest pause while polling for an identical call in flight.
const POLL_FIRST: Duration = Duration::from_millis(20);
const POLL_MAX: Duration = Duration::from_millis(250);
/// Key of an `Unknown` record's note: no answer came back, the gateway may still be working.
const MAYBE_RUNNING: &str = "maybe_running";
/// Pages of a list tool that recovery reads before giving up.
pub const RECOVERY_MAX_PAGES: usize = 20;

/// What the guard needs from the engine: the tool table, validation and the way out.
pub trait Calls: Sync {
    /// A tool of the table by name.
    fn tool(&self, name: &str) -> Option<&'static ToolDef>;
    /// Validates and completes arguments for `tool`, as for a call from a client.
    fn validate(
        &self,
        tool: &'static ToolDef,
        args: Map<String, Value>,
    ) -> Result<Map<String, Value>, ToolError>;
    /// Sends one call to its gateway (or runs it locally).
    fn dispatch(
        &self,
        tool: &'static ToolDef,
        args: &Map<String, Value>,
    ) -> impl Future<Output = Result<Value, ToolError>> + Send;
    /// A list result read as one page: its items and the arguments for the next page.
    fn list_page<'v>(
        &self,
        tool: &'static ToolDef,
        result: &'v Value,
        page: usize,
    ) -> Option<crate::providers::ListPage<'v>>;
}

/// One call as the guard sees it.
pub struct GuardedCall<'a> {
    pub tool: &'static ToolDef,
    pub args: &'a Map<String, Value>,
    /// Digest of the validated arguments ([`call_digest`]): a repeat must match it. Filled on
    /// first use, so calls the guard does not key (reads, local tools) never hash their arguments.
    pub digest: &'a OnceLock<String>,
    /// The amount to reserve against the daily limit, when the call moves money.
    pub spend: Option<Spend>,
}

impl GuardedCall<'_> {
    fn digest(&self) -> &str {
        self.digest
            .get_or_init(|| call_digest(self.tool.name, self.args))
    }
}

/// The digest that binds a call's validated arguments (defaults filled) to its idempotency
/// record and to a confirmation ticket.
pub fn call_digest(tool: &str, args: &Map<String, Value>) -> String {
    super::store::args_digest(&serde_json::json!({ "tool": tool, "args": args }))
}

/// A reservation against a provider's rolling 24-hour limit.
#[derive(Debug, Clone)]
pub struct Spend {
    pub fen: i64,
    pub daily_limit_fen: Option<i64>,
}

/// The outcome, and what the guard did (for the audit log).
pub struct Guarded {
    pub outcome: Result<Value, ToolError>,
    /// `new`, `replayed`, `conflict`, `in_progress`, `queried_first`, `unknown_settling`, …
    pub idempotency: Option<&'static str>,
}

/// Why the store could not be used: nothing was sent.
pub type StoreFailure = fn(StoreError) -> ToolError;

/// The guard: the store plus this instance's timing rules.
pub struct Guard {
    store: Arc<dyn Store>,
    /// Random id of this instance, the first half of every claim's owner token.
    instance: String,
    /// Claims made here, the second half of the owner token.
    claims: AtomicU64,
    /// How long a claim may stay in flight before its owner is presumed dead.
    lease_secs: i64,
    /// How long a repeat waits for an identical call in flight before answering "in progress".
    wait_budget: Duration,
    /// How long after an unknown outcome a "not found" from a list can be trusted.
    settle_secs: i64,
}

/// What the recovery query found.
pub enum QueryVerdict {
    /// The operation happened; this is what the gateway says about it.
    Found(Value),
    /// A verified answer says the operation does not exist: sending is safe.
    NotFound,
    /// Nothing can be concluded: the outcome stays unknown.
    Unknown(ToolError),
}

impl Guard {
    /// A guard whose gateway requests time out after `request_timeout`.
    pub fn new(store: Arc<dyn Store>, request_timeout: Duration) -> Self {
        let n: u64 = rand::random();
        Guard {
            store,
            instance: format!("{n:016x}"),
            claims: AtomicU64::new(0),
            // One attempt plus one retry of a request that never connected, plus margin.
            lease_secs: 2 * request_timeout.as_secs().max(1) as i64 + 5,
            wait_budget: request_timeout + Duration::from_secs(5),
            settle_secs: request_timeout.as_secs_f64().ceil() as i64,
        }
    }

    /// The store, for the engine's other bookkeeping.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// Runs `call` under the guard. `daily_refusal` words a refusal when the daily limit is
    /// full (`fen`, `spent`, `limit`).
    pub async fn run<C: Calls>(
        &self,
        call: &GuardedCall<'_>,
        calls: &C,
        daily_refusal: impl Fn(i64, i64, i64) -> ToolError,
    ) -> Guarded {
        let Some(key) = guard_key(call.tool, call.args) else {
            return self.unguarded(call, calls, &daily_refusal).await;
        };
        match self.guarded(call, calls, &key, &daily_refusal).await {
            Ok(g) => g,
            Err(e) => Guarded {
                outcome: Err(e),
                idempotency: None,
            },
        }
    }

    async fn guarded<C: Calls>(
        &self,
        call: &GuardedCall<'_>,
        calls: &C,
        key: &IdemKey,
        daily_refusal: &impl Fn(i64, i64, i64) -> ToolError,
    ) -> Result<Guarded, ToolError> {
        let done = |outcome, what| Guarded {
            outcome,
            idempotency: Some(what),
        };
        let owner = self.new_owner();
        let since = Instant::now();
        loop {
            let now = crate::time::unix_now();
            let lease = Lease {
                owner: owner.clone(),
                until_unix: now + self.lease_secs,
            };
            let begun = self
                .store
                .begin(Begin {
                    key: key.clone(),
                    args_digest: call.digest().to_string(),
                    now_unix: now,
                    lease: lease.clone(),
                    spend: self.spend(call, &key.reference),
                })
                .await
                .map_err(store_error)?;
            let existing = match begun {
                Begun::Claimed { reservation } => {
                    let what = if since.elapsed() > POLL_FIRST {
                        "new_after_wait"
                    } else {
                        "new"
                    };
                    return Ok(done(self.send(call, calls, key, reservation).await, what));
                }
                Begun::OverLimit { spent, limit } => {
                    let fen = call.spend.as_ref().map_or(0, |s| s.fen);
                    return Ok(done(Err(daily_refusal(fen, spent, limit)), "new"));
                }
                Begun::Existing(rec) => rec,
            };
            if existing.args_digest != call.digest() {
                return Ok(done(
                    Err(conflict_error(call.tool, &key.reference)),
                    "conflict",
                ));
            }
            match existing.state {
                IdemState::Done => {
                    let mut value = existing.result.unwrap_or(Value::Null);
                    if let Value::Object(m) = &mut value {
                        m.insert("replayed".into(), Value::Bool(true));
                    }
                    return Ok(done(Ok(value), "replayed"));
                }
                IdemState::Pending if existing.in_flight(now) => {
                    if since.elapsed() >= self.wait_budget {
                        let err = in_progress_error(call.tool, &key.reference, &existing, now);
                        return Ok(done(Err(err), "in_progress"));
                    }
                    self.wait_while_in_flight(key, since).await;
                }
                IdemState::Pending | IdemState::Unknown | IdemState::Failed => {
                    if let Some(wait) = self.too_early_to_query(call.tool, &existing, now) {
                        let err = settling_error(call.tool, &key.reference, wait);
                        return Ok(done(Err(err), "unknown_settling"));
                    }
                    if self
                        .store
                        .take_over(key.clone(), existing.owner.clone(), now, lease.clone())
                        .await
                        .map_err(store_error)?
                    {
                        return Ok(done(self.recover(call, calls, key).await, "queried_first"));
                    }
                    // Another caller took it over first: it is in flight again; wait for it.
                }
            }
        }
    }

    /// Calls without a merchant reference to guard (reads, local operations, payment links):
    /// only the daily reservation applies.
    async fn unguarded<C: Calls>(
        &self,
        call: &GuardedCall<'_>,
        calls: &C,
        daily_refusal: &impl Fn(i64, i64, i64) -> ToolError,
    ) -> Guarded {
        let now = crate::time::unix_now();
        let mut reservation = None;
        if let Some(spend) = self.spend(call, "") {
            let fen = spend.fen;
            match self
                .store
                .reserve_spend(spend, now)
                .await
                .map_err(store_error)
            {
                Err(e) => {
                    return Guarded {
                        outcome: Err(e),
                        idempotency: None,
                    };
                }
                Ok(Reservation::Reserved { id, .. }) => reservation = Some(id),
                Ok(Reservation::OverLimit { spent, limit }) => {
                    return Guarded {
                        outcome: Err(daily_refusal(fen, spent, limit)),
                        idempotency: None,
                    };
                }
            }
        }
        let outcome = calls.dispatch(call.tool, call.args).await;
        if let (Some(id), Err(e)) = (reservation, &outcome)
            && e.outcome != Some(Outcome::Unknown)
        {
            let _ = self.store.release_spend(id).await;
        }
        Guarded {
            outcome,
            idempotency: None,
        }
    }

    /// Sends a call whose key this caller holds, and records the outcome (giving the
    /// reservation back when the call definitely did not happen) in one store transaction.
    async fn send<C: Calls>(
        &self,
        call: &GuardedCall<'_>,
        calls: &C,
        key: &IdemKey,
        reservation: Option<i64>,
    ) -> Result<Value, ToolError> {
        let outcome = calls.dispatch(call.tool, call.args).await;
        // An unknown outcome keeps what is known: whether the gateway may still be working on
        // the request (no answer came back), which delays trusting a "not found".
        let unknown_note = |e: &ToolError| serde_json::json!({ MAYBE_RUNNING: e.maybe_running });
        let (state, stored, release) = match &outcome {
            Ok(v) => (IdemState::Done, Some(v.clone()), None),
            Err(e) if e.outcome == Some(Outcome::Unknown) => {
                (IdemState::Unknown, Some(unknown_note(e)), None)
            }
            Err(_) => (IdemState::Failed, None, reservation),
        };
        self.complete(key, state, stored.as_ref(), release).await;
        outcome
    }

    /// Recovery after an unknown outcome, by the one caller that took the record over: query
    /// first; resend only when a verified answer says the operation does not exist.
    async fn recover<C: Calls>(
        &self,
        call: &GuardedCall<'_>,
        calls: &C,
        key: &IdemKey,
    ) -> Result<Value, ToolError> {
        let tool = call.tool;
        match query_first(calls, tool, call.args, &key.reference).await {
            QueryVerdict::Found(mut v) => {
                if let Value::Object(m) = &mut v {
                    m.insert(
                        "recovered_by_query".into(),
                        Value::String(tool.query_tool.unwrap_or_default().into()),
                    );
                }
                self.complete(key, IdemState::Done, Some(&v), None).await;
                Ok(v)
            }
            // The reservation made by the earlier attempt still stands (an unknown outcome
            // keeps it), so the resend reserves nothing new.
            QueryVerdict::NotFound => self.send(call, calls, key, None).await,
            QueryVerdict::Unknown(mut e) => {
                self.complete(key, IdemState::Unknown, None, None).await;
                let reference_name = tool.merchant_reference.unwrap_or("merchant reference");
                e.outcome = Some(Outcome::Unknown);
                e.message = format!(
                    "an earlier {} with {reference_name} {} has an unknown outcome and checking it failed: {}",
                    tool.name, key.reference, e.message
                );
                e.next_step = crate::error::next_after_unknown(tool);
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
        let at = crate::time::unix_now();
        if let Err(e) = self
            .store
            .complete(key.clone(), state, result.cloned(), at, release)
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
            let now = crate::time::unix_now();
            match self.store.get(key.clone()).await {
                Ok(Some(rec)) if rec.in_flight(now) => continue,
                _ => return,
            }
        }
    }

    /// For a tool whose gateway cannot de-duplicate by the reference (recovery by listing):
    /// how long until a "not found" can be trusted, if it cannot be yet. When no answer came
    /// back (timeout, broken connection), the earlier attempt may still be processing at the
    /// gateway for up to one request timeout after it went unknown; an error answer (5xx) or an
    /// unreadable one ended the gateway's work on it.
    fn too_early_to_query(&self, tool: &ToolDef, rec: &IdemRecord, now: i64) -> Option<i64> {
        let maybe_running = rec
            .result
            .as_ref()
            .and_then(|r| r.get(MAYBE_RUNNING))
            .and_then(Value::as_bool)
            == Some(true);
        if tool.query_match.is_none() || rec.state != IdemState::Unknown || !maybe_running {
            return None;
        }
        let ready = rec.updated_unix + self.settle_secs;
        (now < ready).then_some(ready - now)
    }

    /// A fresh owner token for one claim.
    fn new_owner(&self) -> String {
        let n = self.claims.fetch_add(1, Ordering::Relaxed);
        format!("{}-{n}", self.instance)
    }

    /// The store request for this call's spend, if it reserves one.
    fn spend(&self, call: &GuardedCall<'_>, reference: &str) -> Option<StoreSpend> {
        call.spend.as_ref().map(|s| StoreSpend {
            provider: call.tool.provider.as_str().to_string(),
            fen: s.fen,
            daily_limit_fen: s.daily_limit_fen,
            reference: reference.to_string(),
        })
    }
}

/// Asks the gateway whether an earlier call with an unknown outcome happened.
pub async fn query_first<C: Calls>(
    calls: &C,
    tool: &'static ToolDef,
    args: &Map<String, Value>,
    reference: &str,
) -> QueryVerdict {
    let Some(query) = tool.query_tool.and_then(|q| calls.tool(q)) else {
        return unqueryable(tool);
    };
    let shared: Map<String, Value> = query
        .params
        .iter()
        .filter_map(|qp| args.get(qp.name).map(|v| (qp.name.to_string(), v.clone())))
        .collect();
    if let Some(path) = tool.query_match {
        return query_list(calls, query, shared, path, reference).await;
    }
    let Ok(qargs) = calls.validate(query, shared) else {
        return unqueryable(tool);
    };
    match calls.dispatch(query, &qargs).await {
        Ok(v) => match tool.query_found_field {
            Some(f) if !shows_it_happened(&v, f, tool.query_found_values) => QueryVerdict::NotFound,
            _ => QueryVerdict::Found(v),
        },
        Err(e) if is_verified_not_found(&e) => QueryVerdict::NotFound,
        Err(e) => QueryVerdict::Unknown(e),
    }
}

/// Whether the query's `field` shows the operation happened: present (and, when `values` are
/// given, one of them; a boolean compares as `true` / `false`).
fn shows_it_happened(answer: &Value, field: &str, values: &[&str]) -> bool {
    match answer.get(field) {
        None | Some(Value::Null) => false,
        Some(v) if values.is_empty() => !v.is_null(),
        Some(Value::Bool(b)) => values.contains(&if *b { "true" } else { "false" }),
        Some(v) => v.as_str().is_some_and(|s| values.contains(&s)),
    }
}

/// Recovery through a list tool: pages through it (newest first) looking for the item whose
/// field at `path` equals the reference.
async fn query_list<C: Calls>(
    calls: &C,
    query: &'static ToolDef,
    mut qargs: Map<String, Value>,
    path: &str,
    reference: &str,
) -> QueryVerdict {
    if query.param("limit").is_some() {
        qargs.insert("limit".into(), Value::from(100));
    }
    for page in 1..=RECOVERY_MAX_PAGES {
        let checked = match calls.validate(query, qargs.clone()) {
            Ok(a) => a,
            Err(e) => return QueryVerdict::Unknown(e),
        };
        let list = match calls.dispatch(query, &checked).await {
            Ok(v) => v,
            Err(e) => return QueryVerdict::Unknown(e),
        };
        let Some(page_of) = calls.list_page(query, &list, page) else {
            return QueryVerdict::Unknown(unreadable_list(query));
        };
        if let Some(item) = page_of
            .items
            .iter()
            .find(|item| value_at(item, path).and_then(Value::as_str) == Some(reference))
        {
            return QueryVerdict::Found(item.clone());
        }
        match page_of.next {
            None => return QueryVerdict::NotFound,
            Some(next) => qargs.extend(next),
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
fn unqueryable(tool: &ToolDef) -> QueryVerdict {
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

/// A verified gateway answer meaning "no such operation": only such an answer may lead to a
/// resend. An unsigned or unreadable answer, or an in-progress one, is never "not found".
fn is_verified_not_found(e: &ToolError) -> bool {
    e.not_found && e.upstream.as_ref().is_some_and(|up| up.verified)
}

/// The guard's key: money-moving and other state-changing network calls with a reference.
pub fn guard_key(tool: &ToolDef, args: &Map<String, Value>) -> Option<IdemKey> {
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

/// The state store failed: fail closed.
pub fn store_error(e: StoreError) -> ToolError {
    ToolError::new(
        ErrorKind::Configuration,
        format!("the state database failed: {e}; nothing was sent"),
        "Tell the operator (ZHIFU_STATE_DB); retry later.",
    )
}

#[cfg(test)]
mod tests {
    //! The guard's state machine as a table: a scripted gateway (each call answers the next
    //! scripted outcome and is counted), a real in-memory store, and the guard in between.
    use super::*;
    use crate::error::Upstream;
    use crate::guard::store::SqliteStore;
    use crate::providers::ListPage;
    use crate::tool::{Pagination, ToolDef};
    use serde_json::json;
    use std::sync::Mutex;

    static QUERY: ToolDef = ToolDef {
        name: "query_transfer",
        ..ToolDef::BLANK
    };
    static TRANSFER: ToolDef = ToolDef {
        name: "transfer_fund",
        effect: Effect::MovesMoney,
        idempotent: true,
        merchant_reference: Some("out_biz_no"),
        query_tool: Some("query_transfer"),
        ..ToolDef::BLANK
    };
    static LIST: ToolDef = ToolDef {
        name: "list_refunds",
        pagination: Pagination::Cursor,
        ..ToolDef::BLANK
    };
    static REFUND: ToolDef = ToolDef {
        name: "create_refund",
        effect: Effect::MovesMoney,
        idempotent: true,
        merchant_reference: Some("refund_no"),
        query_tool: Some("list_refunds"),
        query_match: Some("metadata.refund_no"),
        ..ToolDef::BLANK
    };

    /// What the scripted gateway answers.
    #[derive(Clone)]
    enum Answer {
        Ok(Value),
        /// A timeout: no answer, the gateway may still be working.
        Timeout,
        /// An answer meaning the outcome is not known (5xx).
        Pending,
        /// "No such object", signed (`true`) or not.
        NotFound(bool),
        /// A definite rejection.
        Rejected,
    }

    struct Script {
        answers: Mutex<Vec<(&'static str, Answer)>>,
        sent: Mutex<Vec<&'static str>>,
    }

    impl Script {
        fn new(answers: Vec<(&'static str, Answer)>) -> Self {
            Script {
                answers: Mutex::new(answers),
                sent: Mutex::new(Vec::new()),
            }
        }

        fn sent(&self, tool: &str) -> usize {
            self.sent
                .lock()
                .unwrap()
                .iter()
                .filter(|t| **t == tool)
                .count()
        }
    }

    impl Calls for Script {
        fn tool(&self, name: &str) -> Option<&'static ToolDef> {
            [&QUERY, &TRANSFER, &LIST, &REFUND]
                .into_iter()
                .find(|t| t.name == name)
        }

        fn validate(
            &self,
            _: &'static ToolDef,
            args: Map<String, Value>,
        ) -> Result<Map<String, Value>, ToolError> {
            Ok(args)
        }

        async fn dispatch(
            &self,
            tool: &'static ToolDef,
            _: &Map<String, Value>,
        ) -> Result<Value, ToolError> {
            self.sent.lock().unwrap().push(tool.name);
            let answer = {
                let mut answers = self.answers.lock().unwrap();
                let i = answers
                    .iter()
                    .position(|(t, _)| *t == tool.name)
                    .unwrap_or_else(|| panic!("unscripted call of {}", tool.name));
                answers.remove(i).1
            };
            let unknown = |maybe_running| {
                let mut e = ToolError::new(ErrorKind::Transport, "no answer", "");
                e.outcome = Some(Outcome::Unknown);
                e.maybe_running = maybe_running;
                e
            };
            match answer {
                Answer::Ok(v) => Ok(v),
                Answer::Timeout => Err(unknown(true)),
                Answer::Pending => Err(unknown(false)),
                Answer::NotFound(verified) => {
                    let mut e = ToolError::new(ErrorKind::Upstream, "not found", "");
                    e.not_found = true;
                    e.upstream = Some(Box::new(Upstream {
                        verified,
                        ..Upstream::default()
                    }));
                    Err(e)
                }
                Answer::Rejected => Err(ToolError::new(ErrorKind::Upstream, "rejected", "")),
            }
        }

        fn list_page<'v>(
            &self,
            _: &'static ToolDef,
            result: &'v Value,
            _: usize,
        ) -> Option<ListPage<'v>> {
            let items = result.get("data")?.as_array()?;
            let next = (result["has_more"] == true).then(|| {
                Map::from_iter([(
                    "starting_after".to_string(),
                    json!(items.last().unwrap()["id"]),
                )])
            });
            Some(ListPage { items, next })
        }
    }

    fn guard(timeout_ms: u64) -> Guard {
        let mut g = Guard::new(
            Arc::new(SqliteStore::in_memory().unwrap()),
            Duration::from_millis(timeout_ms),
        );
        g.wait_budget = Duration::from_millis(300);
        g
    }

    async fn call(g: &Guard, script: &Script, tool: &'static ToolDef, digest: &str) -> Guarded {
        let key_name = tool.merchant_reference.unwrap();
        let args = Map::from_iter([(key_name.to_string(), json!("R1"))]);
        let digest = OnceLock::from(digest.to_string());
        let call = GuardedCall {
            tool,
            args: &args,
            digest: &digest,
            spend: None,
        };
        g.run(&call, script, |_, _, _| {
            ToolError::new(ErrorKind::PolicyRefused, "", "")
        })
        .await
    }

    fn ok(v: Value) -> Answer {
        Answer::Ok(v)
    }

    /// Each row: the gateway's answers in order, the digests of the calls made one after the
    /// other, and what the last call must come to: its `idempotency` note, whether it is an
    /// error, and how many times the money-moving tool was sent in all.
    #[tokio::test]
    async fn state_machine_table() {
        type Row = (
            &'static str,
            Vec<(&'static str, Answer)>,
            Vec<&'static str>,
            &'static str,
            bool,
            usize,
        );
        let t = "transfer_fund";
        let q = "query_transfer";
        let rows: Vec<Row> = vec![
            (
                "fresh call is sent",
                vec![(t, ok(json!({"id": 1})))],
                vec!["d"],
                "new",
                false,
                1,
            ),
            (
                "exact repeat is replayed",
                vec![(t, ok(json!({"id": 1})))],
                vec!["d", "d"],
                "replayed",
                false,
                1,
            ),
            (
                "changed repeat is refused",
                vec![(t, ok(json!({"id": 1})))],
                vec!["d", "e"],
                "conflict",
                true,
                1,
            ),
            (
                "unknown, then found by the query",
                vec![(t, Answer::Pending), (q, ok(json!({"status": "SUCCESS"})))],
                vec!["d", "d"],
                "queried_first",
                false,
                1,
            ),
            (
                "unknown, verified not found: sent again",
                vec![
                    (t, Answer::Pending),
                    (q, Answer::NotFound(true)),
                    (t, ok(json!({}))),
                ],
                vec!["d", "d"],
                "queried_first",
                false,
                2,
            ),
            (
                "unknown, unsigned not found: never resent",
                vec![(t, Answer::Pending), (q, Answer::NotFound(false))],
                vec!["d", "d"],
                "queried_first",
                true,
                1,
            ),
            (
                "unknown, query still pending: never resent",
                vec![(t, Answer::Pending), (q, Answer::Pending)],
                vec!["d", "d"],
                "queried_first",
                true,
                1,
            ),
            (
                "a definite rejection frees the reference",
                vec![(t, Answer::Rejected), (t, ok(json!({})))],
                vec!["d", "d"],
                "new",
                false,
                2,
            ),
        ];
        for (case, answers, digests, note, is_err, sends) in rows {
            let (g, script) = (guard(1000), Script::new(answers));
            let mut last = None;
            for d in digests {
                last = Some(call(&g, &script, &TRANSFER, d).await);
            }
            let last = last.unwrap();
            assert_eq!(last.idempotency, Some(note), "{case}");
            assert_eq!(
                last.outcome.is_err(),
                is_err,
                "{case}: {:?}",
                last.outcome.err()
            );
            assert_eq!(script.sent(t), sends, "{case}: sends");
            assert!(
                script.answers.lock().unwrap().is_empty(),
                "{case}: every scripted answer used"
            );
        }
    }

    #[tokio::test]
    async fn an_identical_call_in_flight_is_waited_for_never_sent() {
        let g = guard(1000);
        let script = Script::new(vec![]);
        // Another caller holds the key with a live lease (it is sending right now).
        let key = IdemKey::new("pingpp", "transfer_fund", "R1");
        let now = crate::time::unix_now();
        let lease = Lease {
            owner: "other".into(),
            until_unix: now + 60,
        };
        let begin = Begin {
            key,
            args_digest: "d".into(),
            now_unix: now,
            lease,
            spend: None,
        };
        g.store.begin(begin).await.unwrap();
        let answer = call(&g, &script, &TRANSFER, "d").await;
        assert_eq!(answer.idempotency, Some("in_progress"));
        let err = answer.outcome.unwrap_err();
        assert_eq!(err.kind, ErrorKind::InProgress);
        assert!(
            err.next_step.contains("query_transfer"),
            "{}",
            err.next_step
        );
        assert_eq!(
            script.sent("transfer_fund"),
            0,
            "nothing sent while in flight"
        );
    }

    #[tokio::test]
    async fn list_recovery_finds_the_reference_across_pages_and_waits_after_a_timeout() {
        let r = "create_refund";
        let l = "list_refunds";
        let page1 =
            json!({"data": [{"id": "re_9", "metadata": {"refund_no": "other"}}], "has_more": true});
        let page2 =
            json!({"data": [{"id": "re_1", "metadata": {"refund_no": "R1"}}], "has_more": false});
        // A 5xx answer ended the gateway's work: the next call lists at once and finds it.
        let script = Script::new(vec![(r, Answer::Pending), (l, ok(page1)), (l, ok(page2))]);
        let g = guard(1000);
        call(&g, &script, &REFUND, "d").await;
        let found = call(&g, &script, &REFUND, "d").await;
        assert_eq!(found.outcome.unwrap()["id"], "re_1");
        assert_eq!(script.sent(r), 1);
        // No answer at all: the refund may still be processing, so a "not found" is not
        // trusted until one request timeout has passed; nothing is listed or sent meanwhile.
        let script = Script::new(vec![(r, Answer::Timeout)]);
        let g = guard(30_000);
        call(&g, &script, &REFUND, "d").await;
        let early = call(&g, &script, &REFUND, "d").await;
        assert_eq!(early.idempotency, Some("unknown_settling"));
        assert!(early.outcome.unwrap_err().next_step.contains("Wait"));
        assert_eq!((script.sent(r), script.sent(l)), (1, 0));
    }

    #[test]
    fn a_found_field_matches_its_values_and_a_boolean_compares_as_text() {
        let reversed = json!({"reversed": true, "status": "canceled"});
        assert!(shows_it_happened(&reversed, "reversed", &["true"]));
        assert!(!shows_it_happened(
            &json!({"reversed": false}),
            "reversed",
            &["true"]
        ));
        assert!(shows_it_happened(&reversed, "status", &["canceled"]));
        assert!(!shows_it_happened(&reversed, "status", &["reversed"]));
        assert!(shows_it_happened(&reversed, "status", &[]));
        assert!(!shows_it_happened(&json!({"status": null}), "status", &[]));
    }
}
