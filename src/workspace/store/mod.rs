//! The workspace's SQLite store (WAL): problems, candidates with curation state and
//! edit history, built datasets, the runs registry and evaluation predictions.
//!
//! Several processes share one database (the TUI, a distill job, a training run), so
//! every write is one `IMMEDIATE` transaction and the busy handler waits instead of
//! surfacing "database is locked".

mod cache;
mod candidates;
mod datasets;
mod diversity;
mod history;
mod predictions;
mod problems;
mod runs;
pub mod schema;

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, OpenFlags, Transaction, TransactionBehavior};

pub use cache::CachedCompletion;
pub use candidates::{CurationFilter, CurationRow, CurationSort, StatusCounts};
pub use datasets::DatasetRecord;
pub use diversity::{PlanDiversity, StageFinish};
pub use history::{EditField, FieldChange, HistoryStep};
pub use predictions::{NewPrediction, Prediction, PredictionKey};
pub use problems::{InsertOutcome, content_hash};
pub use runs::RunRecord;

/// How long a writer waits for another process's transaction before giving up. Long
/// enough that a checkpointing training run never makes the TUI fail a keystroke.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{path}: cannot open the workspace database: {source}")]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error(
        "the workspace database has schema version {found}, newer than this build supports ({supported}); upgrade plantune-tui"
    )]
    TooNew { found: u32, supported: u32 },
    #[error("database error: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("stored JSON in {table}.{column} (id {id}) is invalid: {source}")]
    BadJson {
        table: &'static str,
        column: &'static str,
        id: i64,
        source: serde_json::Error,
    },
    #[error("stored value in {table}.{column} (id {id}) is invalid: {value:?}")]
    BadValue {
        table: &'static str,
        column: &'static str,
        id: i64,
        value: String,
    },
    #[error("no {what} with id {id}")]
    NotFound { what: &'static str, id: String },
    #[error("{0}")]
    Conflict(String),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

pub struct Store {
    conn: Connection,
    path: PathBuf,
}

impl Store {
    /// Opens (creating if needed) the database and migrates it to the current schema.
    pub fn open(path: &Path) -> Result<Self> {
        Self::open_at_version(path, schema::CURRENT_VERSION)
    }

    /// Opens and migrates only up to `version`; tests use it to build old databases.
    pub fn open_at_version(path: &Path, version: u32) -> Result<Self> {
        let open_err = |source| StoreError::Open {
            path: path.to_path_buf(),
            source,
        };
        let mut conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(open_err)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(open_err)?;
        // WAL lets readers (the TUI) proceed while a job writes; NORMAL sync is
        // durable across application crashes, which is the failure we design for.
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(open_err)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(open_err)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(open_err)?;
        schema::migrate_to(&mut conn, version)?;
        Ok(Self {
            conn,
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn schema_version(&self) -> Result<u32> {
        schema::version(&self.conn)
    }

    /// A write transaction that takes the write lock up front, so two writers never
    /// deadlock upgrading from read to write.
    fn write(&mut self) -> Result<Transaction<'_>> {
        Ok(self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?)
    }

    #[cfg(test)]
    pub(crate) fn conn(&self) -> &Connection {
        &self.conn
    }
}

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn to_json<T: serde::Serialize>(value: &T) -> String {
    // Serialising our own plain structs cannot fail; an empty object keeps the row valid
    // if that ever changes.
    serde_json::to_string(value).unwrap_or_else(|_| "{}".to_owned())
}

fn bool_to_sql(value: Option<bool>) -> Option<i64> {
    value.map(i64::from)
}

#[cfg(test)]
mod tests;
