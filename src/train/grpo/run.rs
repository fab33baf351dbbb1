//! The body of a GRPO run, once the run machinery (`runs/`) holds the run's lock and
//! has resolved its dataset: the prompts it trains on (drawn from the dataset, with
//! each problem's gold answer and accepted teacher plan), its rewards, the reference
//! model, and training from the newest checkpoint to the final model.

use std::collections::HashSet;

use super::rewards::{PlanJudge, RewardSet, TeacherPlanReward, split_plan};
use super::{GrpoConfig, GrpoError, GrpoJob, GrpoPrompt, GrpoRunConfig};
use crate::jobs::StopFlag;
use crate::model::chat::ChatMessage;
use crate::runlog::EventWriter;
use crate::train::dataset;
use crate::train::job::{self, Ending, JobPaths, PrepareError};
use crate::train::student::{Student, StudentError, load_student_from, model_dir};
use crate::workspace::Workspace;
use crate::workspace::store::DatasetRecord;

/// One prompt per problem of the dataset, rendered through the student's chat template
/// exactly as SFT trained it.
pub fn build_prompts(
    ws: &Workspace,
    student: &Student,
    dataset_path: &str,
) -> Result<Vec<GrpoPrompt>, PrepareError> {
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
pub fn reward_set(ws: &Workspace, config: &GrpoConfig) -> Result<RewardSet, PrepareError> {
    let mut set = RewardSet::local(&config.rewards);
    if config.rewards.plan != 0.0 && config.rewards.plan_judge == PlanJudge::Teacher {
        let client_config = crate::teacher::ClientConfig::from_section(&ws.config.teacher);
        let client =
            crate::teacher::OpenAiClient::new(client_config).map_err(|e| PrepareError::Config {
                path: ws.root.join(crate::workspace::layout::CONFIG_FILE),
                message: format!("[teacher] for the GRPO plan judge: {e}"),
            })?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(job::io(&ws.root))?;
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

/// The run's body; the lock, heartbeat and final status are the run machinery's.
pub fn train(
    ws: &Workspace,
    config: &GrpoRunConfig,
    dataset: &DatasetRecord,
    paths: &JobPaths,
    events: &mut EventWriter,
    stop: StopFlag,
) -> Result<Ending, GrpoError> {
    let student = load_student_from(
        ws,
        &config.model,
        &config.lora,
        config.grpo.seed,
        config.precision,
    )
    .map_err(PrepareError::from)?;
    let prompts = build_prompts(ws, &student, &dataset.path)?;
    job::check_lengths(
        prompts.iter().map(|p| (p.id.as_str(), p.prompt_ids.len())),
        config.max_prompt_len,
    )?;
    let reference = if config.grpo.objective.beta > 0.0 {
        let path = model_dir(ws, &config.model);
        let (model, _) = crate::device::load_model(&path, config.precision.compute_dtype())
            .map_err(|e| {
                PrepareError::from(StudentError::Model {
                    dir: path.clone(),
                    message: e.to_string(),
                })
            })?;
        Some(model)
    } else {
        None
    };
    let rewards = reward_set(ws, &config.grpo)?;
    let resume = job::latest_checkpoint(paths)?;
    let _telemetry = job::announce(events, paths, config, &student)?;
    let job = GrpoJob {
        policy: &student,
        reference: reference.as_ref(),
        prompts: &prompts,
        rewards: &rewards,
        config: &config.grpo,
        checkpoints: paths.checkpoints.clone(),
        dataset_hash: Some(dataset.content_hash.clone()),
        stop,
        pause_at: None,
    };
    let outcome = job.run(events, resume.as_deref())?;
    if outcome.ending == Ending::Completed {
        job::save_final(&student, paths, events)?;
    }
    Ok(outcome.ending)
}
