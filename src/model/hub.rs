//! Downloading a Hugging Face model directory (config, tokenizer, safetensors)
//! from the Hub, honouring `HF_ENDPOINT`, `HF_HOME` and the Hub token.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use hf_hub::api::sync::{ApiBuilder, ApiError};

/// Small files fetched when the repository has them.
const OPTIONAL_FILES: [&str; 4] = [
    "tokenizer_config.json",
    "generation_config.json",
    "special_tokens_map.json",
    "chat_template.jinja",
];
const SHARD_INDEX: &str = "model.safetensors.index.json";

#[derive(Debug, thiserror::Error)]
pub enum HubError {
    #[error(
        "cannot reach the Hugging Face Hub at {endpoint} for `{repo}` (offline or no network?): \
         {message}. Without network, import a local GGUF with `plantune-tui model import FILE.gguf`."
    )]
    Network {
        repo: String,
        endpoint: String,
        message: String,
    },
    #[error(
        "the Hub answered HTTP {status} for `{repo}` file `{file}` (private, gated or misspelled repo?)"
    )]
    Http {
        repo: String,
        file: String,
        status: u16,
    },
    #[error("`{repo}` has no {what}")]
    MissingFile { repo: String, what: String },
    #[error("downloading `{file}` of `{repo}`: {message}")]
    Download {
        repo: String,
        file: String,
        message: String,
    },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: bad shard index: {message}")]
    BadIndex { path: PathBuf, message: String },
    #[error("{path} already exists and is not empty; choose another output directory")]
    OutputExists { path: PathBuf },
}

fn endpoint() -> String {
    std::env::var("HF_ENDPOINT").unwrap_or_else(|_| "https://huggingface.co".to_string())
}

fn classify(repo: &str, file: &str, err: ApiError) -> HubError {
    match err {
        ApiError::RequestError(boxed) => match *boxed {
            ureq::Error::Status(status, _) => HubError::Http {
                repo: repo.into(),
                file: file.into(),
                status,
            },
            ureq::Error::Transport(t) => HubError::Network {
                repo: repo.into(),
                endpoint: endpoint(),
                message: t.to_string(),
            },
        },
        ApiError::TooManyRetries(inner) => classify(repo, file, *inner),
        other => HubError::Download {
            repo: repo.into(),
            file: file.into(),
            message: other.to_string(),
        },
    }
}

