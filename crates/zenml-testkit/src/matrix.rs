//! The flavor matrix: which flavor passed which check group, as `cargo xtask test-flavors`
//! prints it.
//!
//! A [`Matrix`] has one [`Row`] per flavor (kind and name) plus one for the materializers.
//! A row either ran its kind's suite (a [`SuiteReport`]) or did not run at all: skipped
//! with a reason (no test configuration for the flavor, a missing service) or failed before
//! the suite (the test configuration was refused, the flavor could not be opened).
//! [`Matrix::render`] draws one table per kind (rows = flavors, columns = check groups; each
//! cell passed / FAILED / skipped, with numbered notes giving the messages and reasons), and
//! [`Matrix::to_json`] gives the machine-readable summary. [`Matrix::verdict`] says whether
//! the run is good: no failure, and in strict mode (CI) no skip either.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::{Value, json};

use crate::{Outcome, SuiteReport};

/// How one flavor fared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RowResult {
    /// The suite ran; see its report.
    Ran(SuiteReport),
    /// The suite did not run, for this reason (not a failure, except in strict mode).
    Skipped(String),
    /// The suite could not start: the flavor's test configuration was refused or the flavor
    /// could not be opened.
    Failed(String),
}

/// One row of the matrix: a flavor of a kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// The component kind as the CLI names it, e.g. `metadata-store`; `materializer` for the
    /// materializers' row.
    pub kind: String,
    /// The flavor's name, e.g. `sqlite`.
    pub flavor: String,
    /// The crate that declares it.
    pub source: String,
    /// What happened.
    pub result: RowResult,
}

impl Row {
    /// `passed`, `failed` or `skipped`: the row's overall status.
    pub fn status(&self) -> &'static str {
        match &self.result {
            RowResult::Ran(report) if !report.is_success() => "failed",
            RowResult::Ran(report)
                if report.checks().count() > 0
                    && report.skips().len() == report.checks().count() =>
            {
                "skipped"
            }
            RowResult::Ran(_) => "passed",
            RowResult::Skipped(_) => "skipped",
            RowResult::Failed(_) => "failed",
        }
    }
}

/// Every row of one run of the flavor matrix.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Matrix {
    /// The rows, in the order they ran.
    pub rows: Vec<Row>,
}

/// Totals over a matrix, in checks (a row that did not run counts as one check).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    /// Checks that passed.
    pub passed: usize,
    /// Checks that failed, and rows that failed before their suite.
    pub failed: usize,
    /// Checks that were skipped, and rows that were skipped.
    pub skipped: usize,
    /// Checks that do not apply to their flavor (an optional capability it lacks).
    pub not_applicable: usize,
}

impl Matrix {
    /// Adds a row.
    pub fn push(
        &mut self,
        kind: impl Into<String>,
        flavor: impl Into<String>,
        source: impl Into<String>,
        result: RowResult,
    ) {
        self.rows.push(Row {
            kind: kind.into(),
            flavor: flavor.into(),
            source: source.into(),
            result,
        });
    }

    /// Counts the checks.
    pub fn totals(&self) -> Totals {
        let mut totals = Totals::default();
        for row in &self.rows {
            match &row.result {
                RowResult::Ran(report) => {
                    for (_, check) in report.checks() {
                        match check.outcome {
                            Outcome::Passed => totals.passed += 1,
                            Outcome::Failed(_) => totals.failed += 1,
                            Outcome::Skipped(_) => totals.skipped += 1,
                            Outcome::NotApplicable(_) => totals.not_applicable += 1,
                        }
                    }
                }
                RowResult::Skipped(_) => totals.skipped += 1,
                RowResult::Failed(_) => totals.failed += 1,
            }
        }
        totals
    }

    /// `Ok` when nothing failed and, if `strict` (as under `CI=true`), nothing was skipped;
    /// otherwise a one-line reason.
    pub fn verdict(&self, strict: bool) -> Result<(), String> {
        let totals = self.totals();
        if totals.failed > 0 {
            return Err(format!(
                "{} check(s) failed (see the notes above)",
                totals.failed
            ));
        }
        if strict && totals.skipped > 0 {
            return Err(format!(
                "{} check(s) skipped, and CI=true allows no skip (see the notes above)",
                totals.skipped
            ));
        }
        Ok(())
    }

