//! Tokenizers: building a Hugging Face `tokenizers::Tokenizer` from GGUF metadata,
//! loading a model directory's tokenizer, and streaming decoding.

mod spm_vocab;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::quantized::gguf_file::Value;
use serde_json::Value as Json;
use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::models::bpe::{BPE, Vocab};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::digits::Digits;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::{AddedToken, PreTokenizerWrapper, Tokenizer};

use self::spm_vocab::spm_tokenizer;

/// GGUF token type of control tokens (`<|im_start|>` and friends).
const TOKEN_TYPE_CONTROL: i64 = 3;
/// GGUF token type of user-defined added tokens.
const TOKEN_TYPE_USER_DEFINED: i64 = 4;

#[derive(Debug, thiserror::Error)]
pub enum TokenizerError {
    #[error("GGUF metadata key `{key}` is missing (needed to build the tokenizer)")]
    MissingKey { key: String },
    #[error("GGUF metadata key `{key}` has the wrong type: expected {expected}")]
    BadKey { key: String, expected: &'static str },
    #[error("GGUF merge #{index} `{merge}` is not two tokens separated by a space")]
    BadMerge { index: usize, merge: String },
    #[error(
        "unsupported GGUF tokenizer: tokenizer.ggml.model = `{model}`, pre = `{pre}` \
         (supported: byte-level BPE `gpt2` with pre-tokenizers smollm, gpt2, starcoder, refact, default; SentencePiece `llama` with pre default)"
    )]
    Unsupported { model: String, pre: String },
    #[error("building the tokenizer: {0}")]
    Build(String),
    #[error("reading {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("parsing {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("tokenizer: {0}")]
    Run(String),
}

/// A tokenizer rebuilt from GGUF metadata, with the special tokens the model
/// config files need.
#[derive(Debug, Clone)]
pub struct GgufTokenizer {
    pub tokenizer: Tokenizer,
    /// Every token of the vocabulary, by id.
    pub tokens: Vec<String>,
    /// Ids of the tokens registered as special (GGUF control tokens).
    pub special_ids: Vec<u32>,
    pub bos_id: Option<u32>,
    pub eos_id: Option<u32>,
    pub pad_id: Option<u32>,
    pub unk_id: Option<u32>,
    pub add_bos_token: bool,
    pub add_eos_token: bool,
}

impl GgufTokenizer {
    pub fn token(&self, id: Option<u32>) -> Option<&str> {
        id.and_then(|id| self.tokens.get(id as usize))
            .map(String::as_str)
    }
}

fn get<'a>(md: &'a HashMap<String, Value>, key: &str) -> Result<&'a Value, TokenizerError> {
    md.get(key).ok_or_else(|| TokenizerError::MissingKey {
        key: key.to_string(),
    })
}

fn string_array(md: &HashMap<String, Value>, key: &str) -> Result<Vec<String>, TokenizerError> {
    let bad = || TokenizerError::BadKey {
        key: key.to_string(),
        expected: "an array of strings",
    };
    let Value::Array(items) = get(md, key)? else {
        return Err(bad());
    };
    items
        .iter()
        .map(|v| match v {
            Value::String(s) => Ok(s.clone()),
            _ => Err(bad()),
        })
        .collect()
}

/// Reads any GGUF integer as i64: writers differ in the width they choose.
pub(crate) fn value_as_i64(v: &Value) -> Option<i64> {
    match v {
        Value::U8(x) => Some(i64::from(*x)),
        Value::I8(x) => Some(i64::from(*x)),
        Value::U16(x) => Some(i64::from(*x)),
        Value::I16(x) => Some(i64::from(*x)),
        Value::U32(x) => Some(i64::from(*x)),
        Value::I32(x) => Some(i64::from(*x)),
        Value::U64(x) => i64::try_from(*x).ok(),
        Value::I64(x) => Some(*x),
        _ => None,
    }
}

