//! The model core on the real SmolLM2-135M-Instruct (imported from its GGUF): parity of
//! our trainable decoder with candle-transformers, coherent greedy answers, batched
//! generation equal to one-by-one generation.

#![allow(clippy::unwrap_used)]

use crate::common;
use candle_core::{DType, Device, Tensor};
use plantune_tui::infer::{SamplingParams, generate};
use plantune_tui::model::chat::{ChatMessage, ChatTemplate};
use plantune_tui::model::checkpoint::load_model;
use plantune_tui::model::tokenizer::ModelTokenizer;

fn prompt_ids(dir: &std::path::Path, tokenizer: &ModelTokenizer, question: &str) -> Vec<u32> {
    let template = ChatTemplate::from_model_dir(dir).unwrap();
    let text = template
        .render(&[ChatMessage::user(question)], true)
        .unwrap();
    tokenizer.encode(&text, false).unwrap()
}

#[test]
fn our_decoder_matches_candle_transformers_and_generates_coherently_in_batches() {
    let (dir, _) = common::smollm2::imported("core");
    let tokenizer = ModelTokenizer::from_dir(dir).unwrap();
    let (model, _) = load_model(dir, DType::F32, &Device::Cpu).unwrap();

    // Parity of the whole-prompt logits with the reference implementation.
    let ids = prompt_ids(dir, &tokenizer, "What is the capital of France?");
    let reference = common::smollm2::load_hf_llama(dir);
    let (expected, _) = reference.greedy(&ids, 1);
    let input = Tensor::new(ids.as_slice(), &Device::Cpu)
        .unwrap()
        .unsqueeze(0)
        .unwrap();
    let logits = model.forward(&input, None, None).unwrap();
    let last: Vec<f32> = logits
        .squeeze(0)
        .unwrap()
        .get(ids.len() - 1)
        .unwrap()
        .to_vec1()
        .unwrap();
    let max_diff = last
        .iter()
        .zip(&expected)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    eprintln!("SmolLM2 last-position logits, max |ours - candle-transformers| = {max_diff:e}");
    assert!(max_diff < 1e-4, "logits differ by {max_diff}");

    // Greedy answers are coherent, and a batch equals the same prompts one by one.
    let questions = [
        "What is the capital of France?",
        "Name a primary colour.",
        "Say hello in Spanish.",
    ];
    let prompts: Vec<Vec<u32>> = questions
        .iter()
        .map(|q| prompt_ids(dir, &tokenizer, q))
        .collect();
    let params = SamplingParams {
        max_new_tokens: 24,
        ..Default::default()
    };
    let eos: Vec<u32> = tokenizer.eos_id().into_iter().collect();
    let pad = tokenizer.pad_id().unwrap();
    let decode = |t: &[u32]| tokenizer.decode(t, true).unwrap();
    let batched = generate(&model, &prompts, &params, &eos, pad, &decode).unwrap();
    assert!(batched[0].text.contains("Paris"), "{:?}", batched[0].text);
    for (i, prompt) in prompts.iter().enumerate() {
        let alone = generate(
            &model,
            std::slice::from_ref(prompt),
            &params,
            &eos,
            pad,
            &decode,
        )
        .unwrap();
        assert_eq!(
            alone[0].tokens, batched[i].tokens,
            "prompt {i}: batch differs from alone"
        );
    }
    // And our greedy tokens equal the reference's greedy tokens.
    let (_, reference_tokens) = reference.greedy(&prompts[0], batched[0].tokens.len().min(10));
    assert_eq!(
        &batched[0].tokens[..reference_tokens.len()],
        reference_tokens.as_slice()
    );
}

/// `plantune-tui generate` prints the reply while it is generated: the first piece
/// reaches the pipe while the process is still running, and the whole reply answers.
#[test]
fn generate_command_streams_the_reply() {
    use std::io::Read;
    use std::process::{Command, Stdio};

    let (dir, _) = common::smollm2::imported("core");
    let mut child = Command::new(env!("CARGO_BIN_EXE_plantune-tui"))
        .args([
            "--threads",
            "1",
            "generate",
            "--max-new-tokens",
            "40",
            "--model",
        ])
        .arg(dir)
        .arg("What is the capital of France?")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0u8; 1];
    stdout.read_exact(&mut first).unwrap();
    assert!(
        child.try_wait().unwrap().is_none(),
        "the first byte came only when the process ended: output is not streamed"
    );
    let mut rest = Vec::new();
    stdout.read_to_end(&mut rest).unwrap();
    let status = child.wait().unwrap();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(status.success(), "{err}");
    let mut text = first.to_vec();
    text.extend(rest);
    let text = String::from_utf8(text).unwrap();
    println!("{text}\n{err}");
    assert!(text.contains("Paris"), "{text:?}");
    assert!(
        !text.contains('\x1b'),
        "no escape sequences reach the terminal"
    );
    assert!(err.contains("tokens, finished by"), "{err}");
}
