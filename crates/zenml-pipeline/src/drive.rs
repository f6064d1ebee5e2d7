//! Driving a recorded run to its end: the orchestrator executes the DAG with the runner as
//! its [`StepExecutor`](zenml_orchestrator::StepExecutor), while a thread renews the run's
//! lease; then the run is finished. The process that started the run drives it, or, for a
//! detached run, the pipeline's program started in its driver mode
//! (`--zenml-run RUN --zenml-drive`) wherever the orchestrator put it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use zenml_core::Dag;
use zenml_metadata_store::{MetadataEntry, MetadataStore, Millis, Resource, RunRecord, RunStatus};
use zenml_orchestrator::StepOutcome;

use crate::config::ResolvedConfig;
use crate::logs::install_logger;
use crate::pipeline::{Pipeline, RunError, RunOptions, RunOutcome, RunPlace, fail_run};
use crate::runner::{Execution, Progress, StepProcesses, now_millis, run_status};

/// The command-line option that, with `--zenml-run RUN`, drives the recorded run RUN to
/// its end: how a detached run's driver is started.
pub const DRIVE_OPTION: &str = "--zenml-drive";

/// The run metadata key under which a cancelled run's driver records when it noticed the
/// cancellation (milliseconds since the epoch): no step of the run starts after that.
pub const CANCEL_ACKNOWLEDGED: &str = "cancel.acknowledged_at";

impl Pipeline {
    /// Drives the recorded run `run` (its name or id), which no process drives, to its end
    /// on the stack that `options` names (or the active one): what the program of a
    /// detached run does when its orchestrator starts it in its driver mode
    /// (`--zenml-run RUN --zenml-drive`). The run's configuration is the one it recorded.
    ///
    /// # Errors
    ///
    /// [`RunError::StepRefused`] (naming the step `driver`) when the run is not running,
    /// already has step records, was started with another pipeline or on another stack;
    /// then what [`Pipeline::run`] returns.
    pub fn drive_run(&self, run: &str, options: &RunOptions) -> Result<RunOutcome, RunError> {
        let refuse = |reason: String| RunError::StepRefused {
            run: run.to_owned(),
            step: "driver".to_owned(),
            reason,
        };
        let dag = Execution::dag(self.steps())?;
        let lease = options.lease()?;
        let place = RunPlace::open(options)?;
        let store = place.stack.metadata_store.as_ref();
        let record = store.get_run(run)?;
        if !matches!(record.status, RunStatus::Running | RunStatus::Interrupted) {
            return Err(refuse(format!(
                "the run is {}; only a running run is driven",
                record.status.as_str()
            )));
        }
        self.fits_recorded_run(&record, &place.stack_name)
            .map_err(refuse)?;
        if !store.step_runs(&record.id)?.is_empty() {
            return Err(refuse(
                "it already has step records: a driver drives a run from its start".to_owned(),
            ));
        }
        let config: ResolvedConfig = serde_json::from_value(record.config.clone())
            .map_err(|e| refuse(format!("its recorded configuration cannot be read: {e}")))?;
        if !store.renew_run_lease(&record.id, lease_deadline(lease))? {
            return Err(refuse("the run was finished meanwhile".to_owned()));
        }
        let progress = Progress::always();
        progress.line(&format!(
            "Driving run `{}` of pipeline `{}` on stack `{}`",
            record.name, config.pipeline, place.stack_name
        ));
        let options = RunOptions {
            program: std::env::current_exe().ok(),
            ..options.clone()
        };
        self.drive(&dag, &config, &place, &record, lease, progress, &options)
    }

