use std::sync::Mutex;
use std::time::Duration;

use super::*;
use crate::infer::FinishReason;

/// Answers with the last message reversed, after `delay`, so the HTTP layer can be
/// tested without a model.
pub(super) struct Echo {
    pub(super) delay: Duration,
}

impl Backend for Echo {
    fn complete(&self, job: &ChatJob, seed: u64) -> Result<Generated, ApiError> {
        std::thread::sleep(self.delay);
        let last = job.messages.last().map(|m| m.content.clone());
        let text: String = last.unwrap_or_default().chars().rev().collect();
        Ok(Generated {
            choices: (0..job.n)
                .map(|i| (format!("{text} {}", seed + u64::from(i)), FinishReason::Eos))
                .collect(),
            prompt_tokens: 10,
            completion_tokens: 3 * u64::from(job.n),
        })
    }

    /// Word by word, so a streamed answer arrives in several pieces.
    fn complete_streaming(
        &self,
        job: &ChatJob,
        seed: u64,
        on_text: &mut dyn FnMut(u32, &str),
    ) -> Result<Generated, ApiError> {
        let generated = self.complete(job, seed)?;
        for (index, (text, _)) in generated.choices.iter().enumerate() {
            for (i, word) in text.split(' ').enumerate() {
                let piece = if i == 0 {
                    word.to_owned()
                } else {
                    format!(" {word}")
                };
                on_text(index as u32, &piece);
            }
        }
        Ok(generated)
    }
}

pub(super) struct Running {
    pub(super) base: String,
    pub(super) stop: Option<tokio::sync::oneshot::Sender<()>>,
    pub(super) server: tokio::task::JoinHandle<std::io::Result<()>>,
    logs: Arc<Mutex<Vec<RequestLog>>>,
}

async fn start(delay: Duration, capacity: usize) -> Running {
    start_with(delay, capacity, Limits::default()).await
}

