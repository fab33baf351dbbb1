//! Proves the q/k un-permutation: the imported Hugging Face directory, run by
//! candle-transformers' HF `llama`, must give the same logits as the GGUF run by
//! candle's `quantized_llama` (which works on the permuted layout).
//!
//! One test per process: `CANDLE_DEQUANTIZE_ALL` is read once per thread by
//! candle, so the reference dequantizes its weights exactly like the import
//! instead of quantizing activations to Q8_1.

#[path = "common/smollm2.rs"]
mod smollm2;

use candle_core::quantized::gguf_file;
use candle_core::{Device, Tensor};
use candle_transformers::models::quantized_llama::ModelWeights;
use plantune_tui::model::chat::{ChatMessage, ChatTemplate};
use plantune_tui::model::tokenizer::ModelTokenizer;

#[test]
fn imported_model_matches_gguf_reference() {
    // SAFETY: the only test in this binary, set before any other thread exists.
    unsafe { std::env::set_var("CANDLE_DEQUANTIZE_ALL", "1") };
    let (dir, _) = smollm2::imported("reference");
    let tok = ModelTokenizer::from_dir(dir).expect("tokenizer");
    let prompt = ChatTemplate::from_model_dir(dir)
        .expect("template")
        .render(
            &[ChatMessage::user("Name three colours of the rainbow.")],
            true,
        )
        .expect("render");
    let ids = tok.encode(&prompt, false).expect("encode");
    let steps = 10;

    let hf = smollm2::load_hf_llama(dir);
    let (hf_logits, hf_tokens) = hf.greedy(&ids, steps);

    let path = smollm2::gguf_path();
    let mut file = std::fs::File::open(&path).expect("open gguf");
    let content = gguf_file::Content::read(&mut file).expect("gguf header");
    let mut reference =
        ModelWeights::from_gguf(content, &mut file, &Device::Cpu).expect("reference model");
    let input = Tensor::new(ids.as_slice(), &Device::Cpu)
        .and_then(|t| t.unsqueeze(0))
        .expect("input");
    let ref_logits: Vec<f32> = reference
        .forward(&input, 0)
        .and_then(|l| l.squeeze(0))
        .and_then(|l| l.to_vec1())
        .expect("reference forward");
    let mut ref_tokens = vec![smollm2::argmax(&ref_logits)];
    while ref_tokens.len() < steps {
        let last = ref_tokens[ref_tokens.len() - 1];
        let pos = ids.len() + ref_tokens.len() - 1;
        let input = Tensor::new(&[last], &Device::Cpu)
            .and_then(|t| t.unsqueeze(0))
            .expect("input");
        let logits: Vec<f32> = reference
            .forward(&input, pos)
            .and_then(|l| l.squeeze(0))
            .and_then(|l| l.to_vec1())
            .expect("reference forward");
        ref_tokens.push(smollm2::argmax(&logits));
    }

    assert_eq!(hf_logits.len(), ref_logits.len());
    let max_diff = hf_logits
        .iter()
        .zip(&ref_logits)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    let scale = ref_logits.iter().map(|x| x.abs()).fold(0f32, f32::max);
    eprintln!("max |logit diff| = {max_diff:e} (max |logit| = {scale})");
    assert!(max_diff < 1e-3, "max |logit diff| = {max_diff}");
    assert_eq!(hf_tokens, ref_tokens, "greedy continuations differ");
}
