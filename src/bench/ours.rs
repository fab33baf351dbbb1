//! Our side of the model benchmarks: the project's own training and generation code
//! (the `Student`, `Trainable::next_token_loss`, `AdamW`, `infer::generate`) on the cases
//! of [`super::cases`], timed after warm-up repetitions.

use std::path::Path;
use std::time::Instant;

use candle_core::{Device, Tensor};
use serde::{Deserialize, Serialize};

use super::cases::{
    Case, CaseKind, GRPO_BETA, LORA_ALPHA, LORA_TARGETS, LR, MAX_GRAD_NORM, token_rows,
};
use crate::infer::{SamplingParams, generate};
use crate::model::checkpoint::load_model;
use crate::model::lora::LoraConfig;
use crate::train::batch::{TokenizedExample, collate};
use crate::train::grpo::objective::{ObjectiveConfig, ObjectiveInputs, grpo_loss};
use crate::train::grpo::rollout::token_logprobs;
use crate::train::optim::{AdamW, AdamWConfig, Gradients};
use crate::train::precision::Precision;
use crate::train::student::Student;
use crate::train::trainable::Trainable;

/// Mean seconds per timed repetition of each part of a training step.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Split {
    pub forward_s: f64,
    pub backward_s: f64,
    pub optimizer_s: f64,
}

/// One case's result; the PyTorch side prints the same fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Measured {
    pub name: String,
    pub tokens_per_s: f64,
    /// Mean seconds per timed repetition.
    pub seconds: f64,
    /// Mean CPU seconds (user + system, whole process) per timed repetition. On a
    /// shared machine wall time swings with the neighbours' load; CPU time much less.
    #[serde(default)]
    pub cpu_seconds: Option<f64>,
    #[serde(default)]
    pub split: Option<Split>,
    /// Peak RSS during the case (model load included), MiB.
    #[serde(default)]
    pub peak_rss_mib: Option<f64>,
    /// Training: loss of the first (warm-up) step, before any update; both sides
    /// should agree, which shows they run the same weights on the same inputs.
    #[serde(default)]
    pub loss: Option<f64>,
    pub ids_sum: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repetitions {
    pub warmup: usize,
    pub timed: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("{case}: {message}")]
    Case { case: String, message: String },
}

/// Names the case in any error on its way out.
trait InCase<T> {
    fn in_case(self, case: &Case) -> Result<T, BenchError>;
}

impl<T, E: std::fmt::Display> InCase<T> for std::result::Result<T, E> {
    fn in_case(self, case: &Case) -> Result<T, BenchError> {
        self.map_err(|e| BenchError::Case {
            case: case.name.clone(),
            message: e.to_string(),
        })
    }
}

/// Lets the next case's peak RSS start from what is really in use: free heap is handed
/// back to the kernel, then the kernel's high-water mark is reset (Linux).
pub fn reset_peak_rss() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free memory of glibc's allocator.
    unsafe {
        libc::malloc_trim(0);
    }
    // "5" resets VmHWM to the current RSS; unsupported kernels just keep the old peak.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// User + system CPU seconds this process has used so far.
pub fn cpu_seconds() -> Option<f64> {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage writes a full `rusage` into the pointer it is given.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) };
    if rc != 0 {
        return None;
    }
    // SAFETY: rc == 0, so the struct was filled in.
    let usage = unsafe { usage.assume_init() };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 * 1e-6;
    Some(secs(usage.ru_utime) + secs(usage.ru_stime))
}

/// CPU seconds of the timed repetitions, summed.
#[derive(Debug, Default)]
struct Clock {
    cpu: f64,
}

impl Clock {
    fn add(&mut self, cpu_before: Option<f64>) {
        if let (Some(before), Some(now)) = (cpu_before, cpu_seconds()) {
            self.cpu += now - before;
        }
    }
}

/// Runs `case` on the selected device (`--device`) in `precision`.
pub fn run_case(
    dir: &Path,
    case: &Case,
    reps: Repetitions,
    precision: Precision,
) -> Result<Measured, BenchError> {
    reset_peak_rss();
    let mut measured = match case.kind {
        CaseKind::FwdBwd | CaseKind::SftStep => train_case(dir, case, reps, precision)?,
        CaseKind::Generate => generate_case(dir, case, reps, precision)?,
        CaseKind::GrpoStep => grpo_step_case(dir, case, reps, precision)?,
    };
    measured.peak_rss_mib = super::peak_rss_mib();
    Ok(measured)
}

