//! What a suite reports: groups of checks, each passed, failed, skipped or not applicable.

use std::any::Any;
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};

use serde_json::{Value, json};

/// What happened to one check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The implementation did what the contract says.
    Passed,
    /// It did not; the message says what went wrong.
    Failed(String),
    /// The check could not run here; the reason says why (e.g. a service is missing). Under
    /// `CI=true` a skip fails the flavor matrix.
    Skipped(String),
    /// The check is about something the implementation does not offer (e.g. the optional
    /// local-files capability of a bucket store); the reason says what. Not a skip: there is
    /// nothing to run.
    NotApplicable(String),
}

impl Outcome {
    /// `passed`, `failed`, `skipped` or `n/a`.
    pub fn label(&self) -> &'static str {
        match self {
            Outcome::Passed => "passed",
            Outcome::Failed(_) => "failed",
            Outcome::Skipped(_) => "skipped",
            Outcome::NotApplicable(_) => "n/a",
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Passed => f.write_str("passed"),
            Outcome::Failed(message) => write!(f, "failed: {message}"),
            Outcome::Skipped(reason) => write!(f, "skipped: {reason}"),
            Outcome::NotApplicable(reason) => write!(f, "not applicable: {reason}"),
        }
    }
}

/// One check and its outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckReport {
    /// The check's name: the name of the `pub fn` that implements it.
    pub name: String,
    /// What happened.
    pub outcome: Outcome,
}

/// The checks of one group, e.g. `transactions`: a column of the flavor matrix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupReport {
    /// The group's name.
    pub name: String,
    /// Its checks, in the order they ran.
    pub checks: Vec<CheckReport>,
}

impl GroupReport {
    /// A group without checks yet.
    pub fn new(name: impl Into<String>) -> GroupReport {
        GroupReport {
            name: name.into(),
            checks: Vec::new(),
        }
    }

    /// Runs `check` (see [`run_check`]) and adds its report.
    pub fn run(&mut self, name: &str, check: impl FnOnce()) -> &mut GroupReport {
        self.checks.push(run_check(name, check));
        self
    }

    /// Adds a check that did not run, with the reason.
    pub fn skipped(&mut self, name: &str, reason: impl Into<String>) -> &mut GroupReport {
        self.checks.push(CheckReport {
            name: name.to_owned(),
            outcome: Outcome::Skipped(reason.into()),
        });
        self
    }

    /// How many checks passed, failed and were skipped.
    pub fn counts(&self) -> (usize, usize, usize) {
        let count = |label| {
            self.checks
                .iter()
                .filter(|c| c.outcome.label() == label)
                .count()
        };
        (count("passed"), count("failed"), count("skipped"))
    }

    /// The group's outcome: failed when a check failed (the first failure's message),
    /// skipped when every check was skipped (the first reason), passed otherwise.
    pub fn outcome(&self) -> Outcome {
        if let Some(failed) = self
            .checks
            .iter()
            .find(|c| matches!(c.outcome, Outcome::Failed(_)))
        {
            return failed.outcome.clone();
        }
        let not_applicable = self
            .checks
            .iter()
            .filter(|c| matches!(c.outcome, Outcome::NotApplicable(_)))
            .count();
        match self.checks.first() {
            Some(first) if self.counts().2 == self.checks.len() => first.outcome.clone(),
            Some(first) if not_applicable == self.checks.len() => first.outcome.clone(),
            _ => Outcome::Passed,
        }
    }
}

/// What a suite found on one implementation: check group → check → outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SuiteReport {
    /// The suite, e.g. `metadata-store`.
    pub suite: String,
    /// The check groups, in a fixed order per suite.
    pub groups: Vec<GroupReport>,
}

impl SuiteReport {
    /// A report of `suite` without groups yet.
    pub fn new(suite: impl Into<String>) -> SuiteReport {
        SuiteReport {
            suite: suite.into(),
            groups: Vec::new(),
        }
    }

    /// The report of a suite that could not start: one failed check `open` per group, each
    /// with `message`.
    pub fn unopened(suite: &str, groups: &[&str], message: &str) -> SuiteReport {
        let mut report = SuiteReport::new(suite);
        for name in groups {
            report.groups.push(GroupReport {
                name: (*name).to_owned(),
                checks: vec![CheckReport {
                    name: "open".to_owned(),
                    outcome: Outcome::Failed(format!("cannot open the implementation: {message}")),
                }],
            });
        }
        report
    }

