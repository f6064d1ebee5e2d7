//! Cancelling a run: recording it cancelled, then stopping what still runs of it.

use zenml_metadata_store::RunStatus;
use zenml_stack::open_stack;

use crate::client::{Client, ClientError};
use crate::runner::now_millis;

/// What [`Client::cancel_run`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CancelReport {
    /// The run's name.
    pub run: String,
    /// The run's id.
    pub run_id: String,
    /// The stack whose orchestrator stopped the run's steps.
    pub stack: String,
    /// How many running steps (processes, jobs) the orchestrator stopped.
    pub stopped: usize,
}

impl Client {
    /// Cancels run `run` (its name or id): records it as cancelled, so that its driver
    /// starts no more steps and finishes it as cancelled, then asks the orchestrator of the
    /// stack it runs on to stop its running steps
    /// ([`Orchestrator::cancel_steps`](zenml_orchestrator::Orchestrator::cancel_steps)),
    /// with the job ids its steps were recorded with (run metadata `job.<step>.<attempt>`).
    /// An interrupted run (its driver is gone) can be cancelled too.
    ///
    /// # Errors
    ///
    /// [`ClientError::NotRunning`] when the run has already ended (nothing changes); a
    /// store or orchestrator error otherwise. When the orchestrator fails, the run stays
    /// recorded as cancelled.
    pub fn cancel_run(&self, run: &str) -> Result<CancelReport, ClientError> {
        let view = self.run(run)?;
        let record = &view.record;
        let not_running = |status: RunStatus| ClientError::NotRunning {
            run: record.name.clone(),
            status: status.as_str(),
        };
        if !matches!(record.status, RunStatus::Running | RunStatus::Interrupted) {
            return Err(not_running(record.status));
        }
        let store = self.stack().metadata_store.as_ref();
        let finished = store.finish_run(
            &record.id,
            RunStatus::Cancelled,
            now_millis(),
            Some("cancelled by `zenml run cancel`"),
        )?;
        if !finished {
            let now = store.get_run(&record.id)?;
            return Err(not_running(now.status));
        }
        let jobs: Vec<String> = view
            .metadata()?
            .into_iter()
            .filter(|(key, _)| key.starts_with("job."))
            .filter_map(|(_, value)| value.as_str().map(str::to_owned))
            .collect();
        // The run's steps run where the orchestrator of the stack it was started on runs
        // them; that stack may not be this client's.
        let used = record.stack["name"].as_str().unwrap_or_default();
        let stack = if used.is_empty() || used == self.stack().name.as_str() {
            None
        } else {
            match self.repository().map(|repo| open_stack(repo, used)) {
                Some(Ok(stack)) => Some(stack),
                Some(Err(e)) => return Err(e.into()),
                None => None,
            }
        };
        let orchestrator = stack
            .as_ref()
            .map_or(self.stack().orchestrator.as_ref(), |s| {
                s.orchestrator.as_ref()
            });
        let stopped = orchestrator.cancel_steps(&record.id, &jobs)?;
        Ok(CancelReport {
            run: record.name.clone(),
            run_id: record.id.clone(),
            stack: stack.map_or_else(|| self.stack().name.to_string(), |s| s.name.to_string()),
            stopped,
        })
    }
}

impl From<zenml_orchestrator::OrchestratorError> for ClientError {
    fn from(error: zenml_orchestrator::OrchestratorError) -> ClientError {
        ClientError::Orchestrator(error)
    }
}
