//! The orchestrator: decides where and in what order a pipeline's steps run.
//!
//! [`Orchestrator`] is the contract every flavor implements; [`OrchestratorFlavor`] is the
//! trait a flavor's configuration implements to open one. An orchestrator does not know what
//! a step does: it walks a [`Dag`], asks a [`StepExecutor`] (the pipeline runner) to execute
//! each node, and says what happened in a [`RunReport`]. A step runs either in this process
//! ([`StepExecutor::execute`]) or in a process of its own, started from the
//! [`StepCommand`] the executor gives ([`StepExecutor::step_command`]). This crate ships the
//! `local` flavor ([`LocalOrchestrator`]), which runs steps on threads of this process, and
//! the `process` flavor ([`ProcessOrchestrator`]), which runs each step in a child process.

mod command;
mod detach;
mod error;
mod local;
mod pool;
mod process;
mod report;
mod resources;

use std::fmt;

use zenml_core::{ComponentContext, ComponentKind, Dag, FlavorKind};

pub use command::{ProcessExit, StepCommand};
pub use detach::{DetachedDriver, terminate_process};
pub use error::{OrchestratorError, StepFailure};
pub use local::{LocalOrchestrator, LocalOrchestratorConfig};
pub use pool::{RunNode, panic_message, run_on_threads};
pub use process::{ProcessOrchestrator, ProcessOrchestratorConfig};
pub use report::{RunReport, StepEvent, StepOutcome, StepReport};
pub use resources::{StepResources, format_memory, parse_memory};

/// Runs the steps of a pipeline's [`Dag`] through a [`StepExecutor`].
///
/// # Contract
///
/// For one call of [`run`](Orchestrator::run), implementations must uphold:
///
/// - **Here or elsewhere.** A node is *executed* either in this process, by calling
///   [`StepExecutor::execute`], or elsewhere: the orchestrator asks
///   [`StepExecutor::step_command`] for the command that runs the step, runs it wherever it
///   runs steps (a child process, a cluster job), waits for it to end, and passes how it
///   ended to [`StepExecutor::step_process_ended`], whose result is the node's outcome.
///   Orchestrators that run steps elsewhere never call `execute`. When `step_command`
///   fails, the node failed with that message. When `step_process_ended` answers with a
///   [`StepFailure::retry_after`], the node is not finished: its command (asked for again)
///   runs again after that delay, as a new attempt of the same step.
/// - **At most once.** Every node is executed at most once.
/// - **Upstream first.** A node is executed only after every node in its
///   [`upstream`](zenml_core::DagNode::upstream) list has succeeded, i.e. its
///   [`execute`](StepExecutor::execute) call (or its
///   [`step_process_ended`](StepExecutor::step_process_ended) call) returned `Ok`.
/// - **Failures skip dependants, nothing else.** A node with an upstream node that failed or
///   was skipped is not executed and is reported [`StepOutcome::Skipped`], naming that
///   upstream step. Nodes that do not depend on the failure keep running.
/// - **Panics are failures.** A step that panics is reported [`StepOutcome::Failed`] with the
///   panic's message; the orchestrator itself keeps going. (This needs the program to be built
///   with `panic = "unwind"`, the default.)
/// - **Everything is reported.** The report holds one [`StepReport`] per node, in node order.
///   [`StepExecutor::on_event`] receives [`StepEvent::Started`] before a node is executed and
///   exactly one [`StepEvent::Finished`] per node, skipped nodes included.
/// - **Nothing outlives the call.** When `run` returns, with `Ok` or `Err`, no step of this
///   run is executing and none will start (an orchestrator whose steps run elsewhere waits
///   for them, or cancels them).
/// - **Cancelled runs start nothing.** Once [`StepExecutor::run_cancelled`] answers `true`,
///   no node is executed any more: every node not yet started is reported
///   [`StepOutcome::Skipped`] because the run was cancelled. Steps already running finish,
///   or end as [`cancel_steps`](Orchestrator::cancel_steps) stopped them.
/// - **Output is handed over.** An orchestrator that runs steps elsewhere captures what the
///   step's process writes (standard output and error) and passes it to
///   [`StepExecutor::step_output`] before [`step_process_ended`](StepExecutor::step_process_ended),
///   once per attempt.
/// - **Errors are the orchestrator's own.** `Err` means the orchestrator could not do its job
///   (for instance, it could not start threads). Failed steps are not errors: they are in the
///   `Ok` report; see [`RunReport::is_success`].
///
/// Beyond `run`, a flavor may start a run's driver elsewhere
/// ([`submit_driver`](Orchestrator::submit_driver), for `--detach`), stop a cancelled run's
/// steps ([`cancel_steps`](Orchestrator::cancel_steps)), and accept per-step settings
/// ([`check_step_settings`](Orchestrator::check_step_settings)); the defaults say it does
/// not.
pub trait Orchestrator: fmt::Debug + Send + Sync {
    /// Runs every node of `dag` through `executor` and reports the outcome of each.
    fn run(&self, dag: &Dag, executor: &dyn StepExecutor) -> Result<RunReport, OrchestratorError>;