fn optional_id(md: &HashMap<String, Value>, key: &str) -> Result<Option<u32>, TokenizerError> {
    match md.get(key) {
        None => Ok(None),
        Some(v) => value_as_i64(v)
            .and_then(|x| u32::try_from(x).ok())
            .map(Some)
            .ok_or_else(|| TokenizerError::BadKey {
                key: key.to_string(),
                expected: "a non-negative integer token id",
            }),
    }
}

fn optional_bool(md: &HashMap<String, Value>, key: &str) -> Result<Option<bool>, TokenizerError> {
    match md.get(key) {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(TokenizerError::BadKey {
            key: key.to_string(),
            expected: "a boolean",
        }),
    }
}

/// Builds the tokenizer described by `tokenizer.ggml.*` metadata: byte-level BPE with
/// merges (`gpt2`) or a SentencePiece vocabulary with scores (`llama`, e.g. Gemma).
///
/// Written by hand because candle's GGUF tokenizer helper adds a prefix space,
/// does not know `pre = smollm` and reads the unknown id from the wrong key.
pub fn tokenizer_from_gguf(md: &HashMap<String, Value>) -> Result<GgufTokenizer, TokenizerError> {
    let model = match get(md, "tokenizer.ggml.model")? {
        Value::String(s) => s.clone(),
        _ => {
            return Err(TokenizerError::BadKey {
                key: "tokenizer.ggml.model".into(),
                expected: "a string",
            });
        }
    };
    let pre = match md.get("tokenizer.ggml.pre") {
        Some(Value::String(s)) => s.clone(),
        _ => "default".to_string(),
    };
    let tokens = string_array(md, "tokenizer.ggml.tokens")?;
    let token_types = read_token_types(md, tokens.len())?;
    let unk_id = optional_id(md, "tokenizer.ggml.unknown_token_id")?;
    let unk = unk_id.and_then(|id| tokens.get(id as usize)).cloned();
    let tokenizer = match (model.as_str(), pre.as_str()) {
        ("gpt2", _) => byte_level_bpe(md, &tokens, unk.as_deref(), &model, &pre)?,
        ("llama", "default") => {
            let scores = float_array(md, "tokenizer.ggml.scores", tokens.len())?;
            let add_space_prefix =
                optional_bool(md, "tokenizer.ggml.add_space_prefix")?.unwrap_or(true);
            spm_tokenizer(
                &tokens,
                &scores,
                &token_types,
                unk.as_deref(),
                add_space_prefix,
            )?
        }
        _ => return Err(TokenizerError::Unsupported { model, pre }),
    };
    with_added_tokens(tokenizer, tokens, &token_types, md, unk_id)
}

fn read_token_types(md: &HashMap<String, Value>, n: usize) -> Result<Vec<i64>, TokenizerError> {
    let bad = || TokenizerError::BadKey {
        key: "tokenizer.ggml.token_type".into(),
        expected: "an array of integers, one per token",
    };
    match md.get("tokenizer.ggml.token_type") {
        None => Ok(vec![1; n]),
        Some(Value::Array(items)) if items.len() == n => items
            .iter()
            .map(|v| value_as_i64(v).ok_or_else(bad))
            .collect(),
        Some(_) => Err(bad()),
    }
}

fn float_array(
    md: &HashMap<String, Value>,
    key: &str,
    n: usize,
) -> Result<Vec<f32>, TokenizerError> {
    let bad = || TokenizerError::BadKey {
        key: key.to_string(),
        expected: "an array of floats, one per token",
    };
    let Value::Array(items) = get(md, key)? else {
        return Err(bad());
    };
    if items.len() != n {
        return Err(bad());
    }
    items
        .iter()
        .map(|v| match v {
            Value::F32(x) => Ok(*x),
            Value::F64(x) => Ok(*x as f32),
            _ => Err(bad()),
        })
        .collect()
}

/// Each token with its id, the position in the GGUF list.
pub(crate) fn vocab_by_id(tokens: &[String]) -> Result<Vocab, TokenizerError> {
    tokens
        .iter()
        .enumerate()
        .map(|(id, tok)| {
            u32::try_from(id)
                .map(|id| (tok.clone(), id))
                .map_err(|_| TokenizerError::Build("vocabulary too large".into()))
        })
        .collect()
}

