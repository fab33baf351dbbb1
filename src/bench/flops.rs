//! Model FLOPs per trained token and model FLOPs utilisation (MFU), counted the way
//! the PaLM paper does: matmul FLOPs of the forward pass (2 per multiply-add) times
//! three for training (backward = twice the forward), attention scores included,
//! recomputation and elementwise ops not. Both sides of a benchmark get the same
//! count, so their MFU ratio is their tokens/s ratio.

use crate::model::config::Config;

/// Forward FLOPs per token of a `[_, seq]` batch: (weight matmuls, attention).
fn forward_flops_per_token(cfg: &Config, seq: usize) -> (f64, f64) {
    let h = cfg.hidden_size as f64;
    let heads = cfg.num_attention_heads as f64;
    let kv = cfg.num_kv_heads() as f64;
    let d = cfg.head_dim() as f64;
    let inter = cfg.intermediate_size as f64;
    let layers = cfg.num_hidden_layers as f64;
    let vocab = cfg.vocab_size as f64;
    let projections = h * heads * d * 2.0 + h * kv * d * 2.0;
    let mlp = 3.0 * h * inter;
    let weights = layers * (projections + mlp) + h * vocab;
    // QKᵀ and PV over the whole (unmasked, as computed) sequence.
    let attention = layers * 2.0 * seq as f64 * heads * d;
    (2.0 * weights, 2.0 * attention)
}

/// Training FLOPs per token: the forward pass and a backward pass of twice its cost,
/// except that a LoRA base computes no weight gradients (its adapters are
/// negligible), so its weight matmuls cost twice the forward rather than three times.
pub fn train_flops_per_token(cfg: &Config, seq: usize, lora: bool) -> f64 {
    let (weights, attention) = forward_flops_per_token(cfg, seq);
    let weight_passes = if lora { 2.0 } else { 3.0 };
    weight_passes * weights + 3.0 * attention
}

/// Achieved FLOP/s over the device's peak.
pub fn mfu(tokens_per_s: f64, flops_per_token: f64, peak_tflops: f64) -> f64 {
    tokens_per_s * flops_per_token / (peak_tflops * 1e12)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn qwen_05b() -> Config {
        serde_json::from_str(super::super::random::QWEN25_05B).unwrap()
    }

    /// 6·N + 12·L·s·h for full fine-tuning (Kaplan's count, N counting the tied head).
    #[test]
    fn full_fine_tuning_is_six_n_plus_attention() {
        let cfg = qwen_05b();
        let seq = 1024;
        let n_matrix = 24.0 * (896.0 * 896.0 * 2.0 + 896.0 * 128.0 * 2.0 + 3.0 * 896.0 * 4864.0)
            + 896.0 * 151_936.0;
        let expected = 6.0 * n_matrix + 12.0 * 24.0 * seq as f64 * 896.0;
        let got = train_flops_per_token(&cfg, seq, false);
        assert!((got / expected - 1.0).abs() < 1e-12, "{got} vs {expected}");
        // LoRA skips the base's weight gradients: a third less on the weights.
        let lora = train_flops_per_token(&cfg, seq, true);
        assert!((got - lora - 2.0 * n_matrix).abs() < 1.0);
    }

    #[test]
    fn mfu_is_a_fraction_of_peak() {
        assert!((mfu(1000.0, 1e9, 1.0) - 1.0).abs() < 1e-12);
        assert!((mfu(350.0, 1e9, 1.0) - 0.35).abs() < 1e-12);
    }
}
