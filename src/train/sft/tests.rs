use candle_core::{DType, Device, Tensor, Var};

use super::*;
use crate::runlog::read_all;
use crate::train::loss::shifted_cross_entropy;
use crate::train::optim::NamedVar;

/// A bigram model (embedding, then a projection to the vocabulary): small enough to
/// train in milliseconds, real enough to overfit and to resume.
struct Bigram {
    embed: Var,
    out: Var,
}

impl Bigram {
    fn new(vocab: usize, dim: usize) -> Self {
        let values = |n: usize, salt: usize| -> Vec<f32> {
            (0..n)
                .map(|i| (((i * 7919 + salt) % 97) as f32 / 97.0 - 0.5) * 0.2)
                .collect()
        };
        Self {
            embed: Var::from_tensor(
                &Tensor::from_vec(values(vocab * dim, 1), (vocab, dim), &Device::Cpu).unwrap(),
            )
            .unwrap(),
            out: Var::from_tensor(
                &Tensor::from_vec(values(vocab * dim, 2), (vocab, dim), &Device::Cpu).unwrap(),
            )
            .unwrap(),
        }
    }

    fn values(&self) -> Vec<u32> {
        [&self.embed, &self.out]
            .iter()
            .flat_map(|v| {
                v.as_tensor()
                    .flatten_all()
                    .unwrap()
                    .to_vec1::<f32>()
                    .unwrap()
            })
            .map(f32::to_bits)
            .collect()
    }
}

impl Trainable for Bigram {
    fn logits(&self, ids: &Tensor, _mask: &Tensor) -> candle_core::Result<Tensor> {
        let (b, t) = ids.dims2()?;
        let hidden = self.embed.as_tensor().embedding(&ids.flatten_all()?)?;
        hidden
            .matmul(&self.out.as_tensor().t()?)?
            .reshape((b, t, ()))
    }

    fn trainable_params(&self) -> Vec<NamedVar> {
        vec![
            NamedVar::new("embed", self.embed.clone()),
            NamedVar::new("out", self.out.clone()),
        ]
    }

    fn device(&self) -> Device {
        Device::Cpu
    }
}

fn examples() -> Vec<TokenizedExample> {
    // Prompt [1, k], completion [k+2, k+3]: a deterministic mapping to learn.
    (0..8u32)
        .map(|k| TokenizedExample::new(&[1, 4 + k], &[14 + k, 24 + k]))
        .collect()
}

fn config() -> SftConfig {
    SftConfig {
        lr: 0.05,
        warmup_ratio: 0.0,
        epochs: 60,
        batch_size: 4,
        grad_accum: 2,
        checkpoint_every: 10,
        keep_checkpoints: 2,
        seed: 11,
        eval_every: 20,
        ..Default::default()
    }
}

fn job<'a>(
    model: &'a Bigram,
    data: &'a [TokenizedExample],
    config: &'a SftConfig,
    dir: &std::path::Path,
) -> SftJob<'a, Bigram> {
    SftJob {
        model,
        train: data,
        eval: &data[..2],
        config,
        pad_id: 0,
        checkpoints: dir.join("checkpoints"),
        dataset_hash: Some("test".into()),
        stop: StopFlag::manual(),
        pause_at: None,
    }
}

#[test]
fn overfits_eight_examples_and_reports_events() {
    let dir = tempfile::tempdir().unwrap();
    let model = Bigram::new(40, 16);
    let data = examples();
    let config = config();
    let mut events = EventWriter::open(&dir.path().join("events.jsonl")).unwrap();
    let job = job(&model, &data, &config, dir.path());
    let outcome = job.run(&mut events, None).unwrap();
    assert_eq!(outcome.ending, Ending::Completed);
    assert_eq!(outcome.steps, job.total_steps());
    assert!(outcome.last_loss < 0.05, "final loss {}", outcome.last_loss);
    let log = read_all(&dir.path().join("events.jsonl")).unwrap();
    let first_loss = log.events.iter().find_map(|e| match e.event {
        RunEvent::Step { loss, .. } => Some(loss),
        _ => None,
    });
    assert!(first_loss.unwrap() > 2.0);
    assert!(
        log.events
            .iter()
            .any(|e| matches!(e.event, RunEvent::Eval { .. }))
    );
    assert!(
        log.events
            .iter()
            .any(|e| matches!(e.event, RunEvent::Checkpoint { .. }))
    );
    assert!(!log.torn_tail);
    assert!(
        checkpoint::list(&dir.path().join("checkpoints"))
            .unwrap()
            .len()
            <= 2
    );
}