    /// The matrix as text: one table per kind, then numbered notes with every failure's
    /// message and every skip's reason, then the totals.
    pub fn render(&self) -> String {
        let mut kinds: BTreeMap<&str, Vec<&Row>> = BTreeMap::new();
        for row in &self.rows {
            kinds.entry(row.kind.as_str()).or_default().push(row);
        }
        let mut notes: Vec<String> = Vec::new();
        let mut out = String::new();
        for (kind, rows) in kinds {
            let columns = columns(kind, &rows);
            let mut table: Vec<Vec<String>> = Vec::new();
            let mut header = vec![kind.to_owned()];
            header.extend(columns.iter().cloned());
            table.push(header);
            for row in rows {
                let mut line = vec![format!("  {}", row.flavor)];
                for column in &columns {
                    line.push(cell(row, column, &mut notes));
                }
                table.push(line);
            }
            out.push_str(&draw(&table));
            out.push('\n');
        }
        if !notes.is_empty() {
            out.push_str("notes:\n");
            for (i, note) in notes.iter().enumerate() {
                let mut lines = note.lines();
                let _ = writeln!(out, "  [{}] {}", i + 1, lines.next().unwrap_or_default());
                for line in lines {
                    let _ = writeln!(out, "      {line}");
                }
            }
            out.push('\n');
        }
        let totals = self.totals();
        let _ = writeln!(
            out,
            "checks: {} passed, {} failed, {} skipped, {} not applicable",
            totals.passed, totals.failed, totals.skipped, totals.not_applicable
        );
        out
    }

    /// The machine-readable summary: `{"ok", "strict", "totals": {…}, "rows": [{"kind",
    /// "flavor", "source", "status", "reason"?, "groups"?: {group: {check: {"outcome",
    /// "message"?}}}}]}`.
    pub fn to_json(&self, strict: bool) -> Value {
        let totals = self.totals();
        let rows: Vec<Value> = self
            .rows
            .iter()
            .map(|row| {
                let mut value = json!({
                    "kind": row.kind,
                    "flavor": row.flavor,
                    "source": row.source,
                    "status": row.status(),
                });
                match &row.result {
                    RowResult::Ran(report) => value["groups"] = report.to_json()["groups"].take(),
                    RowResult::Skipped(reason) | RowResult::Failed(reason) => {
                        value["reason"] = json!(reason)
                    }
                }
                value
            })
            .collect();
        json!({
            "ok": self.verdict(strict).is_ok(),
            "strict": strict,
            "totals": {
                "passed": totals.passed,
                "failed": totals.failed,
                "skipped": totals.skipped,
                "not_applicable": totals.not_applicable,
            },
            "rows": rows,
        })
    }
}

/// The columns of a kind's table: the groups of its suite, in the suite's order.
fn columns(kind: &str, rows: &[&Row]) -> Vec<String> {
    let known: &[&str] = match kind {
        crate::artifact_store::SUITE => &crate::artifact_store::GROUPS,
        crate::metadata_store::SUITE => &crate::metadata_store::GROUPS,
        crate::orchestrator::SUITE => &crate::orchestrator::GROUPS,
        crate::materializer::SUITE => &crate::materializer::GROUPS,
        _ => &[],
    };
    let mut columns: Vec<String> = known.iter().map(|g| (*g).to_owned()).collect();
    for row in rows {
        if let RowResult::Ran(report) = &row.result {
            for group in &report.groups {
                if !columns.contains(&group.name) {
                    columns.push(group.name.clone());
                }
            }
        }
    }
    if columns.is_empty() {
        columns.push("suite".to_owned());
    }
    columns
}

