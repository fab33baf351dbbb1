//! The records the store holds, shared by importers, teachers, curation and training.

use serde::{Deserialize, Serialize};

/// A problem as an importer or generator produces it, before the store assigns an id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewProblem {
    /// Dataset name, e.g. `gsm8k`, `math`, `aime`, `olympiad`, `synth`.
    pub dataset: String,
    /// `train`, `test`, or a synthetic split such as `test_id` / `test_ood`.
    pub split: String,
    /// The id the source gives the item (unique within a dataset), used to make
    /// re-imports idempotent.
    pub external_id: String,
    pub question: String,
    pub gold_answer: String,
    pub gold_solution: Option<String>,
    /// Free-form extra fields (year, subject, number of steps...).
    pub metadata: serde_json::Value,
}

/// A stored problem.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Problem {
    pub id: i64,
    #[serde(flatten)]
    pub fields: NewProblem,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CandidateStatus {
    Pending,
    Accepted,
    Rejected,
}

impl CandidateStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Accepted => "accepted",
            Self::Rejected => "rejected",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "pending" => Some(Self::Pending),
            "accepted" => Some(Self::Accepted),
            "rejected" => Some(Self::Rejected),
            _ => None,
        }
    }
}

/// The sampling parameters a teacher used, kept so a candidate can be reproduced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Sampling {
    pub model: String,
    pub temperature: f32,
    pub top_p: Option<f32>,
    pub max_tokens: Option<u32>,
    pub seed: Option<u64>,
}

/// A planning trajectory as a teacher writes it, before the store assigns an id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewCandidate {
    pub problem_id: i64,
    /// Which teacher wrote it (`oracle`, `openai:gpt-4o`, `local:models/x`...).
    pub teacher: String,
    /// Index of this plan among the N plans drawn for the problem.
    pub plan_index: u32,
    pub constraints: String,
    pub plan: String,
    pub plan_steps: Vec<String>,
    pub execution: String,
    pub extracted_answer: Option<String>,
    pub correct: Option<bool>,
    /// The grader's reason for `correct`, shown in the curation view.
    pub grade_reason: String,
    /// Judge score in [-100, 100].
    pub judge_score: Option<i32>,
    pub judge_reason: String,
    pub sampling: Sampling,
}

/// A stored candidate with its curation state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    pub id: i64,
    #[serde(flatten)]
    pub fields: NewCandidate,
    pub status: CandidateStatus,
    /// True once any field differs from what the teacher wrote.
    pub edited: bool,
    pub created_ms: i64,
    pub updated_ms: i64,
}
