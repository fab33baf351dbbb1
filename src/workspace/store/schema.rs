//! Schema versions and forward migrations.
//!
//! The version lives in SQLite's `user_version`, so an old database opened by a new
//! binary is brought forward inside one transaction before anything else touches it.

use rusqlite::{Connection, TransactionBehavior};

use super::StoreError;

/// Each entry moves the schema from version `index` to `index + 1`.
const MIGRATIONS: &[&str] = &[V1, V2, V3, V4, V5];

pub const CURRENT_VERSION: u32 = MIGRATIONS.len() as u32;

const V1: &str = r#"
CREATE TABLE problems (
    id            INTEGER PRIMARY KEY,
    dataset       TEXT NOT NULL,
    split         TEXT NOT NULL,
    external_id   TEXT NOT NULL,
    question      TEXT NOT NULL,
    gold_answer   TEXT NOT NULL,
    gold_solution TEXT,
    metadata      TEXT NOT NULL DEFAULT '{}',
    content_hash  TEXT NOT NULL,
    created_ms    INTEGER NOT NULL,
    UNIQUE (dataset, external_id)
);
CREATE INDEX problems_by_split ON problems (dataset, split);

CREATE TABLE candidates (
    id               INTEGER PRIMARY KEY,
    problem_id       INTEGER NOT NULL REFERENCES problems (id) ON DELETE CASCADE,
    teacher          TEXT NOT NULL,
    plan_index       INTEGER NOT NULL,
    constraints      TEXT NOT NULL,
    plan             TEXT NOT NULL,
    plan_steps       TEXT NOT NULL,
    execution        TEXT NOT NULL,
    extracted_answer TEXT,
    correct          INTEGER,
    grade_reason     TEXT NOT NULL,
    judge_score      INTEGER,
    judge_reason     TEXT NOT NULL,
    sampling         TEXT NOT NULL,
    status           TEXT NOT NULL DEFAULT 'pending',
    original         TEXT NOT NULL,
    edited           INTEGER NOT NULL DEFAULT 0,
    created_ms       INTEGER NOT NULL,
    updated_ms       INTEGER NOT NULL,
    UNIQUE (problem_id, teacher, plan_index)
);
CREATE INDEX candidates_by_problem ON candidates (problem_id);

CREATE TABLE edits (
    id           INTEGER PRIMARY KEY,
    group_id     INTEGER NOT NULL,
    candidate_id INTEGER NOT NULL REFERENCES candidates (id) ON DELETE CASCADE,
    field        TEXT NOT NULL,
    old_value    TEXT,
    new_value    TEXT,
    undone       INTEGER NOT NULL DEFAULT 0,
    created_ms   INTEGER NOT NULL
);
CREATE INDEX edits_by_group ON edits (group_id);

CREATE TABLE datasets (
    id           INTEGER PRIMARY KEY,
    name         TEXT NOT NULL,
    kind         TEXT NOT NULL,
    content_hash TEXT NOT NULL UNIQUE,
    n_examples   INTEGER NOT NULL,
    path         TEXT NOT NULL,
    params       TEXT NOT NULL DEFAULT '{}',
    created_ms   INTEGER NOT NULL
);

CREATE TABLE runs (
    id           TEXT PRIMARY KEY,
    kind         TEXT NOT NULL,
    status       TEXT NOT NULL,
    pid          INTEGER,
    dir          TEXT NOT NULL,
    dataset_hash TEXT,
    config       TEXT NOT NULL DEFAULT '{}',
    created_ms   INTEGER NOT NULL,
    updated_ms   INTEGER NOT NULL
);

CREATE TABLE predictions (
    id           INTEGER PRIMARY KEY,
    model        TEXT NOT NULL,
    benchmark    TEXT NOT NULL,
    mode         TEXT NOT NULL,
    problem_id   INTEGER NOT NULL REFERENCES problems (id) ON DELETE CASCADE,
    sample_index INTEGER NOT NULL DEFAULT 0,
    output       TEXT NOT NULL,
    extracted    TEXT,
    correct      INTEGER NOT NULL,
    created_ms   INTEGER NOT NULL,
    UNIQUE (model, benchmark, mode, problem_id, sample_index)
);
"#;

/// Version 2: the grader's reason and generation cost on predictions (the compare and
/// eval screens show them), and the index behind the curation list's first page.
const V2: &str = r#"
ALTER TABLE predictions ADD COLUMN reason TEXT NOT NULL DEFAULT '';
ALTER TABLE predictions ADD COLUMN tokens INTEGER NOT NULL DEFAULT 0;
ALTER TABLE predictions ADD COLUMN latency_ms INTEGER NOT NULL DEFAULT 0;
CREATE INDEX candidates_by_status_score ON candidates (status, judge_score DESC, id);
"#;

/// Version 3: every teacher answer, keyed by a hash of (model, messages, sampling), so a
/// killed distill job restarts without paying for calls it already made.
const V3: &str = r#"
CREATE TABLE teacher_cache (
    key               TEXT PRIMARY KEY,
    model             TEXT NOT NULL,
    text              TEXT NOT NULL,
    finish_reason     TEXT,
    prompt_tokens     INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    latency_ms        INTEGER NOT NULL,
    created_ms        INTEGER NOT NULL
);
"#;

pub fn version(conn: &Connection) -> Result<u32, StoreError> {
    Ok(conn.query_row("PRAGMA user_version", [], |row| row.get(0))?)
}

/// Version 4: how each teacher call behind a candidate ended (a stage cut by
/// `max_tokens` is marked `length`), and the distinct plans each problem got.
const V4: &str = r#"
ALTER TABLE candidates ADD COLUMN finish_reasons TEXT NOT NULL DEFAULT '{}';
CREATE TABLE plan_diversity (
    problem_id     INTEGER NOT NULL REFERENCES problems (id) ON DELETE CASCADE,
    teacher        TEXT NOT NULL,
    asked          INTEGER NOT NULL,
    distinct_plans INTEGER NOT NULL,
    updated_ms     INTEGER NOT NULL,
    PRIMARY KEY (problem_id, teacher)
);
"#;

/// Brings the schema to `target` (normally [`CURRENT_VERSION`]); one transaction per
/// step so a crash mid-migration leaves the previous version intact.
pub fn migrate_to(conn: &mut Connection, target: u32) -> Result<(), StoreError> {
    let found = version(conn)?;
    if found > CURRENT_VERSION {
        return Err(StoreError::TooNew {
            found,
            supported: CURRENT_VERSION,
        });
    }
    for step in found..target.min(CURRENT_VERSION) {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        // Another process may have migrated while we waited for the write lock.
        let now: u32 = tx.query_row("PRAGMA user_version", [], |row| row.get(0))?;
        if now > step {
            tx.commit()?;
            continue;
        }
        tx.execute_batch(MIGRATIONS[step as usize])?;
        tx.pragma_update(None, "user_version", step + 1)?;
        tx.commit()?;
    }
    Ok(())
}

/// Version 5: problems by content hash, so an import finds the same content already
/// stored under another file's (dataset's) name.
const V5: &str = r#"
CREATE INDEX problems_by_content ON problems (content_hash);
"#;
