//! Candidates (teacher trajectories) and the curation list.

use rusqlite::{OptionalExtension, Row, params};
use serde::{Deserialize, Serialize};

use super::{Result, Store, StoreError, bool_to_sql, now_ms, to_json};
use crate::workspace::records::{Candidate, CandidateStatus, NewCandidate, Sampling};

/// The teacher's own text, kept at insert time so edits can always be diffed against it
/// and undone, whatever happens to the edit history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct Original {
    pub constraints: String,
    pub plan: String,
    pub plan_steps: Vec<String>,
    pub execution: String,
}

impl Original {
    fn of(candidate: &NewCandidate) -> Self {
        Self {
            constraints: candidate.constraints.clone(),
            plan: candidate.plan.clone(),
            plan_steps: candidate.plan_steps.clone(),
            execution: candidate.execution.clone(),
        }
    }
}

pub(super) const COLUMNS: &str = "id, problem_id, teacher, plan_index, constraints, plan, \
    plan_steps, execution, extracted_answer, correct, grade_reason, judge_score, judge_reason, \
    sampling, status, edited, created_ms, updated_ms";

struct RawCandidate {
    candidate: Candidate,
    plan_steps: String,
    sampling: String,
    status: String,
}

fn from_row(row: &Row<'_>) -> rusqlite::Result<RawCandidate> {
    Ok(RawCandidate {
        candidate: Candidate {
            id: row.get(0)?,
            fields: NewCandidate {
                problem_id: row.get(1)?,
                teacher: row.get(2)?,
                plan_index: row.get(3)?,
                constraints: row.get(4)?,
                plan: row.get(5)?,
                plan_steps: Vec::new(),
                execution: row.get(7)?,
                extracted_answer: row.get(8)?,
                correct: row.get::<_, Option<i64>>(9)?.map(|v| v != 0),
                grade_reason: row.get(10)?,
                judge_score: row.get(11)?,
                judge_reason: row.get(12)?,
                sampling: Sampling::default(),
            },
            status: CandidateStatus::Pending,
            edited: row.get::<_, i64>(15)? != 0,
            created_ms: row.get(16)?,
            updated_ms: row.get(17)?,
        },
        plan_steps: row.get(6)?,
        sampling: row.get(13)?,
        status: row.get(14)?,
    })
}

fn finish(raw: RawCandidate) -> Result<Candidate> {
    let RawCandidate {
        mut candidate,
        plan_steps,
        sampling,
        status,
    } = raw;
    let id = candidate.id;
    let bad_json = |column, source| StoreError::BadJson {
        table: "candidates",
        column,
        id,
        source,
    };
    candidate.fields.plan_steps =
        serde_json::from_str(&plan_steps).map_err(|e| bad_json("plan_steps", e))?;
    candidate.fields.sampling =
        serde_json::from_str(&sampling).map_err(|e| bad_json("sampling", e))?;
    candidate.status = CandidateStatus::parse(&status).ok_or(StoreError::BadValue {
        table: "candidates",
        column: "status",
        id,
        value: status,
    })?;
    Ok(candidate)
}

/// Filters of the curation list; `None` means "any".
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CurationFilter {
    pub status: Option<CandidateStatus>,
    pub correct: Option<bool>,
    pub edited: Option<bool>,
    pub min_score: Option<i32>,
    pub max_score: Option<i32>,
    pub dataset: Option<String>,
    pub split: Option<String>,
    /// Case-insensitive substring of the question.
    pub search: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum CurationSort {
    /// Best judge score first, the order a curator accepts in.
    #[default]
    ScoreDesc,
    ScoreAsc,
    ProblemId,
    RecentlyUpdated,
}

impl CurationSort {
    fn order_by(self) -> &'static str {
        match self {
            Self::ScoreDesc => "c.judge_score DESC, c.id",
            Self::ScoreAsc => "c.judge_score ASC, c.id",
            Self::ProblemId => "c.problem_id, c.plan_index",
            Self::RecentlyUpdated => "c.updated_ms DESC, c.id",
        }
    }
}

