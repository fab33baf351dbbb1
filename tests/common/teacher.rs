//! A scripted OpenAI-compatible server on 127.0.0.1 for the teacher tests: real HTTP/1.1
//! over TCP, one request per connection, answers chosen by the prompt, and faults
//! injected into the first request whose prompt contains a given text.

#![allow(dead_code)]
// Each test binary uses a different part of this module.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use plantune_tui::config::Paths;
use plantune_tui::workspace::Workspace;
use plantune_tui::workspace::records::NewProblem;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[derive(Debug, Clone)]
pub struct Recorded {
    pub at: Instant,
    pub authorization: Option<String>,
    pub prompt: String,
    pub body: serde_json::Value,
    /// Whether an injected fault answered it.
    pub faulted: bool,
}

#[derive(Debug, Clone)]
pub enum Fault {
    Status {
        status: u16,
        retry_after: Option<u64>,
        body: String,
    },
    /// Reads the request and never answers.
    Hang,
    /// Promises more body bytes than it sends, then closes.
    TruncatedBody,
    InvalidJson,
    EmptyChoices,
}

/// Answers a request from its prompt and its JSON body.
type Responder = dyn Fn(&str, &serde_json::Value) -> String + Send + Sync;

struct State {
    requests: Mutex<Vec<Recorded>>,
    /// Answers wait this long, so concurrent requests overlap.
    delay: Mutex<Duration>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    faults: Mutex<Vec<(String, Fault)>>,
    /// Every answer to a prompt containing the text gets this finish reason.
    finish_reasons: Mutex<Vec<(String, String)>>,
    responder: Box<Responder>,
}

#[derive(Clone)]
pub struct ScriptedServer {
    pub addr: SocketAddr,
    state: Arc<State>,
}

impl ScriptedServer {
    pub async fn start(
        responder: impl Fn(&str, &serde_json::Value) -> String + Send + Sync + 'static,
    ) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(State {
            requests: Mutex::new(Vec::new()),
            delay: Mutex::new(Duration::ZERO),
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
            faults: Mutex::new(Vec::new()),
            finish_reasons: Mutex::new(Vec::new()),
            responder: Box::new(responder),
        });
        let serving = state.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(handle(stream, serving.clone()));
            }
        });
        Self { addr, state }
    }

    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// The next request whose prompt contains `prompt_part` gets `fault` (once).
    pub fn inject(&self, prompt_part: &str, fault: Fault) {
        self.state
            .faults
            .lock()
            .unwrap()
            .push((prompt_part.to_owned(), fault));
    }

    /// Answers to prompts containing `prompt_part` end with `reason` (e.g. `length`,
    /// as a server says when `max_tokens` cut the answer off).
    pub fn finish_with(&self, prompt_part: &str, reason: &str) {
        self.state
            .finish_reasons
            .lock()
            .unwrap()
            .push((prompt_part.to_owned(), reason.to_owned()));
    }

    pub fn set_delay(&self, delay: Duration) {
        *self.state.delay.lock().unwrap() = delay;
    }

    /// The most requests the server was answering at one time.
    pub fn max_in_flight(&self) -> usize {
        self.state.max_in_flight.load(Ordering::SeqCst)
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.state.requests.lock().unwrap().clone()
    }

    pub fn request_count(&self) -> usize {
        self.state.requests.lock().unwrap().len()
    }
}

async fn read_request(stream: &mut TcpStream) -> Option<(String, Vec<u8>)> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buffer[..end]).into_owned();
            let length: usize = head
                .lines()
                .find_map(|line| {
                    let (name, value) = line.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse().ok())?
                })
                .unwrap_or(0);
            while buffer.len() < end + 4 + length {
                let n = stream.read(&mut chunk).await.ok()?;
                if n == 0 {
                    return None;
                }
                buffer.extend_from_slice(&chunk[..n]);
            }
            return Some((head, buffer[end + 4..end + 4 + length].to_vec()));
        }
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..n]);
    }
}

fn http(status: u16, extra_headers: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\nconnection: close\r\n\
         content-length: {}\r\n{extra_headers}\r\n{body}",
        body.len()
    )
}

pub fn completion_json(content: &str) -> String {
    completion_json_with(content, "stop")
}

pub fn completion_json_with(content: &str, finish_reason: &str) -> String {
    serde_json::json!({
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": content},
            "finish_reason": finish_reason
        }],
        "usage": {"prompt_tokens": 100, "completion_tokens": 10, "total_tokens": 110}
    })
    .to_string()
}

