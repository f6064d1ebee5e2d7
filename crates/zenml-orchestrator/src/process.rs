//! The `process` flavor: every step in a child process of its own, on this machine.

use std::io::{Seek, SeekFrom};
use std::num::NonZeroUsize;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::process::Stdio;

use serde::{Deserialize, Serialize};
use zenml_core::{ComponentContext, ConfigError, ConfigFields, Dag, ValidateConfig, flavor};

use crate::detach::terminate_steps_of_run;
use crate::detach::{DRIVER_LOGS, submit_in_background};
use crate::pool::{default_parallelism, panic_message, parallelism, run_on_threads};
use crate::{
    DetachedDriver, Orchestrator, OrchestratorError, OrchestratorFlavor, ProcessExit, RunReport,
    StepCommand, StepExecutor, StepOutcome,
};

/// The flavor's name, for error messages.
const FLAVOR: &str = "process";

/// Configuration of the `process` orchestrator flavor.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ConfigFields)]
pub struct ProcessOrchestratorConfig {
    /// How many step processes may run at once. Default: the number of CPU cores of this
    /// machine. Must be at least 1; use 1 to run steps one after another.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_parallelism: Option<usize>,
}

impl ValidateConfig for ProcessOrchestratorConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        parallelism(self.max_parallelism).map(drop)
    }
}

#[flavor(
    name = "process",
    description = "Runs every step in a process of its own on this machine, independent steps in parallel; a step that crashes or is killed fails alone",
    example = "max_parallelism = 4"
)]
impl OrchestratorFlavor for ProcessOrchestratorConfig {
    fn open(&self, context: &ComponentContext) -> Result<Box<dyn Orchestrator>, OrchestratorError> {
        let parallelism = parallelism(self.max_parallelism)
            .map_err(|e| OrchestratorError::Config(e.to_string()))?;
        Ok(Box::new(
            ProcessOrchestrator::new(parallelism)
                .with_driver_logs(context.resolve(DRIVER_LOGS.as_ref())),
        ))
    }
}

/// An orchestrator that runs each step as a child process: the pipeline's program started
/// in its step mode ([`StepExecutor::step_command`]), which loads the step's inputs from the
/// stores, runs it and records it. A step that aborts, segfaults, exits or is killed takes
/// only its own process down; the orchestrator reports how the process ended
/// ([`StepExecutor::step_process_ended`]), and the run goes on with the other branches.
///
/// The child processes inherit this process's environment (credentials included); their
/// standard output and error go to a temporary file handed to the executor
/// ([`StepExecutor::step_output`]) when they end; their standard input is closed. The orchestrator waits for
/// every process it started before [`run`](Orchestrator::run) returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessOrchestrator {
    max_parallelism: NonZeroUsize,
    /// Where the output of detached drivers goes.
    driver_logs: PathBuf,
}

impl ProcessOrchestrator {
    /// An orchestrator that runs at most `max_parallelism` step processes at once.
    pub fn new(max_parallelism: NonZeroUsize) -> ProcessOrchestrator {
        ProcessOrchestrator {
            max_parallelism,
            driver_logs: std::env::temp_dir().join("zenml-drivers"),
        }
    }

    /// The same orchestrator, writing the output of detached drivers
    /// ([`submit_driver`](Orchestrator::submit_driver)) to `<folder>/<run id>.log`. The
    /// flavor uses `.zen/drivers` in the repository; [`ProcessOrchestrator::new`] a folder in the
    /// system's temporary folder.
    pub fn with_driver_logs(mut self, folder: PathBuf) -> ProcessOrchestrator {
        self.driver_logs = folder;
        self
    }

    /// How many step processes may run at once.
    pub fn max_parallelism(&self) -> NonZeroUsize {
        self.max_parallelism
    }
}

impl Default for ProcessOrchestrator {
    /// One step process per CPU core.
    fn default() -> ProcessOrchestrator {
        ProcessOrchestrator::new(default_parallelism())
    }
}

impl Orchestrator for ProcessOrchestrator {
    fn run(&self, dag: &Dag, executor: &dyn StepExecutor) -> Result<RunReport, OrchestratorError> {
        run_on_threads(
            FLAVOR,
            dag,
            executor,
            self.max_parallelism,
            &|node, _name| {
                // The executor is the runner's code, not the step's; a panic there still must
                // not take the scheduler down.
                catch_unwind(AssertUnwindSafe(|| run_in_child(executor, node))).unwrap_or_else(
                    |payload| {
                        StepOutcome::Failed(format!(
                            "the step's process could not be followed: {}",
                            panic_message(&*payload)
                        ))
                    },
                )
            },
        )
    }

    fn submit_driver(&self, driver: &StepCommand) -> Result<DetachedDriver, OrchestratorError> {
        submit_in_background(FLAVOR, driver, &self.driver_logs)
    }

    fn cancel_steps(&self, run_id: &str, _jobs: &[String]) -> Result<usize, OrchestratorError> {
        terminate_steps_of_run(run_id).map_err(|e| OrchestratorError::Backend {
            orchestrator: FLAVOR,
            source: format!("cannot stop the step processes of run {run_id}: {e}").into(),
        })
    }
}

