//! `plantune-tui report`: accuracy tables, and paired comparisons, from stored
//! predictions.

use anyhow::Result;

use super::Globals;
use crate::eval::report::{Format, accuracy_table, paired, render_accuracy, render_paired};
use crate::workspace::store::PredictionKey;

#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
    /// Two prediction sets to compare, each as MODEL:BENCHMARK:MODE.
    #[arg(long, num_args = 2, value_names = ["A", "B"])]
    compare: Option<Vec<String>>,
}

/// `MODEL:BENCHMARK:MODE`.
fn prediction_key(text: &str) -> Result<PredictionKey> {
    let mut parts = text.splitn(3, ':');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(model), Some(benchmark), Some(mode)) => Ok(PredictionKey {
            model: model.into(),
            benchmark: benchmark.into(),
            mode: mode.into(),
        }),
        _ => anyhow::bail!("{text:?}: expected MODEL:BENCHMARK:MODE"),
    }
}

pub fn run(args: ReportArgs, globals: &Globals) -> Result<()> {
    let ws = globals.open()?;
    let store = ws.store()?;
    match args.compare {
        Some(pair) => {
            let (a, b) = (prediction_key(&pair[0])?, prediction_key(&pair[1])?);
            let table = paired(&store, &a, &b)?;
            emit(&render_paired(&table, args.format), args.format);
        }
        None => {
            let rows = accuracy_table(&store)?;
            emit(&render_accuracy(&rows, args.format), args.format);
        }
    }
    Ok(())
}

/// JSON is printed exact (controls escaped, see `text::json_safe`); tables sanitised.
fn emit(text: &str, format: Format) {
    match format {
        Format::Json => print!("{}", crate::text::json_safe(text)),
        _ => say_raw!("{text}"),
    }
}
