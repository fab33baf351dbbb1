//! One line of text per event, for `plantune-tui runs tail` and logs. Untrusted text
//! (samples, log messages) is sanitised: a tail is often read in a terminal.

use super::event::{RunEvent, RunStatus, TimedEvent};
use crate::text::sanitize;

fn clip(text: &str, max: usize) -> String {
    let clean = sanitize(text).replace('\n', " ⏎ ");
    if clean.chars().count() <= max {
        clean
    } else {
        let mut short: String = clean.chars().take(max).collect();
        short.push('…');
        short
    }
}

pub fn event_line(event: &TimedEvent) -> String {
    match &event.event {
        RunEvent::RunStarted {
            device,
            parameters,
            trainable_parameters,
            ..
        } => format!(
            "run started on {device}: {parameters} parameters, {trainable_parameters} trainable"
        ),
        RunEvent::Step {
            step,
            total_steps,
            epoch,
            loss,
            lr,
            grad_norm,
            tokens_per_s,
            reward_mean,
            kl,
            accuracy,
            ..
        } => {
            let total = total_steps.map(|t| format!("/{t}")).unwrap_or_default();
            let mut line = format!(
                "step {step}{total} epoch {epoch:.2} loss {loss:.4} lr {lr:.2e} grad {grad_norm:.3} {tokens_per_s:.0} tok/s"
            );
            if let Some(r) = reward_mean {
                line.push_str(&format!(" reward {r:.3}"));
            }
            if let Some(k) = kl {
                line.push_str(&format!(" kl {k:.4}"));
            }
            if let Some(a) = accuracy {
                line.push_str(&format!(" acc {:.1}%", 100.0 * a));
            }
            line
        }
        RunEvent::Eval { step, metrics } => {
            let parts: Vec<String> = metrics.iter().map(|(k, v)| format!("{k} {v:.4}")).collect();
            format!("eval @ step {step}: {}", parts.join(", "))
        }
        RunEvent::Sample {
            step,
            completion,
            reward,
            ..
        } => format!(
            "sample @ step {step} (reward {}): {}",
            reward
                .map(|r| format!("{r:.2}"))
                .unwrap_or_else(|| "-".into()),
            clip(completion, 100)
        ),
        RunEvent::Checkpoint { step, path } => {
            format!("checkpoint @ step {step}: {}", sanitize(path))
        }
        RunEvent::Device(stats) => {
            let mut line = String::from("device:");
            if let Some(cpu) = stats.cpu_pct {
                line.push_str(&format!(" cpu {cpu:.0}%"));
            }
            if let Some(rss) = stats.rss_mib {
                line.push_str(&format!(" rss {rss:.0} MiB"));
            }
            for gpu in &stats.gpus {
                line.push_str(&format!(
                    " gpu{} {}% {:.0}/{:.0} MiB",
                    gpu.index,
                    gpu.utilisation_pct.unwrap_or(0.0),
                    gpu.memory_used_mib.unwrap_or(0.0),
                    gpu.memory_total_mib.unwrap_or(0.0)
                ));
            }
            line
        }
        RunEvent::Log { level, message } => format!("[{}] {}", sanitize(level), clip(message, 200)),
        RunEvent::RunFinished { status, error } => match (status, error) {
            (RunStatus::Completed, _) => "run finished: completed".into(),
            (RunStatus::Stopped, _) => {
                "run finished: stopped (resume with `plantune-tui runs resume`)".into()
            }
            (RunStatus::Failed, e) => format!(
                "run finished: FAILED: {}",
                e.as_deref().map(|e| clip(e, 300)).unwrap_or_default()
            ),
        },
        RunEvent::Unknown => "(an event kind this version does not know)".into(),
    }
}
