//! `grade_file` on fixture files in both layouts, as `plantune-tui grade FILE` calls it.

use plantune_tui::grade::file::{GradeFileError, OutputMode, grade_file};
use std::path::Path;

const JSONL: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/grade/predictions.jsonl"
);
const LIST: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/grade/predictions.json"
);

fn run(path: &str, mode: OutputMode) -> (plantune_tui::grade::file::GradeSummary, String) {
    let mut out = Vec::new();
    let summary = grade_file(Path::new(path), mode, &mut out).unwrap_or_else(|e| panic!("{e}"));
    (summary, String::from_utf8(out).unwrap_or_default())
}

#[test]
fn jsonl_verbose_lists_every_item_and_accuracy() {
    let (summary, text) = run(JSONL, OutputMode::Verbose);
    assert_eq!((summary.n, summary.correct), (5, 3));
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 6);
    assert!(
        lines[0].starts_with("gsm8k/train/148\tcorrect\t35\t"),
        "{}",
        lines[0]
    );
    assert!(
        lines[2].starts_with("math/train/geometry/407.json\twrong\t(-2, 2)\t"),
        "{}",
        lines[2]
    );
    assert!(
        lines[4].contains("wrong\t-\tno answer: unclosed \\boxed{"),
        "{}",
        lines[4]
    );
    assert_eq!(lines[5], "accuracy 0.6000 (3/5)");
}

#[test]
fn json_list_output_uses_index_ids_and_question_context() {
    let (summary, text) = run(LIST, OutputMode::Json);
    assert_eq!((summary.n, summary.correct), (3, 2));
    let items: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_default())
        .collect();
    assert_eq!(items.len(), 3);
    assert_eq!(items[0]["id"], 0);
    assert_eq!(items[0]["correct"], true);
    assert_eq!(items[1]["id"], 1);
    assert_eq!(
        items[1]["correct"], false,
        "0.25 is not 25 when the question asks for a percent"
    );
    assert_eq!(items[2]["extracted"], "\\pm 2");
    assert_eq!(items[2]["correct"], true);
}

#[test]
fn summary_mode_prints_only_accuracy() {
    let (summary, text) = run(JSONL, OutputMode::Summary);
    assert!((summary.accuracy - 0.6).abs() < 1e-12);
    assert_eq!(text, "accuracy 0.6000 (3/5)\n");
}

#[test]
fn missing_file_names_the_path() {
    let mut out = Vec::new();
    let err = grade_file(
        Path::new("/nonexistent/preds.jsonl"),
        OutputMode::Summary,
        &mut out,
    );
    assert!(matches!(err, Err(GradeFileError::Read { .. })));
    assert!(
        err.err()
            .map(|e| e.to_string())
            .is_some_and(|m| m.starts_with("/nonexistent/preds.jsonl: cannot read"))
    );
}
