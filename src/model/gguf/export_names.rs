//! Hugging Face tensor names and layouts as llama.cpp stores them: the inverse of
//! what import undoes (`arch::hf_tensor_name_for`, `arch::to_hf_layout`).

use candle_core::Tensor;

use super::permute_rope_rows;
use crate::model::config::Family;

/// The GGUF name of a Hugging Face tensor of `family`, `None` when llama.cpp has none.
pub fn gguf_tensor_name(family: Family, hf_name: &str) -> Option<String> {
    match hf_name {
        "model.embed_tokens.weight" => return Some("token_embd.weight".into()),
        "model.norm.weight" => return Some("output_norm.weight".into()),
        "lm_head.weight" => return Some("output.weight".into()),
        _ => {}
    }
    let rest = hf_name.strip_prefix("model.layers.")?;
    let (layer, rest) = rest.split_once('.')?;
    let layer: usize = layer.parse().ok()?;
    let (module, suffix) = rest.rsplit_once('.')?;
    if suffix != "weight" && suffix != "bias" {
        return None;
    }
    let gemma = family == Family::Gemma3;
    let kind = match module {
        "self_attn.q_proj" => "attn_q",
        "self_attn.k_proj" => "attn_k",
        "self_attn.v_proj" => "attn_v",
        "self_attn.o_proj" => "attn_output",
        "mlp.gate_proj" => "ffn_gate",
        "mlp.up_proj" => "ffn_up",
        "mlp.down_proj" => "ffn_down",
        "input_layernorm" => "attn_norm",
        "self_attn.q_norm" if family != Family::Llama && family != Family::Qwen2 => "attn_q_norm",
        "self_attn.k_norm" if family != Family::Llama && family != Family::Qwen2 => "attn_k_norm",
        // Gemma's sandwich norms: llama.cpp's `ffn_norm` is the norm before the MLP.
        "post_attention_layernorm" if gemma => "post_attention_norm",
        "post_attention_layernorm" => "ffn_norm",
        "pre_feedforward_layernorm" if gemma => "ffn_norm",
        "post_feedforward_layernorm" if gemma => "post_ffw_norm",
        _ => return None,
    };
    Some(format!("blk.{layer}.{kind}.{suffix}"))
}

/// Applies llama.cpp's storage conventions to a Hugging Face tensor (`gguf_name`
/// is its GGUF name): llama's q/k rows interleaved for its rope, Gemma's norm
/// weights stored as `1 + w`.
pub fn to_gguf_layout(
    family: Family,
    n_heads: usize,
    n_kv_heads: usize,
    gguf_name: &str,
    tensor: Tensor,
) -> candle_core::Result<Tensor> {
    let heads = if gguf_name.contains(".attn_q.") {
        Some(n_heads)
    } else if gguf_name.contains(".attn_k.") {
        Some(n_kv_heads)
    } else {
        None
    };
    match (family, heads) {
        // Only llama's converter permutes (Qwen and Gemma use the half-split rope,
        // as Hugging Face does). A bias is permuted like a one-column weight.
        (Family::Llama, Some(n)) if tensor.rank() == 1 => {
            let len = tensor.dim(0)?;
            permute_rope_rows(&tensor.reshape((len, 1))?, n)?.reshape(len)
        }
        (Family::Llama, Some(n)) => permute_rope_rows(&tensor, n),
        (Family::Gemma3, None) if gguf_name.ends_with("norm.weight") => tensor.affine(1.0, 1.0),
        _ => Ok(tensor),
    }
}

#[cfg(test)]
mod tests {
    use super::super::arch::{Arch, hf_tensor_name_for};
    use super::*;

    #[test]
    fn export_names_invert_import_names() {
        let layer_modules = [
            "self_attn.q_proj",
            "self_attn.k_proj",
            "self_attn.v_proj",
            "self_attn.o_proj",
            "mlp.gate_proj",
            "mlp.up_proj",
            "mlp.down_proj",
            "input_layernorm",
            "post_attention_layernorm",
        ];
        let gemma_extra = [
            "pre_feedforward_layernorm",
            "post_feedforward_layernorm",
            "self_attn.q_norm",
            "self_attn.k_norm",
        ];
        for (family, arch, extra) in [
            (Family::Llama, Arch::Llama, &[][..]),
            (Family::Gemma3, Arch::Gemma3, &gemma_extra[..]),
        ] {
            let mut names: Vec<String> = [
                "model.embed_tokens.weight",
                "model.norm.weight",
                "lm_head.weight",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect();
            for m in layer_modules.iter().chain(extra) {
                names.push(format!("model.layers.7.{m}.weight"));
            }
            for hf in names {
                let g = gguf_tensor_name(family, &hf).unwrap_or_else(|| panic!("{hf}"));
                assert_eq!(hf_tensor_name_for(arch, &g).as_deref(), Some(&*hf), "{g}");
            }
        }
        assert_eq!(
            gguf_tensor_name(Family::Qwen2, "model.layers.0.self_attn.q_proj.bias").as_deref(),
            Some("blk.0.attn_q.bias")
        );
        assert_eq!(
            gguf_tensor_name(Family::Qwen3, "model.layers.2.self_attn.k_norm.weight").as_deref(),
            Some("blk.2.attn_k_norm.weight")
        );
        assert_eq!(
            gguf_tensor_name(Family::Llama, "model.rotary.inv_freq"),
            None
        );
    }

    #[test]
    fn gemma_norms_gain_one_and_llama_q_rows_interleave() {
        let dev = candle_core::Device::Cpu;
        let w = Tensor::new(&[0.5f32, -0.25], &dev).expect("tensor");
        let out = to_gguf_layout(Family::Gemma3, 1, 1, "blk.0.attn_norm.weight", w)
            .and_then(|t| t.to_vec1::<f32>())
            .expect("gemma");
        assert_eq!(out, [1.5, 0.75]);
        // One head of dimension 4, HF halves [a0, a1, b0, b1] → GGUF [a0, b0, a1, b1].
        let q = Tensor::new(&[[0f32], [1.], [10.], [11.]], &dev).expect("tensor");
        let out = to_gguf_layout(Family::Llama, 1, 1, "blk.0.attn_q.weight", q)
            .and_then(|t| t.flatten_all())
            .and_then(|t| t.to_vec1::<f32>())
            .expect("llama");
        assert_eq!(out, [0., 10., 1., 11.]);
        let b = Tensor::new(&[0f32, 1., 10., 11.], &dev).expect("tensor");
        let out = to_gguf_layout(Family::Llama, 1, 1, "blk.0.attn_k.bias", b)
            .and_then(|t| t.to_vec1::<f32>())
            .expect("bias");
        assert_eq!(out, [0., 10., 1., 11.]);
        let q = Tensor::new(&[[0f32], [1.], [10.], [11.]], &dev).expect("tensor");
        let out = to_gguf_layout(Family::Qwen2, 1, 1, "blk.0.attn_q.weight", q)
            .and_then(|t| t.flatten_all())
            .and_then(|t| t.to_vec1::<f32>())
            .expect("qwen");
        assert_eq!(out, [0., 1., 10., 11.], "qwen keeps the half-split rows");
    }
}
