//! The runner as the orchestrator's [`StepExecutor`]: running a step here or handing out the
//! command that runs it elsewhere, reading what a step process recorded, and trying a failed
//! step again (`retries`) as a new attempt of the same step.
//!
//! A step's attempts are numbered from 1. A failed attempt that will be tried again is
//! recorded as a [`StepAttemptRecord`]; the last attempt, whatever its outcome, is the
//! step run, which carries its attempt number. In this process the runner retries by
//! itself; out of process it answers the orchestrator with
//! [`StepFailure::retry_after`], and the orchestrator starts the step's command again.

use std::io::Read;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::Ordering;
use std::time::Duration;

use zenml_metadata_store::{MetadataEntry, Resource, RunStatus, StepAttemptRecord, StepStatus};
use zenml_orchestrator::{
    ProcessExit, StepCommand, StepEvent, StepExecutor, StepFailure, StepOutcome, panic_message,
};
use zenml_stack::{REPOSITORY_PATH_ENV, STACK_ENV};

use crate::entrypoint::{ATTEMPT_OPTION, RUN_OPTION, STEP_OPTION};
use crate::last_error::LastErrorLine;
use crate::runner::{Execution, now_millis};
use crate::step::StepError;

/// The run metadata key under which the job of attempt `attempt` of step `step` is
/// recorded: `job.<step>.<attempt>`.
pub fn job_key(step: &str, attempt: u32) -> String {
    format!("job.{step}.{attempt}")
}

