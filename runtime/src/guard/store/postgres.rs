//! [`PostgresStore`]: the [`Store`] on one PostgreSQL database shared by every server instance
//! (`ZHIFU_STATE_DB=postgres://…`), so one merchant reference moves money once, the daily limits
//! count every instance's spending, a confirmation ticket sealed on one instance is redeemed once
//! on any, and a received event is stored once — whichever instance the load balancer picked.
//!
//! # Client
//!
//! tokio-postgres with a deadpool pool (`ZHIFU_STATE_DB_POOL` connections per instance,
//! [`DEFAULT_POOL_SIZE`] by default): plain SQL strings, prepared once per connection
//! (`prepare_cached`), no compile-time database and no macros. TLS is rustls on the aws-lc-rs
//! provider the HTTP client already uses; server certificates are checked against the system's
//! trust store (the platform verifier; `SSL_CERT_FILE` adds a private CA). `sslmode` comes from
//! the URL: `disable`, `prefer` (tokio-postgres's default: TLS when the server offers it),
//! `require`; `verify-ca` and `verify-full` mean `require`, since the certificate and host name
//! are always verified when TLS is used.
//!
//! # Claims
//!
//! `begin` is `INSERT … ON CONFLICT DO NOTHING` on the primary key (provider, tool, reference).
//! When a concurrent transaction holds an uncommitted insert of the same key, PostgreSQL makes
//! the second insert wait for it; after it commits the second inserts nothing and reads the
//! winner's record (a new snapshot per statement under `READ COMMITTED`). If the record vanished
//! in between (its owner finished it as `Failed`, freeing the key), the insert is tried again.
//!
//! # Daily limits: a row lock per provider, not `SERIALIZABLE`
//!
//! A reservation first locks the provider's row in `spend_locks` (an upsert: `INSERT … ON
//! CONFLICT (provider) DO UPDATE` inserts it the first time and row-locks it every time), then
//! sums the provider's window and inserts its spend row, in the same transaction. Every
//! reservation of a provider, on every instance, queues on that one row, so the check and the
//! insert of two reservations can never interleave; under `READ COMMITTED` the sum, run after
//! the lock is granted, takes a fresh snapshot that includes the previous holder's committed row.
//! Chosen over `SERIALIZABLE` with retries because (1) waiting on a lock always succeeds, where a
//! serialization failure (SQLSTATE 40001) has to be retried by a loop that can, under 100
//! concurrent calls, fail again and again and then fail the call; (2) it serializes exactly the
//! reservations of one provider — claims of other references and other providers go on in
//! parallel, where serializable predicate locks on the spend index can abort unrelated
//! transactions; (3) it is easy to see that it is correct. The lock is held for three short
//! statements and the commit.
//!
//! Locks are always taken in the same order (the claim's key, then the provider's spend lock), so
//! concurrent `begin`s cannot deadlock.
//!
//! # Migrations
//!
//! Versioned, in [`MIGRATIONS`]; the applied versions are rows of `zhifu_schema`. At start-up
//! every instance runs the pending ones in one transaction under `pg_advisory_xact_lock`, so
//! instances starting together apply each step once (the others wait, then find it applied).
//! A database whose highest version is newer than this binary's is refused.
//!
//! # When the database is down
//!
//! A pool that cannot connect within [`CONNECT_TIMEOUT`], a dropped connection, or an operation
//! taking longer than [`OP_TIMEOUT`] is [`StoreError::Unavailable`]: a money-moving call then
//! sends nothing (its claim could not be written) and says the state store is unavailable. Calls
//! that need no store (reads) go on. Broken connections are replaced on the next checkout, so
//! calls recover by themselves when the database is back.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{GenericClient, Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio_postgres::Row;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;
use tokio_postgres_rustls::MakeRustlsConnect;

use super::{
    Begin, Begun, CompleteStep, EventFilter, IDEM_RETENTION_SECS, IdemKey, IdemRecord, IdemState,
    Lease, ObjectState, Pruned, ReceivedEvent, Recorded, Reservation, SPEND_RETENTION_SECS,
    SPEND_WINDOW_SECS, Spend, Store, StoreError, StoreFuture, check_amount, complete_step, exceeds,
    record_from_columns,
};

