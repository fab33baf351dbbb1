//! Teacher-call throughput against a local server that answers at once: what the
//! client itself costs (JSON, HTTP, semaphore, connection pool) per call.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

use super::chat::{Message, Teacher, TeacherError};
use super::client::{ClientConfig, OpenAiClient};
use crate::workspace::records::Sampling;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TeacherBenchRow {
    pub concurrency: usize,
    pub calls: usize,
    pub seconds: f64,
    pub calls_per_s: f64,
}

#[derive(Debug, thiserror::Error)]
pub enum TeacherBenchError {
    #[error("cannot start the local bench server: {0}")]
    Server(#[from] std::io::Error),
    #[error(transparent)]
    Teacher(#[from] TeacherError),
    #[error("a bench task failed: {0}")]
    Task(String),
}

const ANSWER: &str = r#"{"id":"bench","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"1. Add the numbers.\n2. Report the sum."},"finish_reason":"stop"}],"usage":{"prompt_tokens":20,"completion_tokens":12,"total_tokens":32}}"#;

/// Reads one HTTP/1.1 request (headers, then `Content-Length` bytes of body) from a
/// kept-alive connection; false when the client closed it.
async fn read_request(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> std::io::Result<bool> {
    let mut chunk = [0u8; 8192];
    loop {
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buffer[..end]).to_ascii_lowercase();
            let length: usize = head
                .lines()
                .find_map(|line| line.strip_prefix("content-length:"))
                .and_then(|value| value.trim().parse().ok())
                .unwrap_or(0);
            let total = end + 4 + length;
            while buffer.len() < total {
                let n = stream.read(&mut chunk).await?;
                if n == 0 {
                    return Ok(false);
                }
                buffer.extend_from_slice(&chunk[..n]);
            }
            buffer.drain(..total);
            return Ok(true);
        }
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(false);
        }
        buffer.extend_from_slice(&chunk[..n]);
    }
}

async fn serve_connection(mut stream: TcpStream) -> std::io::Result<()> {
    let response = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{ANSWER}",
        ANSWER.len()
    );
    let mut buffer = Vec::new();
    while read_request(&mut stream, &mut buffer).await? {
        stream.write_all(response.as_bytes()).await?;
    }
    Ok(())
}

/// Starts the instant server on 127.0.0.1 (a free port); it stops with the runtime.
async fn start_server() -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let _ = stream.set_nodelay(true);
            tokio::spawn(serve_connection(stream));
        }
    });
    Ok(addr)
}

/// Teacher calls per second through [`OpenAiClient`] at each concurrency (the issue
/// asks for 1, 16 and 64), `calls` calls per row after a short warm-up.
pub async fn bench_teacher_calls(
    concurrencies: &[usize],
    calls: usize,
) -> Result<Vec<TeacherBenchRow>, TeacherBenchError> {
    let addr = start_server().await?;
    let messages: Arc<[Message]> = vec![Message::user("What is 2 + 3?")].into();
    let sampling = Arc::new(Sampling {
        model: "bench".into(),
        temperature: 0.7,
        top_p: Some(1.0),
        max_tokens: Some(64),
        seed: Some(0),
    });
    let mut rows = Vec::new();
    for &concurrency in concurrencies {
        let client = Arc::new(OpenAiClient::new(ClientConfig {
            base_url: format!("http://{addr}/v1"),
            model: "bench".into(),
            api_key_env: String::new(),
            concurrency,
            timeout: Duration::from_secs(10),
            max_retries: 0,
            backoff_base: Duration::from_millis(10),
            backoff_max: Duration::from_millis(10),
            retry_after_max: Duration::from_millis(10),
        })?);
        let warm_up = concurrency.max(8);
        run_calls(&client, &messages, &sampling, warm_up).await?;
        let started = Instant::now();
        run_calls(&client, &messages, &sampling, calls).await?;
        let seconds = started.elapsed().as_secs_f64();
        rows.push(TeacherBenchRow {
            concurrency,
            calls,
            seconds,
            calls_per_s: calls as f64 / seconds.max(f64::EPSILON),
        });
    }
    Ok(rows)
}

async fn run_calls(
    client: &Arc<OpenAiClient>,
    messages: &Arc<[Message]>,
    sampling: &Arc<Sampling>,
    calls: usize,
) -> Result<(), TeacherBenchError> {
    let mut tasks = JoinSet::new();
    for _ in 0..calls {
        let (client, messages, sampling) = (client.clone(), messages.clone(), sampling.clone());
        tasks.spawn(async move { client.complete(&messages, &sampling).await });
    }
    while let Some(joined) = tasks.join_next().await {
        joined.map_err(|e| TeacherBenchError::Task(e.to_string()))??;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_row_completes_its_calls() {
        let rows = bench_teacher_calls(&[1, 4], 20).await.unwrap();
        assert_eq!(rows.len(), 2);
        for row in rows {
            assert_eq!(row.calls, 20);
            assert!(row.calls_per_s > 0.0 && row.seconds > 0.0, "{row:?}");
        }
    }
}
