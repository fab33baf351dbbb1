//! What differs between GGUF architectures on import: metadata keys, tensor names,
//! llama.cpp's storage conventions to undo, and the `config.json` to write.

use candle_core::{DType, Tensor};
use serde_json::{Value as Json, json};

use super::{ImportError, Metadata, unpermute_rope_rows};
use crate::model::tokenizer::GgufTokenizer;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arch {
    Llama,
    Gemma3,
}

impl Arch {
    pub const SUPPORTED: &'static str = "llama, gemma3";

    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "llama" => Some(Self::Llama),
            "gemma3" => Some(Self::Gemma3),
            _ => None,
        }
    }

    fn key(self) -> &'static str {
        match self {
            Self::Llama => "llama",
            Self::Gemma3 => "gemma3",
        }
    }
}

/// The hyper-parameters a GGUF file declares under `<arch>.*`.
#[derive(Debug, Clone, PartialEq)]
pub struct HyperParams {
    pub arch: Arch,
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub num_key_value_heads: usize,
    pub head_dim: usize,
    pub rms_norm_eps: f64,
    pub rope_theta: f64,
    pub max_position_embeddings: usize,
    pub sliding_window: Option<usize>,
}

pub(crate) fn hyper_params(arch: Arch, meta: &Metadata) -> Result<HyperParams, ImportError> {
    let k = |name: &str| format!("{}.{name}", arch.key());
    let hidden_size = meta.usize(&k("embedding_length"))?;
    let num_attention_heads = meta.usize(&k("attention.head_count"))?;
    let num_key_value_heads = if meta.has(&k("attention.head_count_kv")) {
        meta.usize(&k("attention.head_count_kv"))?
    } else {
        num_attention_heads
    };
    let head_dim = if meta.has(&k("attention.key_length")) {
        meta.usize(&k("attention.key_length"))?
    } else {
        hidden_size / num_attention_heads.max(1)
    };
    let rope_theta = if meta.has(&k("rope.freq_base")) {
        meta.float(&k("rope.freq_base"))?
    } else {
        10_000.0
    };
    let sliding_window = if meta.has(&k("attention.sliding_window")) {
        Some(meta.usize(&k("attention.sliding_window"))?)
    } else {
        None
    };
    Ok(HyperParams {
        arch,
        hidden_size,
        intermediate_size: meta.usize(&k("feed_forward_length"))?,
        num_hidden_layers: meta.usize(&k("block_count"))?,
        num_attention_heads,
        num_key_value_heads,
        head_dim,
        rms_norm_eps: meta.float(&k("attention.layer_norm_rms_epsilon"))?,
        rope_theta,
        max_position_embeddings: meta.usize(&k("context_length"))?,
        sliding_window,
    })
}

/// The Hugging Face name of a GGUF tensor of `arch`, `None` when it has none.
pub fn hf_tensor_name_for(arch: Arch, gguf_name: &str) -> Option<String> {
    match gguf_name {
        "token_embd.weight" => return Some("model.embed_tokens.weight".into()),
        "output_norm.weight" => return Some("model.norm.weight".into()),
        "output.weight" => return Some("lm_head.weight".into()),
        _ => {}
    }
    let rest = gguf_name.strip_prefix("blk.")?;
    let (layer, rest) = rest.split_once('.')?;
    let layer: usize = layer.parse().ok()?;
    let (kind, suffix) = rest.split_once('.')?;
    let hf = match (arch, kind) {
        (_, "attn_q") => "self_attn.q_proj",
        (_, "attn_k") => "self_attn.k_proj",
        (_, "attn_v") => "self_attn.v_proj",
        (_, "attn_output") => "self_attn.o_proj",
        (_, "ffn_gate") => "mlp.gate_proj",
        (_, "ffn_up") => "mlp.up_proj",
        (_, "ffn_down") => "mlp.down_proj",
        (_, "attn_norm") => "input_layernorm",
        (Arch::Llama, "ffn_norm") => "post_attention_layernorm",
        // Gemma's sandwich norms: llama.cpp's `ffn_norm` is the norm before the MLP.
        (Arch::Gemma3, "ffn_norm") => "pre_feedforward_layernorm",
        (Arch::Gemma3, "post_attention_norm") => "post_attention_layernorm",
        (Arch::Gemma3, "post_ffw_norm") => "post_feedforward_layernorm",
        (Arch::Gemma3, "attn_q_norm") => "self_attn.q_norm",
        (Arch::Gemma3, "attn_k_norm") => "self_attn.k_norm",
        _ => return None,
    };
    Some(format!("model.layers.{layer}.{hf}.{suffix}"))
}