fn byte_level_bpe(
    md: &HashMap<String, Value>,
    tokens: &[String],
    unk: Option<&str>,
    model: &str,
    pre: &str,
) -> Result<Tokenizer, TokenizerError> {
    // Which pre-tokenizers split like GPT-2 (llama.cpp groups them the same way);
    // the smollm family additionally splits every digit on its own.
    let split_digits = match pre {
        "smollm" | "starcoder" | "refact" => true,
        "gpt2" | "default" => false,
        _ => {
            return Err(TokenizerError::Unsupported {
                model: model.to_string(),
                pre: pre.to_string(),
            });
        }
    };
    let merges_raw = string_array(md, "tokenizer.ggml.merges")?;
    let vocab = vocab_by_id(tokens)?;
    let merges = merges_raw
        .iter()
        .enumerate()
        .map(|(index, m)| {
            m.split_once(' ')
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .ok_or_else(|| TokenizerError::BadMerge {
                    index,
                    merge: m.clone(),
                })
        })
        .collect::<Result<Vec<_>, _>>()?;

    let mut builder = BPE::builder().vocab_and_merges(vocab, merges);
    if let Some(unk) = unk {
        builder = builder.unk_token(unk.to_string());
    }
    let bpe = builder
        .build()
        .map_err(|e| TokenizerError::Build(e.to_string()))?;

    let byte_level = ByteLevel::new(false, true, true);
    let pre_tokenizer: PreTokenizerWrapper = if split_digits {
        Sequence::new(vec![Digits::new(true).into(), byte_level.into()]).into()
    } else {
        byte_level.into()
    };
    let mut tokenizer = Tokenizer::new(bpe);
    tokenizer
        .with_pre_tokenizer(Some(pre_tokenizer))
        .with_post_processor(Some(ByteLevel::new(false, true, true)))
        .with_decoder(Some(ByteLevelDecoder::default()));
    Ok(tokenizer)
}

/// Registers control tokens as special and user-defined tokens as added, so both are
/// matched whole before the model splits the text.
fn with_added_tokens(
    mut tokenizer: Tokenizer,
    tokens: Vec<String>,
    token_types: &[i64],
    md: &HashMap<String, Value>,
    unk_id: Option<u32>,
) -> Result<GgufTokenizer, TokenizerError> {
    let mut special_ids = Vec::new();
    let mut specials = Vec::new();
    let mut user_defined = Vec::new();
    for (id, (tok, ty)) in tokens.iter().zip(token_types.iter()).enumerate() {
        match *ty {
            TOKEN_TYPE_CONTROL => {
                special_ids.push(id as u32);
                specials.push(AddedToken::from(tok.clone(), true).normalized(false));
            }
            TOKEN_TYPE_USER_DEFINED => {
                user_defined.push(AddedToken::from(tok.clone(), false).normalized(false))
            }
            _ => {}
        }
    }
    tokenizer
        .add_special_tokens(specials)
        .map_err(|e| TokenizerError::Build(e.to_string()))?;
    tokenizer
        .add_tokens(user_defined)
        .map_err(|e| TokenizerError::Build(e.to_string()))?;

    Ok(GgufTokenizer {
        tokenizer,
        tokens,
        special_ids,
        bos_id: optional_id(md, "tokenizer.ggml.bos_token_id")?,
        eos_id: optional_id(md, "tokenizer.ggml.eos_token_id")?,
        pad_id: optional_id(md, "tokenizer.ggml.padding_token_id")?,
        unk_id,
        add_bos_token: optional_bool(md, "tokenizer.ggml.add_bos_token")?.unwrap_or(false),
        add_eos_token: optional_bool(md, "tokenizer.ggml.add_eos_token")?.unwrap_or(false),
    })
}

/// A model directory's tokenizer (`tokenizer.json`) with the special tokens and
/// chat template from `tokenizer_config.json`.
#[derive(Debug, Clone)]
pub struct ModelTokenizer {
    inner: Tokenizer,
    bos_token: Option<String>,
    eos_token: Option<String>,
    pad_token: Option<String>,
    chat_template: Option<String>,
    add_bos_token: bool,
}

