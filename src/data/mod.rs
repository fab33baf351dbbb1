//! Dataset readers (GSM8K, MATH, OlympiadBench, AIME, generic JSONL/JSON/Parquet),
//! the synthetic task domain, and importing a file into a workspace's store.

mod boxed;
mod error;
mod formats;
pub mod import;
mod source;
pub mod synth;

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::fmt;
use std::path::Path;
use std::str::FromStr;

pub use boxed::last_boxed;
pub use error::{ImportError, ImportErrorKind, Location};
pub use formats::content_id;
pub use source::MAX_LINE_BYTES;

use crate::workspace::records::NewProblem;

/// Which dataset's field conventions a file follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum DatasetFormat {
    /// GSM8K: `question`, `answer` ("solution #### 42").
    Gsm8k,
    /// MATH: `problem`, `solution` (answer = last `\boxed{}`), `level`, `type`.
    Math,
    /// AIME compilations: `ID`/`id`, `Problem`/`Question`/`question`, `Answer`, `Year`.
    Aime,
    /// OlympiadBench: `id`, `question`, `final_answer` (list), `solution` (list).
    Olympiad,
    /// Any file with `question` and `answer` (and optional `id`, `solution`).
    Jsonl,
}

impl DatasetFormat {
    pub const ALL: [Self; 5] = [
        Self::Gsm8k,
        Self::Math,
        Self::Aime,
        Self::Olympiad,
        Self::Jsonl,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::Gsm8k => "gsm8k",
            Self::Math => "math",
            Self::Aime => "aime",
            Self::Olympiad => "olympiad",
            Self::Jsonl => "jsonl",
        }
    }
}

impl fmt::Display for DatasetFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown dataset format `{0}`: expected gsm8k, math, aime, olympiad or jsonl")]
pub struct UnknownFormat(pub String);

impl FromStr for DatasetFormat {
    type Err = UnknownFormat;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|format| format.name().eq_ignore_ascii_case(text.trim()))
            .ok_or_else(|| UnknownFormat(text.to_owned()))
    }
}

/// Reads every problem of `path` (JSONL, JSON array or Parquet) as `format`, all in
/// `split`. Any defect aborts the whole read, so the caller stores all or nothing.
/// An id repeated with identical content is kept once; with different content it is
/// an error.
pub fn read_problems(
    path: &Path,
    format: DatasetFormat,
    split: &str,
) -> Result<Vec<NewProblem>, ImportError> {
    let records = source::read_records(path)?;
    let mut problems: Vec<NewProblem> = Vec::with_capacity(records.len());
    let mut first_seen: HashMap<String, (Location, usize)> = HashMap::new();
    for record in records {
        let location = record.location;
        let problem = formats::to_problem(path, record, format, split)?;
        match first_seen.entry(problem.external_id.clone()) {
            Entry::Vacant(slot) => {
                slot.insert((location, problems.len()));
                problems.push(problem);
            }
            Entry::Occupied(seen) => {
                let (first_location, index) = *seen.get();
                if problems[index] != problem {
                    return Err(ImportError::new(
                        path,
                        location,
                        "id",
                        ImportErrorKind::DuplicateId,
                        format!(
                            "duplicate id `{}` with different content (first at {})",
                            problem.external_id,
                            describe(first_location)
                        ),
                    ));
                }
            }
        }
    }
    Ok(problems)
}

fn describe(location: Location) -> String {
    match location {
        Location::File => "the file".to_owned(),
        Location::Line(line) => format!("line {line}"),
        Location::Row(row) => format!("row {row}"),
        Location::Element { index, .. } => format!("element {index}"),
    }
}
