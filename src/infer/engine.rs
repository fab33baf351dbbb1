//! The model engine that `serve` and the local teacher share: where MODEL points (a model directory, a run, a LoRA
//! adapter over its base), loading it, and one chat job through the model's own chat
//! template and the batched generator. Jobs reach the model one at a time through a
//! bounded queue drained by a dedicated thread, so generation never runs on the async
//! executor and the accept loop never waits for the model.

use std::path::{Path, PathBuf};

use candle_core::{DType, Device};
use tokio::sync::{mpsc, oneshot};

use super::job::{ApiError, ChatJob};
use super::stream_text::StreamedText;
use super::{FinishReason, SamplingParams, generate_streaming, reply_end_ids};
use crate::model::chat::{ChatError, ChatTemplate};
use crate::model::checkpoint::{CONFIG_FILE, load_model};
use crate::model::decoder::Model;
use crate::model::tokenizer::ModelTokenizer;
use crate::workspace::layout::{MODELS_DIR, RUNS_DIR, run_files};

const ADAPTER_CONFIG: &str = "adapter_config.json";

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("model {arg:?} not found; looked for a model directory, a LoRA adapter or a run at: {}",
        tried.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "))]
    NotFound { arg: PathBuf, tried: Vec<PathBuf> },
    #[error(
        "{}: the run has no final model yet (it saves `final/` when it completes; its \
         checkpoints hold training state, not a servable model)",
        run.display()
    )]
    NoFinalModel { run: PathBuf },
    #[error("{}: {message}", path.display())]
    Adapter { path: PathBuf, message: String },
    #[error("loading {}: {message}", dir.display())]
    Load { dir: PathBuf, message: String },
    #[error("starting the model worker: {0}")]
    Worker(std::io::Error),
}

/// What MODEL resolved to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelSource {
    /// A Hugging Face model directory: config, weights, tokenizer, chat template.
    pub base: PathBuf,
    /// A LoRA adapter (PEFT layout) to merge into `base`.
    pub adapter: Option<PathBuf>,
    /// The name the server answers to by default: the run id or the folder's name.
    pub name: String,
}

fn folder_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "model".into())
}

/// Resolves MODEL the way `eval` does (relative to the workspace first, then to the
/// current directory), and also accepts a model's name under the workspace's `models/`
/// (where `model import` puts them), a run (its folder or its id under `runs/`),
/// which serves the run's `final/` model, and a LoRA adapter folder, whose base comes
/// from `base_model_name_or_path`.
pub fn resolve_model(arg: &Path, workspace: Option<&Path>) -> Result<ModelSource, ServeError> {
    let mut candidates = Vec::new();
    if arg.is_absolute() {
        candidates.push(arg.to_path_buf());
    } else {
        if let Some(ws) = workspace {
            candidates.push(ws.join(arg));
            candidates.push(ws.join(MODELS_DIR).join(arg));
            candidates.push(ws.join(RUNS_DIR).join(arg));
        }
        candidates.push(arg.to_path_buf());
    }
    for dir in &candidates {
        if !dir.is_dir() {
            continue;
        }
        if dir.join(CONFIG_FILE).is_file() {
            return Ok(ModelSource {
                base: dir.clone(),
                adapter: None,
                name: folder_name(dir),
            });
        }
        if dir.join(ADAPTER_CONFIG).is_file() {
            return adapter_source(dir, workspace, folder_name(dir));
        }
        if dir.join(run_files::CONFIG).is_file() || dir.join(run_files::EVENTS).is_file() {
            let final_dir = dir.join(run_files::FINAL);
            let name = folder_name(dir);
            if final_dir.join(CONFIG_FILE).is_file() {
                return Ok(ModelSource {
                    base: final_dir,
                    adapter: None,
                    name,
                });
            }
            if final_dir.join(ADAPTER_CONFIG).is_file() {
                return adapter_source(&final_dir, workspace, name);
            }
            return Err(ServeError::NoFinalModel { run: dir.clone() });
        }
    }
    Err(ServeError::NotFound {
        arg: arg.to_path_buf(),
        tried: candidates,
    })
}

