//! The terminal user interface: `plantune-tui` with no subcommand.
//!
//! One loop: read every pending terminal event, turn each into an `Action`, apply it,
//! then draw at most once per frame interval; a tick polls the run tailers, and what
//! background threads (run creation, teacher calls) report arrives as actions too.
//! Rendering is a pure function of `App`; all IO happens in `update`.

pub mod action;
pub mod app;
pub mod background;
pub mod keymap;
pub mod launch;
pub mod overlay;
pub mod reexecute;
pub mod regrade;
pub mod screen_id;
pub mod screens;
pub mod widgets;

use std::io::{Stdout, Write};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use crossterm::event::{
    self, DisableBracketedPaste, DisableMouseCapture, EnableBracketedPaste, EnableMouseCapture,
    Event, KeyEventKind,
};
use crossterm::terminal::{
    BeginSynchronizedUpdate, EndSynchronizedUpdate, EnterAlternateScreen, LeaveAlternateScreen,
    disable_raw_mode, enable_raw_mode,
};
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;

pub use crate::text::sanitize;
pub use action::Action;
pub use app::App;

use crate::config::paths::Paths;
use crate::config::theme::Theme;
use crate::workspace::Workspace;
use keymap::Keymap;

/// At most ~30 frames per second, however fast events arrive.
const FRAME: Duration = Duration::from_millis(33);
const TICK: Duration = Duration::from_millis(250);

/// Loads keymap and theme; a broken user file is reported on the status line and the
/// built-in one is used, so a typo never locks the user out.
pub fn build_app(workspace: Workspace, paths: &Paths) -> anyhow::Result<App> {
    let mut problems = Vec::new();
    let keymap = match Keymap::load(&paths.user_keymap()) {
        Ok(k) => k,
        Err(e) => {
            problems.push(format!("keymap: {e}; using the built-in keymap"));
            Keymap::defaults()?
        }
    };
    let theme_name = workspace.config.ui.theme.clone();
    let theme = match Theme::load(&theme_name, &paths.user_themes()) {
        Ok(t) => t,
        Err(e) => {
            problems.push(format!("theme: {e}; using the default theme"));
            Theme::load("default", &paths.user_themes())?
        }
    };
    let mut app = App::new(workspace, keymap, theme)?;
    app.launcher = crate::jobs::Launcher::default().with_paths(paths);
    if !problems.is_empty() {
        app.set_error(problems.join(" · "));
    }
    Ok(app)
}

/// Runs the TUI on a workspace until the user quits.
pub fn run(workspace: Workspace, paths: &Paths) -> anyhow::Result<()> {
    run_opening(workspace, paths, None)
}

/// Runs the TUI, first applying `opening` (e.g. showing the Runs screen).
pub fn run_opening(
    workspace: Workspace,
    paths: &Paths,
    opening: Option<Action>,
) -> anyhow::Result<()> {
    let mut app = build_app(workspace, paths)?;
    if let Some(action) = opening {
        app.update(action);
    }
    install_panic_hook();
    let mut guard = TerminalGuard::enter()?;
    event_loop(&mut app, &mut guard)
}

fn event_loop(app: &mut App, guard: &mut TerminalGuard) -> anyhow::Result<()> {
    let mut dirty = true;
    let mut last_draw = Instant::now() - FRAME;
    let mut next_tick = Instant::now() + TICK;
    loop {
        if dirty && last_draw.elapsed() >= FRAME {
            // Clicks are hit-tested against the layout of the frame the user sees.
            app.frame = guard.area()?;
            guard.draw(app)?;
            dirty = false;
            last_draw = Instant::now();
        }
        if app.should_quit {
            return Ok(());
        }
        if let Some(text) = app.take_external_edit() {
            let edited = guard.suspended(|| edit_externally(&text));
            app.update(match edited {
                Ok(Some(new_text)) => Action::CommitEdit(new_text),
                Ok(None) => Action::ShowError("editor exited with an error; edit discarded".into()),
                Err(e) => Action::ShowError(format!("{e:#}")),
            });
            dirty = true;
            continue;
        }
        let now = Instant::now();
        let mut wait = next_tick.saturating_duration_since(now);
        if dirty {
            wait = wait.min(FRAME.saturating_sub(last_draw.elapsed()));
        }
        if event::poll(wait)? {
            // Drain everything queued before drawing: a burst of keys costs one frame.
            loop {
                let changed = match event::read()? {
                    Event::Key(key) if key.kind != KeyEventKind::Release => {
                        if let Some(action) = app.handle_key(&key) {
                            app.update(action);
                        }
                        true
                    }
                    Event::Paste(text) => {
                        app.handle_paste(&text);
                        true
                    }
                    // Mouse capture reports every pointer movement; only clicks and the
                    // wheel change anything, so motion must not cost a frame.
                    Event::Mouse(mouse) => match app.handle_mouse(&mouse) {
                        Some(action) => {
                            app.update(action);
                            true
                        }
                        None => false,
                    },
                    _ => true,
                };
                dirty |= changed;
                if app.should_quit || !event::poll(Duration::ZERO)? {
                    break;
                }
            }
        }
        dirty |= app.poll_background();
        if Instant::now() >= next_tick {
            app.update(Action::Tick);
            next_tick = Instant::now() + TICK;
            // Only the runs and eval screens show live data; others need no redraw.
            dirty |= matches!(app.screen, app::ScreenId::Runs | app::ScreenId::Eval);
        }
    }
}

