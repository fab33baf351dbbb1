//! GRPO on a tiny from-scratch Llama: a rollout step pauses and resumes bit-exactly,
//! and on synthetic problems a model first trained by SFT gets measurably more of its
//! training problems right after a short GRPO run.

#![allow(clippy::unwrap_used)]

use std::path::Path;

use plantune_tui::data::synth::{SynthConfig, generate};
use plantune_tui::infer::sampling::SamplingParams;
use plantune_tui::jobs::StopFlag;
use plantune_tui::model::chat::ChatMessage;
use plantune_tui::model::tiny::{TinyConfig, create};
use plantune_tui::runlog::{EventWriter, RunEvent, read_all};
use plantune_tui::train::dataset::{Message, baseline_completion};
use plantune_tui::train::grpo::objective::ObjectiveConfig;
use plantune_tui::train::grpo::rewards::{Reward, RewardError, RewardSet, RolloutView};
use plantune_tui::train::grpo::{
    GrpoConfig, GrpoJob, GrpoPrompt, greedy_accuracy, sampled_accuracy,
};
use plantune_tui::train::precision::Precision;
use plantune_tui::train::schedule::Decay;
use plantune_tui::train::sft::{Ending, SftConfig, SftJob};
use plantune_tui::train::student::Student;
use plantune_tui::workspace::records::{NewProblem, Problem};

fn problems(n: usize) -> Vec<NewProblem> {
    generate(&SynthConfig {
        seed: 3,
        train: n,
        test_id: 1,
        test_ood: 1,
        train_steps: 1..=1,
        ood_steps: 2..=2,
        max_operand: 9,
        twists: Default::default(),
    })
    .unwrap()
    .into_iter()
    .filter(|p| p.split == "train")
    .collect()
}

fn tiny_model(dir: &Path, corpus: &[String]) {
    let cfg = TinyConfig {
        vocab_size: 300,
        hidden_size: 96,
        intermediate_size: 256,
        num_hidden_layers: 3,
        num_attention_heads: 4,
        num_key_value_heads: 2,
        max_position_embeddings: 256,
        seed: 1,
    };
    create(dir, corpus.iter(), &cfg).unwrap();
}

fn chat(question: &str) -> String {
    format!("Problem: {question}")
}

fn grpo_prompts(student: &Student, problems: &[NewProblem]) -> Vec<GrpoPrompt> {
    problems
        .iter()
        .map(|p| {
            let prompt_text = student
                .template
                .render(&[ChatMessage::new("user", chat(&p.question))], true)
                .unwrap();
            GrpoPrompt {
                id: p.external_id.clone(),
                question: p.question.clone(),
                gold: p.gold_answer.clone(),
                reference_plan: None,
                prompt_ids: student.tokenizer.encode(&prompt_text, false).unwrap(),
                prompt_text,
            }
        })
        .collect()
}

fn sft(student: &Student, problems: &[NewProblem], steps: u64, dir: &Path) {
    let examples: Vec<_> = problems
        .iter()
        .map(|p| {
            let as_problem = Problem {
                id: 0,
                fields: p.clone(),
            };
            student
                .encode_example(&[
                    Message {
                        role: "user".into(),
                        content: chat(&p.question),
                    },
                    Message {
                        role: "assistant".into(),
                        content: baseline_completion(&as_problem).unwrap(),
                    },
                ])
                .unwrap()
        })
        .collect();
    let config = SftConfig {
        lr: 3e-3,
        warmup_ratio: 0.05,
        epochs: 1000,
        max_steps: steps,
        batch_size: 16,
        checkpoint_every: 0,
        seed: 1,
        ..Default::default()
    };
    let mut events = EventWriter::open(&dir.join("sft-events.jsonl")).unwrap();
    SftJob {
        model: student,
        train: &examples,
        eval: &[],
        config: &config,
        pad_id: student.pad_id(),
        checkpoints: dir.join("sft-checkpoints"),
        dataset_hash: None,
        stop: StopFlag::manual(),
        pause_at: None,
    }
    .run(&mut events, None)
    .unwrap();
}

/// Rewards completions by how many digits they hold: varied on an untrained model, so
/// every group has non-zero advantages and the resume test moves real weights.
struct DigitReward;

impl Reward for DigitReward {
    fn name(&self) -> &str {
        "digits"
    }
    fn score(&self, rollouts: &[RolloutView]) -> Result<Vec<f64>, RewardError> {
        Ok(rollouts
            .iter()
            .map(|r| r.completion.chars().filter(char::is_ascii_digit).count() as f64)
            .collect())
    }
}

fn weights(student: &Student) -> Vec<Vec<f32>> {
    use plantune_tui::train::trainable::Trainable;
    student
        .trainable_params()
        .iter()
        .map(|p| {
            p.var
                .as_tensor()
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap()
        })
        .collect()
}