/// Undoes what llama.cpp's converter did to a tensor for this architecture.
pub fn to_hf_layout(
    hp: &HyperParams,
    gguf_name: &str,
    tensor: Tensor,
) -> candle_core::Result<Tensor> {
    match hp.arch {
        // Llama q/k rows are permuted for llama.cpp's interleaved rope.
        Arch::Llama if gguf_name.ends_with(".attn_q.weight") => {
            unpermute_rope_rows(&tensor, hp.num_attention_heads)
        }
        Arch::Llama if gguf_name.ends_with(".attn_k.weight") => {
            unpermute_rope_rows(&tensor, hp.num_key_value_heads)
        }
        // Gemma's RMSNorm scales by (1 + w); the converter stores 1 + w so that
        // llama.cpp can share the plain norm kernel. Hugging Face stores w.
        Arch::Gemma3 if gguf_name.ends_with("norm.weight") => tensor.affine(1.0, -1.0),
        _ => Ok(tensor),
    }
}

fn torch_dtype(dtype: DType) -> &'static str {
    match dtype {
        DType::BF16 => "bfloat16",
        DType::F16 => "float16",
        _ => "float32",
    }
}

/// `config.json` for the imported model, in the spelling transformers reads.
pub fn model_config(
    hp: &HyperParams,
    tok: &GgufTokenizer,
    vocab_size: usize,
    tied: bool,
    dtype: DType,
) -> Json {
    let mut config = json!({
        "hidden_size": hp.hidden_size,
        "intermediate_size": hp.intermediate_size,
        "num_hidden_layers": hp.num_hidden_layers,
        "num_attention_heads": hp.num_attention_heads,
        "num_key_value_heads": hp.num_key_value_heads,
        "head_dim": hp.head_dim,
        "rms_norm_eps": hp.rms_norm_eps,
        "rope_theta": hp.rope_theta,
        "max_position_embeddings": hp.max_position_embeddings,
        "vocab_size": vocab_size,
        "tie_word_embeddings": tied,
        "attention_bias": false,
        "bos_token_id": tok.bos_id,
        "eos_token_id": tok.eos_id,
        "pad_token_id": tok.pad_id,
        "torch_dtype": torch_dtype(dtype),
    });
    let extra = match hp.arch {
        Arch::Llama => json!({
            "architectures": ["LlamaForCausalLM"],
            "model_type": "llama",
            "hidden_act": "silu",
            "mlp_bias": false,
        }),
        // GGUF does not record these; they are fixed for every Gemma 3 text model
        // (llama.cpp hard-codes them the same way).
        Arch::Gemma3 => json!({
            "architectures": ["Gemma3ForCausalLM"],
            "model_type": "gemma3_text",
            "hidden_activation": "gelu_pytorch_tanh",
            "query_pre_attn_scalar": hp.head_dim,
            "sliding_window": hp.sliding_window,
            "sliding_window_pattern": 6,
            "rope_local_base_freq": 10_000.0,
            "rope_scaling": null,
            "final_logit_softcapping": null,
            "attn_logit_softcapping": null,
        }),
    };
    if let (Some(config), Json::Object(extra)) = (config.as_object_mut(), extra) {
        config.extend(extra);
    }
    config
}

