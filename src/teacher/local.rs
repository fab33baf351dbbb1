//! A teacher that runs a model in this process (`teacher.kind = "local"`), so a
//! student, an imported GGUF or any model directory can write trajectories without a
//! server. It drives the same engine and queue as `plantune-tui serve`: one worker
//! thread owns the model and answers the distill pipeline's calls in arrival order.

use std::path::Path;
use std::time::Instant;

use super::chat::{Completion, Message, Role, Teacher, TeacherError, Usage};
use crate::infer::engine::{Engine, Queue, ServeError, resolve_model, spawn_worker};
use crate::infer::job::{ChatJob, finish_reason};
use crate::model::chat::ChatMessage;
use crate::workspace::records::Sampling;

/// Calls waiting beyond this are refused; the pipeline's concurrency stays far below.
const QUEUE_CAPACITY: usize = 256;
/// For calls that name no `max_tokens`; the distill settings always name one.
const DEFAULT_MAX_TOKENS: usize = 512;

pub struct LocalTeacher {
    queue: Queue,
    model: String,
}

impl LocalTeacher {
    /// Loads `model` (a model directory, a run, or a name under the workspace's
    /// `models/`, as `serve` resolves it) and starts its worker thread. The worker ends
    /// when the teacher is dropped.
    pub fn load(model: &Path, workspace: Option<&Path>) -> Result<Self, ServeError> {
        let source = resolve_model(model, workspace)?;
        let engine = Engine::load(&source, DEFAULT_MAX_TOKENS)?;
        let (queue, _worker) = spawn_worker(engine, QUEUE_CAPACITY)?;
        Ok(Self {
            queue,
            model: source.name,
        })
    }
}

fn role_name(role: Role) -> &'static str {
    match role {
        Role::System => "system",
        Role::User => "user",
        Role::Assistant => "assistant",
    }
}

impl Teacher for LocalTeacher {
    fn model(&self) -> &str {
        &self.model
    }

    fn label(&self) -> String {
        format!("local:{}", self.model)
    }

    async fn complete(
        &self,
        messages: &[Message],
        sampling: &Sampling,
    ) -> Result<Completion, TeacherError> {
        let job = ChatJob {
            model: None,
            messages: messages
                .iter()
                .map(|m| ChatMessage::new(role_name(m.role), m.content.clone()))
                .collect(),
            temperature: sampling.temperature,
            top_p: sampling.top_p.unwrap_or(1.0),
            max_tokens: sampling.max_tokens,
            stop: Vec::new(),
            seed: sampling.seed,
            n: 1,
            stream: false,
            include_usage: false,
        };
        let started = Instant::now();
        let generated = self
            .queue
            .submit(job, sampling.seed.unwrap_or(0))
            .await
            .map_err(|e| {
                TeacherError::Other(format!("local model {}: {}", self.model, e.message))
            })?;
        let (text, finish) = generated.choices.into_iter().next().ok_or_else(|| {
            TeacherError::Other(format!("local model {} returned no choice", self.model))
        })?;
        Ok(Completion {
            text,
            finish_reason: Some(finish_reason(finish).to_owned()),
            usage: Usage {
                prompt_tokens: generated.prompt_tokens,
                completion_tokens: generated.completion_tokens,
            },
            latency: started.elapsed(),
            attempts: 1,
        })
    }
}
