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
}

impl StepFailure {
    /// A failure saying `message`.
    pub fn new(message: impl Into<String>) -> StepFailure {
        StepFailure {
            message: message.into(),
        }
    }

    /// A failure from `error` and its chain of sources, joined with `: `
    /// ([`zenml_core::error_chain`]).
    pub fn from_error(error: &(dyn std::error::Error + 'static)) -> StepFailure {
        StepFailure {
            message: zenml_core::error_chain(error),
        }
    }
}

impl From<String> for StepFailure {
    fn from(message: String) -> StepFailure {
        StepFailure { message }
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
