//! The state store: idempotency records, rolling spend counters, received events and the
//! confirmation ticket key and used nonces, behind a small [`Store`] trait with two
//! implementations — [`SqliteStore`] (`sqlite.rs`: one instance, or several processes on one
//! host) and [`PostgresStore`] (`postgres.rs`: several instances on several hosts sharing one
//! truth). The engine only talks to `dyn Store`; this module holds the trait, its types and the
//! decisions both backends share, so their behaviour is the same by construction where it can
//! be, and by one behavioural test suite run against both (`tests/store_backends.rs`) where it
//! cannot.
//!
//! # What is stored
//!
//! * **Idempotency records**, keyed by (provider, tool, merchant reference). Before a write tool
//!   calls the gateway, the engine [`begin`](Store::begin)s the key with a digest of the
//!   canonical arguments ([`args_digest`]). A repeat of the same logical call finds the existing
//!   record: same digest and `Done` → replay the stored result; different digest → refuse
//!   (idempotency conflict); `Pending`/`Unknown` → the outcome is not known, so the model is told
//!   to query the gateway before acting again. A claim carries a [`Lease`]: an owner token and
//!   the time until which the call may still be in flight. A `Pending` record whose lease has not
//!   run out is *in flight* — nobody else may send under that key; its lease runs out only if its
//!   owner died mid-call, and then the record counts as `Unknown`. Taking over an `Unknown` (or
//!   orphaned) record for recovery is a compare-and-set on its owner
//!   ([`take_over`](Store::take_over)), so of several callers exactly one queries and perhaps
//!   resends. [`begin`](Store::begin) claims the key and reserves the spend in one transaction
//!   (one durable commit). [`complete`](Store::complete) records the outcome:
//!   `Done` keeps the result, `Failed` (the call definitely did not execute) deletes the record so
//!   the reference can be used again, `Unknown` keeps the key blocked.
//! * **Spend rows**: one row per money-moving call, reserved *before* the call against a rolling
//!   24-hour limit per provider ([`reserve_spend`](Store::reserve_spend), or inside `begin`): the
//!   sum check and the insert happen in one transaction that no other reservation of the same
//!   provider can interleave with, so two concurrent calls — on any instance — cannot both slip
//!   under the limit. A call that definitely moved no money gives its reservation back
//!   ([`release_spend`](Store::release_spend)); a call with an unknown outcome keeps it.
//! * **Received events** (webhooks, asynchronous notifications): stored once per (provider, event
//!   id); the object state they establish only moves forward (by rank).
//! * **The confirmation ticket key and used nonces**: one key per store, so a ticket sealed by
//!   one instance opens on any other, and a nonce used once on any instance is refused after.
//!
//! Retention: idempotency records are pruned 30 days after their last update
//! ([`IDEM_RETENTION_SECS`]), spend rows after 48 hours ([`SPEND_RETENTION_SECS`], twice the
//! window). Pruning only happens when [`Store::prune`] is called (at start-up).
//!
//! # Semantics every implementation keeps
//!
//! * `begin` is an atomic insert that never overwrites (SQLite: `BEGIN IMMEDIATE` + read +
//!   insert; PostgreSQL: `INSERT … ON CONFLICT DO NOTHING`); when the key is taken it returns
//!   the existing record unchanged and reserves nothing; when the spend would exceed the limit
//!   nothing at all is written.
//! * `complete` never changes a `Done` record; `Failed` deletes; the release of a reservation
//!   happens in the same transaction.
//! * Reservation ids are never reused (AUTOINCREMENT / an identity column), so a late
//!   `release_spend` cannot free someone else's reservation.
//! * Every write is durable when its future completes (SQLite `synchronous=FULL`; PostgreSQL's
//!   default `synchronous_commit=on` — do not turn it off for this database).
//! * A store that cannot write fails the call with [`StoreError::Unavailable`] (or another
//!   error): the engine then sends nothing (fail closed). A write whose commit may or may not
//!   have happened (the connection dropped during `COMMIT`) leaves at worst a `Pending` claim
//!   whose lease runs out, which later calls treat as `Unknown` → query first.
//! * Schema versions are numbered; a database whose schema is newer than the binary knows is
//!   refused ([`StoreError::SchemaTooNew`]) rather than written with old assumptions.
//! * Times are the callers' `now_unix`; keep instance clocks in sync (NTP), since the window,
//!   leases and retention are computed from them.

