//! Errors of the decoder, its loading/saving and LoRA adapters.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum DecoderError {
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: line {line}, column {column}: {message}")]
    Json {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("config: {0}")]
    Config(String),
    #[error("{dir}: no model.safetensors or model.safetensors.index.json")]
    MissingWeights { dir: PathBuf },
    #[error("unsupported model_type `{0}` (supported: llama, qwen2, qwen3, gemma3_text)")]
    UnsupportedModelType(String),
    #[error("lora: {0}")]
    Lora(String),
    #[error("input: {0}")]
    Input(String),
}

pub type Result<T> = std::result::Result<T, DecoderError>;

impl DecoderError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn json(path: impl Into<PathBuf>, err: &serde_json::Error) -> Self {
        Self::Json {
            path: path.into(),
            line: err.line(),
            column: err.column(),
            message: err.to_string(),
        }
    }
}
