//! GGUF → Hugging Face import of the real SmolLM2-135M-Instruct checkpoint:
//! directory contents, tokenizer, chat template, greedy answer, atomicity.
//! (The logit comparison against candle's quantized reference lives in
//! `model_import_reference.rs`: it needs a process-wide candle setting.)

use crate::common;
use std::collections::HashMap;
use std::io::{Read, Write};

use candle_core::quantized::gguf_file::{self, Value};
use candle_core::{DType, Device};
use plantune_tui::model::chat::{ChatMessage, ChatTemplate};
use plantune_tui::model::gguf::{ImportError, import_gguf};
use plantune_tui::model::tokenizer::ModelTokenizer;

#[test]
fn import_writes_hugging_face_directory() {
    let (dir, summary) = common::smollm2::imported("main");
    assert_eq!(summary.architecture, "llama");
    assert_eq!(summary.tensors, 272);
    assert_eq!(summary.num_hidden_layers, 30);
    assert_eq!(summary.vocab_size, 49_152);
    assert!(summary.tied_embeddings);
    assert!(
        (134_000_000..135_000_000).contains(&summary.parameters),
        "{}",
        summary.parameters
    );
    for f in [
        "model.safetensors",
        "config.json",
        "generation_config.json",
        "tokenizer.json",
        "tokenizer_config.json",
    ] {
        assert!(dir.join(f).is_file(), "{f} missing");
    }

    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).expect("read"))
            .expect("json");
    assert_eq!(config["architectures"][0], "LlamaForCausalLM");
    assert_eq!(config["model_type"], "llama");
    assert_eq!(config["hidden_size"], 576);
    assert_eq!(config["intermediate_size"], 1536);
    assert_eq!(config["num_attention_heads"], 9);
    assert_eq!(config["num_key_value_heads"], 3);
    assert_eq!(config["head_dim"], 64);
    assert_eq!(config["rope_theta"], 100_000.0);
    assert_eq!(config["max_position_embeddings"], 8192);
    assert_eq!(config["tie_word_embeddings"], true);
    assert_eq!(config["bos_token_id"], 1);
    assert_eq!(config["eos_token_id"], 2);
    assert_eq!(config["torch_dtype"], "float32");
    let eps = config["rms_norm_eps"].as_f64().expect("eps");
    assert!((eps - 1e-5).abs() < 1e-9, "{eps}");

    let weights = candle_core::safetensors::load(dir.join("model.safetensors"), &Device::Cpu)
        .expect("load safetensors");
    assert_eq!(weights.len(), 272);
    assert!(!weights.contains_key("lm_head.weight"));
    assert_eq!(weights["model.embed_tokens.weight"].dims(), &[49_152, 576]);
    assert_eq!(
        weights["model.layers.0.self_attn.q_proj.weight"].dims(),
        &[576, 576]
    );
    assert_eq!(
        weights["model.layers.29.self_attn.k_proj.weight"].dims(),
        &[192, 576]
    );
    assert_eq!(
        weights["model.layers.7.mlp.down_proj.weight"].dims(),
        &[576, 1536]
    );
    assert_eq!(weights["model.norm.weight"].dtype(), DType::F32);

    let tcfg: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("tokenizer_config.json")).expect("read"),
    )
    .expect("json");
    assert_eq!(tcfg["bos_token"], "<|im_start|>");
    assert_eq!(tcfg["eos_token"], "<|im_end|>");
    assert_eq!(tcfg["pad_token"], "<|im_end|>");
    assert_eq!(tcfg["add_bos_token"], false);
    assert_eq!(
        tcfg["added_tokens_decoder"]
            .as_object()
            .expect("added tokens")
            .len(),
        17
    );
    assert!(
        tcfg["chat_template"]
            .as_str()
            .expect("template")
            .contains("<|im_start|>")
    );
    let gcfg: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("generation_config.json")).expect("read"),
    )
    .expect("json");
    assert_eq!(gcfg["eos_token_id"], 2);
}

#[test]
fn tokenizer_round_trips_and_keeps_specials_whole() {
    let (dir, _) = common::smollm2::imported("main");
    let tok = ModelTokenizer::from_dir(dir).expect("tokenizer");
    assert_eq!(tok.vocab_size(), 49_152);
    assert_eq!(tok.bos_id(), Some(1));
    assert_eq!(tok.eos_id(), Some(2));
    assert_eq!(tok.pad_id(), Some(2));

    assert_eq!(tok.encode("<|im_start|>", false).expect("enc"), [1]);
    assert_eq!(tok.encode("<|im_end|>", false).expect("enc"), [2]);
    let ids = tok
        .encode("<|im_start|>user\nHi<|im_end|>", false)
        .expect("enc");
    assert_eq!(ids.first(), Some(&1));
    assert_eq!(ids.last(), Some(&2));
    assert_eq!(ids.iter().filter(|&&i| i <= 16).count(), 2);

    // Digits are split one by one.
    let digits = tok.encode("12345", false).expect("enc");
    assert_eq!(digits.len(), 5);
    assert_eq!(tok.decode(&digits[..1], false).expect("dec"), "1");
    // No prefix space: "Hello" at the start is the same token as the vocab's "Hello".
    let hello = tok.encode("Hello", false).expect("enc");
    assert_eq!(hello, [tok.token_id("Hello").expect("Hello in vocab")]);
    assert_ne!(
        tok.encode(" Hello", false).expect("enc"),
        hello,
        "a leading space must be kept"
    );

    for text in [
        "Hello, world!",
        "  leading and trailing spaces  ",
        "line one\nline two\n\n\ttabbed",
        "Prices: 3.14, 1,000,000 and -42.",
        "Ünïcödé: 日本語のテキスト, emoji 🌍🚀, Ελληνικά, русский",
        "def f(x):\n    return x ** 2  # comment",
        "",
    ] {
        let ids = tok.encode(text, false).expect("enc");
        assert_eq!(tok.decode(&ids, false).expect("dec"), text, "{ids:?}");
        let mut stream = tok.stream(false);
        let mut streamed = String::new();
        for &id in &ids {
            if let Some(piece) = stream.push(id).expect("push") {
                assert!(!piece.contains('\u{FFFD}'), "split char in {piece:?}");
                streamed.push_str(&piece);
            }
        }
        if let Some(rest) = stream.finish().expect("finish") {
            streamed.push_str(&rest);
        }
        assert_eq!(streamed, text);
    }
}

