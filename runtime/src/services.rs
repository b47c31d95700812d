//! The durable services a server opens at start-up: the state store (idempotency records,
//! spending, received events, confirmation tickets — SQLite, or PostgreSQL shared by several
//! instances) and the audit log, where the configuration says.

use std::sync::Arc;

use crate::config::StateDb;
use crate::guard::audit::AuditLog;
use crate::guard::store::{DEFAULT_POOL_SIZE, PostgresOptions, PostgresStore, SqliteStore, Store};

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
    /// A PostgreSQL URL connects a pool and migrates the schema; the database must be reachable
    /// at start-up (the error says so; the URL is never printed).
    pub async fn open(state: &crate::config::StateConfig, sandbox: bool) -> Result<Self, String> {
        let dir = state.dir.clone().unwrap_or_else(default_state_dir);
        let store: Arc<dyn Store> = match (&state.db, sandbox) {
            (Some(StateDb::Sqlite(path)), _) => Arc::new(
                SqliteStore::open(path)
                    .map_err(|e| format!("ZHIFU_STATE_DB {}: {e}", path.display()))?,
            ),
            (Some(StateDb::Postgres(url)), _) => {
                let options = PostgresOptions {
                    url: url.expose().to_string(),
                    pool_size: state
                        .db_pool
                        .and_then(|n| usize::try_from(n).ok())
                        .unwrap_or(DEFAULT_POOL_SIZE),
                };
                Arc::new(
                    PostgresStore::connect(&options)
                        .await
                        .map_err(|e| format!("ZHIFU_STATE_DB (PostgreSQL): {e}"))?,
                )
            }
            (None, true) => Arc::new(SqliteStore::in_memory().map_err(|e| e.to_string())?),
            (None, false) => {
                let path = dir.join("state.db");
                Arc::new(
                    SqliteStore::open(&path)
                        .map_err(|e| format!("state database {}: {e}", path.display()))?,
                )
            }
        };
        if let Err(e) = store.prune(crate::time::unix_now()).await {
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
            store: Arc::new(SqliteStore::in_memory().expect("an in-memory SQLite database opens")),
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
