//! `plantune-tui serve`: an OpenAI-compatible HTTP server over a local model, so a
//! plan-tuned student can be used by other tools (and the teacher client can be tested
//! against a real server). `POST /v1/chat/completions`, `GET /v1/models`,
//! `GET /v1/models/{id}` and `GET /health`; HTTP/1.1 with keep-alive, on hyper.
//!
//! Connections are tasks on the tokio runtime; the model sits on its own thread behind
//! a bounded queue ([`crate::infer::engine::spawn_worker`]), so a long generation never stalls the
//! accept loop or other connections, and a full queue is answered at once with 503.

pub mod api;
mod conn;

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::task::JoinSet;

pub use self::conn::Limits;
use self::conn::{Activity, Busy, Tracked};

pub use crate::infer::engine::{
    Backend, Engine, Generated, ModelSource, Queue, ServeError, Streaming, resolve_model,
};
pub use api::{ApiError, ChatJob};

/// Response bodies: a whole JSON document, or server-sent events as they happen.
type Body = UnsyncBoxBody<Bytes, Infallible>;

/// Request bodies above this are refused (413) before they are buffered.
pub const DEFAULT_MAX_BODY: usize = 8 << 20;

/// What the server says about itself.
#[derive(Debug, Clone)]
pub struct ServerInfo {
    /// Listed by `/v1/models` and used in answers to requests that name no model.
    pub model_name: String,
    pub max_body: usize,
    /// Timeouts and caps that keep slow or silent clients from holding the server.
    pub limits: Limits,
}

/// One answered request, for the caller to log. Only fixed route names and numbers:
/// nothing a client wrote reaches the log.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestLog {
    pub method: &'static str,
    pub route: &'static str,
    pub status: u16,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub seconds: f64,
}

pub type LogSink = Arc<dyn Fn(&RequestLog) + Send + Sync>;

struct State {
    queue: Queue,
    info: ServerInfo,
    created: u64,
    log: LogSink,
}

fn unix_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Serves on `listener` until `shutdown` resolves, then stops accepting: connections
/// with no request in flight close at once, requests in flight get
/// `limits.shutdown_timeout` to be answered, and whatever is left is dropped.
pub async fn serve(
    listener: TcpListener,
    queue: Queue,
    info: ServerInfo,
    log: LogSink,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let limits = info.limits;
    let state = Arc::new(State {
        queue,
        info,
        created: unix_seconds(),
        log,
    });
    let (stopping, stop_watch) = tokio::sync::watch::channel(false);
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let stream = match accepted {
                    Ok((stream, _)) => stream,
                    Err(e) => {
                        // Out of file descriptors and the like: back off instead of
                        // spinning; the listener itself is still good.
                        if is_fatal_accept_error(&e) {
                            return Err(e);
                        }
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        continue;
                    }
                };
                if connections.len() >= limits.max_connections {
                    // Best effort, without waiting on a client that may not read.
                    let _ = stream.try_write(FULL);
                    continue;
                }
                let _ = stream.set_nodelay(true);
                connections.spawn(connection(stream, state.clone(), limits, stop_watch.clone()));
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            _ = &mut shutdown => break,
        }
    }
    drop(listener);
    let _ = stopping.send(true);
    let drained = tokio::time::timeout(limits.shutdown_timeout, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        connections.abort_all();
        while connections.join_next().await.is_some() {}
    }
    Ok(())
}

/// The answer to a connection over the cap.
const FULL: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
content-length: 71\r\nconnection: close\r\n\r\n\
{\"error\":{\"message\":\"too many open connections\",\"type\":\"server_error\"}}";

/// One client connection under `limits`: hyper enforces the header timeout; this loop
/// closes the connection once it has been idle (no request in flight, no bytes moving)
/// for `idle_timeout`, and, once the server stops, as soon as no request is in flight.
async fn connection(
    stream: tokio::net::TcpStream,
    state: Arc<State>,
    limits: Limits,
    mut stopping: tokio::sync::watch::Receiver<bool>,
) {
    let activity = Activity::new();
    let for_service = activity.clone();
    let service = service_fn(move |req| {
        let busy = Busy::new(&for_service);
        handle(req, state.clone(), busy)
    });
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .serve_connection(
            TokioIo::new(Tracked::new(stream, activity.clone())),
            service,
        );
    tokio::pin!(conn);
    let tick = conn::check_every(&limits);
    let mut stop_seen = false;
    loop {
        tokio::select! {
            // A client that drops its connection is not the server's error.
            _ = conn.as_mut() => return,
            changed = stopping.changed(), if !stop_seen => {
                stop_seen = true;
                if changed.is_ok() {
                    conn.as_mut().graceful_shutdown();
                }
            }
            _ = tokio::time::sleep(tick) => {}
        }
        let idle = !activity.busy() && activity.idle_for() >= limits.idle_timeout;
        if idle || (stop_seen && !activity.busy()) {
            return;
        }
    }
}

fn is_fatal_accept_error(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::InvalidInput | std::io::ErrorKind::NotConnected
    )
}

