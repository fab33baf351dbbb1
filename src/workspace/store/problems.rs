//! Problems: imported benchmark items and generated synthetic tasks.

use rusqlite::{OptionalExtension, Row, params};
use sha2::{Digest, Sha256};

use super::{Result, Store, StoreError, now_ms, to_json};
use crate::workspace::records::{NewProblem, Problem};

/// What one import did: re-importing the same file inserts nothing, and neither does
/// the same content under another name (another file, so another dataset).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct InsertOutcome {
    pub inserted: usize,
    pub unchanged: usize,
    /// Items whose content (by [`content_hash`]) was already stored under another
    /// dataset or id before this import: not inserted again.
    pub same_content: usize,
    /// The first of those: `dataset/id` of the stored copy, and the content hash.
    pub same_content_example: Option<(String, String)>,
}

pub fn content_hash(problem: &NewProblem) -> String {
    let mut hasher = Sha256::new();
    for part in [
        problem.split.as_str(),
        problem.question.as_str(),
        problem.gold_answer.as_str(),
        problem.gold_solution.as_deref().unwrap_or(""),
    ] {
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part.as_bytes());
    }
    format!("{:x}", hasher.finalize())
}

const COLUMNS: &str =
    "id, dataset, split, external_id, question, gold_answer, gold_solution, metadata";

fn from_row(row: &Row<'_>) -> rusqlite::Result<(Problem, String)> {
    let metadata: String = row.get(7)?;
    Ok((
        Problem {
            id: row.get(0)?,
            fields: NewProblem {
                dataset: row.get(1)?,
                split: row.get(2)?,
                external_id: row.get(3)?,
                question: row.get(4)?,
                gold_answer: row.get(5)?,
                gold_solution: row.get(6)?,
                metadata: serde_json::Value::Null,
            },
        },
        metadata,
    ))
}

fn finish((mut problem, metadata): (Problem, String)) -> Result<Problem> {
    problem.fields.metadata =
        serde_json::from_str(&metadata).map_err(|source| StoreError::BadJson {
            table: "problems",
            column: "metadata",
            id: problem.id,
            source,
        })?;
    Ok(problem)
}

impl Store {
    /// Inserts all problems in one transaction. An item already stored with the same
    /// content is skipped; the same id with different content aborts the whole batch.
    pub fn insert_problems(&mut self, problems: &[NewProblem]) -> Result<InsertOutcome> {
        let tx = self.write()?;
        let mut outcome = InsertOutcome::default();
        {
            let mut existing = tx.prepare_cached(
                "SELECT content_hash FROM problems WHERE dataset = ?1 AND external_id = ?2",
            )?;
            let mut insert = tx.prepare_cached(
                "INSERT INTO problems (dataset, split, external_id, question, gold_answer,
                    gold_solution, metadata, content_hash, created_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )?;
            // Rows stored before this import; duplicates inside the file itself are the
            // dataset's own business (GSM8K has a few) and are kept.
            let before: i64 =
                tx.query_row("SELECT COALESCE(MAX(id), 0) FROM problems", [], |row| {
                    row.get(0)
                })?;
            let mut same = tx.prepare_cached(
                "SELECT dataset, external_id FROM problems
                 WHERE content_hash = ?1 AND id <= ?2 LIMIT 1",
            )?;
            let now = now_ms();
            for problem in problems {
                let hash = content_hash(problem);
                let stored: Option<String> = existing
                    .query_row(params![problem.dataset, problem.external_id], |row| {
                        row.get(0)
                    })
                    .optional()?;
                match stored {
                    Some(stored) if stored == hash => outcome.unchanged += 1,
                    Some(_) => {
                        return Err(StoreError::Conflict(format!(
                            "problem {}/{} is already in the workspace with different content; \
                             nothing was imported",
                            problem.dataset, problem.external_id
                        )));
                    }
                    None => {
                        let elsewhere: Option<(String, String)> = same
                            .query_row(params![hash, before], |row| Ok((row.get(0)?, row.get(1)?)))
                            .optional()?;
                        if let Some((dataset, id)) = elsewhere {
                            outcome.same_content += 1;
                            outcome
                                .same_content_example
                                .get_or_insert_with(|| (format!("{dataset}/{id}"), hash.clone()));
                            continue;
                        }
                        insert.execute(params![
                            problem.dataset,
                            problem.split,
                            problem.external_id,
                            problem.question,
                            problem.gold_answer,
                            problem.gold_solution,
                            to_json(&problem.metadata),
                            hash,
                            now,
                        ])?;
                        outcome.inserted += 1;
                    }
                }
            }
        }
        tx.commit()?;
        Ok(outcome)
    }

    pub fn problem(&self, id: i64) -> Result<Problem> {
        let row = self
            .conn
            .query_row(
                &format!("SELECT {COLUMNS} FROM problems WHERE id = ?1"),
                [id],
                from_row,
            )
            .optional()?
            .ok_or(StoreError::NotFound {
                what: "problem",
                id: id.to_string(),
            })?;
        finish(row)
    }

    /// Problems of a dataset split in id order; `dataset = None` means every dataset.
    pub fn problems(&self, dataset: Option<&str>, split: Option<&str>) -> Result<Vec<Problem>> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM problems
             WHERE (?1 IS NULL OR dataset = ?1) AND (?2 IS NULL OR split = ?2)
             ORDER BY id"
        ))?;
        let rows = stmt
            .query_map(params![dataset, split], from_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        rows.into_iter().map(finish).collect()
    }

    /// (dataset, split, count), sorted.
    pub fn problem_counts(&self) -> Result<Vec<(String, String, u64)>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT dataset, split, COUNT(*) FROM problems GROUP BY dataset, split
             ORDER BY dataset, split",
        )?;
        let rows = stmt
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }
}