/// `tokenizer_config.json` writes special tokens either as a string or as an
/// added-token object with a `content` field.
fn special_token(config: &Json, key: &str) -> Option<String> {
    match config.get(key)? {
        Json::String(s) => Some(s.clone()),
        Json::Object(o) => o.get("content")?.as_str().map(str::to_string),
        _ => None,
    }
}

impl ModelTokenizer {
    /// Loads `tokenizer.json` and (if present) `tokenizer_config.json` from `dir`.
    pub fn from_dir(dir: &Path) -> Result<Self, TokenizerError> {
        let tok_path = dir.join("tokenizer.json");
        let inner = Tokenizer::from_file(&tok_path).map_err(|e| TokenizerError::Parse {
            path: tok_path.clone(),
            message: e.to_string(),
        })?;
        let cfg_path = dir.join("tokenizer_config.json");
        let config = match std::fs::read_to_string(&cfg_path) {
            Ok(text) => serde_json::from_str(&text).map_err(|e| TokenizerError::Parse {
                path: cfg_path.clone(),
                message: e.to_string(),
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Json::Null,
            Err(source) => {
                return Err(TokenizerError::Io {
                    path: cfg_path,
                    source,
                });
            }
        };
        Ok(Self::from_parts(inner, &config))
    }

    /// Wraps an in-memory tokenizer; `config` is a parsed `tokenizer_config.json`
    /// (or `Null` when there is none).
    pub fn from_parts(inner: Tokenizer, config: &Json) -> Self {
        Self {
            inner,
            bos_token: special_token(config, "bos_token"),
            eos_token: special_token(config, "eos_token"),
            pad_token: special_token(config, "pad_token"),
            chat_template: config
                .get("chat_template")
                .and_then(Json::as_str)
                .map(str::to_string),
            add_bos_token: config
                .get("add_bos_token")
                .and_then(Json::as_bool)
                .unwrap_or(false),
        }
    }

    /// Encodes text; special-token strings in `text` become their single ids.
    /// A BOS id is prepended when the model's config asks for it and
    /// `add_special_tokens` is set.
    pub fn encode(&self, text: &str, add_special_tokens: bool) -> Result<Vec<u32>, TokenizerError> {
        let enc = self
            .inner
            .encode(text, add_special_tokens)
            .map_err(|e| TokenizerError::Run(e.to_string()))?;
        let mut ids = Vec::with_capacity(enc.len() + 1);
        if add_special_tokens
            && self.add_bos_token
            && let Some(bos) = self.bos_id()
            && enc.get_ids().first() != Some(&bos)
        {
            ids.push(bos);
        }
        ids.extend_from_slice(enc.get_ids());
        Ok(ids)
    }

    pub fn decode(&self, ids: &[u32], skip_special_tokens: bool) -> Result<String, TokenizerError> {
        self.inner
            .decode(ids, skip_special_tokens)
            .map_err(|e| TokenizerError::Run(e.to_string()))
    }

    pub fn token_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }

    pub fn bos_token(&self) -> Option<&str> {
        self.bos_token.as_deref()
    }

    pub fn eos_token(&self) -> Option<&str> {
        self.eos_token.as_deref()
    }

    pub fn bos_id(&self) -> Option<u32> {
        self.bos_token.as_deref().and_then(|t| self.token_id(t))
    }

    pub fn eos_id(&self) -> Option<u32> {
        self.eos_token.as_deref().and_then(|t| self.token_id(t))
    }

    /// The padding id; models without one pad with EOS.
    pub fn pad_id(&self) -> Option<u32> {
        self.pad_token
            .as_deref()
            .and_then(|t| self.token_id(t))
            .or_else(|| self.eos_id())
    }

    pub fn chat_template(&self) -> Option<&str> {
        self.chat_template.as_deref()
    }

    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    pub fn inner(&self) -> &Tokenizer {
        &self.inner
    }

    /// A decoder for streaming generated ids as text.
    pub fn stream(&self, skip_special_tokens: bool) -> IncrementalDecoder<'_> {
        IncrementalDecoder::new(&self.inner, skip_special_tokens)
    }
}

