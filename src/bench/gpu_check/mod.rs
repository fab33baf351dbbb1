//! `bench gpu-check`: everything a lent GPU machine must show, in one command that
//! needs nothing from the network: the gradient checks of every fused op on the
//! device, a bf16-vs-f32 loss curve, NVML readings, SFT throughput and MFU, a GRPO
//! step and batched generation, each beside PyTorch when asked. The same command runs
//! on the CPU on tiny shapes (tested in the suite), so only the GPU itself is untried.
//!
//! `--limit` bounds the whole run: a section is skipped when too little time is left
//! for it, and a watchdog ends the process at the limit after writing the report, so
//! the results always reach the output folder.

pub mod report;
pub mod speed;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use candle_core::Device;
use serde_json::{Value, json};

use crate::device::DeviceSpec;
use crate::model::gradcheck::cases::CASES;
use crate::telemetry::Gpus;
use crate::train::bf16_check;
use report::{Report, RunStatus, Section, SectionStatus};
use speed::{SpeedContext, SpeedPlan};

/// The exit status when the `--limit` ends the run.
pub const OUT_OF_TIME_EXIT: i32 = 3;

#[derive(Debug, Clone)]
pub struct GpuCheckOptions {
    pub out: PathBuf,
    pub quick: bool,
    /// The Python with torch + transformers for the PyTorch side; none: ours only.
    pub python: Option<PathBuf>,
    pub limit: Option<Duration>,
    pub peak_tflops: Option<f64>,
    pub threads: usize,
    pub cache_dir: PathBuf,
}

/// Dense bf16 tensor-core peaks from NVIDIA's data sheets (SXM parts).
fn known_peak_tflops(gpu: &str) -> Option<f64> {
    [
        ("H100", 989.0),
        ("H200", 989.0),
        ("A100", 312.0),
        ("L40S", 362.0),
    ]
    .iter()
    .find(|(name, _)| gpu.contains(name))
    .map(|(_, peak)| *peak)
}

/// The report and where it goes, shared with the watchdog.
struct Shared {
    report: Report,
    out: PathBuf,
    started: Instant,
    section_started: Instant,
}

impl Shared {
    fn save(&mut self) {
        self.report.elapsed_s = self.started.elapsed().as_secs_f64();
        if let Some(s) = self.report.sections.last_mut()
            && s.status == SectionStatus::Running
        {
            s.seconds = self.section_started.elapsed().as_secs_f64();
        }
        if let Err(e) = report::write(&self.out, &self.report) {
            eprintln!(
                "gpu-check: writing the report into {}: {e}",
                self.out.display()
            );
        }
    }
}

struct Runner {
    shared: Arc<Mutex<Shared>>,
    deadline: Option<Instant>,
}

/// What a section's body hands back.
struct Outcome {
    status: SectionStatus,
    note: Option<String>,
    data: Value,
}

impl Runner {
    fn lock(&self) -> std::sync::MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `body` as section `name` unless less than `needs` of the limit is left.
    fn section(
        &self,
        name: &str,
        needs: Duration,
        body: impl FnOnce(&mut dyn FnMut(&Value)) -> Outcome,
    ) {
        let left = self
            .deadline
            .map(|d| d.saturating_duration_since(Instant::now()));
        if let Some(left) = left.filter(|l| *l < needs) {
            let mut shared = self.lock();
            shared.report.sections.push(Section {
                name: name.into(),
                status: SectionStatus::Skipped,
                seconds: 0.0,
                note: Some(format!(
                    "{:.0} s of the limit left, it needs about {:.0} s",
                    left.as_secs_f64(),
                    needs.as_secs_f64()
                )),
                data: Value::Null,
            });
            shared.save();
            return;
        }
        eprintln!("gpu-check: {name}");
        {
            let mut shared = self.lock();
            shared.section_started = Instant::now();
            shared.report.sections.push(Section {
                name: name.into(),
                status: SectionStatus::Running,
                seconds: 0.0,
                note: None,
                data: Value::Null,
            });
            shared.save();
        }
        let mut progress = |data: &Value| {
            let mut shared = self.lock();
            if let Some(s) = shared.report.sections.last_mut() {
                s.data = data.clone();
            }
            shared.save();
        };
        let outcome = body(&mut progress);
        let mut shared = self.lock();
        let seconds = shared.section_started.elapsed().as_secs_f64();
        if let Some(s) = shared.report.sections.last_mut() {
            s.status = outcome.status;
            s.note = outcome.note;
            s.data = outcome.data;
            s.seconds = seconds;
        }
        shared.save();
    }
}

