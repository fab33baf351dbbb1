//! `plantune-tui serve` end to end: the real binary serves the real
//! SmolLM2-135M-Instruct on 127.0.0.1, answers OpenAI-shaped requests and errors, the
//! project's teacher client distils three GSM8K problems against it, the in-process
//! local teacher writes the same candidates as the served model, and SIGTERM stops it
//! gracefully.

#![allow(clippy::unwrap_used)]

use crate::common;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command as Process, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use assert_cmd::Command;
use plantune_tui::config::Paths;
use plantune_tui::model::chat::{ChatMessage, ChatTemplate};
use plantune_tui::model::tokenizer::ModelTokenizer;
use plantune_tui::workspace::Workspace;
use plantune_tui::workspace::records::CandidateStatus;
use serde_json::{Value, json};

fn cli(home: &Path) -> Command {
    let mut cmd = Command::cargo_bin("plantune-tui").unwrap();
    cmd.env("PLANTUNE_CONFIG_DIR", home.join("config"))
        .env("PLANTUNE_DATA_DIR", home.join("data"))
        .env("RAYON_NUM_THREADS", "1")
        .current_dir(home);
    cmd
}

fn paths(home: &Path) -> Paths {
    Paths {
        config_dir: home.join("config"),
        data_dir: home.join("data"),
        cache_dir: home.join("cache"),
    }
}

/// A workspace with the GSM8K sample (train split) and SmolLM2 imported under
/// `models/smollm2`.
fn workspace(home: &Path, name: &str) -> PathBuf {
    let ws = home.join(name);
    cli(home)
        .args(["init", ws.to_str().unwrap()])
        .assert()
        .success();
    let sample = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/data/gsm8k_sample.jsonl"
    );
    cli(home)
        .args(["-w", ws.to_str().unwrap(), "import", sample])
        .args(["--format", "gsm8k", "--split", "train"])
        .assert()
        .success();
    cli(home)
        .args(["-w", ws.to_str().unwrap(), "model", "import"])
        .arg(common::smollm2::gguf_path())
        .args(["--out", ws.join("models/smollm2").to_str().unwrap()])
        .assert()
        .success();
    ws
}

/// `distill` of the first `limit` training problems of `ws`; returns its stdout.
fn distill(home: &Path, ws: &Path, limit: usize) -> String {
    let output = cli(home)
        .args(["-w", ws.to_str().unwrap(), "distill"])
        .args(["--split", "train", "--limit", &limit.to_string()])
        .timeout(Duration::from_secs(1800))
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    String::from_utf8(output).unwrap()
}

/// The server process; killed if a failing test leaves it running.
struct Server {
    child: Child,
    base: String,
    ready: String,
    stderr: Arc<Mutex<String>>,
}

