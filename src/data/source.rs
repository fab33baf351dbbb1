//! Turns a JSONL, JSON-array or Parquet file into raw records (JSON objects with the
//! place each came from), so the per-dataset mapping never cares about the container.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::{Field, Row};
use serde_json::{Map, Value};

use super::error::{ImportError, ImportErrorKind, Location};

/// Lines longer than this are rejected: no dataset item is that large, and a bounded
/// read keeps a corrupt or hostile file from exhausting memory.
pub const MAX_LINE_BYTES: usize = 1 << 20;

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// One input item before it is interpreted as a problem.
#[derive(Debug, Clone, PartialEq)]
pub struct RawRecord {
    pub location: Location,
    pub fields: Map<String, Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Container {
    Jsonl,
    Json,
    Parquet,
}

/// Reads every record of `path`, choosing the container by extension (and, for `.json`,
/// by content: an array, or one object per line).
pub fn read_records(path: &Path) -> Result<Vec<RawRecord>, ImportError> {
    match container_of(path)? {
        Container::Jsonl => {
            let file = open(path)?;
            read_jsonl(path, BufReader::new(file))
        }
        Container::Json => {
            let mut bytes = Vec::new();
            open(path)?
                .read_to_end(&mut bytes)
                .map_err(|err| io_error(path, Location::File, &err))?;
            let body = bytes.strip_prefix(UTF8_BOM).unwrap_or(&bytes);
            match body.iter().find(|byte| !byte.is_ascii_whitespace()) {
                Some(b'[') => read_json_array(path, &bytes),
                Some(b'{') | None => read_jsonl(path, &bytes[..]),
                Some(_) => Err(ImportError::new(
                    path,
                    Location::File,
                    "file",
                    ImportErrorKind::UnsupportedFile,
                    "expected a JSON array or one JSON object per line",
                )),
            }
        }
        Container::Parquet => read_parquet(path),
    }
}

fn container_of(path: &Path) -> Result<Container, ImportError> {
    let extension = path
        .extension()
        .and_then(|ext| ext.to_str())
        .map(str::to_ascii_lowercase);
    match extension.as_deref() {
        Some("jsonl" | "ndjson") => Ok(Container::Jsonl),
        Some("json") => Ok(Container::Json),
        Some("parquet") => Ok(Container::Parquet),
        other => Err(ImportError::new(
            path,
            Location::File,
            "file",
            ImportErrorKind::UnsupportedFile,
            format!(
                "unsupported extension {}: expected .jsonl, .ndjson, .json or .parquet",
                other.map_or_else(|| "(none)".to_owned(), |ext| format!(".{ext}"))
            ),
        )),
    }
}

fn open(path: &Path) -> Result<File, ImportError> {
    File::open(path).map_err(|err| {
        ImportError::new(
            path,
            Location::File,
            "file",
            ImportErrorKind::Io,
            format!("cannot open: {err}"),
        )
    })
}

fn io_error(path: &Path, location: Location, err: &std::io::Error) -> ImportError {
    ImportError::new(
        path,
        location,
        "file",
        ImportErrorKind::Io,
        format!("read failed: {err}"),
    )
}

/// Reads one object per line. Each line is read through a `take` of
/// `MAX_LINE_BYTES + 1`, so an oversized line is detected after at most that many bytes.
fn read_jsonl(path: &Path, mut reader: impl BufRead) -> Result<Vec<RawRecord>, ImportError> {
    let mut records = Vec::new();
    let mut buffer = Vec::new();
    let mut line_number = 0usize;
    loop {
        line_number += 1;
        let location = Location::Line(line_number);
        buffer.clear();
        let read = (&mut reader)
            .take(MAX_LINE_BYTES as u64 + 1)
            .read_until(b'\n', &mut buffer)
            .map_err(|err| io_error(path, location, &err))?;
        if read == 0 {
            break;
        }
        let mut line = buffer.as_slice();
        if let Some(stripped) = line.strip_suffix(b"\n") {
            line = stripped.strip_suffix(b"\r").unwrap_or(stripped);
        }
        if line.len() > MAX_LINE_BYTES {
            return Err(ImportError::new(
                path,
                location,
                "record",
                ImportErrorKind::LineTooLong,
                format!("line is longer than the limit of {MAX_LINE_BYTES} bytes"),
            ));
        }
        if line_number == 1 {
            line = line.strip_prefix(UTF8_BOM).unwrap_or(line);
        }
        let text = std::str::from_utf8(line).map_err(|err| {
            ImportError::new(
                path,
                location,
                "record",
                ImportErrorKind::InvalidUtf8,
                format!(
                    "invalid UTF-8 at byte {} of the line",
                    err.valid_up_to() + 1
                ),
            )
        })?;
        if text.trim().is_empty() {
            continue;
        }
        let value: Value =
            serde_json::from_str(text).map_err(|err| malformed_json(path, location, &err))?;
        records.push(RawRecord {
            location,
            fields: expect_object(path, location, value)?,
        });
    }
    Ok(records)
}

/// Reads a top-level JSON array element by element, so that each record keeps the
/// line on which it starts.
fn read_json_array(path: &Path, bytes: &[u8]) -> Result<Vec<RawRecord>, ImportError> {
    if let Err(err) = std::str::from_utf8(bytes) {
        let line = line_of(bytes, err.valid_up_to());
        return Err(ImportError::new(
            path,
            Location::Line(line),
            "record",
            ImportErrorKind::InvalidUtf8,
            "invalid UTF-8",
        ));
    }
    let mut cursor = ArrayCursor {
        path,
        bytes,
        offset: bytes.strip_prefix(UTF8_BOM).map_or(0, |_| UTF8_BOM.len()),
        line: 1,
    };
    cursor.skip_whitespace();
    cursor.expect(b'[')?;
    let mut records = Vec::new();
    cursor.skip_whitespace();
    if cursor.peek() == Some(b']') {
        cursor.advance(1);
    } else {
        loop {
            cursor.skip_whitespace();
            let location = Location::Element {
                index: records.len(),
                line: cursor.line,
            };
            let value = cursor.next_value()?;
            records.push(RawRecord {
                location,
                fields: expect_object(path, location, value)?,
            });
            cursor.skip_whitespace();
            match cursor.peek() {
                Some(b',') => cursor.advance(1),
                Some(b']') => {
                    cursor.advance(1);
                    break;
                }
                _ => return Err(cursor.syntax_error("expected `,` or `]` after an array element")),
            }
        }
    }
    cursor.skip_whitespace();
    if cursor.peek().is_some() {
        return Err(cursor.syntax_error("unexpected content after the closing `]`"));
    }
    Ok(records)
}

struct ArrayCursor<'a> {
    path: &'a Path,
    bytes: &'a [u8],
    offset: usize,
    line: usize,
}