mod postgres;
mod sqlite;

pub use postgres::{DEFAULT_POOL_SIZE, PostgresOptions, PostgresStore, is_postgres_url};
pub use sqlite::{BUSY_TIMEOUT, OPEN_RETRY, SCHEMA_VERSION, SqliteStore};

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use rsa::sha2::{Digest, Sha256};
use serde_json::Value;

/// Length of the rolling spend window.
pub const SPEND_WINDOW_SECS: i64 = 24 * 3600;
/// Idempotency records older than this (since their last update) may be pruned.
pub const IDEM_RETENTION_SECS: i64 = 30 * 24 * 3600;
/// Lease of [`Store::claim`] (callers that do not manage leases): long enough for any call.
pub const DEFAULT_LEASE_SECS: i64 = 120;
/// Spend rows older than this may be pruned (twice the window).
pub const SPEND_RETENTION_SECS: i64 = 48 * 3600;

/// Failure of the store itself (not of the payment).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store database error: {0}")]
    Database(#[from] rusqlite::Error),
    /// The database server cannot be reached or dropped the connection: nothing was written.
    #[error("the state store is unavailable: {0}")]
    Unavailable(String),
    /// The database server refused a statement.
    #[error("state store database error: {0}")]
    Server(String),
    #[error("store I/O error: {0}")]
    Io(#[from] std::io::Error),
    #[error("idempotency key {0} is not claimed")]
    NotClaimed(String),
    #[error("idempotency key {0} is already done; its result cannot change")]
    AlreadyDone(String),
    #[error("invalid store request: {0}")]
    Invalid(String),
    #[error("store schema version {found} is newer than this build supports ({known})")]
    SchemaTooNew { found: i64, known: i64 },
    #[error("corrupt store record: {0}")]
    Corrupt(String),
}

/// Identity of one logical call: provider, tool and the caller-supplied merchant reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdemKey {
    pub provider: String,
    pub tool: String,
    pub reference: String,
}

impl IdemKey {
    pub fn new(
        provider: impl Into<String>,
        tool: impl Into<String>,
        reference: impl Into<String>,
    ) -> Self {
        IdemKey {
            provider: provider.into(),
            tool: tool.into(),
            reference: reference.into(),
        }
    }
}

impl fmt::Display for IdemKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.provider, self.tool, self.reference)
    }
}

/// State of an idempotency record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IdemState {
    /// Claimed; the call is in flight (or the process died during it).
    Pending,
    /// The call completed; the record holds its result.
    Done,
    /// The outcome is unknown (timeout, unreadable answer): the key stays blocked until the
    /// gateway is queried.
    Unknown,
    /// The call definitely did not execute. Only an argument to [`Store::finish`], which then
    /// deletes the record; never stored.
    Failed,
}

impl IdemState {
    pub fn as_str(self) -> &'static str {
        match self {
            IdemState::Pending => "pending",
            IdemState::Done => "done",
            IdemState::Unknown => "unknown",
            IdemState::Failed => "failed",
        }
    }

    pub(crate) fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "pending" => IdemState::Pending,
            "done" => IdemState::Done,
            "unknown" => IdemState::Unknown,
            "failed" => IdemState::Failed,
            _ => return None,
        })
    }
}

/// A stored idempotency record.
#[derive(Debug, Clone, PartialEq)]
pub struct IdemRecord {
    pub key: IdemKey,
    /// [`args_digest`] of the arguments of the call that claimed the key.
    pub args_digest: String,
    pub state: IdemState,
    /// The result JSON when `Done` (optionally also for `Unknown`).
    pub result: Option<Value>,
    pub created_unix: i64,
    pub updated_unix: i64,
    /// Token of the caller that claimed (or last took over) the key.
    pub owner: String,
    /// A `Pending` record is in flight until then; after it, its owner is presumed dead.
    pub lease_until_unix: i64,
}

impl IdemRecord {
    /// `Pending` with a live lease: another call is sending right now.
    pub fn in_flight(&self, now_unix: i64) -> bool {
        self.state == IdemState::Pending && self.lease_until_unix >= now_unix
    }
}

/// Who holds a claim, and until when the call may be in flight.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub owner: String,
    pub until_unix: i64,
}

