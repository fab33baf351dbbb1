//! Append-only event writer. Each event is serialised to one complete line and written
//! with a single `write` on an `O_APPEND` file, so a reader never sees a half line from
//! a clean exit, and lines from concurrent writers never interleave.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use super::event::{RunEvent, TimedEvent};

pub struct EventWriter {
    file: File,
    path: PathBuf,
}

impl EventWriter {
    pub fn open(path: &Path) -> std::io::Result<Self> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(Self {
            file,
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn write(&mut self, event: RunEvent) -> std::io::Result<()> {
        let timed = TimedEvent {
            t: crate::workspace::store::now_ms(),
            event,
        };
        self.write_timed(&timed)
    }

    pub fn write_timed(&mut self, event: &TimedEvent) -> std::io::Result<()> {
        let mut line = serde_json::to_vec(event).map_err(std::io::Error::other)?;
        line.push(b'\n');
        self.file.write_all(&line)
    }

    /// Forces written events to disk (at checkpoints and at the end of a run).
    pub fn sync(&mut self) -> std::io::Result<()> {
        self.file.sync_data()
    }
}
