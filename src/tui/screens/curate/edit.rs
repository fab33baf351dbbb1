//! Edits of a candidate: a plan step or the execution typed in the editor, and the
//! teacher's new execution of an edited plan (started here, stored when it arrives).

use anyhow::Context as _;

use super::{CurateScreen, EditTarget, Original};
use crate::tui::background::Outcome;
use crate::tui::reexecute;
use crate::tui::regrade::regrade_execution;
use crate::tui::screens::Ctx;
use crate::workspace::config::TeacherKind;
use crate::workspace::records::{Candidate, Problem};
use crate::workspace::store::{EditField, FieldChange};

impl CurateScreen {
    pub(super) fn commit_edit(
        &mut self,
        ctx: &mut Ctx,
        target: EditTarget,
        text: String,
    ) -> anyhow::Result<()> {
        let Some(detail) = &self.detail else {
            return Ok(());
        };
        let id = detail.candidate.id;
        let fields = &detail.candidate.fields;
        let changes = match target {
            EditTarget::Step(i) => {
                let mut steps = fields.plan_steps.clone();
                let Some(old) = steps.get(i).cloned() else {
                    anyhow::bail!("plan step {} no longer exists", i + 1);
                };
                steps[i] = text.clone();
                let plan = if !old.is_empty() && fields.plan.matches(&old).count() == 1 {
                    fields.plan.replacen(&old, &text, 1)
                } else {
                    numbered(&steps)
                };
                vec![
                    FieldChange::new(
                        id,
                        EditField::PlanSteps,
                        serde_json::to_string(&steps).context("encoding plan steps")?,
                    ),
                    FieldChange::new(id, EditField::Plan, plan),
                ]
            }
            EditTarget::Execution => execution_changes(id, &detail.problem, &text),
        };
        let applied = ctx.store.apply_changes(&changes)?;
        ctx.info = Some(match (applied, target) {
            (None, _) => "no change".into(),
            (Some(_), EditTarget::Step(i)) => format!("candidate {id}: step {} edited", i + 1),
            (Some(_), EditTarget::Execution) => format!("candidate {id}: execution edited"),
        });
        self.reload(ctx)
    }

    /// Stores the teacher's new execution of a candidate's plan as an edit of the
    /// execution, like one typed in the editor: re-graded, one undo step, the
    /// original kept for the diff.
    fn store_reexecution(
        &mut self,
        ctx: &mut Ctx,
        id: i64,
        plan: &str,
        text: &str,
    ) -> anyhow::Result<()> {
        let candidate = ctx.store.candidate(id)?;
        if candidate.fields.plan != plan {
            anyhow::bail!(
                "candidate {id}'s plan changed while the teacher executed it; its answer \
                 was not stored (re-execute again)"
            );
        }
        let problem = ctx.store.problem(candidate.fields.problem_id)?;
        let applied = ctx
            .store
            .apply_changes(&execution_changes(id, &problem, text))?;
        ctx.info = Some(match applied {
            None => format!("candidate {id}: the teacher wrote the same execution again"),
            Some(_) => {
                let verdict = match regrade_execution(&problem, text) {
                    Some(grade) => match (grade.correct, grade.extracted_answer) {
                        (Some(true), _) => "correct".to_owned(),
                        (_, Some(answer)) => format!("incorrect (answer {answer})"),
                        (_, None) => "incorrect (no answer found)".to_owned(),
                    },
                    None => "not graded".to_owned(),
                };
                format!("candidate {id}: plan re-executed by the teacher, re-graded {verdict}")
            }
        });
        self.reload(ctx)
    }

