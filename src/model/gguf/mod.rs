//! Importing a GGUF checkpoint as a Hugging Face model directory: dequantized
//! weights under Hugging Face names, `config.json`, tokenizer and chat template;
//! and the way back, exporting a model directory as GGUF (`export*.rs`).

mod arch;
mod export;
mod export_meta;
mod export_names;
mod export_vocab;

pub use export::{ExportError, ExportSummary, ExportType, export_gguf};

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, Write};
use std::path::{Path, PathBuf};

use candle_core::quantized::gguf_file::{Content, Value};
use candle_core::{DType, Device, Tensor};
use serde_json::{Value as Json, json};

use self::arch::{
    Arch, HyperParams, end_of_turn_ids, fallback_chat_template, hf_tensor_name_for, hyper_params,
    model_config, to_hf_layout, tokenizer_class,
};
use crate::model::tokenizer::{GgufTokenizer, TokenizerError, tokenizer_from_gguf, value_as_i64};

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not a readable GGUF file: {source}")]
    Gguf {
        path: PathBuf,
        source: Box<candle_core::Error>,
    },
    #[error("{path}: metadata key `{key}` is missing")]
    MissingMetadata { path: PathBuf, key: String },
    #[error("{path}: metadata key `{key}` has the wrong type: expected {expected}")]
    BadMetadata {
        path: PathBuf,
        key: String,
        expected: &'static str,
    },
    #[error("{path}: architecture `{arch}` is not supported (supported: {supported})", supported = Arch::SUPPORTED)]
    UnsupportedArchitecture { path: PathBuf, arch: String },
    #[error("{path}: tensor `{name}` is missing")]
    MissingTensor { path: PathBuf, name: String },
    #[error("{path}: tensor `{name}` has no Hugging Face equivalent")]
    UnknownTensor { path: PathBuf, name: String },
    #[error("{path}: tensor `{name}`: {source}")]
    Tensor {
        path: PathBuf,
        name: String,
        source: Box<candle_core::Error>,
    },
    #[error("{path}: tokenizer: {source}")]
    Tokenizer {
        path: PathBuf,
        source: Box<TokenizerError>,
    },
    #[error("unsupported output dtype {0:?} (use f32, bf16 or f16)")]
    UnsupportedDtype(DType),
    #[error("unknown dtype `{0}` (use f32, bf16 or f16)")]
    UnknownDtype(String),
    #[error("{path} already exists and is not empty; choose another --out or remove it")]
    OutputExists { path: PathBuf },
    #[error("writing {path}: {source}")]
    Write {
        path: PathBuf,
        source: Box<candle_core::Error>,
    },
}

/// What an import produced.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportSummary {
    pub out_dir: PathBuf,
    pub architecture: String,
    pub tensors: usize,
    pub parameters: usize,
    pub vocab_size: usize,
    pub num_hidden_layers: usize,
    pub tied_embeddings: bool,
    pub dtype: DType,
}

pub(crate) struct Metadata<'a> {
    path: &'a Path,
    md: &'a HashMap<String, Value>,
}

impl Metadata<'_> {
    pub(crate) fn value(&self, key: &str) -> Result<&Value, ImportError> {
        self.md
            .get(key)
            .ok_or_else(|| ImportError::MissingMetadata {
                path: self.path.to_path_buf(),
                key: key.to_string(),
            })
    }

    pub(crate) fn usize(&self, key: &str) -> Result<usize, ImportError> {
        value_as_i64(self.value(key)?)
            .and_then(|x| usize::try_from(x).ok())
            .ok_or_else(|| ImportError::BadMetadata {
                path: self.path.to_path_buf(),
                key: key.to_string(),
                expected: "a non-negative integer",
            })
    }

    pub(crate) fn float(&self, key: &str) -> Result<f64, ImportError> {
        match self.value(key)? {
            Value::F32(x) => Ok(f64::from(*x)),
            Value::F64(x) => Ok(*x),
            _ => Err(ImportError::BadMetadata {
                path: self.path.to_path_buf(),
                key: key.to_string(),
                expected: "a float",
            }),
        }
    }

    pub(crate) fn string(&self, key: &str) -> Result<&str, ImportError> {
        match self.value(key)? {
            Value::String(s) => Ok(s),
            _ => Err(ImportError::BadMetadata {
                path: self.path.to_path_buf(),
                key: key.to_string(),
                expected: "a string",
            }),
        }
    }

    pub(crate) fn has(&self, key: &str) -> bool {
        self.md.contains_key(key)
    }
}

