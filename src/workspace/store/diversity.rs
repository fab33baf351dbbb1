//! What a distill job learnt about its teacher's answers, per candidate and per
//! problem: how each stage ended (a stage cut by `max_tokens` is marked), and how many
//! distinct plans a problem got for the plans asked.

use std::collections::BTreeMap;

use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};

use super::{Result, Store, StoreError, now_ms, to_json};
use crate::workspace::records::NewCandidate;

/// The finish reason of each teacher call behind a candidate, as the server gave it
/// (`stop`, `length`...); `None` where it gave none (or the candidate predates them).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct StageFinish {
    pub constraints: Option<String>,
    pub plan: Option<String>,
    pub judge: Option<String>,
    pub execution: Option<String>,
}

impl StageFinish {
    /// The stages the token limit cut off (finish reason `length`), in pipeline order.
    pub fn truncated(&self) -> Vec<&'static str> {
        [
            ("constraints", &self.constraints),
            ("plan", &self.plan),
            ("judge", &self.judge),
            ("execution", &self.execution),
        ]
        .into_iter()
        .filter(|(_, reason)| reason.as_deref() == Some("length"))
        .map(|(stage, _)| stage)
        .collect()
    }
}

/// Plans asked of the teacher for one problem and how many distinct ones it gave.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct PlanDiversity {
    pub asked: u32,
    pub distinct: u32,
}

impl Store {
    /// Inserts one candidate with its stages' finish reasons, in one transaction.
    /// Returns 0 when the store already held it (another job got there first).
    pub fn insert_candidate_with_finish(
        &mut self,
        candidate: &NewCandidate,
        finish: &StageFinish,
    ) -> Result<usize> {
        let tx = self.write()?;
        let inserted = super::candidates::insert_rows(&tx, std::slice::from_ref(candidate))?;
        if inserted == 1 {
            tx.execute(
                "UPDATE candidates SET finish_reasons = ?4
                 WHERE problem_id = ?1 AND teacher = ?2 AND plan_index = ?3",
                params![
                    candidate.problem_id,
                    candidate.teacher,
                    candidate.plan_index,
                    to_json(finish)
                ],
            )?;
        }
        tx.commit()?;
        Ok(inserted)
    }

    /// How each stage of a candidate ended.
    pub fn finish_reasons(&self, candidate_id: i64) -> Result<StageFinish> {
        let text: Option<String> = self
            .conn
            .query_row(
                "SELECT finish_reasons FROM candidates WHERE id = ?1",
                [candidate_id],
                |row| row.get(0),
            )
            .optional()?;
        let text = text.ok_or(StoreError::NotFound {
            what: "candidate",
            id: candidate_id.to_string(),
        })?;
        serde_json::from_str(&text).map_err(|source| StoreError::BadJson {
            table: "candidates",
            column: "finish_reasons",
            id: candidate_id,
            source,
        })
    }

    /// Records a distill job's count for (problem, teacher): its plan answers add to
    /// those of earlier jobs; `distinct` is what the problem has now.
    pub fn record_plan_diversity(
        &mut self,
        problem_id: i64,
        teacher: &str,
        diversity: PlanDiversity,
    ) -> Result<()> {
        let tx = self.write()?;
        tx.execute(
            "INSERT INTO plan_diversity (problem_id, teacher, asked, distinct_plans, updated_ms)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (problem_id, teacher) DO UPDATE SET asked = asked + excluded.asked,
                distinct_plans = excluded.distinct_plans, updated_ms = excluded.updated_ms",
            params![
                problem_id,
                teacher,
                diversity.asked,
                diversity.distinct,
                now_ms()
            ],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Plans asked and distinct plans got for one problem, all teachers together;
    /// `None` when no distill job recorded it.
    pub fn plan_diversity(&self, problem_id: i64) -> Result<Option<PlanDiversity>> {
        // One problem's rows only: the Curate pane asks this on every selection.
        let mut statement = self.conn.prepare_cached(
            "SELECT COUNT(*), SUM(asked), SUM(distinct_plans) FROM plan_diversity
             WHERE problem_id = ?1",
        )?;
        let (rows, asked, distinct): (i64, Option<u32>, Option<u32>) = statement
            .query_row([problem_id], |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?))
            })?;
        Ok((rows > 0).then(|| PlanDiversity {
            asked: asked.unwrap_or(0),
            distinct: distinct.unwrap_or(0),
        }))
    }

    /// Distinct plans per problem (all teachers together), for the curation list.
    pub fn distinct_plan_counts(&self) -> Result<BTreeMap<i64, u32>> {
        Ok(self
            .plan_diversity_by_problem()?
            .into_iter()
            .map(|(id, d)| (id, d.distinct))
            .collect())
    }

    fn plan_diversity_by_problem(&self) -> Result<BTreeMap<i64, PlanDiversity>> {
        let mut statement = self.conn.prepare_cached(
            "SELECT problem_id, SUM(asked), SUM(distinct_plans) FROM plan_diversity
             GROUP BY problem_id",
        )?;
        let rows = statement.query_map([], |row| {
            Ok((
                row.get::<_, i64>(0)?,
                PlanDiversity {
                    asked: row.get(1)?,
                    distinct: row.get(2)?,
                },
            ))
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}
