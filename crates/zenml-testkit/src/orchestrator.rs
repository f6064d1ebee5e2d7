//! The orchestrator suite: the [`Orchestrator`] contract on one orchestrator.
//!
//! Groups (the columns of the flavor matrix):
//!
//! - **dag-order**: every node runs once, after its upstream nodes, with the events in order
//!   ([`every_step_runs_once_after_its_upstream_steps`], [`an_empty_dag_is_a_success`]);
//! - **parallel**: two independent branches run at the same time
//!   ([`independent_branches_run_in_parallel`]; the orchestrator must be configured for at
//!   least 2 parallel steps);
//! - **failures**: dependants of a failure are skipped, naming it, and unrelated branches
//!   finish ([`a_failure_skips_dependants_and_other_branches_finish`]);
//! - **panics**: a panicking step is a failure with its message, and a panicking event
//!   handler is ignored ([`a_panicking_step_is_a_failure`],
//!   [`a_panicking_event_handler_is_ignored`]);
//! - **processes**: for orchestrators that run steps outside this process, each step's
//!   command runs in its folder with its environment, and how its process ended decides the
//!   step's outcome ([`step_processes_end_as_reported`]), and a step the executor asks to
//!   retry runs again ([`a_step_asked_to_retry_runs_again`]), and what each step's process
//!   wrote is handed to the executor ([`step_output_is_handed_over`]); not applicable to
//!   orchestrators that run steps in this process;
//! - **cancellation**: once the executor says the run is cancelled, no step starts and the
//!   rest are reported skipped ([`a_cancelled_run_starts_no_more_steps`]).
//!
//! The steps are the testkit's own (they record what ran). An orchestrator may run them here
//! ([`StepExecutor::execute`]) or elsewhere: then each step's command is a small `/bin/sh`
//! script that checks its folder and environment, and the step's work happens when the
//! orchestrator reports that the process ended ([`StepExecutor::step_process_ended`]), so
//! that every check holds either way. A panicking step panics with a message containing
//! [`INTENDED_PANIC`], which a runner's panic hook may keep quiet.
//!
//! ```no_run
//! # use std::num::NonZeroUsize;
//! # use zenml_orchestrator::LocalOrchestrator;
//! let orchestrator = LocalOrchestrator::new(NonZeroUsize::new(2).unwrap());
//! zenml_testkit::orchestrator::run_all(&orchestrator).assert_passed();
//! ```

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use zenml_core::{Dag, DagNode};
use zenml_orchestrator::{
    Orchestrator, ProcessExit, RunReport, StepCommand, StepEvent, StepExecutor, StepFailure,
    StepOutcome,
};

use crate::{GroupReport, SuiteReport};

/// The suite's name in reports.
pub const SUITE: &str = "orchestrator";

/// The groups of [`run_all`], in order.
pub const GROUPS: [&str; 6] = [
    "dag-order",
    "parallel",
    "failures",
    "panics",
    "processes",
    "cancellation",
];

/// Part of the message of every panic the suite causes on purpose.
pub const INTENDED_PANIC: &str = "zenml-testkit: intended panic";

/// How long a step of [`independent_branches_run_in_parallel`] waits for the other branch
/// before deciding that the orchestrator runs one step at a time. Not a performance
/// assertion: a bound on a wait that never ends otherwise.
pub const PARALLEL_WAIT: Duration = Duration::from_secs(30);

/// Runs every check on `orchestrator` and reports them by group.
pub fn run_all(orchestrator: &dyn Orchestrator) -> SuiteReport {
    run_all_with(orchestrator, PARALLEL_WAIT)
}