    /// Adds `group` and returns `self`.
    pub fn with(mut self, group: GroupReport) -> SuiteReport {
        self.groups.push(group);
        self
    }

    /// The group called `name`.
    pub fn group(&self, name: &str) -> Option<&GroupReport> {
        self.groups.iter().find(|g| g.name == name)
    }

    /// The outcome of check `check` in group `group`.
    pub fn outcome(&self, group: &str, check: &str) -> Option<&Outcome> {
        self.group(group)?
            .checks
            .iter()
            .find(|c| c.name == check)
            .map(|c| &c.outcome)
    }

    /// Every check with its group, in order.
    pub fn checks(&self) -> impl Iterator<Item = (&GroupReport, &CheckReport)> {
        self.groups
            .iter()
            .flat_map(|g| g.checks.iter().map(move |c| (g, c)))
    }

    /// The failed checks: `(group, check, message)`.
    pub fn failures(&self) -> Vec<(&str, &str, &str)> {
        self.checks()
            .filter_map(|(g, c)| match &c.outcome {
                Outcome::Failed(message) => Some((g.name.as_str(), c.name.as_str(), &**message)),
                _ => None,
            })
            .collect()
    }

    /// The skipped checks: `(group, check, reason)`.
    pub fn skips(&self) -> Vec<(&str, &str, &str)> {
        self.checks()
            .filter_map(|(g, c)| match &c.outcome {
                Outcome::Skipped(reason) => Some((g.name.as_str(), c.name.as_str(), &**reason)),
                _ => None,
            })
            .collect()
    }

    /// The checks that do not apply to the implementation: `(group, check, reason)`.
    pub fn not_applicable(&self) -> Vec<(&str, &str, &str)> {
        self.checks()
            .filter_map(|(g, c)| match &c.outcome {
                Outcome::NotApplicable(reason) => {
                    Some((g.name.as_str(), c.name.as_str(), &**reason))
                }
                _ => None,
            })
            .collect()
    }

    /// Whether no check failed (skipped checks are not failures).
    pub fn is_success(&self) -> bool {
        self.failures().is_empty()
    }

    /// Panics, listing every failed check with its message, unless no check failed. For a
    /// flavor crate's `#[test]`.
    #[track_caller]
    pub fn assert_passed(&self) {
        let failures = self.failures();
        if !failures.is_empty() {
            let lines: Vec<String> = failures
                .iter()
                .map(|(group, check, message)| format!("  {group}/{check}: {message}"))
                .collect();
            panic!(
                "{} of {} checks of the {} suite failed:\n{}",
                failures.len(),
                self.checks().count(),
                self.suite,
                lines.join("\n")
            );
        }
    }

    /// The report as JSON: `{"suite": …, "groups": {group: {check: {"outcome": …,
    /// "message": …}}}}`, groups and checks sorted by name
    /// (JSON objects; the order they ran is in [`SuiteReport::groups`]).
    pub fn to_json(&self) -> Value {
        let groups: serde_json::Map<String, Value> = self
            .groups
            .iter()
            .map(|g| {
                let checks: serde_json::Map<String, Value> = g
                    .checks
                    .iter()
                    .map(|c| (c.name.clone(), outcome_json(&c.outcome)))
                    .collect();
                (g.name.clone(), Value::Object(checks))
            })
            .collect();
        json!({"suite": self.suite, "groups": groups})
    }
}

/// `{"outcome": "passed"}`, with `"message"` for a failure or skip.
pub(crate) fn outcome_json(outcome: &Outcome) -> Value {
    match outcome {
        Outcome::Passed => json!({"outcome": "passed"}),
        Outcome::Failed(message) | Outcome::Skipped(message) => {
            json!({"outcome": outcome.label(), "message": message})
        }
        Outcome::NotApplicable(message) => {
            json!({"outcome": "not_applicable", "message": message})
        }
    }
}

/// The payload of [`skip`]'s panic.
#[derive(Debug)]
struct Skip(String);

