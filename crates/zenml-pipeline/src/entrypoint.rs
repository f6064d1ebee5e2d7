//! The step entrypoint: running one step of a recorded run in this process, as an
//! orchestrator that runs each step in a process (or a job) of its own asks a pipeline's
//! program to.
//!
//! Everything the step needs comes from the metadata store, not from the process that
//! started the run: the run's resolved configuration, the spec this program must match, and
//! the recorded outputs of the upstream steps, which the step loads from the artifact store.

use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};

use zenml_metadata_store::{ArtifactRecord, RunRecord, RunStatus, StepRunRecord, StepStatus};

use crate::config::ResolvedConfig;
use crate::pipeline::{Pipeline, RunError, RunOptions, RunOutcome, RunPlace};
use crate::runner::{Execution, Progress};

/// The command-line option that names the run whose step to run (its name or id).
pub const RUN_OPTION: &str = "--zenml-run";
/// The command-line option that names the step to run.
pub const STEP_OPTION: &str = "--zenml-step";
/// The command-line option that says which attempt of the step this is (default 1).
pub const ATTEMPT_OPTION: &str = "--zenml-attempt";

impl Pipeline {
    /// Runs step `step` of the recorded run `run` (its name or id) in this process, on the
    /// stack that `options` names (or the active one), and records it, exactly as the
    /// process that started the run would have: its inputs are loaded from the recorded
    /// outputs of its upstream steps, its cache is consulted, its outputs are published and
    /// recorded with it in one transaction.
    ///
    /// Returns the run and the step's record. A step already completed (or cached) in the
    /// run is not run again: its record is returned, so that running a step twice, after an
    /// acknowledgement was lost, does no harm.
    ///
    /// # Errors
    ///
    /// - [`RunError::StepRefused`] when the run is not running, when this program's
    ///   pipeline does not match the spec the run recorded (other steps, code, wiring,
    ///   outputs or materializers), when the run used another stack, when the step is
    ///   unknown or already recorded as failed or skipped, or when an upstream step has not
    ///   completed in the run. Nothing is recorded.
    /// - [`RunError::StepFailed`] when the step failed or panicked; the failure is recorded.
    /// - Other variants when the repository, the stack or a store cannot be used.
    pub fn run_step(
        &self,
        run: &str,
        step: &str,
        options: &RunOptions,
    ) -> Result<RunOutcome, RunError> {
        self.run_step_attempt(run, step, 1, options)
    }

