//! Idempotency records and rolling spend counters behind a small [`Store`] trait, with a SQLite
//! implementation ([`SqliteStore`]) for one server instance or several processes on one host.
//!
//! # What is stored
//!
//! * **Idempotency records**, keyed by (provider, tool, merchant reference). Before a write tool
//!   calls the gateway, the engine [`claim`](Store::claim)s the key with a digest of the
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
//!   24-hour limit per provider ([`reserve_spend`](Store::reserve_spend): the sum check and the
//!   insert happen in one write transaction, so two concurrent calls cannot both slip under the
//!   limit). A call that definitely moved no money gives its reservation back
//!   ([`release_spend`](Store::release_spend)); a call with an unknown outcome keeps it.
//!
//! Retention: idempotency records are pruned 30 days after their last update
//! ([`IDEM_RETENTION_SECS`]), spend rows after 48 hours ([`SPEND_RETENTION_SECS`], twice the
//! window). Pruning only happens when [`Store::prune`] is called.
//!
//! # Why a `Mutex<Connection>` and a synchronous API
//!
//! rusqlite is synchronous. Every operation is one short transaction on an indexed table. A
//! single connection behind a [`Mutex`] serializes callers within the process, which is also what
//! makes the check-and-insert of `claim` and `reserve_spend` atomic there. Across processes
//! sharing one database file, atomicity comes from SQLite itself: every write runs in a
//! `BEGIN IMMEDIATE` transaction, and a second process waits up to [`BUSY_TIMEOUT`] for the write
//! lock.
//!
//! The file uses WAL journaling with `synchronous=FULL`: a claim that returned is on disk even
//! after a power loss, so a crash can never make the server forget that a payment was started.
//! The price is one `fsync` per write. Measured on the development VM (release build): `get`
//! ≈ 6 µs, `claim` / `finish` / `reserve_spend` ≈ 3.5–4 ms on a file (≈ 7 µs in memory). That
//! is small next to the gateway round trip it protects, but too long to block an async worker
//! thread, so the engine should run writes inside `tokio::task::spawn_blocking` (reads may be
//! called directly). Writes are serialized, so one database takes a few hundred writes per second
//! on such a disk — plenty for tool calls. `synchronous=NORMAL` would make writes take microseconds but could lose the
//! last claims on power loss, i.e. allow a double payment after a reboot; it is deliberately not
//! used.
//!
//! # Several instances behind a load balancer
//!
//! A SQLite file only coordinates processes on one host. When several server instances run behind
//! a load balancer, they must share one database, or the same merchant reference can be executed
//! twice (once per instance) and each instance only sees its own share of the daily spend. The
//! engine only talks to `dyn Store`, so a shared database takes over by implementing the trait;
//! the semantics each method must keep are:
//!
//! * `claim` is a single atomic insert that never overwrites. In PostgreSQL:
//!   `INSERT INTO idempotency (provider, tool, reference, args_digest, state, created, updated)
//!   VALUES ($1, $2, $3, $4, 'pending', $5, $5) ON CONFLICT DO NOTHING RETURNING 1`; when no row
//!   comes back, `SELECT` the existing record and return [`Claim::Existing`] (if it vanished in
//!   between because its owner finished it as `Failed`, retry the insert).
//! * `finish` is a single `UPDATE … WHERE state <> 'done'` (or `DELETE` for `Failed`).
//! * `reserve_spend` reads the window sum and inserts in one transaction that no concurrent
//!   reservation for the same provider can interleave with: either lock a per-provider row first
//!   (`SELECT … FROM spend_limits WHERE provider = $1 FOR UPDATE`, then `SELECT sum(fen) …` and
//!   `INSERT`), or run the transaction at `SERIALIZABLE` isolation and retry on serialization
//!   failures (SQLSTATE `40001`). Plain `READ COMMITTED` with `SELECT sum` then `INSERT` is **not**
//!   enough: two instances can both read the same sum and both insert.
//! * Reservation ids must never be reused (use a sequence / identity column), so a late
//!   `release_spend` cannot free someone else's reservation.
//! * Times are the callers' `now_unix`; keep instance clocks in sync (NTP), since the window and
//!   retention are computed from them.
//!
//! Redis can implement `claim` with `SET key value NX` but needs a Lua script (or `WATCH`/`MULTI`)
//! for the check-and-insert of `reserve_spend` over a sorted set of spend rows.

