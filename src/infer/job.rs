//! One chat job for the model engine, and its error, in OpenAI's shapes: the HTTP
//! server parses requests into a [`ChatJob`] and sends an [`ApiError`] back as its error
//! body; the local teacher builds jobs directly and reads the same errors.

use crate::infer::FinishReason;
use crate::model::chat::ChatMessage;

/// An error answer: `{"error": {"message", "type", "param", "code"}}` with its status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{status} {kind}: {message}")]
pub struct ApiError {
    pub status: u16,
    pub kind: &'static str,
    pub message: String,
    pub param: Option<&'static str>,
    pub code: Option<&'static str>,
}

impl ApiError {
    pub fn invalid(message: impl Into<String>, param: Option<&'static str>) -> Self {
        Self {
            status: 400,
            kind: "invalid_request_error",
            message: message.into(),
            param,
            code: None,
        }
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self {
            status: 404,
            kind: "invalid_request_error",
            message: message.into(),
            param: None,
            code: Some("not_found"),
        }
    }

    pub fn method_not_allowed(message: impl Into<String>) -> Self {
        Self {
            status: 405,
            kind: "invalid_request_error",
            message: message.into(),
            param: None,
            code: Some("method_not_allowed"),
        }
    }

    /// The body did not arrive within the server's body timeout (a stalled client).
    pub fn body_timeout(timeout: std::time::Duration) -> Self {
        Self {
            status: 408,
            kind: "invalid_request_error",
            message: format!(
                "the request body did not arrive within {:.1} s",
                timeout.as_secs_f64()
            ),
            param: None,
            code: Some("request_timeout"),
        }
    }

    pub fn too_large(limit: usize) -> Self {
        Self {
            status: 413,
            kind: "invalid_request_error",
            message: format!("the request body is larger than {limit} bytes"),
            param: None,
            code: Some("request_too_large"),
        }
    }

    /// The queue in front of the model is full: clients should retry later (the
    /// project's own client retries 503s with backoff).
    pub fn overloaded(queued: usize) -> Self {
        Self {
            status: 503,
            kind: "server_overloaded",
            message: format!("{queued} requests are already waiting for the model; retry later"),
            param: None,
            code: Some("overloaded"),
        }
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self {
            status: 500,
            kind: "server_error",
            message: message.into(),
            param: None,
            code: None,
        }
    }

    pub fn body(&self) -> serde_json::Value {
        serde_json::json!({
            "error": {
                "message": self.message,
                "type": self.kind,
                "param": self.param,
                "code": self.code,
            }
        })
    }
}

/// A checked request, ready for the model.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatJob {
    /// The model name the client asked for (echoed in the answer).
    pub model: Option<String>,
    pub messages: Vec<ChatMessage>,
    /// 0 = greedy.
    pub temperature: f32,
    pub top_p: f32,
    /// `max_completion_tokens`, else `max_tokens`; `None` = the server's default.
    pub max_tokens: Option<u32>,
    pub stop: Vec<String>,
    pub seed: Option<u64>,
    pub n: u32,
    /// Answer as server-sent events, one chunk per piece of text.
    pub stream: bool,
    /// With `stream`: a last chunk carrying the token usage.
    pub include_usage: bool,
}

/// OpenAI's two reasons: EOS and a stop string are both a natural `stop`.
pub fn finish_reason(reason: FinishReason) -> &'static str {
    match reason {
        FinishReason::Eos | FinishReason::Stop => "stop",
        FinishReason::Length => "length",
    }
}