/// Ends the running check as skipped with `reason` (it unwinds, like a failed assertion,
/// and [`run_check`] catches it). Outside [`run_check`] it is a panic saying the reason.
pub fn skip(reason: impl Into<String>) -> ! {
    std::panic::panic_any(Skip(reason.into()))
}

/// The payload of [`not_applicable`]'s panic.
#[derive(Debug)]
struct NotApplicable(String);

/// Ends the running check as not applicable to this implementation, with `reason` (it
/// unwinds like [`skip`]). Use it for checks of an optional capability the implementation
/// does not have; use [`skip`] for checks that could run but cannot here.
pub fn not_applicable(reason: impl Into<String>) -> ! {
    std::panic::panic_any(NotApplicable(reason.into()))
}

/// Runs `check`, which panics on a violation (an assertion), and reports it: passed when it
/// returns, failed with the panic's message when it panics, skipped when it called
/// [`skip`], not applicable when it called [`not_applicable`]. The panic hook still runs
/// (and prints) for a failed check.
pub fn run_check(name: &str, check: impl FnOnce()) -> CheckReport {
    let outcome = match catch_unwind(AssertUnwindSafe(check)) {
        Ok(()) => Outcome::Passed,
        Err(payload) => match payload.downcast::<Skip>() {
            Ok(skip) => Outcome::Skipped(skip.0),
            Err(payload) => match payload.downcast::<NotApplicable>() {
                Ok(na) => Outcome::NotApplicable(na.0),
                Err(payload) => Outcome::Failed(panic_message(&*payload)),
            },
        },
    };
    CheckReport {
        name: name.to_owned(),
        outcome,
    }
}

/// Whether a panic payload is [`skip`]'s or [`not_applicable`]'s.
pub(crate) fn is_skip(payload: &(dyn Any + Send)) -> bool {
    payload.is::<Skip>() || payload.is::<NotApplicable>()
}

/// Calls `f`, turning a panic into its message.
pub(crate) fn catch<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|payload| panic_message(&*payload))
}

/// The text of a panic payload.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .or_else(|| payload.downcast_ref::<Skip>().map(|s| s.0.clone()))
        .or_else(|| payload.downcast_ref::<NotApplicable>().map(|s| s.0.clone()))
        .unwrap_or_else(|| "(the panic carried no message)".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_are_passed_failed_or_skipped() {
        let mut group = GroupReport::new("g");
        group
            .run("fine", || {})
            .run("broken", || assert_eq!(1 + 1, 3, "arithmetic"))
            .run("absent", || skip("no service"))
            .skipped("later", "not yet");
        let outcomes: Vec<String> = group.checks.iter().map(|c| c.outcome.to_string()).collect();
        assert_eq!(outcomes[0], "passed");
        assert!(
            outcomes[1].starts_with("failed: assertion `left == right` failed: arithmetic"),
            "{}",
            outcomes[1]
        );
        assert_eq!(outcomes[2], "skipped: no service");
        assert_eq!(outcomes[3], "skipped: not yet");
        assert_eq!(group.counts(), (1, 1, 2));
        assert!(matches!(group.outcome(), Outcome::Failed(_)));

        let report = SuiteReport::new("s").with(group);
        assert!(!report.is_success());
        assert_eq!(report.failures().len(), 1);
        assert_eq!(report.skips().len(), 2);
        assert_eq!(report.outcome("g", "fine"), Some(&Outcome::Passed));
        let json = report.to_json();
        assert_eq!(json["groups"]["g"]["absent"]["outcome"], "skipped");
        assert_eq!(json["groups"]["g"]["absent"]["message"], "no service");
        let err = catch_unwind(|| report.assert_passed()).unwrap_err();
        let text = panic_message(&*err);
        assert!(
            text.contains("1 of 4 checks of the s suite failed") && text.contains("g/broken"),
            "{text}"
        );
    }

    #[test]
    fn a_group_of_skips_is_skipped_and_an_empty_one_passed() {
        let mut group = GroupReport::new("g");
        group.skipped("a", "why").skipped("b", "other");
        assert_eq!(group.outcome(), Outcome::Skipped("why".to_owned()));
        group.run("c", || {});
        assert_eq!(group.outcome(), Outcome::Passed);
        assert_eq!(GroupReport::new("empty").outcome(), Outcome::Passed);
    }
}