/// A spend reservation to make together with a claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpendRequest<'a> {
    pub provider: &'a str,
    pub fen: i64,
    /// `None`: no limit (the spend is still recorded).
    pub daily_limit_fen: Option<i64>,
    /// Recorded with the spend row.
    pub reference: &'a str,
}

/// Answer of [`Store::begin`].
#[derive(Debug, Clone, PartialEq)]
pub enum Begun {
    /// The key was free and is now `Pending` under the lease; the spend (if asked) is reserved.
    Claimed { reservation: Option<i64> },
    /// The key is taken; this is its record (unchanged). Nothing was reserved.
    Existing(Box<IdemRecord>),
    /// The key was free but the spend would exceed the daily limit: nothing was written.
    OverLimit { spent: i64, limit: i64 },
}

/// Answer of [`Store::claim`].
#[derive(Debug, Clone, PartialEq)]
pub enum Claim {
    /// The key was free and is now `Pending` for this call.
    Claimed,
    /// The key is taken; this is its record (unchanged).
    Existing(Box<IdemRecord>),
}

/// Answer of [`Store::reserve_spend`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reservation {
    /// The amount is reserved; `spent_before` is the window total before it.
    Reserved { id: i64, spent_before: i64 },
    /// Reserving would exceed the limit; nothing was recorded. `spent` is the current window
    /// total.
    OverLimit { spent: i64, limit: i64 },
}

/// Rows removed by [`Store::prune`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    pub idempotency: usize,
    pub spend: usize,
}

/// A store operation in flight: owns its inputs, so it can run on any thread or connection.
pub type StoreFuture<T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'static>>;

/// Idempotency records and spend counters. See the module documentation for the semantics an
/// implementation must keep. Every method is asynchronous and owns its arguments: the SQLite
/// implementation runs on the blocking pool (a write waits for `fsync`), a database server's
/// runs on its client.
pub trait Store: Send + Sync + 'static {
    /// The record for (provider, tool, merchant reference), if any.
    fn get(&self, key: IdemKey) -> StoreFuture<Option<IdemRecord>>;

    /// Claims the key for a new call — inserts a `Pending` record with the digest and the lease —
    /// and reserves `spend` against its daily limit, atomically and in one durable commit;
    /// returns the existing record instead when the key is already taken (never overwrites).
    fn begin(&self, begin: Begin) -> StoreFuture<Begun>;

    /// Takes over a record for recovery: succeeds (`true`) only if it is still owned by
    /// `from_owner` and is `Unknown` or `Pending` with an expired lease; it becomes `Pending`
    /// under `lease`. Of several callers racing for the same record exactly one wins.
    fn take_over(
        &self,
        key: IdemKey,
        from_owner: String,
        now_unix: i64,
        lease: Lease,
    ) -> StoreFuture<bool>;

    /// Records the final state of a claimed call: `Done` with the result JSON, `Failed`
    /// (definitely not executed: deletes the record, freeing the key), or `Unknown` (outcome
    /// unknown: the key stays taken); `release` gives a spend reservation back in the same
    /// transaction. A `Done` record never changes ([`StoreError::AlreadyDone`]); `Pending` is
    /// not a final state ([`StoreError::Invalid`]); completing a key that is not stored is
    /// [`StoreError::NotClaimed`], except for `Failed`, which is then a no-op.
    fn complete(
        &self,
        key: IdemKey,
        state: IdemState,
        result: Option<Value>,
        now_unix: i64,
        release: Option<i64>,
    ) -> StoreFuture<()>;

    /// Reserves `spend.fen` against a rolling 24-hour limit for its provider, atomically (check
    /// and insert in one transaction). No limit: the spend is still recorded. Reaching the limit
    /// exactly is allowed; exceeding it is [`Reservation::OverLimit`].
    fn reserve_spend(&self, spend: Spend, now_unix: i64) -> StoreFuture<Reservation>;

    /// Gives a reservation back (the call definitely did not move money). Releasing an id that
    /// does not exist (already released or pruned) is a no-op.
    fn release_spend(&self, reservation_id: i64) -> StoreFuture<()>;

    /// Sum of reserved spend of `provider` in `(now - 86400, now]`.
    fn spent_last_24h(&self, provider: String, now_unix: i64) -> StoreFuture<i64>;

    /// Deletes idempotency records not updated for [`IDEM_RETENTION_SECS`] and spend rows older
    /// than [`SPEND_RETENTION_SECS`].
    fn prune(&self, now_unix: i64) -> StoreFuture<Pruned>;

    /// Stores a received gateway event once: a second event with the same (provider, event id)
    /// is [`Recorded::Duplicate`] and changes nothing. In the same transaction, the object's
    /// known state advances to the event's when its rank is higher (an event arriving late never
    /// moves an object backwards). Durable when the future completes: only then may the
    /// receiver acknowledge the gateway.
    fn record_event(&self, event: ReceivedEvent) -> StoreFuture<Recorded>;

    /// Received events, newest first (by arrival order), filtered.
    fn list_events(&self, filter: EventFilter) -> StoreFuture<Vec<ReceivedEvent>>;

    /// One received event.
    fn get_event(&self, provider: String, event_id: String) -> StoreFuture<Option<ReceivedEvent>>;

    /// The known state of an object (a charge, a trade) from received events.
    fn object_state(&self, provider: String, object_id: String)
    -> StoreFuture<Option<ObjectState>>;

    /// The key that seals confirmation tickets, shared by every instance using this store:
    /// `candidate` is stored if no key exists yet; the stored key is returned either way.
    fn ticket_key(&self, candidate: Vec<u8>) -> StoreFuture<Vec<u8>>;

    /// Marks a ticket nonce used: `true` the first time (on any instance), `false` after.
    /// Nonces past `expires_unix` may be forgotten.
    fn use_nonce(&self, nonce: String, expires_unix: i64, now_unix: i64) -> StoreFuture<bool>;
}

