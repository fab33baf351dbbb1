//! `plantune-tui generate`: one prompt through a model's own chat template.

use std::path::Path;

use anyhow::{Context, Result};
use candle_core::{DType, Device};

use crate::infer::{SamplingParams, generate};
use crate::model::chat::{ChatMessage, ChatTemplate};
use crate::model::checkpoint::load_model;
use crate::model::tokenizer::ModelTokenizer;
use crate::tui::sanitize;

pub fn run(
    dir: &Path,
    prompt: &str,
    max_new_tokens: usize,
    temperature: f32,
    seed: u64,
) -> Result<()> {
    let (model, _) = load_model(dir, DType::F32, &Device::Cpu)
        .with_context(|| format!("loading {}", dir.display()))?;
    let tokenizer = ModelTokenizer::from_dir(dir)?;
    let template = ChatTemplate::from_model_dir(dir)?;
    let text = template.render(&[ChatMessage::user(prompt)], true)?;
    let ids = tokenizer.encode(&text, false)?;
    let params = SamplingParams {
        temperature,
        max_new_tokens,
        seed,
        ..Default::default()
    };
    let eos: Vec<u32> = tokenizer.eos_id().into_iter().collect();
    let pad = tokenizer.pad_id().or(tokenizer.eos_id()).unwrap_or(0);
    let decode = |t: &[u32]| tokenizer.decode(t, true).unwrap_or_default();
    let out = generate(&model, &[ids], &params, &eos, pad, &decode)?;
    for g in out {
        // Model output is untrusted: no escape sequence reaches the terminal.
        println!("{}", sanitize(&g.text));
        eprintln!("({} tokens, finished by {:?})", g.tokens.len(), g.finish);
    }
    Ok(())
}
