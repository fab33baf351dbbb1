//! Re-grading prediction files made elsewhere (`plantune-tui grade FILE`).
//!
//! Two layouts are read: JSON lines with `prediction` and `answer` fields (optional `id`,
//! `question`), and the JSON list that the authors' evaluation script writes
//! (`predictions.json`: objects with `question`, `answer`, `prediction`).

use super::{ExtractRule, GradeOptions, grade_with};
use serde::Serialize;
use serde_json::Value;
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Where in the input file an item sits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Location {
    /// 1-based line of a JSONL file.
    Line(usize),
    /// 0-based index in a JSON list.
    Index(usize),
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Line(n) => write!(f, "line {n}"),
            Location::Index(i) => write!(f, "list index {i}"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum GradeFileError {
    #[error("{}: cannot read: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {location}: invalid JSON: {source}", path.display())]
    Json {
        path: PathBuf,
        location: Location,
        source: serde_json::Error,
    },
    #[error("{}: {location}: expected a JSON object", path.display())]
    NotAnObject { path: PathBuf, location: Location },
    #[error("{}: {location}: missing field `{field}`", path.display())]
    MissingField {
        path: PathBuf,
        location: Location,
        field: &'static str,
    },
    #[error("{}: {location}: field `{field}` must be a string or a number", path.display())]
    WrongType {
        path: PathBuf,
        location: Location,
        field: &'static str,
    },
    #[error("writing grade output: {0}")]
    Write(#[from] std::io::Error),
}

/// What to print per item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OutputMode {
    /// Only the accuracy line.
    #[default]
    Summary,
    /// One human-readable line per item, then the accuracy line.
    Verbose,
    /// One JSON object per item (`id`, `correct`, `extracted`, `rule`, `reason`); no
    /// summary line so the output stays valid JSON lines (the caller prints the summary).
    Json,
}

/// Accuracy over a file.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct GradeSummary {
    pub n: usize,
    pub correct: usize,
    /// correct / n, 0 for an empty file.
    pub accuracy: f64,
}

impl fmt::Display for GradeSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "accuracy {:.4} ({}/{})",
            self.accuracy, self.correct, self.n
        )
    }
}

#[derive(Serialize)]
struct ItemLine<'a> {
    id: Value,
    correct: bool,
    extracted: Option<&'a str>,
    rule: Option<ExtractRule>,
    reason: &'a str,
}

