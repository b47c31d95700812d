//! The two state stores a behavioural test runs against: SQLite (a file in a temp dir, always)
//! and PostgreSQL (a fresh schema per test on the server `ZHIFU_TEST_POSTGRES` names; without
//! it the PostgreSQL run prints a "skipped" notice and passes). `scripts/postgres.sh` starts a
//! throwaway server and prints the settings.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use zhifu_runtime::store::{PostgresOptions, PostgresStore, SqliteStore, Store};

/// Which store a test runs on.
#[derive(Clone)]
pub enum Backend {
    /// A SQLite file every "instance" opens.
    Sqlite(PathBuf),
    /// A PostgreSQL URL whose `search_path` is a schema of this test's own.
    Postgres(String),
}

/// The notice a skipped PostgreSQL test prints: once per test binary, straight to stderr (past
/// the test harness's capture, so a plain `cargo test` shows it).
pub fn skipped(test: &str) {
    use std::io::Write;
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = writeln!(
            std::io::stderr(),
            "skipped: set ZHIFU_TEST_POSTGRES=postgres://… to run the PostgreSQL tests ({test} and \
             the others of this file); eval \"$(bash scripts/postgres.sh)\" starts a throwaway server"
        );
    });
}

fn unique_name(tag: &str) -> String {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    format!(
        "{tag}_{}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        super::unique("")
    )
}

impl Backend {
    /// A fresh SQLite file.
    pub fn sqlite() -> Backend {
        Backend::Sqlite(super::temp_dir(&unique_name("store")).join("state.db"))
    }

    /// A fresh schema on `ZHIFU_TEST_POSTGRES`, or `None` (and the notice) when it is not set.
    pub async fn postgres(test: &str) -> Option<Backend> {
        let Ok(url) = std::env::var("ZHIFU_TEST_POSTGRES") else {
            skipped(test);
            return None;
        };
        let schema = unique_name("zt").to_ascii_lowercase();
        let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .unwrap_or_else(|e| panic!("ZHIFU_TEST_POSTGRES does not connect: {e}"));
        tokio::spawn(connection);
        client
            .batch_execute(&format!("CREATE SCHEMA {schema}"))
            .await
            .expect("create the test's schema");
        let separator = if url.contains('?') { '&' } else { '?' };
        Some(Backend::Postgres(format!(
            "{url}{separator}options=-csearch_path%3D{schema}"
        )))
    }

    pub fn name(&self) -> &'static str {
        match self {
            Backend::Sqlite(_) => "SQLite",
            Backend::Postgres(_) => "PostgreSQL",
        }
    }

    /// One more "instance" on the same database: its own connection(s).
    pub async fn open(&self) -> Arc<dyn Store> {
        match self {
            Backend::Sqlite(path) => Arc::new(SqliteStore::open(path).expect("SQLite opens")),
            Backend::Postgres(url) => Arc::new(
                PostgresStore::connect(&PostgresOptions {
                    url: url.clone(),
                    pool_size: 4,
                })
                .await
                .expect("PostgreSQL connects"),
            ),
        }
    }

    /// `ZHIFU_STATE_DB` for a server process on this database.
    pub fn state_db(&self) -> String {
        match self {
            Backend::Sqlite(path) => path.display().to_string(),
            Backend::Postgres(url) => url.clone(),
        }
    }

    /// Marks the database's schema as written by a newer build.
    pub async fn age_schema(&self) {
        match self {
            Backend::Sqlite(path) => {
                let conn = rusqlite::Connection::open(path).unwrap();
                conn.pragma_update(None, "user_version", 99).unwrap();
            }
            Backend::Postgres(url) => {
                let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
                    .await
                    .unwrap();
                tokio::spawn(connection);
                client
                    .execute(
                        "INSERT INTO zhifu_schema (version, applied_unix) VALUES (99, 0)",
                        &[],
                    )
                    .await
                    .unwrap();
            }
        }
    }

    /// Opening this database now fails; the error, as text.
    pub async fn open_error(&self) -> String {
        match self {
            Backend::Sqlite(path) => SqliteStore::open(path).unwrap_err().to_string(),
            Backend::Postgres(url) => PostgresStore::connect(&PostgresOptions {
                url: url.clone(),
                pool_size: 1,
            })
            .await
            .unwrap_err()
            .to_string(),
        }
    }
}

/// One behavioural test per store: `sqlite::NAME` always, `postgres::NAME` when
/// `ZHIFU_TEST_POSTGRES` is set. Each `NAME` is an `async fn NAME(backend: Backend)` in scope.
#[macro_export]
macro_rules! on_both_stores {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::common::backend::Backend::sqlite()).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if let Some(backend) =
                        $crate::common::backend::Backend::postgres(stringify!($name)).await
                    {
                        super::$name(backend).await
                    }
                }
            )*
        }
    };
}