/// [`run_all`], with the parallel check giving up after `parallel_wait` instead of
/// [`PARALLEL_WAIT`] (for tests of orchestrators known to be sequential).
pub fn run_all_with(orchestrator: &dyn Orchestrator, parallel_wait: Duration) -> SuiteReport {
    let mut order = GroupReport::new("dag-order");
    order
        .run("every_step_runs_once_after_its_upstream_steps", || {
            every_step_runs_once_after_its_upstream_steps(orchestrator)
        })
        .run("an_empty_dag_is_a_success", || {
            an_empty_dag_is_a_success(orchestrator)
        });
    let mut parallel = GroupReport::new("parallel");
    parallel.run("independent_branches_run_in_parallel", || {
        independent_branches_run_in_parallel_within(orchestrator, parallel_wait)
    });
    let mut failures = GroupReport::new("failures");
    failures.run(
        "a_failure_skips_dependants_and_other_branches_finish",
        || a_failure_skips_dependants_and_other_branches_finish(orchestrator),
    );
    let mut panics = GroupReport::new("panics");
    panics
        .run("a_panicking_step_is_a_failure", || {
            a_panicking_step_is_a_failure(orchestrator)
        })
        .run("a_panicking_event_handler_is_ignored", || {
            a_panicking_event_handler_is_ignored(orchestrator)
        });
    let mut processes = GroupReport::new("processes");
    processes
        .run("step_processes_end_as_reported", || {
            step_processes_end_as_reported(orchestrator)
        })
        .run("a_step_asked_to_retry_runs_again", || {
            a_step_asked_to_retry_runs_again(orchestrator)
        })
        .run("step_output_is_handed_over", || {
            step_output_is_handed_over(orchestrator)
        });
    let mut cancellation = GroupReport::new("cancellation");
    cancellation.run("a_cancelled_run_starts_no_more_steps", || {
        a_cancelled_run_starts_no_more_steps(orchestrator)
    });
    SuiteReport::new(SUITE)
        .with(order)
        .with(parallel)
        .with(failures)
        .with(panics)
        .with(processes)
        .with(cancellation)
}

/// Diamonds, a chain and an isolated node, declared out of topological order: every node is
/// executed exactly once, only after each of its upstream nodes finished successfully; the
/// report has one succeeded entry per node, in node order; each node gets one `Started`
/// event before its one `Finished` event.
pub fn every_step_runs_once_after_its_upstream_steps(orchestrator: &dyn Orchestrator) {
    let dag = dag(&[
        ("join", &[2, 3]),       // 0
        ("chain-3", &[5]),       // 1
        ("left", &[4]),          // 2
        ("right", &[4]),         // 3
        ("source", &[]),         // 4
        ("chain-2", &[6]),       // 5
        ("chain-1", &[]),        // 6
        ("lonely", &[]),         // 7
        ("sink", &[0, 1, 7, 4]), // 8
    ]);
    let recorder = Recorder::new(&dag, |_| Ok(()));
    let report = run(orchestrator, &dag, &recorder);
    assert!(report.is_success(), "{}", outcomes(&report).join(", "));
    check_report_shape(&dag, &report);
    let executed = recorder.executed();
    let mut sorted = executed.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(
        (sorted.len(), executed.len()),
        (dag.len(), dag.len()),
        "every node executed exactly once: {executed:?}"
    );
    let violations = recorder.violations();
    assert!(violations.is_empty(), "{}", violations.join("; "));
    recorder.check_events(&dag, &[]);
}

/// A DAG without nodes is a successful run with an empty report.
pub fn an_empty_dag_is_a_success(orchestrator: &dyn Orchestrator) {
    let empty = Dag::new(Vec::new()).expect("an empty DAG is valid");
    let recorder = Recorder::new(&empty, |_| Ok(()));
    let report = run(orchestrator, &empty, &recorder);
    assert!(report.is_success() && report.steps().is_empty());
    assert!(recorder.executed().is_empty());
}

/// Two independent branches wait for each other inside their steps (a barrier): the run
/// finishes only if the orchestrator runs them at the same time. An orchestrator that runs
/// one step at a time fails this check after [`PARALLEL_WAIT`] with a message saying so.
pub fn independent_branches_run_in_parallel(orchestrator: &dyn Orchestrator) {
    independent_branches_run_in_parallel_within(orchestrator, PARALLEL_WAIT);
}