/// Starts the step's command, waits for it, and returns the outcome the executor reads;
/// runs it again, after the delay, as long as the executor asks for another attempt.
fn run_in_child(executor: &dyn StepExecutor, node: usize) -> StepOutcome {
    loop {
        let command = match executor.step_command(node) {
            Ok(command) => command,
            Err(failure) => return StepOutcome::Failed(failure.message),
        };
        // The process's output goes to an unnamed temporary file, handed to the executor.
        let output = tempfile::tempfile();
        let mut process = command.to_command();
        process.stdin(Stdio::null());
        if let Ok(file) = &output
            && let (Ok(out), Ok(err)) = (file.try_clone(), file.try_clone())
        {
            process.stdout(out).stderr(err);
        }
        let exit = match process.status() {
            Ok(status) => ProcessExit::from(status),
            Err(e) => ProcessExit::Lost(format!(
                "`{}` could not be started: {e}",
                command.program.display()
            )),
        };
        if let Ok(mut file) = output
            && file.seek(SeekFrom::Start(0)).is_ok()
        {
            executor.step_output(node, &mut file);
        }
        match executor.step_process_ended(node, &exit) {
            Ok(()) => return StepOutcome::Succeeded,
            Err(failure) => match failure.retry_after {
                Some(delay) => std::thread::sleep(delay),
                None => return StepOutcome::Failed(failure.message),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use zenml_core::{DagNode, FlavorRegistry};

    use super::*;
    use crate::{StepCommand, StepEvent, StepFailure};

    /// Runs each node as `sh -c <script>`, remembering how each process ended.
    struct Scripts {
        scripts: Vec<&'static str>,
        exits: Mutex<Vec<(usize, ProcessExit)>>,
    }

    impl StepExecutor for Scripts {
        fn execute(&self, _node: usize, _name: &str) -> Result<(), StepFailure> {
            Err(StepFailure::new("never called by the process orchestrator"))
        }

        fn on_event(&self, _event: &StepEvent) {}

        fn step_command(&self, node: usize) -> Result<StepCommand, StepFailure> {
            Ok(StepCommand {
                program: "/bin/sh".into(),
                args: vec!["-c".to_owned(), self.scripts[node].to_owned()],
                env: vec![("ZENML_TEST_NODE".to_owned(), node.to_string())],
                current_dir: std::env::temp_dir(),
                run_id: "run".to_owned(),
                step: format!("s{node}"),
                resources: Default::default(),
                settings: Default::default(),
            })
        }

        fn step_process_ended(&self, node: usize, exit: &ProcessExit) -> Result<(), StepFailure> {
            self.exits
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push((node, exit.clone()));
            if exit.success() {
                Ok(())
            } else {
                Err(StepFailure::new(format!("the step's process {exit}")))
            }
        }
    }

    #[test]
    fn each_step_is_a_process_and_a_crash_fails_only_its_branch() {
        // 0 -> 1 -> 2, and 0 -> 3; 1 is killed, so 2 is skipped and 3 finishes.
        let dag = Dag::new(
            [
                ("a", vec![]),
                ("b", vec![0]),
                ("c", vec![1]),
                ("d", vec![0]),
            ]
            .into_iter()
            .map(|(name, upstream)| DagNode {
                name: name.to_owned(),
                upstream,
            })
            .collect(),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let scripts = Scripts {
            scripts: vec![
                "test \"$ZENML_TEST_NODE\" = 0",
                "kill -9 $$",
                "exit 0",
                "exit 0",
            ],
            exits: Mutex::new(Vec::new()),
        };
        let report = ProcessOrchestrator::new(NonZeroUsize::MIN)
            .run(&dag, &scripts)
            .unwrap_or_else(|e| panic!("{e}"));
        let outcomes: Vec<String> = report
            .steps()
            .iter()
            .map(|s| s.outcome.to_string())
            .collect();
        assert!(outcomes[0].starts_with("succeeded"), "{outcomes:?}");
        assert!(outcomes[1].contains("signal 9 (SIGKILL)"), "{outcomes:?}");
        assert!(
            outcomes[2].contains("upstream step `b` failed"),
            "{outcomes:?}"
        );
        assert!(outcomes[3].starts_with("succeeded"), "{outcomes:?}");
        let mut exits = scripts
            .exits
            .into_inner()
            .unwrap_or_else(|e| e.into_inner());
        exits.sort_by_key(|(node, _)| *node);
        assert_eq!(
            exits,
            vec![
                (0, ProcessExit::Code(0)),
                (1, ProcessExit::Signal(9)),
                (3, ProcessExit::Code(0)),
            ]
        );
    }

    #[test]
    fn the_flavor_is_registered_and_validates_its_parallelism() {
        let registry = FlavorRegistry::global().unwrap_or_else(|e| panic!("{e}"));
        let description = registry
            .get(zenml_core::ComponentKind::Orchestrator, "process")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(description.source, "zenml-orchestrator");
        let config: Box<dyn OrchestratorFlavor> =
            serde_json::from_str(r#"{"flavor": "process", "max_parallelism": 2}"#)
                .unwrap_or_else(|e| panic!("{e}"));
        assert!(config.open(&ComponentContext::new("/repo")).is_ok());
        let zero = ProcessOrchestratorConfig {
            max_parallelism: Some(0),
        };
        assert!(zero.validate().is_err());
        assert!(ProcessOrchestratorConfig::default().validate().is_ok());
    }
}
