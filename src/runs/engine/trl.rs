//! A run trained by TRL: the worker writes the run's bundle once (a resume reuses it),
//! starts the bundle's `train_trl.py` as a child, turns the lines it appends to its log
//! into this run's events as they come, forwards a stop request as SIGTERM (the script
//! checkpoints and ends `stopped`), and decides how the run ended from the engine's end
//! line and exit status — a "success" before max steps is a failure. While it waits
//! it raises the stall alarm (`stall.rs`) as `alarm` / `alarm_cleared` log events.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::lines::EngineLines;
use super::stall::{StallChange, StallDetector};
use crate::export::{BundleSpec, write_bundle};
use crate::jobs::StopFlag;
use crate::runlog::{EventWriter, RunEvent};
use crate::runs::{Ending, RunDir, RunError, RunKind, io};
use crate::train::engine::EngineSection;
use crate::train::grpo::rewards::RewardWeights;
use crate::train::student::model_dir;
use crate::workspace::Workspace;

/// What the run's config asks of TRL.
pub struct TrlJob<'a> {
    pub kind: RunKind,
    pub model: &'a str,
    pub dataset: &'a str,
    pub max_steps: u64,
    pub weights: RewardWeights,
    pub max_new_tokens: usize,
    /// Flags for `train_trl.py` from the run's config (lr, batch, group size ...).
    pub flags: Vec<String>,
    pub section: &'a EngineSection,
}

/// The Python `train --engine trl` uses: `--python`, else `$PLANTUNE_TRL_PYTHON`, else
/// `python3`.
pub fn python(flag: Option<String>) -> String {
    flag.or_else(|| std::env::var("PLANTUNE_TRL_PYTHON").ok())
        .unwrap_or_else(|| "python3".into())
}

fn engine_err(message: String) -> RunError {
    RunError::Engine { message }
}

/// Reads the complete lines appended to a file since the last call.
struct LineReader {
    path: PathBuf,
    offset: u64,
    partial: Vec<u8>,
}

impl LineReader {
    fn from_end(path: &Path) -> Self {
        let offset = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        Self {
            path: path.to_path_buf(),
            offset,
            partial: Vec::new(),
        }
    }

    fn poll(&mut self) -> Vec<String> {
        let Ok(mut file) = std::fs::File::open(&self.path) else {
            return Vec::new();
        };
        if file.seek(SeekFrom::Start(self.offset)).is_err() {
            return Vec::new();
        }
        let mut fresh = Vec::new();
        if let Ok(n) = file.read_to_end(&mut fresh) {
            self.offset += n as u64;
        }
        self.partial.extend_from_slice(&fresh);
        let mut lines = Vec::new();
        while let Some(at) = self.partial.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.partial.drain(..=at).collect();
            let text = String::from_utf8_lossy(&line).trim().to_owned();
            if !text.is_empty() {
                lines.push(text);
            }
        }
        lines
    }
}

