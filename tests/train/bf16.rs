//! bf16 training (bf16 weights and activations, f32 masters and optimiser state)
//! follows the f32 CPU loss curve of the same run on real SmolLM2 weights. The bf16
//! run goes to `PLANTUNE_TEST_DEVICE` (`cuda:0` from bench/gpu.sh; the CPU here).

#![allow(clippy::unwrap_used)]

use crate::common;
use plantune_tui::data::synth::{SynthConfig, generate};
use plantune_tui::jobs::StopFlag;
use plantune_tui::runlog::{EventWriter, RunEvent, read_all};
use plantune_tui::train::batch::TokenizedExample;
use plantune_tui::train::precision::Precision;
use plantune_tui::train::schedule::Decay;
use plantune_tui::train::sft::{Ending, SftConfig, SftJob};
use plantune_tui::train::student::Student;
use plantune_tui::train::trainable::Trainable as _;

const STEPS: u64 = 20;

/// Distinct examples for every step (no repeats, so the curve does not collapse to
/// a memorised zero) as plain "Question/Answer" text without the chat template's
/// system prompt, completions cut to 32 tokens: twenty full fine-tuning steps of a
/// 135M model in each precision must stay affordable on one CPU thread in CI.
fn examples(student: &Student) -> Vec<TokenizedExample> {
    let problems = generate(&SynthConfig {
        seed: 4,
        train: STEPS as usize,
        test_id: 1,
        test_ood: 1,
        ..SynthConfig::default()
    })
    .unwrap();
    let eos = student.tokenizer.eos_id().unwrap();
    problems
        .iter()
        .filter(|p| p.split == "train")
        .map(|p| {
            let prompt = format!("Question: {}\nAnswer:", p.question);
            let prompt_ids = student.tokenizer.encode(&prompt, false).unwrap();
            let solution = format!(" {}", p.gold_solution.clone().unwrap());
            let mut completion = student.tokenizer.encode(&solution, false).unwrap();
            completion.truncate(32);
            completion.push(eos);
            TokenizedExample::new(&prompt_ids, &completion)
        })
        .collect()
}

/// Per-step training losses of 20 steps of full fine-tuning in `precision`.
fn losses(precision: Precision, scratch: &std::path::Path) -> (Vec<f64>, Student) {
    let (model_dir, _) = common::smollm2::imported("bf16");
    let device = match precision {
        Precision::F32 => candle_core::Device::Cpu,
        Precision::Bf16 => bf16_device(),
    };
    let student = Student::load_on(model_dir, None, 0, precision, &device).unwrap();
    let train = examples(&student);
    assert_eq!(
        train.len(),
        STEPS as usize,
        "one pass over distinct examples"
    );
    let config = SftConfig {
        lr: 1e-5,
        warmup_ratio: 0.0,
        decay: Decay::Constant,
        epochs: 1,
        max_steps: STEPS,
        batch_size: 1,
        checkpoint_every: 0,
        seed: 1,
        ..SftConfig::default()
    };
    let dir = scratch.join(precision.name());
    std::fs::create_dir_all(&dir).unwrap();
    let events_path = dir.join("events.jsonl");
    let mut events = EventWriter::open(&events_path).unwrap();
    let job = SftJob {
        model: &student,
        train: &train,
        eval: &[],
        config: &config,
        pad_id: student.pad_id(),
        checkpoints: dir.join("checkpoints"),
        dataset_hash: None,
        stop: StopFlag::manual(),
        pause_at: None,
    };
    let outcome = job.run(&mut events, None).unwrap();
    assert_eq!(outcome.ending, Ending::Completed);
    let losses = read_all(&events_path)
        .unwrap()
        .events
        .into_iter()
        .filter_map(|e| match e.event {
            RunEvent::Step { loss, .. } => Some(loss),
            _ => None,
        })
        .collect();
    (losses, student)
}

fn bf16_device() -> candle_core::Device {
    let spec: plantune_tui::device::DeviceSpec = std::env::var("PLANTUNE_TEST_DEVICE")
        .unwrap_or_else(|_| "cpu".into())
        .parse()
        .unwrap_or_else(|e| panic!("PLANTUNE_TEST_DEVICE: {e}"));
    plantune_tui::device::open(spec).unwrap_or_else(|e| panic!("opening {spec}: {e}"))
}

