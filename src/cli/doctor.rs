//! `plantune-tui doctor`: every path in use and the facts that explain odd behaviour.

use std::path::Path;

use anyhow::Result;

use crate::config::Paths;
use crate::workspace::Workspace;

fn exists(path: &Path) -> &'static str {
    if path.exists() { "" } else { "  (absent)" }
}

pub fn run(paths: &Paths, workspace_dir: &Path, threads: Option<usize>) -> Result<()> {
    say!("plantune-tui {}", env!("CARGO_PKG_VERSION"));
    say!("\npaths");
    let rows = [
        ("config dir", paths.config_dir.clone()),
        ("user config", paths.user_config()),
        ("user themes", paths.user_themes()),
        ("user keymap", paths.user_keymap()),
        ("data dir", paths.data_dir.clone()),
        ("cache dir", paths.cache_dir.clone()),
        ("default workspace", paths.default_workspace()),
        ("workspace in use", workspace_dir.to_path_buf()),
    ];
    for (label, path) in &rows {
        say!("  {label:<18} {}{}", path.display(), exists(path));
    }
    say!(
        "  (override with {}, {}, {}, PLANTUNE_WORKSPACE or --workspace)",
        crate::config::paths::CONFIG_DIR_ENV,
        crate::config::paths::DATA_DIR_ENV,
        crate::config::paths::CACHE_DIR_ENV
    );

    say!("\nworkspace");
    match Workspace::open(workspace_dir, paths) {
        Ok(ws) => {
            say!("  name               {}", ws.name());
            say!("  config             {}", ws.config_path().display());
            say!(
                "  database           {}{}",
                ws.db_path().display(),
                exists(&ws.db_path())
            );
            say!("  prompts            {}", ws.prompts_dir().display());
            say!("  models             {}", ws.models_dir().display());
            say!("  runs               {}", ws.runs_dir().display());
            say!("  exports            {}", ws.exports_dir().display());
            say!("  theme              {}", ws.config.ui.theme);
            let teacher = &ws.config.teacher;
            let key_state = if teacher.api_key_env.is_empty() {
                "no key configured".to_owned()
            } else if std::env::var_os(&teacher.api_key_env).is_some() {
                format!("${} is set", teacher.api_key_env)
            } else {
                format!("${} is NOT set", teacher.api_key_env)
            };
            say!(
                "  teacher            {:?} {} at {} ({key_state})",
                teacher.kind,
                teacher.model,
                teacher.base_url
            );
            if teacher.kind == crate::workspace::config::TeacherKind::Openai {
                check_teacher(teacher);
            }
        }
        Err(err) => say!("  {err}"),
    }

    say!("\nmachine");
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    say!("  cores              {cores}");
    let rayon_env = std::env::var("RAYON_NUM_THREADS").unwrap_or_else(|_| "unset".into());
    say!(
        "  threads            --threads {}, RAYON_NUM_THREADS {rayon_env}",
        threads
            .map(|t| t.to_string())
            .unwrap_or_else(|| "unset".into())
    );
    say!("  sqlite             {}", rusqlite::version());
    say!(
        "  gpu                {}",
        if cfg!(feature = "cuda") {
            "built with CUDA"
        } else {
            "CPU-only build"
        }
    );
    Ok(())
}

/// A few tiny requests to the configured endpoint: what distillation will meet.
fn check_teacher(section: &crate::workspace::config::TeacherSection) {
    use crate::teacher::ClientConfig;
    use crate::teacher::probe::probe;
    say!("\nteacher check");
    let mut config = ClientConfig::from_section(section);
    // A check, not a job: an unreachable server should not hold doctor for minutes.
    config.timeout = config.timeout.min(std::time::Duration::from_secs(30));
    let report = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime.block_on(probe(&config)),
        Err(e) => {
            say!("  cannot start the async runtime: {e}");
            return;
        }
    };
    match report {
        Ok(r) => {
            say!("  endpoint           {}", &r.endpoint);
            say!("  latency            {} ms", r.latency.as_millis());
            let model = r.model_echoed.as_deref().unwrap_or("(none in the answer)");
            say!("  model echoed       {}", model);
            say!("  n honoured         {}", &r.n.to_string());
            say!("  seed honoured      {}", &r.seed.to_string());
            say!("  streaming          {}", &r.streaming.to_string());
        }
        Err(e) => say!("  FAILED: {}", &e.to_string()),
    }
}