/// [`independent_branches_run_in_parallel`], giving up after `wait`.
pub fn independent_branches_run_in_parallel_within(
    orchestrator: &dyn Orchestrator,
    wait: Duration,
) {
    let dag = dag(&[
        ("start", &[]),
        ("left", &[0]),
        ("right", &[0]),
        ("end", &[1, 2]),
    ]);
    let barrier = TimedBarrier::new(2);
    let recorder = Recorder::new(&dag, |name| {
        if name == "left" || name == "right" {
            barrier.wait(wait).map_err(|()| {
                StepFailure::new(format!(
                    "the other branch did not start within {wait:?} while `{name}` was running: \
                     the orchestrator does not run independent steps in parallel (configure it \
                     for at least 2 parallel steps)"
                ))
            })
        } else {
            Ok(())
        }
    });
    let report = run(orchestrator, &dag, &recorder);
    assert!(
        report.is_success(),
        "independent branches did not run in parallel: {}",
        outcomes(&report).join(", ")
    );
    assert!(
        recorder.peak() >= 2,
        "at most {} step(s) ran at once",
        recorder.peak()
    );
    let violations = recorder.violations();
    assert!(violations.is_empty(), "{}", violations.join("; "));
}

/// A step fails: its dependants (direct and further down) are not executed and are reported
/// skipped, naming the upstream step that failed or was skipped; an unrelated branch runs to
/// the end; `run` still returns `Ok`.
pub fn a_failure_skips_dependants_and_other_branches_finish(orchestrator: &dyn Orchestrator) {
    let dag = dag(&[
        ("a", &[]),
        ("b", &[0]),
        ("c", &[1]),
        ("d", &[2]),
        ("e", &[]),
        ("f", &[4]),
        ("g", &[3, 5]),
        ("h", &[5, 1]),
    ]);
    let recorder = Recorder::new(&dag, |name| {
        if name == "b" {
            Err(StepFailure::new("boom"))
        } else {
            Ok(())
        }
    });
    let report = run(orchestrator, &dag, &recorder);
    check_report_shape(&dag, &report);
    assert!(
        !report.is_success(),
        "a run with a failed step is no success"
    );
    let expected: [(&str, Option<&str>); 8] = [
        ("a", None),
        ("b", None),
        ("c", Some("b")),
        ("d", Some("c")),
        ("e", None),
        ("f", None),
        ("g", Some("d")),
        ("h", Some("b")),
    ];
    let all = outcomes(&report).join(", ");
    for (step, (name, blocked_by)) in report.steps().iter().zip(expected) {
        match (&step.outcome, blocked_by) {
            (StepOutcome::Succeeded, None) if name != "b" => {}
            (StepOutcome::Failed(message), None) if name == "b" => {
                assert_eq!(message, "boom", "the failure keeps the step's message")
            }
            (StepOutcome::Skipped { because }, Some(upstream)) => assert!(
                because.contains(&format!("`{upstream}`")),
                "`{name}` is skipped naming the upstream step `{upstream}` that stopped it: {all}"
            ),
            (outcome, _) => panic!("unexpected outcome of `{name}`: {outcome} ({all})"),
        }
    }
    let ran: BTreeSet<String> = recorder
        .executed()
        .into_iter()
        .map(|n| dag.nodes()[n].name.clone())
        .collect();
    assert_eq!(
        ran,
        ["a", "b", "e", "f"].map(str::to_owned).into(),
        "exactly the steps not downstream of the failure ran"
    );
    recorder.check_events(&dag, &[2, 3, 6, 7]);
}