impl ArrayCursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.offset).copied()
    }

    fn advance(&mut self, count: usize) {
        let end = (self.offset + count).min(self.bytes.len());
        self.line += self.bytes[self.offset..end]
            .iter()
            .filter(|&&byte| byte == b'\n')
            .count();
        self.offset = end;
    }

    fn skip_whitespace(&mut self) {
        while self.peek().is_some_and(|byte| byte.is_ascii_whitespace()) {
            self.advance(1);
        }
    }

    fn expect(&mut self, wanted: u8) -> Result<(), ImportError> {
        if self.peek() == Some(wanted) {
            self.advance(1);
            Ok(())
        } else {
            Err(self.syntax_error(&format!("expected `{}`", wanted as char)))
        }
    }

    fn syntax_error(&self, what: &str) -> ImportError {
        ImportError::new(
            self.path,
            Location::Line(self.line),
            "record",
            ImportErrorKind::MalformedJson,
            format!("malformed JSON: {what}"),
        )
    }

    fn next_value(&mut self) -> Result<Value, ImportError> {
        let rest = &self.bytes[self.offset..];
        let mut stream = serde_json::Deserializer::from_slice(rest).into_iter::<Value>();
        match stream.next() {
            Some(Ok(value)) => {
                let consumed = stream.byte_offset();
                self.advance(consumed);
                Ok(value)
            }
            Some(Err(err)) => Err(malformed_json(
                self.path,
                Location::Line(self.line + err.line().saturating_sub(1)),
                &err,
            )),
            None => Err(self.syntax_error("the array is not closed")),
        }
    }
}

fn line_of(bytes: &[u8], offset: usize) -> usize {
    1 + bytes[..offset]
        .iter()
        .filter(|&&byte| byte == b'\n')
        .count()
}

