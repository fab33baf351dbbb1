//! The PyTorch + transformers side: `bench/torch_bench.py` (compiled into the binary,
//! so the command works from any directory) run by a Python that has torch and
//! transformers, on the same model directory and cases.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde::Deserialize;

use super::cases::Case;
use super::ours::{Measured, Repetitions};
use crate::device::DeviceSpec;
use crate::text::sanitize;
use crate::train::precision::Precision;

const SCRIPT: &str = include_str!("../../bench/torch_bench.py");

/// Where `bench/compare.sh` installs torch and transformers.
pub fn default_python(cache_dir: &Path) -> PathBuf {
    let venv = cache_dir.join("bench-venv/bin/python");
    if venv.is_file() {
        venv
    } else {
        PathBuf::from("python3")
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct TorchReport {
    pub torch: String,
    pub transformers: String,
    pub threads: usize,
    /// The GPU's name when the side ran on one.
    #[serde(default)]
    pub gpu: Option<String>,
    pub cases: Vec<Measured>,
}

#[derive(Debug, thiserror::Error)]
pub enum TorchError {
    #[error("running {python}: {source} (create the venv with bench/compare.sh, or pass --python)")]
    Spawn {
        python: String,
        source: std::io::Error,
    },
    #[error("running the PyTorch script: {0}")]
    Script(std::io::Error),
    #[error("the PyTorch side failed ({status}); its messages are above")]
    Failed { status: String },
    #[error("the PyTorch side printed no JSON report: {0}")]
    Report(serde_json::Error),
}

/// Where and how the PyTorch side runs: the same device and precision as ours.
#[derive(Debug, Clone, Copy)]
pub struct Placement {
    pub device: DeviceSpec,
    pub precision: Precision,
}

pub fn run(
    python: &Path,
    model_dir: &Path,
    threads: usize,
    cases: &[Case],
    reps: Repetitions,
    placement: Placement,
) -> Result<TorchReport, TorchError> {
    let dir = tempfile::tempdir().map_err(TorchError::Script)?;
    let script = dir.path().join("torch_bench.py");
    std::fs::write(&script, SCRIPT).map_err(TorchError::Script)?;
    let cases_json = serde_json::to_string(cases).map_err(TorchError::Report)?;
    let mut child = Command::new(python)
        .arg(&script)
        .arg("--model")
        .arg(model_dir)
        .arg("--threads")
        .arg(threads.to_string())
        .arg("--warmup")
        .arg(reps.warmup.to_string())
        .arg("--reps")
        .arg(reps.timed.to_string())
        .arg("--device")
        .arg(placement.device.to_string())
        .arg("--precision")
        .arg(placement.precision.name())
        .arg("--cases")
        .arg(cases_json)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| TorchError::Spawn {
            python: python.display().to_string(),
            source,
        })?;
    // Progress (and library warnings) arrive on stderr while the cases run: shown as
    // they come, cleaned of control sequences since they are another program's text.
    let echo = child.stderr.take().map(|stderr| {
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("  {}", sanitize(&line));
            }
        })
    });
    let mut stdout = String::new();
    if let Some(mut out) = child.stdout.take() {
        out.read_to_string(&mut stdout)
            .map_err(TorchError::Script)?;
    }
    let status = child.wait().map_err(TorchError::Script)?;
    if let Some(handle) = echo {
        let _ = handle.join();
    }
    if !status.success() {
        return Err(TorchError::Failed {
            status: status.to_string(),
        });
    }
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with('{'))
        .unwrap_or("");
    serde_json::from_str(line).map_err(TorchError::Report)
}
