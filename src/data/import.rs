//! `plantune-tui import`: read a dataset file, then store it in one transaction. A bad
//! row aborts the whole import before anything is written.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::{DatasetFormat, ImportError, read_problems};
use crate::workspace::store::StoreError;
use crate::workspace::{Workspace, WorkspaceError};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ImportReport {
    pub file: PathBuf,
    pub format: String,
    pub split: String,
    pub read: usize,
    pub inserted: usize,
    pub unchanged: usize,
    /// Items already stored with the same content under another dataset or id (the
    /// same file imported under another name): not stored twice.
    pub same_content: usize,
    /// The first such item's stored `dataset/id` and its content hash.
    pub same_content_example: Option<(String, String)>,
}

#[derive(Debug, thiserror::Error)]
pub enum ImportFileError {
    #[error(transparent)]
    Read(#[from] ImportError),
    #[error("{}: {source}", file.display())]
    Store { file: PathBuf, source: StoreError },
    #[error(transparent)]
    Workspace(#[from] WorkspaceError),
}

pub fn import_file(
    ws: &Workspace,
    file: &Path,
    format: DatasetFormat,
    split: &str,
) -> Result<ImportReport, ImportFileError> {
    let problems = read_problems(file, format, split)?;
    let mut store = ws.store()?;
    let outcome = store
        .insert_problems(&problems)
        .map_err(|source| ImportFileError::Store {
            file: file.to_path_buf(),
            source,
        })?;
    Ok(ImportReport {
        file: file.to_path_buf(),
        format: format.to_string(),
        split: split.to_owned(),
        read: problems.len(),
        inserted: outcome.inserted,
        unchanged: outcome.unchanged,
        same_content: outcome.same_content,
        same_content_example: outcome.same_content_example,
    })
}