/// A step panics: it is reported failed with the panic's message, its dependant is skipped,
/// another branch succeeds, and the orchestrator returns `Ok`.
pub fn a_panicking_step_is_a_failure(orchestrator: &dyn Orchestrator) {
    let dag = dag(&[("a", &[]), ("boom", &[0]), ("after", &[1]), ("other", &[0])]);
    let recorder = Recorder::new(&dag, |name| {
        if name == "boom" {
            panic!("{INTENDED_PANIC}: kaboom {}", 42);
        }
        Ok(())
    });
    let report = run(orchestrator, &dag, &recorder);
    check_report_shape(&dag, &report);
    match &report.steps()[1].outcome {
        StepOutcome::Failed(message) => assert!(
            message.contains("kaboom 42"),
            "the failure carries the panic's message: {message}"
        ),
        other => panic!("a panicking step is a failure, got {other}"),
    }
    assert!(
        matches!(report.steps()[2].outcome, StepOutcome::Skipped { .. }),
        "the dependant of a panicking step is skipped"
    );
    assert!(report.steps()[0].outcome.is_success());
    assert!(
        report.steps()[3].outcome.is_success(),
        "other branches finish"
    );
}

/// A panic in [`StepExecutor::on_event`] is caught and ignored: the run succeeds.
pub fn a_panicking_event_handler_is_ignored(orchestrator: &dyn Orchestrator) {
    let dag = dag(&[("a", &[]), ("b", &[0])]);
    let mut recorder = Recorder::new(&dag, |_| Ok(()));
    recorder.panic_on_events = true;
    let report = run(orchestrator, &dag, &recorder);
    assert!(report.is_success(), "{}", outcomes(&report).join(", "));
    assert_eq!(recorder.executed().len(), 2);
}

/// For an orchestrator that runs steps outside this process: every step's command runs
/// (in its folder, with its environment), how each process ended is reported for exactly
/// that step, and decides its outcome: a process killed by `SIGKILL` or exiting with code 3
/// fails its step (naming the signal or code, as the executor words it), its dependants
/// are skipped, and other branches finish. Not applicable when the orchestrator executes
/// steps in this process.
pub fn step_processes_end_as_reported(orchestrator: &dyn Orchestrator) {
    let dag = dag(&[
        ("a", &[]),
        ("killed", &[0]),
        ("after", &[1]),
        ("exits", &[0]),
        ("fine", &[0]),
    ]);
    let scripts = ["", "kill -9 $$", "", "exit 3", ""];
    let recorder = Recorder::new(&dag, |_| Ok(())).with_scripts(&scripts);
    let report = run(orchestrator, &dag, &recorder);
    if lock(&recorder.commanded).is_empty() {
        crate::report::not_applicable("the orchestrator runs steps in this process");
    }
    check_report_shape(&dag, &report);
    let all = outcomes(&report).join(", ");
    let violations = recorder.violations();
    assert!(violations.is_empty(), "{}", violations.join("; "));
    let mut ended = lock(&recorder.ended).clone();
    ended.sort_by_key(|(node, _)| *node);
    assert_eq!(
        ended,
        vec![
            (0, ProcessExit::Code(0)),
            (1, ProcessExit::Signal(9)),
            (3, ProcessExit::Code(3)),
            (4, ProcessExit::Code(0)),
        ],
        "how each step's process ended, reported once for each step that ran ({all})"
    );
    let failed = |node: usize, text: &str| match &report.steps()[node].outcome {
        StepOutcome::Failed(message) => assert!(message.contains(text), "{all}"),
        other => panic!(
            "`{}` should have failed, but {other}",
            dag.nodes()[node].name
        ),
    };
    failed(1, "signal 9 (SIGKILL)");
    failed(3, "exited with code 3");
    assert!(
        matches!(&report.steps()[2].outcome, StepOutcome::Skipped { because } if because.contains("`killed`")),
        "{all}"
    );
    assert!(
        report.steps()[0].outcome.is_success() && report.steps()[4].outcome.is_success(),
        "{all}"
    );
}

