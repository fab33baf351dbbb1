//! Built training datasets, frozen by content hash so a run can name exactly what it
//! trained on.

use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};

use super::{Result, Store, StoreError, now_ms};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatasetRecord {
    pub id: i64,
    pub name: String,
    /// `baseline`, `plan1`, `plan2`.
    pub kind: String,
    pub content_hash: String,
    pub n_examples: u64,
    /// The JSONL file holding the examples, relative to the workspace.
    pub path: String,
    pub params: serde_json::Value,
    pub created_ms: i64,
}

type RawDataset = (DatasetRecord, String);

fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RawDataset> {
    Ok((
        DatasetRecord {
            id: r.get(0)?,
            name: r.get(1)?,
            kind: r.get(2)?,
            content_hash: r.get(3)?,
            n_examples: r.get(4)?,
            path: r.get(5)?,
            params: serde_json::Value::Null,
            created_ms: r.get(7)?,
        },
        r.get(6)?,
    ))
}

fn finish((mut record, params): RawDataset) -> Result<DatasetRecord> {
    record.params = serde_json::from_str(&params).map_err(|source| StoreError::BadJson {
        table: "datasets",
        column: "params",
        id: record.id,
        source,
    })?;
    Ok(record)
}

const COLUMNS: &str = "id, name, kind, content_hash, n_examples, path, params, created_ms";

impl Store {
    /// Registers a built dataset; the same content registered twice returns the first id.
    pub fn register_dataset(
        &mut self,
        name: &str,
        kind: &str,
        content_hash: &str,
        n_examples: u64,
        path: &str,
        params: &serde_json::Value,
    ) -> Result<i64> {
        let tx = self.write()?;
        tx.execute(
            "INSERT OR IGNORE INTO datasets (name, kind, content_hash, n_examples, path, params,
                created_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                name,
                kind,
                content_hash,
                n_examples,
                path,
                super::to_json(params),
                now_ms()
            ],
        )?;
        let id = tx.query_row(
            "SELECT id FROM datasets WHERE content_hash = ?1",
            [content_hash],
            |r| r.get(0),
        )?;
        tx.commit()?;
        Ok(id)
    }

    pub fn datasets(&self) -> Result<Vec<DatasetRecord>> {
        let mut stmt = self
            .conn
            .prepare_cached(&format!("SELECT {COLUMNS} FROM datasets ORDER BY id"))?;
        let raws = stmt
            .query_map([], from_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        raws.into_iter().map(finish).collect()
    }

    /// A dataset by full hash or unique hash prefix.
    pub fn dataset_by_hash(&self, hash_prefix: &str) -> Result<DatasetRecord> {
        let pattern = format!("{}%", hash_prefix.replace('%', ""));
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM datasets WHERE content_hash LIKE ?1 LIMIT 2"
        ))?;
        let raws = stmt
            .query_map([pattern], from_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        match raws.len() {
            1 => raws
                .into_iter()
                .next()
                .map(finish)
                .ok_or(StoreError::NotFound {
                    what: "dataset",
                    id: hash_prefix.to_owned(),
                })?,
            0 => Err(StoreError::NotFound {
                what: "dataset",
                id: hash_prefix.to_owned(),
            }),
            _ => Err(StoreError::Conflict(format!(
                "dataset hash prefix {hash_prefix} is ambiguous"
            ))),
        }
    }

    pub fn latest_dataset(&self, kind: &str) -> Result<Option<DatasetRecord>> {
        let raw = self
            .conn
            .query_row(
                &format!("SELECT {COLUMNS} FROM datasets WHERE kind = ?1 ORDER BY id DESC LIMIT 1"),
                [kind],
                from_row,
            )
            .optional()?;
        raw.map(finish).transpose()
    }
}