type Answer = Result<(serde_json::Value, Option<api::UsageBody>), ApiError>;

async fn handle(
    req: Request<Incoming>,
    state: Arc<State>,
    busy: Busy,
) -> Result<Response<Body>, Infallible> {
    let started = Instant::now();
    let method = req.method().clone();
    let method_name: &'static str = match method {
        Method::GET => "GET",
        Method::POST => "POST",
        _ => "other",
    };
    let path = req.uri().path().trim_end_matches('/').to_owned();
    let (route, answer): (&'static str, Answer) = match (&method, path.as_str()) {
        (&Method::POST, "/v1/chat/completions") => match chat(req, &state, started, busy).await {
            Chat::Streamed(response) => return Ok(response),
            Chat::Answered(answer) => ("/v1/chat/completions", answer),
        },
        (&Method::GET, "/v1/models") => ("/v1/models", Ok((models(&state), None))),
        (&Method::GET, p) if p.starts_with("/v1/models/") => {
            ("/v1/models/{id}", model(&state, &p["/v1/models/".len()..]))
        }
        (&Method::GET, "/health") => ("/health", Ok((serde_json::json!({"status": "ok"}), None))),
        (_, "/v1/chat/completions") => (
            "/v1/chat/completions",
            Err(ApiError::method_not_allowed(
                "/v1/chat/completions takes POST",
            )),
        ),
        (_, "/v1/models") => (
            "/v1/models",
            Err(ApiError::method_not_allowed("/v1/models takes GET")),
        ),
        _ => (
            "unknown",
            Err(ApiError::not_found(
                "unknown route; this server answers POST /v1/chat/completions and GET /v1/models",
            )),
        ),
    };
    let (status, body, usage) = match answer {
        Ok((body, usage)) => (200, body, usage),
        Err(e) => (e.status, e.body(), None),
    };
    (state.log)(&RequestLog {
        method: method_name,
        route,
        status,
        prompt_tokens: usage.map_or(0, |u| u.prompt_tokens),
        completion_tokens: usage.map_or(0, |u| u.completion_tokens),
        seconds: started.elapsed().as_secs_f64(),
    });
    Ok(json_response(status, &body))
}

fn json_response(status: u16, body: &serde_json::Value) -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())).boxed_unsync());
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

fn card(state: &State) -> api::ModelCard {
    api::ModelCard {
        id: state.info.model_name.clone(),
        object: "model",
        created: state.created,
        owned_by: "plantune-tui",
    }
}

fn models(state: &State) -> serde_json::Value {
    serde_json::to_value(api::ModelList {
        object: "list",
        data: vec![card(state)],
    })
    .unwrap_or_default()
}

fn model(state: &State, id: &str) -> Answer {
    if id != state.info.model_name {
        return Err(ApiError {
            code: Some("model_not_found"),
            ..ApiError::not_found(format!(
                "this server serves one model, {:?}",
                state.info.model_name
            ))
        });
    }
    Ok((serde_json::to_value(card(state)).unwrap_or_default(), None))
}

enum Chat {
    Answered(Answer),
    /// Already logged or to be logged when its stream ends.
    Streamed(Response<Body>),
}

/// `busy` lasts until the answer is complete: for a stream, until its last event.
async fn chat(req: Request<Incoming>, state: &Arc<State>, started: Instant, busy: Busy) -> Chat {
    let job = match read_job(req, state).await {
        Ok(job) => job,
        Err(e) => return Chat::Answered(Err(e)),
    };
    // Like OpenAI, a request without a seed gets a fresh sample each time.
    let seed = job.seed.unwrap_or_else(rand::random);
    let model = job
        .model
        .clone()
        .unwrap_or_else(|| state.info.model_name.clone());
    if job.stream {
        let choices = job.n;
        let include_usage = job.include_usage;
        return match state.queue.submit_streaming(job, seed) {
            Ok(streaming) => Chat::Streamed(event_stream(
                streaming,
                StreamHead {
                    id: completion_id(),
                    created: unix_seconds(),
                    model,
                    choices,
                    include_usage,
                },
                state.clone(),
                started,
                busy,
            )),
            Err(e) => Chat::Answered(Err(e)),
        };
    }
    Chat::Answered(answer(state.queue.submit(job, seed).await, model))
}

async fn read_job(req: Request<Incoming>, state: &State) -> Result<ChatJob, ApiError> {
    let limit = state.info.max_body;
    let timeout = state.info.limits.body_timeout;
    let body = tokio::time::timeout(timeout, Limited::new(req.into_body(), limit).collect())
        .await
        .map_err(|_| ApiError::body_timeout(timeout))?
        .map_err(|e| {
            if e.is::<LengthLimitError>() {
                ApiError::too_large(limit)
            } else {
                ApiError::invalid(format!("reading the request body: {e}"), None)
            }
        })?
        .to_bytes();
    api::parse_request(&body)
}

