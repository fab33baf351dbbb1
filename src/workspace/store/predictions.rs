//! Evaluation predictions: one row per (model, benchmark, mode, problem, sample).

use rusqlite::params;
use serde::{Deserialize, Serialize};

use super::{Result, Store, now_ms};

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PredictionKey {
    pub model: String,
    pub benchmark: String,
    pub mode: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewPrediction {
    pub key: PredictionKey,
    pub problem_id: i64,
    /// Index among the k samples of maj@k; 0 for a single greedy answer.
    pub sample_index: u32,
    pub output: String,
    pub extracted: Option<String>,
    pub correct: bool,
    pub reason: String,
    pub tokens: u32,
    pub latency_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Prediction {
    pub id: i64,
    #[serde(flatten)]
    pub fields: NewPrediction,
}

impl Store {
    /// Stores predictions; a re-run of the same (key, problem, sample) replaces the old
    /// row, so a resumed evaluation never double-counts.
    pub fn insert_predictions(&mut self, predictions: &[NewPrediction]) -> Result<()> {
        let tx = self.write()?;
        {
            let mut stmt = tx.prepare_cached(
                "INSERT OR REPLACE INTO predictions (model, benchmark, mode, problem_id,
                    sample_index, output, extracted, correct, reason, tokens, latency_ms,
                    created_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            )?;
            let now = now_ms();
            for p in predictions {
                stmt.execute(params![
                    p.key.model,
                    p.key.benchmark,
                    p.key.mode,
                    p.problem_id,
                    p.sample_index,
                    p.output,
                    p.extracted,
                    p.correct,
                    p.reason,
                    p.tokens,
                    p.latency_ms as i64,
                    now,
                ])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    pub fn predictions(&self, key: &PredictionKey) -> Result<Vec<Prediction>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, problem_id, sample_index, output, extracted, correct, reason, tokens,
                    latency_ms
             FROM predictions WHERE model = ?1 AND benchmark = ?2 AND mode = ?3
             ORDER BY problem_id, sample_index",
        )?;
        let rows = stmt
            .query_map(params![key.model, key.benchmark, key.mode], |r| {
                Ok(Prediction {
                    id: r.get(0)?,
                    fields: NewPrediction {
                        key: key.clone(),
                        problem_id: r.get(1)?,
                        sample_index: r.get(2)?,
                        output: r.get(3)?,
                        extracted: r.get(4)?,
                        correct: r.get(5)?,
                        reason: r.get(6)?,
                        tokens: r.get(7)?,
                        latency_ms: r.get::<_, i64>(8)?.max(0) as u64,
                    },
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// (key, predictions, correct) for every evaluated (model, benchmark, mode).
    pub fn prediction_counts(&self) -> Result<Vec<(PredictionKey, u64, u64)>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT model, benchmark, mode, COUNT(*), SUM(correct) FROM predictions
             GROUP BY model, benchmark, mode ORDER BY model, benchmark, mode",
        )?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    PredictionKey {
                        model: r.get(0)?,
                        benchmark: r.get(1)?,
                        mode: r.get(2)?,
                    },
                    r.get(3)?,
                    r.get(4)?,
                ))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }
}
