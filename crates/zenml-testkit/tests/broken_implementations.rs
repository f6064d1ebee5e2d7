//! The suites catch broken implementations: wrappers around the built-in flavors that break
//! one promise of the contract each, and the checks that must report it.

use std::io::Read;
use std::num::NonZeroUsize;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use zenml_artifact_store::{
    ArtifactStore, ArtifactStoreError, GetOptions, GetResult, LocalArtifactStore, LocalFiles,
    ObjectMeta, ObjectPath, PutMode, PutResult,
};
use zenml_core::Dag;
use zenml_materializer::{JsonMaterializer, Materializer, MaterializerError};
use zenml_orchestrator::{
    LocalOrchestrator, Orchestrator, OrchestratorError, ProcessExit, RunReport, StepEvent,
    StepExecutor, StepOutcome, StepReport,
};
use zenml_testkit::{Outcome, SuiteReport, artifact_store, materializer, orchestrator};

fn local_store(dir: &Path) -> LocalArtifactStore {
    LocalArtifactStore::open(&dir.join("artifacts"), false).expect("cannot open the store")
}

fn failed(report: &SuiteReport, group: &str, check: &str) -> String {
    match report.outcome(group, check) {
        Some(Outcome::Failed(message)) => message.clone(),
        other => panic!("{group}/{check} should have failed, got {other:?}"),
    }
}

/// Loses every second object it is given: `put_opts` says `Ok` and writes nothing.
#[derive(Debug)]
struct LosingStore {
    inner: LocalArtifactStore,
    puts: AtomicUsize,
}

impl ArtifactStore for LosingStore {
    fn uri(&self) -> String {
        self.inner.uri()
    }
    fn put_opts(
        &self,
        path: &ObjectPath,
        data: &[u8],
        mode: PutMode,
    ) -> Result<PutResult, ArtifactStoreError> {
        if self.puts.fetch_add(1, Ordering::SeqCst) % 2 == 1 {
            return Ok(PutResult {
                size: data.len() as u64,
                e_tag: None,
                version: None,
            });
        }
        self.inner.put_opts(path, data, mode)
    }
    fn put_stream(
        &self,
        path: &ObjectPath,
        source: &mut dyn Read,
        mode: PutMode,
    ) -> Result<PutResult, ArtifactStoreError> {
        self.inner.put_stream(path, source, mode)
    }
    fn get_opts(
        &self,
        path: &ObjectPath,
        options: GetOptions,
    ) -> Result<GetResult, ArtifactStoreError> {
        self.inner.get_opts(path, options)
    }
    fn head(&self, path: &ObjectPath) -> Result<ObjectMeta, ArtifactStoreError> {
        self.inner.head(path)
    }
    fn list(&self, prefix: Option<&ObjectPath>) -> Result<Vec<ObjectMeta>, ArtifactStoreError> {
        self.inner.list(prefix)
    }
    fn delete(&self, path: &ObjectPath) -> Result<(), ArtifactStoreError> {
        self.inner.delete(path)
    }
    fn local_files(&self) -> Option<&dyn LocalFiles> {
        Some(&self.inner)
    }
}

/// Lists newest-written last instead of sorted, counts nothing it deletes, writes streams in
/// place (a failed copy leaves a partial object), and treats a conditional create as an
/// overwrite (a check-then-write would be as wrong under concurrency).
#[derive(Debug)]
struct SloppyStore {
    inner: LocalArtifactStore,
}

impl ArtifactStore for SloppyStore {
    fn uri(&self) -> String {
        self.inner.uri()
    }
    fn put_opts(
        &self,
        path: &ObjectPath,
        data: &[u8],
        _mode: PutMode,
    ) -> Result<PutResult, ArtifactStoreError> {
        self.inner.put_opts(path, data, PutMode::Overwrite)
    }
    fn put_stream(
        &self,
        path: &ObjectPath,
        source: &mut dyn Read,
        _mode: PutMode,
    ) -> Result<PutResult, ArtifactStoreError> {
        // Publishes an empty object first, then fills it: not atomic.
        self.inner.put(path, b"")?;
        self.inner.put_stream(path, source, PutMode::Overwrite)
    }
    fn get_opts(
        &self,
        path: &ObjectPath,
        options: GetOptions,
    ) -> Result<GetResult, ArtifactStoreError> {
        self.inner.get_opts(path, options)
    }
    fn head(&self, path: &ObjectPath) -> Result<ObjectMeta, ArtifactStoreError> {
        self.inner.head(path)
    }
    fn list(&self, prefix: Option<&ObjectPath>) -> Result<Vec<ObjectMeta>, ArtifactStoreError> {
        let mut all = self.inner.list(prefix)?;
        all.reverse();
        Ok(all)
    }
    fn delete(&self, path: &ObjectPath) -> Result<(), ArtifactStoreError> {
        self.inner.delete(path)
    }
    fn delete_prefix(&self, prefix: &ObjectPath) -> Result<usize, ArtifactStoreError> {
        self.inner.delete_prefix(prefix).map(|_| 0)
    }
}