/// A GPU runs asynchronously: a timestamp means something only once the queued work
/// is done.
fn sync(device: &Device, case: &Case) -> Result<Instant, BenchError> {
    device.synchronize().in_case(case)?;
    Ok(Instant::now())
}

fn train_case(
    dir: &Path,
    case: &Case,
    reps: Repetitions,
    precision: Precision,
) -> Result<Measured, BenchError> {
    let lora = (case.lora_rank > 0)
        .then(|| LoraConfig::new(case.lora_rank, LORA_ALPHA, 0.0, LORA_TARGETS));
    let student = Student::load(dir, lora, 0, precision).in_case(case)?;
    let device = student.device();
    let vocab = student.model.config().vocab_size;
    let rows = token_rows(case.batch, case.seq, vocab);
    let ids_sum = rows.iter().flatten().map(|&t| u64::from(t)).sum();
    let prompt = case.seq / 4;
    let examples: Vec<TokenizedExample> = rows
        .iter()
        .map(|r| TokenizedExample::new(&r[..prompt], &r[prompt..]))
        .collect();
    let refs: Vec<&TokenizedExample> = examples.iter().collect();
    let batch = collate(&refs, student.pad_id(), &device).in_case(case)?;
    let params = student.trainable_params();
    let mut optimizer = match case.kind {
        CaseKind::SftStep => {
            Some(AdamW::new(params.clone(), AdamWConfig::default()).in_case(case)?)
        }
        _ => None,
    };
    let mut split = Split::default();
    let mut clock = Clock::default();
    let mut first_loss = None;
    for rep in 0..reps.warmup + reps.timed {
        let cpu0 = cpu_seconds();
        let t0 = sync(&device, case)?;
        let (loss, _) = student
            .next_token_loss(&batch.input_ids, &batch.attention_mask, &batch.labels)
            .in_case(case)?;
        let value = loss.to_scalar::<f32>().in_case(case)?;
        first_loss.get_or_insert(f64::from(value));
        let t1 = sync(&device, case)?;
        let mut grads = Gradients::from_store(&params, &loss.backward().in_case(case)?);
        let t2 = sync(&device, case)?;
        if let Some(opt) = optimizer.as_mut() {
            grads.clip_global_norm(MAX_GRAD_NORM).in_case(case)?;
            opt.step(&grads, LR).in_case(case)?;
        }
        drop(grads);
        let t3 = sync(&device, case)?;
        if rep >= reps.warmup {
            clock.add(cpu0);
            split.forward_s += (t1 - t0).as_secs_f64();
            split.backward_s += (t2 - t1).as_secs_f64();
            split.optimizer_s += (t3 - t2).as_secs_f64();
        }
    }
    let n = reps.timed.max(1) as f64;
    let split = Split {
        forward_s: split.forward_s / n,
        backward_s: split.backward_s / n,
        optimizer_s: split.optimizer_s / n,
    };
    let seconds = split.forward_s + split.backward_s + split.optimizer_s;
    Ok(Measured {
        name: case.name.clone(),
        tokens_per_s: case.tokens() as f64 / seconds.max(1e-12),
        seconds,
        cpu_seconds: Some(clock.cpu / n),
        split: Some(split),
        peak_rss_mib: None,
        loss: first_loss,
        ids_sum,
    })
}

fn generate_case(
    dir: &Path,
    case: &Case,
    reps: Repetitions,
    precision: Precision,
) -> Result<Measured, BenchError> {
    let (model, cfg) = crate::device::load_model(dir, precision.compute_dtype()).in_case(case)?;
    let prompts = token_rows(case.batch, case.prompt, cfg.vocab_size);
    let ids_sum = prompts.iter().flatten().map(|&t| u64::from(t)).sum();
    let params = SamplingParams {
        max_new_tokens: case.new_tokens,
        ..Default::default()
    };
    // No end-of-sequence ids: every row generates exactly `new_tokens`, as the
    // PyTorch side does with `min_new_tokens`. Nothing is decoded to text there either.
    let no_text = |_: &[u32]| String::new();
    let mut total = 0.0;
    let mut clock = Clock::default();
    for rep in 0..reps.warmup + reps.timed {
        let cpu0 = cpu_seconds();
        let start = Instant::now();
        let out = generate(&model, &prompts, &params, &[], 0, &no_text).in_case(case)?;
        let elapsed = start.elapsed().as_secs_f64();
        if let Some(short) = out.iter().find(|g| g.tokens.len() != case.new_tokens) {
            return Err(BenchError::Case {
                case: case.name.clone(),
                message: format!(
                    "generated {} tokens, expected {}",
                    short.tokens.len(),
                    case.new_tokens
                ),
            });
        }
        if rep >= reps.warmup {
            clock.add(cpu0);
            total += elapsed;
        }
    }
    Ok(unsplit(case, total, &clock, reps, ids_sum))
}