/// A notification a gateway sent (a Ping++ webhook event, an Alipay asynchronous
/// notification), verified before it was stored.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceivedEvent {
    /// `pingpp` or `alipay`.
    pub provider: String,
    /// Ping++ event id (`evt_…`), Alipay `notify_id`.
    pub event_id: String,
    /// `charge.succeeded`, `refund.succeeded`, `trade_status_sync.TRADE_SUCCESS`, …
    pub event_type: String,
    /// The object the event is about (`ch_…`, a trade_no), when it names one.
    pub object_id: Option<String>,
    /// The merchant reference (`order_no`, `out_trade_no`), when it names one.
    pub reference: Option<String>,
    /// The amount the event reports, in fen.
    pub amount_fen: Option<i64>,
    /// The object state the event reports (`paid`, `refunded`, `TRADE_SUCCESS`, …).
    pub object_state: Option<String>,
    /// Order of `object_state` in its object's life: a higher rank is a later state.
    pub state_rank: i64,
    /// When it arrived (set by the store's caller).
    pub received_unix: i64,
    /// The body exactly as received.
    pub raw_body: String,
    /// Whether its signature verified (only verified events are stored today).
    pub verified: bool,
    /// Arrival sequence number, assigned by the store (0 before).
    pub seq: i64,
}

/// Answer of [`Store::record_event`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    Inserted,
    /// Already stored: acknowledged again, nothing changed.
    Duplicate,
}

/// Which events [`Store::list_events`] returns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFilter {
    pub provider: Option<String>,
    pub event_type: Option<String>,
    pub object_id: Option<String>,
    pub reference: Option<String>,
    /// Only events received at or after this time.
    pub since_unix: Option<i64>,
    /// Only events older than this sequence number (the next page).
    pub before_seq: Option<i64>,
    /// At most this many (the caller bounds it).
    pub limit: usize,
}

/// What the received events say about an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectState {
    pub state: String,
    pub rank: i64,
    pub reference: Option<String>,
    pub amount_fen: Option<i64>,
    pub updated_unix: i64,
    /// The event that set this state.
    pub event_id: String,
}

/// Everything [`Store::begin`] needs.
#[derive(Debug, Clone)]
pub struct Begin {
    pub key: IdemKey,
    pub args_digest: String,
    pub now_unix: i64,
    pub lease: Lease,
    pub spend: Option<Spend>,
}

/// A spend to reserve: `fen` of `provider` under an optional rolling daily limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spend {
    pub provider: String,
    pub fen: i64,
    pub daily_limit_fen: Option<i64>,
    /// Recorded with the spend row.
    pub reference: String,
}

/// Hex SHA-256 of the canonical JSON of `canonical_args` (see [`canonical_json`]).
pub fn args_digest(canonical_args: &Value) -> String {
    let digest = Sha256::digest(canonical_json(canonical_args).as_bytes());
    let mut hex = String::with_capacity(64);
    for byte in digest {
        hex.push(char::from(b"0123456789abcdef"[usize::from(byte >> 4)]));
        hex.push(char::from(b"0123456789abcdef"[usize::from(byte & 15)]));
    }
    hex
}

