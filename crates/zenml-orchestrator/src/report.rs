//! What happened to each step of a run.

use std::fmt;
use std::time::Duration;

/// What happened to one step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepOutcome {
    /// The step ran and succeeded.
    Succeeded,
    /// The step ran and failed (or panicked), with the message saying why.
    Failed(String),
    /// The step did not run because an upstream step failed or was skipped.
    Skipped {
        /// Which upstream step stopped it, e.g. ``upstream step `train` failed``.
        because: String,
    },
}

impl StepOutcome {
    /// Whether the step ran and succeeded.
    pub fn is_success(&self) -> bool {
        matches!(self, StepOutcome::Succeeded)
    }
}

impl fmt::Display for StepOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StepOutcome::Succeeded => f.write_str("succeeded"),
            StepOutcome::Failed(message) => write!(f, "failed: {message}"),
            StepOutcome::Skipped { because } => write!(f, "skipped: {because}"),
        }
    }
}

/// The report of one step in a [`RunReport`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepReport {
    /// The step's name.
    pub name: String,
    /// What happened.
    pub outcome: StepOutcome,
    /// How long the step ran; zero for a skipped step.
    pub duration: Duration,
}

/// What happened in one run of a pipeline: one [`StepReport`] per node of the DAG.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunReport {
    steps: Vec<StepReport>,
    duration: Duration,
}

impl RunReport {
    /// A report of `steps`, indexed like the DAG's nodes, for a run that took `duration`.
    pub fn new(steps: Vec<StepReport>, duration: Duration) -> RunReport {
        RunReport { steps, duration }
    }

    /// Whether every step succeeded. A run without steps is a success.
    pub fn is_success(&self) -> bool {
        self.steps.iter().all(|s| s.outcome.is_success())
    }

    /// Every step, in node order.
    pub fn steps(&self) -> &[StepReport] {
        &self.steps
    }

    /// The step of node `node`.
    pub fn step(&self, node: usize) -> Option<&StepReport> {
        self.steps.get(node)
    }

    /// The steps that ran and failed, in node order.
    pub fn failed(&self) -> impl Iterator<Item = &StepReport> {
        self.steps
            .iter()
            .filter(|s| matches!(s.outcome, StepOutcome::Failed(_)))
    }

    /// How long the whole run took.
    pub fn duration(&self) -> Duration {
        self.duration
    }
}

/// Progress of a run, passed to [`StepExecutor::on_event`](crate::StepExecutor::on_event).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StepEvent {
    /// Node `node` is about to be executed.
    Started {
        /// The node's index in the DAG.
        node: usize,
    },
    /// Node `node` is done: it ran, or it was skipped (then without a `Started` event).
    Finished {
        /// The node's index in the DAG.
        node: usize,
        /// What happened.
        outcome: StepOutcome,
        /// How long it ran; zero for a skipped step.
        duration: Duration,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(name: &str, outcome: StepOutcome) -> StepReport {
        StepReport {
            name: name.to_owned(),
            outcome,
            duration: Duration::ZERO,
        }
    }

    #[test]
    fn success_needs_every_step_to_succeed() {
        assert!(RunReport::new(vec![], Duration::ZERO).is_success());
        let report = RunReport::new(
            vec![
                step("a", StepOutcome::Succeeded),
                step("b", StepOutcome::Failed("boom".to_owned())),
                step(
                    "c",
                    StepOutcome::Skipped {
                        because: "upstream step `b` failed".to_owned(),
                    },
                ),
            ],
            Duration::ZERO,
        );
        assert!(!report.is_success());
        assert_eq!(
            report.failed().map(|s| s.name.as_str()).collect::<Vec<_>>(),
            ["b"]
        );
        assert_eq!(
            report.step(2).map(|s| s.outcome.to_string()).as_deref(),
            Some("skipped: upstream step `b` failed")
        );
    }
}