/// Connections per instance unless `ZHIFU_STATE_DB_POOL` says otherwise.
pub const DEFAULT_POOL_SIZE: usize = 8;
/// How long opening a connection may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one store operation (waiting for a connection included) may take.
pub const OP_TIMEOUT: Duration = Duration::from_secs(10);
/// Key of the advisory lock the migrations run under ("zhifumig").
const MIGRATION_LOCK: i64 = 0x7a68_6966_756d_6967;
/// How often `begin` retries a claim whose conflicting record vanished before it could be read.
const CLAIM_RETRIES: usize = 16;

/// The schema, step by step: (version, SQL). Never edit a released step; add the next one.
pub const MIGRATIONS: &[(i64, &str)] = &[(1, SCHEMA_V1)];

/// The schema version this build writes.
pub fn schema_version() -> i64 {
    MIGRATIONS.last().map_or(0, |(v, _)| *v)
}

/// v1 = SQLite's v3: records with leases, spend rows, events and object states, the ticket key
/// and used nonces; plus the per-provider spend lock rows.
const SCHEMA_V1: &str = "
CREATE TABLE idempotency (
    provider          TEXT   NOT NULL,
    tool              TEXT   NOT NULL,
    reference         TEXT   NOT NULL,
    args_digest       TEXT   NOT NULL,
    state             TEXT   NOT NULL CHECK (state IN ('pending', 'done', 'unknown')),
    result            TEXT,
    created_unix      BIGINT NOT NULL,
    updated_unix      BIGINT NOT NULL,
    owner             TEXT   NOT NULL DEFAULT '',
    lease_until_unix  BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (provider, tool, reference)
);
CREATE INDEX idempotency_updated ON idempotency (updated_unix);
-- An identity column: ids are never reused, so a late release cannot free another reservation.
CREATE TABLE spend (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    provider      TEXT   NOT NULL,
    fen           BIGINT NOT NULL CHECK (fen >= 0),
    created_unix  BIGINT NOT NULL,
    reference     TEXT   NOT NULL
);
CREATE INDEX spend_provider_time ON spend (provider, created_unix);
-- One row per provider, row-locked by every reservation of that provider.
CREATE TABLE spend_locks (
    provider  TEXT PRIMARY KEY
);
CREATE TABLE events (
    seq            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    provider       TEXT    NOT NULL,
    event_id       TEXT    NOT NULL,
    event_type     TEXT    NOT NULL,
    object_id      TEXT,
    reference      TEXT,
    amount_fen     BIGINT,
    object_state   TEXT,
    state_rank     BIGINT  NOT NULL,
    received_unix  BIGINT  NOT NULL,
    raw_body       TEXT    NOT NULL,
    verified       BOOLEAN NOT NULL,
    UNIQUE (provider, event_id)
);
CREATE INDEX events_object ON events (provider, object_id);
CREATE INDEX events_reference ON events (provider, reference);
CREATE TABLE objects (
    provider      TEXT   NOT NULL,
    object_id     TEXT   NOT NULL,
    state         TEXT   NOT NULL,
    rank          BIGINT NOT NULL,
    reference     TEXT,
    amount_fen    BIGINT,
    updated_unix  BIGINT NOT NULL,
    event_id      TEXT   NOT NULL,
    PRIMARY KEY (provider, object_id)
);
CREATE TABLE ticket_key (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    key  BYTEA   NOT NULL
);
CREATE TABLE ticket_nonces (
    nonce         TEXT   PRIMARY KEY,
    expires_unix  BIGINT NOT NULL
);
CREATE INDEX ticket_nonces_expires ON ticket_nonces (expires_unix);
";

/// How to reach the database.
#[derive(Clone)]
pub struct PostgresOptions {
    /// `postgres://user:password@host:port/database?sslmode=…` (never printed: it may hold a
    /// password).
    pub url: String,
    /// Connections per instance.
    pub pool_size: usize,
}

impl fmt::Debug for PostgresOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresOptions")
            .field("url", &"***")
            .field("pool_size", &self.pool_size)
            .finish()
    }
}

