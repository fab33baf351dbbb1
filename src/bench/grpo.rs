//! `plantune-tui bench grpo`: where a GRPO step's time goes on a real model —
//! sampling the group, the reference model's log-probabilities, the policy update —
//! measured by running the real GRPO job for a few steps.

use std::path::{Path, PathBuf};

use anyhow::Context as _;

use crate::data::synth::{SynthConfig, generate};
use crate::jobs::StopFlag;
use crate::model::chat::ChatMessage;
use crate::model::lora::LoraConfig;
use crate::runlog::{EventWriter, RunEvent, read_all};
use crate::train::grpo::objective::ObjectiveConfig;
use crate::train::grpo::rewards::{RewardSet, RewardWeights};
use crate::train::grpo::{GrpoConfig, GrpoJob, GrpoPrompt};
use crate::train::precision::Precision;
use crate::train::student::Student;

#[derive(Debug, Clone)]
pub struct GrpoBenchOptions {
    pub model: PathBuf,
    pub group: usize,
    pub max_new_tokens: usize,
    /// Measured steps; one warm-up step runs first and is reported apart.
    pub steps: u64,
    /// LoRA rank (0 = full fine-tuning).
    pub lora_rank: usize,
    pub beta: f64,
    /// Sequences per forward/backward in the update (memory, not maths).
    pub micro_batch: usize,
    pub precision: Precision,
}

#[derive(Debug, Clone, Default)]
pub struct StepTimes {
    pub generation_s: f64,
    pub reference_s: f64,
    pub update_s: f64,
    pub completion_tokens: f64,
}

impl StepTimes {
    pub fn total_s(&self) -> f64 {
        self.generation_s + self.reference_s + self.update_s
    }
}

#[derive(Debug, Clone)]
pub struct GrpoBenchResult {
    pub warmup: StepTimes,
    /// Mean over the measured steps.
    pub mean: StepTimes,
    pub steps: usize,
    pub peak_rss_mib: Option<f64>,
}

const INSTRUCTION: &str = "Solve the problem. First write a short numbered plan, then \
execute it step by step and give the final answer in \\boxed{}.";

fn prompts(student: &Student, n: usize) -> anyhow::Result<Vec<GrpoPrompt>> {
    let problems = generate(&SynthConfig {
        seed: 11,
        train: n,
        test_id: 1,
        test_ood: 1,
        ..SynthConfig::default()
    })?;
    problems
        .into_iter()
        .filter(|p| p.split == "train")
        .map(|p| {
            let chat = [ChatMessage::new(
                "user",
                format!("{INSTRUCTION}\n\n{}", p.question),
            )];
            let prompt_text = student.template.render(&chat, true)?;
            let prompt_ids = student.tokenizer.encode(&prompt_text, false)?;
            Ok(GrpoPrompt {
                id: p.external_id,
                question: p.question,
                gold: p.gold_answer,
                reference_plan: None,
                prompt_text,
                prompt_ids,
            })
        })
        .collect()
}

fn times(events: &Path) -> anyhow::Result<Vec<StepTimes>> {
    let read = read_all(events)?;
    Ok(read
        .events
        .iter()
        .filter_map(|e| match &e.event {
            RunEvent::Step {
                metrics,
                completion_len,
                ..
            } => Some(StepTimes {
                generation_s: metrics.get("generation_s").copied().unwrap_or(0.0),
                reference_s: metrics.get("reference_s").copied().unwrap_or(0.0),
                update_s: metrics.get("update_s").copied().unwrap_or(0.0),
                completion_tokens: completion_len.unwrap_or(0.0),
            }),
            _ => None,
        })
        .collect())
}