/// Turns a stream of token ids into text pieces without ever splitting a UTF-8
/// character: byte-level tokens can end mid-character, so a piece is only
/// released once its decoded text no longer ends in a replacement character.
#[derive(Debug)]
pub struct IncrementalDecoder<'a> {
    tokenizer: &'a Tokenizer,
    skip_special_tokens: bool,
    ids: Vec<u32>,
    /// Start of the window re-decoded each step (decoders may depend on context).
    prefix_offset: usize,
    /// End of the ids whose text has already been released.
    read_offset: usize,
}

impl<'a> IncrementalDecoder<'a> {
    pub fn new(tokenizer: &'a Tokenizer, skip_special_tokens: bool) -> Self {
        Self {
            tokenizer,
            skip_special_tokens,
            ids: Vec::new(),
            prefix_offset: 0,
            read_offset: 0,
        }
    }

    fn decode(&self, ids: &[u32]) -> Result<String, TokenizerError> {
        self.tokenizer
            .decode(ids, self.skip_special_tokens)
            .map_err(|e| TokenizerError::Run(e.to_string()))
    }

    /// Adds one id; returns the newly completed text, if any.
    pub fn push(&mut self, id: u32) -> Result<Option<String>, TokenizerError> {
        self.ids.push(id);
        self.release(false)
    }

    /// Releases whatever is still held back (an incomplete character at the end
    /// of generation comes out as U+FFFD).
    pub fn finish(&mut self) -> Result<Option<String>, TokenizerError> {
        self.release(true)
    }

