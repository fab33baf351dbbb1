//! `model export --gguf`: a Hugging Face model directory (optionally with a LoRA
//! adapter, merged in) written as one GGUF file that llama.cpp and Ollama load.
//! Names, layouts and metadata come from `export_names`, `export_meta` and
//! `export_vocab`; this file loads, converts and writes atomically.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use candle_core::quantized::gguf_file::{self, Value};
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{DType, Device, Tensor};

use super::export_meta::{arch_name, model_metadata, unsupported_reason};
use super::export_names::{gguf_tensor_name, to_gguf_layout};
use super::export_vocab::{VocabError, tokenizer_metadata};
use crate::model::checkpoint::{CONFIG_FILE, load_model, load_tensors};
use crate::model::config::Config;

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Model { path: PathBuf, message: String },
    #[error("tokenizer: {0}")]
    Vocab(#[from] VocabError),
    #[error("{path}: tensor `{name}` has no GGUF equivalent for {arch}")]
    UnknownTensor {
        path: PathBuf,
        name: String,
        arch: &'static str,
    },
    #[error("tensor `{name}`: {source}")]
    Tensor {
        name: String,
        source: Box<candle_core::Error>,
    },
    #[error("unknown GGUF type `{0}` (use f32, f16 or q8_0)")]
    UnknownType(String),
    #[error("writing {path}: {source}")]
    Write {
        path: PathBuf,
        source: Box<candle_core::Error>,
    },
}

/// The storage type of the exported matrices (norms and other vectors stay f32, as
/// llama.cpp's converter keeps them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportType {
    F32,
    F16,
    Q8_0,
}

impl ExportType {
    pub fn parse(text: &str) -> Result<Self, ExportError> {
        match text.to_ascii_lowercase().as_str() {
            "f32" => Ok(Self::F32),
            "f16" => Ok(Self::F16),
            "q8_0" | "q8" => Ok(Self::Q8_0),
            _ => Err(ExportError::UnknownType(text.to_string())),
        }
    }

    /// `general.file_type`: llama.cpp's `LLAMA_FTYPE_*` number.
    fn file_type(self) -> u32 {
        match self {
            Self::F32 => 0,
            Self::F16 => 1,
            Self::Q8_0 => 7,
        }
    }

    /// The type of one tensor: vectors in f32; q8_0 needs rows in blocks of 32, and
    /// a matrix whose rows are not falls back to f16 (as llama.cpp's converter does).
    fn for_tensor(self, dims: &[usize]) -> GgmlDType {
        match (self, dims) {
            (_, [_]) | (Self::F32, _) => GgmlDType::F32,
            (Self::Q8_0, [.., cols]) if cols % 32 == 0 => GgmlDType::Q8_0,
            _ => GgmlDType::F16,
        }
    }
}

/// What an export produced.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportSummary {
    pub out: PathBuf,
    pub architecture: &'static str,
    pub tensors: usize,
    pub parameters: usize,
    pub bytes: u64,
}

/// The model's weights under Hugging Face names, in f32; an adapter is merged in.
fn merged_weights(
    dir: &Path,
    adapter: Option<&Path>,
) -> Result<Vec<(String, Tensor)>, ExportError> {
    let model_err = |path: &Path| {
        let path = path.to_path_buf();
        move |e: crate::model::decoder_error::DecoderError| ExportError::Model {
            path,
            message: e.to_string(),
        }
    };
    let Some(adapter) = adapter else {
        let mut all: Vec<_> = load_tensors(dir, &Device::Cpu)
            .map_err(model_err(dir))?
            .into_iter()
            .collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        return Ok(all);
    };
    let (mut model, _) = load_model(dir, DType::F32, &Device::Cpu).map_err(model_err(dir))?;
    model.load_lora(adapter).map_err(model_err(adapter))?;
    model.merge_lora().map_err(model_err(adapter))?;
    model.named_weights().map_err(|e| ExportError::Model {
        path: adapter.to_path_buf(),
        message: e.to_string(),
    })
}

