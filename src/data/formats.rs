//! Per-dataset interpretation of a raw record: which fields hold the question, the gold
//! answer and the solution, and how the answer is cleaned.

use std::path::Path;

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::DatasetFormat;
use super::boxed::last_boxed;
use super::error::{ImportError, ImportErrorKind, Location};
use super::source::{RawRecord, json_type_name};
use crate::workspace::records::NewProblem;

/// A record being consumed: fields are removed as they are interpreted, whatever is
/// left becomes the problem's metadata.
struct Record<'a> {
    file: &'a Path,
    location: Location,
    fields: Map<String, Value>,
}

impl Record<'_> {
    fn error(&self, field: &str, kind: ImportErrorKind, message: impl Into<String>) -> ImportError {
        ImportError::new(self.file, self.location, field, kind, message)
    }

    /// Removes and returns the first non-null field among `aliases`, with its name.
    fn take(&mut self, aliases: &[&'static str]) -> Option<(&'static str, Value)> {
        aliases
            .iter()
            .find_map(|&name| match self.fields.get(name) {
                Some(Value::Null) | None => None,
                Some(_) => self.fields.remove(name).map(|value| (name, value)),
            })
    }

    fn missing(&self, aliases: &[&str]) -> ImportError {
        let message = match aliases {
            [_] | [] => "missing field".to_owned(),
            [_, others @ ..] => format!("missing field (also accepted: {})", others.join(", ")),
        };
        self.error(
            aliases.first().copied().unwrap_or("record"),
            ImportErrorKind::MissingField,
            message,
        )
    }

    fn wrong_type(&self, field: &str, expected: &str, found: &Value) -> ImportError {
        self.error(
            field,
            ImportErrorKind::WrongType,
            format!("expected {expected}, found {}", json_type_name(found)),
        )
    }

    fn empty(&self, field: &str) -> ImportError {
        self.error(
            field,
            ImportErrorKind::EmptyValue,
            "empty after trimming whitespace",
        )
    }

    /// A required text field, trimmed and non-empty.
    fn text(&mut self, aliases: &[&'static str]) -> Result<String, ImportError> {
        let (name, value) = self.take(aliases).ok_or_else(|| self.missing(aliases))?;
        match value {
            Value::String(text) => self.non_empty(name, &text),
            other => Err(self.wrong_type(name, "a string", &other)),
        }
    }

    /// An optional text field; a list (OlympiadBench keeps several official solutions)
    /// gives its first element.
    fn optional_text(&mut self, aliases: &[&'static str]) -> Result<Option<String>, ImportError> {
        let Some((name, value)) = self.take(aliases) else {
            return Ok(None);
        };
        let text = match value {
            Value::String(text) => text,
            Value::Array(items) => match items.into_iter().next() {
                None => return Ok(None),
                Some(Value::String(text)) => text,
                Some(other) => return Err(self.wrong_type(name, "a list of strings", &other)),
            },
            other => return Err(self.wrong_type(name, "a string", &other)),
        };
        self.no_nul(name, &text)?;
        let trimmed = text.trim();
        Ok((!trimmed.is_empty()).then(|| trimmed.to_owned()))
    }

    /// NUL is refused in every text field (a raw byte or JSON's `\u0000`): SQLite and C
    /// strings cut at it, and no dataset means one.
    fn no_nul(&self, field: &str, text: &str) -> Result<(), ImportError> {
        match text.find('\0') {
            None => Ok(()),
            Some(at) => Err(self.error(
                field,
                ImportErrorKind::NulCharacter,
                format!(
                    "NUL character at character {}",
                    text[..at].chars().count() + 1
                ),
            )),
        }
    }

    /// A required answer: a string, a number (AIME answers are often integers), or a
    /// list of strings (OlympiadBench `final_answer`), each passed through `clean`.
    fn answer(
        &mut self,
        aliases: &[&'static str],
        clean: fn(&str) -> &str,
    ) -> Result<(&'static str, String), ImportError> {
        let (name, value) = self.take(aliases).ok_or_else(|| self.missing(aliases))?;
        let text = match value {
            Value::String(text) => clean(&text).to_owned(),
            Value::Number(number) => number.to_string(),
            Value::Array(items) => {
                let mut parts = Vec::with_capacity(items.len());
                for item in items {
                    match item {
                        Value::String(text) => parts.push(clean(&text).to_owned()),
                        Value::Number(number) => parts.push(number.to_string()),
                        other => {
                            return Err(self.wrong_type(name, "a list of strings", &other));
                        }
                    }
                }
                parts.join(", ")
            }
            other => return Err(self.wrong_type(name, "a string or a number", &other)),
        };
        Ok((name, self.non_empty(name, &text)?))
    }

    /// The item's own id (a string or an integer), if it has one.
    fn id(&mut self, aliases: &[&'static str]) -> Result<Option<String>, ImportError> {
        let Some((name, value)) = self.take(aliases) else {
            return Ok(None);
        };
        match value {
            Value::String(text) => self.non_empty(name, &text).map(Some),
            Value::Number(number) if number.is_i64() || number.is_u64() => {
                Ok(Some(number.to_string()))
            }
            other => Err(self.wrong_type(name, "a string or an integer", &other)),
        }
    }

    fn non_empty(&self, field: &str, text: &str) -> Result<String, ImportError> {
        self.no_nul(field, text)?;
        let trimmed = text.trim();
        if trimmed.is_empty() {
            Err(self.empty(field))
        } else {
            Ok(trimmed.to_owned())
        }
    }
}

fn as_is(text: &str) -> &str {
    text
}

/// OlympiadBench writes final answers as inline math: `$0.916$`.
fn strip_math_delimiters(text: &str) -> &str {
    text.trim().trim_matches('$').trim()
}

/// `1,728` → `1728`, only when the result is a plain number (GSM8K answers are).
fn without_thousands_commas(answer: &str) -> String {
    let joined: String = answer.chars().filter(|&c| c != ',').collect();
    if joined != answer && joined.parse::<f64>().is_ok() {
        joined
    } else {
        answer.to_owned()
    }
}

/// A stable id for items without one, so a re-import maps to the same rows.
pub fn content_id(question: &str, answer: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(question.as_bytes());
    hasher.update([0x1f]);
    hasher.update(answer.as_bytes());
    let digest = hasher.finalize();
    let hex: String = digest[..16]
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    format!("sha256:{hex}")
}

struct Parsed {
    id: Option<String>,
    question: String,
    answer: String,
    solution: Option<String>,
    dataset: Option<String>,
}

/// Interprets one record as a problem of `format`.
pub fn to_problem(
    file: &Path,
    raw: RawRecord,
    format: DatasetFormat,
    split: &str,
) -> Result<NewProblem, ImportError> {
    let mut record = Record {
        file,
        location: raw.location,
        fields: raw.fields,
    };
    let parsed = match format {
        DatasetFormat::Gsm8k => gsm8k(&mut record)?,
        DatasetFormat::Math => math(&mut record)?,
        DatasetFormat::Aime => aime(&mut record)?,
        DatasetFormat::Olympiad => olympiad(&mut record)?,
        DatasetFormat::Jsonl => generic(&mut record)?,
    };
    let dataset = match parsed.dataset {
        Some(name) => name,
        None if format == DatasetFormat::Jsonl => file.file_stem().map_or_else(
            || "jsonl".to_owned(),
            |stem| stem.to_string_lossy().into_owned(),
        ),
        None => format.to_string(),
    };
    let external_id = parsed
        .id
        .unwrap_or_else(|| content_id(&parsed.question, &parsed.answer));
    Ok(NewProblem {
        dataset,
        split: split.to_owned(),
        external_id,
        question: parsed.question,
        gold_answer: parsed.answer,
        gold_solution: parsed.solution,
        // Null means absent (Parquet writes a null for every missing optional column).
        metadata: Value::Object(
            record
                .fields
                .into_iter()
                .filter(|(_, value)| !value.is_null())
                .collect(),
        ),
    })
}

/// Original GSM8K puts `solution #### 42` in `answer`; the sample files split it already.
fn gsm8k(record: &mut Record) -> Result<Parsed, ImportError> {
    let id = record.id(&["id"])?;
    let question = record.text(&["question"])?;
    let (answer_field, full_answer) = record.answer(&["answer"], as_is)?;
    let mut solution = record.optional_text(&["solution"])?;
    let answer = match full_answer.rsplit_once("####") {
        Some((worked, final_answer)) => {
            let worked = worked.trim();
            if !worked.is_empty() {
                solution = Some(worked.to_owned());
            }
            record.non_empty(answer_field, final_answer)?
        }
        // The split layout: the worked solution in its own field, the answer bare.
        None if solution.is_some() => full_answer,
        None => {
            return Err(record.error(
                answer_field,
                ImportErrorKind::NoAnswer,
                "no `####` before the final answer (GSM8K writes `solution #### 42`, or the \
                 answer alone with the worked solution in `solution`)",
            ));
        }
    };
    Ok(Parsed {
        id,
        question,
        answer: without_thousands_commas(&answer),
        solution,
        dataset: None,
    })
}

/// Original MATH has only `problem` and `solution`; the answer is the last boxed value.
fn math(record: &mut Record) -> Result<Parsed, ImportError> {
    let id = record.id(&["id", "unique_id"])?;
    let question = record.text(&["problem", "question"])?;
    let solution = record.optional_text(&["solution"])?;
    let answer = if record.fields.contains_key("answer") {
        record.answer(&["answer"], as_is)?.1
    } else {
        let Some(worked) = solution.as_deref() else {
            return Err(record.error(
                "answer",
                ImportErrorKind::MissingField,
                "missing field, and no `solution` to take a \\boxed{} answer from",
            ));
        };
        let boxed = last_boxed(worked).ok_or_else(|| {
            record.error(
                "solution",
                ImportErrorKind::NoAnswer,
                "no complete \\boxed{...} answer in the solution",
            )
        })?;
        record.non_empty("solution", boxed)?
    };
    Ok(Parsed {
        id,
        question,
        answer,
        solution,
        dataset: None,
    })
}

fn aime(record: &mut Record) -> Result<Parsed, ImportError> {
    let id = record.id(&["id", "ID"])?;
    let question = record.text(&["question", "Question", "problem", "Problem"])?;
    let (_, answer) = record.answer(&["answer", "Answer"], as_is)?;
    let solution = record.optional_text(&["solution", "Solution"])?;
    if let Some((_, year)) = record.take(&["year", "Year"]) {
        record.fields.insert("year".to_owned(), year);
    }
    Ok(Parsed {
        id,
        question,
        answer,
        solution,
        dataset: None,
    })
}

fn olympiad(record: &mut Record) -> Result<Parsed, ImportError> {
    let id = record.id(&["id"])?;
    let question = record.text(&["question"])?;
    let (_, answer) = record.answer(&["final_answer", "answer"], strip_math_delimiters)?;
    let solution = record.optional_text(&["solution"])?;
    Ok(Parsed {
        id,
        question,
        answer,
        solution,
        dataset: None,
    })
}

fn generic(record: &mut Record) -> Result<Parsed, ImportError> {
    let id = record.id(&["id"])?;
    let question = record.text(&["question"])?;
    let (_, answer) = record.answer(&["answer"], as_is)?;
    let solution = record.optional_text(&["solution"])?;
    let dataset = match record.take(&["dataset", "source"]) {
        None => None,
        Some((name, Value::String(text))) => Some(record.non_empty(name, &text)?),
        Some((name, other)) => return Err(record.wrong_type(name, "a string", &other)),
    };
    Ok(Parsed {
        id,
        question,
        answer,
        solution,
        dataset,
    })
}