/// For an orchestrator that runs steps outside this process: when
/// [`StepExecutor::step_process_ended`] answers with [`StepFailure::retry_after`], the step's
/// command is asked for again and run again, and the step's final outcome is that of its
/// last attempt; its dependants wait for it. Not applicable when the orchestrator executes
/// steps in this process.
pub fn a_step_asked_to_retry_runs_again(orchestrator: &dyn Orchestrator) {
    let dag = dag(&[("a", &[]), ("flaky", &[0]), ("after", &[1])]);
    // `flaky`'s process exits with 3 twice, then 0; the executor asks for two retries.
    let counter = std::env::temp_dir().join(format!(
        "zenml-testkit-retry-{}-{}",
        std::process::id(),
        RETRY_COUNTERS.fetch_add(1, Ordering::SeqCst)
    ));
    let script = format!(
        "n=$(cat {path} 2>/dev/null || echo 0); n=$((n + 1)); echo $n > {path}; \
         test $n -ge 3 || exit 3",
        path = quote(&counter.display().to_string())
    );
    let mut recorder = Recorder::new(&dag, |_| Ok(())).with_scripts(&["", &script, ""]);
    recorder.retries = 2;
    let report = run(orchestrator, &dag, &recorder);
    let _ = std::fs::remove_file(&counter);
    if lock(&recorder.commanded).is_empty() {
        crate::report::not_applicable("the orchestrator runs steps in this process");
    }
    let all = outcomes(&report).join(", ");
    assert!(report.is_success(), "the third attempt succeeds: {all}");
    let asked: Vec<usize> = lock(&recorder.commanded).clone();
    assert_eq!(
        asked.iter().filter(|&&n| n == 1).count(),
        3,
        "the command of the retried step was asked for once per attempt: {asked:?}"
    );
    let ended: Vec<(usize, ProcessExit)> = lock(&recorder.ended)
        .iter()
        .filter(|(node, _)| *node == 1)
        .cloned()
        .collect();
    assert_eq!(
        ended,
        vec![
            (1, ProcessExit::Code(3)),
            (1, ProcessExit::Code(3)),
            (1, ProcessExit::Code(0))
        ],
        "{all}"
    );
    let violations = recorder.violations();
    assert!(violations.is_empty(), "{}", violations.join("; "));
}

/// For an orchestrator that runs steps outside this process: what each step's process
/// writes to standard output and error reaches [`StepExecutor::step_output`] once per
/// process, before [`StepExecutor::step_process_ended`], also for a process that fails.
/// Not applicable when the orchestrator executes steps in this process.
pub fn step_output_is_handed_over(orchestrator: &dyn Orchestrator) {
    let dag = dag(&[("speaks", &[]), ("fails", &[]), ("quiet", &[0])]);
    let scripts = [
        "echo \"to stdout from $ZENML_TESTKIT_STEP\"; echo 'to stderr' >&2",
        "echo 'last words'; exit 4",
        "",
    ];
    let recorder = Recorder::new(&dag, |_| Ok(())).with_scripts(&scripts);
    let report = run(orchestrator, &dag, &recorder);
    if lock(&recorder.commanded).is_empty() {
        crate::report::not_applicable("the orchestrator runs steps in this process");
    }
    let all = outcomes(&report).join(", ");
    let violations = recorder.violations();
    assert!(violations.is_empty(), "{}", violations.join("; "));
    let outputs = lock(&recorder.outputs).clone();
    let of = |node: usize| -> Vec<String> {
        outputs
            .iter()
            .filter(|(n, _)| *n == node)
            .map(|(_, text)| text.clone())
            .collect()
    };
    let speaks = of(0);
    assert_eq!(
        speaks.len(),
        1,
        "one output per process: {outputs:?} ({all})"
    );
    assert!(
        speaks[0].contains("to stdout from speaks") && speaks[0].contains("to stderr"),
        "standard output and error are both captured: {speaks:?}"
    );
    let fails = of(1);
    assert!(
        fails.len() == 1 && fails[0].contains("last words"),
        "a failed process's output is handed over too: {outputs:?}"
    );
    assert!(
        of(2).iter().all(|text| text.trim().is_empty()),
        "a silent step has no output: {outputs:?}"
    );
}

