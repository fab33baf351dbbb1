//! `plantune-tui serve`: resolve and load the model, bind, print the address, serve
//! until Ctrl-C or SIGTERM (a second signal stops at once).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};

use crate::config::Paths;
use crate::serve::{Engine, LogSink, RequestLog, ServerInfo, resolve_model};
use crate::text::sanitize;
use crate::workspace::Workspace;

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Model directory (Hugging Face layout), a LoRA adapter folder, or a run (its
    /// folder or id: serves its `final/` model); relative to the workspace or absolute.
    model: PathBuf,
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// 0 picks a free port (read the address from the first line of stdout).
    #[arg(long, default_value_t = 8000)]
    port: u16,
    /// Model name listed by /v1/models (default: the folder's or run's name).
    #[arg(long)]
    name: Option<String>,
    /// Completion tokens for requests that set no max_tokens.
    #[arg(long, default_value_t = 1024)]
    max_tokens: usize,
    /// Requests that may wait for the model; more are refused with 503.
    #[arg(long, default_value_t = 64)]
    queue: usize,
    /// Seconds a client has to send a request's header.
    #[arg(long, default_value_t = 10.0, value_name = "SECONDS")]
    header_timeout: f64,
    /// Seconds a client has to send a request's body (then 408).
    #[arg(long, default_value_t = 30.0, value_name = "SECONDS")]
    body_timeout: f64,
    /// Seconds a kept-alive connection may sit idle before it is closed.
    #[arg(long, default_value_t = 60.0, value_name = "SECONDS")]
    idle_timeout: f64,
    /// Connections open at once; more are answered 503 and closed.
    #[arg(long, default_value_t = 1024)]
    max_connections: usize,
    /// Seconds the requests in flight get to finish after SIGTERM before the server
    /// exits regardless (stalled clients are dropped at once).
    #[arg(long, default_value_t = 30.0, value_name = "SECONDS")]
    shutdown_timeout: f64,
}

impl ServeArgs {
    fn limits(&self) -> Result<crate::serve::Limits> {
        let seconds = |flag: &str, value: f64| {
            std::time::Duration::try_from_secs_f64(value)
                .ok()
                .filter(|d| !d.is_zero())
                .with_context(|| format!("--{flag} {value}: expected a positive number of seconds"))
        };
        Ok(crate::serve::Limits {
            header_timeout: seconds("header-timeout", self.header_timeout)?,
            body_timeout: seconds("body-timeout", self.body_timeout)?,
            idle_timeout: seconds("idle-timeout", self.idle_timeout)?,
            max_connections: self.max_connections.max(1),
            shutdown_timeout: seconds("shutdown-timeout", self.shutdown_timeout)?,
        })
    }
}

pub fn run(
    workspace_dir: &Path,
    paths: &Paths,
    args: ServeArgs,
    threads: Option<usize>,
) -> Result<()> {
    // The workspace is optional: it only anchors relative model paths and run ids and
    // supplies ui.threads.
    let workspace = if workspace_dir.join("plantune.toml").is_file() {
        Some(Workspace::open(workspace_dir, paths)?)
    } else {
        None
    };
    let threads =
        threads.unwrap_or_else(|| workspace.as_ref().map_or(0, |ws| ws.config.ui.threads));
    super::configure_threads(threads)?;
    let limits = args.limits()?;
    let source = resolve_model(&args.model, workspace.as_ref().map(|ws| ws.root.as_path()))?;
    let name = args.name.clone().unwrap_or_else(|| source.name.clone());

    let runtime = tokio::runtime::Builder::new_multi_thread()
        // Connections only parse JSON and wait; the model has its own thread.
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        // Signals are hooked before anything is printed, so a SIGTERM sent as soon as
        // the address appears is a graceful stop, not a kill.
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let mut signals = Signals::new()?;
        let listener = tokio::net::TcpListener::bind((args.host.as_str(), args.port))
            .await
            .with_context(|| format!("binding {}:{}", args.host, args.port))?;
        let addr = listener.local_addr().context("reading the bound address")?;
        let engine = Engine::load(&source, args.max_tokens)?;
        let context = engine.context();
        let (queue, worker) = crate::infer::engine::spawn_worker(engine, args.queue)?;

        let mut stdout = std::io::stdout().lock();
        // A reader that closed the pipe after the first line must not stop the server.
        let _ = writeln!(stdout, "http://{addr}/v1");
        let model_shown = match &source.adapter {
            Some(adapter) => format!("{} + LoRA {}", source.base.display(), adapter.display()),
            None => source.base.display().to_string(),
        };
        let _ = writeln!(
            stdout,
            "ready: serving {} ({}, context {context} tokens, threads: {}) at http://{addr}/v1 \
             (POST /chat/completions, GET /models); Ctrl-C stops",
            sanitize(&name),
            sanitize(&model_shown),
            rayon::current_num_threads()
        );
        let _ = stdout.flush();
        drop(stdout);

        tokio::spawn(async move {
            signals.next().await;
            warn!("shutting down: finishing the requests in flight (signal again to stop now)");
            let _ = stop.send(());
            signals.next().await;
            warn!("stopped before the requests in flight finished");
            std::process::exit(130);
        });
        let log: LogSink = Arc::new(|l: &RequestLog| {
            warn!(
                "{} {} {} {}+{} tokens {:.2} s",
                l.method, l.route, l.status, l.prompt_tokens, l.completion_tokens, l.seconds
            );
        });
        let info = ServerInfo {
            model_name: name,
            max_body: crate::serve::DEFAULT_MAX_BODY,
            limits,
        };
        crate::serve::serve(listener, queue, info, log, async {
            let _ = stopped.await;
        })
        .await
        .context("serving")?;
        // Every queue handle is gone with the connections; the worker ends after its
        // last job.
        // The worker ends after its current job; a generation cut off by the shutdown
        // limit gets one more second, so the exit stays bounded.
        let (joined, join_result) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = joined.send(worker.join().is_ok());
        });
        if join_result.recv_timeout(std::time::Duration::from_secs(1)) == Ok(false) {
            anyhow::bail!("the model worker panicked");
        }
        warn!("stopped");
        anyhow::Ok(())
    })
}

/// Ctrl-C and SIGTERM as one stream.
struct Signals {
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
}

impl Signals {
    fn new() -> Result<Self> {
        Ok(Self {
            #[cfg(unix)]
            term: tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                .context("hooking SIGTERM")?,
        })
    }

    async fn next(&mut self) {
        #[cfg(unix)]
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = self.term.recv() => {}
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
    }
}