    fn release(&mut self, force: bool) -> Result<Option<String>, TokenizerError> {
        if self.read_offset == self.ids.len() {
            return Ok(None);
        }
        let before = self.decode(&self.ids[self.prefix_offset..self.read_offset])?;
        let after = self.decode(&self.ids[self.prefix_offset..])?;
        if !force && after.ends_with('\u{FFFD}') {
            return Ok(None);
        }
        let piece = match after.strip_prefix(before.as_str()) {
            Some(rest) => rest.to_string(),
            // The window's earlier text changed; only the suffix past the old
            // length is new, cut on a character boundary.
            None => {
                let mut cut = before.len().min(after.len());
                while !after.is_char_boundary(cut) {
                    cut += 1;
                }
                after[cut..].to_string()
            }
        };
        self.prefix_offset = self.read_offset;
        self.read_offset = self.ids.len();
        Ok(if piece.is_empty() { None } else { Some(piece) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tiny GGUF-like vocabulary: the 256 byte-level symbols, a few merges and
    /// two control tokens.
    fn tiny_metadata() -> HashMap<String, Value> {
        let mut tokens: Vec<String> = vec!["<|endoftext|>".into(), "<|im_start|>".into()];
        let byte_chars: Vec<String> = (0u8..=255).map(|b| byte_to_char(b).to_string()).collect();
        tokens.extend(byte_chars);
        tokens.push("he".into());
        tokens.push("hel".into());
        tokens.push("Ġw".into());
        let mut types = vec![Value::I32(3), Value::I32(3)];
        types.extend((0..259).map(|_| Value::I32(1)));
        let mut md = HashMap::new();
        md.insert("tokenizer.ggml.model".into(), Value::String("gpt2".into()));
        md.insert("tokenizer.ggml.pre".into(), Value::String("smollm".into()));
        md.insert(
            "tokenizer.ggml.tokens".into(),
            Value::Array(tokens.into_iter().map(Value::String).collect()),
        );
        md.insert(
            "tokenizer.ggml.merges".into(),
            Value::Array(
                ["h e", "he l", "Ġ w"]
                    .iter()
                    .map(|s| Value::String(s.to_string()))
                    .collect(),
            ),
        );
        md.insert("tokenizer.ggml.token_type".into(), Value::Array(types));
        md.insert("tokenizer.ggml.bos_token_id".into(), Value::U32(1));
        md.insert("tokenizer.ggml.eos_token_id".into(), Value::U32(0));
        md
    }

    /// GPT-2's printable mapping of bytes, for building the test vocabulary.
    fn byte_to_char(b: u8) -> char {
        let printable =
            |b: u8| (b'!'..=b'~').contains(&b) || (0xA1..=0xAC).contains(&b) || b >= 0xAE;
        if printable(b) {
            return char::from(b);
        }
        let offset = (0u8..b).filter(|&x| !printable(x)).count() as u32;
        char::from_u32(256 + offset).unwrap_or('?')
    }

    #[test]
    fn builds_bpe_with_merges_digits_and_specials() {
        let built = tokenizer_from_gguf(&tiny_metadata()).expect("build");
        let tok = &built.tokenizer;
        let enc = tok.encode("hel w12<|im_start|>", false).expect("encode");
        let pieces: Vec<&str> = enc.get_tokens().iter().map(String::as_str).collect();
        assert_eq!(pieces, ["hel", "Ġw", "1", "2", "<|im_start|>"]);
        assert_eq!(enc.get_ids()[4], 1);
        assert_eq!(built.special_ids, [0, 1]);
        assert_eq!(built.bos_id, Some(1));
        assert_eq!(built.token(built.eos_id), Some("<|endoftext|>"));
        let text = "héllo wörld 123\n\t x";
        let ids = tok.encode(text, false).expect("encode").get_ids().to_vec();
        assert_eq!(tok.decode(&ids, false).expect("decode"), text);
    }

    #[test]
    fn rejects_unknown_pre_tokenizer_and_bad_merge() {
        let mut md = tiny_metadata();
        md.insert("tokenizer.ggml.pre".into(), Value::String("qwen2".into()));
        let err = tokenizer_from_gguf(&md).expect_err("must fail");
        assert!(err.to_string().contains("qwen2"), "{err}");

        let mut md = tiny_metadata();
        md.insert(
            "tokenizer.ggml.merges".into(),
            Value::Array(vec![Value::String("nospace".into())]),
        );
        let err = tokenizer_from_gguf(&md).expect_err("must fail");
        assert!(err.to_string().contains("nospace"), "{err}");

        let mut md = tiny_metadata();
        md.remove("tokenizer.ggml.tokens");
        let err = tokenizer_from_gguf(&md).expect_err("must fail");
        assert!(err.to_string().contains("tokenizer.ggml.tokens"), "{err}");
    }

    #[test]
    fn incremental_decoder_never_splits_characters() {
        let built = tokenizer_from_gguf(&tiny_metadata()).expect("build");
        let tok = &built.tokenizer;
        let text = "hé 日本 wo🌍!";
        let ids = tok.encode(text, false).expect("encode").get_ids().to_vec();
        let mut dec = IncrementalDecoder::new(tok, false);
        let mut out = String::new();
        for id in ids {
            if let Some(piece) = dec.push(id).expect("push") {
                assert!(!piece.contains('\u{FFFD}'), "split char in {piece:?}");
                out.push_str(&piece);
            }
        }
        if let Some(rest) = dec.finish().expect("finish") {
            out.push_str(&rest);
        }
        assert_eq!(out, text);
    }

    #[test]
    fn model_tokenizer_reads_special_tokens_from_config() {
        let built = tokenizer_from_gguf(&tiny_metadata()).expect("build");
        let config = serde_json::json!({
            "bos_token": "<|im_start|>",
            "eos_token": {"content": "<|endoftext|>"},
            "add_bos_token": true,
            "chat_template": "{{ messages }}",
        });
        let tok = ModelTokenizer::from_parts(built.tokenizer, &config);
        assert_eq!(tok.bos_id(), Some(1));
        assert_eq!(tok.eos_id(), Some(0));
        assert_eq!(tok.pad_id(), Some(0));
        assert_eq!(tok.chat_template(), Some("{{ messages }}"));
        let ids = tok.encode("he", true).expect("encode");
        assert_eq!(ids[0], 1);
        assert_eq!(tok.decode(&ids, true).expect("decode"), "he");
    }
}
