//! What every teacher speaks: chat messages in, one completion out. The distill
//! pipeline runs over this trait, so the HTTP client, a local model and the scripted
//! fakes of the tests are interchangeable.

use std::future::Future;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::workspace::records::Sampling;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    User,
    Assistant,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub role: Role,
    pub content: String,
}

impl Message {
    pub fn user(content: impl Into<String>) -> Self {
        Self {
            role: Role::User,
            content: content.into(),
        }
    }

    pub fn system(content: impl Into<String>) -> Self {
        Self {
            role: Role::System,
            content: content.into(),
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Usage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
}

/// One teacher answer with its cost.
#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    pub text: String,
    /// `stop`, `length` (cut by `max_tokens`)... as the server reports it.
    pub finish_reason: Option<String>,
    pub usage: Usage,
    /// Time of the attempt that succeeded (zero for an answer served from the cache).
    pub latency: Duration,
    /// HTTP attempts made, retries included (zero when served from the cache).
    pub attempts: u32,
}

#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum TeacherError {
    #[error("teacher request to {endpoint} failed with HTTP {status}: {body}{hint}")]
    Status {
        endpoint: String,
        status: u16,
        /// The start of the server's answer, with the API key masked.
        body: String,
        /// Extra advice, e.g. that the key's environment variable is unset.
        hint: String,
    },
    #[error("teacher request to {endpoint} timed out after {seconds:.1} s")]
    Timeout { endpoint: String, seconds: f64 },
    #[error("teacher request to {endpoint} lost its connection: {message}")]
    Connection { endpoint: String, message: String },
    #[error("teacher answer from {endpoint} is not chat-completions JSON: {message}")]
    MalformedBody { endpoint: String, message: String },
    #[error("teacher answer from {endpoint} has an empty `choices` list")]
    EmptyChoices { endpoint: String },
    #[error("teacher gave up after {attempts} attempts; last error: {last}")]
    RetriesExhausted {
        attempts: u32,
        last: Box<TeacherError>,
    },
    #[error("teacher configuration: {0}")]
    Config(String),
    /// Failures of teachers that do not speak HTTP (local models, fakes).
    #[error("teacher failed: {0}")]
    Other(String),
}

impl TeacherError {
    /// Transient failures worth another attempt: rate limits, server errors, timeouts
    /// and dropped connections. Other 4xx and unreadable answers would fail the same way.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Status { status, .. } => *status == 429 || (500..600).contains(status),
            Self::Timeout { .. } | Self::Connection { .. } => true,
            _ => false,
        }
    }
}

/// A model that answers chat messages.
pub trait Teacher: Send + Sync {
    /// The model name the answers come from; part of every cache key.
    fn model(&self) -> &str;

    /// How candidates record this teacher, e.g. `openai:gpt-4o-mini`.
    fn label(&self) -> String;

    /// One answer to `messages`, sampled with `sampling` (its `model` field is ignored:
    /// the teacher answers with its own).
    fn complete(
        &self,
        messages: &[Message],
        sampling: &Sampling,
    ) -> impl Future<Output = Result<Completion, TeacherError>> + Send;
}