/// One cell, adding notes for failures and skips.
fn cell(row: &Row, column: &str, notes: &mut Vec<String>) -> String {
    let mut note = |text: String| {
        // One note per distinct text (a skipped row's reason shows in every column).
        let number = match notes.iter().position(|n| *n == text) {
            Some(i) => i + 1,
            None => {
                notes.push(text);
                notes.len()
            }
        };
        format!("[{number}]")
    };
    let name = format!("{}/{}", row.kind, row.flavor);
    match &row.result {
        RowResult::Skipped(reason) => format!("skipped {}", note(format!("{name}: {reason}"))),
        RowResult::Failed(reason) => format!("FAILED {}", note(format!("{name}: {reason}"))),
        RowResult::Ran(report) => {
            let Some(group) = report.group(column) else {
                return "-".to_owned();
            };
            let (passed, failed, skipped) = group.counts();
            let not_applicable = group
                .checks
                .iter()
                .filter(|c| matches!(c.outcome, Outcome::NotApplicable(_)))
                .count();
            // Checks that do not apply are not counted: `passed 2/2, n/a 2` of four.
            let total = group.checks.len() - not_applicable;
            let mut marks = Vec::new();
            for check in &group.checks {
                match &check.outcome {
                    Outcome::Passed => {}
                    outcome @ (Outcome::Failed(_)
                    | Outcome::Skipped(_)
                    | Outcome::NotApplicable(_)) => {
                        marks.push(note(format!("{name} {column}/{}: {outcome}", check.name)))
                    }
                }
            }
            let marks = marks.join("");
            let na = if not_applicable > 0 {
                format!(", n/a {not_applicable}")
            } else {
                String::new()
            };
            if failed > 0 {
                format!("FAILED {failed}/{total} {marks}")
            } else if total == 0 && not_applicable > 0 {
                format!("n/a {marks}")
            } else if skipped == total && total > 0 {
                format!("skipped {marks}")
            } else if skipped > 0 {
                format!("passed {passed}/{total}, skipped {skipped}{na} {marks}")
            } else if not_applicable > 0 {
                format!("passed {passed}/{total}{na} {marks}")
            } else {
                format!("passed {passed}/{total}")
            }
        }
    }
}

/// Draws rows of cells as aligned columns.
fn draw(table: &[Vec<String>]) -> String {
    let columns = table.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            table
                .iter()
                .filter_map(|row| row.get(c))
                .map(|cell| cell.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in table {
        let cells: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(c, cell)| format!("{cell:<width$}", width = widths[c]))
            .collect();
        let _ = writeln!(out, "{}", cells.join("  ").trim_end());
    }
    out
}