/// One line of the curation list: enough to render a row without loading texts.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CurationRow {
    pub candidate_id: i64,
    pub problem_id: i64,
    pub dataset: String,
    pub split: String,
    pub plan_index: u32,
    pub status: CandidateStatus,
    pub judge_score: Option<i32>,
    pub correct: Option<bool>,
    pub edited: bool,
    pub question: String,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct StatusCounts {
    pub pending: u64,
    pub accepted: u64,
    pub rejected: u64,
}

impl StatusCounts {
    pub fn total(&self) -> u64 {
        self.pending + self.accepted + self.rejected
    }
}

/// Characters of the question carried in a list row; the detail pane loads the rest.
const QUESTION_PREVIEW: usize = 160;

impl Store {
    /// Inserts candidates in one transaction. A candidate already stored under the same
    /// (problem, teacher, plan index) is kept as it is, so a restarted distill job never
    /// duplicates or overwrites curated work. Returns how many were new.
    pub fn insert_candidates(&mut self, candidates: &[NewCandidate]) -> Result<usize> {
        let tx = self.write()?;
        let inserted = insert_rows(&tx, candidates)?;
        tx.commit()?;
        Ok(inserted)
    }

    pub fn candidate(&self, id: i64) -> Result<Candidate> {
        let raw = self
            .conn
            .query_row(
                &format!("SELECT {COLUMNS} FROM candidates WHERE id = ?1"),
                [id],
                from_row,
            )
            .optional()?
            .ok_or(StoreError::NotFound {
                what: "candidate",
                id: id.to_string(),
            })?;
        finish(raw)
    }