pub fn run(options: &GrpoBenchOptions, scratch: &Path) -> anyhow::Result<GrpoBenchResult> {
    let lora = (options.lora_rank > 0).then(|| {
        LoraConfig::new(
            options.lora_rank,
            2.0 * options.lora_rank as f64,
            0.0,
            &["q_proj", "k_proj", "v_proj", "o_proj"],
        )
    });
    let student = Student::load(&options.model, lora, 0, options.precision)
        .with_context(|| format!("loading {}", options.model.display()))?;
    let reference = if options.beta > 0.0 {
        Some(crate::device::load_model(&options.model, options.precision.compute_dtype())?.0)
    } else {
        None
    };
    let prompts = prompts(&student, options.steps as usize + 1)?;
    let config = GrpoConfig {
        lr: 1e-6,
        max_steps: options.steps + 1,
        prompts_per_step: 1,
        group_size: options.group,
        max_new_tokens: options.max_new_tokens,
        micro_batch: options.micro_batch.max(1),
        objective: ObjectiveConfig {
            beta: options.beta,
            ..ObjectiveConfig::default()
        },
        checkpoint_every: 0,
        sample_every: 0,
        seed: 1,
        ..GrpoConfig::default()
    };
    let rewards = RewardSet::local(&RewardWeights::default());
    let job = GrpoJob {
        policy: &student,
        reference: reference.as_ref(),
        prompts: &prompts,
        rewards: &rewards,
        config: &config,
        checkpoints: scratch.join("checkpoints"),
        dataset_hash: None,
        stop: StopFlag::manual(),
        pause_at: None,
    };
    let events_path = scratch.join("events.jsonl");
    let mut events = EventWriter::open(&events_path)?;
    job.run(&mut events, None)?;
    drop(events);
    let all = times(&events_path)?;
    let (warmup, measured) = all
        .split_first()
        .context("the GRPO job wrote no step events")?;
    let n = measured.len().max(1) as f64;
    let mut mean = StepTimes::default();
    for t in measured {
        mean.generation_s += t.generation_s / n;
        mean.reference_s += t.reference_s / n;
        mean.update_s += t.update_s / n;
        mean.completion_tokens += t.completion_tokens / n;
    }
    Ok(GrpoBenchResult {
        warmup: warmup.clone(),
        mean,
        steps: measured.len(),
        peak_rss_mib: super::peak_rss_mib(),
    })
}

pub fn render(options: &GrpoBenchOptions, result: &GrpoBenchResult) -> String {
    let m = &result.mean;
    let total = m.total_s().max(1e-9);
    let share = |s: f64| 100.0 * s / total;
    let mut out = format!(
        "bench grpo: {} · {} on {} · G={} · {} new tokens max · {} · β={} · micro-batch {} · mean of {} steps after 1 warm-up\n",
        options.model.display(),
        options.precision,
        crate::device::selected().unwrap_or_default(),
        options.group,
        options.max_new_tokens,
        if options.lora_rank > 0 {
            format!("LoRA r{}", options.lora_rank)
        } else {
            "full fine-tuning".to_owned()
        },
        options.beta,
        options.micro_batch,
        result.steps,
    );
    out.push_str(&format!(
        "  generation   {:>8.2} s  {:>5.1}%  ({:.0} completion tokens/s, mean completion {:.0} tokens)\n",
        m.generation_s,
        share(m.generation_s),
        m.completion_tokens * options.group as f64 / m.generation_s.max(1e-9),
        m.completion_tokens
    ));
    out.push_str(&format!(
        "  reference    {:>8.2} s  {:>5.1}%\n",
        m.reference_s,
        share(m.reference_s)
    ));
    out.push_str(&format!(
        "  update       {:>8.2} s  {:>5.1}%\n",
        m.update_s,
        share(m.update_s)
    ));
    out.push_str(&format!("  step         {:>8.2} s\n", m.total_s()));
    out.push_str(&format!(
        "  warm-up step {:>8.2} s (generation {:.2}, reference {:.2}, update {:.2})\n",
        result.warmup.total_s(),
        result.warmup.generation_s,
        result.warmup.reference_s,
        result.warmup.update_s
    ));
    if let Some(rss) = result.peak_rss_mib {
        out.push_str(&format!("  peak RSS     {rss:>8.0} MiB\n"));
    }
    out
}
