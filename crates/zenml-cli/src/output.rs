//! Printing results as tables or JSON.

use std::io::{ErrorKind, Write};
use std::sync::OnceLock;

use comfy_table::{ContentArrangement, Table, presets};
use serde_json::Value;

use crate::args::OutputFormat;

/// Where results go, in the format the user asked for.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Output {
    pub(crate) format: OutputFormat,
}

impl Output {
    /// Prints `json` for scripts, or the table built by `table` for people.
    pub(crate) fn show(&self, json: Value, table: impl FnOnce() -> String) {
        match self.format {
            OutputFormat::Json => {
                print_stdout(&serde_json::to_string_pretty(&json).unwrap_or_default())
            }
            // Commands that print neither DOT nor CSV refuse those formats before they run
            // (`commands::check_output_format`); a table is the safe fallback.
            OutputFormat::Table | OutputFormat::Dot | OutputFormat::Csv => print_stdout(&table()),
        }
    }

    /// Whether the user asked for JSON.
    pub(crate) fn is_json(&self) -> bool {
        matches!(self.format, OutputFormat::Json)
    }

    /// Prints a confirmation. In JSON mode it is sent to stderr, so stdout stays parseable.
    pub(crate) fn done(&self, message: impl AsRef<str>) {
        match self.format {
            OutputFormat::Json | OutputFormat::Dot | OutputFormat::Csv => {
                eprintln!("{}", message.as_ref())
            }
            OutputFormat::Table => print_stdout(message.as_ref()),
        }
    }
}

/// The first failure to write to stdout, other than a reader that went away.
static STDOUT_ERROR: OnceLock<std::io::Error> = OnceLock::new();

/// Writes `text` and a newline to stdout. A reader that stopped reading (`zenml … | head`)
/// is not an error: the rest is just not wanted. Other failures are kept for
/// [`stdout_error`].
fn print_stdout(text: &str) {
    write_stdout(&format!("{text}\n"));
}

/// Writes `text` to stdout exactly as it is (DOT and CSV end their own lines), with the
/// error handling of [`print_stdout`].
pub(crate) fn write_stdout(text: &str) {
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_all(text.as_bytes()).and_then(|()| out.flush())
        && e.kind() != ErrorKind::BrokenPipe
    {
        let _ = STDOUT_ERROR.set(e);
    }
}

/// Why the output could not be written to stdout, if it could not: the command then fails,
/// since its result was lost.
pub(crate) fn stdout_error() -> Option<&'static std::io::Error> {
    STDOUT_ERROR.get()
}

/// Prints a warning to stderr.
pub(crate) fn warn(message: impl AsRef<str>) {
    eprintln!("warning: {}", message.as_ref());
}

/// A table with a header row.
pub(crate) fn table<const N: usize>(
    header: [&str; N],
    rows: impl IntoIterator<Item = [String; N]>,
) -> String {
    let mut table = styled(header);
    if table.width().is_none() {
        // Not a terminal: wrap long cells at a width that reads well in logs and pipes.
        table.set_width(120);
    }
    for row in rows {
        table.add_row(row);
    }
    table.to_string()
}

/// A table of `rows` under `header`, wrapped as [`table`] wraps.
pub(crate) fn table_of_rows(header: &[&str], rows: Vec<Vec<String>>) -> String {
    let mut table = styled(header.to_vec());
    if table.width().is_none() {
        table.set_width(120);
    }
    for row in rows {
        table.add_row(row);
    }
    table.to_string()
}

/// A table with as many columns as `header` has, for column sets known only at run time
/// (comparisons). Not wrapped when stdout is not a terminal: a wide comparison reads better
/// unwrapped in a file or a pipe.
pub(crate) fn wide_table(header: &[String], rows: impl IntoIterator<Item = Vec<String>>) -> String {
    let mut table = styled(header);
    for row in rows {
        table.add_row(row);
    }
    table.to_string()
}

fn styled<T: Into<comfy_table::Row>>(header: T) -> Table {
    let mut table = Table::new();
    table
        .load_style(presets::UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(header);
    table
}

/// A TOML value as one short line of text.
pub(crate) fn value_text(value: &toml::Value) -> String {
    match value {
        toml::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A TOML value as JSON.
pub(crate) fn value_json(value: &toml::Value) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

/// `✔` for the active row.
pub(crate) fn active_mark(active: bool) -> String {
    if active {
        "👉".to_owned()
    } else {
        String::new()
    }
}