/// [`Store`] on a PostgreSQL database (a connection pool; cheap to clone).
#[derive(Clone)]
pub struct PostgresStore {
    pool: Pool,
}

impl fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresStore").finish_non_exhaustive()
    }
}

/// Whether `text` names a PostgreSQL database (`postgres://…`, `postgresql://…`).
pub fn is_postgres_url(text: &str) -> bool {
    let lower = text.trim().to_ascii_lowercase();
    lower.starts_with("postgres://") || lower.starts_with("postgresql://")
}

/// The connection settings of a URL; `verify-ca` / `verify-full` become `require` (the rustls
/// connector always verifies). Errors never repeat the URL.
fn pg_config(url: &str) -> Result<tokio_postgres::Config, StoreError> {
    let url = url
        .trim()
        .replace("sslmode=verify-full", "sslmode=require")
        .replace("sslmode=verify-ca", "sslmode=require");
    let mut config: tokio_postgres::Config = url
        .parse()
        .map_err(|e| StoreError::Invalid(format!("the PostgreSQL URL is not valid: {e}")))?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    if config.get_application_name().is_none() {
        config.application_name("zhifu-mcp");
    }
    Ok(config)
}

/// rustls on aws-lc-rs with the platform's certificate verifier.
fn tls() -> Result<MakeRustlsConnect, StoreError> {
    use rustls_platform_verifier::BuilderVerifierExt;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|b| b.with_platform_verifier())
        .map_err(|e| StoreError::Invalid(format!("TLS set-up for PostgreSQL failed: {e}")))?
        .with_no_client_auth();
    Ok(MakeRustlsConnect::new(config))
}

/// A client error as a store error: no answer, a dropped connection or a server shutting down is
/// [`StoreError::Unavailable`]; a refused statement is [`StoreError::Server`].
fn pg_error(e: tokio_postgres::Error) -> StoreError {
    match e.as_db_error() {
        Some(db) => {
            let code = db.code();
            let class = &code.code()[..2];
            if matches!(class, "08" | "57" | "53") || code == &SqlState::ADMIN_SHUTDOWN {
                StoreError::Unavailable(format!("{} ({})", db.message(), code.code()))
            } else {
                StoreError::Server(format!("{} ({})", db.message(), code.code()))
            }
        }
        None => StoreError::Unavailable(e.to_string()),
    }
}

fn pool_error(e: deadpool_postgres::PoolError) -> StoreError {
    match e {
        deadpool_postgres::PoolError::Backend(e) => pg_error(e),
        other => StoreError::Unavailable(other.to_string()),
    }
}

impl PostgresStore {
    /// Connects, and migrates the schema to [`schema_version`] (refusing a newer one).
    pub async fn connect(options: &PostgresOptions) -> Result<Self, StoreError> {
        let manager = Manager::from_config(
            pg_config(&options.url)?,
            tls()?,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(options.pool_size.max(1))
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(OP_TIMEOUT))
            .create_timeout(Some(CONNECT_TIMEOUT))
            .recycle_timeout(Some(CONNECT_TIMEOUT))
            .build()
            .map_err(|e| StoreError::Invalid(format!("PostgreSQL pool: {e}")))?;
        let store = PostgresStore { pool };
        store.migrate().await?;
        Ok(store)
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        self.pool.get().await.map_err(pool_error)
    }