/// The tokenizer class transformers should use for the imported vocabulary.
pub fn tokenizer_class(arch: Arch) -> &'static str {
    match arch {
        Arch::Llama => "GPT2Tokenizer",
        Arch::Gemma3 => "GemmaTokenizer",
    }
}

/// The template to write when the GGUF carries none (base models often don't):
/// Gemma's documented turn format, system text folded into the first user turn.
pub fn fallback_chat_template(arch: Arch) -> Option<&'static str> {
    match arch {
        Arch::Llama => None,
        Arch::Gemma3 => Some(GEMMA_TURNS),
    }
}

const GEMMA_TURNS: &str = r#"{{- bos_token -}}
{%- set system = namespace(text='') -%}
{%- for message in messages -%}
  {%- if message['role'] == 'system' -%}
    {%- set system.text = system.text + message['content'] | trim + '\n\n' -%}
  {%- else -%}
    {%- set role = 'model' if message['role'] == 'assistant' else message['role'] -%}
    {{- '<start_of_turn>' + role + '\n' -}}
    {%- if role == 'user' -%}{{- system.text -}}{%- set system.text = '' -%}{%- endif -%}
    {{- message['content'] | trim + '<end_of_turn>\n' -}}
  {%- endif -%}
{%- endfor -%}
{%- if add_generation_prompt -%}{{- '<start_of_turn>model\n' -}}{%- endif -%}"#;

/// Extra ids that end a reply: Gemma ends turns with `<end_of_turn>`, not EOS.
pub fn end_of_turn_ids(arch: Arch, tok: &GgufTokenizer) -> Vec<u32> {
    match arch {
        Arch::Llama => Vec::new(),
        Arch::Gemma3 => tok
            .tokens
            .iter()
            .position(|t| t == "<end_of_turn>")
            .and_then(|i| u32::try_from(i).ok())
            .into_iter()
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gemma_names_follow_the_sandwich_norms() {
        let cases = [
            (
                "blk.0.ffn_norm.weight",
                "model.layers.0.pre_feedforward_layernorm.weight",
            ),
            (
                "blk.0.post_attention_norm.weight",
                "model.layers.0.post_attention_layernorm.weight",
            ),
            (
                "blk.2.post_ffw_norm.weight",
                "model.layers.2.post_feedforward_layernorm.weight",
            ),
            (
                "blk.1.attn_q_norm.weight",
                "model.layers.1.self_attn.q_norm.weight",
            ),
            (
                "blk.1.attn_k_norm.weight",
                "model.layers.1.self_attn.k_norm.weight",
            ),
            (
                "blk.1.attn_q.weight",
                "model.layers.1.self_attn.q_proj.weight",
            ),
        ];
        for (g, hf) in cases {
            assert_eq!(
                hf_tensor_name_for(Arch::Gemma3, g).as_deref(),
                Some(hf),
                "{g}"
            );
        }
        assert_eq!(
            hf_tensor_name_for(Arch::Llama, "blk.0.post_ffw_norm.weight"),
            None
        );
    }

    #[test]
    fn gemma_template_renders_turns_with_system_folded_in() {
        use crate::model::chat::{ChatMessage, ChatTemplate};
        let template = ChatTemplate::new(GEMMA_TURNS, "<bos>", "<eos>");
        let text = template
            .render(
                &[
                    ChatMessage::system("Be brief."),
                    ChatMessage::user("Hi "),
                    ChatMessage::assistant("Hello."),
                    ChatMessage::user("2+2?"),
                ],
                true,
            )
            .expect("render");
        assert_eq!(
            text,
            "<bos><start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n\
             <start_of_turn>model\nHello.<end_of_turn>\n\
             <start_of_turn>user\n2+2?<end_of_turn>\n<start_of_turn>model\n"
        );
    }
}