/// Once [`StepExecutor::run_cancelled`] says so (here: as soon as the first step has
/// succeeded), no further step is executed; every step not started is reported skipped,
/// saying the run was cancelled, with its `Finished` event.
pub fn a_cancelled_run_starts_no_more_steps(orchestrator: &dyn Orchestrator) {
    let dag = dag(&[
        ("first", &[]),
        ("then", &[0]),
        ("last", &[1]),
        ("aside", &[0]),
    ]);
    let mut recorder = Recorder::new(&dag, |_| Ok(()));
    recorder.cancel_after_first = true;
    let report = run(orchestrator, &dag, &recorder);
    check_report_shape(&dag, &report);
    let all = outcomes(&report).join(", ");
    assert!(report.steps()[0].outcome.is_success(), "{all}");
    assert_eq!(recorder.executed(), [0], "only the first step ran: {all}");
    for node in 1..dag.len() {
        assert!(
            matches!(&report.steps()[node].outcome, StepOutcome::Skipped { because } if because.contains("cancelled")),
            "every later step is skipped as cancelled: {all}"
        );
    }
    recorder.check_events(&dag, &[1, 2, 3]);
}

/// Numbers the counter files of [`a_step_asked_to_retry_runs_again`].
static RETRY_COUNTERS: AtomicUsize = AtomicUsize::new(0);

// ----- helpers ----------------------------------------------------------------------------------

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
    .expect("the testkit's DAG is valid")
}

#[track_caller]
fn run(orchestrator: &dyn Orchestrator, dag: &Dag, executor: &dyn StepExecutor) -> RunReport {
    orchestrator
        .run(dag, executor)
        .unwrap_or_else(|e| panic!("the orchestrator failed (not a step): {e} ({e:?})"))
}

fn outcomes(report: &RunReport) -> Vec<String> {
    report
        .steps()
        .iter()
        .map(|s| format!("{}: {}", s.name, s.outcome))
        .collect()
}

/// One report per node, in node order, named like the node.
fn check_report_shape(dag: &Dag, report: &RunReport) {
    let names: Vec<&str> = report.steps().iter().map(|s| s.name.as_str()).collect();
    let expected: Vec<&str> = dag.nodes().iter().map(|n| n.name.as_str()).collect();
    assert_eq!(names, expected, "one report per node, in node order");
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The testkit's [`StepExecutor`]: runs `step` for each node and records what happened.
struct Recorder<'a, F> {
    dag: &'a Dag,
    step: F,
    /// Nodes in the order their execution started.
    executed: Mutex<Vec<usize>>,
    /// Which nodes finished successfully.
    succeeded: Mutex<Vec<bool>>,
    /// Contract violations seen while running.
    violations: Mutex<Vec<String>>,
    events: Mutex<Vec<StepEvent>>,
    running: AtomicUsize,
    peak: AtomicUsize,
    panic_on_events: bool,
    /// A shell script per node for its command (after the checks of its folder and
    /// environment); an empty or missing script exits 0.
    scripts: Vec<String>,
    /// The nodes whose command was asked for.
    commanded: Mutex<Vec<usize>>,
    /// How each step's process ended, as reported.
    ended: Mutex<Vec<(usize, ProcessExit)>>,
    /// How many times a step whose process failed is asked to run again.
    retries: usize,
    /// What each step's process wrote, as handed over.
    outputs: Mutex<Vec<(usize, String)>>,
    /// Whether the run is cancelled once node 0 succeeded.
    cancel_after_first: bool,
    cancelled: std::sync::atomic::AtomicBool,
}