    /// Applies the pending migrations under the advisory lock.
    async fn migrate(&self) -> Result<(), StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(pg_error)?;
        exec(&tx, "SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK]).await?;
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS zhifu_schema (
                 version       BIGINT PRIMARY KEY,
                 applied_unix  BIGINT NOT NULL
             )",
        )
        .await
        .map_err(pg_error)?;
        let found: i64 = query_one(
            &tx,
            "SELECT COALESCE(MAX(version), 0) FROM zhifu_schema",
            &[],
        )
        .await?
        .get(0);
        let known = schema_version();
        if found > known {
            return Err(StoreError::SchemaTooNew { found, known });
        }
        for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > found) {
            tx.batch_execute(sql).await.map_err(pg_error)?;
            exec(
                &tx,
                "INSERT INTO zhifu_schema (version, applied_unix) VALUES ($1, $2)",
                &[version, &crate::time::unix_now()],
            )
            .await?;
        }
        tx.commit().await.map_err(pg_error)
    }

    /// Runs `op` on a clone of the store, bounded by [`OP_TIMEOUT`].
    fn run<T, Fut>(&self, op: impl FnOnce(PostgresStore) -> Fut) -> StoreFuture<T>
    where
        T: Send + 'static,
        Fut: Future<Output = Result<T, StoreError>> + Send + 'static,
    {
        let future = op(self.clone());
        Box::pin(async move {
            match tokio::time::timeout(OP_TIMEOUT, future).await {
                Ok(answer) => answer,
                Err(_) => Err(StoreError::Unavailable(format!(
                    "no answer from PostgreSQL within {} s",
                    OP_TIMEOUT.as_secs()
                ))),
            }
        })
    }

    async fn get_record(&self, key: IdemKey) -> Result<Option<IdemRecord>, StoreError> {
        read_record(&self.client().await?, &key).await
    }

    async fn begin_call(&self, b: Begin) -> Result<Begun, StoreError> {
        if let Some(s) = &b.spend {
            check_amount(s.fen)?;
        }
        let mut client = self.client().await?;
        let k = &b.key;
        for _ in 0..CLAIM_RETRIES {
            let tx = client.transaction().await.map_err(pg_error)?;
            let inserted = exec(
                &tx,
                "INSERT INTO idempotency (provider, tool, reference, args_digest, state, result,
                     created_unix, updated_unix, owner, lease_until_unix)
                 VALUES ($1, $2, $3, $4, 'pending', NULL, $5, $5, $6, $7)
                 ON CONFLICT DO NOTHING",
                &[
                    &k.provider,
                    &k.tool,
                    &k.reference,
                    &b.args_digest,
                    &b.now_unix,
                    &b.lease.owner,
                    &b.lease.until_unix,
                ],
            )
            .await?;
            if inserted == 0 {
                let existing = read_record(&tx, k).await?;
                tx.rollback().await.map_err(pg_error)?;
                match existing {
                    Some(record) => return Ok(Begun::Existing(Box::new(record))),
                    // Finished as `Failed` (deleted) between the insert and the read: claim again.
                    None => continue,
                }
            }
            let mut reservation = None;
            if let Some(s) = &b.spend {
                match reserve_in(&tx, s, b.now_unix).await? {
                    Reservation::Reserved { id, .. } => reservation = Some(id),
                    Reservation::OverLimit { spent, limit } => {
                        // Nothing written: the claim goes with the rollback.
                        tx.rollback().await.map_err(pg_error)?;
                        return Ok(Begun::OverLimit { spent, limit });
                    }
                }
            }
            tx.commit().await.map_err(pg_error)?;
            return Ok(Begun::Claimed { reservation });
        }
        Err(StoreError::Unavailable(format!(
            "{k}: the key was claimed and freed {CLAIM_RETRIES} times while this call tried to claim it"
        )))
    }

    async fn take_over_record(
        &self,
        key: IdemKey,
        from_owner: String,
        now_unix: i64,
        lease: Lease,
    ) -> Result<bool, StoreError> {
        let client = self.client().await?;
        let changed = exec(
            &client,
            "UPDATE idempotency SET state = 'pending', owner = $5, lease_until_unix = $6,
                     updated_unix = $7
                 WHERE provider = $1 AND tool = $2 AND reference = $3 AND owner = $4
                   AND (state = 'unknown' OR (state = 'pending' AND lease_until_unix < $7))",
            &[
                &key.provider,
                &key.tool,
                &key.reference,
                &from_owner,
                &lease.owner,
                &lease.until_unix,
                &now_unix,
            ],
        )
        .await?;
        Ok(changed == 1)
    }

    async fn complete_call(
        &self,
        key: IdemKey,
        state: IdemState,
        result: Option<serde_json::Value>,
        now_unix: i64,
        release: Option<i64>,
    ) -> Result<(), StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(pg_error)?;
        let current = query_opt(
            &tx,
            "SELECT state FROM idempotency
                 WHERE provider = $1 AND tool = $2 AND reference = $3 FOR UPDATE",
            &[&key.provider, &key.tool, &key.reference],
        )
        .await?
        .map(|row| {
            let text: String = row.get(0);
            IdemState::parse(&text)
                .ok_or_else(|| StoreError::Corrupt(format!("{key}: unknown state {text:?}")))
        })
        .transpose()?;
        match complete_step(&key, state, current)? {
            CompleteStep::Nothing => {}
            CompleteStep::Delete => {
                exec(
                    &tx,
                    "DELETE FROM idempotency WHERE provider = $1 AND tool = $2 AND reference = $3",
                    &[&key.provider, &key.tool, &key.reference],
                )
                .await?;
            }
            CompleteStep::Update => {
                let result = result.as_ref().map(serde_json::Value::to_string);
                exec(
                    &tx,
                    "UPDATE idempotency SET state = $4, result = $5, updated_unix = $6
                     WHERE provider = $1 AND tool = $2 AND reference = $3",
                    &[
                        &key.provider,
                        &key.tool,
                        &key.reference,
                        &state.as_str(),
                        &result,
                        &now_unix,
                    ],
                )
                .await?;
            }
        }
        if let Some(id) = release {
            exec(&tx, "DELETE FROM spend WHERE id = $1", &[&id]).await?;
        }
        tx.commit().await.map_err(pg_error)
    }

    async fn reserve(&self, spend: Spend, now_unix: i64) -> Result<Reservation, StoreError> {
        check_amount(spend.fen)?;
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(pg_error)?;
        let answer = reserve_in(&tx, &spend, now_unix).await?;
        match answer {
            Reservation::Reserved { .. } => tx.commit().await.map_err(pg_error)?,
            Reservation::OverLimit { .. } => tx.rollback().await.map_err(pg_error)?,
        }
        Ok(answer)
    }

    async fn release(&self, id: i64) -> Result<(), StoreError> {
        exec(
            &self.client().await?,
            "DELETE FROM spend WHERE id = $1",
            &[&id],
        )
        .await?;
        Ok(())
    }

    async fn spent(&self, provider: String, now_unix: i64) -> Result<i64, StoreError> {
        window_sum(&self.client().await?, &provider, now_unix).await
    }

    async fn prune_old(&self, now_unix: i64) -> Result<Pruned, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(pg_error)?;
        let idempotency = exec(
            &tx,
            "DELETE FROM idempotency WHERE updated_unix < $1",
            &[&(now_unix - IDEM_RETENTION_SECS)],
        )
        .await?;
        let spend = exec(
            &tx,
            "DELETE FROM spend WHERE created_unix < $1",
            &[&(now_unix - SPEND_RETENTION_SECS)],
        )
        .await?;
        tx.commit().await.map_err(pg_error)?;
        Ok(Pruned {
            idempotency: usize::try_from(idempotency).unwrap_or(usize::MAX),
            spend: usize::try_from(spend).unwrap_or(usize::MAX),
        })
    }

    async fn record(&self, e: ReceivedEvent) -> Result<Recorded, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(pg_error)?;
        let inserted = exec(
            &tx,
            "INSERT INTO events (provider, event_id, event_type, object_id, reference,
                     amount_fen, object_state, state_rank, received_unix, raw_body, verified)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
                 ON CONFLICT (provider, event_id) DO NOTHING",
            &[
                &e.provider,
                &e.event_id,
                &e.event_type,
                &e.object_id,
                &e.reference,
                &e.amount_fen,
                &e.object_state,
                &e.state_rank,
                &e.received_unix,
                &e.raw_body,
                &e.verified,
            ],
        )
        .await?;
        if inserted == 0 {
            tx.rollback().await.map_err(pg_error)?;
            return Ok(Recorded::Duplicate);
        }
        if let (Some(object), Some(state)) = (&e.object_id, &e.object_state) {
            // Only forward: a late event with a lower rank leaves the known state alone.
            exec(
                &tx,
                "INSERT INTO objects (provider, object_id, state, rank, reference, amount_fen,
                     updated_unix, event_id)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                 ON CONFLICT (provider, object_id) DO UPDATE SET
                     state = excluded.state, rank = excluded.rank,
                     reference = COALESCE(excluded.reference, objects.reference),
                     amount_fen = COALESCE(excluded.amount_fen, objects.amount_fen),
                     updated_unix = excluded.updated_unix, event_id = excluded.event_id
                 WHERE excluded.rank > objects.rank",
                &[
                    &e.provider,
                    object,
                    state,
                    &e.state_rank,
                    &e.reference,
                    &e.amount_fen,
                    &e.received_unix,
                    &e.event_id,
                ],
            )
            .await?;
        }
        tx.commit().await.map_err(pg_error)?;
        Ok(Recorded::Inserted)
    }

    async fn events(&self, f: EventFilter) -> Result<Vec<ReceivedEvent>, StoreError> {
        let limit = i64::try_from(f.limit).unwrap_or(i64::MAX);
        let rows = query(
            &self.client().await?,
            "SELECT seq, provider, event_id, event_type, object_id, reference, amount_fen,
                     object_state, state_rank, received_unix, raw_body, verified
                 FROM events
                 WHERE ($1::TEXT IS NULL OR provider = $1) AND ($2::TEXT IS NULL OR event_type = $2)
                   AND ($3::TEXT IS NULL OR object_id = $3) AND ($4::TEXT IS NULL OR reference = $4)
                   AND ($5::BIGINT IS NULL OR received_unix >= $5)
                   AND ($6::BIGINT IS NULL OR seq < $6)
                 ORDER BY seq DESC LIMIT $7",
            &[
                &f.provider,
                &f.event_type,
                &f.object_id,
                &f.reference,
                &f.since_unix,
                &f.before_seq,
                &limit,
            ],
        )
        .await?;
        rows.iter().map(event_row).collect()
    }

    async fn event(
        &self,
        provider: String,
        event_id: String,
    ) -> Result<Option<ReceivedEvent>, StoreError> {
        query_opt(
            &self.client().await?,
            "SELECT seq, provider, event_id, event_type, object_id, reference, amount_fen,
                     object_state, state_rank, received_unix, raw_body, verified
                 FROM events WHERE provider = $1 AND event_id = $2",
            &[&provider, &event_id],
        )
        .await?
        .as_ref()
        .map(event_row)
        .transpose()
    }

    async fn object(
        &self,
        provider: String,
        object_id: String,
    ) -> Result<Option<ObjectState>, StoreError> {
        let row = query_opt(
            &self.client().await?,
            "SELECT state, rank, reference, amount_fen, updated_unix, event_id FROM objects
                 WHERE provider = $1 AND object_id = $2",
            &[&provider, &object_id],
        )
        .await?;
        row.map(|row| -> Result<ObjectState, tokio_postgres::Error> {
            Ok(ObjectState {
                state: row.try_get(0)?,
                rank: row.try_get(1)?,
                reference: row.try_get(2)?,
                amount_fen: row.try_get(3)?,
                updated_unix: row.try_get(4)?,
                event_id: row.try_get(5)?,
            })
        })
        .transpose()
        .map_err(pg_error)
    }

    async fn shared_ticket_key(&self, candidate: Vec<u8>) -> Result<Vec<u8>, StoreError> {
        let client = self.client().await?;
        exec(
            &client,
            "INSERT INTO ticket_key (id, key) VALUES (1, $1) ON CONFLICT (id) DO NOTHING",
            &[&candidate],
        )
        .await?;
        Ok(
            query_one(&client, "SELECT key FROM ticket_key WHERE id = 1", &[])
                .await?
                .get(0),
        )
    }

    async fn nonce(
        &self,
        nonce: String,
        expires_unix: i64,
        now_unix: i64,
    ) -> Result<bool, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(pg_error)?;
        exec(
            &tx,
            "DELETE FROM ticket_nonces WHERE expires_unix < $1",
            &[&now_unix],
        )
        .await?;
        let inserted = exec(
            &tx,
            "INSERT INTO ticket_nonces (nonce, expires_unix) VALUES ($1, $2)
                 ON CONFLICT (nonce) DO NOTHING",
            &[&nonce, &expires_unix],
        )
        .await?;
        tx.commit().await.map_err(pg_error)?;
        Ok(inserted == 1)
    }
}

