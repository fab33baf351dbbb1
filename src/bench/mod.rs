//! Benchmarks behind `plantune-tui bench ...`: speed and memory targets are measured
//! here, never in timed unit tests.

pub mod cases;
pub mod flops;
pub mod gpu_check;
pub mod grpo;
pub mod ours;
pub mod random;
pub mod store;
pub mod table;
pub mod torch;
pub mod tui;

use std::path::{Path, PathBuf};

/// Peak resident set size of this process so far, in MiB (Linux; `None` elsewhere).
pub fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// The Hugging Face directory both sides of the model benchmarks load: the SmolLM2
/// GGUF imported to f32 once, into the cache. Both sides reading the same files is
/// what makes their numbers comparable.
pub fn default_model_dir(cache_dir: &Path) -> anyhow::Result<PathBuf> {
    let out = cache_dir.join("models").join("SmolLM2-135M-Instruct-f32");
    if out.join("config.json").is_file() {
        return Ok(out);
    }
    let gguf = crate::model::smollm2::gguf_path(cache_dir);
    if !gguf.is_file() {
        anyhow::bail!(
            "{} not found: pass --model DIR, or fetch the GGUF with {}",
            gguf.display(),
            crate::model::smollm2::fetch_hint(&cache_dir.join("models"))
        );
    }
    eprintln!("importing {} to {}", gguf.display(), out.display());
    crate::model::gguf::import_gguf(&gguf, &out, candle_core::DType::F32)?;
    Ok(out)
}
