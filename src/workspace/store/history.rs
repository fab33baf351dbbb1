//! Curation edits with a persisted undo/redo history.
//!
//! Every change (a status flip, an edited plan step, a re-grade) is a row in `edits`
//! holding the old and new value, grouped per user action, so undo works across
//! restarts and a bulk accept is undone in one step.

use rusqlite::{OptionalExtension, Transaction, params};
use serde::{Deserialize, Serialize};

use super::candidates::Original;
use super::{Result, Store, StoreError, now_ms};

/// A candidate field a curator can change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EditField {
    Status,
    Constraints,
    Plan,
    /// The plan's steps as a JSON array of strings.
    PlanSteps,
    Execution,
    ExtractedAnswer,
    /// `"1"`, `"0"` or absent.
    Correct,
    GradeReason,
}

impl EditField {
    fn column(self) -> &'static str {
        match self {
            Self::Status => "status",
            Self::Constraints => "constraints",
            Self::Plan => "plan",
            Self::PlanSteps => "plan_steps",
            Self::Execution => "execution",
            Self::ExtractedAnswer => "extracted_answer",
            Self::Correct => "correct",
            Self::GradeReason => "grade_reason",
        }
    }

    fn parse(column: &str) -> Option<Self> {
        [
            Self::Status,
            Self::Constraints,
            Self::Plan,
            Self::PlanSteps,
            Self::Execution,
            Self::ExtractedAnswer,
            Self::Correct,
            Self::GradeReason,
        ]
        .into_iter()
        .find(|field| field.column() == column)
    }
}

/// One field of one candidate set to a new value.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldChange {
    pub candidate_id: i64,
    pub field: EditField,
    pub value: Option<String>,
}

impl FieldChange {
    pub fn new(candidate_id: i64, field: EditField, value: impl Into<String>) -> Self {
        Self {
            candidate_id,
            field,
            value: Some(value.into()),
        }
    }
}

/// Edit rows are never deleted: `ABANDONED` marks an undone edit whose redo was
/// discarded by a newer edit, so the history still shows it.
const APPLIED: i64 = 0;
const UNDONE: i64 = 1;
const ABANDONED: i64 = 2;

fn read_field(tx: &Transaction<'_>, candidate_id: i64, field: EditField) -> Result<Option<String>> {
    // `correct` is an integer column; reading it as text gives "1"/"0".
    let sql = format!(
        "SELECT CAST({} AS TEXT) FROM candidates WHERE id = ?1",
        field.column()
    );
    tx.query_row(&sql, [candidate_id], |row| row.get(0))
        .optional()?
        .ok_or(StoreError::NotFound {
            what: "candidate",
            id: candidate_id.to_string(),
        })
}

fn write_field(
    tx: &Transaction<'_>,
    candidate_id: i64,
    field: EditField,
    value: Option<&str>,
    now: i64,
) -> Result<()> {
    if field == EditField::Status
        && value
            .and_then(crate::workspace::records::CandidateStatus::parse)
            .is_none()
    {
        return Err(StoreError::Conflict(format!(
            "invalid status {value:?} for candidate {candidate_id}"
        )));
    }
    if field == EditField::Correct && !matches!(value, None | Some("0") | Some("1")) {
        return Err(StoreError::Conflict(format!(
            "invalid correct flag {value:?} for candidate {candidate_id}"
        )));
    }
    let sql = format!(
        "UPDATE candidates SET {} = ?1, updated_ms = ?2 WHERE id = ?3",
        field.column()
    );
    let value: Option<rusqlite::types::Value> = value.map(|v| match field {
        EditField::Correct => rusqlite::types::Value::Integer(i64::from(v == "1")),
        _ => rusqlite::types::Value::Text(v.to_owned()),
    });
    tx.execute(&sql, params![value, now, candidate_id])?;
    Ok(())
}

