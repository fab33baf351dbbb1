//! Run events (`events.jsonl`): the contract between a run and every viewer. Shared by
//! `train/` (which writes) and `tui/` (which tails), so the TUI never imports training.

pub mod attempts;
mod event;
pub mod render;
mod tailer;
mod writer;

pub use attempts::{Attempts, StepFate, steps_by_attempt};
pub use event::{
    ALARM_CLEARED_LEVEL, ALARM_LEVEL, DeviceStats, GpuStats, RunEvent, RunStatus, TimedEvent,
};
pub use tailer::{ReadAll, Tailer, read_all};
pub use writer::EventWriter;
