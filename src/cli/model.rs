//! `plantune-tui model import`: a GGUF file as a Hugging Face model directory.

use std::path::PathBuf;

use anyhow::Result;
use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum ModelCommand {
    /// Dequantise a GGUF file into a Hugging Face model directory (safetensors,
    /// config.json, tokenizer.json from the GGUF's own vocabulary, chat template).
    Import {
        file: PathBuf,
        #[arg(long)]
        out: PathBuf,
    },
}

pub fn run(what: ModelCommand) -> Result<()> {
    match what {
        ModelCommand::Import { file, out } => {
            let summary = crate::model::gguf::import_gguf(&file, &out, candle_core::DType::F32)?;
            say!(
                "imported {} ({}, {} tensors, {} parameters) to {}",
                file.display(),
                summary.architecture,
                summary.tensors,
                summary.parameters,
                summary.out_dir.display()
            );
            Ok(())
        }
    }
}
