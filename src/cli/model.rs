//! `plantune-tui model import`: a GGUF file as a Hugging Face model directory;
//! `plantune-tui model export`: a model, run or adapter as one GGUF file.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Result;
use clap::Subcommand;

use crate::infer::engine::resolve_model;
use crate::model::gguf::{ExportType, export_gguf};

#[derive(Debug, Subcommand)]
pub enum ModelCommand {
    /// Dequantise a GGUF file into a Hugging Face model directory (safetensors,
    /// config.json, tokenizer.json from the GGUF's own vocabulary, chat template).
    Import {
        file: PathBuf,
        #[arg(long)]
        out: PathBuf,
    },
    /// Write a model as one GGUF file for llama.cpp / Ollama: MODEL is a model
    /// directory, a name under the workspace's models/, a run (its final/ model; a LoRA
    /// run's adapter is merged into its base) or an adapter folder.
    Export {
        model: PathBuf,
        /// The GGUF file to write.
        #[arg(long)]
        gguf: PathBuf,
        /// Storage type of the matrices: f32, f16 or q8_0 (vectors stay f32).
        #[arg(long = "type", default_value = "f16")]
        ty: String,
    },
}

pub fn run(what: ModelCommand, workspace_dir: &Path) -> Result<()> {
    match what {
        ModelCommand::Import { file, out } => {
            let progress = crate::progress::Progress::new("model import", "files", Some(1));
            progress.stage(&format!("converting {}", file.display()));
            let summary = crate::model::gguf::import_gguf(&file, &out, candle_core::DType::F32);
            progress.set_done(u64::from(summary.is_ok()));
            progress.end(summary.is_ok());
            let summary = summary?;
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
        ModelCommand::Export { model, gguf, ty } => {
            let ty = ExportType::parse(&ty)?;
            let workspace = workspace_dir
                .join("plantune.toml")
                .is_file()
                .then_some(workspace_dir);
            let source = resolve_model(&model, workspace)?;
            let started = Instant::now();
            let summary = export_gguf(
                &source.base,
                source.adapter.as_deref(),
                &gguf,
                ty,
                &source.name,
            )?;
            say!(
                "exported {} ({}, {} tensors, {} parameters{}) to {} ({} bytes) in {:.1} s",
                crate::text::sanitize(&source.name),
                summary.architecture,
                summary.tensors,
                summary.parameters,
                if source.adapter.is_some() {
                    ", adapter merged"
                } else {
                    ""
                },
                summary.out.display(),
                summary.bytes,
                started.elapsed().as_secs_f64()
            );
            Ok(())
        }
    }
}