    /// [`Pipeline::run_step`] as attempt `attempt` (1, 2, …) of the step, as an orchestrator
    /// that retries failed steps runs them. A failed attempt with retries left (the step's
    /// `retries`) is recorded as a failed attempt, to be tried again; the last one as the
    /// step's failure. An attempt already recorded as failed is refused.
    pub fn run_step_attempt(
        &self,
        run: &str,
        step: &str,
        attempt: u32,
        options: &RunOptions,
    ) -> Result<RunOutcome, RunError> {
        let refuse = |reason: String| RunError::StepRefused {
            run: run.to_owned(),
            step: step.to_owned(),
            reason,
        };
        // A step process's `log` records go to its standard error, which the orchestrator
        // keeps as the step's logs.
        crate::logs::install_logger();
        let place = RunPlace::open(options)?;
        let store = place.stack.metadata_store.as_ref();
        let record = store.get_run(run)?;
        if record.status != RunStatus::Running {
            return Err(refuse(format!(
                "the run is {}; only a running run's steps can be run",
                record.status.as_str()
            )));
        }
        self.fits_recorded_run(&record, &place.stack_name)
            .map_err(refuse)?;
        let config: ResolvedConfig =
            serde_json::from_value(record.config.clone()).map_err(|e| {
                refuse(format!(
                    "the run's recorded configuration cannot be read: {e}"
                ))
            })?;
        let Some(index) = self.steps().iter().position(|node| node.name == step) else {
            return Err(refuse(format!(
                "the pipeline has no such step; its steps: {}",
                self.steps()
                    .iter()
                    .map(|node| node.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        };
        // Read by name, never the run's whole list: a step of a run of a thousand steps
        // costs what a step of a run of twenty does.
        if let Some(existing) = store.step_run_named(&record.id, step)? {
            return match existing.status {
                StepStatus::Completed | StepStatus::Cached => Ok(outcome(record, existing)),
                other => Err(refuse(format!(
                    "it is already recorded as {} in the run",
                    other.as_str()
                ))),
            };
        }
        if attempt == 0 {
            return Err(refuse("attempts are numbered from 1".to_owned()));
        }
        if store
            .step_attempts(&record.id)?
            .iter()
            .any(|a| a.name == step && a.attempt == attempt)
        {
            return Err(refuse(format!(
                "its attempt {attempt} is already recorded as failed in the run"
            )));
        }
        let node = &self.steps()[index];
        let mut outputs: Vec<Option<HashMap<String, ArtifactRecord>>> =
            vec![None; self.steps().len()];
        for input in &node.inputs {
            if outputs[input.node].is_some() {
                continue;
            }
            let upstream = &self.steps()[input.node].name;
            let done = store
                .step_run_named(&record.id, upstream)?
                .filter(|s| matches!(s.status, StepStatus::Completed | StepStatus::Cached));
            let Some(done) = done else {
                return Err(refuse(format!(
                    "its upstream step `{upstream}` has not completed in the run"
                )));
            };
            outputs[input.node] = Some(store.step_outputs(&done.id)?.into_iter().collect());
        }

        let execution = Execution::new(
            (&record.id, &record.name),
            self.steps(),
            &config,
            (&place.stack, place.staging.clone()),
            outputs,
            Progress::new(true),
        );
        if let Ok(mut attempts) = execution.attempts.lock() {
            attempts.insert(index, attempt);
        }
        let started_at = crate::runner::now_millis();
        let error = match catch_unwind(AssertUnwindSafe(|| execution.run_step(index))) {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(e.message().to_owned()),
            Err(payload) => Some(format!(
                "the step panicked: {}",
                zenml_orchestrator::panic_message(&*payload)
            )),
        };
        if let Some(error) = error {
            if attempt <= execution.retries(index) {
                // Another attempt follows: this one is recorded as a failed attempt.
                let error =
                    match execution.record_failed_attempt(index, attempt, started_at, &error) {
                        Ok(()) => error,
                        Err(e) => e.message().to_owned(),
                    };
                return Err(RunError::StepFailed {
                    run: record.name,
                    step: step.to_owned(),
                    error,
                });
            }
            execution.record_unfinished(index, StepStatus::Failed, &error);
            return Err(RunError::StepFailed {
                run: record.name,
                step: step.to_owned(),
                error,
            });
        }
        let done = store.step_run_named(&record.id, step)?.ok_or_else(|| {
            refuse("the step ran, but its record cannot be found in the run".to_owned())
        })?;
        Ok(outcome(record, done))
    }
}

impl Pipeline {
    /// Whether this program may go on with the recorded run `record` on stack `stack`: its
    /// pipeline must be the spec the run recorded, and the stack the run's. `Err` says why
    /// not.
    pub(crate) fn fits_recorded_run(&self, record: &RunRecord, stack: &str) -> Result<(), String> {
        if let Some(difference) = self.spec().difference(&record.spec) {
            return Err(format!(
                "this program's pipeline is not the one the run was started with: {difference}"
            ));
        }
        match record.stack["name"].as_str() {
            Some(used) if used != stack => Err(format!(
                "the run uses stack `{used}`, and this process would use stack `{stack}`; \
                 pass `--stack {used}` or set ZENML_STACK"
            )),
            _ => Ok(()),
        }
    }
}

/// The outcome of running one step: the run and that step's record.
fn outcome(run: RunRecord, step: StepRunRecord) -> RunOutcome {
    RunOutcome {
        run,
        steps: vec![step],
        detached: None,
    }
}
