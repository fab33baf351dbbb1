//! Dataset readers: the shared sample files, every supported container, and one test
//! per kind of defect (each must abort the read with a precise message).

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parquet::basic::Compression;
use parquet::data_type::{ByteArray, ByteArrayType, Int64Type};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::parser::parse_message_type;
use plantune_tui::data::{
    DatasetFormat, ImportErrorKind, Location, MAX_LINE_BYTES, last_boxed, read_problems,
};
use serde_json::json;
use tempfile::TempDir;

fn sample(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/data")
        .join(name)
}

fn write(dir: &TempDir, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
    let path = dir.path().join(name);
    fs::write(&path, contents).expect("write test file");
    path
}

fn error_text(path: &Path, format: DatasetFormat) -> (ImportErrorKind, String) {
    let err = read_problems(path, format, "train").expect_err("the read must fail");
    (err.kind, err.to_string())
}

#[test]
fn gsm8k_sample_reads_every_item() {
    let problems = read_problems(&sample("gsm8k_sample.jsonl"), DatasetFormat::Gsm8k, "train")
        .expect("read sample");
    assert_eq!(problems.len(), 25);
    let first = &problems[0];
    assert_eq!(first.dataset, "gsm8k");
    assert_eq!(first.split, "train");
    assert_eq!(first.external_id, "gsm8k/train/148");
    assert_eq!(first.gold_answer, "35");
    assert!(
        first
            .gold_solution
            .as_deref()
            .is_some_and(|s| s.starts_with("Winwin paid $50 x 20/100"))
    );
    assert_eq!(first.metadata, json!({"source": "gsm8k/train"}));
    assert_eq!(problems[1].external_id, "gsm8k/train/281");
    assert_eq!(problems[1].gold_answer, "1728");
}

#[test]
fn gsm8k_original_layout_splits_the_answer_and_is_stable() {
    let dir = TempDir::new().expect("tempdir");
    let line = json!({
        "question": "A farm has 1,200 hens and buys 528 more. How many hens?",
        "answer": "It has 1,200 + 528 = <<1200+528=1728>>1,728 hens.\n#### 1,728"
    });
    let path = write(&dir, "train.jsonl", format!("{line}\n"));
    let problems = read_problems(&path, DatasetFormat::Gsm8k, "train").expect("read");
    assert_eq!(problems.len(), 1);
    assert_eq!(problems[0].gold_answer, "1728");
    assert_eq!(
        problems[0].gold_solution.as_deref(),
        Some("It has 1,200 + 528 = <<1200+528=1728>>1,728 hens.")
    );
    assert!(problems[0].external_id.starts_with("sha256:"));
    let again = read_problems(&path, DatasetFormat::Gsm8k, "train").expect("re-read");
    assert_eq!(again[0].external_id, problems[0].external_id);
}

#[test]
fn math_sample_answers_are_the_last_boxed_values() {
    let problems = read_problems(&sample("math_sample.jsonl"), DatasetFormat::Math, "train")
        .expect("read sample");
    assert_eq!(problems.len(), 25);
    let fraction = problems
        .iter()
        .find(|p| p.external_id == "math/train/algebra/1666.json")
        .expect("known item");
    assert_eq!(fraction.gold_answer, r"\frac{9}{11}");
    assert_eq!(problems[0].dataset, "math");
    for problem in &problems {
        let solution = problem
            .gold_solution
            .as_deref()
            .expect("MATH has solutions");
        assert_eq!(
            last_boxed(solution),
            Some(problem.gold_answer.as_str()),
            "{}",
            problem.external_id
        );
    }
}

#[test]
fn math_original_layout_takes_the_last_boxed_answer() {
    let dir = TempDir::new().expect("tempdir");
    let line = json!({
        "problem": "Compute $\\frac{1}{4}+\\frac{1}{4}$.",
        "level": "Level 1",
        "type": "Prealgebra",
        "solution": "Not $\\boxed{2}$ but $\\frac{1}{4}+\\frac{1}{4} = \\boxed{\\frac{1}{2}}$."
    });
    let path = write(&dir, "algebra.jsonl", format!("{line}\n"));
    let problems = read_problems(&path, DatasetFormat::Math, "test").expect("read");
    assert_eq!(problems[0].gold_answer, r"\frac{1}{2}");
    assert_eq!(problems[0].split, "test");
    assert_eq!(
        problems[0].metadata,
        json!({"level": "Level 1", "type": "Prealgebra"})
    );
}

