//! Reading `events.jsonl` while a run may still be writing it. A last line without its
//! newline is a line being written (or a run that died mid-write): it is held back, not
//! parsed, and reported as torn if it never completes.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use super::event::TimedEvent;

/// Follows one events file by byte offset.
pub struct Tailer {
    path: PathBuf,
    offset: u64,
    pending: Vec<u8>,
    malformed: u64,
}

/// Bytes read per poll, so a million-line file is consumed in slices and the TUI stays
/// responsive while it catches up.
const MAX_READ: usize = 8 << 20;

impl Tailer {
    pub fn new(path: &Path) -> Self {
        Self {
            path: path.to_path_buf(),
            offset: 0,
            pending: Vec::new(),
            malformed: 0,
        }
    }

    /// Complete lines that could not be parsed so far (corruption, not tearing).
    pub fn malformed(&self) -> u64 {
        self.malformed
    }

    /// True while a partial last line is waiting for its newline.
    pub fn has_torn_tail(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Reads what was appended since the last call (at most `MAX_READ` bytes). A file
    /// that shrank was replaced: reading starts over.
    pub fn poll(&mut self) -> std::io::Result<Vec<TimedEvent>> {
        let mut file = match File::open(&self.path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let len = file.metadata()?.len();
        if len < self.offset {
            self.offset = 0;
            self.pending.clear();
        }
        if len == self.offset {
            return Ok(Vec::new());
        }
        file.seek(SeekFrom::Start(self.offset))?;
        let mut chunk = Vec::new();
        file.take(MAX_READ as u64).read_to_end(&mut chunk)?;
        self.offset += chunk.len() as u64;
        self.pending.extend_from_slice(&chunk);
        let Some(last_newline) = self.pending.iter().rposition(|&b| b == b'\n') else {
            return Ok(Vec::new());
        };
        let complete: Vec<u8> = self.pending.drain(..=last_newline).collect();
        let mut events = Vec::new();
        for line in complete.split(|&b| b == b'\n') {
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            match serde_json::from_slice::<TimedEvent>(line) {
                Ok(event) => events.push(event),
                Err(_) => self.malformed += 1,
            }
        }
        Ok(events)
    }
}

/// Everything in an events file, and whether it ends in a torn line.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadAll {
    pub events: Vec<TimedEvent>,
    pub torn_tail: bool,
    pub malformed: u64,
}

pub fn read_all(path: &Path) -> std::io::Result<ReadAll> {
    let mut tailer = Tailer::new(path);
    let mut events = Vec::new();
    loop {
        let batch = tailer.poll()?;
        let len = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        let done = tailer.offset >= len;
        events.extend(batch);
        if done {
            break;
        }
    }
    Ok(ReadAll {
        events,
        torn_tail: tailer.has_torn_tail(),
        malformed: tailer.malformed(),
    })
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;
    use crate::runlog::{EventWriter, RunEvent};

    fn step(step: u64) -> RunEvent {
        RunEvent::Step {
            step,
            epoch: 0.0,
            loss: 1.0 / (step as f64 + 1.0),
            lr: 1e-3,
            grad_norm: 1.0,
            tokens_per_s: 100.0,
            elapsed_s: step as f64,
            total_steps: Some(10),
            reward_mean: None,
            reward_std: None,
            rewards: Default::default(),
            kl: None,
            clip_frac: None,
            completion_len: None,
            accuracy: None,
            metrics: Default::default(),
        }
    }

    #[test]
    fn a_torn_last_line_is_held_back_until_completed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.jsonl");
        let mut writer = EventWriter::open(&path).unwrap();
        writer.write(step(1)).unwrap();
        let mut raw = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        raw.write_all(br#"{"t":5,"kind":"step","st"#).unwrap();

        let mut tailer = Tailer::new(&path);
        let first = tailer.poll().unwrap();
        assert_eq!(first.len(), 1);
        assert!(tailer.has_torn_tail());
        assert_eq!(tailer.malformed(), 0);

        raw.write_all(b"ep\":2,\"loss\":0.5}\n").unwrap();
        let second = tailer.poll().unwrap();
        assert_eq!(second.len(), 1);
        assert!(matches!(second[0].event, RunEvent::Step { step: 2, .. }));
        assert!(!tailer.has_torn_tail());
        assert!(tailer.poll().unwrap().is_empty());
    }

    #[test]
    fn read_all_reports_torn_tails_and_corrupt_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.jsonl");
        let mut writer = EventWriter::open(&path).unwrap();
        for i in 0..3 {
            writer.write(step(i)).unwrap();
        }
        let mut raw = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        raw.write_all(b"not json\n{\"t\":9,\"kind\":\"log\"")
            .unwrap();
        let all = read_all(&path).unwrap();
        assert_eq!(all.events.len(), 3);
        assert!(all.torn_tail);
        assert_eq!(all.malformed, 1);
    }

    #[test]
    fn a_replaced_file_is_read_from_the_start() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.jsonl");
        let mut writer = EventWriter::open(&path).unwrap();
        writer.write(step(1)).unwrap();
        writer.write(step(2)).unwrap();
        let mut tailer = Tailer::new(&path);
        assert_eq!(tailer.poll().unwrap().len(), 2);
        std::fs::remove_file(&path).unwrap();
        let mut writer = EventWriter::open(&path).unwrap();
        writer.write(step(7)).unwrap();
        let events = tailer.poll().unwrap();
        assert!(matches!(events[0].event, RunEvent::Step { step: 7, .. }));
    }

    #[test]
    fn a_missing_file_is_just_empty() {
        let mut tailer = Tailer::new(Path::new("/nonexistent/events.jsonl"));
        assert!(tailer.poll().unwrap().is_empty());
    }
}
