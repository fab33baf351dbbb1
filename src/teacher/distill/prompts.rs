//! The four prompt templates of the pipeline, rendered with minijinja.

use minijinja::{Environment, UndefinedBehavior, context};

use super::DistillError;
use crate::teacher::chat::Message;
use crate::workspace::Workspace;

/// The four prompt templates, checked before any call so a typo fails the job at once.
pub(super) struct Prompts {
    env: Environment<'static>,
    constraints: String,
    plan: String,
    judge: String,
    execute: String,
}

impl Prompts {
    pub(super) fn load(ws: &Workspace) -> Result<Self, DistillError> {
        let mut env = Environment::new();
        // A misspelt placeholder would otherwise send the teacher an empty section.
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        let prompts = Self {
            env,
            constraints: ws.prompt("constraints")?,
            plan: ws.prompt("plan")?,
            judge: ws.prompt("judge")?,
            execute: ws.prompt("execute")?,
        };
        prompts.constraints("q")?;
        prompts.plan("q", "c")?;
        prompts.judge("q", "c", "p")?;
        prompts.execute("q", "p")?;
        Ok(prompts)
    }

    fn render(
        &self,
        name: &'static str,
        source: &str,
        values: minijinja::Value,
    ) -> Result<Vec<Message>, DistillError> {
        let text = self
            .env
            .render_str(source, values)
            .map_err(|e| DistillError::Template {
                name,
                message: match e.line() {
                    Some(line) => format!("line {line}: {e}"),
                    None => e.to_string(),
                },
            })?;
        Ok(vec![Message::user(text)])
    }

    pub(super) fn constraints(&self, question: &str) -> Result<Vec<Message>, DistillError> {
        self.render("constraints", &self.constraints, context! { question })
    }

    pub(super) fn plan(
        &self,
        question: &str,
        constraints: &str,
    ) -> Result<Vec<Message>, DistillError> {
        self.render("plan", &self.plan, context! { question, constraints })
    }

    pub(super) fn judge(
        &self,
        question: &str,
        constraints: &str,
        plan: &str,
    ) -> Result<Vec<Message>, DistillError> {
        self.render(
            "judge",
            &self.judge,
            context! { question, constraints, plan },
        )
    }

    pub(super) fn execute(&self, question: &str, plan: &str) -> Result<Vec<Message>, DistillError> {
        self.render("execute", &self.execute, context! { question, plan })
    }
}
