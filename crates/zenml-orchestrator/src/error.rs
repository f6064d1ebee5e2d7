//! The orchestrator error type and the failure of one step.

/// What can go wrong in an orchestrator itself. A step that fails is not an orchestrator
/// error: it is a [`StepOutcome::Failed`](crate::StepOutcome::Failed) in the run report.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OrchestratorError {
    /// The orchestrator's configuration cannot be used.
    #[error("invalid orchestrator configuration: {0}")]
    Config(String),
    /// A thread to run steps on could not be started.
    #[error("cannot start a thread to run steps on: {source}")]
    Spawn {
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The orchestrator cannot do what was asked of it, e.g. run a run detached.
    #[error("{0}")]
    Unsupported(String),
    /// A backend-specific failure.
    #[error("{orchestrator} orchestrator: {source}")]
    Backend {
        /// The flavor, e.g. `local`.
        orchestrator: &'static str,
        /// The backend's error.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// Why a step failed, as the [`StepExecutor`](crate::StepExecutor) tells the orchestrator.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct StepFailure {
    /// What went wrong, worded for the user.
    pub message: String,
    /// Set by [`StepExecutor::step_process_ended`](crate::StepExecutor::step_process_ended)
    /// when the step is to be tried again: the orchestrator runs its command again (a new
    /// attempt of the same step, from a fresh
    /// [`step_command`](crate::StepExecutor::step_command)) after this delay, instead of
    /// failing it.
    pub retry_after: Option<std::time::Duration>,
}

impl StepFailure {
    /// A failure saying `message`.
    pub fn new(message: impl Into<String>) -> StepFailure {
        StepFailure {
            message: message.into(),
            retry_after: None,
        }
    }

    /// A failure from `error` and its chain of sources, joined with `: `
    /// ([`zenml_core::error_chain`]).
    pub fn from_error(error: &(dyn std::error::Error + 'static)) -> StepFailure {
        StepFailure::new(zenml_core::error_chain(error))
    }

    /// A failure saying `message`, after which the step is to run again in `delay` (see
    /// [`StepFailure::retry_after`]).
    pub fn retry(message: impl Into<String>, delay: std::time::Duration) -> StepFailure {
        StepFailure {
            message: message.into(),
            retry_after: Some(delay),
        }
    }
}

impl From<String> for StepFailure {
    fn from(message: String) -> StepFailure {
        StepFailure::new(message)
    }
}

impl From<&str> for StepFailure {
    fn from(message: &str) -> StepFailure {
        StepFailure::new(message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("cannot load the model")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn from_error_includes_the_sources() {
        let error = Outer(std::io::Error::other("disk on fire"));
        assert_eq!(
            StepFailure::from_error(&error).message,
            "cannot load the model: disk on fire"
        );
    }
}
