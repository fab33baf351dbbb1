//! Which token ids end a chat reply for a model directory.

use std::path::Path;

use crate::model::chat::ChatTemplate;
use crate::model::tokenizer::ModelTokenizer;

/// EOS, the template's end-of-turn token, and `generation_config.json`'s
/// `eos_token_id` list, sorted and deduplicated: Llama 3 and Gemma end a turn with a
/// token other than EOS, and a reply must stop at either.
pub fn reply_end_ids(dir: &Path, tokenizer: &ModelTokenizer, template: &ChatTemplate) -> Vec<u32> {
    let mut ids: Vec<u32> = tokenizer.eos_id().into_iter().collect();
    if let Some(id) = tokenizer.token_id(&template.eos_token) {
        ids.push(id);
    }
    ids.extend(generation_config_eos(dir));
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// `eos_token_id` of `generation_config.json`: one id or a list.
fn generation_config_eos(dir: &Path) -> Vec<u32> {
    let Ok(text) = std::fs::read_to_string(dir.join("generation_config.json")) else {
        return Vec::new();
    };
    let Ok(value) = serde_json::from_str::<serde_json::Value>(&text) else {
        return Vec::new();
    };
    let id = |v: &serde_json::Value| v.as_u64().and_then(|n| u32::try_from(n).ok());
    match value.get("eos_token_id") {
        Some(serde_json::Value::Array(list)) => list.iter().filter_map(id).collect(),
        Some(v) => id(v).into_iter().collect(),
        None => Vec::new(),
    }
}