impl Server {
    fn start(home: &Path, ws: &Path, model: &str) -> Self {
        let mut child = Process::new(env!("CARGO_BIN_EXE_plantune-tui"))
            .args(["-w", ws.to_str().unwrap(), "--threads", "1", "serve", model])
            .args(["--port", "0", "--max-tokens", "64"])
            .env("PLANTUNE_CONFIG_DIR", home.join("config"))
            .env("PLANTUNE_DATA_DIR", home.join("data"))
            .env("RAYON_NUM_THREADS", "1")
            .current_dir(home)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut err_pipe = child.stderr.take().unwrap();
        let sink = stderr.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = err_pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut base = String::new();
        let mut ready = String::new();
        out.read_line(&mut base).unwrap();
        out.read_line(&mut ready).unwrap();
        assert!(
            base.starts_with("http://127.0.0.1:") && base.trim_end().ends_with("/v1"),
            "first stdout line {base:?}; stderr: {}",
            stderr.lock().unwrap()
        );
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
        Self {
            child,
            base: base.trim_end().to_owned(),
            ready,
            stderr,
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

struct Http {
    runtime: tokio::runtime::Runtime,
    client: reqwest::Client,
}

impl Http {
    fn new() -> Self {
        Self {
            runtime: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap(),
            client: reqwest::Client::new(),
        }
    }

    fn send(&self, request: reqwest::RequestBuilder) -> (u16, Value) {
        self.runtime.block_on(async {
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            let text = response.text().await.unwrap();
            let body = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{status}: body is not JSON ({e}): {text}"));
            (status, body)
        })
    }

    /// The `data:` payloads of a server-sent-events answer, in order.
    fn stream(&self, base: &str, body: &Value) -> Vec<String> {
        self.runtime.block_on(async {
            let response = self
                .client
                .post(format!("{base}/chat/completions"))
                .json(body)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status().as_u16(), 200);
            assert_eq!(response.headers()["content-type"], "text/event-stream");
            let text = response.text().await.unwrap();
            text.split("\n\n")
                .filter(|e| !e.is_empty())
                .map(|e| e.strip_prefix("data: ").unwrap().to_owned())
                .collect()
        })
    }

    fn chat(&self, base: &str, body: &Value) -> (u16, Value) {
        self.send(
            self.client
                .post(format!("{base}/chat/completions"))
                .json(body),
        )
    }
}

fn content(body: &Value, choice: usize) -> String {
    body["choices"][choice]["message"]["content"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn serves_smollm2_to_the_teacher_client_and_stops_on_sigterm() {
    let home = tempfile::tempdir().unwrap();
    let ws_dir = workspace(home.path(), "ws");
    let model_dir = ws_dir.join("models/smollm2");
    let server = Server::start(home.path(), &ws_dir, "models/smollm2");
    assert!(
        server.ready.starts_with("ready: serving smollm2"),
        "{}",
        server.ready
    );
    let http = Http::new();
    let base = server.base.clone();

    let (status, models) = http.send(http.client.get(format!("{base}/models")));
    assert_eq!(status, 200, "{models}");
    assert_eq!(models["object"], "list");
    assert_eq!(models["data"][0]["id"], "smollm2");
    assert_eq!(models["data"][0]["object"], "model");

    // Greedy, two choices: identical texts, usage counted over both.
    let messages = [
        ChatMessage::system("You are a careful assistant."),
        ChatMessage::user("Name three colours of the rainbow."),
    ];
    let request = json!({
        "model": "smollm2",
        "messages": messages,
        "temperature": 0,
        "max_tokens": 12,
        "n": 2,
    });
    let (status, body) = http.chat(&base, &request);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["object"], "chat.completion");
    assert_eq!(body["model"], "smollm2");
    assert!(body["id"].as_str().unwrap().starts_with("chatcmpl-"));
    assert!(body["created"].as_u64().unwrap() > 1_600_000_000);
    assert_eq!(body["choices"].as_array().unwrap().len(), 2);
    for (i, choice) in body["choices"].as_array().unwrap().iter().enumerate() {
        assert_eq!(choice["index"], i);
        assert_eq!(choice["message"]["role"], "assistant");
        assert!(
            matches!(choice["finish_reason"].as_str(), Some("stop" | "length")),
            "{choice}"
        );
    }
    let greedy = content(&body, 0);
    assert!(!greedy.trim().is_empty(), "{body}");
    assert_eq!(greedy, content(&body, 1), "temperature 0 is greedy");
    // The prompt is the model's own chat template, tokenized without extra specials.
    let template = ChatTemplate::from_model_dir(&model_dir).unwrap();
    let tokenizer = ModelTokenizer::from_dir(&model_dir).unwrap();
    let prompt = template.render(&messages, true).unwrap();
    let prompt_tokens = tokenizer.encode(&prompt, false).unwrap().len() as u64;
    let usage = &body["usage"];
    assert_eq!(usage["prompt_tokens"], prompt_tokens);
    let completion = usage["completion_tokens"].as_u64().unwrap();
    assert!(completion > 0 && completion <= 24, "{usage}");
    if body["choices"][0]["finish_reason"] == "length" {
        assert_eq!(completion, 24, "two choices cut at max_tokens = 12");
    }
    assert_eq!(
        usage["total_tokens"].as_u64().unwrap(),
        prompt_tokens + completion
    );

    // A stop string cuts the same greedy text where it first appears.
    let one = json!({"messages": messages, "temperature": 0, "max_tokens": 12});
    let (_, alone) = http.chat(&base, &one);
    let text = content(&alone, 0);
    let word = text
        .split_whitespace()
        .nth(1)
        .unwrap_or_else(|| panic!("greedy text too short: {text:?}"))
        .to_owned();
    let cut = text.find(&word).unwrap();
    let mut with_stop = one.clone();
    with_stop["stop"] = json!(word);
    let (status, stopped) = http.chat(&base, &with_stop);
    assert_eq!(status, 200, "{stopped}");
    assert_eq!(
        content(&stopped, 0),
        text[..cut],
        "stop {word:?} in {text:?}"
    );
    assert_eq!(stopped["choices"][0]["finish_reason"], "stop");

    // Streamed, the same greedy requests arrive in pieces that add up to the same
    // texts; the stop string and everything after it are never sent.
    let streamed_text = |request: &Value| -> (Vec<String>, Value) {
        let mut request = request.clone();
        request["stream"] = json!(true);
        let events = http.stream(&base, &request);
        assert_eq!(events.last().map(String::as_str), Some("[DONE]"));
        let chunks: Vec<Value> = events[..events.len() - 1]
            .iter()
            .map(|e| serde_json::from_str(e).unwrap())
            .collect();
        let pieces = chunks
            .iter()
            .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
            .filter(|p| !p.is_empty())
            .map(str::to_owned)
            .collect();
        let finish = chunks.last().unwrap()["choices"][0]["finish_reason"].clone();
        (pieces, finish)
    };
    let (pieces, _) = streamed_text(&one);
    assert_eq!(pieces.concat(), text, "pieces {pieces:?}");
    assert!(pieces.len() > 1, "one piece is not a stream: {pieces:?}");
    let (pieces, finish) = streamed_text(&with_stop);
    assert_eq!(pieces.concat(), text[..cut], "pieces {pieces:?}");
    assert_eq!(finish, "stop");

    // A seed makes sampling reproducible; max_completion_tokens wins over max_tokens.
    let sampled = json!({
        "messages": messages, "temperature": 1.0, "top_p": 0.9, "seed": 7,
        "max_tokens": 50, "max_completion_tokens": 6,
    });
    let (_, a) = http.chat(&base, &sampled);
    let (_, b) = http.chat(&base, &sampled);
    assert_eq!(content(&a, 0), content(&b, 0));
    assert!(
        a["usage"]["completion_tokens"].as_u64().unwrap() <= 6,
        "{a}"
    );

    // OpenAI-style errors.
    for (body, param) in [
        ("{oops", Value::Null),
        (r#"{"model":"m"}"#, json!("messages")),
    ] {
        let (status, error) = http.send(
            http.client
                .post(format!("{base}/chat/completions"))
                .header("content-type", "application/json")
                .body(body),
        );
        assert_eq!(status, 400, "{error}");
        assert_eq!(error["error"]["type"], "invalid_request_error");
        assert!(!error["error"]["message"].as_str().unwrap().is_empty());
        assert_eq!(error["error"]["param"], param);
    }
    let (status, error) = http.chat(&base, &json!({"messages": messages, "n": 99}));
    assert_eq!(status, 400);
    assert_eq!(error["error"]["param"], "n");
    let (status, error) = http.send(http.client.get(format!("{base}/completions")));
    assert_eq!(status, 404);
    assert!(error["error"]["message"].is_string());

    // The teacher client, through `distill`, against the server: 3 problems, 2 plans.
    let config = format!(
        "[teacher]\nkind = \"openai\"\nbase_url = \"{base}\"\nmodel = \"smollm2\"\n\
         api_key_env = \"\"\nconcurrency = 2\ntimeout_s = 900\nmax_retries = 1\n\
         [distill]\nn_plans = 2\nmax_tokens = 40\nseed = 3\n"
    );
    std::fs::write(ws_dir.join("plantune.toml"), config).unwrap();
    let started = Instant::now();
    let output = distill(home.path(), &ws_dir, 3);
    eprintln!(
        "distill against serve: {:.1} s\n{output}",
        started.elapsed().as_secs_f64()
    );
    assert!(
        output.contains("3 problems, 6 new candidates, 21 calls answered"),
        "{output}"
    );
    assert!(output.contains(" 0 errors"), "{output}");

    let ws = Workspace::open(&ws_dir, &paths(home.path())).unwrap();
    let store = ws.store().unwrap();
    let problems = store.problems(None, Some("train")).unwrap();
    let mut candidates = Vec::new();
    for p in problems.iter().take(3) {
        let stored = store.candidates_for_problem(p.id).unwrap();
        assert_eq!(stored.len(), 2, "problem {}", p.id);
        candidates.extend(stored);
    }
    for c in &candidates {
        let f = &c.fields;
        assert_eq!(f.teacher, "openai:smollm2");
        assert!(f.plan_index < 2);
        assert!(!f.constraints.trim().is_empty(), "{f:?}");
        assert!(!f.plan.trim().is_empty(), "{f:?}");
        assert!(!f.plan_steps.is_empty(), "{f:?}");
        assert!(!f.execution.trim().is_empty(), "{f:?}");
        assert!(f.correct.is_some(), "{f:?}");
        assert!(!f.grade_reason.is_empty(), "{f:?}");
        let score = f.judge_score.unwrap();
        assert!((-100..=100).contains(&score), "{f:?}");
        assert!(!f.judge_reason.trim().is_empty(), "{f:?}");
        assert_eq!(f.sampling.model, "smollm2");
        assert!((f.sampling.temperature - 0.7).abs() < 1e-6);
        assert_eq!(f.sampling.top_p, Some(1.0));
        assert_eq!(f.sampling.max_tokens, Some(40));
        assert_eq!(f.sampling.seed, Some(3 + u64::from(f.plan_index)));
        assert_eq!(c.status, CandidateStatus::Pending);
        assert!(!c.edited);
        assert!(c.created_ms > 0);
    }
    // Sampled plans with different seeds: the two plans of a problem differ somewhere.
    assert!(
        candidates
            .chunks(2)
            .any(|pair| pair[0].fields.plan != pair[1].fields.plan),
        "every pair of plans is identical"
    );

    // The in-process teacher (`kind = "local"`) runs the same engine: with the same
    // seeds it writes exactly the candidates the server's answers made.
    let local_dir = workspace(home.path(), "ws-local");
    let config = "[teacher]\nkind = \"local\"\nmodel = \"smollm2\"\nconcurrency = 2\n\
                  [distill]\nn_plans = 2\nmax_tokens = 40\nseed = 3\n";
    std::fs::write(local_dir.join("plantune.toml"), config).unwrap();
    let output = distill(home.path(), &local_dir, 1);
    assert!(
        output.contains("distilled with local:smollm2: 1 problems, 2 new candidates, 7 calls"),
        "{output}"
    );
    let local_ws = Workspace::open(&local_dir, &paths(home.path())).unwrap();
    let local_store = local_ws.store().unwrap();
    let first = &local_store.problems(None, Some("train")).unwrap()[0];
    let mut local = local_store.candidates_for_problem(first.id).unwrap();
    assert_eq!(local.len(), 2);
    local.sort_by_key(|c| c.fields.plan_index);
    let mut served = candidates[..2].to_vec();
    served.sort_by_key(|c| c.fields.plan_index);
    for (ours, served) in local.iter().zip(&served) {
        let (a, b) = (&ours.fields, &served.fields);
        assert_eq!(a.teacher, "local:smollm2");
        assert_eq!(
            (&a.constraints, &a.plan, &a.execution, a.judge_score),
            (&b.constraints, &b.plan, &b.execution, b.judge_score),
            "plan {}",
            a.plan_index
        );
    }

    // SIGTERM: the server finishes and exits cleanly.
    let mut server = server;
    // SAFETY: plain kill(2) on the child this test started and still owns.
    let rc = unsafe { libc::kill(server.child.id() as libc::pid_t, libc::SIGTERM) };
    assert_eq!(rc, 0);
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "serve ignored SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    // Let the stderr reader reach the end of the pipe.
    std::thread::sleep(Duration::from_millis(200));
    let stderr = server.stderr.lock().unwrap().clone();
    assert!(status.success(), "{status:?}; stderr: {stderr}");
    assert!(stderr.contains("shutting down"), "{stderr}");
    assert!(stderr.contains("POST /v1/chat/completions 200"), "{stderr}");
}
