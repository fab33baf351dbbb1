//! A real TRL run on the CPU, launched with `train --engine trl` on a tiny Llama our own
//! code writes, and followed only through the run's `events.jsonl`: SFT for 3 steps,
//! stopped after its first step and resumed from that checkpoint (the resumed attempt
//! starts at step 2, not 0), then GRPO for 2 steps with every reward component logged.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use plantune_tui::model::tiny::{TinyConfig, create};
use plantune_tui::runlog::{RunEvent, RunStatus, TimedEvent, read_all, steps_by_attempt};

use super::{bundle_workspace, python};

fn cli(ws: &Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_plantune-tui"))
        .arg("--workspace")
        .arg(ws)
        .args(["--threads", "1", "--quiet"])
        .args(args)
        .env("OMP_NUM_THREADS", "1")
        .env("TOKENIZERS_PARALLELISM", "false")
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

fn run_id(said: &str) -> String {
    said.split_whitespace().nth(1).unwrap().to_owned()
}

fn events(ws: &Path, id: &str) -> Vec<TimedEvent> {
    read_all(&ws.join("runs").join(id).join("events.jsonl"))
        .map(|r| r.events)
        .unwrap_or_default()
}

/// Waits (up to 5 minutes: importing torch and TRL alone takes seconds) for an event.
fn wait_for(ws: &Path, id: &str, what: &str, found: impl Fn(&[TimedEvent]) -> bool) {
    let start = Instant::now();
    while !found(&events(ws, id)) {
        let log = std::fs::read_to_string(ws.join("runs").join(id).join("engine.log"))
            .unwrap_or_default();
        assert!(
            start.elapsed() < Duration::from_secs(300),
            "no {what} in run {id}; engine.log:\n{log}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn finished(events: &[TimedEvent]) -> Option<(RunStatus, Option<String>)> {
    events.iter().rev().find_map(|e| match &e.event {
        RunEvent::RunFinished { status, error } => Some((*status, error.clone())),
        _ => None,
    })
}

fn tiny_llama(ws: &Path) {
    let corpus: Vec<String> = (0..40)
        .map(|i| {
            format!(
                "Plan:\n1. Add {i} and 3.\n\nExecution:\n{i} + 3 = \\boxed{{{}}}",
                i + 3
            )
        })
        .collect();
    let cfg = TinyConfig {
        vocab_size: 300,
        hidden_size: 64,
        intermediate_size: 96,
        num_hidden_layers: 2,
        num_attention_heads: 4,
        num_key_value_heads: 2,
        max_position_embeddings: 512,
        seed: 1,
    };
    create(&ws.join("models/trl-tiny"), corpus.iter(), &cfg).unwrap();
}

#[test]
fn trl_sft_stops_resumes_from_its_checkpoint_and_grpo_logs_its_rewards() {
    let (fixture, _) = bundle_workspace();
    let ws = fixture.root().to_path_buf();
    tiny_llama(&ws);
    let py = python();
    let py = py.to_str().unwrap();
    let said = cli(
        &ws,
        &[
            "train",
            "sft",
            "--engine",
            "trl",
            "--python",
            py,
            "--model",
            "models/trl-tiny",
            "--dataset",
            "plan1",
            "--max-steps",
            "3",
            "--batch",
            "2",
            "--engine-arg=--cpu",
            "--engine-arg=--save-steps=1",
        ],
    );
    let id = run_id(&said);
    // The engine writes its start line once its SIGTERM handler is in place, so a stop
    // now lands before the first step ends: that step is checkpointed and the run stops.
    wait_for(&ws, &id, "run_started", |e| {
        e.iter()
            .any(|e| matches!(e.event, RunEvent::RunStarted { .. }))
    });
    cli(&ws, &["runs", "stop", &id]);
    wait_for(&ws, &id, "run_finished", |e| finished(e).is_some());
    let first = events(&ws, &id);
    assert_eq!(finished(&first), Some((RunStatus::Stopped, None)));
    let steps = steps_by_attempt(&first);
    assert_eq!(steps.keys().copied().collect::<Vec<_>>(), vec![1]);
    assert!(first.iter().any(|e| matches!(
        &e.event,
        RunEvent::Checkpoint { step: 1, path } if path.ends_with("checkpoint-1")
    )));

    cli(&ws, &["runs", "resume", &id]);
    wait_for(&ws, &id, "a second run_finished", |e| {
        e.iter()
            .filter(|e| matches!(e.event, RunEvent::RunFinished { .. }))
            .count()
            == 2
    });
    let all = events(&ws, &id);
    assert_eq!(finished(&all), Some((RunStatus::Completed, None)));
    let steps = steps_by_attempt(&all);
    let attempts: Vec<(u64, u32)> = steps.iter().map(|(s, (a, _))| (*s, *a)).collect();
    assert_eq!(attempts, vec![(1, 1), (2, 2), (3, 2)]);
    for (_, event) in steps.values() {
        let RunEvent::Step {
            loss,
            lr,
            total_steps,
            ..
        } = event.event
        else {
            unreachable!()
        };
        assert!(loss.is_finite() && loss > 0.0, "{loss}");
        assert!(lr > 0.0);
        assert_eq!(total_steps, Some(3));
    }
    assert!(
        ws.join("runs")
            .join(&id)
            .join("final/config.json")
            .is_file()
    );
    let listed = cli(&ws, &["runs", "list"]);
    assert!(
        listed.contains(&id) && listed.contains("completed"),
        "{listed}"
    );

    let said = cli(
        &ws,
        &[
            "train",
            "grpo",
            "--engine",
            "trl",
            "--python",
            py,
            "--model",
            "models/trl-tiny",
            "--dataset",
            "plan1",
            "--max-steps",
            "2",
            "--group",
            "4",
            "--prompts",
            "1",
            "--max-new-tokens",
            "16",
            "--engine-arg=--cpu",
            "--foreground",
        ],
    );
    let id = run_id(&said);
    let all = events(&ws, &id);
    assert_eq!(finished(&all), Some((RunStatus::Completed, None)), "{said}");
    let steps = steps_by_attempt(&all);
    assert_eq!(steps.keys().copied().collect::<Vec<_>>(), vec![1, 2]);
    for (_, event) in steps.values() {
        let RunEvent::Step {
            rewards,
            reward_mean,
            completion_len,
            ..
        } = &event.event
        else {
            unreachable!()
        };
        let names: Vec<&str> = rewards.keys().map(String::as_str).collect();
        assert_eq!(names, ["answer", "format", "plan"]);
        assert!(reward_mean.is_some() && completion_len.is_some_and(|l| l > 0.0));
    }
    assert!(
        all.iter()
            .any(|e| matches!(&e.event, RunEvent::Sample { gold: Some(_), .. }))
    );
}