use std::fmt;
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use rsa::sha2::{Digest, Sha256};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use serde_json::Value;

/// Length of the rolling spend window.
pub const SPEND_WINDOW_SECS: i64 = 24 * 3600;
/// Idempotency records older than this (since their last update) may be pruned.
pub const IDEM_RETENTION_SECS: i64 = 30 * 24 * 3600;
/// Lease of [`Store::claim`] (callers that do not manage leases): long enough for any call.
pub const DEFAULT_LEASE_SECS: i64 = 120;
/// Spend rows older than this may be pruned (twice the window).
pub const SPEND_RETENTION_SECS: i64 = 48 * 3600;
/// How long a write waits for another process holding the database's write lock.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Schema version kept in SQLite's `user_version`.
pub const SCHEMA_VERSION: i64 = 3;
/// How long opening a database retries while another process holds a lock it needs (the WAL
/// switch and the migration take write locks that a busy handler does not always wait for).
pub const OPEN_RETRY: Duration = Duration::from_secs(10);

/// Failure of the store itself (not of the payment).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store database error: {0}")]
    Database(#[from] rusqlite::Error),
    #[error("store I/O error: {0}")]
    Io(#[from] std::io::Error),
    #[error("idempotency key {0} is not claimed")]
    NotClaimed(String),
    #[error("idempotency key {0} is already done; its result cannot change")]
    AlreadyDone(String),
    #[error("invalid store request: {0}")]
    Invalid(String),
    #[error("store schema version {found} is newer than this build supports ({SCHEMA_VERSION})")]
    SchemaTooNew { found: i64 },
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

    fn parse(text: &str) -> Option<Self> {
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

const SCHEMA_V1: &str = "
CREATE TABLE idempotency (
    provider     TEXT    NOT NULL,
    tool         TEXT    NOT NULL,
    reference    TEXT    NOT NULL,
    args_digest  TEXT    NOT NULL,
    state        TEXT    NOT NULL CHECK (state IN ('pending', 'done', 'unknown')),
    result       TEXT,
    created_unix INTEGER NOT NULL,
    updated_unix INTEGER NOT NULL,
    PRIMARY KEY (provider, tool, reference)
) WITHOUT ROWID;
CREATE INDEX idempotency_updated ON idempotency (updated_unix);
-- AUTOINCREMENT: ids are never reused, so a late release cannot free another reservation.
CREATE TABLE spend (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    provider     TEXT    NOT NULL,
    fen          INTEGER NOT NULL CHECK (fen >= 0),
    created_unix INTEGER NOT NULL,
    reference    TEXT    NOT NULL
);
CREATE INDEX spend_provider_time ON spend (provider, created_unix);
";

/// v3: received events, the object states they establish, and the shared confirmation
/// ticket key and used nonces.
const SCHEMA_V3: &str = "
CREATE TABLE events (
    seq            INTEGER PRIMARY KEY AUTOINCREMENT,
    provider       TEXT    NOT NULL,
    event_id       TEXT    NOT NULL,
    event_type     TEXT    NOT NULL,
    object_id      TEXT,
    reference      TEXT,
    amount_fen     INTEGER,
    object_state   TEXT,
    state_rank     INTEGER NOT NULL,
    received_unix  INTEGER NOT NULL,
    raw_body       TEXT    NOT NULL,
    verified       INTEGER NOT NULL,
    UNIQUE (provider, event_id)
);
CREATE INDEX events_object ON events (provider, object_id);
CREATE INDEX events_reference ON events (provider, reference);
CREATE TABLE objects (
    provider      TEXT    NOT NULL,
    object_id     TEXT    NOT NULL,
    state         TEXT    NOT NULL,
    rank          INTEGER NOT NULL,
    reference     TEXT,
    amount_fen    INTEGER,
    updated_unix  INTEGER NOT NULL,
    event_id      TEXT    NOT NULL,
    PRIMARY KEY (provider, object_id)
) WITHOUT ROWID;
CREATE TABLE ticket_key (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    key  BLOB    NOT NULL
);
CREATE TABLE ticket_nonces (
    nonce         TEXT    PRIMARY KEY,
    expires_unix  INTEGER NOT NULL
) WITHOUT ROWID;
";

/// v2: leases. Records claimed by a v1 build get an empty owner and an expired lease, so a
/// leftover `pending` one is treated as orphaned (recovered by query), as v1 treated it.
const SCHEMA_V2: &str = "
ALTER TABLE idempotency ADD COLUMN owner TEXT NOT NULL DEFAULT '';
ALTER TABLE idempotency ADD COLUMN lease_until_unix INTEGER NOT NULL DEFAULT 0;
";

/// [`Store`] on one SQLite connection (a file, or memory for tests and `--no-store` runs).
pub struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore").finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens (or creates) the database file at `path`, creating parent directories, with WAL
    /// journaling, `synchronous=FULL`, a [`BUSY_TIMEOUT`], and the schema migrated to
    /// [`SCHEMA_VERSION`].
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref();
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)?;
        }
        let deadline = std::time::Instant::now() + OPEN_RETRY;
        let mut pause = Duration::from_millis(5);
        loop {
            match Self::open_once(path) {
                Err(StoreError::Database(e))
                    if is_busy(&e) && std::time::Instant::now() < deadline =>
                {
                    // Another process is creating or migrating the same file right now.
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(200));
                }
                other => return other,
            }
        }
    }

    fn open_once(path: &Path) -> Result<Self, StoreError> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Invalid(format!(
                "could not switch {} to WAL journaling (got {mode})",
                path.display()
            )));
        }
        conn.pragma_update(None, "synchronous", "FULL")?;
        Self::init(conn)
    }

    /// A private in-memory database: nothing survives the process.
    pub fn in_memory() -> Result<Self, StoreError> {
        Self::init(Connection::open_in_memory()?)
    }

    fn init(mut conn: Connection) -> Result<Self, StoreError> {
        // Migrations run in one write transaction, so two processes opening a new file at the
        // same time do not both create the tables.
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let version: i64 = tx.query_row("PRAGMA user_version", [], |row| row.get(0))?;
        if version > SCHEMA_VERSION {
            return Err(StoreError::SchemaTooNew { found: version });
        }
        if version < 1 {
            tx.execute_batch(SCHEMA_V1)?;
        }
        if version < 2 {
            tx.execute_batch(SCHEMA_V2)?;
        }
        if version < 3 {
            tx.execute_batch(SCHEMA_V3)?;
        }
        // Future migrations: `if version < 4 { … }`, each step inside this one transaction.
        if version < SCHEMA_VERSION {
            tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
        }
        tx.commit()?;
        Ok(SqliteStore {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// The connection. A panic while holding the lock cannot leave a transaction half-applied
    /// (an unfinished rusqlite transaction rolls back when dropped), so a poisoned lock is safe to
    /// reuse.
    fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// SQLITE_BUSY / SQLITE_LOCKED: another connection holds a lock.
fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

fn read_record(key: &IdemKey, conn: &Connection) -> Result<Option<IdemRecord>, StoreError> {
    let row = conn
        .query_row(
            "SELECT args_digest, state, result, created_unix, updated_unix, owner, lease_until_unix
             FROM idempotency WHERE provider = ?1 AND tool = ?2 AND reference = ?3",
            params![key.provider, key.tool, key.reference],
            |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, Option<String>>(2)?,
                    row.get::<_, i64>(3)?,
                    row.get::<_, i64>(4)?,
                    row.get::<_, String>(5)?,
                    row.get::<_, i64>(6)?,
                ))
            },
        )
        .optional()?;
    let Some((args_digest, state, result, created_unix, updated_unix, owner, lease_until_unix)) =
        row
    else {
        return Ok(None);
    };
    let state = IdemState::parse(&state)
        .ok_or_else(|| StoreError::Corrupt(format!("{key}: unknown state {state:?}")))?;
    let result = match result {
        Some(text) => Some(
            serde_json::from_str(&text)
                .map_err(|e| StoreError::Corrupt(format!("{key}: result is not JSON: {e}")))?,
        ),
        None => None,
    };
    Ok(Some(IdemRecord {
        key: key.clone(),
        args_digest,
        state,
        result,
        created_unix,
        updated_unix,
        owner,
        lease_until_unix,
    }))
}