fn adapter_source(
    dir: &Path,
    workspace: Option<&Path>,
    name: String,
) -> Result<ModelSource, ServeError> {
    let path = dir.join(ADAPTER_CONFIG);
    let err = |message: String| ServeError::Adapter {
        path: path.clone(),
        message,
    };
    let text = std::fs::read_to_string(&path).map_err(|e| err(e.to_string()))?;
    let config: serde_json::Value = serde_json::from_str(&text).map_err(|e| err(e.to_string()))?;
    let base = config
        .get("base_model_name_or_path")
        .and_then(|v| v.as_str())
        .filter(|s| !s.is_empty())
        .ok_or_else(|| err("no `base_model_name_or_path`: the base model is unknown".into()))?;
    let base = Path::new(base);
    let mut tried = Vec::new();
    if base.is_absolute() {
        tried.push(base.to_path_buf());
    } else {
        if let Some(ws) = workspace {
            tried.push(ws.join(base));
        }
        tried.push(base.to_path_buf());
    }
    match tried.iter().find(|d| d.join(CONFIG_FILE).is_file()) {
        Some(found) => Ok(ModelSource {
            base: found.clone(),
            adapter: Some(dir.to_path_buf()),
            name,
        }),
        None => Err(err(format!(
            "the base model {} is not a local model directory (looked at {})",
            base.display(),
            tried
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// The answer to one job, before it is shaped for the wire.
#[derive(Debug, Clone, PartialEq)]
pub struct Generated {
    pub choices: Vec<(String, FinishReason)>,
    pub prompt_tokens: u64,
    /// Summed over the choices, as OpenAI counts them.
    pub completion_tokens: u64,
}

/// Receives `(choice, piece)` as a streamed answer's text becomes final.
type OnText<'a> = dyn FnMut(u32, &str) + 'a;

/// Something that answers chat jobs on the worker thread: the model, or a test double.
pub trait Backend: Send + 'static {
    fn complete(&self, job: &ChatJob, seed: u64) -> Result<Generated, ApiError>;

    /// [`Backend::complete`], handing each piece of a choice's text to `on_text(choice,
    /// piece)` as soon as it is final. By default the pieces are the whole texts, at
    /// the end.
    fn complete_streaming(
        &self,
        job: &ChatJob,
        seed: u64,
        on_text: &mut dyn FnMut(u32, &str),
    ) -> Result<Generated, ApiError> {
        let generated = self.complete(job, seed)?;
        for (index, (text, _)) in generated.choices.iter().enumerate() {
            on_text(index as u32, text);
        }
        Ok(generated)
    }
}

/// A loaded model with its tokenizer and chat template.
pub struct Engine {
    model: Model,
    tokenizer: ModelTokenizer,
    template: ChatTemplate,
    eos: Vec<u32>,
    pad: u32,
    context: usize,
    default_max_tokens: usize,
}

impl Engine {
    /// Loads `source` in f32 on the CPU; an adapter is merged into the base weights, so
    /// decoding costs the same as for a plain model. `default_max_tokens` applies to
    /// requests that name no limit.
    pub fn load(source: &ModelSource, default_max_tokens: usize) -> Result<Self, ServeError> {
        let dir = &source.base;
        let load_err = |message: String| ServeError::Load {
            dir: dir.clone(),
            message,
        };
        let (mut model, config) =
            load_model(dir, DType::F32, &Device::Cpu).map_err(|e| load_err(e.to_string()))?;
        if let Some(adapter) = &source.adapter {
            let adapter_err = |e: crate::model::decoder_error::DecoderError| ServeError::Adapter {
                path: adapter.clone(),
                message: e.to_string(),
            };
            model.load_lora(adapter).map_err(adapter_err)?;
            model.merge_lora().map_err(adapter_err)?;
        }
        let tokenizer = ModelTokenizer::from_dir(dir).map_err(|e| load_err(e.to_string()))?;
        let template = ChatTemplate::from_model_dir(dir).map_err(|e| load_err(e.to_string()))?;
        let eos = reply_end_ids(dir, &tokenizer, &template);
        if eos.is_empty() {
            return Err(load_err(
                "the tokenizer names no end-of-sequence token: replies would never end".into(),
            ));
        }
        let pad = tokenizer.pad_id().unwrap_or(eos[0]);
        Ok(Self {
            model,
            tokenizer,
            template,
            eos,
            pad,
            context: config.max_position_embeddings,
            default_max_tokens: default_max_tokens.max(1),
        })
    }

    /// The model's context window in tokens.
    pub fn context(&self) -> usize {
        self.context
    }

    /// The prompt as the model sees it: the chat template with the generation prompt,
    /// tokenized without adding special tokens (the template already has them).
    pub fn prompt_ids(&self, job: &ChatJob) -> Result<Vec<u32>, ApiError> {
        let text = self
            .template
            .render(&job.messages, true)
            .map_err(|e| match e {
                ChatError::Raised(message) => ApiError::invalid(
                    format!("the model's chat template refused the messages: {message}"),
                    Some("messages"),
                ),
                other => ApiError::internal(other.to_string()),
            })?;
        let ids = self
            .tokenizer
            .encode(&text, false)
            .map_err(|e| ApiError::internal(e.to_string()))?;
        if ids.is_empty() {
            return Err(ApiError::invalid(
                "the messages render to an empty prompt",
                Some("messages"),
            ));
        }
        Ok(ids)
    }
}

impl Backend for Engine {
    fn complete(&self, job: &ChatJob, seed: u64) -> Result<Generated, ApiError> {
        self.answer(job, seed, None)
    }

    fn complete_streaming(
        &self,
        job: &ChatJob,
        seed: u64,
        on_text: &mut dyn FnMut(u32, &str),
    ) -> Result<Generated, ApiError> {
        self.answer(job, seed, Some(on_text))
    }
}

impl Engine {
    /// One job; with `on_text`, each choice's text is re-decoded after every token to
    /// find what is safe to send, work a non-streamed answer does not pay for.
    fn answer(
        &self,
        job: &ChatJob,
        seed: u64,
        mut on_text: Option<&mut OnText>,
    ) -> Result<Generated, ApiError> {
        let ids = self.prompt_ids(job)?;
        if ids.len() >= self.context {
            return Err(ApiError {
                code: Some("context_length_exceeded"),
                ..ApiError::invalid(
                    format!(
                        "the prompt is {} tokens; the model's context is {} tokens",
                        ids.len(),
                        self.context
                    ),
                    Some("messages"),
                )
            });
        }
        let room = self.context - ids.len();
        let wanted = job
            .max_tokens
            .map_or(self.default_max_tokens, |m| m as usize);
        let params = SamplingParams {
            temperature: job.temperature,
            top_p: job.top_p,
            top_k: 0,
            max_new_tokens: wanted.min(room),
            stop: job.stop.clone(),
            seed,
        };
        let prompt_tokens = ids.len() as u64;
        let prompts = vec![ids; job.n as usize];
        let decode = |t: &[u32]| self.tokenizer.decode(t, true).unwrap_or_default();
        let mut sent = vec![StreamedText::default(); prompts.len()];
        let mut so_far: Vec<Vec<u32>> = vec![Vec::new(); prompts.len()];
        let stops = &params.stop;
        let out = generate_streaming(
            &self.model,
            &prompts,
            &params,
            &self.eos,
            self.pad,
            &decode,
            &mut |row, token| {
                let Some(on_text) = on_text.as_mut() else {
                    return;
                };
                so_far[row].push(token);
                if let Some(piece) = sent[row].advance(&decode(&so_far[row]), stops) {
                    on_text(row as u32, &piece);
                }
            },
        )
        .map_err(|e| ApiError::internal(format!("generation failed: {e}")))?;
        if let Some(on_text) = on_text.as_mut() {
            for (row, generation) in out.iter().enumerate() {
                if let Some(piece) = sent[row].finish(&generation.text) {
                    on_text(row as u32, &piece);
                }
            }
        }
        Ok(Generated {
            completion_tokens: out.iter().map(|g| g.tokens.len() as u64).sum(),
            choices: out.into_iter().map(|g| (g.text, g.finish)).collect(),
            prompt_tokens,
        })
    }
}

struct Work {
    job: ChatJob,
    seed: u64,
    /// Where pieces of text go while a streamed job generates.
    pieces: Option<mpsc::UnboundedSender<(u32, String)>>,
    reply: oneshot::Sender<Result<Generated, ApiError>>,
}

/// A streamed job in flight: pieces of text per choice, then the whole answer.
pub struct Streaming {
    pub pieces: mpsc::UnboundedReceiver<(u32, String)>,
    pub answer: oneshot::Receiver<Result<Generated, ApiError>>,
}

/// The bounded queue in front of the model.
#[derive(Clone)]
pub struct Queue {
    tx: mpsc::Sender<Work>,
    capacity: usize,
}

impl Queue {
    /// Waits for the job's turn and its answer. A full queue is refused at once (503)
    /// rather than holding the connection for an unbounded time.
    pub async fn submit(&self, job: ChatJob, seed: u64) -> Result<Generated, ApiError> {
        let (reply, answer) = oneshot::channel();
        self.enqueue(Work {
            job,
            seed,
            pieces: None,
            reply,
        })?;
        answer
            .await
            .map_err(|_| ApiError::internal("the model worker stopped before answering"))?
    }

    /// Queues a job whose text is handed over piece by piece while it generates.
    pub fn submit_streaming(&self, job: ChatJob, seed: u64) -> Result<Streaming, ApiError> {
        let (reply, answer) = oneshot::channel();
        let (tx, pieces) = mpsc::unbounded_channel();
        self.enqueue(Work {
            job,
            seed,
            pieces: Some(tx),
            reply,
        })?;
        Ok(Streaming { pieces, answer })
    }

    fn enqueue(&self, work: Work) -> Result<(), ApiError> {
        self.tx.try_send(work).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => ApiError::overloaded(self.capacity),
            mpsc::error::TrySendError::Closed(_) => {
                ApiError::internal("the model worker has stopped")
            }
        })
    }
}

/// Starts the thread that owns `backend` and answers jobs in arrival order. It ends
/// when every [`Queue`] handle is dropped, after the jobs already queued.
pub fn spawn_worker<B: Backend>(
    backend: B,
    capacity: usize,
) -> Result<(Queue, std::thread::JoinHandle<()>), ServeError> {
    let capacity = capacity.max(1);
    let (tx, mut rx) = mpsc::channel::<Work>(capacity);
    let handle = std::thread::Builder::new()
        .name("serve-model".into())
        .spawn(move || {
            while let Some(work) = rx.blocking_recv() {
                // The client hung up while it waited: its answer would go nowhere.
                if work.reply.is_closed() {
                    continue;
                }
                let outcome =
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| match &work.pieces {
                        None => backend.complete(&work.job, work.seed),
                        Some(tx) => backend.complete_streaming(
                            &work.job,
                            work.seed,
                            &mut |choice, piece| {
                                let _ = tx.send((choice, piece.to_owned()));
                            },
                        ),
                    }))
                    .unwrap_or_else(|_| {
                        Err(ApiError::internal("the model panicked on this request"))
                    });
                let _ = work.reply.send(outcome);
            }
        })
        .map_err(ServeError::Worker)?;
    Ok((Queue { tx, capacity }, handle))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(path: &Path, text: &str) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    #[test]
    fn model_paths_resolve_like_eval_plus_runs_and_adapters() {
        let tmp = tempfile::tempdir().unwrap();
        let ws = tmp.path().join("ws");
        touch(&ws.join("models/base/config.json"), "{}");
        touch(&ws.join("runs/r1/run.toml"), "");
        touch(&ws.join("runs/r1/final/config.json"), "{}");
        touch(&ws.join("runs/r2/run.toml"), "");
        touch(&ws.join("runs/r3/run.toml"), "");
        touch(
            &ws.join("runs/r3/final/adapter_config.json"),
            &format!(
                r#"{{"peft_type":"LORA","base_model_name_or_path":"{}"}}"#,
                ws.join("models/base").display()
            ),
        );
        let plain = resolve_model(Path::new("models/base"), Some(&ws)).unwrap();
        assert_eq!(plain.base, ws.join("models/base"));
        assert_eq!(plain.adapter, None);
        assert_eq!(plain.name, "base");
        let by_name = resolve_model(Path::new("base"), Some(&ws)).unwrap();
        assert_eq!(by_name, plain);

        let run = resolve_model(Path::new("r1"), Some(&ws)).unwrap();
        assert_eq!(run.base, ws.join("runs/r1/final"));
        assert_eq!(run.name, "r1");
        let by_path = resolve_model(&ws.join("runs/r1"), None).unwrap();
        assert_eq!(by_path, run);

        let lora = resolve_model(Path::new("runs/r3"), Some(&ws)).unwrap();
        assert_eq!(lora.base, ws.join("models/base"));
        assert_eq!(lora.adapter, Some(ws.join("runs/r3/final")));
        assert_eq!(lora.name, "r3");

        assert!(matches!(
            resolve_model(Path::new("r2"), Some(&ws)),
            Err(ServeError::NoFinalModel { .. })
        ));
        let missing = resolve_model(Path::new("nope"), Some(&ws)).unwrap_err();
        assert!(matches!(missing, ServeError::NotFound { ref tried, .. } if tried.len() == 4));
        assert!(missing.to_string().contains("nope"), "{missing}");
    }
}
