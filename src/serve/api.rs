//! The OpenAI chat-completions wire format: a request body checked into a [`ChatJob`],
//! and the answers and errors shaped the way OpenAI clients read them.

use serde::{Deserialize, Serialize};

pub use crate::infer::job::{ApiError, ChatJob, finish_reason};
use crate::model::chat::ChatMessage;

/// Choices one request may ask for; each is a row of one generation batch.
pub const MAX_CHOICES: u32 = 16;
/// OpenAI's own limit on stop sequences.
pub const MAX_STOP: usize = 4;

/// `stop` is a string or a list of strings.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Stop {
    One(String),
    Many(Vec<String>),
}

/// `content` is a string or a list of parts; only text parts carry meaning here.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Content {
    Text(String),
    Parts(Vec<Part>),
}

#[derive(Debug, Deserialize)]
struct Part {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    text: Option<String>,
}

#[derive(Debug, Deserialize)]
struct RawMessage {
    role: String,
    #[serde(default)]
    content: Option<Content>,
}

/// The request as sent. Fields this server does not implement (penalties, logprobs,
/// tools...) are accepted and ignored, as most OpenAI-compatible servers do, so
/// ordinary clients work unchanged.
#[derive(Debug, Deserialize)]
struct RawRequest {
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    messages: Option<Vec<RawMessage>>,
    #[serde(default)]
    temperature: Option<f32>,
    #[serde(default)]
    top_p: Option<f32>,
    #[serde(default)]
    max_tokens: Option<u32>,
    #[serde(default)]
    max_completion_tokens: Option<u32>,
    #[serde(default)]
    stop: Option<Stop>,
    /// OpenAI documents an integer; negative ones are mapped onto u64 bit for bit.
    #[serde(default)]
    seed: Option<i128>,
    #[serde(default)]
    n: Option<u32>,
    #[serde(default)]
    stream: Option<bool>,
    #[serde(default)]
    stream_options: Option<StreamOptions>,
}

#[derive(Debug, Deserialize)]
struct StreamOptions {
    #[serde(default)]
    include_usage: Option<bool>,
}

/// Parses and checks a request body. Every refusal is a 400 naming the field.
pub fn parse_request(body: &[u8]) -> Result<ChatJob, ApiError> {
    let raw: RawRequest = serde_json::from_slice(body).map_err(|e| {
        ApiError::invalid(
            format!("the request body is not a valid chat-completions JSON object: {e}"),
            None,
        )
    })?;
    let stream = raw.stream.unwrap_or(false);
    let include_usage = raw
        .stream_options
        .and_then(|o| o.include_usage)
        .unwrap_or(false);
    let Some(raw_messages) = raw.messages else {
        return Err(ApiError::invalid(
            "`messages` is required",
            Some("messages"),
        ));
    };
    if raw_messages.is_empty() {
        return Err(ApiError::invalid(
            "`messages` must hold at least one message",
            Some("messages"),
        ));
    }
    let mut messages = Vec::with_capacity(raw_messages.len());
    for (i, m) in raw_messages.into_iter().enumerate() {
        messages.push(message(i, m)?);
    }
    let temperature = raw.temperature.unwrap_or(1.0);
    if !(0.0..=2.0).contains(&temperature) {
        return Err(ApiError::invalid(
            format!("`temperature` must be in [0, 2], got {temperature}"),
            Some("temperature"),
        ));
    }
    let top_p = raw.top_p.unwrap_or(1.0);
    if !(top_p > 0.0 && top_p <= 1.0) {
        return Err(ApiError::invalid(
            format!("`top_p` must be in (0, 1], got {top_p}"),
            Some("top_p"),
        ));
    }
    let (max_tokens, max_param) = match (raw.max_completion_tokens, raw.max_tokens) {
        (Some(m), _) => (Some(m), "max_completion_tokens"),
        (None, m) => (m, "max_tokens"),
    };
    if max_tokens == Some(0) {
        return Err(ApiError::invalid(
            format!("`{max_param}` must be at least 1"),
            Some(max_param),
        ));
    }
    let n = raw.n.unwrap_or(1);
    if !(1..=MAX_CHOICES).contains(&n) {
        return Err(ApiError::invalid(
            format!("`n` must be between 1 and {MAX_CHOICES}, got {n}"),
            Some("n"),
        ));
    }
    let stop: Vec<String> = match raw.stop {
        None => Vec::new(),
        Some(Stop::One(s)) => vec![s],
        Some(Stop::Many(list)) => list,
    };
    if stop.len() > MAX_STOP {
        return Err(ApiError::invalid(
            format!(
                "`stop` holds at most {MAX_STOP} sequences, got {}",
                stop.len()
            ),
            Some("stop"),
        ));
    }
    // An empty stop string would match before the first token.
    let stop = stop.into_iter().filter(|s| !s.is_empty()).collect();
    let seed = match raw.seed {
        None => None,
        Some(s) if s >= i128::from(i64::MIN) && s <= i128::from(u64::MAX) => {
            Some(if s < 0 { s as i64 as u64 } else { s as u64 })
        }
        Some(s) => {
            return Err(ApiError::invalid(
                format!("`seed` {s} does not fit in 64 bits"),
                Some("seed"),
            ));
        }
    };
    Ok(ChatJob {
        model: raw.model,
        messages,
        temperature,
        top_p,
        max_tokens,
        stop,
        seed,
        n,
        stream,
        include_usage,
    })
}

