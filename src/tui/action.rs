//! The one vocabulary of things a user can do. Keymap, help overlay, command palette
//! and tests all speak it; a config file names an action by its snake_case name.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Everything bindable, plus internal variants (`serde(skip)`) that carry data from
/// prompts, editors and the event loop back into `update`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    // Global.
    Quit,
    ToggleHelp,
    OpenPalette,
    NextScreen,
    PrevScreen,
    ShowCurate,
    ShowRuns,
    ShowCompare,
    ShowEval,
    Up,
    Down,
    PageUp,
    PageDown,
    Top,
    Bottom,
    FocusNext,
    Cancel,
    // Curate.
    Accept,
    Reject,
    ResetPending,
    NextPending,
    Undo,
    Redo,
    BulkAcceptBest,
    BulkRejectIncorrect,
    Search,
    CycleStatusFilter,
    CycleCorrectFilter,
    ToggleEditedFilter,
    ScoreRange,
    ClearFilters,
    CycleSort,
    NextCandidate,
    PrevCandidate,
    NextStep,
    PrevStep,
    EditStep,
    EditExecution,
    EditExecutionExternal,
    ToggleDiff,
    ToggleOverview,
    ReexecutePlan,
    // Runs.
    StopRun,
    ResumeRun,
    OpenRunConfig,
    NewRunFromPreset,
    // Compare.
    CycleSetA,
    CycleSetB,
    CycleCompareFilter,
    NextOnlyA,
    NextOnlyB,
    ToggleRunMark,
    ToggleSmoothing,
    ToggleChartX,
    ToggleSamplePrompt,
    PrevSampleStep,
    NextSampleStep,
    // Eval.
    LaunchEval,
    // Internal: produced by prompts, editors and the loop, never bound to keys.
    #[serde(skip)]
    Tick,
    #[serde(skip)]
    SetSearch(String),
    #[serde(skip)]
    BulkAcceptAt(i32),
    #[serde(skip)]
    SetScoreRange(Option<i32>, Option<i32>),
    /// The inline or external editor finished with this text.
    #[serde(skip)]
    CommitEdit(String),
    #[serde(skip)]
    ShowError(String),
    /// A left click at a terminal cell (column, row), hit-tested against the layout.
    #[serde(skip)]
    ClickAt {
        column: u16,
        row: u16,
    },
    /// The wheel turned over a terminal cell: scrolls the pane under it.
    #[serde(skip)]
    ScrollAt {
        column: u16,
        row: u16,
        down: bool,
    },
    /// Create and launch a run from this preset file.
    #[serde(skip)]
    StartPreset(PathBuf),
    /// The eval launcher's steps: a model was picked, then a benchmark, then a mode.
    #[serde(skip)]
    PickEvalBenchmark {
        model: String,
    },
    #[serde(skip)]
    PickEvalMode {
        model: String,
        benchmark: String,
    },
    #[serde(skip)]
    StartEval {
        model: String,
        benchmark: String,
        mode: String,
    },
}

/// The bindable actions in help/palette order.
pub const BINDABLE: &[Action] = &[
    Action::Quit,
    Action::ToggleHelp,
    Action::OpenPalette,
    Action::NextScreen,
    Action::PrevScreen,
    Action::ShowCurate,
    Action::ShowRuns,
    Action::ShowCompare,
    Action::ShowEval,
    Action::Up,
    Action::Down,
    Action::PageUp,
    Action::PageDown,
    Action::Top,
    Action::Bottom,
    Action::FocusNext,
    Action::Cancel,
    Action::Accept,
    Action::Reject,
    Action::ResetPending,
    Action::NextPending,
    Action::Undo,
    Action::Redo,
    Action::BulkAcceptBest,
    Action::BulkRejectIncorrect,
    Action::Search,
    Action::CycleStatusFilter,
    Action::CycleCorrectFilter,
    Action::ToggleEditedFilter,
    Action::ScoreRange,
    Action::ClearFilters,
    Action::CycleSort,
    Action::NextCandidate,
    Action::PrevCandidate,
    Action::NextStep,
    Action::PrevStep,
    Action::EditStep,
    Action::EditExecution,
    Action::EditExecutionExternal,
    Action::ToggleDiff,
    Action::ToggleOverview,
    Action::ReexecutePlan,
    Action::StopRun,
    Action::ResumeRun,
    Action::OpenRunConfig,
    Action::NewRunFromPreset,
    Action::CycleSetA,
    Action::CycleSetB,
    Action::CycleCompareFilter,
    Action::NextOnlyA,
    Action::NextOnlyB,
    Action::ToggleRunMark,
    Action::ToggleSmoothing,
    Action::ToggleChartX,
    Action::ToggleSamplePrompt,
    Action::PrevSampleStep,
    Action::NextSampleStep,
    Action::LaunchEval,
];

impl Action {
    /// Parses a config name such as `accept` or `bulk_reject_incorrect`.
    pub fn from_name(name: &str) -> Option<Self> {
        serde_json::from_value(serde_json::Value::String(name.to_owned())).ok()
    }