/// Runs a statement prepared once per connection (`prepare_cached`): one round trip per use.
async fn exec(
    c: &impl GenericClient,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<u64, StoreError> {
    let statement = c.prepare_cached(sql).await.map_err(pg_error)?;
    c.execute(&statement, params).await.map_err(pg_error)
}

/// [`exec`] for a query answering at most one row.
async fn query_opt(
    c: &impl GenericClient,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Option<Row>, StoreError> {
    let statement = c.prepare_cached(sql).await.map_err(pg_error)?;
    c.query_opt(&statement, params).await.map_err(pg_error)
}

/// [`exec`] for a query answering exactly one row.
async fn query_one(
    c: &impl GenericClient,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Row, StoreError> {
    let statement = c.prepare_cached(sql).await.map_err(pg_error)?;
    c.query_one(&statement, params).await.map_err(pg_error)
}

/// [`exec`] for a query answering rows.
async fn query(
    c: &impl GenericClient,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Vec<Row>, StoreError> {
    let statement = c.prepare_cached(sql).await.map_err(pg_error)?;
    c.query(&statement, params).await.map_err(pg_error)
}

async fn read_record(
    client: &impl GenericClient,
    key: &IdemKey,
) -> Result<Option<IdemRecord>, StoreError> {
    let Some(row) = query_opt(
        client,
        "SELECT args_digest, state, result, created_unix, updated_unix, owner, lease_until_unix
         FROM idempotency WHERE provider = $1 AND tool = $2 AND reference = $3",
        &[&key.provider, &key.tool, &key.reference],
    )
    .await?
    else {
        return Ok(None);
    };
    let state: String = row.try_get(1).map_err(pg_error)?;
    record_from_columns(
        key,
        row.try_get(0).map_err(pg_error)?,
        &state,
        row.try_get(2).map_err(pg_error)?,
        row.try_get(3).map_err(pg_error)?,
        row.try_get(4).map_err(pg_error)?,
        row.try_get(5).map_err(pg_error)?,
        row.try_get(6).map_err(pg_error)?,
    )
    .map(Some)
}

/// Locks the provider's spend row, checks the window sum and inserts a spend row, inside the
/// caller's transaction (see the module documentation for why a row lock).
async fn reserve_in(
    tx: &impl GenericClient,
    spend: &Spend,
    now_unix: i64,
) -> Result<Reservation, StoreError> {
    exec(
        tx,
        "INSERT INTO spend_locks (provider) VALUES ($1)
         ON CONFLICT (provider) DO UPDATE SET provider = excluded.provider",
        &[&spend.provider],
    )
    .await?;
    let spent = window_sum(tx, &spend.provider, now_unix).await?;
    if let Some(limit) = spend.daily_limit_fen
        && exceeds(spent, spend.fen, Some(limit))
    {
        return Ok(Reservation::OverLimit { spent, limit });
    }
    let id: i64 = query_one(
        tx,
        "INSERT INTO spend (provider, fen, created_unix, reference) VALUES ($1, $2, $3, $4)
         RETURNING id",
        &[&spend.provider, &spend.fen, &now_unix, &spend.reference],
    )
    .await?
    .get(0);
    Ok(Reservation::Reserved {
        id,
        spent_before: spent,
    })
}

async fn window_sum(
    client: &impl GenericClient,
    provider: &str,
    now_unix: i64,
) -> Result<i64, StoreError> {
    Ok(query_one(
        client,
        "SELECT COALESCE(SUM(fen), 0)::BIGINT FROM spend
         WHERE provider = $1 AND created_unix > $2 AND created_unix <= $3",
        &[&provider, &(now_unix - SPEND_WINDOW_SECS), &now_unix],
    )
    .await?
    .get(0))
}

fn event_row(row: &Row) -> Result<ReceivedEvent, StoreError> {
    let get = || -> Result<ReceivedEvent, tokio_postgres::Error> {
        Ok(ReceivedEvent {
            seq: row.try_get(0)?,
            provider: row.try_get(1)?,
            event_id: row.try_get(2)?,
            event_type: row.try_get(3)?,
            object_id: row.try_get(4)?,
            reference: row.try_get(5)?,
            amount_fen: row.try_get(6)?,
            object_state: row.try_get(7)?,
            state_rank: row.try_get(8)?,
            received_unix: row.try_get(9)?,
            raw_body: row.try_get(10)?,
            verified: row.try_get(11)?,
        })
    };
    get().map_err(pg_error)
}

impl Store for PostgresStore {
    fn get(&self, key: IdemKey) -> StoreFuture<Option<IdemRecord>> {
        self.run(|s| async move { s.get_record(key).await })
    }

    fn begin(&self, begin: Begin) -> StoreFuture<Begun> {
        self.run(|s| async move { s.begin_call(begin).await })
    }

    fn take_over(
        &self,
        key: IdemKey,
        from_owner: String,
        now_unix: i64,
        lease: Lease,
    ) -> StoreFuture<bool> {
        self.run(|s| async move { s.take_over_record(key, from_owner, now_unix, lease).await })
    }

    fn complete(
        &self,
        key: IdemKey,
        state: IdemState,
        result: Option<serde_json::Value>,
        now_unix: i64,
        release: Option<i64>,
    ) -> StoreFuture<()> {
        self.run(|s| async move { s.complete_call(key, state, result, now_unix, release).await })
    }

    fn reserve_spend(&self, spend: Spend, now_unix: i64) -> StoreFuture<Reservation> {
        self.run(|s| async move { s.reserve(spend, now_unix).await })
    }

    fn release_spend(&self, reservation_id: i64) -> StoreFuture<()> {
        self.run(|s| async move { s.release(reservation_id).await })
    }

    fn spent_last_24h(&self, provider: String, now_unix: i64) -> StoreFuture<i64> {
        self.run(|s| async move { s.spent(provider, now_unix).await })
    }

    fn prune(&self, now_unix: i64) -> StoreFuture<Pruned> {
        self.run(|s| async move { s.prune_old(now_unix).await })
    }

    fn record_event(&self, event: ReceivedEvent) -> StoreFuture<Recorded> {
        self.run(|s| async move { s.record(event).await })
    }

    fn list_events(&self, filter: EventFilter) -> StoreFuture<Vec<ReceivedEvent>> {
        self.run(|s| async move { s.events(filter).await })
    }

    fn get_event(&self, provider: String, event_id: String) -> StoreFuture<Option<ReceivedEvent>> {
        self.run(|s| async move { s.event(provider, event_id).await })
    }

    fn object_state(
        &self,
        provider: String,
        object_id: String,
    ) -> StoreFuture<Option<ObjectState>> {
        self.run(|s| async move { s.object(provider, object_id).await })
    }

    fn ticket_key(&self, candidate: Vec<u8>) -> StoreFuture<Vec<u8>> {
        self.run(|s| async move { s.shared_ticket_key(candidate).await })
    }

    fn use_nonce(&self, nonce: String, expires_unix: i64, now_unix: i64) -> StoreFuture<bool> {
        self.run(|s| async move { s.nonce(nonce, expires_unix, now_unix).await })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_recognised_and_never_echoed() {
        assert!(is_postgres_url("postgres://u@h/db"));
        assert!(is_postgres_url("PostgreSQL://u@h/db"));
        assert!(!is_postgres_url("/var/lib/zhifu/state.db"));
        let e = pg_config("postgres://u:hunter2@h/db?sslmode=bogus").unwrap_err();
        assert!(!e.to_string().contains("hunter2"), "{e}");
        let c = pg_config("postgres://u:pw@h:5433/db?sslmode=verify-full").unwrap();
        assert_eq!(c.get_ssl_mode(), tokio_postgres::config::SslMode::Require);
        assert_eq!(c.get_connect_timeout(), Some(&CONNECT_TIMEOUT));
        let options = PostgresOptions {
            url: "postgres://u:hunter2@h/db".into(),
            pool_size: 2,
        };
        assert!(!format!("{options:?}").contains("hunter2"));
    }

    #[test]
    fn migrations_are_numbered_in_order() {
        let versions: Vec<i64> = MIGRATIONS.iter().map(|(v, _)| *v).collect();
        let expected: Vec<i64> = (1..=versions.len() as i64).collect();
        assert_eq!(versions, expected);
        assert_eq!(schema_version(), *versions.last().unwrap());
    }
}
