//! `plantune-tui generate`: one prompt through a model's own chat template, printed
//! while it is generated.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use candle_core::DType;

use super::{Globals, configure_threads};
use crate::infer::{SamplingParams, generate_streaming, reply_end_ids};
use crate::model::chat::{ChatMessage, ChatTemplate};
use crate::model::tokenizer::ModelTokenizer;
use crate::text::sanitize;

#[derive(Debug, clap::Args)]
pub struct GenerateArgs {
    /// Model directory (Hugging Face layout).
    #[arg(long)]
    model: PathBuf,
    #[arg(long, default_value_t = 128)]
    max_new_tokens: usize,
    /// 0 = greedy.
    #[arg(long, default_value_t = 0.0)]
    temperature: f32,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    prompt: String,
}

pub fn run(args: GenerateArgs, globals: &Globals) -> Result<()> {
    configure_threads(globals.threads.unwrap_or(0))?;
    generate(
        &args.model,
        &args.prompt,
        args.max_new_tokens,
        args.temperature,
        args.seed,
    )
}

fn generate(
    dir: &Path,
    prompt: &str,
    max_new_tokens: usize,
    temperature: f32,
    seed: u64,
) -> Result<()> {
    let (model, _) = crate::device::load_model(dir, DType::F32)
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
    let eos = reply_end_ids(dir, &tokenizer, &template);
    let pad = tokenizer.pad_id().or(eos.first().copied()).unwrap_or(0);
    let decode = |t: &[u32]| tokenizer.decode(t, true).unwrap_or_default();
    let mut stream = tokenizer.stream(true);
    let mut stdout = std::io::stdout().lock();
    let mut write_err = None;
    let mut show = |piece: Option<String>, out: &mut std::io::StdoutLock| {
        // Model output is untrusted: no escape sequence reaches the terminal.
        if let Some(piece) = piece
            && let Err(e) = out
                .write_all(sanitize(&piece).as_bytes())
                .and_then(|()| out.flush())
        {
            write_err.get_or_insert(e);
        }
    };
    let out = generate_streaming(
        &model,
        &[ids],
        &params,
        &eos,
        pad,
        &decode,
        &mut |_, token| show(stream.push(token).ok().flatten(), &mut stdout),
    )?;
    show(stream.finish().ok().flatten(), &mut stdout);
    if let Some(e) = write_err {
        return Err(e).context("writing to stdout");
    }
    writeln!(stdout)?;
    for g in out {
        warn!("({} tokens, finished by {:?})", g.tokens.len(), g.finish);
    }
    Ok(())
}