    /// The config name (snake_case); internal actions have none.
    pub fn name(&self) -> Option<String> {
        match serde_json::to_value(self) {
            Ok(serde_json::Value::String(name)) => Some(name),
            _ => None,
        }
    }

    /// Moves a selection or scrolls: what an overlay lets through to its own list.
    pub fn is_motion(&self) -> bool {
        matches!(
            self,
            Self::Up | Self::Down | Self::PageUp | Self::PageDown | Self::Top | Self::Bottom
        )
    }

    pub fn description(&self) -> &'static str {
        match self {
            Self::Quit => "quit",
            Self::ToggleHelp => "show or hide this help",
            Self::OpenPalette => "command palette",
            Self::NextScreen => "next screen",
            Self::PrevScreen => "previous screen",
            Self::ShowCurate => "curate screen",
            Self::ShowRuns => "runs screen",
            Self::ShowCompare => "compare screen",
            Self::ShowEval => "eval screen",
            Self::Up => "move up / scroll up",
            Self::Down => "move down / scroll down",
            Self::PageUp => "page up",
            Self::PageDown => "page down",
            Self::Top => "go to top",
            Self::Bottom => "go to bottom",
            Self::FocusNext => "switch focus between panes",
            Self::Cancel => "close overlay / cancel",
            Self::Accept => "accept candidate",
            Self::Reject => "reject candidate",
            Self::ResetPending => "reset candidate to pending",
            Self::NextPending => "jump to next pending candidate",
            Self::Undo => "undo last curation action",
            Self::Redo => "redo",
            Self::BulkAcceptBest => "bulk: accept best-scored correct (score >= S)",
            Self::BulkRejectIncorrect => "bulk: reject all incorrect pending",
            Self::Search => "search questions",
            Self::CycleStatusFilter => "filter: status (all/pending/accepted/rejected)",
            Self::CycleCorrectFilter => "filter: verdict (all/correct/incorrect)",
            Self::ToggleEditedFilter => "filter: edited only",
            Self::ScoreRange => "filter: judge score range",
            Self::ClearFilters => "clear all filters",
            Self::CycleSort => "cycle sort order",
            Self::NextCandidate => "next candidate of this problem",
            Self::PrevCandidate => "previous candidate of this problem",
            Self::NextStep => "select next plan step",
            Self::PrevStep => "select previous plan step",
            Self::EditStep => "edit selected plan step inline",
            Self::EditExecution => "edit execution inline",
            Self::EditExecutionExternal => "edit execution in $EDITOR",
            Self::ToggleDiff => "diff edited vs original",
            Self::ToggleOverview => "curate: overview (score histogram, statuses, plans)",
            Self::ReexecutePlan => "teacher re-executes the (edited) plan",
            Self::StopRun => "runs: stop the selected run (it checkpoints first)",
            Self::ResumeRun => "runs: resume the selected run from its last checkpoint",
            Self::OpenRunConfig => "runs: show the selected run's frozen config",
            Self::NewRunFromPreset => "runs: start a new run from a preset",
            Self::CycleSetA => "compare: next prediction set A",
            Self::CycleSetB => "compare: next prediction set B",
            Self::CycleCompareFilter => "compare: filter fixed/broke/both",
            Self::NextOnlyA => "compare: next problem only A got right",
            Self::NextOnlyB => "compare: next problem only B got right",
            Self::ToggleRunMark => "runs: mark/unmark the run to overlay its curves",
            Self::ToggleSmoothing => "runs: smooth the overlaid curves or not",
            Self::ToggleChartX => "runs: overlaid x axis by step or by tokens",
            Self::ToggleSamplePrompt => "runs: show or fold the samples' prompt",
            Self::PrevSampleStep => "runs: samples of the previous step",
            Self::NextSampleStep => "runs: samples of the next step (past the last: live)",
            Self::LaunchEval => "eval: evaluate a model in the background",
            Self::Tick
            | Self::SetSearch(_)
            | Self::BulkAcceptAt(_)
            | Self::SetScoreRange(..)
            | Self::CommitEdit(_)
            | Self::ShowError(_)
            | Self::ClickAt { .. }
            | Self::ScrollAt { .. }
            | Self::StartPreset(_)
            | Self::PickEvalBenchmark { .. }
            | Self::PickEvalMode { .. }
            | Self::StartEval { .. } => "internal",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bindable_action_round_trips_its_name() {
        for action in BINDABLE {
            let name = action.name().expect("bindable actions have names");
            assert_eq!(Action::from_name(&name).as_ref(), Some(action), "{name}");
            assert_ne!(action.description(), "internal", "{name}");
        }
        assert_eq!(
            Action::from_name("bulk_reject_incorrect"),
            Some(Action::BulkRejectIncorrect)
        );
        assert_eq!(Action::from_name("tick"), None);
        assert_eq!(Action::from_name("set_search"), None);
        assert_eq!(Action::from_name("click_at"), None);
        assert_eq!(Action::from_name("start_preset"), None);
    }
}