async fn handle(mut stream: TcpStream, state: Arc<State>) {
    let Some((head, body)) = read_request(&mut stream).await else {
        return;
    };
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let prompt = body["messages"][0]["content"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let authorization = head.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.eq_ignore_ascii_case("authorization")
            .then(|| value.trim().to_owned())
    });
    let answer = (state.responder)(&prompt, &body);
    let finish_reason = {
        let reasons = state.finish_reasons.lock().unwrap();
        reasons
            .iter()
            .find(|(part, _)| prompt.contains(part.as_str()))
            .map_or_else(|| "stop".to_owned(), |(_, reason)| reason.clone())
    };
    let fault = {
        let mut faults = state.faults.lock().unwrap();
        let position = faults.iter().position(|(part, _)| prompt.contains(part));
        position.map(|i| faults.remove(i).1)
    };
    state.requests.lock().unwrap().push(Recorded {
        at: Instant::now(),
        authorization,
        prompt,
        body,
        faulted: fault.is_some(),
    });
    let now = state.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    state.max_in_flight.fetch_max(now, Ordering::SeqCst);
    let delay = *state.delay.lock().unwrap();
    tokio::time::sleep(delay).await;
    let response = response(fault, &answer, &finish_reason).await;
    // Counted out before the answer leaves, so a client that starts its next request
    // the moment this one completes is never seen as one too many.
    state.in_flight.fetch_sub(1, Ordering::SeqCst);
    if let Some(response) = response {
        let _ = stream.write_all(response.as_bytes()).await;
        let _ = stream.shutdown().await;
    }
}

/// The raw HTTP answer; `None` for a request left hanging.
async fn response(fault: Option<Fault>, answer: &str, finish_reason: &str) -> Option<String> {
    Some(match fault {
        None => http(200, "", &completion_json_with(answer, finish_reason)),
        Some(Fault::Status {
            status,
            retry_after,
            body,
        }) => {
            let header = retry_after
                .map(|s| format!("retry-after: {s}\r\n"))
                .unwrap_or_default();
            http(status, &header, &body)
        }
        Some(Fault::Hang) => {
            tokio::time::sleep(Duration::from_secs(30)).await;
            return None;
        }
        Some(Fault::TruncatedBody) => {
            let full = completion_json(answer);
            format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nconnection: close\r\n\
                 content-length: {}\r\n\r\n{}",
                full.len() + 50,
                &full[..full.len() / 2]
            )
        }
        Some(Fault::InvalidJson) => http(200, "", "{\"choices\": [ {\"message\": oops"),
        Some(Fault::EmptyChoices) => http(
            200,
            "",
            r#"{"choices":[],"usage":{"prompt_tokens":1,"completion_tokens":0}}"#,
        ),
    })
}

/// Marker texts of the shipped prompt templates, one per pipeline stage.
pub const CONSTRAINTS_PROMPT: &str = "list every";
pub const PLAN_PROMPT: &str = "Write a plan";
pub const JUDGE_PROMPT: &str = "You are grading a plan";
pub const EXECUTE_PROMPT: &str = "following the given plan exactly";

/// `a + b` of a question "What is a + b?" quoted in a prompt.
fn sum_in(prompt: &str) -> Option<i64> {
    let start = prompt.find("What is ")? + "What is ".len();
    let rest = &prompt[start..];
    let end = rest.find('?')?;
    let (a, b) = rest[..end].split_once(" + ")?;
    Some(a.trim().parse::<i64>().ok()? + b.trim().parse::<i64>().ok()?)
}

/// A teacher that follows the paper's pipeline on "What is a + b?" problems. Plans carry
/// the request's seed so the N plans differ; the judge cannot score the plan of seed 1.
pub fn pipeline_teacher(prompt: &str, body: &serde_json::Value) -> String {
    if prompt.contains(JUDGE_PROMPT) {
        if prompt.contains("(variant 1)") {
            "The plan is vague; I will not give a number.".to_owned()
        } else {
            "The plan adds the two numbers, as asked.\nScore: 85".to_owned()
        }
    } else if prompt.contains(EXECUTE_PROMPT) {
        let sum = sum_in(prompt).unwrap_or(-1);
        format!("Step 1: read the numbers.\nStep 2: add them, giving {sum}.\n\\boxed{{{sum}}}")
    } else if prompt.contains(PLAN_PROMPT) {
        let seed = body["seed"].as_u64().unwrap_or(0);
        format!("1. Read the two numbers.\n2. Add them.\n3. Report the sum. (variant {seed})")
    } else if prompt.contains(CONSTRAINTS_PROMPT) {
        "Explicit constraints:\n- two whole numbers are given\nImplicit constraints:\n- the \
         answer is their sum"
            .to_owned()
    } else {
        "unexpected prompt".to_owned()
    }
}

pub fn problem(external_id: &str, a: i64, b: i64) -> NewProblem {
    NewProblem {
        dataset: "toy".into(),
        split: "train".into(),
        external_id: external_id.into(),
        question: format!("What is {a} + {b}?"),
        gold_answer: (a + b).to_string(),
        gold_solution: None,
        metadata: serde_json::json!({}),
    }
}

/// A fresh workspace under `dir` with `config` as its plantune.toml and the problems
/// stored.
pub fn workspace(dir: &Path, config: &str, problems: &[NewProblem]) -> Workspace {
    let paths = Paths {
        config_dir: dir.join("config"),
        data_dir: dir.join("data"),
        cache_dir: dir.join("cache"),
    };
    let root = dir.join("ws");
    Workspace::init(&root, &paths).unwrap();
    std::fs::write(root.join("plantune.toml"), config).unwrap();
    let ws = Workspace::open(&root, &paths).unwrap();
    ws.store().unwrap().insert_problems(problems).unwrap();
    ws
}
