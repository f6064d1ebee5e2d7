//! Transactions and concurrency: a failed write leaves nothing, concurrent writers all record.

use super::helpers::*;
use super::*;

/// A `record_step_run` that fails part-way (a missing input artifact, a missing reused output,
/// a duplicate step name) leaves none of its records behind.
pub fn a_failed_step_run_write_leaves_nothing_behind(store: &dyn MetadataStore) {
    let base = now();
    let run = ok(
        store.create_run(&new_run(&unique("atomic"), &unique("run"), base)),
        "create_run",
    );

    // An input naming an artifact that does not exist: the foreign key refuses the link,
    // after the step run, its new artifacts and their output links were written.
    let missing = uuid::Uuid::new_v4().to_string();
    let mut broken = step_write(&run.id, "broken", base + 1);
    let orphan = artifact(&broken.step, "out", base + 1);
    broken.new_outputs = vec![orphan.clone()];
    broken.inputs = vec![("in".to_owned(), missing.clone())];
    broken.metadata = vec![MetadataEntry {
        resource: Resource::StepRun(broken.step.id.clone()),
        key: "k".to_owned(),
        value: json!(1),
    }];
    expect_not_found(store.record_step_run(&broken), "artifact", &missing);
    assert_nothing_of(store, &run.id, &broken, &orphan);

    // The same with a reused output.
    let mut reused = step_write(&run.id, "reused", base + 2);
    let orphan2 = artifact(&reused.step, "new", base + 2);
    reused.new_outputs = vec![orphan2.clone()];
    reused.reused_outputs = vec![("old".to_owned(), missing.clone())];
    expect_not_found(store.record_step_run(&reused), "artifact", &missing);
    assert_nothing_of(store, &run.id, &reused, &orphan2);

    // A step name already recorded in the run.
    let first = step_write(&run.id, "twice", base + 3);
    ok(store.record_step_run(&first), "record_step_run");
    let mut second = step_write(&run.id, "twice", base + 4);
    let orphan3 = artifact(&second.step, "out", base + 4);
    second.new_outputs = vec![orphan3.clone()];
    second.metadata = vec![MetadataEntry {
        resource: Resource::Run(run.id.clone()),
        key: "from_the_second_twice".to_owned(),
        value: json!(true),
    }];
    let err = store
        .record_step_run(&second)
        .expect_err("a second step run named `twice` in one run must fail");
    assert!(
        !matches!(err, MetadataStoreError::NotFound { .. }),
        "a duplicate step name is not a missing record: {err:?}"
    );
    assert_nothing_of(store, &run.id, &second, &orphan3);
    assert_eq!(
        ok(store.metadata(&Resource::Run(run.id.clone())), "metadata"),
        vec![]
    );
    assert_eq!(
        ok(store.step_runs(&run.id), "step_runs"),
        vec![first.step],
        "only the first `twice` is recorded"
    );
}

/// Has `threads` threads, each with a store from `open` (all on the same database: separate
/// instances, or one shared), each create a run of one new pipeline (all at once) and
/// record `steps_per_thread` step runs with an artifact and metadata each. Checks that no
/// write failed and that every record is there at the end.
pub fn check_concurrent_writers(
    open: &(dyn Fn() -> Arc<dyn MetadataStore> + Sync),
    threads: usize,
    steps_per_thread: usize,
) {
    let pipeline = unique("concurrent");
    let base = now();
    let start = Barrier::new(threads);
    let run_ids: Vec<String> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                let (pipeline, start) = (&pipeline, &start);
                scope.spawn(move || {
                    let store = open();
                    start.wait();
                    let run = new_run(pipeline, &format!("{pipeline}-run-{t}"), base);
                    let run = ok(store.create_run(&run), "concurrent create_run");
                    let mut previous: Option<String> = None;
                    for i in 0..steps_per_thread {
                        let at = base + i64::try_from(i).unwrap_or(0);
                        let mut write = step_write(&run.id, &format!("step-{t}-{i}"), at);
                        let artifact = artifact(&write.step, "out", at);
                        write.metadata.push(MetadataEntry {
                            resource: Resource::Artifact(artifact.id.clone()),
                            key: "index".to_owned(),
                            value: json!(i),
                        });
                        write.new_outputs.push(artifact.clone());
                        if let Some(previous) = previous.take() {
                            write.inputs.push(("in".to_owned(), previous));
                        }
                        ok(store.record_step_run(&write), "concurrent record_step_run");
                        previous = Some(artifact.id);
                    }
                    ok(
                        store.finish_run(&run.id, RunStatus::Completed, base + 1_000, None),
                        "concurrent finish_run",
                    );
                    run.id
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|worker| worker.join().expect("a writer thread panicked"))
            .collect()
    });

    let store = open();
    let summary = summary_of(store.as_ref(), &pipeline);
    assert_eq!(summary.run_count, threads as u64, "{summary:?}");
    for run_id in &run_ids {
        let run = ok(store.get_run(run_id), "get_run");
        assert_eq!(run.status, RunStatus::Completed, "{run:?}");
        let steps = ok(store.step_runs(run_id), "step_runs");
        assert_eq!(steps.len(), steps_per_thread, "steps of run {run_id}");
        for (i, step) in steps.iter().enumerate() {
            let outputs = ok(store.step_outputs(&step.id), "step_outputs");
            assert_eq!(outputs.len(), 1, "outputs of {step:?}");
            let inputs = ok(store.step_inputs(&step.id), "step_inputs");
            assert_eq!(inputs.len(), usize::from(i > 0), "inputs of {step:?}");
            let index = ok(
                store.metadata(&Resource::Artifact(outputs[0].1.id.clone())),
                "metadata",
            );
            assert_eq!(index, vec![("index".to_owned(), json!(i))]);
        }
    }
}