    /// Asks the teacher to execute the selected candidate's plan, as it stands now,
    /// again; the answer arrives as a background result (`plan_executed`).
    pub(super) fn reexecute_plan(&mut self, ctx: &mut Ctx) -> anyhow::Result<()> {
        let detail = self.detail.as_ref().context("no candidate selected")?;
        let teacher = &ctx.workspace.config.teacher;
        if teacher.kind == TeacherKind::Oracle {
            anyhow::bail!(
                "the oracle teacher cannot execute an edited plan (it writes whole \
                 trajectories); set [teacher] kind = \"openai\" or \"local\" in plantune.toml"
            );
        }
        let id = detail.candidate.id;
        if self.reexecuting.contains(&id) {
            anyhow::bail!("the teacher is already executing candidate {id}'s plan");
        }
        let request = reexecute::Request {
            candidate_id: id,
            question: detail.problem.fields.question.clone(),
            plan: detail.candidate.fields.plan.clone(),
            sampling: detail.candidate.fields.sampling.clone(),
        };
        let model = teacher.model.clone();
        let (job, done) = ctx.start_job()?;
        self.reexecuting.insert(id);
        reexecute::spawn(ctx.workspace.clone(), request, job, done);
        ctx.info = Some(format!(
            "candidate {id}: the teacher ({model}) is executing the plan again; the \
             answer is stored as an edit and re-graded"
        ));
        Ok(())
    }

    /// The teacher's answer to `reexecute_plan`.
    pub(super) fn plan_executed(&mut self, outcome: &Outcome, ctx: &mut Ctx) -> anyhow::Result<()> {
        let Outcome::PlanExecuted {
            candidate_id,
            plan,
            result,
        } = outcome
        else {
            return Ok(());
        };
        self.reexecuting.remove(candidate_id);
        match result {
            Ok(text) => self.store_reexecution(ctx, *candidate_id, plan, text),
            Err(e) => anyhow::bail!("re-executing candidate {candidate_id}'s plan: {e}"),
        }
    }
}

/// An edit of the execution with the verdict recomputed for it, applied as one step.
pub(super) fn execution_changes(id: i64, problem: &Problem, text: &str) -> Vec<FieldChange> {
    let mut changes = vec![FieldChange::new(id, EditField::Execution, text.to_owned())];
    if let Some(grade) = regrade_execution(problem, text) {
        changes.extend(
            grade
                .fields()
                .into_iter()
                .map(|(field, value)| FieldChange {
                    candidate_id: id,
                    field,
                    value,
                }),
        );
    }
    changes
}

pub(super) fn numbered(steps: &[String]) -> String {
    steps
        .iter()
        .enumerate()
        .map(|(i, s)| format!("{}. {s}", i + 1))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The editable parts of a trajectory as one text, so one diff shows every edit.
pub(super) fn comparable(parts: &(String, Vec<String>, String)) -> String {
    format!(
        "## Constraints\n{}\n## Plan\n{}\n## Execution\n{}",
        parts.0,
        numbered(&parts.1),
        parts.2
    )
}

pub(super) fn original_view(o: &Original) -> (String, Vec<String>, String) {
    (
        o.constraints.clone(),
        o.plan_steps.clone(),
        o.execution.clone(),
    )
}

pub(super) fn candidate_view(c: &Candidate) -> (String, Vec<String>, String) {
    (
        c.fields.constraints.clone(),
        c.fields.plan_steps.clone(),
        c.fields.execution.clone(),
    )
}

/// A verdict is stale when the execution differs from what was graded and no fresh
/// grade agrees with the stored one.
pub(super) fn verdict_is_stale(
    candidate: &Candidate,
    problem: &Problem,
    original: &Original,
) -> bool {
    let f = &candidate.fields;
    if f.execution == original.execution {
        return false;
    }
    match regrade_execution(problem, &f.execution) {
        Some(grade) => {
            grade.correct != f.correct
                || grade.extracted_answer != f.extracted_answer
                || grade.reason != f.grade_reason
        }
        None => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_step_edit_keeps_the_rest_of_the_plan_text() {
        assert_eq!(numbered(&["a".into(), "b".into()]), "1. a\n2. b");
    }
}
