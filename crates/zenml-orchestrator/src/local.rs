//! The `local` flavor: steps run on threads of this process.

use std::num::NonZeroUsize;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use zenml_core::{ComponentContext, ConfigError, ConfigFields, Dag, ValidateConfig, flavor};

use crate::detach::{DRIVER_LOGS, submit_in_background};
use crate::pool::{default_parallelism, panic_message, parallelism, run_on_threads};
use crate::{
    DetachedDriver, Orchestrator, OrchestratorError, OrchestratorFlavor, RunReport, StepCommand,
    StepExecutor, StepOutcome,
};

/// The flavor's name, for error messages.
const FLAVOR: &str = "local";

/// Configuration of the `local` orchestrator flavor.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ConfigFields)]
pub struct LocalOrchestratorConfig {
    /// How many steps may run at once. Default: the number of CPU cores of this machine. Must
    /// be at least 1; use 1 to run steps one after another.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_parallelism: Option<usize>,
}

impl LocalOrchestratorConfig {
    /// The number of steps that may run at once: the configured value, or the number of CPU
    /// cores.
    pub fn parallelism(&self) -> Result<NonZeroUsize, ConfigError> {
        parallelism(self.max_parallelism)
    }
}

impl ValidateConfig for LocalOrchestratorConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        self.parallelism().map(drop)
    }
}

#[flavor(
    name = "local",
    description = "Runs steps on threads of this process, independent steps in parallel",
    example = "max_parallelism = 4"
)]
impl OrchestratorFlavor for LocalOrchestratorConfig {
    fn open(&self, context: &ComponentContext) -> Result<Box<dyn Orchestrator>, OrchestratorError> {
        let parallelism = self
            .parallelism()
            .map_err(|e| OrchestratorError::Config(e.to_string()))?;
        Ok(Box::new(
            LocalOrchestrator::new(parallelism)
                .with_driver_logs(context.resolve(DRIVER_LOGS.as_ref())),
        ))
    }
}

/// An orchestrator that runs steps on a pool of threads of this process.
///
/// The calling thread schedules: it hands ready steps, earliest in topological order first, to
/// at most `max_parallelism` worker threads, and collects their outcomes. A step's panic is
/// caught on its worker thread (the panic message is still printed by the panic hook).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalOrchestrator {
    max_parallelism: NonZeroUsize,
    /// Where the output of detached drivers goes.
    driver_logs: PathBuf,
}

impl LocalOrchestrator {
    /// An orchestrator that runs at most `max_parallelism` steps at once.
    pub fn new(max_parallelism: NonZeroUsize) -> LocalOrchestrator {
        LocalOrchestrator {
            max_parallelism,
            driver_logs: std::env::temp_dir().join("zenml-drivers"),
        }
    }

    /// The same orchestrator, writing the output of detached drivers
    /// ([`submit_driver`](Orchestrator::submit_driver)) to `<folder>/<run id>.log`. The
    /// flavor uses `.zen/drivers` in the repository; [`LocalOrchestrator::new`] a folder in the
    /// system's temporary folder.
    pub fn with_driver_logs(mut self, folder: PathBuf) -> LocalOrchestrator {
        self.driver_logs = folder;
        self
    }

    /// How many steps may run at once.
    pub fn max_parallelism(&self) -> NonZeroUsize {
        self.max_parallelism
    }
}

impl Default for LocalOrchestrator {
    /// One step per CPU core.
    fn default() -> LocalOrchestrator {
        LocalOrchestrator::new(default_parallelism())
    }
}

impl Orchestrator for LocalOrchestrator {
    fn run(&self, dag: &Dag, executor: &dyn StepExecutor) -> Result<RunReport, OrchestratorError> {
        run_on_threads(
            FLAVOR,
            dag,
            executor,
            self.max_parallelism,
            &|node, name| execute_in_process(executor, node, name),
        )
    }

    fn submit_driver(&self, driver: &StepCommand) -> Result<DetachedDriver, OrchestratorError> {
        submit_in_background(FLAVOR, driver, &self.driver_logs)
    }
}

