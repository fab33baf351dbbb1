//! The application state: screens, overlays, status line, and the one `update` every
//! action goes through. A failed action becomes a status-line message, never a crash.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::mpsc::{self, Receiver, Sender};

use anyhow::Context as _;
use crossterm::event::{KeyCode, KeyEvent, MouseButton, MouseEvent, MouseEventKind};
use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Position, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Widget};

use super::action::{Action, BINDABLE};
use super::keymap::{KeyContext, Keymap, Pane, Scope};
use super::launch::{self, EvalRequest, model_dirs};
use super::reexecute;
use super::screens::Ctx;
use super::screens::compare::CompareScreen;
use super::screens::curate::{CurateScreen, Focus};
use super::screens::eval::EvalScreen;
use super::screens::runs::RunsScreen;
use super::widgets::input::{InputOutcome, LineInput};
use crate::config::theme::Theme;
use crate::jobs::{JobError, Launcher};
use crate::runs::{self, RunError, preset as presets};
use crate::workspace::Workspace;
use crate::workspace::config::TeacherKind;
use crate::workspace::store::Store;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScreenId {
    Curate,
    Runs,
    Compare,
    Eval,
}

impl ScreenId {
    pub const ALL: [ScreenId; 4] = [Self::Curate, Self::Runs, Self::Compare, Self::Eval];

    pub fn scope(self) -> Scope {
        match self {
            Self::Curate => Scope::Curate,
            Self::Runs => Scope::Runs,
            Self::Compare => Scope::Compare,
            Self::Eval => Scope::Eval,
        }
    }