/// Checks the window sum and inserts a spend row, inside the caller's write transaction.
fn reserve_in(
    conn: &Connection,
    spend: SpendRequest<'_>,
    now_unix: i64,
) -> Result<Reservation, StoreError> {
    let spent = window_sum(conn, spend.provider, now_unix)?;
    if let Some(limit) = spend.daily_limit_fen {
        let over = match spent.checked_add(spend.fen) {
            Some(total) => total > limit,
            None => true,
        };
        if over {
            return Ok(Reservation::OverLimit { spent, limit });
        }
    }
    conn.execute(
        "INSERT INTO spend (provider, fen, created_unix, reference) VALUES (?1, ?2, ?3, ?4)",
        params![spend.provider, spend.fen, now_unix, spend.reference],
    )?;
    Ok(Reservation::Reserved {
        id: conn.last_insert_rowid(),
        spent_before: spent,
    })
}

fn window_sum(conn: &Connection, provider: &str, now_unix: i64) -> Result<i64, StoreError> {
    Ok(conn.query_row(
        "SELECT COALESCE(SUM(fen), 0) FROM spend
         WHERE provider = ?1 AND created_unix > ?2 AND created_unix <= ?3",
        params![provider, now_unix - SPEND_WINDOW_SECS, now_unix],
        |row| row.get(0),
    )?)
}

