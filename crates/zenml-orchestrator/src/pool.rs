//! The thread pool that both in-this-machine flavors (`local`, `process`) schedule steps on:
//! ready steps, earliest in topological order first, go to at most `max_parallelism` worker
//! threads; each worker runs a step the way its flavor does (a call, or a process) and sends
//! back the outcome; the calling thread settles outcomes, skips dependants of failures, and
//! reports.

use std::any::Any;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::num::NonZeroUsize;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use zenml_core::{ConfigError, Dag};

use crate::{OrchestratorError, RunReport, StepEvent, StepExecutor, StepOutcome, StepReport};

/// The number of steps that may run at once for a `max_parallelism` setting: the setting,
/// or the number of CPU cores when it is absent; 0 is refused.
pub(crate) fn parallelism(max_parallelism: Option<usize>) -> Result<NonZeroUsize, ConfigError> {
    match max_parallelism {
        None => Ok(default_parallelism()),
        Some(n) => NonZeroUsize::new(n).ok_or_else(|| ConfigError::InvalidValue {
            key: "max_parallelism".to_owned(),
            message: "0 would never run a step; use at least 1, or leave the key out to \
                      run one step per CPU core"
                .to_owned(),
        }),
    }
}

/// The number of CPU cores, or 1 when the operating system does not say.
pub(crate) fn default_parallelism() -> NonZeroUsize {
    thread::available_parallelism().unwrap_or(NonZeroUsize::MIN)
}

/// How a worker runs one step: node index and name in, outcome out. It must not panic
/// (flavors catch the step's own panics).
pub type RunNode<'a> = dyn Fn(usize, &str) -> StepOutcome + Sync + 'a;

/// The scheduler of orchestrators whose workers block while a step runs (a call, a child
/// process, a cluster job): runs every node of `dag` with `run_node` on at most
/// `max_parallelism` threads, ready nodes earliest in topological order first, skipping the
/// dependants of failures (naming the failed step) and telling `executor` of every start and
/// finish; once the executor says the run was cancelled, starts nothing more and reports
/// the rest skipped; reports the outcome of each node. `flavor` names the orchestrator in
/// errors.
/// Flavor crates use it so that every such orchestrator keeps the contract's DAG rules the
/// same way.
pub fn run_on_threads(
    flavor: &'static str,
    dag: &Dag,
    executor: &dyn StepExecutor,
    max_parallelism: NonZeroUsize,
    run_node: &RunNode<'_>,
) -> Result<RunReport, OrchestratorError> {
    let started = Instant::now();
    if dag.is_empty() {
        return Ok(RunReport::new(Vec::new(), started.elapsed()));
    }
    let workers = max_parallelism.get().min(dag.len());
    let (job_tx, job_rx) = mpsc::channel::<usize>();
    let job_rx = Mutex::new(job_rx);
    let (done_tx, done_rx) = mpsc::channel::<Done>();
    let steps = thread::scope(|scope| {
        for i in 0..workers {
            let done_tx = done_tx.clone();
            let job_rx = &job_rx;
            let spawned = thread::Builder::new()
                .name(format!("zenml-step-{i}"))
                .spawn_scoped(scope, move || {
                    work(dag, executor, run_node, job_rx, &done_tx)
                });
            if let Err(source) = spawned {
                // Closing the job channel stops the workers already started.
                drop(job_tx);
                return Err(OrchestratorError::Spawn { source });
            }
        }
        drop(done_tx);
        let result = Scheduler::new(flavor, dag, executor).run(&job_tx, &done_rx, workers);
        drop(job_tx);
        result
    })?;
    Ok(RunReport::new(steps, started.elapsed()))
}

/// A step's outcome, sent from a worker to the scheduler.
struct Done {
    node: usize,
    outcome: StepOutcome,
    duration: Duration,
}

/// A worker thread: executes the nodes it receives until the job channel closes.
fn work(
    dag: &Dag,
    executor: &dyn StepExecutor,
    run_node: &RunNode<'_>,
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
        let outcome = run_node(node, name);
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
    flavor: &'static str,
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
    /// Whether the executor said the run was cancelled: nothing starts any more.
    cancelled: bool,
}

/// Why a step did not run in a cancelled run.
const CANCELLED: &str = "the run was cancelled";

impl<'a> Scheduler<'a> {
    fn new(flavor: &'static str, dag: &'a Dag, executor: &'a dyn StepExecutor) -> Scheduler<'a> {
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
            flavor,
            dag,
            executor,
            position,
            waiting_on,
            ready,
            reports: vec![None; dag.len()],
            running: 0,
            finished: 0,
            cancelled: false,
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
        let flavor = self.flavor;
        let stopped = |what: &str| OrchestratorError::Backend {
            orchestrator: flavor,
            source: format!("the worker threads stopped {what}").into(),
        };
        while self.finished < self.dag.len() {
            while self.running < workers {
                let Some(Reverse((_, node))) = self.ready.pop() else {
                    break;
                };
                if self.cancelled || self.executor.run_cancelled() {
                    self.cancelled = true;
                    let because = CANCELLED.to_owned();
                    self.settle(node, StepOutcome::Skipped { because }, Duration::ZERO);
                    continue;
                }
                jobs.send(node)
                    .map_err(|_| stopped("before the run finished"))?;
                self.running += 1;
            }
            if self.finished == self.dag.len() {
                break;
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
    fn blocker(&mut self, node: usize) -> Option<String> {
        if self.cancelled || self.executor.run_cancelled() {
            self.cancelled = true;
            return Some(CANCELLED.to_owned());
        }
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