/// The Hugging Face name of a GGUF llama tensor, `None` when it has none.
pub fn hf_tensor_name(gguf_name: &str) -> Option<String> {
    hf_tensor_name_for(Arch::Llama, gguf_name)
}

/// Undoes llama.cpp's permutation of `attn_q` / `attn_k` rows.
///
/// GGUF stores each head's rows interleaved (pairs `2i, 2i+1` rotate together,
/// for the interleaved rope); Hugging Face stores the two rotating halves of a
/// head one after the other. Row `h*d + 2i + j` of GGUF is row `h*d + j*d/2 + i`
/// of Hugging Face.
pub fn unpermute_rope_rows(weight: &Tensor, n_heads: usize) -> candle_core::Result<Tensor> {
    let (rows, cols) = weight.dims2()?;
    let head_dim = rows / n_heads;
    weight
        .reshape((n_heads, head_dim / 2, 2, cols))?
        .transpose(1, 2)?
        .contiguous()?
        .reshape((rows, cols))
}

/// The inverse of [`unpermute_rope_rows`] (Hugging Face → GGUF layout).
pub fn permute_rope_rows(weight: &Tensor, n_heads: usize) -> candle_core::Result<Tensor> {
    let (rows, cols) = weight.dims2()?;
    let head_dim = rows / n_heads;
    weight
        .reshape((n_heads, 2, head_dim / 2, cols))?
        .transpose(1, 2)?
        .contiguous()?
        .reshape((rows, cols))
}

/// Parses the `--dtype` of `model import`: `f32`, `bf16` or `f16` (Hugging Face
/// spellings `float32`, `bfloat16`, `float16` too).
pub fn parse_import_dtype(text: &str) -> Result<DType, ImportError> {
    match text.to_ascii_lowercase().as_str() {
        "f32" | "float32" => Ok(DType::F32),
        "bf16" | "bfloat16" => Ok(DType::BF16),
        "f16" | "float16" => Ok(DType::F16),
        _ => Err(ImportError::UnknownDtype(text.to_string())),
    }
}

/// Removes the staging directory unless the import reached its final rename.
struct Staging {
    dir: PathBuf,
    keep: bool,
}