#[test]
fn math_solution_without_boxed_answer_is_an_error() {
    let dir = TempDir::new().expect("tempdir");
    let good = json!({"problem": "1+1?", "solution": "$\\boxed{2}$"});
    let bad = json!({"problem": "2+2?", "solution": "It is 4."});
    let path = write(&dir, "m.jsonl", format!("{good}\n{bad}\n"));
    let (kind, text) = error_text(&path, DatasetFormat::Math);
    assert_eq!(kind, ImportErrorKind::NoAnswer);
    assert_eq!(
        text,
        format!(
            "{}:2: solution: no complete \\boxed{{...}} answer in the solution",
            path.display()
        )
    );
}

#[test]
fn aime_sample_and_the_hugging_face_layout() {
    let problems =
        read_problems(&sample("aime_sample.jsonl"), DatasetFormat::Aime, "test").expect("read");
    assert_eq!(problems.len(), 5);
    assert_eq!(problems[0].external_id, "aime/1984-10");
    assert_eq!(problems[0].gold_answer, "119");
    assert_eq!(problems[0].metadata["year"], json!(1984));
    assert_eq!(problems[2].external_id, "aime/2000-I-10");
    assert_eq!(problems[2].gold_answer, "173");

    let dir = TempDir::new().expect("tempdir");
    let line = json!({
        "ID": "1983-1", "Year": 1983, "Problem Number": 1,
        "Question": "Find $x$.", "Answer": 60, "Part": null
    });
    let path = write(&dir, "aime.jsonl", format!("{line}\n"));
    let problems = read_problems(&path, DatasetFormat::Aime, "test").expect("read");
    assert_eq!(problems[0].external_id, "1983-1");
    assert_eq!(problems[0].question, "Find $x$.");
    assert_eq!(problems[0].gold_answer, "60");
    assert_eq!(problems[0].dataset, "aime");
    assert_eq!(
        problems[0].metadata,
        json!({"year": 1983, "Problem Number": 1})
    );
}

#[test]
fn olympiad_sample_and_the_original_layout() {
    let problems = read_problems(
        &sample("olympiad_sample.jsonl"),
        DatasetFormat::Olympiad,
        "test",
    )
    .expect("read");
    assert_eq!(problems.len(), 5);
    assert_eq!(
        problems[0].external_id,
        "olympiadbench/OE_TO_physics_en_COMP/836"
    );
    assert_eq!(problems[0].gold_answer, "0.916");
    assert_eq!(problems[0].dataset, "olympiad");

    let dir = TempDir::new().expect("tempdir");
    let line = json!({
        "id": 1606, "question": "Find the ratio.", "final_answer": ["$0.916$"],
        "solution": ["First way.", "Second way."], "is_multiple_answer": false
    });
    let path = write(&dir, "ob.json", format!("[\n  {line}\n]\n"));
    let problems = read_problems(&path, DatasetFormat::Olympiad, "test").expect("read");
    assert_eq!(problems[0].external_id, "1606");
    assert_eq!(problems[0].gold_answer, "0.916");
    assert_eq!(problems[0].gold_solution.as_deref(), Some("First way."));
    assert_eq!(problems[0].metadata, json!({"is_multiple_answer": false}));
}

#[test]
fn generic_jsonl_names_the_dataset_from_source_or_file_stem() {
    let problems =
        read_problems(&sample("aime_sample.jsonl"), DatasetFormat::Jsonl, "test").expect("read");
    assert_eq!(problems.len(), 5);
    assert_eq!(problems[0].dataset, "aime");

    let dir = TempDir::new().expect("tempdir");
    let path = write(
        &dir,
        "my_set.jsonl",
        "{\"question\": \"q1\", \"answer\": \" 7 \"}\n\n{\"question\": \"q2\", \"answer\": \"8\", \"hint\": 1}\n",
    );
    let problems = read_problems(&path, DatasetFormat::Jsonl, "train").expect("read");
    assert_eq!(problems.len(), 2);
    assert_eq!(problems[0].dataset, "my_set");
    assert_eq!(problems[0].gold_answer, "7");
    assert_eq!(problems[1].metadata, json!({"hint": 1}));
}

