//! The OpenAI-compatible chat-completions client (OpenAI, vLLM, SGLang, llama.cpp,
//! Ollama, Gemini's compatible endpoint): bounded concurrency, per-request timeout,
//! retries with exponential backoff and jitter that honour `Retry-After`.
//!
//! The API key is read once from the environment variable the config names. It is
//! sent as a bearer token and nowhere else: no Debug impl prints it and error texts
//! quoting the server's answer have it masked.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rand::Rng;
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;

use super::chat::{Completion, Message, Teacher, TeacherError, Usage};
use crate::workspace::config::TeacherSection;
use crate::workspace::records::Sampling;

/// How much of an error answer is quoted in the error message.
const ERROR_BODY_CHARS: usize = 400;

#[derive(Debug, Clone, PartialEq)]
pub struct ClientConfig {
    /// Up to and including `/v1`; `/chat/completions` is appended.
    pub base_url: String,
    pub model: String,
    /// NAME of the environment variable holding the key; empty sends no key.
    pub api_key_env: String,
    /// Requests in flight at once.
    pub concurrency: usize,
    /// One attempt, from connecting to the last byte of the answer.
    pub timeout: Duration,
    /// Attempts after the first on transient failures.
    pub max_retries: u32,
    /// First backoff; doubles each retry up to `backoff_max`.
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    /// A server's `Retry-After` is honoured up to this long.
    pub retry_after_max: Duration,
}

impl ClientConfig {
    pub fn from_section(section: &TeacherSection) -> Self {
        Self {
            base_url: section.base_url.clone(),
            model: section.model.clone(),
            api_key_env: section.api_key_env.clone(),
            concurrency: section.concurrency,
            timeout: Duration::from_secs(section.timeout_s.max(1)),
            max_retries: section.max_retries,
            backoff_base: Duration::from_millis(500),
            backoff_max: Duration::from_secs(30),
            retry_after_max: Duration::from_secs(300),
        }
    }
}

/// A secret that never shows in Debug output.
struct Secret(String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

#[derive(Debug)]
enum ApiKey {
    /// `api_key_env` is empty: a local server without keys.
    NotConfigured,
    /// The variable is named but unset: no key is sent, and a 401/403 says why.
    Unset {
        env: String,
    },
    Set {
        env: String,
        value: Secret,
    },
}

impl ApiKey {
    fn from_env(env: &str) -> Self {
        if env.is_empty() {
            return Self::NotConfigured;
        }
        match std::env::var(env) {
            Ok(value) if !value.is_empty() => Self::Set {
                env: env.to_owned(),
                value: Secret(value),
            },
            _ => Self::Unset {
                env: env.to_owned(),
            },
        }
    }

    fn mask(&self, text: &str) -> String {
        match self {
            Self::Set { value, .. } => text.replace(&value.0, "<redacted>"),
            _ => text.to_owned(),
        }
    }

    fn hint(&self, status: u16) -> String {
        if !matches!(status, 401 | 403) {
            return String::new();
        }
        match self {
            Self::NotConfigured => " (no API key is sent: teacher.api_key_env is empty)".to_owned(),
            Self::Unset { env } => format!(
                " (no API key was sent: the environment variable {env} named by \
                 teacher.api_key_env is not set)"
            ),
            Self::Set { env, .. } => {
                format!(" (the key in the environment variable {env} was refused)")
            }
        }
    }
}

#[derive(Debug)]
pub struct OpenAiClient {
    http: reqwest::Client,
    endpoint: String,
    model: String,
    key: ApiKey,
    slots: Arc<Semaphore>,
    config: ClientConfig,
    attempts: AtomicU64,
}

#[derive(Serialize)]
struct ChatRequest<'a> {
    model: &'a str,
    messages: &'a [Message],
    temperature: f32,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    seed: Option<u64>,
}

#[derive(Deserialize)]
struct ChatResponse {
    choices: Vec<Choice>,
    #[serde(default)]
    usage: Option<Usage>,
}