    /// Executes the recorded run `run` through the stack's orchestrator, renewing its
    /// lease meanwhile, and finishes it.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn drive(
        &self,
        dag: &Dag,
        config: &ResolvedConfig,
        place: &RunPlace,
        run: &RunRecord,
        lease: Duration,
        progress: Progress,
        options: &RunOptions,
    ) -> Result<RunOutcome, RunError> {
        let stack = &place.stack;
        let mut execution = Execution::new(
            (&run.id, &run.name),
            self.steps(),
            config,
            (stack, place.staging.clone()),
            vec![None; self.steps().len()],
            progress,
        );
        execution.keeps_logs = install_logger();
        execution.step_processes = options.program.clone().map(|program| StepProcesses {
            program,
            repository: place.repo.root().to_path_buf(),
            stack: place.stack_name.clone(),
        });
        let result = std::thread::scope(|scope| {
            let (stop, stopped) = mpsc::channel::<()>();
            let store = stack.metadata_store.as_ref();
            let cancelled = &execution.cancelled;
            let run_id = run.id.as_str();
            scope.spawn(move || renew_lease(store, run_id, lease, &stopped, cancelled));
            let result = stack.orchestrator.run(dag, &execution);
            drop(stop);
            result
        });
        let report = match result {
            Ok(report) => report,
            Err(e) => {
                let message = e.to_string();
                return Err(fail_run(
                    stack.metadata_store.as_ref(),
                    &run.id,
                    e.into(),
                    &message,
                ));
            }
        };
        let failures: Vec<(String, String)> = report
            .steps()
            .iter()
            .filter_map(|s| match &s.outcome {
                StepOutcome::Failed(message) => Some((s.name.clone(), message.clone())),
                _ => None,
            })
            .collect();
        let error = (!failures.is_empty()).then(|| {
            failures
                .iter()
                .map(|(s, e)| format!("step `{s}` failed: {e}"))
                .collect::<Vec<_>>()
                .join("; ")
        });
        if let Err(finishing) = stack.metadata_store.finish_run(
            &run.id,
            run_status(report.is_success()),
            now_millis(),
            error.as_deref(),
        ) {
            // The steps' failures are the news; the record's failure comes with them.
            if failures.is_empty() {
                return Err(RunError::MetadataStore(finishing));
            }
            return Err(RunError::NotFinished {
                error: Box::new(RunError::StepsFailed {
                    run: run.name.clone(),
                    failures,
                    outcome: Box::new(RunOutcome {
                        run: run.clone(),
                        steps: Vec::new(),
                        detached: None,
                    }),
                }),
                finishing,
            });
        }
        let outcome = RunOutcome {
            run: stack.metadata_store.get_run(&run.id)?,
            steps: stack.metadata_store.step_runs(&run.id)?,
            detached: None,
        };
        execution.progress.line(&format!(
            "Run `{}` {} in {:.2} s",
            outcome.run.name,
            outcome.run.status.as_str(),
            report.duration().as_secs_f64()
        ));
        match outcome.run.status {
            RunStatus::Cancelled => Err(RunError::Cancelled {
                run: outcome.run.name.clone(),
                outcome: Box::new(outcome),
            }),
            _ if failures.is_empty() => Ok(outcome),
            _ => Err(RunError::StepsFailed {
                run: outcome.run.name.clone(),
                failures,
                outcome: Box::new(outcome),
            }),
        }
    }
}

/// When a lease of `lease` taken now expires.
pub(crate) fn lease_deadline(lease: Duration) -> Millis {
    now_millis().saturating_add(Millis::try_from(lease.as_millis()).unwrap_or(Millis::MAX))
}

/// Renews the lease of run `run_id` three times per `lease` until `stopped` says the run
/// is over (its sender is dropped) or the run is no longer running: then it was finished
/// by someone else (cancelled), which `cancelled` records, and the run's metadata
/// `cancel.acknowledged_at` (when this driver stopped starting steps). A failed renewal is reported
/// once on stderr and tried again at the next turn: the run goes on, and is read as
/// interrupted only if no renewal succeeds for a whole period.
fn renew_lease(
    store: &dyn MetadataStore,
    run_id: &str,
    lease: Duration,
    stopped: &mpsc::Receiver<()>,
    cancelled: &AtomicBool,
) {
    let mut warned = false;
    while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(lease / 3) {
        match store.renew_run_lease(run_id, lease_deadline(lease)) {
            Ok(true) => warned = false,
            Ok(false) => {
                cancelled.store(true, Ordering::SeqCst);
                // Acknowledged: from now on no step of this run starts.
                let acknowledged = MetadataEntry {
                    resource: Resource::Run(run_id.to_owned()),
                    key: CANCEL_ACKNOWLEDGED.to_owned(),
                    value: serde_json::Value::from(now_millis()),
                };
                if let Err(e) = store.log_metadata(&[acknowledged]) {
                    eprintln!("warning: cannot record that run {run_id} stops: {e}");
                }
                return;
            }
            Err(e) if !warned => {
                eprintln!("warning: cannot renew the lease of run {run_id}: {e}");
                warned = true;
            }
            Err(_) => {}
        }
    }
}