fn completion_id() -> String {
    format!("chatcmpl-{:032x}", rand::random::<u128>())
}

fn usage_of(generated: &Generated) -> api::UsageBody {
    api::UsageBody {
        prompt_tokens: generated.prompt_tokens,
        completion_tokens: generated.completion_tokens,
        total_tokens: generated.prompt_tokens + generated.completion_tokens,
    }
}

fn answer(generated: Result<Generated, ApiError>, model: String) -> Answer {
    let generated = generated?;
    let usage = usage_of(&generated);
    let completion = api::ChatCompletion {
        id: completion_id(),
        object: "chat.completion",
        created: unix_seconds(),
        model,
        choices: generated
            .choices
            .into_iter()
            .enumerate()
            .map(|(index, (content, finish))| api::Choice {
                index: index as u32,
                message: api::AssistantMessage {
                    role: "assistant",
                    content,
                },
                finish_reason: api::finish_reason(finish),
                logprobs: None,
            })
            .collect(),
        usage,
    };
    let body = serde_json::to_value(completion)
        .map_err(|e| ApiError::internal(format!("encoding the answer: {e}")))?;
    Ok((body, Some(usage)))
}

/// What every chunk of one streamed answer repeats.
struct StreamHead {
    id: String,
    created: u64,
    model: String,
    choices: u32,
    include_usage: bool,
}

impl StreamHead {
    fn chunk(&self, choices: Vec<api::ChunkChoice>, usage: Option<api::UsageBody>) -> Bytes {
        let chunk = api::ChatChunk {
            id: self.id.clone(),
            object: "chat.completion.chunk",
            created: self.created,
            model: self.model.clone(),
            choices,
            usage,
        };
        sse_event(&serde_json::to_value(chunk).unwrap_or_default())
    }

    fn delta(&self, index: u32, delta: api::Delta, finish: Option<&'static str>) -> Bytes {
        let choice = api::ChunkChoice {
            index,
            delta,
            finish_reason: finish,
            logprobs: None,
        };
        self.chunk(vec![choice], None)
    }
}

fn sse_event(data: &serde_json::Value) -> Bytes {
    Bytes::from(format!("data: {data}\n\n"))
}

/// The answer as server-sent events, in OpenAI's order: each choice's role, the text
/// pieces as the model produces them, each choice's finish reason, the usage when
/// asked for, then `[DONE]`. An error after the stream has started is sent as an
/// `error` event, since the status line is already gone.
fn event_stream(
    mut streaming: Streaming,
    head: StreamHead,
    state: Arc<State>,
    started: Instant,
    busy: Busy,
) -> Response<Body> {
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(64);
    tokio::spawn(async move {
        let _busy = busy;
        // A client that hangs up makes `send` fail; the answer is still awaited so
        // the request is logged with what it cost.
        for index in 0..head.choices {
            let role = api::Delta {
                role: Some("assistant"),
                content: Some(String::new()),
            };
            let _ = tx.send(head.delta(index, role, None)).await;
        }
        while let Some((index, piece)) = streaming.pieces.recv().await {
            let content = api::Delta {
                role: None,
                content: Some(piece),
            };
            let _ = tx.send(head.delta(index, content, None)).await;
        }
        let outcome = streaming.answer.await.unwrap_or_else(|_| {
            Err(ApiError::internal(
                "the model worker stopped before answering",
            ))
        });
        let (status, usage) = match outcome {
            Ok(generated) => {
                for (index, (_, finish)) in generated.choices.iter().enumerate() {
                    let end = head.delta(
                        index as u32,
                        api::Delta::default(),
                        Some(api::finish_reason(*finish)),
                    );
                    let _ = tx.send(end).await;
                }
                let usage = usage_of(&generated);
                if head.include_usage {
                    let _ = tx.send(head.chunk(Vec::new(), Some(usage))).await;
                }
                (200, Some(usage))
            }
            Err(e) => {
                let _ = tx.send(sse_event(&e.body())).await;
                (e.status, None)
            }
        };
        let _ = tx.send(Bytes::from_static(b"data: [DONE]\n\n")).await;
        (state.log)(&RequestLog {
            method: "POST",
            route: "/v1/chat/completions",
            status,
            prompt_tokens: usage.map_or(0, |u| u.prompt_tokens),
            completion_tokens: usage.map_or(0, |u| u.completion_tokens),
            seconds: started.elapsed().as_secs_f64(),
        });
    });
    let frames = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|bytes| (Ok::<_, Infallible>(Frame::data(bytes)), rx))
    });
    let mut response = Response::new(StreamBody::new(frames).boxed_unsync());
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

#[cfg(test)]
mod slow_clients;
#[cfg(test)]
mod tests;