#[derive(Deserialize)]
struct Choice {
    message: ChoiceMessage,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct ChoiceMessage {
    #[serde(default)]
    content: Option<String>,
}

/// A failed attempt, with the server's requested wait when it gave one.
struct Failure {
    error: TeacherError,
    retry_after: Option<Duration>,
}

impl From<TeacherError> for Failure {
    fn from(error: TeacherError) -> Self {
        Self {
            error,
            retry_after: None,
        }
    }
}

impl OpenAiClient {
    pub fn new(config: ClientConfig) -> Result<Self, TeacherError> {
        let base = config.base_url.trim_end_matches('/');
        let endpoint = format!("{base}/chat/completions");
        reqwest::Url::parse(&endpoint).map_err(|e| {
            TeacherError::Config(format!(
                "teacher.base_url {:?} is not a URL: {e}",
                config.base_url
            ))
        })?;
        if config.model.is_empty() {
            return Err(TeacherError::Config("teacher.model is empty".into()));
        }
        let concurrency = config.concurrency.max(1);
        let http = reqwest::Client::builder()
            .user_agent(concat!("plantune-tui/", env!("CARGO_PKG_VERSION")))
            .pool_max_idle_per_host(concurrency)
            .connect_timeout(config.timeout.min(Duration::from_secs(30)))
            .build()
            .map_err(|e| TeacherError::Config(format!("cannot build the HTTP client: {e}")))?;
        Ok(Self {
            http,
            endpoint,
            model: config.model.clone(),
            key: ApiKey::from_env(&config.api_key_env),
            slots: Arc::new(Semaphore::new(concurrency)),
            config,
            attempts: AtomicU64::new(0),
        })
    }

    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// HTTP attempts made so far, retries included.
    pub fn http_attempts(&self) -> u64 {
        self.attempts.load(Ordering::Relaxed)
    }

    /// Exponential backoff with jitter in [50%, 100%] of the step, so clients that
    /// failed together do not retry together.
    fn backoff(&self, retry: u32) -> Duration {
        let step = self
            .config
            .backoff_base
            .saturating_mul(1u32 << retry.min(20))
            .min(self.config.backoff_max);
        step.mul_f64(rand::rng().random_range(0.5..=1.0))
    }

    fn transport_error(&self, error: reqwest::Error) -> TeacherError {
        if error.is_timeout() {
            return TeacherError::Timeout {
                endpoint: self.endpoint.clone(),
                seconds: self.config.timeout.as_secs_f64(),
            };
        }
        let mut message = error.to_string();
        let mut source = std::error::Error::source(&error);
        while let Some(cause) = source {
            message.push_str(": ");
            message.push_str(&cause.to_string());
            source = cause.source();
        }
        TeacherError::Connection {
            endpoint: self.endpoint.clone(),
            message: self.key.mask(&message),
        }
    }

    async fn attempt(&self, request: &ChatRequest<'_>) -> Result<Completion, Failure> {
        let _slot = self
            .slots
            .acquire()
            .await
            .map_err(|_| TeacherError::Config("the client was shut down".into()))?;
        self.attempts.fetch_add(1, Ordering::Relaxed);
        let started = Instant::now();
        let mut builder = self
            .http
            .post(&self.endpoint)
            .timeout(self.config.timeout)
            .json(request);
        if let ApiKey::Set { value, .. } = &self.key {
            builder = builder.bearer_auth(&value.0);
        }
        let response = builder.send().await.map_err(|e| self.transport_error(e))?;
        let status = response.status();
        let retry_after = retry_after(response.headers());
        let body = response
            .bytes()
            .await
            .map_err(|e| self.transport_error(e))?;
        let latency = started.elapsed();
        if !status.is_success() {
            let text = String::from_utf8_lossy(&body);
            let quoted: String = text.chars().take(ERROR_BODY_CHARS).collect();
            return Err(Failure {
                error: TeacherError::Status {
                    endpoint: self.endpoint.clone(),
                    status: status.as_u16(),
                    body: self.key.mask(quoted.trim()),
                    hint: self.key.hint(status.as_u16()),
                },
                retry_after,
            });
        }
        Ok(self.parse(&body, latency)?)
    }

    fn parse(&self, body: &[u8], latency: Duration) -> Result<Completion, TeacherError> {
        let malformed = |message: String| TeacherError::MalformedBody {
            endpoint: self.endpoint.clone(),
            message: self.key.mask(&message),
        };
        let response: ChatResponse = serde_json::from_slice(body)
            .map_err(|e| malformed(format!("{e} (body of {} bytes)", body.len())))?;
        let choice =
            response
                .choices
                .into_iter()
                .next()
                .ok_or_else(|| TeacherError::EmptyChoices {
                    endpoint: self.endpoint.clone(),
                })?;
        let text = choice
            .message
            .content
            .ok_or_else(|| malformed("choices[0].message.content is missing or null".into()))?;
        Ok(Completion {
            text,
            finish_reason: choice.finish_reason,
            usage: response.usage.unwrap_or_default(),
            latency,
            attempts: 1,
        })
    }
}

/// `Retry-After` in seconds (the HTTP-date form falls back to our own backoff).
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let value = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    let seconds: f64 = value.trim().parse().ok()?;
    (seconds.is_finite() && seconds >= 0.0).then(|| Duration::from_secs_f64(seconds))
}