#[test]
fn json_array_elements_report_the_line_where_they_start() {
    let dir = TempDir::new().expect("tempdir");
    let path = write(
        &dir,
        "arr.json",
        "[\n  {\"question\": \"q1\",\n   \"answer\": \"1\"},\n  {\"question\": \"q2\",\n   \"answer\": \"  \"}\n]\n",
    );
    let (kind, text) = error_text(&path, DatasetFormat::Jsonl);
    assert_eq!(kind, ImportErrorKind::EmptyValue);
    assert_eq!(
        text,
        format!(
            "{}:4: element 1: answer: empty after trimming whitespace",
            path.display()
        )
    );

    let broken = write(
        &dir,
        "broken.json",
        "[\n{\"question\": \"q\",\n \"answer\": }\n]",
    );
    let err = read_problems(&broken, DatasetFormat::Jsonl, "train").expect_err("malformed");
    assert_eq!(err.kind, ImportErrorKind::MalformedJson);
    assert_eq!(err.location, Location::Line(3));
}

#[test]
fn json_file_with_one_object_per_line_is_read_as_jsonl() {
    let dir = TempDir::new().expect("tempdir");
    let path = write(
        &dir,
        "lines.json",
        "{\"question\": \"q1\", \"answer\": \"1\"}\n{\"question\": \"q2\", \"answer\": \"2\"}\n",
    );
    let problems = read_problems(&path, DatasetFormat::Jsonl, "train").expect("read");
    assert_eq!(problems.len(), 2);
    assert_eq!(problems[1].question, "q2");
}

fn write_parquet(path: &Path, questions: &[&str], answers: &[&str], years: &[Option<i64>]) {
    let schema = Arc::new(
        parse_message_type(
            "message item {
                REQUIRED BYTE_ARRAY question (UTF8);
                REQUIRED BYTE_ARRAY answer (UTF8);
                OPTIONAL INT64 year;
            }",
        )
        .expect("schema"),
    );
    let properties = Arc::new(
        WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .build(),
    );
    let file = fs::File::create(path).expect("create parquet");
    let mut writer = SerializedFileWriter::new(file, schema, properties).expect("writer");
    let mut group = writer.next_row_group().expect("row group");
    let text_column = |values: &[&str]| -> Vec<ByteArray> {
        values.iter().map(|&v| ByteArray::from(v)).collect()
    };
    let mut index = 0;
    while let Some(mut column) = group.next_column().expect("column") {
        match index {
            0 => {
                column
                    .typed::<ByteArrayType>()
                    .write_batch(&text_column(questions), None, None)
                    .expect("questions");
            }
            1 => {
                column
                    .typed::<ByteArrayType>()
                    .write_batch(&text_column(answers), None, None)
                    .expect("answers");
            }
            _ => {
                let values: Vec<i64> = years.iter().flatten().copied().collect();
                let levels: Vec<i16> = years.iter().map(|y| i16::from(y.is_some())).collect();
                column
                    .typed::<Int64Type>()
                    .write_batch(&values, Some(&levels), None)
                    .expect("years");
            }
        }
        column.close().expect("close column");
        index += 1;
    }
    group.close().expect("close group");
    writer.close().expect("close writer");
}

#[test]
fn parquet_rows_become_problems() {
    let dir = TempDir::new().expect("tempdir");
    let path = dir.path().join("aime.parquet");
    write_parquet(
        &path,
        &["What is 2+3?", "What is 4*5?"],
        &["5", "20"],
        &[Some(1999), None],
    );
    let problems = read_problems(&path, DatasetFormat::Aime, "test").expect("read parquet");
    assert_eq!(problems.len(), 2);
    assert_eq!(problems[0].question, "What is 2+3?");
    assert_eq!(problems[0].gold_answer, "5");
    assert_eq!(problems[0].metadata, json!({"year": 1999}));
    assert_eq!(problems[1].gold_answer, "20");
    assert_eq!(problems[1].metadata, json!({}));
}

