//! Chat templates: a model's own Jinja template rendered with minijinja, the way
//! Hugging Face `apply_chat_template` does (trim_blocks, lstrip_blocks, Python
//! string methods, `raise_exception`).

use std::path::{Path, PathBuf};

use minijinja::{Environment, ErrorKind, context};
use serde::{Deserialize, Serialize};

/// Used when a model ships no template of its own.
pub const CHATML_TEMPLATE: &str = "{% for message in messages %}\
{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}\
{% endfor %}\
{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub role: String,
    pub content: String,
}

impl ChatMessage {
    pub fn new(role: impl Into<String>, content: impl Into<String>) -> Self {
        Self {
            role: role.into(),
            content: content.into(),
        }
    }

    pub fn system(content: impl Into<String>) -> Self {
        Self::new("system", content)
    }

    pub fn user(content: impl Into<String>) -> Self {
        Self::new("user", content)
    }

    pub fn assistant(content: impl Into<String>) -> Self {
        Self::new("assistant", content)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ChatError {
    #[error("chat template does not parse: {0}")]
    Syntax(String),
    #[error("chat template raised: {0}")]
    Raised(String),
    #[error("rendering chat template: {0}")]
    Render(String),
    #[error("reading {path}: {message}")]
    Config { path: PathBuf, message: String },
}

/// A chat template with the special tokens it may refer to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatTemplate {
    pub source: String,
    pub bos_token: String,
    pub eos_token: String,
}

impl ChatTemplate {
    pub fn new(
        source: impl Into<String>,
        bos_token: impl Into<String>,
        eos_token: impl Into<String>,
    ) -> Self {
        Self {
            source: source.into(),
            bos_token: bos_token.into(),
            eos_token: eos_token.into(),
        }
    }

    /// The fallback ChatML template.
    pub fn chatml() -> Self {
        Self::new(CHATML_TEMPLATE, "<|im_start|>", "<|im_end|>")
    }

    /// Reads `chat_template`, `bos_token` and `eos_token` from a model directory's
    /// `tokenizer_config.json`, falling back to ChatML when the model has none.
    pub fn from_model_dir(dir: &Path) -> Result<Self, ChatError> {
        let path = dir.join("tokenizer_config.json");
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::chatml()),
            Err(e) => {
                return Err(ChatError::Config {
                    path,
                    message: e.to_string(),
                });
            }
        };
        let config: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| ChatError::Config {
                path: path.clone(),
                message: e.to_string(),
            })?;
        let token = |key: &str| -> String {
            match config.get(key) {
                Some(serde_json::Value::String(s)) => s.clone(),
                Some(serde_json::Value::Object(o)) => o
                    .get("content")
                    .and_then(|c| c.as_str())
                    .unwrap_or_default()
                    .to_string(),
                _ => String::new(),
            }
        };
        Ok(match config.get("chat_template").and_then(|t| t.as_str()) {
            Some(source) => Self::new(source, token("bos_token"), token("eos_token")),
            None => {
                let mut fallback = Self::chatml();
                if !token("eos_token").is_empty() {
                    fallback.eos_token = token("eos_token");
                }
                fallback
            }
        })
    }

    pub fn render(
        &self,
        messages: &[ChatMessage],
        add_generation_prompt: bool,
    ) -> Result<String, ChatError> {
        render_chat(self, messages, add_generation_prompt)
    }
}

fn raise_exception(message: String) -> Result<String, minijinja::Error> {
    Err(minijinja::Error::new(ErrorKind::InvalidOperation, message))
}