fn malformed_json(path: &Path, location: Location, err: &serde_json::Error) -> ImportError {
    // serde_json appends " at line L column C"; the line is ours to report, the column
    // is kept because it points inside a possibly long line.
    let text = err.to_string();
    let reason = text
        .rsplit_once(" at line ")
        .map_or(text.as_str(), |(head, _)| head);
    ImportError::new(
        path,
        location,
        "record",
        ImportErrorKind::MalformedJson,
        format!("malformed JSON at column {}: {reason}", err.column()),
    )
}

fn expect_object(
    path: &Path,
    location: Location,
    value: Value,
) -> Result<Map<String, Value>, ImportError> {
    match value {
        Value::Object(fields) => Ok(fields),
        other => Err(ImportError::new(
            path,
            location,
            "record",
            ImportErrorKind::WrongType,
            format!("expected a JSON object, found {}", json_type_name(&other)),
        )),
    }
}

pub fn json_type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn read_parquet(path: &Path) -> Result<Vec<RawRecord>, ImportError> {
    let parquet_error = |location: Location, err: parquet::errors::ParquetError| {
        ImportError::new(
            path,
            location,
            "record",
            ImportErrorKind::Parquet,
            format!("cannot read Parquet: {err}"),
        )
    };
    let reader =
        SerializedFileReader::new(open(path)?).map_err(|err| parquet_error(Location::File, err))?;
    let rows = reader
        .get_row_iter(None)
        .map_err(|err| parquet_error(Location::File, err))?;
    let mut records = Vec::new();
    for (index, row) in rows.enumerate() {
        let location = Location::Row(index + 1);
        let row = row.map_err(|err| parquet_error(location, err))?;
        records.push(RawRecord {
            location,
            fields: row_to_object(path, location, &row)?,
        });
    }
    Ok(records)
}

fn row_to_object(
    path: &Path,
    location: Location,
    row: &Row,
) -> Result<Map<String, Value>, ImportError> {
    row.get_column_iter()
        .map(|(name, field)| Ok((name.clone(), field_to_json(path, location, name, field)?)))
        .collect()
}

fn field_to_json(
    path: &Path,
    location: Location,
    column: &str,
    field: &Field,
) -> Result<Value, ImportError> {
    let float = |value: f64| serde_json::Number::from_f64(value).map_or(Value::Null, Value::Number);
    Ok(match field {
        Field::Null => Value::Null,
        Field::Bool(value) => Value::Bool(*value),
        Field::Byte(value) => Value::from(*value),
        Field::Short(value) => Value::from(*value),
        Field::Int(value) => Value::from(*value),
        Field::Long(value) => Value::from(*value),
        Field::UByte(value) => Value::from(*value),
        Field::UShort(value) => Value::from(*value),
        Field::UInt(value) => Value::from(*value),
        Field::ULong(value) => Value::from(*value),
        Field::Float16(value) => float(f64::from(*value)),
        Field::Float(value) => float(f64::from(*value)),
        Field::Double(value) => float(*value),
        Field::Str(text) => Value::String(text.clone()),
        // Binary columns without the UTF-8 annotation still carry text in practice.
        Field::Bytes(bytes) => match std::str::from_utf8(bytes.data()) {
            Ok(text) => Value::String(text.to_owned()),
            Err(err) => {
                return Err(ImportError::new(
                    path,
                    location,
                    column,
                    ImportErrorKind::InvalidUtf8,
                    format!(
                        "binary value is not UTF-8 text (byte {})",
                        err.valid_up_to() + 1
                    ),
                ));
            }
        },
        Field::Decimal(_)
        | Field::Date(_)
        | Field::TimeMillis(_)
        | Field::TimeMicros(_)
        | Field::TimestampMillis(_)
        | Field::TimestampMicros(_) => Value::String(field.to_string()),
        Field::Group(row) => Value::Object(row_to_object(path, location, row)?),
        Field::ListInternal(list) => Value::Array(
            list.elements()
                .iter()
                .map(|element| field_to_json(path, location, column, element))
                .collect::<Result<_, _>>()?,
        ),
        Field::MapInternal(map) => {
            let mut object = Map::new();
            for (key, value) in map.entries() {
                let key = match field_to_json(path, location, column, key)? {
                    Value::String(text) => text,
                    other => other.to_string(),
                };
                object.insert(key, field_to_json(path, location, column, value)?);
            }
            Value::Object(object)
        }
    })
}
