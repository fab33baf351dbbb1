//! A teacher check for `doctor`: a few tiny requests to the configured endpoint that
//! say whether it answers, how fast, which model it echoes, and whether it honours
//! `n`, `seed` and streaming — the features distillation leans on for diverse plans.

use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::{Value, json};

use super::chat::TeacherError;
use super::client::ClientConfig;

/// Whether the server honours a request feature, as far as the probe could tell.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Verdict {
    Yes,
    No(String),
    Unclear(String),
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Yes => f.write_str("yes"),
            Self::No(why) => write!(f, "no ({why})"),
            Self::Unclear(why) => write!(f, "unclear ({why})"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProbeReport {
    pub endpoint: String,
    /// Time of the first request, from sending to the last byte.
    pub latency: Duration,
    /// The `model` field of the answer, when the server sends one.
    pub model_echoed: Option<String>,
    pub n: Verdict,
    pub seed: Verdict,
    pub streaming: Verdict,
}

/// The prompt: short, and open enough that sampling can vary the answer.
const PROMPT: &str = "Name one animal. Reply with one word.";
const MAX_TOKENS: u32 = 8;

struct Prober {
    http: reqwest::Client,
    endpoint: String,
    model: String,
    key: Option<String>,
}

impl Prober {
    async fn post(
        &self,
        extra: Value,
    ) -> Result<(reqwest::header::HeaderMap, String), TeacherError> {
        let mut body = json!({
            "model": self.model,
            "messages": [{"role": "user", "content": PROMPT}],
            "temperature": 1.0,
            "max_tokens": MAX_TOKENS,
        });
        if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
            body.extend(extra.clone());
        }
        let mut request = self.http.post(&self.endpoint).json(&body);
        if let Some(key) = &self.key {
            request = request.bearer_auth(key);
        }
        let connection = |e: reqwest::Error| TeacherError::Connection {
            endpoint: self.endpoint.clone(),
            message: e.to_string(),
        };
        let response = request.send().await.map_err(connection)?;
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.map_err(connection)?;
        if !status.is_success() {
            return Err(TeacherError::Status {
                endpoint: self.endpoint.clone(),
                status: status.as_u16(),
                body: text.chars().take(200).collect(),
                hint: String::new(),
            });
        }
        Ok((headers, text))
    }

    async fn json(&self, extra: Value) -> Result<Value, TeacherError> {
        let (_, text) = self.post(extra).await?;
        serde_json::from_str(&text).map_err(|e| TeacherError::MalformedBody {
            endpoint: self.endpoint.clone(),
            message: e.to_string(),
        })
    }

    /// The first choice's text of a one-choice request with `seed`.
    async fn text_with_seed(&self, seed: u64) -> Result<String, TeacherError> {
        let answer = self.json(json!({"seed": seed})).await?;
        Ok(answer["choices"][0]["message"]["content"]
            .as_str()
            .unwrap_or_default()
            .to_owned())
    }
}

/// Probes the endpoint of `config`. Errors only when the first request fails; the
/// later checks report what they saw.
pub async fn probe(config: &ClientConfig) -> Result<ProbeReport, TeacherError> {
    let base = config.base_url.trim_end_matches('/');
    let key = (!config.api_key_env.is_empty())
        .then(|| std::env::var(&config.api_key_env).ok())
        .flatten()
        .filter(|k| !k.is_empty());
    let prober = Prober {
        http: reqwest::Client::builder()
            .timeout(config.timeout)
            .build()
            .map_err(|e| TeacherError::Config(e.to_string()))?,
        endpoint: format!("{base}/chat/completions"),
        model: config.model.clone(),
        key,
    };
    let started = Instant::now();
    let first = prober.json(json!({"n": 2, "seed": 1})).await?;
    let latency = started.elapsed();
    let model_echoed = first["model"].as_str().map(str::to_owned);
    let n = match first["choices"].as_array().map(Vec::len) {
        Some(2) => Verdict::Yes,
        Some(count) => Verdict::No(format!("asked for 2 choices, got {count}")),
        None => Verdict::Unclear("no `choices` list".into()),
    };
    let seed = seed_verdict(&prober).await;
    let streaming = match prober.post(json!({"stream": true})).await {
        Ok((headers, text)) => {
            let event_stream = headers
                .get(reqwest::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.starts_with("text/event-stream"));
            if event_stream || text.trim_start().starts_with("data:") {
                Verdict::Yes
            } else {
                Verdict::No("answered one JSON body".into())
            }
        }
        Err(e) => Verdict::No(e.to_string()),
    };
    Ok(ProbeReport {
        endpoint: prober.endpoint,
        latency,
        model_echoed,
        n,
        seed,
        streaming,
    })
}

/// Same seed twice and another seed, at temperature 1: a server that honours `seed`
/// repeats itself for the same seed and (almost always) not for another.
async fn seed_verdict(prober: &Prober) -> Verdict {
    let texts = async {
        Ok::<_, TeacherError>((
            prober.text_with_seed(11).await?,
            prober.text_with_seed(11).await?,
            prober.text_with_seed(12).await?,
        ))
    };
    match texts.await {
        Err(e) => Verdict::Unclear(e.to_string()),
        Ok((a, again, other)) if a == again && a != other => Verdict::Yes,
        Ok((a, again, _)) if a != again => {
            Verdict::No("the same seed gave two different answers".into())
        }
        Ok(_) => Verdict::No(
            "different seeds at temperature 1 gave the same answer: seed and temperature \
             seem ignored"
                .into(),
        ),
    }
}