/// A case timed as a whole (no forward/backward/optimizer split): `total` wall
/// seconds over the timed repetitions.
fn unsplit(case: &Case, total: f64, clock: &Clock, reps: Repetitions, ids_sum: u64) -> Measured {
    let timed = reps.timed.max(1) as f64;
    let seconds = total / timed;
    Measured {
        name: case.name.clone(),
        tokens_per_s: case.tokens() as f64 / seconds.max(1e-12),
        seconds,
        cpu_seconds: Some(clock.cpu / timed),
        split: None,
        peak_rss_mib: None,
        loss: None,
        ids_sum,
    }
}

/// Advantages of a group with half its completions right: ±1, as group
/// normalisation gives them.
fn alternating_advantages(group: usize, device: &Device) -> candle_core::Result<Tensor> {
    let values: Vec<f32> = (0..group)
        .map(|i| if i % 2 == 0 { 1.0 } else { -1.0 })
        .collect();
    Tensor::from_vec(values, group, device)
}

fn grpo_step_case(
    dir: &Path,
    case: &Case,
    reps: Repetitions,
    precision: Precision,
) -> Result<Measured, BenchError> {
    let student = Student::load(dir, None, 0, precision).in_case(case)?;
    let device = student.device();
    let (reference, _) = load_model(dir, precision.compute_dtype(), &device).in_case(case)?;
    let vocab = student.model.config().vocab_size;
    let prompt = token_rows(1, case.prompt, vocab).remove(0);
    let ids_sum = prompt.iter().map(|&t| u64::from(t)).sum();
    let prompts = vec![prompt.clone(); case.batch];
    let params = student.trainable_params();
    let mut optimizer = AdamW::new(params.clone(), AdamWConfig::default()).in_case(case)?;
    let objective = ObjectiveConfig {
        beta: GRPO_BETA,
        ..ObjectiveConfig::default()
    };
    let advantages = alternating_advantages(case.batch, &device).in_case(case)?;
    let no_text = |_: &[u32]| String::new();
    let pad = student.pad_id();
    let mut clock = Clock::default();
    let mut total = 0.0;
    for rep in 0..reps.warmup + reps.timed {
        let sampling = SamplingParams {
            temperature: 1.0,
            max_new_tokens: case.new_tokens,
            seed: rep as u64,
            ..Default::default()
        };
        let cpu0 = cpu_seconds();
        let t0 = sync(&device, case)?;
        // No end-of-sequence ids: every completion has exactly `new_tokens`.
        let completions =
            generate(&student.model, &prompts, &sampling, &[], pad, &no_text).in_case(case)?;
        let sequences: Vec<(&[u32], &[u32])> = completions
            .iter()
            .map(|g| (prompt.as_slice(), g.tokens.as_slice()))
            .collect();
        let reference_forward =
            |ids: &Tensor, mask: &Tensor| reference.forward(ids, Some(mask), None);
        let reference_logp =
            token_logprobs(&reference_forward, &sequences, pad, 1.0, false, &device)
                .in_case(case)?
                .logp
                .detach();
        let policy_forward = |ids: &Tensor, mask: &Tensor| student.logits(ids, mask);
        let policy =
            token_logprobs(&policy_forward, &sequences, pad, 1.0, false, &device).in_case(case)?;
        let old_logp = policy.logp.detach();
        let output = grpo_loss(
            &ObjectiveInputs {
                logp: &policy.logp,
                old_logp: &old_logp,
                ref_logp: Some(&reference_logp),
                mask: &policy.mask,
                advantages: &advantages,
                max_new_tokens: case.new_tokens,
            },
            &objective,
        )
        .in_case(case)?;
        let mut grads = Gradients::from_store(&params, &output.loss.backward().in_case(case)?);
        grads.clip_global_norm(MAX_GRAD_NORM).in_case(case)?;
        optimizer.step(&grads, LR).in_case(case)?;
        drop(grads);
        let elapsed = (sync(&device, case)? - t0).as_secs_f64();
        if rep >= reps.warmup {
            clock.add(cpu0);
            total += elapsed;
        }
    }
    Ok(unsplit(case, total, &clock, reps, ids_sum))
}