impl Execution<'_> {
    /// The attempt of node `index` that runs now (or ran last): 1 at first.
    pub(crate) fn attempt(&self, index: usize) -> u32 {
        self.attempts
            .lock()
            .ok()
            .and_then(|attempts| attempts.get(&index).copied())
            .unwrap_or(1)
    }

    fn set_attempt(&self, index: usize, attempt: u32) {
        if let Ok(mut attempts) = self.attempts.lock() {
            attempts.insert(index, attempt);
        }
    }

    /// How many times node `index` is tried again after a failure.
    pub(crate) fn retries(&self, index: usize) -> u32 {
        self.config
            .steps
            .get(&self.nodes[index].name)
            .map_or(0, |step| step.retries)
    }

    /// The wait before attempt `next` of node `index`.
    fn retry_delay(&self, index: usize, next: u32) -> Duration {
        self.config
            .steps
            .get(&self.nodes[index].name)
            .map_or(Duration::ZERO, |step| step.retry_delay(next))
    }

    /// Records attempt `attempt` of node `index`, which started at `started_at` and failed
    /// with `error`, as a failed attempt that will be tried again.
    pub(crate) fn record_failed_attempt(
        &self,
        index: usize,
        attempt: u32,
        started_at: i64,
        error: &str,
    ) -> Result<(), StepError> {
        self.stack
            .metadata_store
            .record_failed_attempt(&StepAttemptRecord {
                id: uuid::Uuid::new_v4().to_string(),
                run_id: self.run_id.clone(),
                name: self.nodes[index].name.clone(),
                attempt,
                started_at,
                ended_at: now_millis(),
                error: error.to_owned(),
            })
            .map_err(|e| {
                StepError::new(format!(
                    "{error}; recording the failed attempt {attempt} failed too: {e}"
                ))
            })
    }

    /// Runs node `index` in this process, trying it again after a failure or a panic as
    /// long as it has retries left.
    fn execute_with_retries(&self, index: usize) -> Result<(), StepFailure> {
        loop {
            let attempt = self.attempt(index);
            let started_at = now_millis();
            let run = || catch_unwind(AssertUnwindSafe(|| self.run_step(index)));
            let result = if self.keeps_logs {
                let (result, logs) = crate::logs::capture(run);
                self.keep_logs(index, attempt, &mut logs.as_slice());
                result
            } else {
                run()
            };
            let error = match result {
                Ok(Ok(())) => return Ok(()),
                Ok(Err(e)) => e.message().to_owned(),
                Err(payload) => format!("the step panicked: {}", panic_message(&*payload)),
            };
            if attempt > self.retries(index) || self.cancelled.load(Ordering::SeqCst) {
                return Err(StepFailure::new(error));
            }
            self.record_failed_attempt(index, attempt, started_at, &error)
                .map_err(|e| StepFailure::new(e.message()))?;
            self.progress.line(&format!(
                "  ↻ {} attempt {attempt} failed, trying again: {error}",
                self.nodes[index].name
            ));
            std::thread::sleep(self.retry_delay(index, attempt + 1));
            self.set_attempt(index, attempt + 1);
        }
    }

    /// What the step process of node `index` left behind when it ended with `exit`: its
    /// step run (success or final failure), a failed attempt to try again, or nothing (it
    /// died), which is recorded here.
    fn read_process_outcome(&self, index: usize, exit: &ProcessExit) -> Result<(), StepFailure> {
        let name = &self.nodes[index].name;
        let store = &self.stack.metadata_store;
        let unreadable = |e: &dyn std::fmt::Display| {
            StepFailure::new(format!(
                "the step's process {exit}, and its record cannot be read: {e}"
            ))
        };
        let final_record = store
            .step_run_named(&self.run_id, name)
            .map_err(|e| unreadable(&e))?;
        if let Some(record) = final_record {
            if let Ok(mut recorded) = self.recorded.lock() {
                recorded.insert(index);
            }
            return match record.status {
                StepStatus::Completed => Ok(()),
                StepStatus::Cached => {
                    if let Ok(mut cached) = self.cached.lock() {
                        cached.insert(index);
                    }
                    Ok(())
                }
                StepStatus::Failed | StepStatus::Skipped => {
                    Err(StepFailure::new(record.error.unwrap_or_else(|| {
                        format!("the step was recorded {}", record.status.as_str())
                    })))
                }
            };
        }
        if !exit.success() && self.run_was_cancelled() {
            // Stopped by `zenml run cancel`: recorded as failed by `on_event`, never retried.
            return Err(StepFailure::new(format!(
                "the run was cancelled, and the step's process {exit}"
            )));
        }
        let attempt = self.attempt(index);
        let failed_attempt = store
            .step_attempts(&self.run_id)
            .map_err(|e| unreadable(&e))?
            .into_iter()
            .find(|a| &a.name == name && a.attempt == attempt);
        let error = match &failed_attempt {
            Some(recorded) => recorded.error.clone(),
            None if exit.success() => {
                "the step's process exited successfully without recording the step".to_owned()
            }
            None => match self.take_last_error(index) {
                Some(line) => format!("the step's process {exit}: {line}"),
                None => format!("the step's process {exit}"),
            },
        };
        if attempt > self.retries(index) {
            // The last attempt died before it could record itself: `on_event` records it.
            return Err(StepFailure::new(error));
        }
        if failed_attempt.is_none() {
            let started_at = self
                .started
                .lock()
                .ok()
                .and_then(|started| started.get(&index).copied())
                .unwrap_or_else(now_millis);
            self.record_failed_attempt(index, attempt, started_at, &error)
                .map_err(|e| StepFailure::new(e.message()))?;
        }
        self.progress.line(&format!(
            "  ↻ {name} attempt {attempt} failed, trying again: {error}"
        ));
        self.set_attempt(index, attempt + 1);
        Err(StepFailure::retry(
            error,
            self.retry_delay(index, attempt + 1),
        ))
    }
}

impl Execution<'_> {
    /// Whether the run is recorded as cancelled; once it is, [`Execution::cancelled`] says
    /// so without asking the store again.
    fn run_was_cancelled(&self) -> bool {
        if self.cancelled.load(Ordering::SeqCst) {
            return true;
        }
        let cancelled = self
            .stack
            .metadata_store
            .get_run(&self.run_id)
            .is_ok_and(|run| run.status == RunStatus::Cancelled);
        if cancelled {
            self.cancelled.store(true, Ordering::SeqCst);
        }
        cancelled
    }

    /// Remembers the last error line of node `index`'s process output (or that it had none)
    /// until [`read_process_outcome`](Self::read_process_outcome) needs it.
    fn note_last_error(&self, index: usize, line: Option<String>) {
        if let Ok(mut errors) = self.last_errors.lock() {
            match line {
                Some(line) => errors.insert(index, line),
                None => errors.remove(&index),
            };
        }
    }

    fn take_last_error(&self, index: usize) -> Option<String> {
        self.last_errors.lock().ok()?.remove(&index)
    }

    /// Keeps `logs` as the logs of attempt `attempt` of node `index`.
    fn keep_logs(&self, index: usize, attempt: u32, logs: &mut dyn Read) {
        crate::logs::keep_logs(
            self.stack.artifact_store.as_ref(),
            self.stack.metadata_store.as_ref(),
            &self.run_id,
            &self.nodes[index].name,
            attempt,
            logs,
        );
    }
}