impl Staging {
    /// A fresh staging folder next to `out_dir` (in its parent, which is created), and
    /// that parent.
    fn beside(out_dir: &Path) -> Result<(PathBuf, Self), ImportError> {
        let parent = match out_dir.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        std::fs::create_dir_all(&parent).map_err(io_err(&parent))?;
        let leaf = out_dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "model".into());
        let staging = Self {
            dir: parent.join(format!(".{leaf}.import-{}", std::process::id())),
            keep: false,
        };
        if staging.dir.exists() {
            std::fs::remove_dir_all(&staging.dir).map_err(io_err(&staging.dir))?;
        }
        std::fs::create_dir_all(&staging.dir).map_err(io_err(&staging.dir))?;
        Ok((parent, staging))
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.keep {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> ImportError + '_ {
    move |source| ImportError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn write_json(path: &Path, value: &Json) -> Result<(), ImportError> {
    let text = serde_json::to_string_pretty(value).map_err(|e| ImportError::Io {
        path: path.to_path_buf(),
        source: std::io::Error::other(e),
    })?;
    let mut f = File::create(path).map_err(io_err(path))?;
    f.write_all(text.as_bytes()).map_err(io_err(path))?;
    f.write_all(b"\n").map_err(io_err(path))?;
    f.sync_all().map_err(io_err(path))
}

fn sync_file(path: &Path) -> Result<(), ImportError> {
    File::open(path)
        .and_then(|f| f.sync_all())
        .map_err(io_err(path))
}

/// Imports a GGUF checkpoint (llama architecture) into `out_dir` as a Hugging
/// Face model directory: `model.safetensors` (dequantized to `dtype`),
/// `config.json`, `generation_config.json`, `tokenizer.json`,
/// `tokenizer_config.json`. Everything is staged next to `out_dir` and renamed
/// into place at the end, so a failed import leaves nothing behind.
pub fn import_gguf(
    gguf: &Path,
    out_dir: &Path,
    dtype: DType,
) -> Result<ImportSummary, ImportError> {
    if !matches!(dtype, DType::F32 | DType::BF16 | DType::F16) {
        return Err(ImportError::UnsupportedDtype(dtype));
    }
    if out_dir.exists() {
        let mut entries = std::fs::read_dir(out_dir).map_err(io_err(out_dir))?;
        if entries.next().is_some() {
            return Err(ImportError::OutputExists {
                path: out_dir.to_path_buf(),
            });
        }
    }

    let file = File::open(gguf).map_err(io_err(gguf))?;
    let mut reader = BufReader::new(file);
    let content = Content::read(&mut reader).map_err(|source| ImportError::Gguf {
        path: gguf.to_path_buf(),
        source: Box::new(source),
    })?;
    let meta = Metadata {
        path: gguf,
        md: &content.metadata,
    };
    let arch = meta.string("general.architecture")?.to_string();
    let Some(family) = Arch::from_name(&arch) else {
        return Err(ImportError::UnsupportedArchitecture {
            path: gguf.to_path_buf(),
            arch,
        });
    };
    let hp = hyper_params(family, &meta)?;
    let tok = tokenizer_from_gguf(&content.metadata).map_err(|source| ImportError::Tokenizer {
        path: gguf.to_path_buf(),
        source: Box::new(source),
    })?;
    let chat_template = match content.metadata.get("tokenizer.chat_template") {
        Some(Value::String(s)) => Some(s.clone()),
        _ => fallback_chat_template(family).map(str::to_string),
    };

    for required in ["token_embd.weight", "output_norm.weight"] {
        if !content.tensor_infos.contains_key(required) {
            return Err(ImportError::MissingTensor {
                path: gguf.to_path_buf(),
                name: required.into(),
            });
        }
    }
    let tied = !content.tensor_infos.contains_key("output.weight");

    let (tensors, parameters) = dequantize_all(gguf, &content, &mut reader, family, &hp, dtype)?;
    let vocab_size = tensors
        .get("model.embed_tokens.weight")
        .map(|t| t.dims()[0])
        .unwrap_or(tok.tokens.len());

    let (parent, mut staging) = Staging::beside(out_dir)?;

    let weights_path = staging.dir.join("model.safetensors");
    candle_core::safetensors::save(&tensors, &weights_path).map_err(|source| {
        ImportError::Write {
            path: weights_path.clone(),
            source: Box::new(source),
        }
    })?;
    sync_file(&weights_path)?;
    drop(tensors);

    write_json(
        &staging.dir.join("config.json"),
        &model_config(&hp, &tok, vocab_size, tied, dtype),
    )?;
    write_json(
        &staging.dir.join("generation_config.json"),
        &generation_config(&tok, &end_of_turn_ids(family, &tok)),
    )?;
    write_json(
        &staging.dir.join("tokenizer_config.json"),
        &tokenizer_config(
            &tok,
            tokenizer_class(family),
            chat_template.as_deref(),
            hp.max_position_embeddings,
        ),
    )?;
    write_tokenizer(gguf, &tok, &staging.dir.join("tokenizer.json"))?;

    if out_dir.exists() {
        // Checked empty above; rename cannot replace a directory on every platform.
        std::fs::remove_dir(out_dir).map_err(io_err(out_dir))?;
    }
    std::fs::rename(&staging.dir, out_dir).map_err(io_err(out_dir))?;
    staging.keep = true;
    if let Ok(d) = File::open(&parent) {
        let _ = d.sync_all();
    }

    Ok(ImportSummary {
        out_dir: out_dir.to_path_buf(),
        architecture: arch,
        tensors: content.tensor_infos.len(),
        parameters,
        vocab_size,
        num_hidden_layers: hp.num_hidden_layers,
        tied_embeddings: tied,
        dtype,
    })
}

/// Every tensor of the file, dequantized to `dtype` under its Hugging Face name and
/// layout, with the number of parameters.
fn dequantize_all<R: std::io::Read + std::io::Seek>(
    gguf: &Path,
    content: &Content,
    reader: &mut R,
    family: Arch,
    hp: &HyperParams,
    dtype: DType,
) -> Result<(HashMap<String, Tensor>, usize), ImportError> {
    let mut names: Vec<&String> = content.tensor_infos.keys().collect();
    names.sort();
    let mut tensors: HashMap<String, Tensor> = HashMap::with_capacity(names.len());
    let mut parameters = 0usize;
    let device = Device::Cpu;
    for name in names {
        let hf_name =
            hf_tensor_name_for(family, name).ok_or_else(|| ImportError::UnknownTensor {
                path: gguf.to_path_buf(),
                name: name.clone(),
            })?;
        let tensor_err = |source| ImportError::Tensor {
            path: gguf.to_path_buf(),
            name: name.clone(),
            source: Box::new(source),
        };
        let q = content.tensor(reader, name, &device).map_err(tensor_err)?;
        let dequantized = q.dequantize(&device).map_err(tensor_err)?;
        let mut t = to_hf_layout(hp, name, dequantized).map_err(tensor_err)?;
        if dtype != DType::F32 {
            t = t.to_dtype(dtype).map_err(tensor_err)?;
        }
        parameters += t.elem_count();
        tensors.insert(hf_name, t);
    }
    Ok((tensors, parameters))
}

fn write_tokenizer(gguf: &Path, tok: &GgufTokenizer, path: &Path) -> Result<(), ImportError> {
    let text = tok
        .tokenizer
        .to_string(false)
        .map_err(|e| ImportError::Tokenizer {
            path: gguf.to_path_buf(),
            source: Box::new(TokenizerError::Build(e.to_string())),
        })?;
    let mut f = File::create(path).map_err(io_err(path))?;
    f.write_all(text.as_bytes()).map_err(io_err(path))?;
    f.sync_all().map_err(io_err(path))
}

fn generation_config(tok: &GgufTokenizer, end_of_turn: &[u32]) -> Json {
    let eos: Json = if end_of_turn.is_empty() {
        json!(tok.eos_id)
    } else {
        json!(
            tok.eos_id
                .into_iter()
                .chain(end_of_turn.iter().copied())
                .collect::<Vec<u32>>()
        )
    };
    json!({
        "bos_token_id": tok.bos_id,
        "eos_token_id": eos,
        "pad_token_id": tok.pad_id.or(tok.eos_id),
    })
}

fn tokenizer_config(
    tok: &GgufTokenizer,
    class: &str,
    chat_template: Option<&str>,
    max_len: usize,
) -> Json {
    let mut added = serde_json::Map::new();
    for &id in &tok.special_ids {
        let content = tok.token(Some(id)).unwrap_or_default();
        added.insert(
            id.to_string(),
            json!({
                "content": content,
                "lstrip": false,
                "normalized": false,
                "rstrip": false,
                "single_word": false,
                "special": true,
            }),
        );
    }
    let additional: Vec<&str> = tok
        .special_ids
        .iter()
        .filter(|&&id| Some(id) != tok.bos_id && Some(id) != tok.eos_id && Some(id) != tok.unk_id)
        .filter_map(|&id| tok.token(Some(id)))
        .collect();
    let mut config = json!({
        "tokenizer_class": class,
        "add_bos_token": tok.add_bos_token,
        "add_eos_token": tok.add_eos_token,
        "add_prefix_space": false,
        "clean_up_tokenization_spaces": false,
        "model_max_length": max_len,
        "added_tokens_decoder": added,
        "additional_special_tokens": additional,
        "bos_token": tok.token(tok.bos_id),
        "eos_token": tok.token(tok.eos_id),
        "pad_token": tok.token(tok.pad_id.or(tok.eos_id)),
        "unk_token": tok.token(tok.unk_id),
    });
    if let (Some(t), Some(obj)) = (chat_template, config.as_object_mut()) {
        obj.insert("chat_template".into(), Json::String(t.to_string()));
    }
    config
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_gguf_names_to_hugging_face() {
        let cases = [
            ("token_embd.weight", "model.embed_tokens.weight"),
            ("output_norm.weight", "model.norm.weight"),
            ("output.weight", "lm_head.weight"),
            (
                "blk.0.attn_q.weight",
                "model.layers.0.self_attn.q_proj.weight",
            ),
            (
                "blk.12.attn_k.weight",
                "model.layers.12.self_attn.k_proj.weight",
            ),
            (
                "blk.3.attn_v.weight",
                "model.layers.3.self_attn.v_proj.weight",
            ),
            (
                "blk.3.attn_output.weight",
                "model.layers.3.self_attn.o_proj.weight",
            ),
            (
                "blk.29.ffn_gate.weight",
                "model.layers.29.mlp.gate_proj.weight",
            ),
            ("blk.29.ffn_up.weight", "model.layers.29.mlp.up_proj.weight"),
            (
                "blk.29.ffn_down.weight",
                "model.layers.29.mlp.down_proj.weight",
            ),
            (
                "blk.1.attn_norm.weight",
                "model.layers.1.input_layernorm.weight",
            ),
            (
                "blk.1.ffn_norm.weight",
                "model.layers.1.post_attention_layernorm.weight",
            ),
        ];
        for (g, hf) in cases {
            assert_eq!(hf_tensor_name(g).as_deref(), Some(hf), "{g}");
        }
        assert_eq!(hf_tensor_name("rope_freqs.weight"), None);
        assert_eq!(hf_tensor_name("blk.x.attn_q.weight"), None);
    }

    #[test]
    fn unpermute_moves_interleaved_pairs_to_halves() {
        // Two heads of dimension 4, one column: GGUF rows per head are
        // [a0, b0, a1, b1] where (a_i, b_i) rotate together; HF wants [a0, a1, b0, b1].
        let gguf = Tensor::new(
            &[[0f32], [10.], [1.], [11.], [2.], [12.], [3.], [13.]],
            &Device::Cpu,
        )
        .expect("tensor");
        let hf = unpermute_rope_rows(&gguf, 2).expect("unpermute");
        let rows: Vec<f32> = hf.flatten_all().and_then(|t| t.to_vec1()).expect("vec");
        assert_eq!(rows, [0., 1., 10., 11., 2., 3., 12., 13.]);
        let back = permute_rope_rows(&hf, 2).expect("permute");
        let diff = (back - &gguf)
            .and_then(|d| d.abs())
            .and_then(|d| d.sum_all())
            .and_then(|d| d.to_scalar::<f32>())
            .expect("diff");
        assert_eq!(diff, 0.0);
    }

    #[test]
    fn parses_import_dtypes() {
        assert_eq!(parse_import_dtype("f32").expect("f32"), DType::F32);
        assert_eq!(parse_import_dtype("BF16").expect("bf16"), DType::BF16);
        assert_eq!(parse_import_dtype("float16").expect("f16"), DType::F16);
        let err = parse_import_dtype("q4").expect_err("q4");
        assert!(err.to_string().contains("`q4`"), "{err}");
    }

    #[test]
    fn rejects_missing_file_and_non_empty_output() {
        let dir = tempfile::tempdir().expect("tempdir");
        let missing = dir.path().join("nope.gguf");
        let err = import_gguf(&missing, &dir.path().join("out"), DType::F32).expect_err("missing");
        assert!(err.to_string().contains("nope.gguf"), "{err}");

        let not_gguf = dir.path().join("bad.gguf");
        std::fs::write(&not_gguf, b"definitely not gguf").expect("write");
        let out = dir.path().join("out");
        let err = import_gguf(&not_gguf, &out, DType::F32).expect_err("bad magic");
        assert!(err.to_string().contains("bad.gguf"), "{err}");
        assert!(!out.exists());

        std::fs::create_dir(&out).expect("mkdir");
        std::fs::write(out.join("keep.txt"), b"x").expect("write");
        let err = import_gguf(&not_gguf, &out, DType::F32).expect_err("exists");
        assert!(matches!(err, ImportError::OutputExists { .. }), "{err}");
        assert!(matches!(
            import_gguf(&not_gguf, &dir.path().join("o2"), DType::U8),
            Err(ImportError::UnsupportedDtype(DType::U8))
        ));
    }
}