#[test]
fn parquet_errors_name_the_row() {
    let dir = TempDir::new().expect("tempdir");
    let path = dir.path().join("bad.parquet");
    write_parquet(&path, &["q1", "q2"], &["1", " "], &[None, None]);
    let (kind, text) = error_text(&path, DatasetFormat::Jsonl);
    assert_eq!(kind, ImportErrorKind::EmptyValue);
    assert_eq!(
        text,
        format!(
            "{}:row 2: answer: empty after trimming whitespace",
            path.display()
        )
    );
}

#[test]
fn malformed_json_names_line_and_column() {
    let dir = TempDir::new().expect("tempdir");
    let path = write(
        &dir,
        "bad.jsonl",
        "{\"question\": \"q1\", \"answer\": \"1\"}\n{\"question\": \"q2\", \"answer\": }\n",
    );
    let (kind, text) = error_text(&path, DatasetFormat::Jsonl);
    assert_eq!(kind, ImportErrorKind::MalformedJson);
    assert_eq!(
        text,
        format!(
            "{}:2: record: malformed JSON at column 30: expected value",
            path.display()
        )
    );
}

#[test]
fn missing_question_is_named() {
    let dir = TempDir::new().expect("tempdir");
    let path = write(&dir, "m.jsonl", "{\"Problem\": \"q\", \"answer\": \"1\"}\n");
    let (kind, text) = error_text(&path, DatasetFormat::Jsonl);
    assert_eq!(kind, ImportErrorKind::MissingField);
    assert_eq!(
        text,
        format!("{}:1: question: missing field", path.display())
    );

    let (_, aime_text) = error_text(&path, DatasetFormat::Gsm8k);
    assert!(
        aime_text.ends_with(":1: question: missing field"),
        "{aime_text}"
    );
}

#[test]
fn missing_answer_lists_accepted_aliases() {
    let dir = TempDir::new().expect("tempdir");
    let path = write(&dir, "a.jsonl", "{\"id\": \"x\", \"Problem\": \"q\"}\n");
    let (kind, text) = error_text(&path, DatasetFormat::Aime);
    assert_eq!(kind, ImportErrorKind::MissingField);
    assert_eq!(
        text,
        format!(
            "{}:1: answer: missing field (also accepted: Answer)",
            path.display()
        )
    );
}

#[test]
fn empty_gsm8k_answer_after_the_marker_is_rejected() {
    let dir = TempDir::new().expect("tempdir");
    let path = write(
        &dir,
        "g.jsonl",
        "{\"question\": \"q\", \"answer\": \"work\\n####   \"}\n",
    );
    let (kind, text) = error_text(&path, DatasetFormat::Gsm8k);
    assert_eq!(kind, ImportErrorKind::EmptyValue);
    assert_eq!(
        text,
        format!(
            "{}:1: answer: empty after trimming whitespace",
            path.display()
        )
    );
}

#[test]
fn question_that_is_not_a_string_is_rejected() {
    let dir = TempDir::new().expect("tempdir");
    let path = write(&dir, "q.jsonl", "{\"question\": 12, \"answer\": \"1\"}\n");
    let (kind, text) = error_text(&path, DatasetFormat::Jsonl);
    assert_eq!(kind, ImportErrorKind::WrongType);
    assert_eq!(
        text,
        format!(
            "{}:1: question: expected a string, found a number",
            path.display()
        )
    );
}

#[test]
fn a_line_that_is_not_an_object_is_rejected() {
    let dir = TempDir::new().expect("tempdir");
    let path = write(&dir, "l.jsonl", "[1, 2]\n");
    let (kind, text) = error_text(&path, DatasetFormat::Jsonl);
    assert_eq!(kind, ImportErrorKind::WrongType);
    assert_eq!(
        text,
        format!(
            "{}:1: record: expected a JSON object, found an array",
            path.display()
        )
    );
}