/// Executes `node` on this thread, turning a panic into a failure.
fn execute_in_process(executor: &dyn StepExecutor, node: usize, name: &str) -> StepOutcome {
    match catch_unwind(AssertUnwindSafe(|| executor.execute(node, name))) {
        Ok(Ok(())) => StepOutcome::Succeeded,
        Ok(Err(failure)) => StepOutcome::Failed(failure.message),
        Err(payload) => {
            StepOutcome::Failed(format!("the step panicked: {}", panic_message(&*payload)))
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Barrier, Mutex};
    use std::thread;
    use std::time::Duration;

    use zenml_core::{DagNode, FlavorRegistry};

    use super::*;
    use crate::{RunReport, StepEvent, StepFailure};

    fn dag(nodes: &[(&str, &[usize])]) -> Dag {
        Dag::new(
            nodes
                .iter()
                .map(|(name, upstream)| DagNode {
                    name: (*name).to_owned(),
                    upstream: upstream.to_vec(),
                })
                .collect(),
        )
        .unwrap()
    }

    fn local(max_parallelism: usize) -> LocalOrchestrator {
        LocalOrchestrator::new(NonZeroUsize::new(max_parallelism).unwrap())
    }

    /// Runs `step` for every node and records what happened.
    struct Recorder<F> {
        step: F,
        order: Mutex<Vec<String>>,
        events: Mutex<Vec<StepEvent>>,
        running: AtomicUsize,
        peak: AtomicUsize,
    }

    impl<F: Fn(&str) -> Result<(), StepFailure> + Sync> Recorder<F> {
        fn new(step: F) -> Self {
            Recorder {
                step,
                order: Mutex::new(Vec::new()),
                events: Mutex::new(Vec::new()),
                running: AtomicUsize::new(0),
                peak: AtomicUsize::new(0),
            }
        }

        fn order(&self) -> Vec<String> {
            self.order.lock().unwrap().clone()
        }

        fn peak(&self) -> usize {
            self.peak.load(Ordering::SeqCst)
        }
    }

    /// Decrements the running count even when the step panics.
    struct Running<'a>(&'a AtomicUsize);

    impl Drop for Running<'_> {
        fn drop(&mut self) {
            self.0.fetch_sub(1, Ordering::SeqCst);
        }
    }

    impl<F: Fn(&str) -> Result<(), StepFailure> + Sync> StepExecutor for Recorder<F> {
        fn execute(&self, _node: usize, name: &str) -> Result<(), StepFailure> {
            let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
            let _running = Running(&self.running);
            self.peak.fetch_max(now, Ordering::SeqCst);
            self.order.lock().unwrap().push(name.to_owned());
            (self.step)(name)
        }

        fn on_event(&self, event: &StepEvent) {
            self.events.lock().unwrap().push(event.clone());
        }
    }

    fn outcomes(report: &RunReport) -> Vec<String> {
        report
            .steps()
            .iter()
            .map(|s| format!("{}: {}", s.name, s.outcome))
            .collect()
    }

    #[test]
    fn a_chain_runs_in_order() {
        let dag = dag(&[("c", &[1]), ("a", &[]), ("d", &[0]), ("b", &[1])]);
        let recorder = Recorder::new(|_: &str| Ok(()));
        let report = local(4).run(&dag, &recorder).unwrap();
        assert!(report.is_success(), "{:?}", outcomes(&report));
        let order = recorder.order();
        let pos = |n: &str| order.iter().position(|x| x == n).unwrap();
        assert_eq!(order.len(), 4);
        assert!(pos("a") < pos("c") && pos("c") < pos("d") && pos("a") < pos("b"));

        let chain = self::dag(&[("a", &[]), ("b", &[0]), ("c", &[1]), ("d", &[2])]);
        let recorder = Recorder::new(|_: &str| Ok(()));
        local(4).run(&chain, &recorder).unwrap();
        assert_eq!(recorder.order(), ["a", "b", "c", "d"]);
    }

    #[test]
    fn diamond_branches_run_concurrently() {
        let dag = dag(&[("a", &[]), ("b", &[0]), ("c", &[0]), ("d", &[1, 2])]);
        // `b` and `c` each wait for the other: the run only finishes if they overlap.
        let barrier = Barrier::new(2);
        let recorder = Recorder::new(|name: &str| {
            if name == "b" || name == "c" {
                barrier.wait();
            }
            Ok(())
        });
        let report = local(2).run(&dag, &recorder).unwrap();
        assert!(report.is_success(), "{:?}", outcomes(&report));
        assert_eq!(recorder.peak(), 2);
        let order = recorder.order();
        assert_eq!(order.first().map(String::as_str), Some("a"));
        assert_eq!(order.last().map(String::as_str), Some("d"));
    }

    #[test]
    fn a_failure_skips_dependants_and_other_branches_finish() {
        let dag = dag(&[
            ("a", &[]),
            ("b", &[0]),
            ("c", &[1]),
            ("d", &[2]),
            ("e", &[]),
            ("f", &[4]),
            ("g", &[3, 5]),
        ]);
        for parallelism in [1, 4] {
            let recorder = Recorder::new(|name: &str| {
                if name == "b" {
                    Err(StepFailure::new("boom"))
                } else {
                    Ok(())
                }
            });
            let report = local(parallelism).run(&dag, &recorder).unwrap();
            assert!(!report.is_success());
            assert_eq!(
                outcomes(&report),
                [
                    "a: succeeded",
                    "b: failed: boom",
                    "c: skipped: upstream step `b` failed",
                    "d: skipped: upstream step `c` was skipped",
                    "e: succeeded",
                    "f: succeeded",
                    "g: skipped: upstream step `d` was skipped",
                ]
            );
            let mut ran = recorder.order();
            ran.sort();
            assert_eq!(ran, ["a", "b", "e", "f"]);
        }
        // With one worker, steps run in topological order: `e` and `f` run after `b` failed.
        let recorder = Recorder::new(|name: &str| {
            if name == "b" {
                Err(StepFailure::new("boom"))
            } else {
                Ok(())
            }
        });
        local(1).run(&dag, &recorder).unwrap();
        assert_eq!(recorder.order(), ["a", "b", "e", "f"]);
    }

    #[test]
    fn the_first_failed_upstream_in_declaration_order_is_named() {
        let dag = dag(&[("x", &[]), ("y", &[]), ("z", &[1, 0])]);
        let recorder = Recorder::new(|_: &str| Err(StepFailure::new("no")));
        let report = local(2).run(&dag, &recorder).unwrap();
        assert_eq!(
            report.step(2).map(|s| &s.outcome),
            Some(&StepOutcome::Skipped {
                because: "upstream step `y` failed".to_owned()
            })
        );
    }

    #[test]
    fn a_panicking_step_is_reported_failed_with_its_message() {
        let dag = dag(&[("a", &[]), ("boom", &[0]), ("after", &[1]), ("other", &[0])]);
        let recorder = Recorder::new(|name: &str| {
            if name == "boom" {
                panic!("kaboom {}", 42);
            }
            Ok(())
        });
        let report = local(2).run(&dag, &recorder).unwrap();
        match &report.steps()[1].outcome {
            StepOutcome::Failed(message) => assert!(message.contains("kaboom 42"), "{message}"),
            other => panic!("expected a failure, got {other:?}"),
        }
        assert!(matches!(
            report.steps()[2].outcome,
            StepOutcome::Skipped { .. }
        ));
        assert!(report.steps()[3].outcome.is_success());

        // A static-string panic message is kept too.
        let dag = self::dag(&[("only", &[])]);
        let recorder = Recorder::new(|_: &str| panic!("plain text"));
        let report = local(1).run(&dag, &recorder).unwrap();
        assert_eq!(
            report.steps()[0].outcome,
            StepOutcome::Failed("the step panicked: plain text".to_owned())
        );
    }

    #[test]
    fn parallelism_is_bounded() {
        let nodes: Vec<(String, Vec<usize>)> =
            (0..12).map(|i| (format!("s{i}"), Vec::new())).collect();
        let nodes: Vec<(&str, &[usize])> = nodes
            .iter()
            .map(|(n, u)| (n.as_str(), u.as_slice()))
            .collect();
        let dag = dag(&nodes);
        let step = |_: &str| {
            // Give other workers a chance to overlap, if the orchestrator let them.
            thread::sleep(Duration::from_millis(2));
            Ok(())
        };
        let recorder = Recorder::new(step);
        let report = local(1).run(&dag, &recorder).unwrap();
        assert!(report.is_success());
        assert_eq!(recorder.peak(), 1);
        assert_eq!(recorder.order().len(), 12);

        let recorder = Recorder::new(step);
        local(3).run(&dag, &recorder).unwrap();
        assert!(recorder.peak() <= 3, "{}", recorder.peak());
    }

    #[test]
    fn every_node_gets_one_finished_event_and_runs_get_a_started_event_first() {
        let dag = dag(&[("a", &[]), ("b", &[0]), ("c", &[1]), ("d", &[])]);
        let recorder = Recorder::new(|name: &str| {
            if name == "b" {
                Err(StepFailure::new("no"))
            } else {
                Ok(())
            }
        });
        local(2).run(&dag, &recorder).unwrap();
        let events = recorder.events.lock().unwrap().clone();
        for node in 0..4 {
            let started = events
                .iter()
                .position(|e| *e == StepEvent::Started { node });
            let finished: Vec<usize> = events
                .iter()
                .enumerate()
                .filter(|(_, e)| matches!(e, StepEvent::Finished { node: n, .. } if *n == node))
                .map(|(i, _)| i)
                .collect();
            assert_eq!(finished.len(), 1, "node {node}: {events:?}");
            match started {
                Some(s) => assert!(s < finished[0]),
                None => assert_eq!(node, 2, "only the skipped node has no start"),
            }
        }
    }

    #[test]
    fn an_empty_dag_is_a_success() {
        let recorder = Recorder::new(|_: &str| Ok(()));
        let report = local(2).run(&dag(&[]), &recorder).unwrap();
        assert!(report.is_success());
        assert!(report.steps().is_empty());
    }

    #[test]
    fn config_rejects_zero_and_defaults_to_the_cores() {
        let zero = LocalOrchestratorConfig {
            max_parallelism: Some(0),
        };
        let err = zero.validate().unwrap_err();
        assert!(err.to_string().contains("`max_parallelism`"), "{err}");
        assert!(zero.open(&ComponentContext::new("/repo")).is_err());

        let four = LocalOrchestratorConfig {
            max_parallelism: Some(4),
        };
        assert_eq!(four.validate(), Ok(()));
        assert_eq!(four.parallelism().map(NonZeroUsize::get), Ok(4));
        assert_eq!(
            LocalOrchestratorConfig::default().parallelism(),
            Ok(default_parallelism())
        );
    }

    #[test]
    fn the_flavor_is_registered_and_deserializes() {
        let registry = FlavorRegistry::global().unwrap();
        let description = registry
            .get(zenml_core::ComponentKind::Orchestrator, "local")
            .unwrap();
        assert_eq!(description.source, "zenml-orchestrator");
        let field = description.field("max_parallelism").unwrap();
        assert!(!field.required);
        description
            .check_table(&description.example_table().unwrap())
            .unwrap();

        let config: Box<dyn OrchestratorFlavor> =
            serde_json::from_str(r#"{"flavor": "local", "max_parallelism": 2}"#).unwrap();
        let orchestrator = config.open(&ComponentContext::new("/repo")).unwrap();
        let dag = dag(&[("a", &[]), ("b", &[0])]);
        let recorder = Recorder::new(|_: &str| Ok(()));
        assert!(orchestrator.run(&dag, &recorder).unwrap().is_success());
        let config: Box<dyn OrchestratorFlavor> =
            serde_json::from_str(r#"{"flavor": "local"}"#).unwrap();
        assert!(config.open(&ComponentContext::new("/repo")).is_ok());
    }
}
