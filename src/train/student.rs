//! A student model ready to train: weights (full or with LoRA adapters), tokenizer and
//! chat template, and how to save what was learned.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use serde::{Deserialize, Serialize};

use super::batch::TokenizedExample;
use super::dataset::Message;
use super::optim::NamedVar;
use super::precision::Precision;
use super::trainable::Trainable;
use crate::model::chat::{ChatError, ChatMessage, ChatTemplate};
use crate::model::checkpoint::{load_model, save_model};
use crate::model::decoder::Model;
use crate::model::lora::{LoraConfig, parameter_count};
use crate::model::tokenizer::{ModelTokenizer, TokenizerError};
use crate::workspace::Workspace;

/// A run's `[lora]` table: adapters on the named projections, or full fine-tuning.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoraSection {
    /// 0 = full fine-tuning.
    pub rank: usize,
    pub alpha: f64,
    pub targets: Vec<String>,
}

impl Default for LoraSection {
    fn default() -> Self {
        Self {
            rank: 0,
            alpha: 16.0,
            targets: ["q_proj", "k_proj", "v_proj", "o_proj"]
                .map(String::from)
                .to_vec(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StudentError {
    #[error("model {}: {message}", dir.display())]
    Model { dir: PathBuf, message: String },
    #[error(transparent)]
    Tokenizer(#[from] TokenizerError),
    #[error(transparent)]
    Chat(#[from] ChatError),
    #[error("an example has no assistant message to learn")]
    NoCompletion,
    #[error("tokenizer of {} has no end-of-sequence token", .0.display())]
    NoEos(PathBuf),
}

pub struct Student {
    pub model: Model,
    pub tokenizer: ModelTokenizer,
    pub template: ChatTemplate,
    pub dir: PathBuf,
    params: Vec<NamedVar>,
    lora: Option<LoraConfig>,
    total_parameters: u64,
}

fn model_err<E: std::fmt::Display>(dir: &Path) -> impl Fn(E) -> StudentError + '_ {
    move |e| StudentError::Model {
        dir: dir.to_path_buf(),
        message: e.to_string(),
    }
}

/// Where a run's `model` setting points: `tiny` is the workspace's from-scratch model.
pub fn model_dir(ws: &Workspace, model: &str) -> PathBuf {
    let path = Path::new(model);
    if path.is_absolute() {
        return path.to_path_buf();
    }
    if model == "tiny" {
        return ws.models_dir().join("tiny");
    }
    ws.root.join(path)
}

impl Student {
    /// Loads a model directory for training: all weights trainable, or frozen base
    /// weights with LoRA adapters when `lora` is given. In bf16 the weights are read
    /// at f32 first, so the f32 masters of full fine-tuning are the exact originals.
    pub fn load(
        dir: &Path,
        lora: Option<LoraConfig>,
        seed: u64,
        precision: Precision,
    ) -> Result<Self, StudentError> {
        let device = crate::device::current().map_err(model_err(dir))?;
        Self::load_on(dir, lora, seed, precision, &device)
    }

    /// [`Student::load`] onto `device` rather than the process's selected one.
    pub fn load_on(
        dir: &Path,
        lora: Option<LoraConfig>,
        seed: u64,
        precision: Precision,
        device: &Device,
    ) -> Result<Self, StudentError> {
        let err = model_err(dir);
        let (mut model, _config) = load_model(dir, DType::F32, device).map_err(model_err(dir))?;
        let originals = model.named_weights().map_err(&err)?;
        let total_parameters = originals.iter().map(|(_, t)| t.elem_count() as u64).sum();
        let dtype = precision.compute_dtype();
        let mut masters: HashMap<String, Tensor> = HashMap::new();
        if dtype != DType::F32 {
            if lora.is_none() {
                masters = originals.into_iter().collect();
            }
            model.cast(dtype).map_err(&err)?;
        } else {
            drop(originals);
        }
        let named = match &lora {
            Some(cfg) => {
                model.freeze_base().map_err(&err)?;
                model.attach_lora(cfg, seed).map_err(model_err(dir))?
            }
            None => model.trainable_full().map_err(&err)?,
        };
        model.set_training(true);
        let params = named
            .into_iter()
            .map(|(name, var)| match masters.remove(&name) {
                Some(master) => Ok(NamedVar::with_master(
                    name,
                    var,
                    candle_core::Var::from_tensor(&master)?,
                )),
                None => Ok(NamedVar::new(name, var)),
            })
            .collect::<candle_core::Result<Vec<_>>>()
            .map_err(&err)?;
        Ok(Self {
            tokenizer: ModelTokenizer::from_dir(dir)?,
            template: ChatTemplate::from_model_dir(dir)?,
            dir: dir.to_path_buf(),
            model,
            params,
            lora,
            total_parameters,
        })
    }

    pub fn pad_id(&self) -> u32 {
        self.tokenizer
            .pad_id()
            .or_else(|| self.tokenizer.eos_id())
            .unwrap_or(0)
    }

    /// The prompt through the model's own chat template (with the generation prompt),
    /// then the completion and the end-of-turn token: exactly what generation will see.
    pub fn encode_example(&self, messages: &[Message]) -> Result<TokenizedExample, StudentError> {
        let Some((completion, prompt)) = messages.split_last() else {
            return Err(StudentError::NoCompletion);
        };
        if completion.role != "assistant" {
            return Err(StudentError::NoCompletion);
        }
        let chat: Vec<ChatMessage> = prompt
            .iter()
            .map(|m| ChatMessage::new(m.role.clone(), m.content.clone()))
            .collect();
        let prompt_text = self.template.render(&chat, true)?;
        let prompt_ids = self.tokenizer.encode(&prompt_text, false)?;
        let mut completion_ids = self.tokenizer.encode(&completion.content, false)?;
        let eos = self
            .tokenizer
            .eos_id()
            .ok_or_else(|| StudentError::NoEos(self.dir.clone()))?;
        completion_ids.push(eos);
        Ok(TokenizedExample::new(&prompt_ids, &completion_ids))
    }

    /// (device, all parameters, trainable parameters) for `run_started`.
    pub fn describe(&self) -> (String, u64, u64) {
        let pairs: Vec<(String, candle_core::Var)> = self
            .params
            .iter()
            .map(|p| (p.name.clone(), p.var.clone()))
            .collect();
        (
            crate::device::label(self.model.device()),
            self.total_parameters,
            parameter_count(&pairs) as u64,
        )
    }

    /// Saves a loadable model: the adapter in PEFT's layout for LoRA, else the full
    /// model (with the source's tokenizer files) in Hugging Face layout, from the f32
    /// masters when the run computed in bf16.
    pub fn save(&self, out: &Path) -> Result<(), StudentError> {
        let err = model_err(out);
        match &self.lora {
            Some(cfg) => self
                .model
                .save_lora(out, cfg, &self.dir.display().to_string())
                .map_err(err),
            None => {
                let masters: HashMap<String, Tensor> = self
                    .params
                    .iter()
                    .filter_map(|p| Some((p.name.clone(), p.master.as_ref()?.as_tensor().clone())))
                    .collect();
                let model = self.model.with_weights(&masters).map_err(model_err(out))?;
                save_model(&model, out, Some(&self.dir)).map_err(err)
            }
        }
    }
}

impl Trainable for Student {
    fn logits(&self, input_ids: &Tensor, attention_mask: &Tensor) -> candle_core::Result<Tensor> {
        self.model.forward(input_ids, Some(attention_mask), None)
    }

    // Through the model's fused head + loss, so training never holds [tokens × vocab] logits.
    fn next_token_loss(
        &self,
        input_ids: &Tensor,
        attention_mask: &Tensor,
        labels: &Tensor,
    ) -> candle_core::Result<(Tensor, usize)> {
        self.model
            .next_token_loss(input_ids, Some(attention_mask), labels)
    }

    fn trainable_params(&self) -> Vec<NamedVar> {
        self.params.clone()
    }

    fn device(&self) -> Device {
        self.model.device().clone()
    }
}

/// The directory of student `model`, creating the workspace's tiny model first when
/// `model` is `tiny` and it does not exist yet.
pub fn ensure_model(ws: &Workspace, model: &str) -> Result<PathBuf, StudentError> {
    let dir = model_dir(ws, model);
    if model == "tiny" && !dir.join("config.json").is_file() {
        super::tiny::create_for_workspace(ws, &dir).map_err(|e| StudentError::Model {
            dir: dir.clone(),
            message: e.to_string(),
        })?;
    }
    Ok(dir)
}

/// The student named `model` (see [`model_dir`]), with LoRA adapters when `lora.rank`
/// is above 0.
pub fn load_student_from(
    ws: &Workspace,
    model: &str,
    lora: &LoraSection,
    seed: u64,
    precision: Precision,
) -> Result<Student, StudentError> {
    let dir = ensure_model(ws, model)?;
    let lora = (lora.rank > 0).then(|| {
        let targets: Vec<&str> = lora.targets.iter().map(String::as_str).collect();
        LoraConfig::new(lora.rank, lora.alpha, 0.0, &targets)
    });
    Student::load(&dir, lora, seed, precision)
}