#[test]
fn prompt_positions_carry_no_loss() {
    // Completion-only loss: whatever the model predicts at positions whose next token
    // belongs to the prompt, the loss is the same.
    let model = Bigram::new(40, 16);
    let example = TokenizedExample::new(&[1, 5, 6], &[15, 25]);
    let batch = collate(&[&example], 0, &Device::Cpu).unwrap();
    let logits = model
        .logits(&batch.input_ids, &batch.attention_mask)
        .unwrap();
    let (base, count) = shifted_cross_entropy(&logits, &batch.labels).unwrap();
    assert_eq!(count, 2);
    // Positions 0 and 1 predict prompt tokens 5 and 6: scramble their logits.
    let noise = Tensor::randn(0f32, 10.0, (1, 2, 40), &Device::Cpu).unwrap();
    let scrambled = Tensor::cat(&[&noise, &logits.narrow(1, 2, 3).unwrap()], 1).unwrap();
    let (after, _) = shifted_cross_entropy(&scrambled, &batch.labels).unwrap();
    assert_eq!(
        base.to_scalar::<f32>().unwrap().to_bits(),
        after.to_scalar::<f32>().unwrap().to_bits()
    );
    // Position 2 predicts the first completion token: changing it changes the loss.
    let mut values = logits.to_vec3::<f32>().unwrap();
    values[0][2][15] += 5.0;
    let changed = Tensor::new(values, &Device::Cpu).unwrap();
    let (moved, _) = shifted_cross_entropy(&changed, &batch.labels).unwrap();
    assert_ne!(
        base.to_scalar::<f32>().unwrap().to_bits(),
        moved.to_scalar::<f32>().unwrap().to_bits()
    );
}

#[test]
fn a_paused_and_resumed_run_ends_bit_identical() {
    let data = examples();
    let config = SftConfig {
        epochs: 16,
        ..config()
    };

    let straight_dir = tempfile::tempdir().unwrap();
    let straight = Bigram::new(40, 16);
    let mut events = EventWriter::open(&straight_dir.path().join("events.jsonl")).unwrap();
    job(&straight, &data, &config, straight_dir.path())
        .run(&mut events, None)
        .unwrap();

    let split_dir = tempfile::tempdir().unwrap();
    let first = Bigram::new(40, 16);
    let mut events = EventWriter::open(&split_dir.path().join("events.jsonl")).unwrap();
    let mut paused = job(&first, &data, &config, split_dir.path());
    paused.pause_at = Some(7);
    let outcome = paused.run(&mut events, None).unwrap();
    assert_eq!((outcome.ending, outcome.steps), (Ending::Stopped, 7));

    // A fresh process would rebuild the model from scratch, then load the checkpoint.
    let resumed = Bigram::new(40, 16);
    let (_, latest) = checkpoint::list(&split_dir.path().join("checkpoints"))
        .unwrap()
        .pop()
        .unwrap();
    let outcome = job(&resumed, &data, &config, split_dir.path())
        .run(&mut events, Some(&latest))
        .unwrap();
    assert_eq!(outcome.ending, Ending::Completed);
    assert_eq!(
        resumed.values(),
        straight.values(),
        "weights differ after resume"
    );
}

#[test]
fn an_interrupted_checkpoint_write_leaves_the_previous_one() {
    let dir = tempfile::tempdir().unwrap();
    let model = Bigram::new(40, 16);
    let data = examples();
    let config = SftConfig {
        epochs: 3,
        ..config()
    };
    let mut events = EventWriter::open(&dir.path().join("events.jsonl")).unwrap();
    job(&model, &data, &config, dir.path())
        .run(&mut events, None)
        .unwrap();
    let root = dir.path().join("checkpoints");
    let before = checkpoint::list(&root).unwrap();
    // What kill -9 during a save leaves behind: a half-written temp directory.
    std::fs::create_dir_all(root.join(".step-999.tmp")).unwrap();
    std::fs::write(root.join(".step-999.tmp/trainable.safetensors"), b"half").unwrap();
    assert_eq!(checkpoint::list(&root).unwrap(), before);
    let (_, latest) = before.last().unwrap().clone();
    let fresh = Bigram::new(40, 16);
    let mut optimizer = AdamW::new(fresh.trainable_params(), AdamWConfig::default()).unwrap();
    let state = checkpoint::load(&latest, &mut optimizer, &Device::Cpu).unwrap();
    assert_eq!(fresh.values(), model.values());
    assert_eq!(state.dataset_hash.as_deref(), Some("test"));
}

#[test]
fn nan_loss_stops_the_run_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let model = Bigram::new(40, 16);
    model
        .embed
        .set(&Tensor::full(f32::NAN, (40, 16), &Device::Cpu).unwrap())
        .unwrap();
    let data = examples();
    let config = config();
    let mut events = EventWriter::open(&dir.path().join("events.jsonl")).unwrap();
    let err = job(&model, &data, &config, dir.path())
        .run(&mut events, None)
        .unwrap_err();
    assert!(
        matches!(
            err,
            SftError::NonFinite {
                what: "loss",
                step: 0
            }
        ),
        "{err}"
    );
    let _ = DType::F32;
}
