//! Rendering the workspace's prompt templates (Jinja syntax: `{{ question }}`).

use minijinja::{Environment, UndefinedBehavior};
use serde::Serialize;

#[derive(Debug, thiserror::Error)]
#[error("prompt template {name}: {source}")]
pub struct PromptError {
    pub name: String,
    #[source]
    pub source: minijinja::Error,
}

/// Renders `template` with `context`. A placeholder the context lacks is an error, not
/// an empty string: a silently blank question would poison a whole dataset.
pub fn render<C: Serialize>(name: &str, template: &str, context: C) -> Result<String, PromptError> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    // Templates are plain text for models: keep their trailing newline as written.
    env.set_keep_trailing_newline(true);
    let wrap = |source| PromptError {
        name: name.to_owned(),
        source,
    };
    env.add_template(name, template).map_err(wrap)?;
    env.get_template(name)
        .and_then(|t| t.render(context))
        .map_err(wrap)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_and_refuses_missing_placeholders() {
        let text = render(
            "t",
            "Q: {{ question }}\n",
            minijinja::context! { question => "2+2?" },
        )
        .unwrap();
        assert_eq!(text, "Q: 2+2?\n");
        let err = render(
            "plan",
            "{{ plan }}",
            minijinja::context! { question => "x" },
        )
        .unwrap_err();
        assert!(
            err.to_string().starts_with("prompt template plan:"),
            "{err}"
        );
    }

    #[test]
    fn model_text_is_not_interpreted_as_template_syntax() {
        let text = render(
            "t",
            "{{ question }}",
            minijinja::context! { question => "{{ evil }} {% raw %}" },
        )
        .unwrap();
        assert_eq!(text, "{{ evil }} {% raw %}");
    }
}