/// Sets a panic hook that keeps quiet about the panics the suites cause on purpose (steps
/// that panic with [`INTENDED_PANIC`](crate::orchestrator::INTENDED_PANIC), checks that
/// [`skip`](crate::skip)) and passes every other panic to the previous hook. For runner
/// binaries: the hook is global to the process, so tests should not call it.
pub fn quiet_intended_panics() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<&str>()
            .copied()
            .or_else(|| payload.downcast_ref::<String>().map(String::as_str));
        let intended = match message {
            Some(text) => text.contains(crate::orchestrator::INTENDED_PANIC),
            None => crate::report::is_skip(payload),
        };
        if !intended {
            previous(info);
        }
    }));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{GroupReport, skip};

    fn report() -> SuiteReport {
        let mut objects = GroupReport::new("objects");
        objects.run("a", || {}).run("b", || {});
        let mut names = GroupReport::new("names");
        names.run("c", || {}).run("d", || skip("no local folder"));
        let mut atomic = GroupReport::new("atomic-publish");
        atomic.run("e", || panic!("lost an object\nsecond line"));
        SuiteReport::new("artifact-store")
            .with(objects)
            .with(names)
            .with(atomic)
    }

    #[test]
    fn the_matrix_shows_each_group_and_notes_failures_and_skips() {
        let mut matrix = Matrix::default();
        matrix.push("artifact-store", "local", "x", RowResult::Ran(report()));
        matrix.push(
            "artifact-store",
            "s3",
            "y",
            RowResult::Skipped("no test configuration for this flavor".to_owned()),
        );
        matrix.push(
            "metadata-store",
            "broken",
            "z",
            RowResult::Failed("cannot open: refused".to_owned()),
        );
        let text = matrix.render();
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines[0].starts_with("artifact-store")
                && lines[0].contains("objects")
                && lines[0].contains("large-objects"),
            "{text}"
        );
        assert!(
            lines[1].contains("local")
                && lines[1].contains("passed 2/2")
                && lines[1].contains("passed 1/2, skipped 1 [1]")
                && lines[1].contains("FAILED 1/1 [2]")
                && lines[1].trim_end().ends_with('-'),
            "{text}"
        );
        assert!(
            lines[2].contains("s3") && lines[2].contains("skipped [3]"),
            "{text}"
        );
        assert!(text.contains("FAILED [4]"), "{text}");
        assert!(
            text.contains("[1] artifact-store/local names/d: skipped: no local folder"),
            "{text}"
        );
        assert!(
            text.contains(
                "[2] artifact-store/local atomic-publish/e: failed: lost an object\n      second line"
            ),
            "{text}"
        );
        assert!(
            text.contains("[3] artifact-store/s3: no test configuration for this flavor"),
            "{text}"
        );
        assert!(
            text.contains("checks: 3 passed, 2 failed, 2 skipped"),
            "{text}"
        );

        assert!(matrix.verdict(false).is_err());
        let json = matrix.to_json(false);
        assert_eq!(json["ok"], false);
        assert_eq!(json["totals"]["failed"], 2);
        assert_eq!(json["rows"][0]["status"], "failed");
        assert_eq!(
            json["rows"][0]["groups"]["names"]["d"],
            json!({"outcome": "skipped", "message": "no local folder"})
        );
        assert_eq!(json["rows"][1]["status"], "skipped");
        assert_eq!(
            json["rows"][1]["reason"],
            "no test configuration for this flavor"
        );
    }

    #[test]
    fn checks_that_do_not_apply_are_shown_and_allowed_in_strict_mode() {
        let mut matrix = Matrix::default();
        let mut group = GroupReport::new("large-objects");
        group
            .run("streams", || {})
            .run("moves_files", || crate::not_applicable("no local files"));
        let mut links = GroupReport::new("names");
        links.run("links", || crate::not_applicable("no folder"));
        matrix.push(
            "artifact-store",
            "s3",
            "x",
            RowResult::Ran(SuiteReport::new("artifact-store").with(group).with(links)),
        );
        assert_eq!(matrix.verdict(true), Ok(()));
        let text = matrix.render();
        assert!(text.contains("passed 1/1, n/a 1 [2]"), "{text}");
        assert!(text.contains("  n/a [1]"), "{text}");
        assert!(text.contains("not applicable: no local files"), "{text}");
        assert!(text.contains("0 skipped, 2 not applicable"), "{text}");
        assert_eq!(matrix.to_json(true)["totals"]["not_applicable"], 2);
    }

    #[test]
    fn skips_fail_only_in_strict_mode() {
        let mut matrix = Matrix::default();
        let mut group = GroupReport::new("g");
        group.run("fine", || {});
        matrix.push(
            "orchestrator",
            "local",
            "x",
            RowResult::Ran(SuiteReport::new("orchestrator").with(group)),
        );
        assert_eq!(matrix.verdict(true), Ok(()));
        matrix.push(
            "metadata-store",
            "mysql",
            "y",
            RowResult::Skipped("no server".to_owned()),
        );
        assert_eq!(matrix.verdict(false), Ok(()));
        let err = matrix.verdict(true).unwrap_err();
        assert!(err.contains("CI=true"), "{err}");
        assert_eq!(matrix.to_json(true)["ok"], false);
        assert_eq!(matrix.to_json(false)["ok"], true);
        assert_eq!(matrix.rows[1].status(), "skipped");
        assert_eq!(matrix.rows[0].status(), "passed");
    }
}