impl<'a, F: Fn(&str) -> Result<(), StepFailure> + Sync> Recorder<'a, F> {
    fn new(dag: &'a Dag, step: F) -> Recorder<'a, F> {
        Recorder {
            dag,
            step,
            executed: Mutex::new(Vec::new()),
            succeeded: Mutex::new(vec![false; dag.len()]),
            violations: Mutex::new(Vec::new()),
            events: Mutex::new(Vec::new()),
            running: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
            panic_on_events: false,
            scripts: Vec::new(),
            commanded: Mutex::new(Vec::new()),
            ended: Mutex::new(Vec::new()),
            retries: 0,
            outputs: Mutex::new(Vec::new()),
            cancel_after_first: false,
            cancelled: std::sync::atomic::AtomicBool::new(false),
        }
    }

    fn with_scripts(mut self, scripts: &[&str]) -> Self {
        self.scripts = scripts.iter().map(|s| (*s).to_owned()).collect();
        self
    }

    fn executed(&self) -> Vec<usize> {
        lock(&self.executed).clone()
    }

    fn violations(&self) -> Vec<String> {
        lock(&self.violations).clone()
    }

    fn peak(&self) -> usize {
        self.peak.load(Ordering::SeqCst)
    }

    /// Every node but `skipped` has one `Started` event, before its one `Finished` event;
    /// the skipped nodes have a `Finished` event only.
    fn check_events(&self, dag: &Dag, skipped: &[usize]) {
        let events = lock(&self.events).clone();
        for node in 0..dag.len() {
            let name = &dag.nodes()[node].name;
            let started: Vec<usize> = positions(&events, |e| *e == StepEvent::Started { node });
            let finished: Vec<usize> = positions(
                &events,
                |e| matches!(e, StepEvent::Finished { node: n, .. } if *n == node),
            );
            assert_eq!(
                finished.len(),
                1,
                "one Finished event for `{name}`: {events:?}"
            );
            if skipped.contains(&node) {
                assert!(started.is_empty(), "no Started event for skipped `{name}`");
            } else {
                assert_eq!(
                    started.len(),
                    1,
                    "one Started event for `{name}`: {events:?}"
                );
                assert!(
                    started[0] < finished[0],
                    "`{name}` started before it finished"
                );
            }
        }
    }
}

fn positions(events: &[StepEvent], matches: impl Fn(&StepEvent) -> bool) -> Vec<usize> {
    events
        .iter()
        .enumerate()
        .filter(|(_, e)| matches(e))
        .map(|(i, _)| i)
        .collect()
}

/// Decrements the running count even when the step panics.
struct Running<'a>(&'a AtomicUsize);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl<F: Fn(&str) -> Result<(), StepFailure> + Sync> StepExecutor for Recorder<'_, F> {
    fn execute(&self, node: usize, name: &str) -> Result<(), StepFailure> {
        let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        let _running = Running(&self.running);
        self.peak.fetch_max(now, Ordering::SeqCst);
        let expected = self.dag.nodes().get(node).map(|n| n.name.as_str());
        {
            let mut violations = lock(&self.violations);
            if expected != Some(name) {
                violations.push(format!(
                    "node {node} was executed as `{name}`, but is called {expected:?}"
                ));
            }
            let mut executed = lock(&self.executed);
            if executed.contains(&node) {
                violations.push(format!("`{name}` was executed twice"));
            }
            executed.push(node);
            let succeeded = lock(&self.succeeded);
            for &up in self.dag.nodes().get(node).map_or(&[][..], |n| &n.upstream) {
                if !succeeded[up] {
                    violations.push(format!(
                        "`{name}` started before its upstream step `{}` succeeded",
                        self.dag.nodes()[up].name
                    ));
                }
            }
        }
        let result = (self.step)(name);
        if result.is_ok()
            && let Some(done) = lock(&self.succeeded).get_mut(node)
        {
            *done = true;
        }
        if result.is_ok() && node == 0 && self.cancel_after_first {
            self.cancelled.store(true, Ordering::SeqCst);
        }
        result
    }

    fn run_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::SeqCst)
    }

    fn step_output(&self, node: usize, output: &mut dyn std::io::Read) {
        let mut text = String::new();
        if let Err(e) = output.read_to_string(&mut text) {
            lock(&self.violations).push(format!("node {node}'s output cannot be read: {e}"));
        }
        let ended = lock(&self.ended).iter().filter(|(n, _)| *n == node).count();
        let handed = lock(&self.outputs)
            .iter()
            .filter(|(n, _)| *n == node)
            .count();
        if handed != ended {
            lock(&self.violations).push(format!(
                "node {node}'s output was handed over after its process's end was reported, or twice"
            ));
        }
        lock(&self.outputs).push((node, text));
    }

    fn on_event(&self, event: &StepEvent) {
        lock(&self.events).push(event.clone());
        if self.panic_on_events {
            panic!("{INTENDED_PANIC}: in on_event");
        }
    }

    fn step_command(&self, node: usize) -> Result<StepCommand, StepFailure> {
        let name = self
            .dag
            .nodes()
            .get(node)
            .map_or_else(|| format!("#{node}"), |n| n.name.clone());
        lock(&self.commanded).push(node);
        let folder = std::env::temp_dir();
        let folder = folder.canonicalize().unwrap_or(folder);
        let script = self.scripts.get(node).map_or("", String::as_str);
        // Exit code 97 says the command ran elsewhere, or without its environment.
        let checks = format!(
            "test \"$ZENML_TESTKIT_STEP\" = {} && test \"$(pwd -P)\" = {} || exit 97",
            quote(&name),
            quote(&folder.display().to_string())
        );
        Ok(StepCommand {
            program: "/bin/sh".into(),
            args: vec!["-c".to_owned(), format!("{checks}\n{script}\nexit 0")],
            env: vec![("ZENML_TESTKIT_STEP".to_owned(), name.clone())],
            current_dir: folder,
            run_id: "zenml-testkit".to_owned(),
            step: name,
            resources: Default::default(),
            settings: Default::default(),
        })
    }

    fn step_process_ended(&self, node: usize, exit: &ProcessExit) -> Result<(), StepFailure> {
        lock(&self.ended).push((node, exit.clone()));
        if !lock(&self.commanded).contains(&node) {
            lock(&self.violations).push(format!(
                "the end of node {node}'s process was reported, but its command was never asked for"
            ));
        }
        if *exit == ProcessExit::Code(97) {
            lock(&self.violations).push(format!(
                "node {node}'s command did not run in its folder with its environment"
            ));
        }
        if !exit.success() {
            let message = format!("the step's process {exit}");
            let failures = lock(&self.ended)
                .iter()
                .filter(|(n, e)| *n == node && !e.success())
                .count();
            if failures <= self.retries {
                return Err(StepFailure::retry(message, Duration::from_millis(5)));
            }
            return Err(StepFailure::new(message));
        }
        // The step's work, as if its process had done it.
        let name = self
            .dag
            .nodes()
            .get(node)
            .map_or_else(String::new, |n| n.name.clone());
        self.execute(node, &name)
    }
}

