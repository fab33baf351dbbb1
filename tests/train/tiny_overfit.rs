//! A tiny randomly initialised Llama overfits 8 examples with completion-only SFT, in
//! full fine-tuning and in LoRA mode (base weights untouched).

#![allow(clippy::unwrap_used)]

use plantune_tui::jobs::StopFlag;
use plantune_tui::model::lora::LoraConfig;
use plantune_tui::model::tiny::{TinyConfig, create};
use plantune_tui::runlog::EventWriter;
use plantune_tui::train::dataset::Message;
use plantune_tui::train::precision::Precision;
use plantune_tui::train::sft::{Ending, SftConfig, SftJob};
use plantune_tui::train::student::Student;

fn examples() -> Vec<Vec<Message>> {
    (0..8)
        .map(|i| {
            vec![
                Message {
                    role: "user".into(),
                    content: format!("What is {i} plus {i}?"),
                },
                Message {
                    role: "assistant".into(),
                    content: format!("It is {}.", 2 * i),
                },
            ]
        })
        .collect()
}

fn overfit(lora: Option<LoraConfig>, lr: f64, epochs: u64) -> (f64, f64) {
    let dir = tempfile::tempdir().unwrap();
    let model_dir = dir.path().join("tiny");
    let corpus: Vec<String> = examples()
        .iter()
        .flat_map(|m| m.iter().map(|x| x.content.clone()))
        .collect();
    let cfg = TinyConfig {
        vocab_size: 300,
        hidden_size: 64,
        intermediate_size: 128,
        num_hidden_layers: 2,
        num_attention_heads: 4,
        num_key_value_heads: 2,
        max_position_embeddings: 128,
        seed: 1,
    };
    create(&model_dir, corpus.into_iter(), &cfg).unwrap();
    if lora.is_some() {
        // With the tied head frozen, LoRA can only separate tokens as far as the
        // embeddings' scale allows; at init (std 0.02) that is too little to overfit,
        // so give them the scale a trained model's embeddings have (std ~0.3).
        let path = model_dir.join("model.safetensors");
        let mut weights = candle_core::safetensors::load(&path, &candle_core::Device::Cpu).unwrap();
        let embed = weights["model.embed_tokens.weight"]
            .affine(15.0, 0.0)
            .unwrap();
        weights.insert("model.embed_tokens.weight".into(), embed);
        candle_core::safetensors::save(&weights, &path).unwrap();
    }
    let student = Student::load(&model_dir, lora, 0, Precision::F32).unwrap();
    let base_before: Vec<f32> = student
        .model
        .named_weights()
        .unwrap()
        .iter()
        .flat_map(|(_, t)| t.flatten_all().unwrap().to_vec1::<f32>().unwrap())
        .collect();
    let data: Vec<_> = examples()
        .iter()
        .map(|m| student.encode_example(m).unwrap())
        .collect();
    let config = SftConfig {
        lr,
        warmup_ratio: 0.0,
        epochs,
        batch_size: 8,
        grad_accum: 1,
        checkpoint_every: 0,
        ..Default::default()
    };
    let mut events = EventWriter::open(&dir.path().join("events.jsonl")).unwrap();
    let job = SftJob {
        model: &student,
        train: &data,
        eval: &data[..2],
        config: &config,
        pad_id: student.pad_id(),
        checkpoints: dir.path().join("checkpoints"),
        dataset_hash: None,
        stop: StopFlag::manual(),
        pause_at: None,
    };
    let first = {
        let batch = plantune_tui::train::batch::collate(
            &data.iter().collect::<Vec<_>>(),
            student.pad_id(),
            &candle_core::Device::Cpu,
        )
        .unwrap();
        let logits = plantune_tui::train::trainable::Trainable::logits(
            &student,
            &batch.input_ids,
            &batch.attention_mask,
        )
        .unwrap();
        plantune_tui::train::loss::shifted_cross_entropy(&logits, &batch.labels)
            .unwrap()
            .0
            .to_scalar::<f32>()
            .unwrap() as f64
    };
    let outcome = job.run(&mut events, None).unwrap();
    assert_eq!(outcome.ending, Ending::Completed);
    if job
        .model
        .trainable_params()
        .iter()
        .all(|p| p.name.contains("lora"))
    {
        let base_after: Vec<f32> = student
            .model
            .named_weights()
            .unwrap()
            .iter()
            .flat_map(|(_, t)| t.flatten_all().unwrap().to_vec1::<f32>().unwrap())
            .collect();
        assert!(
            base_before
                .iter()
                .zip(&base_after)
                .all(|(a, b)| a.to_bits() == b.to_bits()),
            "LoRA training changed a base weight"
        );
    }
    (first, outcome.last_loss)
}

use plantune_tui::train::trainable::Trainable as _;

#[test]
fn full_fine_tuning_overfits_eight_examples() {
    let (first, last) = overfit(None, 3e-3, 150);
    eprintln!("full: loss {first:.3} -> {last:.4}");
    assert!(last < 0.05, "loss {first} -> {last}: not overfitting");
}

#[test]
fn lora_overfits_eight_examples_and_leaves_the_base_alone() {
    let lora = LoraConfig::new(
        16,
        32.0,
        0.0,
        &[
            "q_proj",
            "k_proj",
            "v_proj",
            "o_proj",
            "gate_proj",
            "up_proj",
            "down_proj",
        ],
    );
    let (first, last) = overfit(Some(lora), 5e-3, 600);
    eprintln!("lora: loss {first:.3} -> {last:.4}");
    assert!(last < 0.05, "loss {first} -> {last}: not overfitting");
}