/// Reads `path` (JSONL or a JSON list), grades every item and writes per-item output and
/// the summary to `out` as `mode` asks.
pub fn grade_file(
    path: &Path,
    mode: OutputMode,
    out: &mut dyn Write,
) -> Result<GradeSummary, GradeFileError> {
    let content = std::fs::read_to_string(path).map_err(|source| GradeFileError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    grade_content(path, &content, mode, out)
}

/// [`grade_file`] on text already in memory; `path` only names the source in errors.
pub fn grade_content(
    path: &Path,
    content: &str,
    mode: OutputMode,
    out: &mut dyn Write,
) -> Result<GradeSummary, GradeFileError> {
    let items = read_items(path, content)?;
    let mut correct = 0;
    for (position, (location, value)) in items.iter().enumerate() {
        let item = Item::from_value(path, *location, value)?;
        let opts = GradeOptions {
            question: item.question.as_deref(),
        };
        let verdict = grade_with(&item.prediction, &gold_final_answer(&item.answer), &opts);
        correct += usize::from(verdict.correct);
        let id = item.id.unwrap_or_else(|| Value::from(position));
        match mode {
            OutputMode::Summary => {}
            OutputMode::Verbose => {
                let id_text = match &id {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                writeln!(
                    out,
                    "{id_text}\t{}\t{}\t{}",
                    if verdict.correct { "correct" } else { "wrong" },
                    verdict.extracted.as_deref().unwrap_or("-"),
                    verdict.reason
                )?;
            }
            OutputMode::Json => {
                let line = ItemLine {
                    id,
                    correct: verdict.correct,
                    extracted: verdict.extracted.as_deref(),
                    rule: verdict.rule,
                    reason: &verdict.reason,
                };
                serde_json::to_writer(&mut *out, &line).map_err(std::io::Error::other)?;
                writeln!(out)?;
            }
        }
    }
    let n = items.len();
    let summary = GradeSummary {
        n,
        correct,
        accuracy: if n == 0 {
            0.0
        } else {
            correct as f64 / n as f64
        },
    };
    if mode != OutputMode::Json {
        writeln!(out, "{summary}")?;
    }
    Ok(summary)
}

/// A gold field holding a whole GSM8K or MATH solution is reduced to its final answer.
fn gold_final_answer(gold: &str) -> String {
    if (gold.contains("####") || gold.contains("\\boxed"))
        && let Some(found) = super::extract_answer(gold)
    {
        return found.text;
    }
    gold.to_string()
}

fn read_items(path: &Path, content: &str) -> Result<Vec<(Location, Value)>, GradeFileError> {
    if content.trim_start().starts_with('[') {
        let value: Value =
            serde_json::from_str(content).map_err(|source| GradeFileError::Json {
                path: path.to_path_buf(),
                location: Location::Line(source_line(&source)),
                source,
            })?;
        let Value::Array(list) = value else {
            return Err(GradeFileError::NotAnObject {
                path: path.to_path_buf(),
                location: Location::Line(1),
            });
        };
        return Ok(list
            .into_iter()
            .enumerate()
            .map(|(i, v)| (Location::Index(i), v))
            .collect());
    }
    let mut items = Vec::new();
    for (i, line) in content.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let location = Location::Line(i + 1);
        let value = serde_json::from_str(line).map_err(|source| GradeFileError::Json {
            path: path.to_path_buf(),
            location,
            source,
        })?;
        items.push((location, value));
    }
    Ok(items)
}

fn source_line(e: &serde_json::Error) -> usize {
    e.line().max(1)
}

struct Item {
    id: Option<Value>,
    prediction: String,
    answer: String,
    question: Option<String>,
}

impl Item {
    fn from_value(path: &Path, location: Location, value: &Value) -> Result<Item, GradeFileError> {
        let Value::Object(map) = value else {
            return Err(GradeFileError::NotAnObject {
                path: path.to_path_buf(),
                location,
            });
        };
        let text_field = |field: &'static str| -> Result<Option<String>, GradeFileError> {
            match map.get(field) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(Value::Number(n)) => Ok(Some(n.to_string())),
                Some(_) => Err(GradeFileError::WrongType {
                    path: path.to_path_buf(),
                    location,
                    field,
                }),
            }
        };
        let required = |field: &'static str| -> Result<String, GradeFileError> {
            text_field(field)?.ok_or(GradeFileError::MissingField {
                path: path.to_path_buf(),
                location,
                field,
            })
        };
        let id = match map.get("id") {
            None | Some(Value::Null) => None,
            Some(v @ (Value::String(_) | Value::Number(_))) => Some(v.clone()),
            Some(_) => {
                return Err(GradeFileError::WrongType {
                    path: path.to_path_buf(),
                    location,
                    field: "id",
                });
            }
        };
        Ok(Item {
            id,
            prediction: required("prediction")?,
            answer: required("answer")?,
            question: text_field("question")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(content: &str, mode: OutputMode) -> (Result<GradeSummary, GradeFileError>, String) {
        let mut out = Vec::new();
        let result = grade_content(Path::new("preds.jsonl"), content, mode, &mut out);
        (result, String::from_utf8_lossy(&out).into_owned())
    }

    #[test]
    fn jsonl_verbose_and_summary() {
        let content = concat!(
            r#"{"id": "a", "prediction": "so \\boxed{\\frac12}", "answer": "0.5"}"#,
            "\n\n",
            "{\"prediction\": \"#### 41\", \"answer\": 42}",
            "\n"
        );
        let (result, text) = run(content, OutputMode::Verbose);
        let summary = result.ok();
        assert_eq!(summary.map(|s| (s.n, s.correct)), Some((2, 1)));
        assert!(text.starts_with("a\tcorrect\t\\frac12\t"), "{text}");
        assert!(text.contains("\n1\twrong\t41\t"), "{text}");
        assert!(text.ends_with("accuracy 0.5000 (1/2)\n"), "{text}");
    }

    #[test]
    fn json_list_with_questions() {
        let content = concat!(
            r#"[{"question": "What percent?", "answer": "10", "prediction": "The answer is 10%"},"#,
            "{\"question\": \"q\", \"answer\": \"So 3+4=7.\\n#### 7\", \"prediction\": \"#### 7\"},",
            r#"{"answer": "so $\\boxed{\\frac12}$", "prediction": "\\boxed{0.5}"}]"#
        );
        let (result, text) = run(content, OutputMode::Json);
        assert_eq!(result.ok().map(|s| s.correct), Some(3));
        let first: Value =
            serde_json::from_str(text.lines().next().unwrap_or("")).unwrap_or(Value::Null);
        assert_eq!(first["id"], Value::from(0));
        assert_eq!(first["correct"], Value::Bool(true));
        assert_eq!(first["extracted"], Value::from("10%"));
        assert_eq!(first["rule"], Value::from("answer_line"));
        assert_eq!(text.lines().count(), 3);
    }

    #[test]
    fn errors_name_file_location_and_field() {
        let (result, _) = run("{\"prediction\": \"1\"}\n", OutputMode::Summary);
        let msg = result.err().map(|e| e.to_string());
        assert_eq!(
            msg.as_deref(),
            Some("preds.jsonl: line 1: missing field `answer`")
        );
        let (result, _) = run(
            "{\"prediction\": \"1\", \"answer\": \"1\"}\n{oops\n",
            OutputMode::Summary,
        );
        assert!(
            result
                .err()
                .map(|e| e.to_string())
                .is_some_and(|m| m.starts_with("preds.jsonl: line 2: invalid JSON"))
        );
        let (result, _) = run(
            "[{\"prediction\": [1], \"answer\": \"1\"}]",
            OutputMode::Summary,
        );
        let msg = result.err().map(|e| e.to_string());
        assert_eq!(
            msg.as_deref(),
            Some("preds.jsonl: list index 0: field `prediction` must be a string or a number")
        );
    }

    #[test]
    fn empty_file_has_zero_accuracy() {
        let (result, text) = run("", OutputMode::Summary);
        assert_eq!(result.ok().map(|s| (s.n, s.accuracy)), Some((0, 0.0)));
        assert_eq!(text, "accuracy 0.0000 (0/0)\n");
    }
}