/// Recomputes the `edited` flag: true while any teacher-written text differs from the
/// original, so undoing an edit clears it again.
fn refresh_edited(tx: &Transaction<'_>, candidate_id: i64) -> Result<()> {
    let (constraints, plan, steps, execution, original): (String, String, String, String, String) =
        tx.query_row(
            "SELECT constraints, plan, plan_steps, execution, original FROM candidates WHERE id = ?1",
            [candidate_id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )?;
    let bad = |column, source| StoreError::BadJson {
        table: "candidates",
        column,
        id: candidate_id,
        source,
    };
    let original: Original = serde_json::from_str(&original).map_err(|e| bad("original", e))?;
    let steps: Vec<String> = serde_json::from_str(&steps).map_err(|e| bad("plan_steps", e))?;
    let edited = constraints != original.constraints
        || plan != original.plan
        || steps != original.plan_steps
        || execution != original.execution;
    tx.execute(
        "UPDATE candidates SET edited = ?1 WHERE id = ?2",
        params![edited, candidate_id],
    )?;
    Ok(())
}

struct EditRow {
    id: i64,
    candidate_id: i64,
    column: String,
    old: Option<String>,
    new: Option<String>,
}

/// What an undo or redo touched, so a view can reload those candidates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryStep {
    pub group_id: i64,
    pub candidate_ids: Vec<i64>,
}

impl Store {
    /// Applies the changes as one undoable action. Values equal to the current ones are
    /// not recorded. Returns the action's group id, or `None` if nothing changed.
    pub fn apply_changes(&mut self, changes: &[FieldChange]) -> Result<Option<i64>> {
        let tx = self.write()?;
        let group_id: i64 = tx.query_row(
            "SELECT COALESCE(MAX(group_id), 0) + 1 FROM edits",
            [],
            |r| r.get(0),
        )?;
        let now = now_ms();
        let mut touched = Vec::new();
        for change in changes {
            let old = read_field(&tx, change.candidate_id, change.field)?;
            if old == change.value {
                continue;
            }
            write_field(
                &tx,
                change.candidate_id,
                change.field,
                change.value.as_deref(),
                now,
            )?;
            tx.execute(
                "INSERT INTO edits (group_id, candidate_id, field, old_value, new_value, undone,
                    created_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    group_id,
                    change.candidate_id,
                    change.field.column(),
                    old,
                    change.value,
                    APPLIED,
                    now
                ],
            )?;
            if !touched.contains(&change.candidate_id) {
                touched.push(change.candidate_id);
            }
        }
        if touched.is_empty() {
            return Ok(None);
        }
        // A new action ends the redo chain, as in every editor.
        tx.execute(
            "UPDATE edits SET undone = ?1 WHERE undone = ?2",
            params![ABANDONED, UNDONE],
        )?;
        for id in &touched {
            refresh_edited(&tx, *id)?;
        }
        tx.commit()?;
        Ok(Some(group_id))
    }

    /// Reverts the most recent applied action.
    pub fn undo(&mut self) -> Result<Option<HistoryStep>> {
        self.replay(true)
    }

    /// Re-applies the most recently undone action.
    pub fn redo(&mut self) -> Result<Option<HistoryStep>> {
        self.replay(false)
    }

    fn replay(&mut self, undo: bool) -> Result<Option<HistoryStep>> {
        let tx = self.write()?;
        let pick = if undo {
            "SELECT MAX(group_id) FROM edits WHERE undone = 0"
        } else {
            "SELECT MIN(group_id) FROM edits WHERE undone = 1"
        };
        let Some(group_id): Option<i64> = tx.query_row(pick, [], |r| r.get(0))? else {
            return Ok(None);
        };
        let order = if undo { "DESC" } else { "ASC" };
        let edits: Vec<EditRow> = {
            let mut stmt = tx.prepare(&format!(
                "SELECT id, candidate_id, field, old_value, new_value FROM edits
                 WHERE group_id = ?1 ORDER BY id {order}"
            ))?;
            stmt.query_map([group_id], |r| {
                Ok(EditRow {
                    id: r.get(0)?,
                    candidate_id: r.get(1)?,
                    column: r.get(2)?,
                    old: r.get(3)?,
                    new: r.get(4)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()?
        };
        let now = now_ms();
        let mut touched = Vec::new();
        for EditRow {
            id: edit_id,
            candidate_id,
            column,
            old,
            new,
        } in edits
        {
            let field = EditField::parse(&column).ok_or(StoreError::BadValue {
                table: "edits",
                column: "field",
                id: edit_id,
                value: column.clone(),
            })?;
            let value = if undo { old } else { new };
            write_field(&tx, candidate_id, field, value.as_deref(), now)?;
            if !touched.contains(&candidate_id) {
                touched.push(candidate_id);
            }
        }
        tx.execute(
            "UPDATE edits SET undone = ?1 WHERE group_id = ?2",
            params![if undo { UNDONE } else { APPLIED }, group_id],
        )?;
        for id in &touched {
            refresh_edited(&tx, *id)?;
        }
        tx.commit()?;
        Ok(Some(HistoryStep {
            group_id,
            candidate_ids: touched,
        }))
    }
}