impl SqliteStore {
    /// [`Store::get`], synchronously.
    pub fn get(&self, key: &IdemKey) -> Result<Option<IdemRecord>, StoreError> {
        read_record(key, &self.conn())
    }

    /// [`Store::begin`], synchronously.
    pub fn begin(
        &self,
        key: &IdemKey,
        args_digest: &str,
        now_unix: i64,
        lease: &Lease,
        spend: Option<SpendRequest<'_>>,
    ) -> Result<Begun, StoreError> {
        if let Some(s) = &spend
            && s.fen < 0
        {
            return Err(StoreError::Invalid(format!(
                "cannot reserve a negative amount ({} fen)",
                s.fen
            )));
        }
        let mut conn = self.conn();
        // IMMEDIATE takes the write lock first: no other connection (thread or process) can
        // claim the key or insert spend between the checks and the inserts below.
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        if let Some(existing) = read_record(key, &tx)? {
            return Ok(Begun::Existing(Box::new(existing)));
        }
        let mut reservation = None;
        if let Some(s) = spend {
            match reserve_in(&tx, s, now_unix)? {
                Reservation::Reserved { id, .. } => reservation = Some(id),
                // Nothing written; dropping the transaction rolls it back.
                Reservation::OverLimit { spent, limit } => {
                    return Ok(Begun::OverLimit { spent, limit });
                }
            }
        }
        tx.execute(
            "INSERT INTO idempotency (provider, tool, reference, args_digest, state, result,
                 created_unix, updated_unix, owner, lease_until_unix)
             VALUES (?1, ?2, ?3, ?4, 'pending', NULL, ?5, ?5, ?6, ?7)",
            params![
                key.provider,
                key.tool,
                key.reference,
                args_digest,
                now_unix,
                lease.owner,
                lease.until_unix
            ],
        )?;
        tx.commit()?;
        Ok(Begun::Claimed { reservation })
    }

    /// [`Store::take_over`], synchronously.
    pub fn take_over(
        &self,
        key: &IdemKey,
        from_owner: &str,
        now_unix: i64,
        lease: &Lease,
    ) -> Result<bool, StoreError> {
        let changed = self.conn().execute(
            "UPDATE idempotency SET state = 'pending', owner = ?5, lease_until_unix = ?6,
                 updated_unix = ?7
             WHERE provider = ?1 AND tool = ?2 AND reference = ?3 AND owner = ?4
               AND (state = 'unknown' OR (state = 'pending' AND lease_until_unix < ?7))",
            params![
                key.provider,
                key.tool,
                key.reference,
                from_owner,
                lease.owner,
                lease.until_unix,
                now_unix
            ],
        )?;
        Ok(changed == 1)
    }

    /// [`Store::complete`], synchronously.
    pub fn complete(
        &self,
        key: &IdemKey,
        state: IdemState,
        result: Option<&Value>,
        now_unix: i64,
        release: Option<i64>,
    ) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let current = read_record(key, &tx)?;
        match (state, current) {
            (IdemState::Pending, _) => {
                return Err(StoreError::Invalid(format!(
                    "{key}: pending is not a final state"
                )));
            }
            (_, Some(record)) if record.state == IdemState::Done => {
                return Err(StoreError::AlreadyDone(key.to_string()));
            }
            (IdemState::Failed, None) => {}
            (_, None) => return Err(StoreError::NotClaimed(key.to_string())),
            (IdemState::Failed, Some(_)) => {
                tx.execute(
                    "DELETE FROM idempotency WHERE provider = ?1 AND tool = ?2 AND reference = ?3",
                    params![key.provider, key.tool, key.reference],
                )?;
            }
            (IdemState::Done | IdemState::Unknown, Some(_)) => {
                let result = result.map(Value::to_string);
                tx.execute(
                    "UPDATE idempotency SET state = ?4, result = ?5, updated_unix = ?6
                     WHERE provider = ?1 AND tool = ?2 AND reference = ?3",
                    params![
                        key.provider,
                        key.tool,
                        key.reference,
                        state.as_str(),
                        result,
                        now_unix
                    ],
                )?;
            }
        }
        if let Some(id) = release {
            tx.execute("DELETE FROM spend WHERE id = ?1", params![id])?;
        }
        tx.commit()?;
        Ok(())
    }

    /// [`Store::reserve_spend`], synchronously.
    pub fn reserve_spend(
        &self,
        provider: &str,
        fen: i64,
        daily_limit_fen: Option<i64>,
        now_unix: i64,
        reference: &str,
    ) -> Result<Reservation, StoreError> {
        if fen < 0 {
            return Err(StoreError::Invalid(format!(
                "cannot reserve a negative amount ({fen} fen)"
            )));
        }
        let mut conn = self.conn();
        // IMMEDIATE takes the write lock before reading the sum: no other connection (thread or
        // process) can insert between the check and the insert.
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let spend = SpendRequest {
            provider,
            fen,
            daily_limit_fen,
            reference,
        };
        let answer = reserve_in(&tx, spend, now_unix)?;
        if let Reservation::Reserved { .. } = answer {
            tx.commit()?;
        }
        Ok(answer)
    }

    /// [`Store::release_spend`], synchronously.
    pub fn release_spend(&self, reservation_id: i64) -> Result<(), StoreError> {
        self.conn()
            .execute("DELETE FROM spend WHERE id = ?1", params![reservation_id])?;
        Ok(())
    }

    /// [`Store::spent_last_24h`], synchronously.
    pub fn spent_last_24h(&self, provider: &str, now_unix: i64) -> Result<i64, StoreError> {
        window_sum(&self.conn(), provider, now_unix)
    }

    /// [`Store::prune`], synchronously.
    pub fn prune(&self, now_unix: i64) -> Result<Pruned, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let idempotency = tx.execute(
            "DELETE FROM idempotency WHERE updated_unix < ?1",
            params![now_unix - IDEM_RETENTION_SECS],
        )?;
        let spend = tx.execute(
            "DELETE FROM spend WHERE created_unix < ?1",
            params![now_unix - SPEND_RETENTION_SECS],
        )?;
        tx.commit()?;
        Ok(Pruned { idempotency, spend })
    }
}

