//! The `local` flavor: steps run on threads of this process.

use std::any::Any;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::num::NonZeroUsize;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use zenml_core::{ComponentContext, ConfigError, ConfigFields, Dag, ValidateConfig, flavor};

use crate::{
    Orchestrator, OrchestratorError, OrchestratorFlavor, RunReport, StepEvent, StepExecutor,
    StepOutcome, StepReport,
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
        match self.max_parallelism {
            None => Ok(default_parallelism()),
            Some(n) => NonZeroUsize::new(n).ok_or_else(|| ConfigError::InvalidValue {
                key: "max_parallelism".to_owned(),
                message: "0 would never run a step; use at least 1, or leave the key out to \
                          run one step per CPU core"
                    .to_owned(),
            }),
        }
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
    fn open(
        &self,
        _context: &ComponentContext,
    ) -> Result<Box<dyn Orchestrator>, OrchestratorError> {
        let parallelism = self
            .parallelism()
            .map_err(|e| OrchestratorError::Config(e.to_string()))?;
        Ok(Box::new(LocalOrchestrator::new(parallelism)))
    }
}

/// The number of CPU cores, or 1 when the operating system does not say.
fn default_parallelism() -> NonZeroUsize {
    thread::available_parallelism().unwrap_or(NonZeroUsize::MIN)
}

/// An orchestrator that runs steps on a pool of threads of this process.
///
/// The calling thread schedules: it hands ready steps, earliest in topological order first, to
/// at most `max_parallelism` worker threads, and collects their outcomes. A step's panic is
/// caught on its worker thread (the panic message is still printed by the panic hook).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalOrchestrator {
    max_parallelism: NonZeroUsize,
}