#[test]
fn a_paused_grpo_run_resumes_bit_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let problems = problems(24);
    let corpus: Vec<String> = problems
        .iter()
        .flat_map(|p| [chat(&p.question), p.gold_solution.clone().unwrap()])
        .collect();
    let model_dir = dir.path().join("tiny");
    tiny_model(&model_dir, &corpus);
    let config = GrpoConfig {
        lr: 1e-3,
        decay: Decay::Cosine,
        warmup_ratio: 0.25,
        max_steps: 4,
        prompts_per_step: 2,
        group_size: 4,
        max_new_tokens: 12,
        iterations: 2,
        micro_batch: 3,
        objective: ObjectiveConfig {
            beta: 0.05,
            ..ObjectiveConfig::default()
        },
        checkpoint_every: 0,
        sample_every: 1,
        seed: 5,
        ..GrpoConfig::default()
    };
    let rewards = RewardSet {
        components: vec![(Box::new(DigitReward), 1.0)],
    };
    let reference = plantune_tui::model::checkpoint::load_model(
        &model_dir,
        candle_core::DType::F32,
        &candle_core::Device::Cpu,
    )
    .unwrap()
    .0;
    let run = |pause_at: Option<u64>, resume: bool, events_name: &str| {
        let student = Student::load(&model_dir, None, 0, Precision::F32).unwrap();
        let prompts = grpo_prompts(&student, &problems);
        let job = GrpoJob {
            policy: &student,
            reference: Some(&reference),
            prompts: &prompts,
            rewards: &rewards,
            config: &config,
            checkpoints: dir.path().join(format!("ckpt-{events_name}")),
            dataset_hash: None,
            stop: StopFlag::manual(),
            pause_at,
        };
        let path = dir.path().join(format!("{events_name}.jsonl"));
        let mut events = EventWriter::open(&path).unwrap();
        let from = resume.then(|| {
            let (_, last) = plantune_tui::train::checkpoint::list(&job.checkpoints)
                .unwrap()
                .pop()
                .unwrap();
            last
        });
        let outcome = job.run(&mut events, from.as_deref()).unwrap();
        (outcome, weights(&student), path)
    };
    let initial = weights(&Student::load(&model_dir, None, 0, Precision::F32).unwrap());
    let (whole, whole_weights, whole_events) = run(None, false, "whole");
    assert_eq!(whole.ending, Ending::Completed);
    assert_ne!(whole_weights, initial, "GRPO must move the weights");

    let (first, _, _) = run(Some(2), false, "split");
    assert_eq!((first.ending, first.steps), (Ending::Stopped, 2));
    let (second, resumed_weights, _) = run(None, true, "split");
    assert_eq!((second.ending, second.steps), (Ending::Completed, 4));
    assert!(
        whole_weights == resumed_weights,
        "resumed weights differ from the uninterrupted run's"
    );

    // The events carry every GRPO measurement and the samples with their reward parts.
    let events = read_all(&whole_events).unwrap().events;
    let steps: Vec<_> = events
        .iter()
        .filter_map(|e| match &e.event {
            RunEvent::Step {
                reward_mean,
                kl,
                rewards,
                metrics,
                ..
            } => Some((
                reward_mean.unwrap(),
                kl.unwrap(),
                rewards.clone(),
                metrics.clone(),
            )),
            _ => None,
        })
        .collect();
    assert_eq!(steps.len(), 4);
    for (_, kl, rewards, metrics) in &steps {
        assert!(rewards.contains_key("digits"));
        assert!(*kl >= 0.0);
        for key in [
            "clip_low",
            "clip_high",
            "entropy",
            "completion_len_max",
            "truncated_ratio",
            "tied_groups",
            "generation_s",
            "reference_s",
            "update_s",
        ] {
            assert!(metrics.contains_key(key), "{key} missing");
        }
    }
    // The policy moves away from the reference after the first update.
    assert!(
        steps[3].1 > 0.0,
        "KL stayed 0: {:?}",
        steps.iter().map(|s| s.1).collect::<Vec<_>>()
    );
    let samples = events
        .iter()
        .filter(|e| matches!(&e.event, RunEvent::Sample { rewards, gold, correct, .. } if rewards.contains_key("digits") && gold.is_some() && correct.is_some()))
        .count();
    assert_eq!(samples, 4 * 4, "one group's completions per step");
    // A sample graded correct names the answer the grader found.
    for event in &events {
        if let RunEvent::Sample {
            answer,
            correct: Some(true),
            ..
        } = &event.event
        {
            assert!(answer.is_some(), "{event:?}");
        }
    }
}