fn message(index: usize, raw: RawMessage) -> Result<ChatMessage, ApiError> {
    // Newer OpenAI clients send system prompts as `developer`; local templates know
    // only `system`.
    let role = match raw.role.as_str() {
        "developer" => "system".to_owned(),
        "system" | "user" | "assistant" | "tool" => raw.role,
        // OpenAI refuses a role it does not know rather than guessing.
        other => {
            return Err(ApiError::invalid(
                format!(
                    "messages[{index}].role: {:?} is not one of system, developer, user, \
                     assistant, tool",
                    crate::text::sanitize(other)
                ),
                Some("messages"),
            ));
        }
    };
    let content = match raw.content {
        // Only an assistant turn (one that called tools) may come without content.
        None if role == "assistant" => String::new(),
        None => {
            return Err(ApiError::invalid(
                format!("messages[{index}].content: null or missing for role {role:?}"),
                Some("messages"),
            ));
        }
        Some(Content::Text(text)) => text,
        Some(Content::Parts(parts)) => {
            let mut text = String::new();
            for part in parts {
                match (part.kind.as_str(), part.text) {
                    ("text", Some(t)) => text.push_str(&t),
                    (kind, _) => {
                        return Err(ApiError::invalid(
                            format!(
                                "messages[{index}]: content part of type {kind:?} is not \
                                 supported (text only)"
                            ),
                            Some("messages"),
                        ));
                    }
                }
            }
            text
        }
    };
    Ok(ChatMessage::new(role, content))
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChatCompletion {
    pub id: String,
    pub object: &'static str,
    pub created: u64,
    pub model: String,
    pub choices: Vec<Choice>,
    pub usage: UsageBody,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Choice {
    pub index: u32,
    pub message: AssistantMessage,
    pub finish_reason: &'static str,
    /// Always null: log-probabilities are not returned.
    pub logprobs: Option<()>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AssistantMessage {
    pub role: &'static str,
    pub content: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct UsageBody {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub total_tokens: u64,
}

/// One server-sent event of a streamed answer (`chat.completion.chunk`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChatChunk {
    pub id: String,
    pub object: &'static str,
    pub created: u64,
    pub model: String,
    pub choices: Vec<ChunkChoice>,
    /// Only on the last chunk, and only when the client asked for it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<UsageBody>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChunkChoice {
    pub index: u32,
    pub delta: Delta,
    pub finish_reason: Option<&'static str>,
    pub logprobs: Option<()>,
}

/// What a chunk adds to a choice: the role first, then pieces of content.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Delta {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelList {
    pub object: &'static str,
    pub data: Vec<ModelCard>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelCard {
    pub id: String,
    pub object: &'static str,
    pub created: u64,
    pub owned_by: &'static str,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::infer::FinishReason;

    fn parse(body: &str) -> Result<ChatJob, ApiError> {
        parse_request(body.as_bytes())
    }

    #[test]
    fn a_full_request_is_read_field_by_field() {
        let job = parse(
            r#"{"model":"m","messages":[{"role":"developer","content":"Be brief."},
                {"role":"user","content":[{"type":"text","text":"Hi "},{"type":"text","text":"there"}]},
                {"role":"assistant","content":null}],
                "temperature":0,"top_p":0.9,"max_tokens":7,"max_completion_tokens":5,
                "stop":["\n\n",""],"seed":-1,"n":3,"stream":false,"frequency_penalty":0}"#,
        )
        .unwrap();
        assert_eq!(job.model.as_deref(), Some("m"));
        assert_eq!(
            job.messages,
            vec![
                ChatMessage::system("Be brief."),
                ChatMessage::user("Hi there"),
                ChatMessage::assistant(""),
            ]
        );
        assert_eq!(job.temperature, 0.0);
        assert_eq!(job.top_p, 0.9);
        assert_eq!(job.max_tokens, Some(5), "max_completion_tokens wins");
        assert_eq!(job.stop, vec!["\n\n".to_owned()]);
        assert_eq!(job.seed, Some(u64::MAX));
        assert_eq!(job.n, 3);
        assert!(!job.stream);
        let streamed = parse(
            r#"{"messages":[{"role":"user","content":"x"}],"stream":true,
                "stream_options":{"include_usage":true}}"#,
        )
        .unwrap();
        assert!(streamed.stream && streamed.include_usage);
    }

    #[test]
    fn defaults_follow_openai() {
        let job = parse(r#"{"messages":[{"role":"user","content":"x"}],"stop":"END"}"#).unwrap();
        assert_eq!(job.model, None);
        assert_eq!(job.temperature, 1.0);
        assert_eq!(job.top_p, 1.0);
        assert_eq!(job.max_tokens, None);
        assert_eq!(job.stop, vec!["END".to_owned()]);
        assert_eq!(job.seed, None);
        assert_eq!(job.n, 1);
    }

    #[test]
    fn bad_requests_are_400s_naming_the_field() {
        let cases = [
            ("{not json", None),
            (r#"{"model":"m"}"#, Some("messages")),
            (r#"{"messages":[]}"#, Some("messages")),
            (r#"{"messages":"hi"}"#, None),
            (
                r#"{"messages":[{"role":"user","content":"x"}],"temperature":3}"#,
                Some("temperature"),
            ),
            (
                r#"{"messages":[{"role":"user","content":"x"}],"top_p":0}"#,
                Some("top_p"),
            ),
            (
                r#"{"messages":[{"role":"user","content":"x"}],"n":0}"#,
                Some("n"),
            ),
            (
                r#"{"messages":[{"role":"user","content":"x"}],"n":17}"#,
                Some("n"),
            ),
            (
                r#"{"messages":[{"role":"user","content":"x"}],"max_tokens":0}"#,
                Some("max_tokens"),
            ),
            (
                r#"{"messages":[{"role":"user","content":"x"}],"stop":["a","b","c","d","e"]}"#,
                Some("stop"),
            ),
            (
                r#"{"messages":[{"role":"user","content":[{"type":"image_url"}]}]}"#,
                Some("messages"),
            ),
            (
                r#"{"messages":[{"role":"wizard","content":"x"}]}"#,
                Some("messages"),
            ),
            (
                r#"{"messages":[{"role":"user","content":null}]}"#,
                Some("messages"),
            ),
            (r#"{"messages":[{"role":"system"}]}"#, Some("messages")),
        ];
        for (body, param) in cases {
            let err = parse(body).unwrap_err();
            assert_eq!(err.status, 400, "{body}");
            assert_eq!(err.kind, "invalid_request_error", "{body}");
            assert_eq!(err.param, param, "{body}: {err}");
            let json = err.body();
            assert!(json["error"]["message"].as_str().unwrap().len() > 5);
            assert_eq!(json["error"]["type"], "invalid_request_error");
        }
    }

    #[test]
    fn finish_reasons_map_to_openai_names() {
        assert_eq!(finish_reason(FinishReason::Eos), "stop");
        assert_eq!(finish_reason(FinishReason::Stop), "stop");
        assert_eq!(finish_reason(FinishReason::Length), "length");
    }
}