impl LocalOrchestrator {
    /// An orchestrator that runs at most `max_parallelism` steps at once.
    pub fn new(max_parallelism: NonZeroUsize) -> LocalOrchestrator {
        LocalOrchestrator { max_parallelism }
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

/// A step's outcome, sent from a worker to the scheduler.
struct Done {
    node: usize,
    outcome: StepOutcome,
    duration: Duration,
}

impl Orchestrator for LocalOrchestrator {
    fn run(&self, dag: &Dag, executor: &dyn StepExecutor) -> Result<RunReport, OrchestratorError> {
        let started = Instant::now();
        if dag.is_empty() {
            return Ok(RunReport::new(Vec::new(), started.elapsed()));
        }
        let workers = self.max_parallelism.get().min(dag.len());
        let (job_tx, job_rx) = mpsc::channel::<usize>();
        let job_rx = Mutex::new(job_rx);
        let (done_tx, done_rx) = mpsc::channel::<Done>();
        let steps = thread::scope(|scope| {
            for i in 0..workers {
                let done_tx = done_tx.clone();
                let job_rx = &job_rx;
                let spawned = thread::Builder::new()
                    .name(format!("zenml-step-{i}"))
                    .spawn_scoped(scope, move || work(dag, executor, job_rx, &done_tx));
                if let Err(source) = spawned {
                    // Closing the job channel stops the workers already started.
                    drop(job_tx);
                    return Err(OrchestratorError::Spawn { source });
                }
            }
            drop(done_tx);
            let result = Scheduler::new(dag, executor).run(&job_tx, &done_rx, workers);
            drop(job_tx);
            result
        })?;
        Ok(RunReport::new(steps, started.elapsed()))
    }
}

/// A worker thread: executes the nodes it receives until the job channel closes.
fn work(
    dag: &Dag,
    executor: &dyn StepExecutor,
    jobs: &Mutex<Receiver<usize>>,
    done: &Sender<Done>,
) {
    loop {
        let job = jobs.lock().unwrap_or_else(PoisonError::into_inner).recv();
        let Ok(node) = job else {
            return;
        };
        notify(executor, &StepEvent::Started { node });
        let name = dag.nodes()[node].name.as_str();
        let start = Instant::now();
        let outcome = match catch_unwind(AssertUnwindSafe(|| executor.execute(node, name))) {
            Ok(Ok(())) => StepOutcome::Succeeded,
            Ok(Err(failure)) => StepOutcome::Failed(failure.message),
            Err(payload) => {
                StepOutcome::Failed(format!("the step panicked: {}", panic_message(&*payload)))
            }
        };
        let duration = start.elapsed();
        if done
            .send(Done {
                node,
                outcome,
                duration,
            })
            .is_err()
        {
            return;
        }
    }
}

/// Passes `event` to the executor; a panic there must not stop the run.
fn notify(executor: &dyn StepExecutor, event: &StepEvent) {
    let _ignored = catch_unwind(AssertUnwindSafe(|| executor.on_event(event)));
}

/// The text of a panic payload: its message when it is a string, else a placeholder.
pub fn panic_message(payload: &(dyn Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(the panic carried no message)")
}

/// The scheduler's state, owned by the calling thread.
struct Scheduler<'a> {
    dag: &'a Dag,
    executor: &'a dyn StepExecutor,
    /// Each node's position in the topological order.
    position: Vec<usize>,
    /// Each node's number of upstream edges whose node has no outcome yet.
    waiting_on: Vec<usize>,
    /// Ready nodes, earliest topological position first.
    ready: BinaryHeap<Reverse<(usize, usize)>>,
    /// Each node's report, once it has an outcome.
    reports: Vec<Option<StepReport>>,
    running: usize,
    finished: usize,
}

impl<'a> Scheduler<'a> {
    fn new(dag: &'a Dag, executor: &'a dyn StepExecutor) -> Scheduler<'a> {
        let mut position = vec![0; dag.len()];
        for (pos, &node) in dag.topological_order().iter().enumerate() {
            position[node] = pos;
        }
        let waiting_on: Vec<usize> = dag.nodes().iter().map(|n| n.upstream.len()).collect();
        let ready = (0..dag.len())
            .filter(|&i| waiting_on[i] == 0)
            .map(|i| Reverse((position[i], i)))
            .collect();
        Scheduler {
            dag,
            executor,
            position,
            waiting_on,
            ready,
            reports: vec![None; dag.len()],
            running: 0,
            finished: 0,
        }
    }

    /// Dispatches ready nodes to at most `workers` workers at a time until every node has an
    /// outcome, and returns the reports in node order.
    fn run(
        mut self,
        jobs: &Sender<usize>,
        done: &Receiver<Done>,
        workers: usize,
    ) -> Result<Vec<StepReport>, OrchestratorError> {
        let stopped = |what: &str| OrchestratorError::Backend {
            orchestrator: FLAVOR,
            source: format!("the worker threads stopped {what}").into(),
        };
        while self.finished < self.dag.len() {
            while self.running < workers {
                let Some(Reverse((_, node))) = self.ready.pop() else {
                    break;
                };
                jobs.send(node)
                    .map_err(|_| stopped("before the run finished"))?;
                self.running += 1;
            }
            if self.running == 0 {
                // Unreachable for a valid DAG: some node would be neither ready nor waiting.
                return Err(stopped("because no step could be scheduled"));
            }
            let result = done
                .recv()
                .map_err(|_| stopped("before the run finished"))?;
            self.running -= 1;
            self.settle(result.node, result.outcome, result.duration);
        }
        Ok(self
            .reports
            .into_iter()
            .enumerate()
            .map(|(node, report)| {
                report.unwrap_or_else(|| StepReport {
                    name: self.dag.nodes()[node].name.clone(),
                    outcome: StepOutcome::Skipped {
                        because: "the orchestrator did not reach it".to_owned(),
                    },
                    duration: Duration::ZERO,
                })
            })
            .collect())
    }

    /// Records `node`'s outcome, then makes its dependants ready or skips them.
    fn settle(&mut self, node: usize, outcome: StepOutcome, duration: Duration) {
        self.record(node, outcome, duration);
        let mut settled = vec![node];
        while let Some(upstream) = settled.pop() {
            for &down in self.dag.downstream(upstream) {
                self.waiting_on[down] -= 1;
                if self.waiting_on[down] > 0 {
                    continue;
                }
                match self.blocker(down) {
                    None => self.ready.push(Reverse((self.position[down], down))),
                    Some(because) => {
                        self.record(down, StepOutcome::Skipped { because }, Duration::ZERO);
                        settled.push(down);
                    }
                }
            }
        }
    }

    /// Why `node` cannot run, once all its upstream nodes have outcomes: the first upstream
    /// node, in declaration order, that did not succeed.
    fn blocker(&self, node: usize) -> Option<String> {
        self.dag.nodes()[node].upstream.iter().find_map(|&up| {
            let report = self.reports[up].as_ref()?;
            match report.outcome {
                StepOutcome::Succeeded => None,
                StepOutcome::Failed(_) => Some(format!("upstream step `{}` failed", report.name)),
                StepOutcome::Skipped { .. } => {
                    Some(format!("upstream step `{}` was skipped", report.name))
                }
            }
        })
    }

    fn record(&mut self, node: usize, outcome: StepOutcome, duration: Duration) {
        notify(
            self.executor,
            &StepEvent::Finished {
                node,
                outcome: outcome.clone(),
                duration,
            },
        );
        self.reports[node] = Some(StepReport {
            name: self.dag.nodes()[node].name.clone(),
            outcome,
            duration,
        });
        self.finished += 1;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Barrier;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use zenml_core::{DagNode, FlavorRegistry};

    use super::*;
    use crate::StepFailure;

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