impl SqliteStore {
    /// [`Store::record_event`], synchronously.
    pub fn record_event(&self, e: &ReceivedEvent) -> Result<Recorded, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let inserted = tx.execute(
            "INSERT INTO events (provider, event_id, event_type, object_id, reference, amount_fen,
                 object_state, state_rank, received_unix, raw_body, verified)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
             ON CONFLICT (provider, event_id) DO NOTHING",
            params![
                e.provider,
                e.event_id,
                e.event_type,
                e.object_id,
                e.reference,
                e.amount_fen,
                e.object_state,
                e.state_rank,
                e.received_unix,
                e.raw_body,
                e.verified
            ],
        )?;
        if inserted == 0 {
            return Ok(Recorded::Duplicate);
        }
        if let (Some(object), Some(state)) = (&e.object_id, &e.object_state) {
            // Only forward: a late event with a lower rank leaves the known state alone.
            tx.execute(
                "INSERT INTO objects (provider, object_id, state, rank, reference, amount_fen,
                     updated_unix, event_id)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                 ON CONFLICT (provider, object_id) DO UPDATE SET
                     state = excluded.state, rank = excluded.rank,
                     reference = COALESCE(excluded.reference, objects.reference),
                     amount_fen = COALESCE(excluded.amount_fen, objects.amount_fen),
                     updated_unix = excluded.updated_unix, event_id = excluded.event_id
                 WHERE excluded.rank > objects.rank",
                params![
                    e.provider,
                    object,
                    state,
                    e.state_rank,
                    e.reference,
                    e.amount_fen,
                    e.received_unix,
                    e.event_id
                ],
            )?;
        }
        tx.commit()?;
        Ok(Recorded::Inserted)
    }

    /// [`Store::list_events`], synchronously.
    pub fn list_events(&self, f: &EventFilter) -> Result<Vec<ReceivedEvent>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT seq, provider, event_id, event_type, object_id, reference, amount_fen,
                 object_state, state_rank, received_unix, raw_body, verified
             FROM events
             WHERE (?1 IS NULL OR provider = ?1) AND (?2 IS NULL OR event_type = ?2)
               AND (?3 IS NULL OR object_id = ?3) AND (?4 IS NULL OR reference = ?4)
               AND (?5 IS NULL OR received_unix >= ?5) AND (?6 IS NULL OR seq < ?6)
             ORDER BY seq DESC LIMIT ?7",
        )?;
        let rows = stmt.query_map(
            params![
                f.provider,
                f.event_type,
                f.object_id,
                f.reference,
                f.since_unix,
                f.before_seq,
                f.limit as i64
            ],
            event_row,
        )?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// [`Store::get_event`], synchronously.
    pub fn get_event(
        &self,
        provider: &str,
        event_id: &str,
    ) -> Result<Option<ReceivedEvent>, StoreError> {
        Ok(self
            .conn()
            .query_row(
                "SELECT seq, provider, event_id, event_type, object_id, reference, amount_fen,
                     object_state, state_rank, received_unix, raw_body, verified
                 FROM events WHERE provider = ?1 AND event_id = ?2",
                params![provider, event_id],
                event_row,
            )
            .optional()?)
    }

    /// [`Store::object_state`], synchronously.
    pub fn object_state(
        &self,
        provider: &str,
        object_id: &str,
    ) -> Result<Option<ObjectState>, StoreError> {
        Ok(self
            .conn()
            .query_row(
                "SELECT state, rank, reference, amount_fen, updated_unix, event_id FROM objects
                 WHERE provider = ?1 AND object_id = ?2",
                params![provider, object_id],
                |row| {
                    Ok(ObjectState {
                        state: row.get(0)?,
                        rank: row.get(1)?,
                        reference: row.get(2)?,
                        amount_fen: row.get(3)?,
                        updated_unix: row.get(4)?,
                        event_id: row.get(5)?,
                    })
                },
            )
            .optional()?)
    }

    /// [`Store::ticket_key`], synchronously.
    pub fn ticket_key(&self, candidate: &[u8]) -> Result<Vec<u8>, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute(
            "INSERT INTO ticket_key (id, key) VALUES (1, ?1) ON CONFLICT (id) DO NOTHING",
            params![candidate],
        )?;
        let key: Vec<u8> =
            tx.query_row("SELECT key FROM ticket_key WHERE id = 1", [], |r| r.get(0))?;
        tx.commit()?;
        Ok(key)
    }

    /// [`Store::use_nonce`], synchronously.
    pub fn use_nonce(
        &self,
        nonce: &str,
        expires_unix: i64,
        now_unix: i64,
    ) -> Result<bool, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute(
            "DELETE FROM ticket_nonces WHERE expires_unix < ?1",
            params![now_unix],
        )?;
        let inserted = tx.execute(
            "INSERT INTO ticket_nonces (nonce, expires_unix) VALUES (?1, ?2)
             ON CONFLICT (nonce) DO NOTHING",
            params![nonce, expires_unix],
        )?;
        tx.commit()?;
        Ok(inserted == 1)
    }
}