#[test]
fn invalid_utf8_names_the_line() {
    let dir = TempDir::new().expect("tempdir");
    let mut bytes = b"{\"question\": \"q1\", \"answer\": \"1\"}\n".to_vec();
    bytes.extend_from_slice(b"{\"question\": \"q\xff\", \"answer\": \"2\"}\n");
    let path = write(&dir, "u.jsonl", bytes);
    let (kind, text) = error_text(&path, DatasetFormat::Jsonl);
    assert_eq!(kind, ImportErrorKind::InvalidUtf8);
    assert_eq!(
        text,
        format!(
            "{}:2: record: invalid UTF-8 at byte 16 of the line",
            path.display()
        )
    );
}

#[test]
fn a_ten_megabyte_line_is_rejected_with_its_line_number() {
    let dir = TempDir::new().expect("tempdir");
    let mut contents = String::from("{\"question\": \"q1\", \"answer\": \"1\"}\n");
    contents.push_str("{\"question\": \"");
    contents.push_str(&"x".repeat(10 * 1024 * 1024));
    contents.push_str("\", \"answer\": \"2\"}\n");
    let path = write(&dir, "big.jsonl", contents);
    let (kind, text) = error_text(&path, DatasetFormat::Jsonl);
    assert_eq!(kind, ImportErrorKind::LineTooLong);
    assert_eq!(
        text,
        format!(
            "{}:2: record: line is longer than the limit of {MAX_LINE_BYTES} bytes",
            path.display()
        )
    );
}

#[test]
fn a_line_of_exactly_the_limit_is_accepted() {
    let dir = TempDir::new().expect("tempdir");
    let head = "{\"question\": \"";
    let tail = "\", \"answer\": \"2\"}";
    let filler = "y".repeat(MAX_LINE_BYTES - head.len() - tail.len());
    let path = write(&dir, "edge.jsonl", format!("{head}{filler}{tail}"));
    let problems = read_problems(&path, DatasetFormat::Jsonl, "train").expect("fits the limit");
    assert_eq!(problems[0].question.len(), filler.len());
}

#[test]
fn duplicate_id_with_different_content_is_an_error() {
    let dir = TempDir::new().expect("tempdir");
    let path = write(
        &dir,
        "d.jsonl",
        "{\"id\": \"a\", \"question\": \"q\", \"answer\": \"1\"}\n\
         {\"id\": \"b\", \"question\": \"r\", \"answer\": \"2\"}\n\
         {\"id\": \"a\", \"question\": \"q\", \"answer\": \"3\"}\n",
    );
    let (kind, text) = error_text(&path, DatasetFormat::Jsonl);
    assert_eq!(kind, ImportErrorKind::DuplicateId);
    assert_eq!(
        text,
        format!(
            "{}:3: id: duplicate id `a` with different content (first at line 1)",
            path.display()
        )
    );
}

#[test]
fn duplicate_id_with_identical_content_is_kept_once() {
    let dir = TempDir::new().expect("tempdir");
    let line = "{\"id\": \"a\", \"question\": \"q\", \"answer\": \"1\"}\n";
    let path = write(&dir, "d.jsonl", format!("{line}{line}"));
    let problems = read_problems(&path, DatasetFormat::Jsonl, "train").expect("read");
    assert_eq!(problems.len(), 1);
}

#[test]
fn unsupported_extension_and_missing_file() {
    let dir = TempDir::new().expect("tempdir");
    let csv = write(&dir, "x.csv", "question,answer\n");
    let (kind, text) = error_text(&csv, DatasetFormat::Jsonl);
    assert_eq!(kind, ImportErrorKind::UnsupportedFile);
    assert_eq!(
        text,
        format!(
            "{}:0: file: unsupported extension .csv: expected .jsonl, .ndjson, .json or .parquet",
            csv.display()
        )
    );
    let missing = dir.path().join("absent.jsonl");
    let (kind, text) = error_text(&missing, DatasetFormat::Jsonl);
    assert_eq!(kind, ImportErrorKind::Io);
    assert!(text.starts_with(&format!("{}:0: file: cannot open:", missing.display())));
}