/// The shard files named by a `model.safetensors.index.json`.
fn shards_from_index(path: &Path) -> Result<BTreeSet<String>, HubError> {
    let text = std::fs::read_to_string(path).map_err(|source| HubError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let index: serde_json::Value = serde_json::from_str(&text).map_err(|e| HubError::BadIndex {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    let map = index
        .get("weight_map")
        .and_then(|m| m.as_object())
        .ok_or_else(|| HubError::BadIndex {
            path: path.to_path_buf(),
            message: "no `weight_map` object".into(),
        })?;
    map.values()
        .map(|v| {
            v.as_str()
                .map(str::to_string)
                .ok_or_else(|| HubError::BadIndex {
                    path: path.to_path_buf(),
                    message: "a `weight_map` value is not a file name".into(),
                })
        })
        .collect()
}

/// Removes the staging directory unless the download reached its final rename.
struct Staging {
    dir: PathBuf,
    keep: bool,
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.keep {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// Downloads the model repository `repo` (e.g. `HuggingFaceTB/SmolLM2-135M-Instruct`)
/// into `out_dir`: `config.json`, the tokenizer files and the safetensors weights
/// (single file, or index plus shards). Files go through the Hugging Face cache
/// and are copied into a staging directory renamed into place at the end.
/// Returns `out_dir`.
pub fn download_model(repo: &str, out_dir: &Path) -> Result<PathBuf, HubError> {
    if out_dir.exists() {
        let mut entries = std::fs::read_dir(out_dir).map_err(|source| HubError::Io {
            path: out_dir.to_path_buf(),
            source,
        })?;
        if entries.next().is_some() {
            return Err(HubError::OutputExists {
                path: out_dir.to_path_buf(),
            });
        }
    }
    let api = ApiBuilder::from_env()
        .with_progress(false)
        .build()
        .map_err(|e| classify(repo, "(client)", e))?;
    let hub_repo = api.model(repo.to_string());
    let info = hub_repo
        .info()
        .map_err(|e| classify(repo, "(repo info)", e))?;
    let listed: BTreeSet<&str> = info.siblings.iter().map(|s| s.rfilename.as_str()).collect();

    let mut wanted: Vec<String> = Vec::new();
    for required in ["config.json", "tokenizer.json"] {
        if !listed.contains(required) {
            return Err(HubError::MissingFile {
                repo: repo.into(),
                what: format!("`{required}`"),
            });
        }
        wanted.push(required.into());
    }
    wanted.extend(
        OPTIONAL_FILES
            .iter()
            .filter(|f| listed.contains(**f))
            .map(|f| f.to_string()),
    );

    let mut fetched: Vec<(String, PathBuf)> = Vec::new();
    if listed.contains("model.safetensors") {
        wanted.push("model.safetensors".into());
    } else if listed.contains(SHARD_INDEX) {
        let index = hub_repo
            .get(SHARD_INDEX)
            .map_err(|e| classify(repo, SHARD_INDEX, e))?;
        wanted.extend(shards_from_index(&index)?);
        fetched.push((SHARD_INDEX.into(), index));
    } else {
        return Err(HubError::MissingFile {
            repo: repo.into(),
            what: "safetensors weights (model.safetensors or model.safetensors.index.json)".into(),
        });
    }
    for file in wanted {
        let path = hub_repo.get(&file).map_err(|e| classify(repo, &file, e))?;
        fetched.push((file, path));
    }

    let parent = match out_dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| HubError::Io { path, source }
    };
    std::fs::create_dir_all(&parent).map_err(io(&parent))?;
    let leaf = out_dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "model".into());
    let mut staging = Staging {
        dir: parent.join(format!(".{leaf}.download-{}", std::process::id())),
        keep: false,
    };
    if staging.dir.exists() {
        std::fs::remove_dir_all(&staging.dir).map_err(io(&staging.dir))?;
    }
    std::fs::create_dir_all(&staging.dir).map_err(io(&staging.dir))?;
    for (name, src) in &fetched {
        let dest = staging.dir.join(name);
        if let Some(dir) = dest.parent() {
            std::fs::create_dir_all(dir).map_err(io(dir))?;
        }
        std::fs::copy(src, &dest).map_err(io(&dest))?;
        std::fs::File::open(&dest)
            .and_then(|f| f.sync_all())
            .map_err(io(&dest))?;
    }
    if out_dir.exists() {
        std::fs::remove_dir(out_dir).map_err(io(out_dir))?;
    }
    std::fs::rename(&staging.dir, out_dir).map_err(io(out_dir))?;
    staging.keep = true;
    Ok(out_dir.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_index_lists_each_file_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(SHARD_INDEX);
        std::fs::write(
            &path,
            r#"{"metadata": {}, "weight_map": {"a": "model-00001-of-00002.safetensors",
                "b": "model-00002-of-00002.safetensors", "c": "model-00001-of-00002.safetensors"}}"#,
        )
        .expect("write");
        let shards = shards_from_index(&path).expect("index");
        assert_eq!(
            shards.into_iter().collect::<Vec<_>>(),
            [
                "model-00001-of-00002.safetensors",
                "model-00002-of-00002.safetensors"
            ]
        );
        std::fs::write(&path, r#"{"metadata": {}}"#).expect("write");
        let err = shards_from_index(&path).expect_err("no weight_map");
        assert!(err.to_string().contains("weight_map"), "{err}");
    }
}