impl Teacher for OpenAiClient {
    fn model(&self) -> &str {
        &self.model
    }

    fn label(&self) -> String {
        format!("openai:{}", self.model)
    }

    async fn complete(
        &self,
        messages: &[Message],
        sampling: &Sampling,
    ) -> Result<Completion, TeacherError> {
        let request = ChatRequest {
            model: &self.model,
            messages,
            temperature: sampling.temperature,
            top_p: sampling.top_p,
            max_tokens: sampling.max_tokens,
            seed: sampling.seed,
        };
        let mut attempts = 0u32;
        loop {
            attempts += 1;
            let failure = match self.attempt(&request).await {
                Ok(completion) => {
                    return Ok(Completion {
                        attempts,
                        ..completion
                    });
                }
                Err(failure) => failure,
            };
            if !failure.error.is_retryable() {
                return Err(failure.error);
            }
            if attempts > self.config.max_retries {
                return Err(TeacherError::RetriesExhausted {
                    attempts,
                    last: Box::new(failure.error),
                });
            }
            let wait = match failure.retry_after {
                Some(asked) => asked.min(self.config.retry_after_max),
                None => self.backoff(attempts - 1),
            };
            tokio::time::sleep(wait).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> ClientConfig {
        ClientConfig {
            base_url: "http://127.0.0.1:9/v1/".into(),
            model: "m".into(),
            api_key_env: String::new(),
            concurrency: 2,
            timeout: Duration::from_secs(1),
            max_retries: 3,
            backoff_base: Duration::from_millis(100),
            backoff_max: Duration::from_millis(350),
            retry_after_max: Duration::from_secs(5),
        }
    }

    #[test]
    fn endpoint_appends_the_chat_path_once() {
        let client = OpenAiClient::new(config()).unwrap();
        assert_eq!(client.endpoint(), "http://127.0.0.1:9/v1/chat/completions");
        let bad = OpenAiClient::new(ClientConfig {
            base_url: "not a url".into(),
            ..config()
        });
        assert!(matches!(bad, Err(TeacherError::Config(_))));
    }

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        let client = OpenAiClient::new(config()).unwrap();
        for _ in 0..50 {
            let first = client.backoff(0);
            assert!(first >= Duration::from_millis(50) && first <= Duration::from_millis(100));
            let second = client.backoff(1);
            assert!(second >= Duration::from_millis(100) && second <= Duration::from_millis(200));
            let capped = client.backoff(10);
            assert!(capped >= Duration::from_millis(175) && capped <= Duration::from_millis(350));
        }
    }

    #[test]
    fn retry_after_reads_seconds_only() {
        let mut headers = reqwest::header::HeaderMap::new();
        assert_eq!(retry_after(&headers), None);
        headers.insert(reqwest::header::RETRY_AFTER, "2".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(2)));
        headers.insert(
            reqwest::header::RETRY_AFTER,
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&headers), None);
    }

    #[test]
    fn bodies_without_a_usable_choice_are_errors() {
        let client = OpenAiClient::new(config()).unwrap();
        let ok = br#"{"choices":[{"message":{"content":"hi"},"finish_reason":"stop"}],
                     "usage":{"prompt_tokens":3,"completion_tokens":1}}"#;
        let completion = client.parse(ok, Duration::ZERO).unwrap();
        assert_eq!(completion.text, "hi");
        assert_eq!(completion.usage.completion_tokens, 1);
        assert!(matches!(
            client.parse(br#"{"choices":[]}"#, Duration::ZERO),
            Err(TeacherError::EmptyChoices { .. })
        ));
        assert!(matches!(
            client.parse(br#"{"choices":[{"message":{"content":"#, Duration::ZERO),
            Err(TeacherError::MalformedBody { .. })
        ));
        assert!(matches!(
            client.parse(
                br#"{"choices":[{"message":{"content":null}}]}"#,
                Duration::ZERO
            ),
            Err(TeacherError::MalformedBody { .. })
        ));
    }

    #[test]
    fn debug_output_never_shows_the_key() {
        let key = ApiKey::Set {
            env: "X".into(),
            value: Secret("sk-very-secret".into()),
        };
        let shown = format!("{key:?}");
        assert!(!shown.contains("sk-very-secret"), "{shown}");
        assert_eq!(key.mask("echo sk-very-secret"), "echo <redacted>");
        assert!(key.hint(401).contains('X'));
        assert_eq!(key.hint(500), "");
    }
}