pub fn train(
    ws: &Workspace,
    dir: &RunDir,
    job: &TrlJob,
    events: &mut EventWriter,
    stop: StopFlag,
) -> Result<Ending, RunError> {
    if job.max_steps == 0 {
        return Err(engine_err(
            "a TRL run needs a step count: give --max-steps".into(),
        ));
    }
    job.section.stall.check().map_err(engine_err)?;
    let bundle = dir.root().join("bundle");
    if !bundle.join("manifest.json").is_file() {
        let spec = BundleSpec {
            dataset: job.dataset.to_owned(),
            model: job.model.to_owned(),
            weights: job.weights.clone(),
            max_new_tokens: job.max_new_tokens,
        };
        write_bundle(ws, &spec, &bundle).map_err(|e| engine_err(e.to_string()))?;
    }
    let model = model_dir(ws, job.model);
    if !model.join("config.json").is_file() {
        return Err(engine_err(format!(
            "TRL needs a Hugging Face model directory; {} has no config.json",
            model.display()
        )));
    }
    let output = dir.root().join("trl");
    let log_path = output.join("trl_log.jsonl");
    std::fs::create_dir_all(&output).map_err(io(&output))?;
    let mode = match job.kind {
        RunKind::Sft => "sft",
        RunKind::Grpo => "grpo",
    };
    let engine_log = dir.root().join("engine.log");
    let log_file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&engine_log)
        .map_err(io(&engine_log))?;
    let err_file = log_file.try_clone().map_err(io(&engine_log))?;
    let python = python(job.section.python.clone());
    let mut reader = LineReader::from_end(&log_path);
    let mut child = Command::new(&python)
        .arg(bundle.join("train_trl.py"))
        .arg(mode)
        .arg("--model")
        .arg(&model)
        .arg("--output-dir")
        .arg(&output)
        .arg("--log")
        .arg(&log_path)
        .arg("--max-steps")
        .arg(job.max_steps.to_string())
        .args(&job.flags)
        .args(&job.section.args)
        .stdin(Stdio::null())
        .stdout(log_file)
        .stderr(err_file)
        .spawn()
        .map_err(|e| engine_err(format!("starting {python}: {e}")))?;
    let mut lines = EngineLines::new("trl");
    let mut forwarded = false;
    let clock = Instant::now();
    let mut stall = StallDetector::new(&job.section.stall, clock.elapsed());
    let status = loop {
        let exited = child.try_wait().map_err(io(dir.root()))?;
        let mut fresh = Vec::new();
        for line in reader.poll() {
            match lines.convert(&line) {
                Ok(converted) => fresh.extend(converted),
                Err(e) => fresh.push(RunEvent::Log {
                    level: "warn".into(),
                    message: format!("{}: {e}", log_path.display()),
                }),
            }
        }
        let now = clock.elapsed();
        let change = if fresh.iter().any(|e| matches!(e, RunEvent::Step { .. })) {
            let change = stall.step(now);
            if lines.last_step >= Some(job.max_steps) {
                // The last step is followed by saving the final model, which can take
                // far longer than a step.
                stall.expect_pause();
            }
            change
        } else if exited.is_none() {
            stall.check(now)
        } else {
            None
        };
        // A clearing note goes before the steps that cleared it, so the log reads in
        // order.
        if let Some(change @ StallChange::Cleared { .. }) = &change {
            write_change(events, change).map_err(io(&dir.events()))?;
        }
        for event in fresh {
            events.write(event).map_err(io(&dir.events()))?;
        }
        if let Some(change @ StallChange::Began(_)) = &change {
            write_change(events, change).map_err(io(&dir.events()))?;
        }
        if let Some(status) = exited {
            break status;
        }
        if stop.requested() && !forwarded {
            // SAFETY: kill with a valid signal on our own child's pid.
            unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
            forwarded = true;
            // The engine checkpoints before it stops.
            stall.expect_pause();
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    events.sync().map_err(io(&dir.events()))?;
    ending(dir, &lines, &output, status, &engine_log)
}

fn write_change(events: &mut EventWriter, change: &StallChange) -> std::io::Result<()> {
    let (level, message) = change.log();
    events.write(RunEvent::Log {
        level: level.into(),
        message,
    })?;
    // An alarm matters most when the run is in trouble: it should survive a crash.
    events.sync()
}

fn ending(
    dir: &RunDir,
    lines: &EngineLines,
    output: &Path,
    status: std::process::ExitStatus,
    engine_log: &Path,
) -> Result<Ending, RunError> {
    if let Some(alarm) = lines.ended_early() {
        return Err(engine_err(alarm));
    }
    let see = || format!("(see {})", engine_log.display());
    match lines.ended.as_ref().map(|e| e.status.as_str()) {
        Some("stopped") => Ok(Ending::Stopped),
        Some("completed") if status.success() => {
            let final_dir = output.join("final");
            std::fs::rename(&final_dir, dir.final_model()).map_err(io(&final_dir))?;
            Ok(Ending::Completed)
        }
        Some(other) => Err(engine_err(format!(
            "TRL ended {other}: {} {}",
            lines
                .ended
                .as_ref()
                .and_then(|e| e.error.clone())
                .unwrap_or_default(),
            see()
        ))),
        None => Err(engine_err(format!(
            "TRL exited ({status}) without an end line {}",
            see()
        ))),
    }
}