/// Exports the model directory `dir` (with `adapter` merged in, when given) to the
/// GGUF file `out`, named `name` in its metadata. The file is written beside `out`
/// and renamed into place, so a failed export leaves no partial file.
pub fn export_gguf(
    dir: &Path,
    adapter: Option<&Path>,
    out: &Path,
    ty: ExportType,
    name: &str,
) -> Result<ExportSummary, ExportError> {
    let cfg_path = dir.join(CONFIG_FILE);
    let model_err = |message: String| ExportError::Model {
        path: cfg_path.clone(),
        message,
    };
    let cfg = Config::from_file(&cfg_path).map_err(|e| model_err(e.to_string()))?;
    let family = cfg.family().map_err(|e| model_err(e.to_string()))?;
    if let Some(reason) = unsupported_reason(&cfg) {
        return Err(model_err(reason));
    }
    let arch = arch_name(family);
    let weights = merged_weights(dir, adapter)?;

    let mut tensors: Vec<(String, QTensor)> = Vec::with_capacity(weights.len());
    let mut parameters = 0usize;
    let mut rows = cfg.vocab_size;
    for (hf_name, tensor) in weights {
        if hf_name == "lm_head.weight" && cfg.tied_embeddings() {
            continue;
        }
        let gguf_name =
            gguf_tensor_name(family, &hf_name).ok_or_else(|| ExportError::UnknownTensor {
                path: dir.to_path_buf(),
                name: hf_name.clone(),
                arch,
            })?;
        let tensor_err = |source| ExportError::Tensor {
            name: hf_name.clone(),
            source: Box::new(source),
        };
        if gguf_name == "token_embd.weight" {
            rows = tensor.dim(0).map_err(tensor_err)?;
        }
        let t = tensor.to_dtype(DType::F32).map_err(tensor_err)?;
        let t = to_gguf_layout(
            family,
            cfg.num_attention_heads,
            cfg.num_kv_heads(),
            &gguf_name,
            t,
        )
        .map_err(tensor_err)?;
        parameters += t.elem_count();
        let q = QTensor::quantize(&t, ty.for_tensor(t.dims())).map_err(tensor_err)?;
        tensors.push((gguf_name, q));
    }

    let mut metadata = model_metadata(&cfg, family, name, ty.file_type(), rows);
    metadata.extend(tokenizer_metadata(dir, rows)?);
    let bytes = write_atomically(out, &metadata, &tensors)?;
    Ok(ExportSummary {
        out: out.to_path_buf(),
        architecture: arch,
        tensors: tensors.len(),
        parameters,
        bytes,
    })
}

fn write_atomically(
    out: &Path,
    metadata: &[(String, Value)],
    tensors: &[(String, QTensor)],
) -> Result<u64, ExportError> {
    let io_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ExportError::Io { path, source }
    };
    if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(io_err(parent))?;
    }
    let leaf = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "model.gguf".into());
    let tmp = out.with_file_name(format!(".{leaf}.tmp-{}", std::process::id()));
    let result = (|| {
        let file = File::create(&tmp).map_err(io_err(&tmp))?;
        let mut w = BufWriter::with_capacity(1 << 20, file);
        let md: Vec<(&str, &Value)> = metadata.iter().map(|(k, v)| (k.as_str(), v)).collect();
        let ts: Vec<(&str, &QTensor)> = tensors.iter().map(|(k, t)| (k.as_str(), t)).collect();
        gguf_file::write(&mut w, &md, &ts).map_err(|source| ExportError::Write {
            path: out.to_path_buf(),
            source: Box::new(source),
        })?;
        w.flush().map_err(io_err(&tmp))?;
        let file = w.into_inner().map_err(|e| io_err(&tmp)(e.into_error()))?;
        file.sync_all().map_err(io_err(&tmp))?;
        std::fs::rename(&tmp, out).map_err(io_err(out))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result?;
    Ok(std::fs::metadata(out).map_err(io_err(out))?.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_parse_and_pick_per_tensor() {
        assert_eq!(ExportType::parse("F16").expect("f16"), ExportType::F16);
        assert_eq!(ExportType::parse("q8_0").expect("q8"), ExportType::Q8_0);
        let err = ExportType::parse("q4_k").expect_err("q4_k");
        assert!(err.to_string().contains("`q4_k`"), "{err}");
        assert_eq!(ExportType::Q8_0.for_tensor(&[64]), GgmlDType::F32);
        assert_eq!(ExportType::Q8_0.for_tensor(&[64, 64]), GgmlDType::Q8_0);
        assert_eq!(ExportType::Q8_0.for_tensor(&[64, 48]), GgmlDType::F16);
        assert_eq!(ExportType::F16.for_tensor(&[64, 64]), GgmlDType::F16);
        assert_eq!(ExportType::F32.for_tensor(&[64, 64]), GgmlDType::F32);
    }
}