impl StepExecutor for Execution<'_> {
    fn run_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::SeqCst)
    }

    fn step_output(&self, node: usize, output: &mut dyn Read) {
        let attempt = self.attempt(node);
        if !self.progress.enabled() {
            let mut watched = LastErrorLine::new(output);
            self.keep_logs(node, attempt, &mut watched);
            self.note_last_error(node, watched.finish());
            return;
        }
        // On a terminal the step's output is shown too, once its process has ended.
        let mut text = Vec::new();
        if let Err(e) = output.read_to_end(&mut text) {
            eprintln!(
                "warning: cannot read the output of step `{}`: {e}",
                self.nodes[node].name
            );
        }
        for line in String::from_utf8_lossy(&text).lines() {
            eprintln!("    {} │ {line}", self.nodes[node].name);
        }
        self.keep_logs(node, attempt, &mut text.as_slice());
        self.note_last_error(node, LastErrorLine::new(text.as_slice()).finish());
    }

    fn execute(&self, node: usize, _name: &str) -> Result<(), StepFailure> {
        self.execute_with_retries(node)
    }

    fn step_command(&self, node: usize) -> Result<StepCommand, StepFailure> {
        let Some(processes) = &self.step_processes else {
            return Err(StepFailure::new(
                "the orchestrator runs each step in a process of its own by starting the \
                 pipeline's program again, but this run was not started from the program's \
                 command line; start it with `Pipeline::run_from_args` or \
                 `Pipeline::run_with_args`, or set `RunOptions::program`",
            ));
        };
        if let Ok(mut started) = self.started.lock() {
            started.insert(node, now_millis());
        }
        let name = &self.nodes[node].name;
        let current_dir = std::env::current_dir().unwrap_or_else(|_| processes.repository.clone());
        Ok(StepCommand {
            program: processes.program.clone(),
            args: vec![
                RUN_OPTION.to_owned(),
                self.run_id.clone(),
                STEP_OPTION.to_owned(),
                name.clone(),
                ATTEMPT_OPTION.to_owned(),
                self.attempt(node).to_string(),
                "--quiet".to_owned(),
            ],
            env: vec![
                (
                    REPOSITORY_PATH_ENV.to_owned(),
                    processes.repository.display().to_string(),
                ),
                (STACK_ENV.to_owned(), processes.stack.clone()),
            ],
            current_dir,
            run_id: self.run_id.clone(),
            step: name.clone(),
            resources: self
                .config
                .steps
                .get(name)
                .map(|step| step.resources)
                .unwrap_or_default(),
            settings: self
                .config
                .steps
                .get(name)
                .map(|step| step.settings.clone())
                .unwrap_or_default(),
        })
    }

    fn step_process_ended(&self, node: usize, exit: &ProcessExit) -> Result<(), StepFailure> {
        self.read_process_outcome(node, exit)
    }

    fn step_job_started(&self, node: usize, job: &str) {
        // Run metadata `job.<step>.<attempt>`: the step run does not exist yet.
        let key = job_key(&self.nodes[node].name, self.attempt(node));
        let entry = MetadataEntry {
            resource: Resource::Run(self.run_id.clone()),
            key: key.clone(),
            value: serde_json::Value::String(job.to_owned()),
        };
        if let Err(e) = self.stack.metadata_store.log_metadata(&[entry]) {
            eprintln!(
                "warning: cannot record {key} = {job} of run {}: {e}",
                self.run_id
            );
        }
    }

    fn on_event(&self, event: &StepEvent) {
        match event {
            StepEvent::Started { node } => self.progress.started(&self.nodes[*node].name),
            StepEvent::Finished {
                node,
                outcome,
                duration,
            } => {
                match outcome {
                    StepOutcome::Succeeded => {}
                    StepOutcome::Failed(message) => {
                        self.record_unfinished(*node, StepStatus::Failed, message)
                    }
                    StepOutcome::Skipped { because } => {
                        self.record_unfinished(*node, StepStatus::Skipped, because)
                    }
                }
                let cached = self.cached.lock().is_ok_and(|c| c.contains(node));
                self.progress
                    .finished(&self.nodes[*node].name, outcome, *duration, cached);
            }
            _ => {}
        }
    }
}