fn event_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<ReceivedEvent> {
    Ok(ReceivedEvent {
        seq: row.get(0)?,
        provider: row.get(1)?,
        event_id: row.get(2)?,
        event_type: row.get(3)?,
        object_id: row.get(4)?,
        reference: row.get(5)?,
        amount_fen: row.get(6)?,
        object_state: row.get(7)?,
        state_rank: row.get(8)?,
        received_unix: row.get(9)?,
        raw_body: row.get(10)?,
        verified: row.get(11)?,
    })
}

/// The async [`Store`] over the synchronous methods above, each on the blocking pool.
impl Store for SqliteStore {
    fn get(&self, key: IdemKey) -> StoreFuture<Option<IdemRecord>> {
        self.blocking(move |s| s.get(&key))
    }

    fn begin(&self, b: Begin) -> StoreFuture<Begun> {
        self.blocking(move |s| {
            let spend = b.spend.as_ref().map(|sp| SpendRequest {
                provider: &sp.provider,
                fen: sp.fen,
                daily_limit_fen: sp.daily_limit_fen,
                reference: &sp.reference,
            });
            s.begin(&b.key, &b.args_digest, b.now_unix, &b.lease, spend)
        })
    }

    fn take_over(
        &self,
        key: IdemKey,
        from_owner: String,
        now_unix: i64,
        lease: Lease,
    ) -> StoreFuture<bool> {
        self.blocking(move |s| s.take_over(&key, &from_owner, now_unix, &lease))
    }