/// Renders `messages` with the model's template, as a prompt for generation when
/// `add_generation_prompt` is set.
pub fn render_chat(
    template: &ChatTemplate,
    messages: &[ChatMessage],
    add_generation_prompt: bool,
) -> Result<String, ChatError> {
    let mut env = Environment::new();
    // Hugging Face renders chat templates with these two settings on.
    env.set_trim_blocks(true);
    env.set_lstrip_blocks(true);
    env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
    env.add_function("raise_exception", raise_exception);
    env.add_template("chat", &template.source)
        .map_err(|e| ChatError::Syntax(e.to_string()))?;
    let tmpl = env
        .get_template("chat")
        .map_err(|e| ChatError::Syntax(e.to_string()))?;
    tmpl.render(context! {
        messages => messages,
        add_generation_prompt => add_generation_prompt,
        bos_token => &template.bos_token,
        eos_token => &template.eos_token,
    })
    .map_err(|e| match e.kind() {
        ErrorKind::InvalidOperation => {
            ChatError::Raised(e.detail().unwrap_or("raise_exception").to_string())
        }
        _ => ChatError::Render(e.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const QWEN25_STYLE: &str = "{%- if messages[0]['role'] == 'system' %}\n\
    {{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}\n\
{%- else %}\n\
    {{- '<|im_start|>system\\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\\n' }}\n\
{%- endif %}\n\
{%- for message in messages %}\n\
    {%- if not (message.role == 'system' and loop.first) %}\n\
        {{- '<|im_start|>' + message.role + '\\n' + message.content.strip() + '<|im_end|>' + '\\n' }}\n\
    {%- endif %}\n\
{%- endfor %}\n\
{%- if add_generation_prompt %}\n\
    {{- '<|im_start|>assistant\\n' }}\n\
{%- endif %}\n";

    const LLAMA3_STYLE: &str = "{{- bos_token }}\n\
{%- for message in messages %}\n\
    {%- if message['role'] not in ['system', 'user', 'assistant'] %}\n\
        {{- raise_exception('Unknown role: ' + message['role']) }}\n\
    {%- endif %}\n\
    {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + message['content'] | trim + '<|eot_id|>' }}\n\
{%- endfor %}\n\
{%- if add_generation_prompt %}\n\
    {{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}\n\
{%- endif %}\n";

    #[test]
    fn chatml_fallback() {
        let out = ChatTemplate::chatml()
            .render(&[ChatMessage::user("Hi")], true)
            .expect("render");
        assert_eq!(
            out,
            "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
        );
    }

    #[test]
    fn qwen25_style_inserts_default_system_and_strips() {
        let t = ChatTemplate::new(QWEN25_STYLE, "", "<|im_end|>");
        let out = t
            .render(&[ChatMessage::user("  2+2?  ")], true)
            .expect("render");
        assert_eq!(
            out,
            "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n\
<|im_start|>user\n2+2?<|im_end|>\n<|im_start|>assistant\n"
        );
        let out = t
            .render(
                &[
                    ChatMessage::system("Be terse."),
                    ChatMessage::user("Hi"),
                    ChatMessage::assistant("Hello"),
                ],
                false,
            )
            .expect("render");
        assert_eq!(
            out,
            "<|im_start|>system\nBe terse.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n\
<|im_start|>assistant\nHello<|im_end|>\n"
        );
    }

    #[test]
    fn llama3_style_uses_bos_and_raises_on_unknown_role() {
        let t = ChatTemplate::new(LLAMA3_STYLE, "<|begin_of_text|>", "<|eot_id|>");
        let out = t
            .render(&[ChatMessage::user(" Hi ")], true)
            .expect("render");
        assert_eq!(
            out,
            "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>\
<|start_header_id|>assistant<|end_header_id|>\n\n"
        );
        let err = t
            .render(&[ChatMessage::new("tool", "x")], true)
            .expect_err("unknown role must raise");
        match err {
            ChatError::Raised(msg) => assert!(msg.contains("Unknown role: tool"), "{msg}"),
            other => panic!("expected Raised, got {other:?}"),
        }
    }

    #[test]
    fn syntax_errors_are_reported() {
        let t = ChatTemplate::new("{% for m in messages %}", "", "");
        assert!(matches!(
            t.render(&[ChatMessage::user("x")], false),
            Err(ChatError::Syntax(_))
        ));
    }

    #[test]
    fn model_dir_without_template_falls_back_to_chatml() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            dir.path().join("tokenizer_config.json"),
            r#"{"eos_token": "<|im_end|>"}"#,
        )
        .expect("write");
        let t = ChatTemplate::from_model_dir(dir.path()).expect("load");
        assert_eq!(t.source, CHATML_TEMPLATE);
        let with_template =
            r#"{"chat_template": "{{ bos_token }}X", "bos_token": {"content": "<s>"}}"#;
        std::fs::write(dir.path().join("tokenizer_config.json"), with_template).expect("write");
        let t = ChatTemplate::from_model_dir(dir.path()).expect("load");
        assert_eq!(t.render(&[], false).expect("render"), "<s>X");
    }
}