/// Writes the text to a temporary file, runs `$VISUAL`/`$EDITOR` (else `vi`) on it,
/// and returns the new text, or `None` if the editor failed.
fn edit_externally(text: &str) -> anyhow::Result<Option<String>> {
    let mut file = tempfile::Builder::new()
        .prefix("plantune-edit-")
        .suffix(".md")
        .tempfile()
        .context("creating a temporary file for $EDITOR")?;
    file.write_all(text.as_bytes())?;
    file.flush()?;
    let editor = std::env::var("VISUAL")
        .or_else(|_| std::env::var("EDITOR"))
        .unwrap_or_else(|_| "vi".into());
    let mut parts = editor.split_whitespace();
    let program = parts.next().unwrap_or("vi");
    let status = std::process::Command::new(program)
        .args(parts)
        .arg(file.path())
        .status()
        .with_context(|| format!("starting editor {editor:?}"))?;
    if !status.success() {
        return Ok(None);
    }
    let edited = std::fs::read_to_string(file.path()).context("reading the edited file")?;
    // Editors add a final newline; the stored text had none unless it did.
    let edited = match (edited.strip_suffix('\n'), text.ends_with('\n')) {
        (Some(trimmed), false) => trimmed.to_owned(),
        _ => edited,
    };
    Ok(Some(edited))
}

fn restore_terminal() {
    let mut out = std::io::stdout();
    let _ = crossterm::execute!(
        out,
        DisableMouseCapture,
        DisableBracketedPaste,
        LeaveAlternateScreen
    );
    let _ = disable_raw_mode();
    let _ = crossterm::execute!(out, crossterm::cursor::Show);
}

/// Puts the terminal back before the panic message prints, so it is readable.
fn install_panic_hook() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore_terminal();
        previous(info);
    }));
}

/// Raw mode + alternate screen for as long as it lives.
struct TerminalGuard {
    terminal: Terminal<CrosstermBackend<Stdout>>,
}

impl TerminalGuard {
    fn enter() -> anyhow::Result<Self> {
        Self::setup()?;
        let terminal = Terminal::new(CrosstermBackend::new(std::io::stdout()))?;
        Ok(Self { terminal })
    }

    fn setup() -> anyhow::Result<()> {
        enable_raw_mode().context("enabling raw mode (is stdin a terminal?)")?;
        crossterm::execute!(
            std::io::stdout(),
            EnterAlternateScreen,
            EnableBracketedPaste,
            EnableMouseCapture
        )?;
        Ok(())
    }

    fn area(&self) -> anyhow::Result<ratatui::layout::Rect> {
        let size = self.terminal.size()?;
        Ok(ratatui::layout::Rect::new(0, 0, size.width, size.height))
    }

    fn draw(&mut self, app: &App) -> anyhow::Result<()> {
        crossterm::queue!(self.terminal.backend_mut(), BeginSynchronizedUpdate)?;
        self.terminal
            .draw(|frame| app.render(frame.area(), frame.buffer_mut()))?;
        crossterm::execute!(self.terminal.backend_mut(), EndSynchronizedUpdate)?;
        Ok(())
    }

    /// Leaves the TUI for the duration of `f` (an external editor), then comes back
    /// with a full redraw.
    fn suspended<T>(&mut self, f: impl FnOnce() -> T) -> T {
        restore_terminal();
        let result = f();
        if let Err(e) = Self::setup() {
            eprintln!("could not re-enter the terminal UI: {e}");
        }
        let _ = self.terminal.clear();
        result
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore_terminal();
    }
}