    fn complete(
        &self,
        key: IdemKey,
        state: IdemState,
        result: Option<Value>,
        now_unix: i64,
        release: Option<i64>,
    ) -> StoreFuture<()> {
        self.blocking(move |s| s.complete(&key, state, result.as_ref(), now_unix, release))
    }

    fn reserve_spend(&self, spend: Spend, now_unix: i64) -> StoreFuture<Reservation> {
        self.blocking(move |s| {
            s.reserve_spend(
                &spend.provider,
                spend.fen,
                spend.daily_limit_fen,
                now_unix,
                &spend.reference,
            )
        })
    }

    fn release_spend(&self, reservation_id: i64) -> StoreFuture<()> {
        self.blocking(move |s| s.release_spend(reservation_id))
    }

    fn spent_last_24h(&self, provider: String, now_unix: i64) -> StoreFuture<i64> {
        self.blocking(move |s| s.spent_last_24h(&provider, now_unix))
    }

    fn prune(&self, now_unix: i64) -> StoreFuture<Pruned> {
        self.blocking(move |s| s.prune(now_unix))
    }

    fn record_event(&self, event: ReceivedEvent) -> StoreFuture<Recorded> {
        self.blocking(move |s| s.record_event(&event))
    }

    fn list_events(&self, filter: EventFilter) -> StoreFuture<Vec<ReceivedEvent>> {
        self.blocking(move |s| s.list_events(&filter))
    }

    fn get_event(&self, provider: String, event_id: String) -> StoreFuture<Option<ReceivedEvent>> {
        self.blocking(move |s| s.get_event(&provider, &event_id))
    }

    fn object_state(
        &self,
        provider: String,
        object_id: String,
    ) -> StoreFuture<Option<ObjectState>> {
        self.blocking(move |s| s.object_state(&provider, &object_id))
    }

    fn ticket_key(&self, candidate: Vec<u8>) -> StoreFuture<Vec<u8>> {
        self.blocking(move |s| s.ticket_key(&candidate))
    }

    fn use_nonce(&self, nonce: String, expires_unix: i64, now_unix: i64) -> StoreFuture<bool> {
        self.blocking(move |s| s.use_nonce(&nonce, expires_unix, now_unix))
    }
}