/// Canonical JSON text: object keys sorted recursively (by their UTF-8 bytes), no whitespace,
/// strings and numbers as serde_json writes them. Values are not normalised: `1` and `1.0`, or
/// `"1"` and `1`, are different arguments.
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (key, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                write_canonical(item, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// `Err` for a negative amount: a reservation only ever adds.
pub(crate) fn check_amount(fen: i64) -> Result<(), StoreError> {
    if fen < 0 {
        return Err(StoreError::Invalid(format!(
            "cannot reserve a negative amount ({fen} fen)"
        )));
    }
    Ok(())
}

/// Whether adding `fen` to a window total of `spent` exceeds `limit` (reaching it exactly is
/// allowed; an overflowing sum exceeds any limit). No limit: never.
pub(crate) fn exceeds(spent: i64, fen: i64, limit: Option<i64>) -> bool {
    match limit {
        None => false,
        Some(limit) => spent.checked_add(fen).is_none_or(|total| total > limit),
    }
}

/// What [`Store::complete`] does to a stored record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CompleteStep {
    /// `Failed` for a key that is not stored: nothing to do.
    Nothing,
    /// `Failed`: delete the record, freeing the key.
    Delete,
    /// `Done` / `Unknown`: set the state and result.
    Update,
}

/// The decision of [`Store::complete`] from the requested final `state` and the stored record's
/// state (`None`: not stored).
pub(crate) fn complete_step(
    key: &IdemKey,
    state: IdemState,
    current: Option<IdemState>,
) -> Result<CompleteStep, StoreError> {
    match (state, current) {
        (IdemState::Pending, _) => Err(StoreError::Invalid(format!(
            "{key}: pending is not a final state"
        ))),
        (_, Some(IdemState::Done)) => Err(StoreError::AlreadyDone(key.to_string())),
        (IdemState::Failed, None) => Ok(CompleteStep::Nothing),
        (_, None) => Err(StoreError::NotClaimed(key.to_string())),
        (IdemState::Failed, Some(_)) => Ok(CompleteStep::Delete),
        (IdemState::Done | IdemState::Unknown, Some(_)) => Ok(CompleteStep::Update),
    }
}

/// A stored record from its columns as text (both backends store the state and the result
/// JSON as text).
#[allow(clippy::too_many_arguments)]
pub(crate) fn record_from_columns(
    key: &IdemKey,
    args_digest: String,
    state: &str,
    result: Option<String>,
    created_unix: i64,
    updated_unix: i64,
    owner: String,
    lease_until_unix: i64,
) -> Result<IdemRecord, StoreError> {
    let parsed = IdemState::parse(state)
        .ok_or_else(|| StoreError::Corrupt(format!("{key}: unknown state {state:?}")))?;
    let result = match result {
        Some(text) => Some(
            serde_json::from_str(&text)
                .map_err(|e| StoreError::Corrupt(format!("{key}: result is not JSON: {e}")))?,
        ),
        None => None,
    };
    Ok(IdemRecord {
        key: key.clone(),
        args_digest,
        state: parsed,
        result,
        created_unix,
        updated_unix,
        owner,
        lease_until_unix,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn canonical_json_sorts_keys_recursively_without_whitespace() {
        let value = json!({"b": 1, "a": {"z": [1, {"y": "x", "c": null}], "m": true}});
        assert_eq!(
            canonical_json(&value),
            r#"{"a":{"m":true,"z":[1,{"c":null,"y":"x"}]},"b":1}"#
        );
        assert_eq!(canonical_json(&json!("引号\"")), r#""引号\"""#);
    }

    #[test]
    fn digest_is_sha256_hex_of_canonical_text() {
        // sha256("{}")
        assert_eq!(
            args_digest(&json!({})),
            "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        );
    }

    #[test]
    fn limits_allow_reaching_and_refuse_exceeding_or_overflowing() {
        assert!(!exceeds(90, 10, Some(100)));
        assert!(exceeds(91, 10, Some(100)));
        assert!(exceeds(i64::MAX, 1, Some(i64::MAX)));
        assert!(!exceeds(i64::MAX, 1, None));
    }
}