    /// All candidates of a problem, in plan order.
    pub fn candidates_for_problem(&self, problem_id: i64) -> Result<Vec<Candidate>> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM candidates WHERE problem_id = ?1 ORDER BY plan_index, id"
        ))?;
        let raws = stmt
            .query_map([problem_id], from_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        raws.into_iter().map(finish).collect()
    }

    /// Every candidate with the given status, in problem order (dataset building).
    pub fn candidates_with_status(&self, status: CandidateStatus) -> Result<Vec<Candidate>> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM candidates WHERE status = ?1 ORDER BY problem_id, plan_index"
        ))?;
        let raws = stmt
            .query_map([status.as_str()], from_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        raws.into_iter().map(finish).collect()
    }

    /// The teacher's original text of a candidate (for diffs against edits).
    pub fn candidate_original(&self, id: i64) -> Result<(String, String, Vec<String>, String)> {
        let text: String = self
            .conn
            .query_row("SELECT original FROM candidates WHERE id = ?1", [id], |r| {
                r.get(0)
            })
            .optional()?
            .ok_or(StoreError::NotFound {
                what: "candidate",
                id: id.to_string(),
            })?;
        let original: Original =
            serde_json::from_str(&text).map_err(|source| StoreError::BadJson {
                table: "candidates",
                column: "original",
                id,
                source,
            })?;
        Ok((
            original.constraints,
            original.plan,
            original.plan_steps,
            original.execution,
        ))
    }

    /// One page of the curation list.
    pub fn curation_page(
        &self,
        filter: &CurationFilter,
        sort: CurationSort,
        offset: usize,
        limit: usize,
    ) -> Result<Vec<CurationRow>> {
        let sql = format!(
            "SELECT c.id, c.problem_id, p.dataset, p.split, c.plan_index, c.status,
                    c.judge_score, c.correct, c.edited, substr(p.question, 1, {QUESTION_PREVIEW})
             FROM candidates c JOIN problems p ON p.id = c.problem_id
             WHERE (?1 IS NULL OR c.status = ?1)
               AND (?2 IS NULL OR c.correct = ?2)
               AND (?3 IS NULL OR c.edited = ?3)
               AND (?4 IS NULL OR c.judge_score >= ?4)
               AND (?5 IS NULL OR c.judge_score <= ?5)
               AND (?6 IS NULL OR p.dataset = ?6)
               AND (?7 IS NULL OR p.split = ?7)
               AND (?8 IS NULL OR instr(lower(p.question), lower(?8)) > 0)
             ORDER BY {}
             LIMIT ?9 OFFSET ?10",
            sort.order_by()
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt
            .query_map(
                params![
                    filter.status.map(CandidateStatus::as_str),
                    bool_to_sql(filter.correct),
                    bool_to_sql(filter.edited),
                    filter.min_score,
                    filter.max_score,
                    filter.dataset,
                    filter.split,
                    filter.search,
                    limit as i64,
                    offset as i64,
                ],
                |row| {
                    let status: String = row.get(5)?;
                    Ok((
                        CurationRow {
                            candidate_id: row.get(0)?,
                            problem_id: row.get(1)?,
                            dataset: row.get(2)?,
                            split: row.get(3)?,
                            plan_index: row.get(4)?,
                            status: CandidateStatus::Pending,
                            judge_score: row.get(6)?,
                            correct: row.get::<_, Option<i64>>(7)?.map(|v| v != 0),
                            edited: row.get::<_, i64>(8)? != 0,
                            question: row.get(9)?,
                        },
                        status,
                    ))
                },
            )?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        rows.into_iter()
            .map(|(mut row, status)| {
                row.status = CandidateStatus::parse(&status).ok_or(StoreError::BadValue {
                    table: "candidates",
                    column: "status",
                    id: row.candidate_id,
                    value: status,
                })?;
                Ok(row)
            })
            .collect()
    }

    /// How many candidates have each judge score (`None`: not scored), lowest first.
    pub fn judge_score_counts(&self) -> Result<Vec<(Option<i32>, u64)>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT judge_score, COUNT(*) FROM candidates GROUP BY judge_score ORDER BY judge_score",
        )?;
        let rows = stmt.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    pub fn candidate_status_counts(&self) -> Result<StatusCounts> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT status, COUNT(*) FROM candidates GROUP BY status")?;
        let mut counts = StatusCounts::default();
        let rows = stmt.query_map([], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, u64>(1)?))
        })?;
        for row in rows {
            let (status, n) = row?;
            match CandidateStatus::parse(&status) {
                Some(CandidateStatus::Pending) => counts.pending += n,
                Some(CandidateStatus::Accepted) => counts.accepted += n,
                Some(CandidateStatus::Rejected) => counts.rejected += n,
                None => {
                    return Err(StoreError::BadValue {
                        table: "candidates",
                        column: "status",
                        id: -1,
                        value: status,
                    });
                }
            }
        }
        Ok(counts)
    }
}

/// Inserts candidates inside the caller's transaction; existing (problem, teacher,
/// plan index) rows are left alone. Returns how many rows are new.
pub(super) fn insert_rows(
    tx: &rusqlite::Transaction<'_>,
    candidates: &[NewCandidate],
) -> Result<usize> {
    let mut inserted = 0;
    let mut insert = tx.prepare_cached(
        "INSERT OR IGNORE INTO candidates (problem_id, teacher, plan_index, constraints,
            plan, plan_steps, execution, extracted_answer, correct, grade_reason,
            judge_score, judge_reason, sampling, status, original, edited,
            created_ms, updated_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, 'pending',
            ?14, 0, ?15, ?15)",
    )?;
    let now = now_ms();
    for c in candidates {
        inserted += insert.execute(params![
            c.problem_id,
            c.teacher,
            c.plan_index,
            c.constraints,
            c.plan,
            to_json(&c.plan_steps),
            c.execution,
            c.extracted_answer,
            bool_to_sql(c.correct),
            c.grade_reason,
            c.judge_score,
            c.judge_reason,
            to_json(&c.sampling),
            to_json(&Original::of(c)),
            now,
        ])?;
    }
    Ok(inserted)
}
