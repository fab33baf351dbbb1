//! The runs registry: which training runs exist and their last known state. The run's
//! own `events.jsonl` stays the source of truth for what happened inside it.

use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};

use super::{Result, Store, StoreError, now_ms};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    pub id: String,
    /// `sft`, `grpo`, `pipeline`, `distill`...
    pub kind: String,
    /// `running`, `completed`, `failed`, `stopped`.
    pub status: String,
    pub pid: Option<i64>,
    pub dir: String,
    pub dataset_hash: Option<String>,
    pub config: serde_json::Value,
    pub created_ms: i64,
    pub updated_ms: i64,
}

impl Store {
    pub fn upsert_run(&mut self, run: &RunRecord) -> Result<()> {
        let tx = self.write()?;
        tx.execute(
            "INSERT INTO runs (id, kind, status, pid, dir, dataset_hash, config, created_ms,
                updated_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
             ON CONFLICT (id) DO UPDATE SET status = excluded.status, pid = excluded.pid,
                dataset_hash = excluded.dataset_hash, config = excluded.config,
                updated_ms = excluded.updated_ms",
            params![
                run.id,
                run.kind,
                run.status,
                run.pid,
                run.dir,
                run.dataset_hash,
                super::to_json(&run.config),
                run.created_ms,
                now_ms(),
            ],
        )?;
        tx.commit()?;
        Ok(())
    }

    pub fn run(&self, id: &str) -> Result<RunRecord> {
        self.runs()?
            .into_iter()
            .find(|run| run.id == id)
            .ok_or(StoreError::NotFound {
                what: "run",
                id: id.to_owned(),
            })
    }

    /// Every run, newest first.
    pub fn runs(&self) -> Result<Vec<RunRecord>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, kind, status, pid, dir, dataset_hash, config, created_ms, updated_ms
             FROM runs ORDER BY created_ms DESC, id DESC",
        )?;
        let raws = stmt
            .query_map([], |r| {
                Ok((
                    RunRecord {
                        id: r.get(0)?,
                        kind: r.get(1)?,
                        status: r.get(2)?,
                        pid: r.get(3)?,
                        dir: r.get(4)?,
                        dataset_hash: r.get(5)?,
                        config: serde_json::Value::Null,
                        created_ms: r.get(7)?,
                        updated_ms: r.get(8)?,
                    },
                    r.get::<_, String>(6)?,
                ))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        raws.into_iter()
            .enumerate()
            .map(|(index, (mut run, config))| {
                run.config =
                    serde_json::from_str(&config).map_err(|source| StoreError::BadJson {
                        table: "runs",
                        column: "config",
                        id: index as i64,
                        source,
                    })?;
                Ok(run)
            })
            .collect()
    }

    pub fn set_run_status(&mut self, id: &str, status: &str) -> Result<()> {
        let tx = self.write()?;
        let changed = tx.execute(
            "UPDATE runs SET status = ?1, updated_ms = ?2 WHERE id = ?3",
            params![status, now_ms(), id],
        )?;
        if changed == 0 {
            return Err(StoreError::NotFound {
                what: "run",
                id: id.to_owned(),
            });
        }
        tx.commit()?;
        Ok(())
    }

    pub fn run_exists(&self, id: &str) -> Result<bool> {
        Ok(self
            .conn
            .query_row("SELECT 1 FROM runs WHERE id = ?1", [id], |_| Ok(()))
            .optional()?
            .is_some())
    }
}
