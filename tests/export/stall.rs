//! The stall alarm end to end without Python: `train sft` with an `[engine]` whose
//! "python" is a shell script writing TRL-shaped log lines, three steps half a second
//! apart, then three seconds of silence, then the last step. With `[engine.stall]`
//! multiplier 2 and a 1 s floor the watcher raises the alarm once during the silence and
//! clears it when the last step comes; the run still completes.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use plantune_tui::runlog::{RunEvent, RunStatus, read_all};
use plantune_tui::runs::RunSummary;

use super::bundle_workspace;

const FAKE_ENGINE: &str = r#"#!/bin/sh
while [ $# -gt 0 ]; do
    case "$1" in
        --log) log="$2"; shift ;;
        --output-dir) out="$2"; shift ;;
    esac
    shift
done
step() { echo "{\"event\":\"step\",\"step\":$1,\"loss\":0.5,\"lr\":0.00001,\"max_steps\":4}" >> "$log"; }
echo '{"event":"start","max_steps":4}' >> "$log"
step 1; sleep 0.5; step 2; sleep 0.5; step 3
sleep 3
step 4
mkdir -p "$out/final" && echo '{}' > "$out/final/config.json"
echo '{"event":"end","status":"completed","step":4,"max_steps":4}' >> "$log"
"#;

fn cli(ws: &Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_plantune-tui"))
        .arg("--workspace")
        .arg(ws)
        .args(["--threads", "1", "--quiet"])
        .args(args)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{args:?}: {said}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    said
}

#[test]
fn a_silent_engine_raises_the_stall_alarm_once_and_its_next_step_clears_it() {
    let (fixture, _) = bundle_workspace();
    let ws = fixture.root().to_path_buf();
    let engine = ws.join("fake-engine.sh");
    std::fs::write(&engine, FAKE_ENGINE).unwrap();
    std::fs::set_permissions(&engine, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::create_dir_all(ws.join("models/fake")).unwrap();
    std::fs::write(ws.join("models/fake/config.json"), "{}").unwrap();
    let config = ws.join("stall.toml");
    std::fs::write(
        &config,
        format!(
            "[engine]\nname = \"trl\"\npython = \"{}\"\n\n[engine.stall]\nmultiplier = 2\nfloor_s = 1\nstartup_s = 30\n",
            engine.display()
        ),
    )
    .unwrap();
    let said = cli(
        &ws,
        &[
            "train",
            "sft",
            "--config",
            config.to_str().unwrap(),
            "--model",
            "models/fake",
            "--dataset",
            "plan1",
            "--max-steps",
            "4",
            "--foreground",
        ],
    );
    let id = said.split_whitespace().nth(1).unwrap().to_owned();
    let run = ws.join("runs").join(&id);
    let run_toml = std::fs::read_to_string(run.join("run.toml")).unwrap();
    assert!(run_toml.contains("multiplier = 2"), "{run_toml}");

    let events = read_all(&run.join("events.jsonl")).unwrap().events;
    let order: Vec<String> = events
        .iter()
        .filter_map(|e| match &e.event {
            RunEvent::Step { step, .. } => Some(format!("step {step}")),
            RunEvent::Log { level, .. } if level.starts_with("alarm") => Some(level.clone()),
            RunEvent::RunFinished { status, .. } => Some(format!("{status:?}")),
            _ => None,
        })
        .collect();
    assert_eq!(
        order,
        [
            "step 1",
            "step 2",
            "step 3",
            "alarm",
            "alarm_cleared",
            "step 4",
            "Completed"
        ],
        "{events:#?}"
    );
    let alarm = events
        .iter()
        .find_map(|e| match &e.event {
            RunEvent::Log { level, message } if level == "alarm" => Some(message.clone()),
            _ => None,
        })
        .unwrap();
    assert!(alarm.starts_with("stalled: no step for "), "{alarm}");
    assert!(alarm.contains("typical step "), "{alarm}");

    let summary = RunSummary::read(&run.join("events.jsonl")).unwrap();
    assert_eq!(summary.alarm, None);
    assert_eq!(summary.finished, Some((RunStatus::Completed, None)));
    let tail = cli(&ws, &["runs", "tail", &id]);
    assert!(tail.contains("[alarm] stalled: no step for "), "{tail}");
    assert!(
        tail.contains("[alarm_cleared] steps resumed after "),
        "{tail}"
    );
}