#[test]
fn smollm2_chat_template_adds_default_system_prompt() {
    let (dir, _) = common::smollm2::imported("main");
    let template = ChatTemplate::from_model_dir(dir).expect("template");
    let out = template
        .render(&[ChatMessage::user("What is 2+2?")], true)
        .expect("render");
    assert!(out.starts_with("<|im_start|>system\n"), "{out}");
    assert!(
        out.contains("<|im_end|>\n<|im_start|>user\nWhat is 2+2?<|im_end|>\n"),
        "{out}"
    );
    assert!(out.ends_with("<|im_start|>assistant\n"), "{out}");

    let own_system = template
        .render(
            &[ChatMessage::system("Be brief."), ChatMessage::user("Hi")],
            false,
        )
        .expect("render");
    assert_eq!(
        own_system,
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
    );
}

#[test]
fn imported_model_answers_paris() {
    let (dir, _) = common::smollm2::imported("main");
    let tok = ModelTokenizer::from_dir(dir).expect("tokenizer");
    let prompt = ChatTemplate::from_model_dir(dir)
        .expect("template")
        .render(&[ChatMessage::user("What is the capital of France?")], true)
        .expect("render");
    let ids = tok.encode(&prompt, false).expect("encode");
    let model = common::smollm2::load_hf_llama(dir);
    let (_, generated) = model.greedy(&ids, 20);
    let end = generated
        .iter()
        .position(|&id| Some(id) == tok.eos_id())
        .unwrap_or(generated.len());
    let answer = tok.decode(&generated[..end], true).expect("decode");
    assert!(answer.contains("Paris"), "greedy answer: {answer:?}");
}

#[test]
fn failed_import_leaves_nothing_behind() {
    let scratch = tempfile::tempdir().expect("tempdir");
    // A GGUF cut short: the header parses, the tensor data does not.
    let truncated = scratch.path().join("truncated.gguf");
    let mut head = vec![0u8; 8 << 20];
    std::fs::File::open(common::smollm2::gguf_path())
        .and_then(|mut f| f.read_exact(&mut head))
        .expect("read head");
    std::fs::File::create(&truncated)
        .and_then(|mut f| f.write_all(&head))
        .expect("write");
    let out = scratch.path().join("models").join("cut");
    let err = import_gguf(&truncated, &out, DType::F32).expect_err("truncated must fail");
    assert!(err.to_string().contains("truncated.gguf"), "{err}");
    assert!(!out.exists());
    let leftovers: Vec<_> = std::fs::read_dir(scratch.path().join("models"))
        .map(|rd| rd.filter_map(Result::ok).map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(leftovers.is_empty(), "staging left behind: {leftovers:?}");

    // A llama GGUF without its hyper-parameters: the error names the key.
    let bare = scratch.path().join("bare.gguf");
    let arch = Value::String("llama".into());
    let mut f = std::fs::File::create(&bare).expect("create");
    gguf_file::write(&mut f, &[("general.architecture", &arch)], &[]).expect("write gguf");
    drop(f);
    let err = import_gguf(&bare, &scratch.path().join("bare-out"), DType::F32)
        .expect_err("no hyper-parameters");
    match &err {
        ImportError::MissingMetadata { key, path } => {
            assert_eq!(key, "llama.embedding_length");
            assert!(path.ends_with("bare.gguf"));
        }
        other => panic!("expected MissingMetadata, got {other}"),
    }
    assert!(err.to_string().contains("bare.gguf"), "{err}");
}

#[test]
fn import_in_bf16_halves_the_weights() {
    let scratch = tempfile::tempdir().expect("tempdir");
    let out = scratch.path().join("bf16");
    let summary = import_gguf(&common::smollm2::gguf_path(), &out, DType::BF16).expect("import");
    assert_eq!(summary.dtype, DType::BF16);
    let config: HashMap<String, serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(out.join("config.json")).expect("read"))
            .expect("json");
    assert_eq!(config["torch_dtype"], "bfloat16");
    let weights =
        candle_core::safetensors::load(out.join("model.safetensors"), &Device::Cpu).expect("load");
    assert_eq!(
        weights["model.layers.0.mlp.up_proj.weight"].dtype(),
        DType::BF16
    );
    let bytes = std::fs::metadata(out.join("model.safetensors"))
        .expect("meta")
        .len();
    assert!((260_000_000..280_000_000).contains(&bytes), "{bytes}");
}
