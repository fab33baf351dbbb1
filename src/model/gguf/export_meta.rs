//! The `general.*` and `<arch>.*` metadata llama.cpp reads for a model, from its
//! Hugging Face `config.json`. Integers are written as u32 and floats as f32: the
//! types llama.cpp's loader checks for.

use candle_core::quantized::gguf_file::Value;

use crate::model::config::{Config, Family, RopeScaling};

/// llama.cpp's architecture name for a family.
pub fn arch_name(family: Family) -> &'static str {
    match family {
        Family::Llama => "llama",
        Family::Qwen2 => "qwen2",
        Family::Qwen3 => "qwen3",
        Family::Gemma3 => "gemma3",
    }
}

fn u32_of(x: usize) -> Value {
    Value::U32(u32::try_from(x).unwrap_or(u32::MAX))
}

/// Why a config cannot be described to llama.cpp, `None` when it can.
pub fn unsupported_reason(cfg: &Config) -> Option<String> {
    match cfg.rope_scaling() {
        Ok(RopeScaling::None) => {}
        Ok(other) => {
            return Some(format!(
                "rope scaling {other:?} is not exported (llama.cpp needs it as a \
                 rope_freqs tensor)"
            ));
        }
        Err(e) => return Some(e.to_string()),
    }
    if cfg.family().ok() == Some(Family::Gemma3)
        && (cfg.final_logit_softcapping.is_some() || cfg.attn_logit_softcapping.is_some())
    {
        return Some("Gemma logit soft-capping is not exported".into());
    }
    None
}

/// `general.*` and the architecture's hyper-parameters.
pub fn model_metadata(
    cfg: &Config,
    family: Family,
    name: &str,
    file_type: u32,
    vocab_size: usize,
) -> Vec<(String, Value)> {
    let arch = arch_name(family);
    let k = |key: &str| format!("{arch}.{key}");
    let head_dim = cfg.head_dim();
    let mut md = vec![
        ("general.architecture".into(), Value::String(arch.into())),
        ("general.name".into(), Value::String(name.into())),
        ("general.file_type".into(), Value::U32(file_type)),
        ("general.quantization_version".into(), Value::U32(2)),
        (k("vocab_size"), u32_of(vocab_size)),
        (k("context_length"), u32_of(cfg.max_position_embeddings)),
        (k("embedding_length"), u32_of(cfg.hidden_size)),
        (k("block_count"), u32_of(cfg.num_hidden_layers)),
        (k("feed_forward_length"), u32_of(cfg.intermediate_size)),
        (k("attention.head_count"), u32_of(cfg.num_attention_heads)),
        (k("attention.head_count_kv"), u32_of(cfg.num_kv_heads())),
        (k("attention.key_length"), u32_of(head_dim)),
        (k("attention.value_length"), u32_of(head_dim)),
        (k("rope.dimension_count"), u32_of(head_dim)),
        (k("rope.freq_base"), Value::F32(cfg.rope_theta as f32)),
        (
            k("attention.layer_norm_rms_epsilon"),
            Value::F32(cfg.rms_norm_eps as f32),
        ),
    ];
    if let (Family::Gemma3, Some(window)) = (family, cfg.sliding_window) {
        md.push((k("attention.sliding_window"), u32_of(window)));
    }
    md
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn llama_keys_carry_the_config() {
        let cfg: Config = serde_json::from_str(
            r#"{"model_type": "llama", "vocab_size": 100, "hidden_size": 64,
                "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4,
                "num_key_value_heads": 2, "rms_norm_eps": 1e-5, "rope_theta": 100000.0,
                "max_position_embeddings": 512}"#,
        )
        .expect("config");
        let md = model_metadata(&cfg, Family::Llama, "t", 1, 100);
        let get = |key: &str| {
            md.iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| format!("{v:?}"))
                .unwrap_or_else(|| panic!("{key}"))
        };
        assert_eq!(get("general.architecture"), "String(\"llama\")");
        assert_eq!(get("llama.attention.head_count_kv"), "U32(2)");
        assert_eq!(get("llama.rope.dimension_count"), "U32(16)");
        assert_eq!(get("llama.rope.freq_base"), "F32(100000.0)");
        assert_eq!(get("llama.context_length"), "U32(512)");
        assert!(unsupported_reason(&cfg).is_none());
    }
}
