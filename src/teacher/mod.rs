//! Teachers that write planning trajectories: the OpenAI-compatible client, the
//! oracle for the synthetic domain, and the distill pipeline that runs over any of
//! them through the [`Teacher`] trait.

pub mod bench;
pub mod chat;
pub mod client;
pub mod distill;
pub mod local;
pub mod oracle;
pub mod parse;
pub mod probe;

pub use chat::{Completion, Message, Role, Teacher, TeacherError, Usage};
pub use client::{ClientConfig, OpenAiClient};
pub use distill::{
    DistillError, DistillEvent, DistillOptions, DistillProgress, DistillReport, distill,
    distill_with,
};
pub use local::LocalTeacher;
