//! A model directory's tokenizer (`tokenizer.json`, `tokenizer_config.json`) as the
//! `tokenizer.ggml.*` metadata llama.cpp reads: byte-level BPE (`gpt2`, with merges
//! and a pre-tokenizer name) or a SentencePiece-style BPE with byte fallback
//! (`llama`, with scores), token types, special ids and the chat template.

use std::collections::HashMap;
use std::path::Path;

use candle_core::quantized::gguf_file::Value;
use serde_json::Value as Json;

/// llama.cpp's token types.
const NORMAL: i32 = 1;
const UNKNOWN: i32 = 2;
const CONTROL: i32 = 3;
const USER_DEFINED: i32 = 4;
const UNUSED: i32 = 5;
const BYTE: i32 = 6;

#[derive(Debug, thiserror::Error)]
#[error("{path}: {message}")]
pub struct VocabError {
    pub path: String,
    pub message: String,
}

fn read_json(path: &Path) -> Result<Json, VocabError> {
    let err = |message: String| VocabError {
        path: path.display().to_string(),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
    serde_json::from_str(&text).map_err(|e| err(format!("line {}: {e}", e.line())))
}

/// The tokens by id, padded to `rows` (the embedding's row count) with `[PAD<id>]`
/// entries of type UNUSED, as llama.cpp's converter pads them.
struct Vocab {
    tokens: Vec<String>,
    types: Vec<i32>,
    by_text: HashMap<String, usize>,
}

fn vocab(tok: &Json, rows: usize, byte_fallback: bool, path: &Path) -> Result<Vocab, VocabError> {
    let err = |message: &str| VocabError {
        path: path.display().to_string(),
        message: message.to_string(),
    };
    let map = tok
        .pointer("/model/vocab")
        .and_then(Json::as_object)
        .ok_or_else(|| err("field `model.vocab` is not an object"))?;
    let mut slots: Vec<Option<(String, i32)>> = vec![None; rows];
    let mut put = |id: usize, text: &str, ty: i32| {
        if id >= slots.len() {
            slots.resize(id + 1, None);
        }
        slots[id] = Some((text.to_string(), ty));
    };
    let unk = tok.pointer("/model/unk_token").and_then(Json::as_str);
    for (text, id) in map {
        let id = id
            .as_u64()
            .ok_or_else(|| err(&format!("field `model.vocab.{text}` is not an id")))?;
        let is_byte = byte_fallback && text.len() == 6 && text.starts_with("<0x");
        let ty = if Some(text.as_str()) == unk {
            UNKNOWN
        } else if is_byte {
            BYTE
        } else {
            NORMAL
        };
        put(id as usize, text, ty);
    }
    for added in tok
        .get("added_tokens")
        .and_then(Json::as_array)
        .into_iter()
        .flatten()
    {
        let (Some(id), Some(text)) = (
            added.get("id").and_then(Json::as_u64),
            added.get("content").and_then(Json::as_str),
        ) else {
            return Err(err("an entry of `added_tokens` has no `id` or `content`"));
        };
        let special = added
            .get("special")
            .and_then(Json::as_bool)
            .unwrap_or(false);
        // A special token that is also the unknown one stays CONTROL, as llama.cpp's
        // converter types it (SmolLM2's `<|endoftext|>`).
        let ty = if special {
            CONTROL
        } else if Some(text) == unk {
            UNKNOWN
        } else {
            USER_DEFINED
        };
        put(id as usize, text, ty);
    }
    let mut tokens = Vec::with_capacity(slots.len());
    let mut types = Vec::with_capacity(slots.len());
    for (id, slot) in slots.into_iter().enumerate() {
        let (text, ty) = slot.unwrap_or_else(|| (format!("[PAD{id}]"), UNUSED));
        tokens.push(text);
        types.push(ty);
    }
    let by_text = tokens
        .iter()
        .enumerate()
        .map(|(i, t)| (t.clone(), i))
        .collect();
    Ok(Vocab {
        tokens,
        types,
        by_text,
    })
}

/// Merges as `"left right"` strings (tokenizer.json writes either that or pairs).
fn merges(tok: &Json) -> Vec<String> {
    tok.pointer("/model/merges")
        .and_then(Json::as_array)
        .into_iter()
        .flatten()
        .filter_map(|m| match m {
            Json::String(s) => Some(s.clone()),
            Json::Array(pair) => match (pair.first(), pair.get(1)) {
                (Some(Json::String(a)), Some(Json::String(b))) => Some(format!("{a} {b}")),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

/// llama.cpp's name for the byte-level pre-tokenizer, from its tokenizer.json form.
fn pre_tokenizer_name(tok: &Json) -> Option<&'static str> {
    let pre = tok.get("pre_tokenizer")?;
    let text = pre.to_string();
    match pre.get("type").and_then(Json::as_str)? {
        "ByteLevel" => Some("gpt2"),
        "Sequence"
            if text.contains("\"Digits\"") && text.contains("\"individual_digits\":true") =>
        {
            Some("smollm")
        }
        "Sequence" if text.contains("\\\\p{N}{1,3}") => Some("llama-bpe"),
        "Sequence" if text.contains("\\\\p{N}") && text.contains("\\\\p{L}+") => Some("qwen2"),
        _ => None,
    }
}

/// SentencePiece scores that make llama.cpp merge in the tokenizer's merge order: the
/// piece made by merge `k` scores `-k`; pieces no merge makes score below them all.
fn scores_from_merges(vocab: &Vocab, merges: &[String]) -> Vec<f32> {
    let floor = -(merges.len() as f32) - 1.0;
    let mut scores = vec![floor; vocab.tokens.len()];
    for (rank, m) in merges.iter().enumerate() {
        let joined: String = m.split(' ').collect();
        if let Some(&id) = vocab.by_text.get(&joined)
            && scores[id] == floor
        {
            scores[id] = -(rank as f32);
        }
    }
    scores
}

fn special_text(config: &Json, key: &str) -> Option<String> {
    match config.get(key)? {
        Json::String(s) => Some(s.clone()),
        Json::Object(o) => o.get("content")?.as_str().map(str::to_string),
        _ => None,
    }
}

fn chat_template(dir: &Path, config: &Json) -> Option<String> {
    match config.get("chat_template") {
        Some(Json::String(s)) => return Some(s.clone()),
        Some(Json::Array(named)) => {
            let default = named
                .iter()
                .find(|t| t.get("name").and_then(Json::as_str) == Some("default"))?;
            return default.get("template")?.as_str().map(str::to_string);
        }
        _ => {}
    }
    std::fs::read_to_string(dir.join("chat_template.jinja")).ok()
}

fn strings(items: &[String]) -> Value {
    Value::Array(items.iter().map(|s| Value::String(s.clone())).collect())
}

/// The `tokenizer.ggml.*` metadata of the model directory `dir`, the vocabulary
/// padded to `rows` entries.
pub fn tokenizer_metadata(dir: &Path, rows: usize) -> Result<Vec<(String, Value)>, VocabError> {
    let tok_path = dir.join("tokenizer.json");
    let tok = read_json(&tok_path)?;
    let cfg_path = dir.join("tokenizer_config.json");
    let config = if cfg_path.is_file() {
        read_json(&cfg_path)?
    } else {
        Json::Null
    };
    let err = |message: String| VocabError {
        path: tok_path.display().to_string(),
        message,
    };
    let model_type = tok.pointer("/model/type").and_then(Json::as_str);
    if model_type != Some("BPE") {
        return Err(err(format!(
            "model type {model_type:?} is not exported (only BPE vocabularies)"
        )));
    }
    let byte_fallback = tok
        .pointer("/model/byte_fallback")
        .and_then(Json::as_bool)
        .unwrap_or(false);
    let vocab = vocab(&tok, rows, byte_fallback, &tok_path)?;
    let merges = merges(&tok);
    let mut md: Vec<(String, Value)> = Vec::new();
    if byte_fallback {
        let prefix = tok
            .get("normalizer")
            .is_some_and(|n| n.to_string().contains("\"Prepend\""));
        md.push(("tokenizer.ggml.model".into(), Value::String("llama".into())));
        md.push(("tokenizer.ggml.pre".into(), Value::String("default".into())));
        let scores = scores_from_merges(&vocab, &merges);
        md.push((
            "tokenizer.ggml.scores".into(),
            Value::Array(scores.into_iter().map(Value::F32).collect()),
        ));
        md.push((
            "tokenizer.ggml.add_space_prefix".into(),
            Value::Bool(prefix),
        ));
    } else {
        let pre = pre_tokenizer_name(&tok).ok_or_else(|| {
            err(
                "the pre-tokenizer matches none llama.cpp knows (gpt2, smollm, llama-bpe, qwen2)"
                    .into(),
            )
        })?;
        md.push(("tokenizer.ggml.model".into(), Value::String("gpt2".into())));
        md.push(("tokenizer.ggml.pre".into(), Value::String(pre.into())));
        md.push(("tokenizer.ggml.merges".into(), strings(&merges)));
    }
    md.push(("tokenizer.ggml.tokens".into(), strings(&vocab.tokens)));
    md.push((
        "tokenizer.ggml.token_type".into(),
        Value::Array(vocab.types.iter().map(|&t| Value::I32(t)).collect()),
    ));
    let id_of = |key: &str| {
        special_text(&config, key)
            .and_then(|t| vocab.by_text.get(&t).copied())
            .map(|id| Value::U32(id as u32))
    };
    for (key, gguf_key) in [
        ("bos_token", "tokenizer.ggml.bos_token_id"),
        ("eos_token", "tokenizer.ggml.eos_token_id"),
        ("pad_token", "tokenizer.ggml.padding_token_id"),
        ("unk_token", "tokenizer.ggml.unknown_token_id"),
    ] {
        if let Some(id) = id_of(key) {
            md.push((gguf_key.into(), id));
        }
    }
    for key in ["add_bos_token", "add_eos_token"] {
        let on = config.get(key).and_then(Json::as_bool).unwrap_or(false);
        md.push((format!("tokenizer.ggml.{key}"), Value::Bool(on)));
    }
    if let Some(t) = chat_template(dir, &config) {
        md.push(("tokenizer.chat_template".into(), Value::String(t)));
    }
    Ok(md)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_follow_merge_order() {
        let tok = serde_json::json!({"model": {"type": "BPE", "vocab":
            {"a": 0, "b": 1, "ab": 2, "abb": 3, "<0x41>": 4}, "merges": ["a b", ["ab", "b"]]}});
        let v = vocab(&tok, 6, true, Path::new("t.json")).expect("vocab");
        assert_eq!(v.tokens[5], "[PAD5]");
        assert_eq!(v.types, [NORMAL, NORMAL, NORMAL, NORMAL, BYTE, UNUSED]);
        let m = merges(&tok);
        assert_eq!(m, ["a b", "ab b"]);
        assert_eq!(
            scores_from_merges(&v, &m),
            [-3.0, -3.0, 0.0, -1.0, -3.0, -3.0]
        );
    }

    #[test]
    fn pre_tokenizers_are_named_as_llama_cpp_names_them() {
        let smollm = serde_json::json!({"pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Digits", "individual_digits": true},
            {"type": "ByteLevel", "add_prefix_space": false}]}});
        assert_eq!(pre_tokenizer_name(&smollm), Some("smollm"));
        let gpt2 = serde_json::json!({"pre_tokenizer": {"type": "ByteLevel"}});
        assert_eq!(pre_tokenizer_name(&gpt2), Some("gpt2"));
        let odd = serde_json::json!({"pre_tokenizer": {"type": "Whitespace"}});
        assert_eq!(pre_tokenizer_name(&odd), None);
    }
}