    /// Starts `driver`, the command that drives a recorded run to its end (the pipeline's
    /// program in its driver mode, which calls [`run`](Orchestrator::run) on an orchestrator
    /// of this flavor), somewhere it keeps running after this process exits: a background
    /// process, a batch job, a pod. Returns once it is submitted, saying where it went. The
    /// default refuses: the flavor cannot run a detached run.
    fn submit_driver(&self, driver: &StepCommand) -> Result<DetachedDriver, OrchestratorError> {
        let _ = driver;
        Err(OrchestratorError::Unsupported(
            "this orchestrator cannot run a run without the process that starts it (--detach)"
                .to_owned(),
        ))
    }

    /// Stops the steps of run `run_id` that still run where this orchestrator runs them
    /// (its processes, its jobs), after the run was recorded as cancelled. `jobs` are the
    /// ids the run's steps were handed to a job system under
    /// ([`StepExecutor::step_job_started`]). Returns how many steps it stopped. A step
    /// stopped this way ends like a killed one, and its driver records it so. The default
    /// stops nothing: steps running in the driver's own process finish, and the driver
    /// starts no more.
    fn cancel_steps(&self, run_id: &str, jobs: &[String]) -> Result<usize, OrchestratorError> {
        let _ = (run_id, jobs);
        Ok(0)
    }

    /// Checks the settings a run gives step `step` for this flavor
    /// (`[steps.NAME.settings.FLAVOR]` in a run configuration), before anything is recorded
    /// or submitted; they reach the orchestrator again in [`StepCommand::settings`]. `Err`
    /// says what is wrong, naming the key. The default refuses every setting: the flavor
    /// takes none.
    fn check_step_settings(&self, step: &str, settings: &serde_json::Value) -> Result<(), String> {
        let _ = step;
        match settings.as_object() {
            Some(table) if table.is_empty() => Ok(()),
            _ => Err("this orchestrator takes no step settings".to_owned()),
        }
    }
}

/// What an [`Orchestrator`] calls to run one step: implemented by the pipeline runner.
///
/// The orchestrator calls it from several threads at once, hence `Sync`.
pub trait StepExecutor: Sync {
    /// Executes node `node` (an index into [`Dag::nodes`]) called `name`. Returns `Ok` when
    /// the step succeeded; its dependants may then run.
    fn execute(&self, node: usize, name: &str) -> Result<(), StepFailure>;

    /// Told when a step starts and finishes, for progress display and logging. It may be
    /// called from several threads at once and should return quickly. A panic here is caught
    /// and ignored. The default does nothing.
    fn on_event(&self, _event: &StepEvent) {}

    /// The command that runs node `node` in a process of its own, for orchestrators that do
    /// not run steps in this process. `Err` when this run's steps can only run here; the
    /// default says so.
    fn step_command(&self, node: usize) -> Result<StepCommand, StepFailure> {
        let _ = node;
        Err(StepFailure::new(
            "this run's steps can only run in the process that started it",
        ))
    }

    /// Told that the command of node `node` was handed to a job system under the id `job`
    /// (a Slurm job id, a Kubernetes Job's name), so that the run's record can name it.
    /// Orchestrators whose steps get such ids call it once per attempt, before the job ends.
    /// The default ignores it.
    fn step_job_started(&self, node: usize, job: &str) {
        let _ = (node, job);
    }

    /// Whether the run was cancelled: then the orchestrator starts no more steps (see the
    /// contract). Called before each step starts, so it must be cheap. The default is never.
    fn run_cancelled(&self) -> bool {
        false
    }

    /// Handed what the process of node `node`'s current attempt wrote to its standard
    /// output and error, by orchestrators that capture it, once the process has ended and
    /// before [`step_process_ended`](Self::step_process_ended). The pipeline runner keeps
    /// it as the step's logs. The default ignores it.
    fn step_output(&self, node: usize, output: &mut dyn std::io::Read) {
        let _ = (node, output);
    }

    /// Told that the process started from [`step_command`](Self::step_command) for node
    /// `node` has ended, and how. Returns the step's outcome: `Ok` when the step succeeded,
    /// so that its dependants may run. The pipeline runner reads what the step recorded and
    /// records the failure itself when the process could not (it was killed or crashed).
    /// The default trusts the exit code: 0 is success.
    fn step_process_ended(&self, node: usize, exit: &ProcessExit) -> Result<(), StepFailure> {
        let _ = node;
        if exit.success() {
            Ok(())
        } else {
            Err(StepFailure::new(format!("the step's process {exit}")))
        }
    }
}

/// The configuration of an orchestrator flavor: deserialized from a TOML table whose
/// `flavor` key selects the implementation, it opens the orchestrator.
///
/// Declare an implementation with [`zenml_core::flavor`](macro@zenml_core::flavor).
#[typetag::serde(tag = "flavor")]
pub trait OrchestratorFlavor: fmt::Debug + Send + Sync {
    /// Opens the orchestrator this configuration describes.
    fn open(&self, context: &ComponentContext) -> Result<Box<dyn Orchestrator>, OrchestratorError>;
}

impl FlavorKind for dyn OrchestratorFlavor {
    const KIND: ComponentKind = ComponentKind::Orchestrator;
}