/// Ends the process at `deadline` unless `done` is set first, the report saved with
/// the section under way marked cut off.
fn watchdog(shared: Arc<Mutex<Shared>>, deadline: Instant, done: Arc<AtomicBool>) {
    std::thread::spawn(move || {
        while Instant::now() < deadline {
            if done.load(Ordering::Acquire) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let mut shared = shared.lock().unwrap_or_else(PoisonError::into_inner);
        if done.load(Ordering::Acquire) {
            return;
        }
        shared.save();
        for s in &mut shared.report.sections {
            if s.status == SectionStatus::Running {
                s.status = SectionStatus::CutOff;
                s.note = Some("stopped by --limit".into());
            }
        }
        shared.report.status = RunStatus::OutOfTime;
        shared.save();
        eprintln!(
            "gpu-check: --limit reached; the report so far is in {}",
            shared.out.display()
        );
        std::process::exit(OUT_OF_TIME_EXIT);
    });
}

/// Runs every section on the selected device and writes the report into `out`.
pub fn run(options: &GpuCheckOptions) -> Result<Report> {
    let started = Instant::now();
    std::fs::create_dir_all(&options.out)
        .with_context(|| format!("creating {}", options.out.display()))?;
    let device = crate::device::current()?;
    let spec = crate::device::selected().unwrap_or(DeviceSpec::Cpu);
    let gpus = Gpus::open();
    let readings = gpus.read();
    let gpu_name = readings.first().map(|g| g.name.clone());
    let on_gpu = !device.is_cpu();
    let peak = options.peak_tflops.or_else(|| {
        gpu_name
            .as_deref()
            .filter(|_| on_gpu)
            .and_then(known_peak_tflops)
    });
    let shared = Arc::new(Mutex::new(Shared {
        report: Report {
            device: spec.to_string(),
            gpu: gpu_name,
            quick: options.quick,
            torch: options.python.is_some(),
            limit_s: options.limit.map(|l| l.as_secs_f64()),
            status: RunStatus::Running,
            elapsed_s: 0.0,
            sections: Vec::new(),
        },
        out: options.out.clone(),
        started,
        section_started: started,
    }));
    let deadline = options.limit.map(|l| started + l);
    let done = Arc::new(AtomicBool::new(false));
    if let Some(deadline) = deadline {
        watchdog(shared.clone(), deadline, done.clone());
    }
    let runner = Runner { shared, deadline };
    // What a section needs at least on a GPU (model loads, CUDA kernels' first use);
    // the CPU's tiny shapes start whatever is left.
    let needs = |seconds: u64| Duration::from_secs(if on_gpu { seconds } else { 0 });
    runner.section("nvml", needs(1), |_| nvml(&gpus, readings, on_gpu));
    runner.section("gradients", needs(10), |progress| {
        gradients(&device, progress)
    });
    runner.section("bf16_curve", needs(15), |_| {
        bf16_curve(&device, &options.out)
    });
    let plan = SpeedPlan::new(on_gpu, options.quick);
    let model_dir = speed::model_dir(&options.cache_dir, plan.shape);
    let ctx = model_dir.as_ref().ok().map(|dir| SpeedContext {
        model_dir: dir,
        plan: &plan,
        placement: crate::bench::torch::Placement {
            device: spec,
            precision: plan.precision,
        },
        threads: options.threads,
        python: options.python.as_ref(),
        peak_tflops: peak,
    });
    for (name, cases, seconds) in [
        ("sft", &plan.sft, 30),
        ("grpo", &plan.grpo, 20),
        ("generate", &plan.generate, 10),
    ] {
        runner.section(name, needs(seconds), |progress| match (&ctx, &model_dir) {
            (Some(ctx), _) => {
                let data = speed::run_cases(ctx, cases, progress);
                let complete = speed::complete(&data, ctx.python.is_some());
                Outcome {
                    status: if complete {
                        SectionStatus::Measured
                    } else {
                        SectionStatus::Error
                    },
                    note: (!complete).then(|| "a case has no figure: see its error".to_string()),
                    data,
                }
            }
            (None, Err(e)) => error_outcome(format!("writing the random model: {e:#}")),
            (None, Ok(_)) => error_outcome("no model".into()),
        });
    }
    let mut shared = runner.lock();
    done.store(true, Ordering::Release);
    shared.report.status = RunStatus::Completed;
    shared.save();
    Ok(shared.report.clone())
}

fn error_outcome(message: String) -> Outcome {
    Outcome {
        status: SectionStatus::Error,
        note: Some(message),
        data: Value::Null,
    }
}

fn nvml(gpus: &Gpus, readings: Vec<crate::runlog::GpuStats>, on_gpu: bool) -> Outcome {
    let status = if on_gpu && readings.is_empty() {
        SectionStatus::Error
    } else {
        SectionStatus::Measured
    };
    let note = readings
        .is_empty()
        .then(|| "no NVML readings (no NVIDIA driver here)".to_string());
    Outcome {
        status,
        note,
        data: json!({ "loaded": gpus.is_loaded(), "gpus": readings }),
    }
}

fn gradients(device: &Device, progress: &mut dyn FnMut(&Value)) -> Outcome {
    let mut data = json!({ "checks": [], "errors": [] });
    for case in CASES {
        match case.run(device) {
            Ok(checks) => {
                if let Some(list) = data["checks"].as_array_mut() {
                    list.extend(checks.iter().map(|c| json!(c)));
                }
            }
            Err(e) => {
                if let Some(list) = data["errors"].as_array_mut() {
                    list.push(json!({ "case": case.name, "error": e.to_string() }));
                }
            }
        }
        progress(&data);
    }
    let checks = data["checks"].as_array().map_or(0, Vec::len);
    let failed = data["checks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["passed"] != json!(true))
        .count();
    let errors = data["errors"].as_array().map_or(0, Vec::len);
    let status = if failed == 0 && errors == 0 && checks > 0 {
        SectionStatus::Passed
    } else {
        SectionStatus::Failed
    };
    Outcome {
        status,
        note: Some(format!(
            "{checks} checks, {failed} failed, {errors} cases could not run"
        )),
        data,
    }
}

fn bf16_curve(device: &Device, out: &Path) -> Outcome {
    let scratch = match tempfile::tempdir() {
        Ok(dir) => dir,
        Err(e) => return error_outcome(format!("creating a temporary directory: {e}")),
    };
    match bf16_check::tiny_curves(scratch.path(), device) {
        Ok(curves) => {
            // The bf16 run's own events, `device` samples included, as a run writes them.
            let _ = std::fs::copy(
                scratch.path().join("bf16/events.jsonl"),
                out.join("bf16-events.jsonl"),
            );
            let with_gpu = curves
                .device_events
                .iter()
                .filter(|e| !e.gpus.is_empty())
                .count();
            let mut data = json!(curves.comparison);
            data["device_events"] = json!(curves.device_events.len());
            data["device_events_with_gpu"] = json!(with_gpu);
            data["last_device_event"] = json!(curves.device_events.last());
            let passed = curves.comparison.passed;
            Outcome {
                status: if passed {
                    SectionStatus::Passed
                } else {
                    SectionStatus::Failed
                },
                note: (!passed).then(|| curves.comparison.failures.join("; ")),
                data,
            }
        }
        Err(e) => error_outcome(e.to_string()),
    }
}
