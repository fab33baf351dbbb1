//! The one error type of the dataset readers: every message names the file, the place
//! in it and the field, so a user can fix the input without reading code.

use std::fmt;
use std::path::PathBuf;

use thiserror::Error;

/// Where in the input file a problem was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Location {
    /// The file as a whole (it cannot be opened, has an unknown extension...).
    /// Shown as line `0`, the convention compilers use for file-level diagnostics.
    File,
    /// A 1-based line of a JSONL file, or the line where a JSON array element starts.
    Line(usize),
    /// A 1-based row of a Parquet file.
    Row(usize),
    /// The 0-based index of an element of a top-level JSON array, with the line on
    /// which it starts.
    Element { index: usize, line: usize },
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::File => write!(f, "0"),
            Self::Line(line) => write!(f, "{line}"),
            Self::Row(row) => write!(f, "row {row}"),
            Self::Element { index, line } => write!(f, "{line}: element {index}"),
        }
    }
}

/// What kind of defect was found; lets callers and tests react without parsing text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ImportErrorKind {
    Io,
    UnsupportedFile,
    MalformedJson,
    InvalidUtf8,
    LineTooLong,
    MissingField,
    WrongType,
    EmptyValue,
    NoAnswer,
    NulCharacter,
    DuplicateId,
    Parquet,
}

/// Displayed exactly as `{file}:{location}: {field}: {message}`.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
#[error("{}:{location}: {field}: {message}", file.display())]
pub struct ImportError {
    pub file: PathBuf,
    pub location: Location,
    /// The offending field, or `record` / `file` when the defect is not in one field.
    pub field: String,
    pub kind: ImportErrorKind,
    pub message: String,
}

impl ImportError {
    pub fn new(
        file: impl Into<PathBuf>,
        location: Location,
        field: impl Into<String>,
        kind: ImportErrorKind,
        message: impl Into<String>,
    ) -> Self {
        Self {
            file: file.into(),
            location,
            field: field.into(),
            kind,
            message: message.into(),
        }
    }
}