pub(super) async fn start_with(delay: Duration, capacity: usize, limits: Limits) -> Running {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/v1", listener.local_addr().unwrap());
    let (queue, _worker) = crate::infer::engine::spawn_worker(Echo { delay }, capacity).unwrap();
    let logs = Arc::new(Mutex::new(Vec::new()));
    let sink = logs.clone();
    let log: LogSink = Arc::new(move |l: &RequestLog| sink.lock().unwrap().push(l.clone()));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let info = ServerInfo {
        model_name: "echo".into(),
        max_body: 1024,
        limits,
    };
    let server = tokio::spawn(serve(listener, queue, info, log, async {
        let _ = stopped.await;
    }));
    Running {
        base,
        stop: Some(stop),
        server,
        logs,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_openai_shapes_and_errors() {
    let mut running = start(Duration::ZERO, 4).await;
    let http = reqwest::Client::new();
    let base = &running.base;

    let models: serde_json::Value = http
        .get(format!("{base}/models"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(models["object"], "list");
    assert_eq!(models["data"][0]["id"], "echo");
    assert_eq!(models["data"][0]["object"], "model");

    let response = http
        .post(format!("{base}/chat/completions"))
        .json(&serde_json::json!({
            "model": "whatever",
            "messages": [{"role": "user", "content": "abc"}],
            "n": 2,
            "seed": 5,
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        HeaderValue::from_static("application/json")
    );
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["object"], "chat.completion");
    assert_eq!(body["model"], "whatever");
    assert!(body["id"].as_str().unwrap().starts_with("chatcmpl-"));
    assert!(body["created"].as_u64().unwrap() > 1_600_000_000);
    assert_eq!(body["choices"][0]["index"], 0);
    assert_eq!(body["choices"][0]["message"]["role"], "assistant");
    assert_eq!(body["choices"][0]["message"]["content"], "cba 5");
    assert_eq!(body["choices"][1]["message"]["content"], "cba 6");
    assert_eq!(body["choices"][1]["finish_reason"], "stop");
    assert_eq!(body["usage"]["prompt_tokens"], 10);
    assert_eq!(body["usage"]["completion_tokens"], 6);
    assert_eq!(body["usage"]["total_tokens"], 16);

    let cases: [(reqwest::Method, &str, &str, u16); 6] = [
        (reqwest::Method::POST, "chat/completions", "{oops", 400),
        (
            reqwest::Method::POST,
            "chat/completions",
            r#"{"model":"m"}"#,
            400,
        ),
        (
            reqwest::Method::POST,
            "chat/completions",
            r#"{"messages":[{"role":"user","content":"x"}],"n":99}"#,
            400,
        ),
        (reqwest::Method::GET, "chat/completions", "", 405),
        (reqwest::Method::GET, "embeddings", "", 404),
        (
            reqwest::Method::POST,
            "chat/completions",
            &"x".repeat(2000),
            413,
        ),
    ];
    for (method, path, body, status) in cases {
        let response = http
            .request(method, format!("{base}/{path}"))
            .body(body.to_owned())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), status, "{path} {body}");
        let error: serde_json::Value = response.json().await.unwrap();
        assert!(
            !error["error"]["message"].as_str().unwrap().is_empty(),
            "{error}"
        );
        assert!(error["error"]["type"].is_string(), "{error}");
    }
    let logs = running.logs.lock().unwrap().clone();
    assert_eq!(logs.len(), 8);
    assert_eq!(logs[1].route, "/v1/chat/completions");
    assert_eq!((logs[1].prompt_tokens, logs[1].completion_tokens), (10, 6));
    assert_eq!(logs[6].route, "unknown");

    running.stop.take().unwrap().send(()).unwrap();
    running.server.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_streamed_answer_is_server_sent_chunks_that_add_up_to_the_answer() {
    let mut running = start(Duration::ZERO, 4).await;
    let http = reqwest::Client::new();
    let response = http
        .post(format!("{}/chat/completions", running.base))
        .json(&serde_json::json!({
            "messages": [{"role": "user", "content": "abc"}],
            "n": 2,
            "seed": 5,
            "stream": true,
            "stream_options": {"include_usage": true},
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        HeaderValue::from_static("text/event-stream")
    );
    let text = response.text().await.unwrap();
    let events: Vec<&str> = text
        .split("\n\n")
        .filter(|e| !e.is_empty())
        .map(|e| {
            e.strip_prefix("data: ")
                .expect("every event is a data line")
        })
        .collect();
    assert_eq!(events.last(), Some(&"[DONE]"));
    let chunks: Vec<serde_json::Value> = events[..events.len() - 1]
        .iter()
        .map(|e| serde_json::from_str(e).unwrap())
        .collect();
    let mut content = [String::new(), String::new()];
    let mut roles = 0;
    let mut finished = Vec::new();
    for chunk in &chunks[..chunks.len() - 1] {
        assert_eq!(chunk["object"], "chat.completion.chunk");
        assert_eq!(chunk["id"], chunks[0]["id"], "one id for the whole answer");
        let choice = &chunk["choices"][0];
        let index = choice["index"].as_u64().unwrap() as usize;
        if choice["delta"]["role"] == "assistant" {
            roles += 1;
        }
        if let Some(piece) = choice["delta"]["content"].as_str() {
            content[index].push_str(piece);
        }
        if let Some(reason) = choice["finish_reason"].as_str() {
            finished.push((index, reason.to_owned()));
        }
    }
    assert_eq!(content, ["cba 5".to_owned(), "cba 6".to_owned()]);
    assert_eq!(roles, 2);
    assert_eq!(finished, [(0, "stop".to_owned()), (1, "stop".to_owned())]);
    let usage = chunks.last().unwrap();
    assert_eq!(usage["choices"], serde_json::json!([]));
    assert_eq!(usage["usage"]["total_tokens"], 16);

    running.stop.take().unwrap().send(()).unwrap();
    running.server.await.unwrap().unwrap();
    let logs = running.logs.lock().unwrap().clone();
    assert_eq!(logs.len(), 1);
    assert_eq!((logs[0].status, logs[0].completion_tokens), (200, 6));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_is_a_503_and_shutdown_finishes_the_work_in_flight() {
    let mut running = start(Duration::from_millis(400), 1).await;
    let http = reqwest::Client::new();
    let url = format!("{}/chat/completions", running.base);
    let body = serde_json::json!({"messages": [{"role": "user", "content": "hi"}]});
    let send = |http: reqwest::Client, url: String, body: serde_json::Value| async move {
        http.post(url).json(&body).send().await.unwrap()
    };
    // One request on the model, one in the queue, a third turned away at once.
    let first = tokio::spawn(send(http.clone(), url.clone(), body.clone()));
    tokio::time::sleep(Duration::from_millis(100)).await;
    let second = tokio::spawn(send(http.clone(), url.clone(), body.clone()));
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    let third = send(http.clone(), url.clone(), body.clone()).await;
    assert_eq!(third.status().as_u16(), 503);
    assert!(started.elapsed() < Duration::from_millis(300));
    let error: serde_json::Value = third.json().await.unwrap();
    assert_eq!(error["error"]["type"], "server_overloaded");
    // The model stays free for other connections while it works: models answers.
    let models = http
        .get(format!("{}/models", running.base))
        .send()
        .await
        .unwrap();
    assert_eq!(models.status().as_u16(), 200);

    // Shutting down with the second request still queued: both are answered.
    running.stop.take().unwrap().send(()).unwrap();
    assert_eq!(first.await.unwrap().status().as_u16(), 200);
    assert_eq!(second.await.unwrap().status().as_u16(), 200);
    running.server.await.unwrap().unwrap();
}