#[test]
fn grpo_raises_training_accuracy_after_sft() {
    let dir = tempfile::tempdir().unwrap();
    let problems = problems(48);
    let corpus: Vec<String> = problems
        .iter()
        .flat_map(|p| [chat(&p.question), p.gold_solution.clone().unwrap()])
        .collect();
    let model_dir = dir.path().join("tiny");
    tiny_model(&model_dir, &corpus);
    let student = Student::load(&model_dir, None, 0, Precision::F32).unwrap();
    sft(&student, &problems, SFT_STEPS, dir.path());
    // Every step rolls out every training prompt, so each update follows the gradient
    // of the whole training set's expected reward rather than a noisy minibatch's.
    let prompts = grpo_prompts(&student, &problems[..GRPO_PROMPTS]);
    // GRPO maximises the expected reward of sampled answers, so that is what the test
    // measures: 64 samples per training problem (512 in all) before and after, enough
    // for a one-sided test to tell a real gain from a CPU's float reordering; greedy is
    // printed too.
    let probe = SamplingParams {
        temperature: 1.0,
        max_new_tokens: 48,
        seed: 99,
        ..SamplingParams::default()
    };
    let greedy_before = greedy_accuracy(&student, &prompts, 48).unwrap();
    let before = sampled_accuracy(&student, &prompts, &probe, PROBE_SAMPLES).unwrap();
    let config = GrpoConfig {
        lr: GRPO_LR,
        max_steps: GRPO_STEPS,
        prompts_per_step: GRPO_PROMPTS,
        group_size: 8,
        max_new_tokens: 48,
        micro_batch: 32,
        checkpoint_every: 0,
        sample_every: 0,
        seed: 2,
        ..GrpoConfig::default()
    };
    let weights = plantune_tui::train::grpo::rewards::RewardWeights {
        format: 0.0,
        plan: 0.0,
        ..Default::default()
    };
    let rewards = RewardSet::local(&weights);
    let job = GrpoJob {
        policy: &student,
        reference: None,
        prompts: &prompts,
        rewards: &rewards,
        config: &config,
        checkpoints: dir.path().join("grpo-checkpoints"),
        dataset_hash: None,
        stop: StopFlag::manual(),
        pause_at: None,
    };
    let events_path = dir.path().join("grpo.jsonl");
    let mut events = EventWriter::open(&events_path).unwrap();
    job.run(&mut events, None).unwrap();
    let rewards_by_step: Vec<f64> = read_all(&events_path)
        .unwrap()
        .events
        .iter()
        .filter_map(|e| match &e.event {
            RunEvent::Step { reward_mean, .. } => *reward_mean,
            _ => None,
        })
        .collect();
    let greedy_after = greedy_accuracy(&student, &prompts, 48).unwrap();
    let after = sampled_accuracy(&student, &prompts, &probe, PROBE_SAMPLES).unwrap();
    eprintln!(
        "training accuracy sampled at T=1: {before:.3} before GRPO, {after:.3} after \
         (greedy {greedy_before:.3} -> {greedy_after:.3}); mean reward by step {rewards_by_step:.2?}"
    );
    assert!(
        before > 0.0 && before < 1.0,
        "SFT must leave room to improve and something to reinforce: {before}"
    );
    let n = (GRPO_PROMPTS * PROBE_SAMPLES) as f64;
    let p = one_sided_gain_p(before, after, n);
    eprintln!("one-sided p of the gain over {n} samples each: {p:.2e}");
    assert!(
        p < 0.01,
        "GRPO did not significantly improve: {before} -> {after} (p = {p:.3})"
    );
}

/// P(gain this large | no real gain): two-proportion z-test on `n` samples per side.
fn one_sided_gain_p(before: f64, after: f64, n: f64) -> f64 {
    let pooled = (before + after) / 2.0;
    let se = (2.0 * pooled * (1.0 - pooled) / n).sqrt();
    if se == 0.0 {
        return if after > before { 0.0 } else { 1.0 };
    }
    0.5 * erfc((after - before) / se / std::f64::consts::SQRT_2)
}

/// Complementary error function (Abramowitz & Stegun 7.1.26, error < 1.5e-7).
fn erfc(x: f64) -> f64 {
    if x < 0.0 {
        return 2.0 - erfc(-x);
    }
    let t = 1.0 / (1.0 + 0.327_591_1 * x);
    let poly = t
        * (0.254_829_592
            + t * (-0.284_496_736
                + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    poly * (-x * x).exp()
}

#[test]
fn the_gain_test_reads_the_normal_tail() {
    assert!((erfc(0.0) - 1.0).abs() < 1e-6);
    assert!((erfc(1.0) - 0.157_299_2).abs() < 1e-6);
    // A gain of two standard errors: one-sided p = 0.02275.
    let n: f64 = 512.0;
    let se = (2.0 * 0.25 / n).sqrt();
    assert!((one_sided_gain_p(0.5 - se, 0.5 + se, n) - 0.022_75).abs() < 1e-4);
    assert!((one_sided_gain_p(0.4, 0.4, n) - 0.5).abs() < 1e-6);
}

const SFT_STEPS: u64 = 150;
const GRPO_PROMPTS: usize = 8;
const GRPO_STEPS: u64 = 40;
const GRPO_LR: f64 = 2e-4;
const PROBE_SAMPLES: usize = 64;
