//! A GRPO run as a process: its frozen config, the prompts it trains on (drawn from a
//! built dataset, with each problem's gold answer and accepted teacher plan), and the
//! worker body that the shared run machinery in `train::run` calls.

use std::collections::HashSet;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::rewards::{PlanJudge, RewardSet, TeacherPlanReward, split_plan};
use super::{GrpoConfig, GrpoJob, GrpoPrompt};
use crate::device::DeviceSpec;
use crate::jobs::StopFlag;
use crate::model::chat::ChatMessage;
use crate::runlog::{EventWriter, RunEvent};
use crate::train::dataset;
use crate::train::precision::Precision;
use crate::train::run::{LoraSection, RunError, resolve_dataset};
use crate::train::sft::Ending;
use crate::train::student::{Student, StudentError, load_student_from};
use crate::workspace::Workspace;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GrpoRunConfig {
    /// The starting policy: a model directory (relative to the workspace or absolute),
    /// usually an SFT run's `final`, or `tiny`. It is also the frozen reference.
    pub model: String,
    /// The dataset whose problems give the prompts (`plan1`, `baseline`, or a hash).
    pub dataset: String,
    /// Prompts longer than this many tokens are an error before the run starts.
    pub max_prompt_len: usize,
    pub threads: usize,
    /// As in SFT runs: `f32` or `bf16`; the reference model computes in it too.
    pub precision: Precision,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device: Option<DeviceSpec>,
    pub lora: LoraSection,
    pub grpo: GrpoConfig,
}

impl Default for GrpoRunConfig {
    fn default() -> Self {
        Self {
            model: "tiny".into(),
            dataset: "plan1".into(),
            max_prompt_len: 1024,
            threads: 0,
            precision: Precision::default(),
            device: None,
            lora: LoraSection::default(),
            grpo: GrpoConfig::default(),
        }
    }
}

/// One prompt per problem of the dataset, rendered through the student's chat template
/// exactly as SFT trained it.
pub fn build_prompts(
    ws: &Workspace,
    student: &Student,
    dataset_path: &str,
) -> Result<Vec<GrpoPrompt>, RunError> {
    let examples = dataset::load(ws, dataset_path)?;
    let store = ws.store()?;
    let mut seen = HashSet::new();
    let mut prompts = Vec::new();
    for example in examples {
        if !seen.insert(example.problem_id) {
            continue;
        }
        let Some((completion, prompt)) = example.messages.split_last() else {
            continue;
        };
        let problem = store.problem(example.problem_id)?;
        let reference_plan = split_plan(&completion.content).map(|(plan, _)| plan.to_owned());
        let chat: Vec<ChatMessage> = prompt
            .iter()
            .map(|m| ChatMessage::new(m.role.clone(), m.content.clone()))
            .collect();
        let prompt_text = student
            .template
            .render(&chat, true)
            .map_err(StudentError::from)?;
        let prompt_ids = student
            .tokenizer
            .encode(&prompt_text, false)
            .map_err(StudentError::from)?;
        prompts.push(GrpoPrompt {
            id: example.id,
            question: problem.fields.question,
            gold: example.gold_answer,
            reference_plan,
            prompt_text,
            prompt_ids,
        });
    }
    Ok(prompts)
}

/// The reward components a run's config asks for; the teacher judge needs the
/// workspace's teacher settings.
pub fn reward_set(ws: &Workspace, config: &GrpoConfig) -> Result<RewardSet, RunError> {
    let mut set = RewardSet::local(&config.rewards);
    if config.rewards.plan != 0.0 && config.rewards.plan_judge == PlanJudge::Teacher {
        let client_config = crate::teacher::ClientConfig::from_section(&ws.config.teacher);
        let client =
            crate::teacher::OpenAiClient::new(client_config).map_err(|e| RunError::Config {
                path: ws.root.join(crate::workspace::layout::CONFIG_FILE),
                message: format!("[teacher] for the GRPO plan judge: {e}"),
            })?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|source| RunError::Io {
                path: ws.root.clone(),
                source,
            })?;
        set.components.push((
            Box::new(TeacherPlanReward {
                teacher: client,
                template: ws.prompt("plan_similarity")?,
                runtime,
                max_tokens: 256,
            }),
            config.rewards.plan,
        ));
    }
    Ok(set)
}

/// The body of a GRPO run's worker (the lock, heartbeat and final status are the
/// shared machinery's).
pub fn train_in_worker(
    ws: &Workspace,
    id: &str,
    dir: &Path,
    events: &mut EventWriter,
    stop: StopFlag,
) -> Result<Ending, RunError> {
    let config: GrpoRunConfig = crate::train::run::read_toml(&dir.join("run.toml"))?;
    let dataset = resolve_dataset(ws, &config.dataset)?;
    let student = load_student_from(
        ws,
        &config.model,
        &config.lora,
        config.grpo.seed,
        config.precision,
    )?;
    let prompts = build_prompts(ws, &student, &dataset.path)?;
    crate::train::run::record_dataset_hash(ws, id, &dataset.content_hash)?;
    let too_long: Vec<&str> = prompts
        .iter()
        .filter(|p| p.prompt_ids.len() > config.max_prompt_len)
        .map(|p| p.id.as_str())
        .collect();
    if !too_long.is_empty() {
        return Err(RunError::TooLong {
            max_len: config.max_prompt_len,
            ids: format!(
                "{} ({} in all)",
                too_long[..too_long.len().min(5)].join(", "),
                too_long.len()
            ),
        });
    }
    let reference = if config.grpo.objective.beta > 0.0 {
        let path = crate::train::student::model_dir(ws, &config.model);
        Some(
            crate::device::load_model(&path, config.precision.compute_dtype())
                .map_err(|e| StudentError::Model {
                    dir: path.clone(),
                    message: e.to_string(),
                })?
                .0,
        )
    } else {
        None
    };
    let rewards = reward_set(ws, &config.grpo)?;
    let resume = crate::train::checkpoint::list(&dir.join("checkpoints"))?
        .pop()
        .map(|(_, p)| p);
    let (device, parameters, trainable) = student.describe();
    events
        .write(RunEvent::RunStarted {
            config: serde_json::to_value(&config).unwrap_or_default(),
            device,
            parameters,
            trainable_parameters: trainable,
        })
        .map_err(|source| RunError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
    let _telemetry = crate::telemetry::Sampler::start(events.path()).ok();
    let job = GrpoJob {
        policy: &student,
        reference: reference.as_ref(),
        prompts: &prompts,
        rewards: &rewards,
        config: &config.grpo,
        checkpoints: dir.join("checkpoints"),
        dataset_hash: Some(dataset.content_hash.clone()),
        stop,
        pause_at: None,
    };
    let outcome = job.run(events, resume.as_deref())?;
    if outcome.ending == Ending::Completed {
        crate::train::run::save_final(&student, dir, events)?;
    }
    Ok(outcome.ending)
}