impl SqliteStore {
    /// Runs `op` on the blocking pool: a file store syncs every write to disk (milliseconds),
    /// which must not stall the async workers.
    fn blocking<T: Send + 'static>(
        &self,
        op: impl FnOnce(&SqliteStore) -> Result<T, StoreError> + Send + 'static,
    ) -> StoreFuture<T> {
        let this = SqliteStore {
            conn: Arc::clone(&self.conn),
        };
        Box::pin(async move {
            match tokio::task::spawn_blocking(move || op(&this)).await {
                Ok(v) => v,
                Err(e) => std::panic::resume_unwind(e.into_panic()),
            }
        })
    }

    /// [`Store::begin`] without a spend, under an anonymous lease of [`DEFAULT_LEASE_SECS`].
    pub fn claim(
        &self,
        key: &IdemKey,
        args_digest: &str,
        now_unix: i64,
    ) -> Result<Claim, StoreError> {
        let lease = Lease {
            owner: String::new(),
            until_unix: now_unix + DEFAULT_LEASE_SECS,
        };
        match self.begin(key, args_digest, now_unix, &lease, None)? {
            Begun::Existing(record) => Ok(Claim::Existing(record)),
            _ => Ok(Claim::Claimed),
        }
    }

    /// [`SqliteStore::complete`] without a release.
    pub fn finish(
        &self,
        key: &IdemKey,
        state: IdemState,
        result: Option<&Value>,
        now_unix: i64,
    ) -> Result<(), StoreError> {
        self.complete(key, state, result, now_unix, None)
    }
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
    fn pending_is_not_a_final_state_and_done_never_changes() {
        let store = SqliteStore::in_memory().unwrap();
        let key = IdemKey::new("pingpp", "create_charge", "o1");
        assert!(matches!(
            store.finish(&key, IdemState::Done, None, 1),
            Err(StoreError::NotClaimed(_))
        ));
        store.claim(&key, "d", 1).unwrap();
        assert!(matches!(
            store.finish(&key, IdemState::Pending, None, 2),
            Err(StoreError::Invalid(_))
        ));
        store
            .finish(&key, IdemState::Done, Some(&json!({"id": "ch_1"})), 2)
            .unwrap();
        for state in [IdemState::Done, IdemState::Unknown, IdemState::Failed] {
            assert!(matches!(
                store.finish(&key, state, None, 3),
                Err(StoreError::AlreadyDone(_))
            ));
        }
        assert_eq!(
            store.get(&key).unwrap().unwrap().result,
            Some(json!({"id": "ch_1"}))
        );
    }

    #[test]
    fn negative_reservations_are_refused() {
        let store = SqliteStore::in_memory().unwrap();
        assert!(matches!(
            store.reserve_spend("pingpp", -1, None, 1, "r"),
            Err(StoreError::Invalid(_))
        ));
    }

    #[test]
    fn prune_drops_only_old_rows() {
        let store = SqliteStore::in_memory().unwrap();
        let now = 10_000_000;
        let old = IdemKey::new("p", "t", "old");
        let fresh = IdemKey::new("p", "t", "fresh");
        store
            .claim(&old, "d", now - IDEM_RETENTION_SECS - 1)
            .unwrap();
        store.claim(&fresh, "d", now - IDEM_RETENTION_SECS).unwrap();
        store
            .reserve_spend("p", 1, None, now - SPEND_RETENTION_SECS - 1, "a")
            .unwrap();
        store
            .reserve_spend("p", 1, None, now - SPEND_RETENTION_SECS, "b")
            .unwrap();
        assert_eq!(
            store.prune(now).unwrap(),
            Pruned {
                idempotency: 1,
                spend: 1
            }
        );
        assert!(store.get(&old).unwrap().is_none());
        assert!(store.get(&fresh).unwrap().is_some());
    }

    #[test]
    fn newer_schema_is_refused() {
        let dir = std::env::temp_dir().join(format!("zhifu-store-schema-{}", std::process::id()));
        let path = dir.join("store.db");
        let _ = std::fs::remove_dir_all(&dir);
        drop(SqliteStore::open(&path).unwrap());
        {
            let conn = Connection::open(&path).unwrap();
            conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
                .unwrap();
        }
        assert!(matches!(
            SqliteStore::open(&path),
            Err(StoreError::SchemaTooNew { .. })
        ));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
