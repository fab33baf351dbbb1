//! `final/README.md`: the Hugging Face model card of a completed run, so the folder
//! says what it is wherever it is taken (the Hub, PEFT, a colleague's disk): YAML front
//! matter (base_model, library_name, tags) and the method, data, steps,
//! hyper-parameters and the command that reproduces it.

use std::path::Path;

use super::{RunDir, RunKind};
use crate::workspace::store::DatasetRecord;

pub const CARD_FILE: &str = "README.md";

/// What the card says about a run.
#[derive(Debug, Clone, PartialEq)]
pub struct CardFacts<'a> {
    pub run_id: &'a str,
    pub kind: RunKind,
    pub base_model: &'a str,
    pub lora_rank: usize,
    pub dataset: &'a DatasetRecord,
    pub steps: Option<u64>,
    /// The frozen `run.toml`, verbatim.
    pub run_toml: &'a str,
    /// `(metric, value)` lines of evaluations stored for this model.
    pub evaluations: &'a [(String, String)],
}

fn method(kind: RunKind, dataset_kind: &str) -> (&'static str, &'static str) {
    match (kind, dataset_kind) {
        (RunKind::Grpo, _) => (
            "grpo",
            "GRPO: reinforcement learning on answer correctness (+ plan format), \
             group-relative advantages, KL to a frozen reference",
        ),
        (RunKind::Sft, "baseline") => ("baseline", "baseline SFT: question → gold solution"),
        (RunKind::Sft, "plan1") => (
            "plan-tuning-method-1",
            "plan-tuning method 1: question → plan + step-by-step execution + answer, one pass",
        ),
        (RunKind::Sft, "plan2") => (
            "plan-tuning-method-2",
            "plan-tuning method 2: question → plan, then question + plan → execution",
        ),
        (RunKind::Sft, _) => ("sft", "supervised fine-tuning on a built dataset"),
    }
}

/// YAML needs quotes around most free text; JSON strings are valid YAML scalars.
fn yaml_str(text: &str) -> String {
    serde_json::Value::String(text.to_string()).to_string()
}

/// The card's Markdown text.
pub fn render(f: &CardFacts) -> String {
    let (tag, description) = method(f.kind, &f.dataset.kind);
    let lora = f.lora_rank > 0;
    let library = if lora { "peft" } else { "transformers" };
    let mut tags = vec!["plantune-tui", "plan-tuning", f.kind.name()];
    if tag != f.kind.name() {
        tags.push(tag);
    }
    if lora {
        tags.push("lora");
    }
    let mut out = String::from("---\n");
    out += &format!("base_model: {}\n", yaml_str(f.base_model));
    out += &format!("library_name: {library}\npipeline_tag: text-generation\ntags:\n");
    for t in tags {
        out += &format!("- {t}\n");
    }
    out += "---\n\n";
    out += &format!("# {}\n\n", f.run_id);
    out += &format!(
        "A student model post-trained with [plantune-tui](https://arxiv.org/abs/2507.07495) \
         ({}).\n\n",
        if lora {
            format!(
                "a LoRA adapter of rank {} over `{}`",
                f.lora_rank, f.base_model
            )
        } else {
            format!("all weights of `{}` trained", f.base_model)
        }
    );
    out += &format!("## Method\n\n{description}.\n\n");
    out += &format!(
        "## Data\n\n- dataset: `{}` ({})\n- content hash: `{}`\n- examples: {}\n\n",
        f.dataset.name, f.dataset.kind, f.dataset.content_hash, f.dataset.n_examples
    );
    out += "## Training\n\n";
    match f.steps {
        Some(s) => out += &format!("- steps: {s}\n"),
        None => out += "- steps: none recorded\n",
    }
    out += &format!(
        "- hyper-parameters (the run's frozen `run.toml`):\n\n```toml\n{}\n```\n\n",
        f.run_toml.trim_end()
    );
    out += "## Evaluation\n\n";
    if f.evaluations.is_empty() {
        out += &format!(
            "None stored when the run finished; `plantune-tui eval --model runs/{}/final \
             --benchmark DATASET/SPLIT --mode MODE` measures it and records it here.\n\n",
            f.run_id
        );
    } else {
        out += "| metric | value |\n| --- | --- |\n";
        for (metric, value) in f.evaluations {
            out += &format!("| {metric} | {value} |\n");
        }
        out += "\n";
    }
    out += &format!(
        "## Reproduce\n\n```sh\nplantune-tui train {} --config runs/{}/run.toml --foreground\n```\n",
        f.kind.name(),
        f.run_id
    );
    out
}

/// Writes the card into the run's `final/` (after the model is saved there).
pub fn write_card(dir: &RunDir, facts: &CardFacts) -> std::io::Result<()> {
    let final_dir = dir.final_model();
    write_atomically(&final_dir.join(CARD_FILE), &render(facts))
}

const EVALUATION: &str = "## Evaluation\n\n";

/// Puts `metric = value` into the Evaluation table of the card in `model_dir` (a run's
/// `final/`), replacing an earlier value of the same metric, so the card follows the
/// evaluations stored after training. Returns false, touching nothing, where the folder
/// holds no card of ours (a README someone else wrote stays as it is).
pub fn record_evaluation(model_dir: &Path, metric: &str, value: &str) -> std::io::Result<bool> {
    let path = model_dir.join(CARD_FILE);
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Ok(false);
    };
    let Some(updated) = with_evaluation(&text, metric, value) else {
        return Ok(false);
    };
    write_atomically(&path, &updated)?;
    Ok(true)
}