#[test]
fn format_names_round_trip() {
    for format in DatasetFormat::ALL {
        assert_eq!(format.to_string().parse::<DatasetFormat>(), Ok(format));
        let value = clap::ValueEnum::to_possible_value(&format).expect("visible");
        assert_eq!(value.get_name(), format.name());
    }
    assert!("csv".parse::<DatasetFormat>().is_err());
}

#[test]
fn byte_order_mark_and_crlf_line_ends_are_tolerated() {
    let dir = TempDir::new().expect("tempdir");
    let path = write(
        &dir,
        "win.jsonl",
        "\u{feff}{\"question\": \"q1\", \"answer\": \"1\"}\r\n{\"question\": \"q2\", \"answer\": \"2\"}\r\n",
    );
    let problems = read_problems(&path, DatasetFormat::Jsonl, "train").expect("read");
    assert_eq!(problems.len(), 2);
    assert_eq!(problems[1].gold_answer, "2");
}

#[test]
fn json_array_with_invalid_utf8_names_the_line() {
    let dir = TempDir::new().expect("tempdir");
    let mut bytes = b"[\n{\"question\": \"q1\", \"answer\": \"1\"},\n".to_vec();
    bytes.extend_from_slice(b"{\"question\": \"q\xc3\", \"answer\": \"2\"}\n]\n");
    let path = write(&dir, "u.json", bytes);
    let (kind, text) = error_text(&path, DatasetFormat::Jsonl);
    assert_eq!(kind, ImportErrorKind::InvalidUtf8);
    assert_eq!(text, format!("{}:3: record: invalid UTF-8", path.display()));
}

#[test]
fn json_file_that_is_neither_array_nor_objects_is_rejected() {
    let dir = TempDir::new().expect("tempdir");
    let path = write(&dir, "s.json", "\"just a string\"\n");
    let (kind, text) = error_text(&path, DatasetFormat::Jsonl);
    assert_eq!(kind, ImportErrorKind::UnsupportedFile);
    assert_eq!(
        text,
        format!(
            "{}:0: file: expected a JSON array or one JSON object per line",
            path.display()
        )
    );
}

#[test]
fn nul_characters_are_refused_with_file_line_and_field() {
    let dir = TempDir::new().expect("tempdir");
    // JSON's \u0000 escape, and in an array element.
    let path = write(
        &dir,
        "n.jsonl",
        "{\"question\": \"q\", \"answer\": \"1\"}\n{\"question\": \"a\\u0000b\", \"answer\": \"2\"}\n",
    );
    let (kind, text) = error_text(&path, DatasetFormat::Jsonl);
    assert_eq!(kind, ImportErrorKind::NulCharacter);
    assert_eq!(
        text,
        format!(
            "{}:2: question: NUL character at character 2",
            path.display()
        )
    );
    let path = write(
        &dir,
        "n.json",
        "[{\"question\": \"q\", \"answer\": \"1\", \"solution\": \"\\u0000\"}]",
    );
    let (kind, text) = error_text(&path, DatasetFormat::Jsonl);
    assert_eq!(kind, ImportErrorKind::NulCharacter);
    assert!(
        text.ends_with(":1: element 0: solution: NUL character at character 1"),
        "{text}"
    );
}

#[test]
fn a_gsm8k_answer_without_the_marker_is_an_error_unless_the_solution_is_apart() {
    let dir = TempDir::new().expect("tempdir");
    let path = write(
        &dir,
        "g.jsonl",
        "{\"question\": \"q\", \"answer\": \"She has 3 + 4 = 7 apples.\"}\n",
    );
    let (kind, text) = error_text(&path, DatasetFormat::Gsm8k);
    assert_eq!(kind, ImportErrorKind::NoAnswer);
    assert!(
        text.starts_with(&format!("{}:1: answer: no `####`", path.display())),
        "{text}"
    );
    let split = write(
        &dir,
        "s.jsonl",
        "{\"question\": \"q\", \"answer\": \"7\", \"solution\": \"3 + 4 = 7\"}\n",
    );
    let problems = read_problems(&split, DatasetFormat::Gsm8k, "train").expect("split layout");
    assert_eq!(problems[0].gold_answer, "7");
}