#[test]
fn an_artifact_store_that_loses_objects_fails_the_suite() {
    let dir = tempfile::tempdir().unwrap();
    let store = LosingStore {
        inner: local_store(dir.path()),
        puts: AtomicUsize::new(0),
    };
    let report = artifact_store::run_all(&store);
    assert!(!report.is_success());
    let message = failed(&report, "objects", "put_and_get_round_trip");
    assert!(message.contains("NotFound"), "{message}");
    assert!(matches!(
        report.group("objects").unwrap().outcome(),
        Outcome::Failed(_)
    ));
    // A wrapper that still passes what it does not break: files go through untouched.
    assert_eq!(
        report.outcome("large-objects", "large_objects_stream_through_files"),
        Some(&Outcome::Passed)
    );
    let panicked = catch_unwind(AssertUnwindSafe(|| report.assert_passed())).unwrap_err();
    let text = panicked.downcast_ref::<String>().unwrap();
    assert!(text.contains("objects/put_and_get_round_trip"), "{text}");
}

#[test]
fn an_artifact_store_with_unsorted_listings_and_wrong_counts_fails_the_suite() {
    let dir = tempfile::tempdir().unwrap();
    let store = SloppyStore {
        inner: local_store(dir.path()),
    };
    let report = artifact_store::run_all(&store);
    let message = failed(&report, "objects", "list_is_complete_sorted_and_bounded");
    assert!(message.contains("sorted"), "{message}");
    let message = failed(
        &report,
        "objects",
        "delete_prefix_deletes_below_the_prefix_only",
    );
    assert!(
        message.contains("the number of objects deleted"),
        "{message}"
    );
    // A failed put_file (from a folder) leaves the empty object it published first.
    let message = failed(
        &report,
        "atomic-publish",
        "a_failed_put_file_leaves_no_object",
    );
    assert!(message.contains("left an object"), "{message}");
    let message = failed(&report, "atomic-publish", "create_never_overwrites");
    assert!(message.contains("not AlreadyExists"), "{message}");
    let message = failed(
        &report,
        "atomic-publish",
        "concurrent_creates_have_one_winner",
    );
    assert!(message.contains("exactly one create wins"), "{message}");
    let message = failed(
        &report,
        "atomic-publish",
        "a_stream_that_fails_part_way_leaves_no_object",
    );
    assert!(message.contains("left an object"), "{message}");
}

/// Runs every node in topological order on the calling thread, whatever happened upstream,
/// and catches no panics (not even of the event handler).
#[derive(Debug)]
struct CarelessOrchestrator;

impl Orchestrator for CarelessOrchestrator {
    fn run(&self, dag: &Dag, executor: &dyn StepExecutor) -> Result<RunReport, OrchestratorError> {
        let started = Instant::now();
        let mut steps: Vec<Option<StepReport>> = vec![None; dag.len()];
        for &node in dag.topological_order() {
            let name = dag.nodes()[node].name.clone();
            executor.on_event(&StepEvent::Started { node });
            let outcome = match executor.execute(node, &name) {
                Ok(()) => StepOutcome::Succeeded,
                Err(failure) => StepOutcome::Failed(failure.message),
            };
            executor.on_event(&StepEvent::Finished {
                node,
                outcome: outcome.clone(),
                duration: Duration::ZERO,
            });
            steps[node] = Some(StepReport {
                name,
                outcome,
                duration: Duration::ZERO,
            });
        }
        Ok(RunReport::new(
            steps
                .into_iter()
                .map(|step| step.expect("every node ran"))
                .collect(),
            started.elapsed(),
        ))
    }
}

/// Asks for each step's command, but never runs it: it reports every process as having
/// exited with code 0.
#[derive(Debug)]
struct PretendingProcessOrchestrator;

impl Orchestrator for PretendingProcessOrchestrator {
    fn run(&self, dag: &Dag, executor: &dyn StepExecutor) -> Result<RunReport, OrchestratorError> {
        let started = Instant::now();
        let mut steps: Vec<Option<StepReport>> = vec![None; dag.len()];
        for &node in dag.topological_order() {
            let name = dag.nodes()[node].name.clone();
            let blocked = dag.nodes()[node]
                .upstream
                .iter()
                .any(|&up| !steps[up].as_ref().is_some_and(|s| s.outcome.is_success()));
            executor.on_event(&StepEvent::Started { node });
            let outcome = if blocked {
                StepOutcome::Skipped {
                    because: "an upstream step did not succeed".to_owned(),
                }
            } else {
                let ran = executor.step_command(node).and_then(|_never_run| {
                    executor.step_process_ended(node, &ProcessExit::Code(0))
                });
                match ran {
                    Ok(()) => StepOutcome::Succeeded,
                    Err(failure) => StepOutcome::Failed(failure.message),
                }
            };
            executor.on_event(&StepEvent::Finished {
                node,
                outcome: outcome.clone(),
                duration: Duration::ZERO,
            });
            steps[node] = Some(StepReport {
                name,
                outcome,
                duration: Duration::ZERO,
            });
        }
        Ok(RunReport::new(
            steps
                .into_iter()
                .map(|step| step.expect("every node ran"))
                .collect(),
            started.elapsed(),
        ))
    }
}