fn mean(xs: &[f64]) -> f64 {
    xs.iter().sum::<f64>() / xs.len() as f64
}

#[test]
fn bf16_sft_follows_the_f32_loss_curve_over_twenty_steps() {
    let scratch = tempfile::tempdir().unwrap();
    let (f32_losses, _) = losses(Precision::F32, scratch.path());
    let (bf16_losses, bf16_student) = losses(Precision::Bf16, scratch.path());
    println!("step  f32       bf16      diff");
    for (i, (a, b)) in f32_losses.iter().zip(&bf16_losses).enumerate() {
        println!("{:>4}  {a:.5}  {b:.5}  {:+.5}", i + 1, b - a);
    }
    assert_eq!(f32_losses.len(), STEPS as usize);
    assert_eq!(bf16_losses.len(), STEPS as usize);

    // Both runs learn: otherwise agreeing curves would prove little (with bf16
    // updates lost to rounding, as without masters, the bf16 curve would stay flat).
    for (name, curve) in [("f32", &f32_losses), ("bf16", &bf16_losses)] {
        let (first, last) = (mean(&curve[..5]), mean(&curve[15..]));
        assert!(last < 0.8 * first, "{name} loss {first:.3} -> {last:.3}");
    }
    // Step 1 runs the same weights on the same example: only bf16 arithmetic (8
    // significant bits, about 2.4 decimal digits) separates the two losses.
    let (a, b) = (f32_losses[0], bf16_losses[0]);
    assert!(
        (a - b).abs() <= 0.02 * a,
        "step 1: f32 {a:.4} vs bf16 {b:.4}"
    );
    // Afterwards the trajectories part a little: bf16 weights move only when their
    // f32 master crosses a rounding boundary (at lr 1e-5 a weight moves about as far
    // in 20 steps as one bf16 spacing), as under PyTorch's autocast, which rounds the
    // weights for every matmul too. Measured here: bf16 a few hundredths above f32 on
    // losses of 0.3 to 1.8. Bounds: each step within 15%, the mean within 8%.
    for (step, (a, b)) in f32_losses.iter().zip(&bf16_losses).enumerate() {
        assert!(
            (a - b).abs() <= 0.15 * a,
            "step {}: f32 {a:.4} vs bf16 {b:.4}",
            step + 1
        );
    }
    let (a, b) = (mean(&f32_losses), mean(&bf16_losses));
    assert!(
        (a - b).abs() <= 0.08 * a,
        "mean over 20 steps: f32 {a:.4}, bf16 {b:.4}"
    );
    // And bf16 really ran: its losses are not the f32 ones.
    assert!(
        f32_losses.iter().zip(&bf16_losses).any(|(a, b)| a != b),
        "identical curves: the bf16 run computed in f32"
    );

    let params = bf16_student.trainable_params();
    assert!(
        params
            .iter()
            .all(|p| p.var.dtype() == candle_core::DType::BF16)
    );
    assert!(
        params
            .iter()
            .all(|p| p.master.as_ref().map(|m| m.dtype()) == Some(candle_core::DType::F32)),
        "every bf16 weight has an f32 master"
    );
    // The checkpoint keeps the masters, so a resumed run loses nothing.
    let saved = candle_core::safetensors::load(
        scratch
            .path()
            .join("bf16/checkpoints/step-20/trainable.safetensors"),
        &candle_core::Device::Cpu,
    )
    .unwrap();
    assert!(saved.values().all(|t| t.dtype() == candle_core::DType::F32));
    // The weights are the masters rounded.
    let embed = params
        .iter()
        .find(|p| p.name == "model.embed_tokens.weight")
        .unwrap();
    let rounded = embed
        .master
        .as_ref()
        .unwrap()
        .as_tensor()
        .to_dtype(candle_core::DType::BF16)
        .unwrap();
    let diff = (rounded.to_dtype(candle_core::DType::F32).unwrap()
        - embed
            .var
            .as_tensor()
            .to_dtype(candle_core::DType::F32)
            .unwrap())
    .unwrap()
    .abs()
    .unwrap()
    .max_all()
    .unwrap()
    .to_scalar::<f32>()
    .unwrap();
    assert_eq!(diff, 0.0);
}