/// `text` in single quotes for `/bin/sh`.
fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "'\\''"))
}

/// A barrier whose wait gives up after a timeout, breaking the barrier for every later
/// waiter, so that a sequential orchestrator fails the parallel check instead of hanging.
struct TimedBarrier {
    state: Mutex<(usize, bool)>,
    arrived: Condvar,
    parties: usize,
}

impl TimedBarrier {
    fn new(parties: usize) -> TimedBarrier {
        TimedBarrier {
            state: Mutex::new((0, false)),
            arrived: Condvar::new(),
            parties,
        }
    }

    /// Waits until `parties` threads are waiting (`Ok`), or gives up after `timeout` or when
    /// the barrier is broken (`Err`).
    fn wait(&self, timeout: Duration) -> Result<(), ()> {
        let mut state = lock(&self.state);
        if state.1 {
            return Err(());
        }
        state.0 += 1;
        if state.0 >= self.parties {
            self.arrived.notify_all();
            return Ok(());
        }
        let (mut state, result) = self
            .arrived
            .wait_timeout_while(state, timeout, |s| s.0 < self.parties && !s.1)
            .unwrap_or_else(PoisonError::into_inner);
        if state.0 >= self.parties {
            Ok(())
        } else {
            if result.timed_out() {
                state.1 = true;
                self.arrived.notify_all();
            }
            Err(())
        }
    }
}