#[test]
fn an_orchestrator_that_does_not_run_step_commands_fails_the_suite() {
    let report =
        orchestrator::run_all_with(&PretendingProcessOrchestrator, Duration::from_millis(50));
    let message = failed(&report, "processes", "step_processes_end_as_reported");
    assert!(
        message.contains("how each step's process ended"),
        "{message}"
    );
}

#[test]
fn an_orchestrator_that_runs_dependants_of_failures_fails_the_suite() {
    let report = orchestrator::run_all_with(&CarelessOrchestrator, Duration::from_millis(50));
    assert!(!report.is_success());
    let message = failed(
        &report,
        "failures",
        "a_failure_skips_dependants_and_other_branches_finish",
    );
    assert!(message.contains("unexpected outcome of `c`"), "{message}");
    let message = failed(&report, "panics", "a_panicking_step_is_a_failure");
    assert!(message.contains(orchestrator::INTENDED_PANIC), "{message}");
    let message = failed(&report, "parallel", "independent_branches_run_in_parallel");
    assert!(
        message.contains("does not run independent steps in parallel"),
        "{message}"
    );
    // What it does right is reported passed.
    assert_eq!(
        report.outcome("dag-order", "every_step_runs_once_after_its_upstream_steps"),
        Some(&Outcome::Passed)
    );
}

#[test]
fn a_sequential_orchestrator_is_reported_as_not_parallel_and_passes_the_rest() {
    let sequential = LocalOrchestrator::new(NonZeroUsize::MIN);
    let report = orchestrator::run_all_with(&sequential, Duration::from_millis(50));
    let failures = report.failures();
    assert_eq!(failures.len(), 1, "{failures:?}");
    let (group, check, message) = failures[0];
    assert_eq!(
        (group, check),
        ("parallel", "independent_branches_run_in_parallel")
    );
    assert!(
        message.contains("configure it for at least 2 parallel steps"),
        "{message}"
    );
}

/// Stores an `f64` as an `f32`: loses digits.
#[derive(Debug, Default)]
struct NarrowingMaterializer;

impl Materializer for NarrowingMaterializer {
    type Value = f64;
    fn id(&self) -> &'static str {
        "test.narrowing"
    }
    fn version(&self) -> u32 {
        1
    }
    fn save(&self, value: &f64, dir: &Path) -> Result<(), MaterializerError> {
        JsonMaterializer::<f32>::new().save(&(*value as f32), dir)
    }
    fn load(&self, dir: &Path) -> Result<f64, MaterializerError> {
        JsonMaterializer::<f32>::new().load(dir).map(f64::from)
    }
}

/// Writes its file next to the folder it was given.
#[derive(Debug, Default)]
struct StrayMaterializer;

impl Materializer for StrayMaterializer {
    type Value = u8;
    fn id(&self) -> &'static str {
        "test.stray"
    }
    fn version(&self) -> u32 {
        1
    }
    fn save(&self, value: &u8, dir: &Path) -> Result<(), MaterializerError> {
        let file = dir.with_extension("json");
        std::fs::write(&file, [*value]).map_err(|source| MaterializerError::Io {
            action: "cannot write",
            path: file,
            source,
        })
    }
    fn load(&self, dir: &Path) -> Result<u8, MaterializerError> {
        JsonMaterializer::<u8>::new().load(dir)
    }
}

#[test]
fn materializers_that_lose_precision_or_write_outside_their_folder_fail() {
    let check = zenml_testkit::run_check("narrowing", || {
        materializer::check_materializer(&NarrowingMaterializer, &[0.5, 0.1]);
    });
    match check.outcome {
        Outcome::Failed(message) => assert!(
            message.contains("`test.narrowing` saved 0.1 and loads 0.10000000149011612"),
            "{message}"
        ),
        other => panic!("{other:?}"),
    }
    let check = zenml_testkit::run_check("stray", || {
        materializer::check_materializer(&StrayMaterializer, &[7]);
    });
    match check.outcome {
        Outcome::Failed(message) => {
            assert!(message.contains("wrote outside its folder"), "{message}")
        }
        other => panic!("{other:?}"),
    }
    // The JSON materializer itself passes on the same values.
    materializer::check_materializer(&JsonMaterializer::<f64>::new(), &[0.5, 0.1]);
}