    fn title(self) -> &'static str {
        match self {
            Self::Curate => "Curate",
            Self::Runs => "Runs",
            Self::Compare => "Compare",
            Self::Eval => "Eval",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PromptKind {
    Search,
    BulkScore,
    ScoreRange,
}

/// One choice of a picker: what it shows and what choosing it does.
#[derive(Debug, Clone, PartialEq)]
pub struct PickItem {
    pub label: String,
    pub action: Action,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Overlay {
    Help {
        scroll: u16,
    },
    /// A list to choose from with the arrows and enter (presets, eval settings).
    Picker {
        title: String,
        items: Vec<PickItem>,
        selected: usize,
    },
    /// Read-only text, e.g. a run's frozen config.
    Text {
        title: String,
        text: String,
        scroll: u16,
    },
    Palette {
        input: LineInput,
        selected: usize,
    },
    Prompt {
        kind: PromptKind,
        input: LineInput,
        before: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusMessage {
    pub text: String,
    pub error: bool,
}

pub struct App {
    pub workspace: Workspace,
    pub store: Store,
    pub theme: Theme,
    pub keymap: Keymap,
    pub screen: ScreenId,
    pub curate: CurateScreen,
    pub runs: RunsScreen,
    pub compare: CompareScreen,
    pub eval: EvalScreen,
    pub overlay: Option<Overlay>,
    pub status: Option<StatusMessage>,
    pub should_quit: bool,
    /// Text waiting to be handed to `$EDITOR` by the event loop.
    pub external_edit: Option<String>,
    /// Starts run workers and evaluations.
    pub launcher: Launcher,
    /// The terminal's size at the last draw, for hit-testing mouse clicks against the
    /// same layout `render` computes.
    pub frame: Rect,
    /// Background work (CLI calls, teacher calls) reports here as actions, so its
    /// results go through `update` like everything else; `poll_background` applies them.
    done_tx: Sender<Action>,
    done_rx: Receiver<Action>,
    /// Candidates whose plan the teacher is executing, so a second key press while the
    /// first call runs does not pay for the same call twice.
    reexecuting: BTreeSet<i64>,
}

impl App {
    pub fn new(workspace: Workspace, keymap: Keymap, theme: Theme) -> anyhow::Result<Self> {
        let mut store = workspace.store()?;
        let mut ctx = Ctx::new(&mut store, &workspace);
        let curate = CurateScreen::new(&mut ctx)?;
        let runs = RunsScreen::new(&mut ctx)?;
        let compare = CompareScreen::new(&mut ctx)?;
        let eval = EvalScreen::new(&mut ctx)?;
        let (done_tx, done_rx) = mpsc::channel();
        Ok(Self {
            workspace,
            store,
            theme,
            keymap,
            screen: ScreenId::Curate,
            curate,
            runs,
            compare,
            eval,
            overlay: None,
            status: None,
            should_quit: false,
            external_edit: None,
            launcher: Launcher::default(),
            frame: Rect::new(0, 0, 80, 24),
            done_tx,
            done_rx,
            reexecuting: BTreeSet::new(),
        })
    }

    /// Applies every result background work has reported since the last call; true
    /// when there was one (the screen needs a redraw).
    pub fn poll_background(&mut self) -> bool {
        let arrived: Vec<Action> = self.done_rx.try_iter().collect();
        let any = !arrived.is_empty();
        for action in arrived {
            self.update(action);
        }
        any
    }

    pub fn set_error(&mut self, text: impl Into<String>) {
        self.status = Some(StatusMessage {
            text: text.into(),
            error: true,
        });
    }

    /// Turns a key into an action: overlays and text inputs first, then the keymap.
    pub fn handle_key(&mut self, key: &KeyEvent) -> Option<Action> {
        let context = self.key_context();
        if let Some(overlay) = self.overlay.as_mut() {
            return match overlay {
                Overlay::Help { .. } | Overlay::Text { .. } => {
                    match self.keymap.resolve(self.screen.scope(), &context, key) {
                        Some(Action::ToggleHelp | Action::Cancel | Action::Quit) => {
                            Some(Action::Cancel)
                        }
                        Some(a) if a.is_motion() => Some(a),
                        _ => None,
                    }
                }
                Overlay::Picker {
                    items, selected, ..
                } => {
                    if key.code == KeyCode::Enter {
                        let chosen = items.get(*selected).map(|item| item.action.clone());
                        self.overlay = None;
                        return chosen;
                    }
                    match self.keymap.resolve(self.screen.scope(), &context, key) {
                        Some(Action::Cancel | Action::Quit) => Some(Action::Cancel),
                        Some(a) if a.is_motion() => Some(a),
                        _ => None,
                    }
                }
                Overlay::Palette { input, selected } => match key.code {
                    KeyCode::Up => {
                        *selected = selected.saturating_sub(1);
                        None
                    }
                    KeyCode::Down => {
                        *selected += 1;
                        None
                    }
                    _ => match input.handle_key(key) {
                        InputOutcome::Submit => {
                            let chosen = palette_matches(&input.text).get(*selected).cloned();
                            self.overlay = None;
                            chosen
                        }
                        InputOutcome::Cancel => Some(Action::Cancel),
                        InputOutcome::Changed => {
                            *selected = 0;
                            None
                        }
                        InputOutcome::Unchanged => None,
                    },
                },
                Overlay::Prompt {
                    kind,
                    input,
                    before,
                } => {
                    let kind = *kind;
                    match input.handle_key(key) {
                        InputOutcome::Changed if kind == PromptKind::Search => {
                            Some(Action::SetSearch(input.text.clone()))
                        }
                        InputOutcome::Changed | InputOutcome::Unchanged => None,
                        InputOutcome::Cancel => {
                            let restore = before.clone();
                            self.overlay = None;
                            (kind == PromptKind::Search).then_some(Action::SetSearch(restore))
                        }
                        InputOutcome::Submit => {
                            let text = input.text.clone();
                            self.overlay = None;
                            match parse_prompt(kind, &text) {
                                Ok(action) => action,
                                Err(message) => Some(Action::ShowError(message)),
                            }
                        }
                    }
                }
            };
        }
        if self.screen == ScreenId::Curate && self.curate.captures_keys() {
            return self.curate.handle_key(key);
        }
        self.keymap.resolve(self.screen.scope(), &context, key)
    }

    /// What the keymap's `when` conditions see.
    pub fn key_context(&self) -> KeyContext {
        let curate = self.screen == ScreenId::Curate;
        KeyContext {
            focus: if curate && self.curate.focus.0 == Focus::Detail {
                Pane::Detail
            } else {
                Pane::List
            },
            diff_shown: curate && self.curate.show_diff,
            overlay_open: self.overlay.is_some(),
        }
    }

    /// Turns a mouse event into an action; where it lands is decided in `update`.
    pub fn handle_mouse(&self, mouse: &MouseEvent) -> Option<Action> {
        let (column, row) = (mouse.column, mouse.row);
        match mouse.kind {
            MouseEventKind::Down(MouseButton::Left) => Some(Action::ClickAt { column, row }),
            MouseEventKind::ScrollDown => Some(Action::ScrollAt {
                column,
                row,
                down: true,
            }),
            MouseEventKind::ScrollUp => Some(Action::ScrollAt {
                column,
                row,
                down: false,
            }),
            _ => None,
        }
    }

    pub fn handle_paste(&mut self, text: &str) {
        match self.overlay.as_mut() {
            Some(Overlay::Prompt { input, .. } | Overlay::Palette { input, .. }) => {
                input
                    .text
                    .push_str(&super::sanitize(text).replace('\n', " "));
            }
            Some(Overlay::Help { .. } | Overlay::Picker { .. } | Overlay::Text { .. }) => {}
            None if self.screen == ScreenId::Curate => self.curate.paste(text),
            None => {}
        }
    }

    /// Applies an action (and any follow-up it produces). Errors go to the status line.
    pub fn update(&mut self, action: Action) {
        let mut next = Some(action);
        while let Some(action) = next.take() {
            if !matches!(action, Action::Tick) {
                self.status = None;
            }
            match self.update_one(&action) {
                Ok(follow) => next = follow,
                Err(e) => self.set_error(format!("{e:#}")),
            }
        }
    }

    fn switch(&mut self, screen: ScreenId) -> anyhow::Result<Option<Action>> {
        self.screen = screen;
        let refresh = match screen {
            ScreenId::Compare => Some(Action::ShowCompare),
            ScreenId::Eval => Some(Action::ShowEval),
            ScreenId::Runs => Some(Action::ShowRuns),
            ScreenId::Curate => None,
        };
        match refresh {
            Some(action) => self.forward(&action),
            None => Ok(None),
        }
    }

    fn forward(&mut self, action: &Action) -> anyhow::Result<Option<Action>> {
        self.forward_to(self.screen, action)
    }

    fn forward_to(&mut self, screen: ScreenId, action: &Action) -> anyhow::Result<Option<Action>> {
        let mut ctx = Ctx::new(&mut self.store, &self.workspace);
        let result = match screen {
            ScreenId::Curate => self.curate.update(action, &mut ctx),
            ScreenId::Runs => self.runs.update(action, &mut ctx),
            ScreenId::Compare => self.compare.update(action, &mut ctx),
            ScreenId::Eval => self.eval.update(action, &mut ctx),
        };
        if let Some(info) = ctx.info {
            self.status = Some(StatusMessage {
                text: info,
                error: false,
            });
        }
        result
    }

    fn update_one(&mut self, action: &Action) -> anyhow::Result<Option<Action>> {
        let action = &match action {
            // The wheel over an overlay scrolls it, wherever the pointer is.
            Action::ScrollAt { down, .. } if self.overlay.is_some() => {
                if *down {
                    Action::Down
                } else {
                    Action::Up
                }
            }
            other => other.clone(),
        };
        match self.overlay.as_mut() {
            Some(Overlay::Help { scroll } | Overlay::Text { scroll, .. }) => match action {
                Action::Down => *scroll = scroll.saturating_add(1),
                Action::Up => *scroll = scroll.saturating_sub(1),
                Action::PageDown => *scroll = scroll.saturating_add(10),
                Action::PageUp => *scroll = scroll.saturating_sub(10),
                Action::Top => *scroll = 0,
                _ => {}
            },
            Some(Overlay::Picker {
                items, selected, ..
            }) => {
                let last = items.len().saturating_sub(1);
                match action {
                    Action::Down => *selected = (*selected + 1).min(last),
                    Action::Up => *selected = selected.saturating_sub(1),
                    Action::PageDown => *selected = (*selected + 10).min(last),
                    Action::PageUp => *selected = selected.saturating_sub(10),
                    Action::Top => *selected = 0,
                    Action::Bottom => *selected = last,
                    _ => {}
                }
            }
            _ => {}
        }
        let index = ScreenId::ALL
            .iter()
            .position(|s| *s == self.screen)
            .unwrap_or(0);
        match action {
            Action::Quit => self.should_quit = true,
            Action::ToggleHelp => {
                self.overlay = match self.overlay {
                    Some(Overlay::Help { .. }) => None,
                    _ => Some(Overlay::Help { scroll: 0 }),
                }
            }
            Action::OpenPalette => {
                self.overlay = Some(Overlay::Palette {
                    input: LineInput::default(),
                    selected: 0,
                })
            }
            Action::Cancel if self.overlay.is_some() => self.overlay = None,
            Action::Up
            | Action::Down
            | Action::PageUp
            | Action::PageDown
            | Action::Top
            | Action::Bottom
            | Action::ClickAt { .. }
                if self.overlay.is_some() => {}
            Action::NextScreen => return self.switch(ScreenId::ALL[(index + 1) % 4]),
            Action::PrevScreen => return self.switch(ScreenId::ALL[(index + 3) % 4]),
            Action::ShowCurate => return self.switch(ScreenId::Curate),
            Action::ShowRuns => return self.switch(ScreenId::Runs),
            Action::ShowCompare => return self.switch(ScreenId::Compare),
            Action::ShowEval => return self.switch(ScreenId::Eval),
            Action::ShowError(message) => self.set_error(message.clone()),
            Action::Tick => {
                // Runs are polled whatever the screen, so switching to it is instant.
                let mut ctx = Ctx::new(&mut self.store, &self.workspace);
                self.runs.update(action, &mut ctx)?;
                if self.screen == ScreenId::Eval {
                    self.eval.update(action, &mut ctx)?;
                }
            }
            Action::ClickAt { column, row } => self.click(Position::new(*column, *row))?,
            Action::ScrollAt { column, row, down } => {
                self.scroll_at(Position::new(*column, *row), *down)?
            }
            Action::StopRun => self.stop_run()?,
            Action::ResumeRun => self.resume_run()?,
            Action::OpenRunConfig => self.open_run_config()?,
            Action::NewRunFromPreset => self.pick_preset()?,
            Action::StartPreset(path) => self.start_preset(path)?,
            Action::RunCreated {
                preset,
                id,
                pid,
                error,
            } => self.run_created(preset, id.as_deref(), *pid, error.as_deref())?,
            Action::ReexecutePlan => self.reexecute_plan()?,
            Action::PlanExecuted { candidate_id, .. } => {
                self.reexecuting.remove(candidate_id);
                // The answer belongs to the curate screen whichever screen is shown.
                return self.forward_to(ScreenId::Curate, action);
            }
            Action::LaunchEval => self.pick_eval_model()?,
            Action::PickEvalBenchmark { model } => self.pick_eval_benchmark(model)?,
            Action::PickEvalMode { model, benchmark } => self.pick_eval_mode(model, benchmark),
            Action::StartEval {
                model,
                benchmark,
                mode,
            } => self.start_eval(EvalRequest {
                model: model.clone(),
                benchmark: benchmark.clone(),
                mode: mode.clone(),
            })?,
            Action::Search => {
                let before = self.curate.filter.search.clone().unwrap_or_default();
                self.screen = ScreenId::Curate;
                self.overlay = Some(Overlay::Prompt {
                    kind: PromptKind::Search,
                    input: LineInput::new(&before),
                    before,
                });
            }
            Action::BulkAcceptBest => {
                let default = self.workspace.config.distill.min_score.to_string();
                self.screen = ScreenId::Curate;
                self.overlay = Some(Overlay::Prompt {
                    kind: PromptKind::BulkScore,
                    input: LineInput::new(&default),
                    before: default,
                });
            }
            Action::ScoreRange => {
                let f = &self.curate.filter;
                let current = match (f.min_score, f.max_score) {
                    (None, None) => String::new(),
                    (lo, hi) => format!(
                        "{}..{}",
                        lo.map_or(String::new(), |v| v.to_string()),
                        hi.map_or(String::new(), |v| v.to_string())
                    ),
                };
                self.screen = ScreenId::Curate;
                self.overlay = Some(Overlay::Prompt {
                    kind: PromptKind::ScoreRange,
                    input: LineInput::new(&current),
                    before: current,
                });
            }
            Action::EditExecutionExternal => {
                self.screen = ScreenId::Curate;
                match self.curate.begin_external_edit() {
                    Some(text) => self.external_edit = Some(text),
                    None => self.set_error("no candidate selected"),
                }
            }
            Action::SetSearch(_)
            | Action::BulkAcceptAt(_)
            | Action::SetScoreRange(..)
            | Action::CommitEdit(_) => {
                self.screen = ScreenId::Curate;
                return self.forward(action);
            }
            _ => return self.forward(action),
        }
        Ok(None)
    }

    /// Switches to a screen (refreshing it) unless it is already shown, for actions
    /// that act on one screen but can be run from anywhere through the palette.
    fn show(&mut self, screen: ScreenId) -> anyhow::Result<()> {
        if self.screen != screen {
            self.switch(screen)?;
        }
        Ok(())
    }

    fn set_info(&mut self, text: impl Into<String>) {
        self.status = Some(StatusMessage {
            text: text.into(),
            error: false,
        });
    }

    /// While the inline editor is open the pointer changes nothing, as keys do not.
    fn editing(&self) -> bool {
        self.screen == ScreenId::Curate && self.curate.captures_keys()
    }

    fn click(&mut self, at: Position) -> anyhow::Result<()> {
        if self.editing() {
            return Ok(());
        }
        let [tabs, main, _] = frame_layout(self.frame);
        if tabs.contains(at) {
            let hit = self
                .tab_ranges(tabs)
                .into_iter()
                .find(|(start, end, _)| (*start..*end).contains(&at.x));
            if let Some((_, _, screen)) = hit {
                self.switch(screen)?;
            }
            return Ok(());
        }
        let mut ctx = Ctx::new(&mut self.store, &self.workspace);
        match self.screen {
            ScreenId::Curate => self.curate.click(&mut ctx, main, at)?,
            ScreenId::Runs => self.runs.click(main, at),
            ScreenId::Compare => self.compare.click(&mut ctx, main, at)?,
            ScreenId::Eval => self.eval.click(main, at),
        }
        Ok(())
    }

    fn scroll_at(&mut self, at: Position, down: bool) -> anyhow::Result<()> {
        if self.editing() {
            return Ok(());
        }
        let [_, main, _] = frame_layout(self.frame);
        let mut ctx = Ctx::new(&mut self.store, &self.workspace);
        match self.screen {
            ScreenId::Curate => self.curate.scroll_at(&mut ctx, main, at, down)?,
            ScreenId::Runs => self.runs.scroll_at(main, at, down),
            ScreenId::Compare => self.compare.scroll_at(&mut ctx, main, at, down)?,
            ScreenId::Eval => {
                let step = if down { Action::Down } else { Action::Up };
                self.eval.update(&step, &mut ctx)?;
            }
        }
        Ok(())
    }

    /// The selected run's id and folder.
    fn selected_run(&mut self) -> anyhow::Result<(String, runs::RunDir)> {
        self.show(ScreenId::Runs)?;
        let run = self.runs.selected_run().context("no run selected")?;
        Ok((run.id.clone(), run.dir.clone()))
    }

    fn stop_run(&mut self) -> anyhow::Result<()> {
        let (id, _) = self.selected_run()?;
        match runs::stop(&self.workspace, &id) {
            Ok(pid) => {
                self.set_info(format!(
                    "asked run {id} (pid {pid}) to stop: it checkpoints, then ends stopped"
                ));
                Ok(())
            }
            Err(RunError::Job(JobError::NotRunning { .. })) => {
                anyhow::bail!("run {id} is not running")
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Starts the selected run's worker again, by the rules of `runs::resume`; it
    /// continues from its newest checkpoint (or from the start when it has none).
    fn resume_run(&mut self) -> anyhow::Result<()> {
        let (id, _) = self.selected_run()?;
        let pid = runs::resume(&self.workspace, &id, &self.launcher)?;
        self.runs.mark_started(&id, pid);
        self.set_info(format!(
            "run {id} resumed (pid {pid}) from its newest checkpoint"
        ));
        Ok(())
    }

    fn open_run_config(&mut self) -> anyhow::Result<()> {
        let (id, dir) = self.selected_run()?;
        let path = dir.config();
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                anyhow::bail!("run {id} has no run.toml (not started by plantune-tui?)")
            }
            Err(e) => return Err(e).with_context(|| path.display().to_string()),
        };
        self.overlay = Some(Overlay::Text {
            title: format!("run.toml · {id}"),
            text,
            scroll: 0,
        });
        Ok(())
    }

    fn pick_preset(&mut self) -> anyhow::Result<()> {
        self.show(ScreenId::Runs)?;
        let files = presets::list(&self.workspace)?;
        if files.is_empty() {
            anyhow::bail!(
                "no presets: put run configs in {} (see workspaces/demo/presets)",
                presets::presets_dir(&self.workspace).display()
            );
        }
        let items = files
            .into_iter()
            .map(|path| {
                let name = file_stem(&path);
                let about = match presets::read(&path) {
                    Ok(p) => p.summary,
                    Err(e) => format!("invalid: {e}"),
                };
                PickItem {
                    label: format!("{name:<24} {about}"),
                    action: Action::StartPreset(path),
                }
            })
            .collect();
        self.open_picker("New run from preset (enter starts it)", items);
        Ok(())
    }

    fn open_picker(&mut self, title: impl Into<String>, items: Vec<PickItem>) {
        self.overlay = Some(Overlay::Picker {
            title: title.into(),
            items,
            selected: 0,
        });
    }

    /// Creates a run from the preset (validating it) and starts it, in the background;
    /// `run_created` shows the outcome when it arrives.
    fn start_preset(&mut self, path: &Path) -> anyhow::Result<()> {
        self.screen = ScreenId::Runs;
        let preset = presets::read(path).map_err(anyhow::Error::msg)?;
        let about = format!(
            "creating a {} run from preset {}...",
            preset.kind.name(),
            file_stem(path)
        );
        launch::create_run(
            &self.workspace,
            &self.launcher,
            preset,
            self.done_tx.clone(),
        );
        self.set_info(about);
        Ok(())
    }

    fn run_created(
        &mut self,
        preset: &str,
        id: Option<&str>,
        pid: Option<u32>,
        error: Option<&str>,
    ) -> anyhow::Result<()> {
        let Some(id) = id else {
            anyhow::bail!("preset {preset}: {}", error.unwrap_or("no run was created"));
        };
        let mut ctx = Ctx::new(&mut self.store, &self.workspace);
        self.runs.select_id(&mut ctx, id)?;
        match (pid, error) {
            (Some(pid), None) => {
                self.runs.mark_launched(id, pid);
                self.set_info(format!("run {id} started from preset {preset} (pid {pid})"));
                Ok(())
            }
            (_, error) => anyhow::bail!(
                "run {id} was created from preset {preset} but did not start (R retries): {}",
                error.unwrap_or("no reason given")
            ),
        }
    }

    /// Asks the teacher to execute the selected candidate's plan, as it stands now,
    /// again; the answer arrives as `Action::PlanExecuted`.
    fn reexecute_plan(&mut self) -> anyhow::Result<()> {
        self.screen = ScreenId::Curate;
        let detail = self
            .curate
            .detail
            .as_ref()
            .context("no candidate selected")?;
        let teacher = &self.workspace.config.teacher;
        if teacher.kind == TeacherKind::Oracle {
            anyhow::bail!(
                "the oracle teacher cannot execute an edited plan (it writes whole \
                 trajectories); set [teacher] kind = \"openai\" or \"local\" in plantune.toml"
            );
        }
        let id = detail.candidate.id;
        if !self.reexecuting.insert(id) {
            anyhow::bail!("the teacher is already executing candidate {id}'s plan");
        }
        let request = reexecute::Request {
            candidate_id: id,
            question: detail.problem.fields.question.clone(),
            plan: detail.candidate.fields.plan.clone(),
            sampling: detail.candidate.fields.sampling.clone(),
        };
        let model = teacher.model.clone();
        reexecute::spawn(self.workspace.clone(), request, self.done_tx.clone());
        self.set_info(format!(
            "candidate {id}: the teacher ({model}) is executing the plan again; the \
             answer is stored as an edit and re-graded"
        ));
        Ok(())
    }

    fn pick_eval_model(&mut self) -> anyhow::Result<()> {
        self.show(ScreenId::Eval)?;
        let models = model_dirs(&self.workspace);
        if models.is_empty() {
            anyhow::bail!(
                "no models to evaluate: finish a run (its final/ folder) or put a model \
                 folder in models/"
            );
        }
        let items = models
            .into_iter()
            .map(|model| PickItem {
                label: model.clone(),
                action: Action::PickEvalBenchmark { model },
            })
            .collect();
        self.open_picker("Evaluate: model (1/3)", items);
        Ok(())
    }

    fn pick_eval_benchmark(&mut self, model: &str) -> anyhow::Result<()> {
        let counts = self.store.problem_counts()?;
        if counts.is_empty() {
            anyhow::bail!("no benchmark problems in this workspace: import or synth some first");
        }
        let items = counts
            .into_iter()
            .map(|(dataset, split, n)| {
                let benchmark = format!("{dataset}/{split}");
                PickItem {
                    label: format!("{benchmark:<28} {n} problems"),
                    action: Action::PickEvalMode {
                        model: model.to_owned(),
                        benchmark,
                    },
                }
            })
            .collect();
        self.open_picker(format!("Evaluate {model}: benchmark (2/3)"), items);
        Ok(())
    }

    fn pick_eval_mode(&mut self, model: &str, benchmark: &str) {
        use clap::ValueEnum as _;
        let items = crate::eval::runner::Mode::value_variants()
            .iter()
            .filter_map(|mode| {
                let name = mode.to_possible_value()?.get_name().to_owned();
                Some(PickItem {
                    label: name.clone(),
                    action: Action::StartEval {
                        model: model.to_owned(),
                        benchmark: benchmark.to_owned(),
                        mode: name,
                    },
                })
            })
            .collect();
        self.open_picker(
            format!("Evaluate {model} on {benchmark}: mode (3/3)"),
            items,
        );
    }

    fn start_eval(&mut self, request: EvalRequest) -> anyhow::Result<()> {
        self.screen = ScreenId::Eval;
        let (pid, dir) = launch::start_eval(&self.workspace, &self.launcher, &request)?;
        let shown = dir.strip_prefix(&self.workspace.root).unwrap_or(&dir);
        self.set_info(format!(
            "evaluating {} on {} ({}) in the background (pid {pid}); results appear here \
             as they are stored; output in {}",
            request.name(),
            request.benchmark,
            request.mode,
            shown.display()
        ));
        Ok(())
    }

    /// Hands the pending `$EDITOR` text to the event loop.
    pub fn take_external_edit(&mut self) -> Option<String> {
        self.external_edit.take()
    }

    /// Draws everything. Pure: reads state only.
    pub fn render(&self, area: Rect, buf: &mut Buffer) {
        let [tabs, main, status] = frame_layout(area);
        self.render_tabs(tabs, buf);
        match self.screen {
            ScreenId::Curate => self.curate.render(main, buf, &self.theme),
            ScreenId::Runs => self.runs.render(main, buf, &self.theme),
            ScreenId::Compare => self.compare.render(main, buf, &self.theme),
            ScreenId::Eval => self.eval.render(main, buf, &self.theme),
        }
        self.render_status(status, buf);
        match &self.overlay {
            Some(Overlay::Help { scroll }) => self.render_help(main, buf, *scroll),
            Some(Overlay::Palette { input, selected }) => {
                self.render_palette(main, buf, input, *selected)
            }
            Some(Overlay::Picker {
                title,
                items,
                selected,
            }) => self.render_picker(main, buf, title, items, *selected),
            Some(Overlay::Text {
                title,
                text,
                scroll,
            }) => self.render_text(main, buf, title, text, *scroll),
            Some(Overlay::Prompt { kind, input, .. }) => {
                let label = match kind {
                    PromptKind::Search => "search: ",
                    PromptKind::BulkScore => "accept best correct with score >= ",
                    PromptKind::ScoreRange => "score range (min..max, empty clears): ",
                };
                let line = Line::from(vec![
                    Span::styled(label, self.theme.style("ui.key")),
                    Span::raw(super::sanitize(&input.text).into_owned()),
                    Span::styled(" ", self.theme.style("ui.selection")),
                ]);
                Clear.render(status, buf);
                Paragraph::new(line).render(status, buf);
            }
            None => {}
        }
    }

    fn render_tabs(&self, area: Rect, buf: &mut Buffer) {
        Paragraph::new(Line::from(self.tab_spans())).render(area, buf);
    }

    /// Columns `[start, end)` of each screen's tab, for clicks.
    fn tab_ranges(&self, area: Rect) -> Vec<(u16, u16, ScreenId)> {
        let spans = self.tab_spans();
        let mut x = area.x;
        let mut out = Vec::new();
        for (i, span) in spans.iter().enumerate() {
            let width = span.width() as u16;
            if let Some(screen) = i.checked_sub(1).and_then(|i| ScreenId::ALL.get(i)) {
                out.push((x, x.saturating_add(width), *screen));
            }
            x = x.saturating_add(width);
        }
        out
    }

    /// The title, then one span per screen, then the hint.
    fn tab_spans(&self) -> Vec<Span<'static>> {
        let mut spans = vec![Span::styled(
            format!(" plantune · {} ", super::sanitize(self.workspace.name())),
            self.theme.style("ui.title"),
        )];
        for (i, screen) in ScreenId::ALL.iter().enumerate() {
            let style = if *screen == self.screen {
                self.theme.style("ui.selection")
            } else {
                self.theme.style("ui.dim")
            };
            spans.push(Span::styled(
                format!(" {} {} ", i + 1, screen.title()),
                style,
            ));
        }
        spans.push(Span::styled(
            "  ? help  : palette",
            self.theme.style("ui.dim"),
        ));
        spans
    }

    fn render_status(&self, area: Rect, buf: &mut Buffer) {
        let line = match &self.status {
            Some(StatusMessage { text, error: true }) => Line::styled(
                format!(" error: {}", super::sanitize(text)),
                self.theme.style("ui.error"),
            ),
            Some(StatusMessage { text, error: false }) => Line::styled(
                format!(" {}", super::sanitize(text)),
                self.theme.style("ui.info"),
            ),
            None => {
                let hints: &[Action] = match self.screen {
                    ScreenId::Curate => &[
                        Action::Accept,
                        Action::Reject,
                        Action::NextPending,
                        Action::Undo,
                        Action::Search,
                        Action::EditStep,
                        Action::ToggleDiff,
                    ],
                    ScreenId::Compare => &[
                        Action::CycleSetA,
                        Action::CycleSetB,
                        Action::CycleCompareFilter,
                    ],
                    ScreenId::Runs => &[
                        Action::NewRunFromPreset,
                        Action::StopRun,
                        Action::ResumeRun,
                        Action::OpenRunConfig,
                    ],
                    ScreenId::Eval => &[Action::LaunchEval, Action::Down],
                };
                let mut spans = Vec::new();
                for action in hints {
                    if let Some(chord) = self.keymap.chords_for(self.screen.scope(), action).first()
                    {
                        spans.push(Span::styled(
                            format!(" {chord}"),
                            self.theme.style("ui.key"),
                        ));
                        let name = action.name().unwrap_or_default().replace('_', " ");
                        spans.push(Span::raw(format!(" {name} ")));
                    }
                }
                Line::from(spans)
            }
        };
        Paragraph::new(line)
            .style(self.theme.style("ui.status_bar"))
            .render(area, buf);
    }

    fn render_help(&self, area: Rect, buf: &mut Buffer, scroll: u16) {
        let popup = centered(area, 70, 90);
        Clear.render(popup, buf);
        let block = Block::default()
            .borders(Borders::ALL)
            .border_style(self.theme.style("ui.border_focused"))
            .title(Span::styled(
                format!(" Keys · {} (esc closes) ", self.screen.title()),
                self.theme.style("ui.title"),
            ));
        let mut lines = Vec::new();
        let mut last_scope = None;
        for row in self.keymap.bindings_for(self.screen.scope()) {
            if last_scope != Some(row.scope) {
                lines.push(Line::styled(
                    row.scope.name().to_owned(),
                    self.theme.style("plan.section"),
                ));
                last_scope = Some(row.scope);
            }
            let mut spans = vec![
                Span::styled(
                    format!("  {:<10}", row.chord.to_string()),
                    self.theme.style("ui.key"),
                ),
                Span::raw(row.action.description()),
            ];
            if let Some(when) = row.when {
                spans.push(Span::styled(
                    format!("  (when {when})"),
                    self.theme.style("ui.dim"),
                ));
            }
            lines.push(Line::from(spans));
        }
        lines.push(Line::styled(
            "text editor: ctrl-s save, esc cancel, arrows/home/end move",
            self.theme.style("ui.dim"),
        ));
        Paragraph::new(lines)
            .block(block)
            .scroll((scroll, 0))
            .render(popup, buf);
    }

    fn render_picker(
        &self,
        area: Rect,
        buf: &mut Buffer,
        title: &str,
        items: &[PickItem],
        selected: usize,
    ) {
        let popup = centered(area, 70, 60);
        Clear.render(popup, buf);
        let block = Block::default()
            .borders(Borders::ALL)
            .border_style(self.theme.style("ui.border_focused"))
            .title(Span::styled(
                format!(" {} · esc cancels ", super::sanitize(title)),
                self.theme.style("ui.title"),
            ));
        let height = block.inner(popup).height as usize;
        let top = selected.saturating_sub(height.saturating_sub(1));
        let lines: Vec<Line> = items
            .iter()
            .enumerate()
            .skip(top)
            .take(height)
            .map(|(i, item)| {
                let line = Line::raw(super::sanitize(&item.label).replace('\n', " "));
                if i == selected {
                    line.style(self.theme.style("ui.selection"))
                } else {
                    line
                }
            })
            .collect();
        Paragraph::new(lines).block(block).render(popup, buf);
    }

    fn render_text(&self, area: Rect, buf: &mut Buffer, title: &str, text: &str, scroll: u16) {
        let popup = centered(area, 80, 90);
        Clear.render(popup, buf);
        let block = Block::default()
            .borders(Borders::ALL)
            .border_style(self.theme.style("ui.border_focused"))
            .title(Span::styled(
                format!(" {} · esc closes ", super::sanitize(title)),
                self.theme.style("ui.title"),
            ));
        Paragraph::new(super::screens::text_lines(
            text,
            self.theme.style("ui.text"),
        ))
        .block(block)
        .scroll((scroll, 0))
        .render(popup, buf);
    }

    fn render_palette(&self, area: Rect, buf: &mut Buffer, input: &LineInput, selected: usize) {
        let popup = centered(area, 60, 60);
        Clear.render(popup, buf);
        let block = Block::default()
            .borders(Borders::ALL)
            .border_style(self.theme.style("ui.border_focused"))
            .title(Span::styled(
                " Command palette ",
                self.theme.style("ui.title"),
            ));
        let matches = palette_matches(&input.text);
        let selected = selected.min(matches.len().saturating_sub(1));
        let mut lines = vec![Line::from(vec![
            Span::styled(": ", self.theme.style("ui.key")),
            Span::raw(super::sanitize(&input.text).into_owned()),
            Span::styled(" ", self.theme.style("ui.selection")),
        ])];
        for (i, action) in matches.iter().enumerate() {
            let line = Line::from(vec![
                Span::styled(
                    format!("{:<26}", action.name().unwrap_or_default()),
                    self.theme.style("ui.key"),
                ),
                Span::raw(action.description()),
            ]);
            lines.push(if i == selected {
                line.style(self.theme.style("ui.selection"))
            } else {
                line
            });
        }
        let height = popup.height.saturating_sub(3) as usize;
        let skip = selected.saturating_sub(height.saturating_sub(1));
        let first = lines.remove(0);
        let mut shown = vec![first];
        shown.extend(lines.into_iter().skip(skip));
        Paragraph::new(shown).block(block).render(popup, buf);
    }
}

/// Bindable actions whose name or description contains every word typed.
pub fn palette_matches(query: &str) -> Vec<Action> {
    let words: Vec<String> = query.split_whitespace().map(str::to_lowercase).collect();
    BINDABLE
        .iter()
        .filter(|a| {
            let hay =
                format!("{} {}", a.name().unwrap_or_default(), a.description()).to_lowercase();
            words.iter().all(|w| hay.contains(w.as_str()))
        })
        .cloned()
        .collect()
}

fn parse_prompt(kind: PromptKind, text: &str) -> Result<Option<Action>, String> {
    let text = text.trim();
    let score = |s: &str| -> Result<Option<i32>, String> {
        let s = s.trim();
        if s.is_empty() {
            return Ok(None);
        }
        match s.parse::<i32>() {
            Ok(v) if (-100..=100).contains(&v) => Ok(Some(v)),
            _ => Err(format!(
                "{s:?} is not a judge score (an integer in -100..100)"
            )),
        }
    };
    match kind {
        PromptKind::Search => Ok(None),
        PromptKind::BulkScore => match score(text)? {
            Some(v) => Ok(Some(Action::BulkAcceptAt(v))),
            None => Err("a minimum score is required".into()),
        },
        PromptKind::ScoreRange => {
            let (lo, hi) = match text.split_once("..") {
                Some((lo, hi)) => (score(lo)?, score(hi)?),
                None => (score(text)?, None),
            };
            Ok(Some(Action::SetScoreRange(lo, hi)))
        }
    }
}

/// Tab bar, screen, status line: shared by `render` and mouse hit-testing.
fn frame_layout(area: Rect) -> [Rect; 3] {
    Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(0),
        Constraint::Length(1),
    ])
    .areas(area)
}

fn file_stem(path: &Path) -> String {
    path.file_stem()
        .map_or_else(String::new, |s| s.to_string_lossy().into_owned())
}

fn centered(area: Rect, width_pct: u16, height_pct: u16) -> Rect {
    let width = (area.width * width_pct / 100).max(area.width.min(40));
    let height = (area.height * height_pct / 100).max(area.height.min(10));
    Rect {
        x: area.x + (area.width - width) / 2,
        y: area.y + (area.height - height) / 2,
        width,
        height,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompts_parse_scores_and_ranges() {
        assert_eq!(
            parse_prompt(PromptKind::BulkScore, " 40 "),
            Ok(Some(Action::BulkAcceptAt(40)))
        );
        assert!(parse_prompt(PromptKind::BulkScore, "400").is_err());
        assert!(parse_prompt(PromptKind::BulkScore, "").is_err());
        assert_eq!(
            parse_prompt(PromptKind::ScoreRange, "10..50"),
            Ok(Some(Action::SetScoreRange(Some(10), Some(50))))
        );
        assert_eq!(
            parse_prompt(PromptKind::ScoreRange, "..-20"),
            Ok(Some(Action::SetScoreRange(None, Some(-20))))
        );
        assert_eq!(
            parse_prompt(PromptKind::ScoreRange, ""),
            Ok(Some(Action::SetScoreRange(None, None)))
        );
    }

    #[test]
    fn palette_filters_by_every_word() {
        let found = palette_matches("bulk reject");
        assert_eq!(found, vec![Action::BulkRejectIncorrect]);
        assert_eq!(palette_matches("").len(), BINDABLE.len());
    }
}
