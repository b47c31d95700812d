//! [`SqliteStore`]: the [`Store`] on one SQLite file (or memory), for one server instance or
//! several processes on one host.
//!
//! # Why a `Mutex<Connection>` and a synchronous core
//!
//! rusqlite is synchronous. Every operation is one short transaction on an indexed table. A
//! single connection behind a [`Mutex`] serializes callers within the process, which is also what
//! makes the check-and-insert of `begin` and `reserve_spend` atomic there. Across processes
//! sharing one database file, atomicity comes from SQLite itself: every write runs in a
//! `BEGIN IMMEDIATE` transaction, and a second process waits up to [`BUSY_TIMEOUT`] for the write
//! lock.
//!
//! The file uses WAL journaling with `synchronous=FULL`: a claim that returned is on disk even
//! after a power loss, so a crash can never make the server forget that a payment was started.
//! The price is one `fsync` per write. Measured on the development VM (release build): `get`
//! ≈ 6 µs, `claim` / `finish` / `reserve_spend` ≈ 3.5–4 ms on a file (≈ 7 µs in memory). That
//! is small next to the gateway round trip it protects, but too long to block an async worker
//! thread, so the async [`Store`] methods run on `tokio::task::spawn_blocking`. Writes are
//! serialized, so one database takes a few hundred writes per second on such a disk — plenty
//! for tool calls. `synchronous=NORMAL` would make writes take microseconds but could lose the
//! last claims on power loss, i.e. allow a double payment after a reboot; it is deliberately not
//! used.
//!
//! A SQLite file only coordinates processes on one host. Several instances on several hosts
//! share a [`PostgresStore`](super::PostgresStore) instead.

use std::fmt;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use serde_json::Value;

use super::{
    Begin, Begun, Claim, CompleteStep, DEFAULT_LEASE_SECS, EventFilter, IDEM_RETENTION_SECS,
    IdemKey, IdemRecord, IdemState, Lease, ObjectState, Pruned, ReceivedEvent, Recorded,
    Reservation, SPEND_RETENTION_SECS, SPEND_WINDOW_SECS, Spend, SpendRequest, Store, StoreError,
    StoreFuture, check_amount, complete_step, exceeds, record_from_columns,
};

/// How long a write waits for another process holding the database's write lock.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Schema version kept in SQLite's `user_version`.
pub const SCHEMA_VERSION: i64 = 3;
/// How long opening a database retries while another process holds a lock it needs (the WAL
/// switch and the migration take write locks that a busy handler does not always wait for).
pub const OPEN_RETRY: Duration = Duration::from_secs(10);

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
            return Err(StoreError::SchemaTooNew {
                found: version,
                known: SCHEMA_VERSION,
            });
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
    row.map(|(digest, state, result, created, updated, owner, lease)| {
        record_from_columns(key, digest, &state, result, created, updated, owner, lease)
    })
    .transpose()
}

/// Checks the window sum and inserts a spend row, inside the caller's write transaction.
fn reserve_in(
    conn: &Connection,
    spend: SpendRequest<'_>,
    now_unix: i64,
) -> Result<Reservation, StoreError> {
    let spent = window_sum(conn, spend.provider, now_unix)?;
    if let Some(limit) = spend.daily_limit_fen
        && exceeds(spent, spend.fen, Some(limit))
    {
        return Ok(Reservation::OverLimit { spent, limit });
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
        if let Some(s) = &spend {
            check_amount(s.fen)?;
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
        let current = read_record(key, &tx)?.map(|r| r.state);
        match complete_step(key, state, current)? {
            CompleteStep::Nothing => {}
            CompleteStep::Delete => {
                tx.execute(
                    "DELETE FROM idempotency WHERE provider = ?1 AND tool = ?2 AND reference = ?3",
                    params![key.provider, key.tool, key.reference],
                )?;
            }
            CompleteStep::Update => {
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
        check_amount(fen)?;
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