fn with_evaluation(card: &str, metric: &str, value: &str) -> Option<String> {
    if !card.starts_with("---\n") || !card.contains("- plantune-tui\n") {
        return None;
    }
    let start = card.find(EVALUATION)? + EVALUATION.len();
    let end = card[start..]
        .find("\n## ")
        .map_or(card.len(), |i| start + i + 1);
    // Table cells hold no pipes of their own: metric and value are ours.
    let clean = |cell: &str| cell.replace('|', "/");
    let mut rows: Vec<(String, String)> = card[start..end]
        .lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line
                .trim()
                .strip_prefix('|')?
                .strip_suffix('|')?
                .split('|')
                .collect();
            let [m, v] = cells[..] else { return None };
            let (m, v) = (m.trim(), v.trim());
            (m != "metric" && !m.starts_with("---")).then(|| (m.to_string(), v.to_string()))
        })
        .collect();
    let metric = clean(metric);
    match rows.iter_mut().find(|(m, _)| *m == metric) {
        Some(row) => row.1 = clean(value),
        None => rows.push((metric, clean(value))),
    }
    let mut table = String::from("| metric | value |\n| --- | --- |\n");
    for (m, v) in &rows {
        table += &format!("| {m} | {v} |\n");
    }
    Some(format!("{}{table}\n{}", &card[..start], &card[end..]))
}

fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    let tmp = path.with_extension("md.tmp");
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dataset() -> DatasetRecord {
        DatasetRecord {
            id: 1,
            name: "plan1-demo".into(),
            kind: "plan1".into(),
            content_hash: "ab12cd34".into(),
            n_examples: 48,
            path: "datasets/plan1.jsonl".into(),
            params: serde_json::Value::Null,
            created_ms: 0,
        }
    }

    #[test]
    fn card_has_front_matter_method_data_and_command() {
        let ds = dataset();
        let evals = [("accuracy (gsm8k-test, 50)".to_string(), "0.420".to_string())];
        let text = render(&CardFacts {
            run_id: "sft-0003",
            kind: RunKind::Sft,
            base_model: "models/SmolLM2-135M",
            lora_rank: 8,
            dataset: &ds,
            steps: Some(120),
            run_toml: "model = \"models/SmolLM2-135M\"\n[lora]\nrank = 8\n",
            evaluations: &evals,
        });
        let (front, body) = text
            .strip_prefix("---\n")
            .and_then(|t| t.split_once("---\n"))
            .expect("front matter");
        assert!(
            front.contains("base_model: \"models/SmolLM2-135M\"\n"),
            "{front}"
        );
        assert!(front.contains("library_name: peft\n"), "{front}");
        assert!(
            front.contains("- plan-tuning-method-1\n- lora\n"),
            "{front}"
        );
        assert!(body.contains("plan-tuning method 1"), "{body}");
        assert!(
            body.contains("`ab12cd34`") && body.contains("examples: 48"),
            "{body}"
        );
        assert!(
            body.contains("steps: 120") && body.contains("rank = 8"),
            "{body}"
        );
        assert!(
            body.contains("| accuracy (gsm8k-test, 50) | 0.420 |"),
            "{body}"
        );
        assert!(body.contains("plantune-tui train sft --config runs/sft-0003/run.toml"));
    }

    #[test]
    fn evaluations_measured_later_fill_the_card_and_replace_their_earlier_value() {
        let ds = dataset();
        let card = render(&CardFacts {
            run_id: "sft-0001",
            kind: RunKind::Sft,
            base_model: "m",
            lora_rank: 0,
            dataset: &ds,
            steps: Some(3),
            run_toml: "",
            evaluations: &[],
        });
        let once = with_evaluation(&card, "accuracy (synth/test_id, direct)", "0.400").unwrap();
        let twice = with_evaluation(&once, "accuracy (synth/test_ood, direct)", "0.100").unwrap();
        let again = with_evaluation(&twice, "accuracy (synth/test_id, direct)", "0.450").unwrap();
        assert!(!again.contains("None stored"), "{again}");
        assert!(
            again.contains(
                "## Evaluation\n\n| metric | value |\n| --- | --- |\n\
             | accuracy (synth/test_id, direct) | 0.450 |\n\
             | accuracy (synth/test_ood, direct) | 0.100 |\n\n## Reproduce"
            ),
            "{again}"
        );
        assert_eq!(again.matches("## Reproduce").count(), 1);
        // Someone else's README is left alone.
        assert_eq!(
            with_evaluation("# my model\n\n## Evaluation\n\n", "a", "b"),
            None
        );
    }

    #[test]
    fn full_grpo_card_names_transformers_and_no_evaluation_yet() {
        let ds = dataset();
        let text = render(&CardFacts {
            run_id: "grpo-0001",
            kind: RunKind::Grpo,
            base_model: "runs/sft-0003/final",
            lora_rank: 0,
            dataset: &ds,
            steps: None,
            run_toml: "",
            evaluations: &[],
        });
        assert!(text.contains("library_name: transformers\n"), "{text}");
        assert!(text.contains("- plan-tuning\n- grpo\n---"), "{text}");
        assert!(text.contains("GRPO: reinforcement learning"), "{text}");
        assert!(text.contains("None stored when the run finished"), "{text}");
    }
}
