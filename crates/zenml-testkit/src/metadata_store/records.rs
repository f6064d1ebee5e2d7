//! Records: runs, their spec and lease, failed attempts, step runs with their links and metadata, and what the schema refuses.

use super::helpers::*;
use super::*;

/// Runs are created `running`, finished once (a finished run keeps its status), cancelled,
/// listed newest first and found by id or name.
pub fn runs_are_created_finished_listed_and_found(store: &dyn MetadataStore) {
    let pipeline = unique("lifecycle");
    let base = now();
    let first = new_run(&pipeline, &unique("first"), base);
    let second = new_run(&pipeline, &unique("second"), base + 10);

    let created = ok(store.create_run(&first), "create_run");
    assert_eq!(created.id, first.id);
    assert_eq!(created.name, first.name);
    assert_eq!(created.pipeline_name, pipeline);
    assert_eq!(created.status, RunStatus::Running);
    assert_eq!(created.started_at, base);
    assert_eq!(created.ended_at, None);
    assert_eq!(created.config, first.config);
    assert_eq!(created.stack, first.stack);
    assert_eq!(created.error, None);
    let created_second = ok(store.create_run(&second), "create_run");
    assert_eq!(
        created_second.pipeline_id, created.pipeline_id,
        "two runs of one pipeline"
    );

    assert_eq!(ok(store.get_run(&first.id), "get_run by id"), created);
    assert_eq!(ok(store.get_run(&first.name), "get_run by name"), created);

    let runs = ok(store.list_runs(Some(&pipeline)), "list_runs");
    assert_eq!(
        runs,
        vec![created_second.clone(), created.clone()],
        "newest first"
    );
    let everything = ok(store.list_runs(None), "list_runs(None)");
    let ours: Vec<&RunRecord> = everything
        .iter()
        .filter(|r| r.pipeline_name == pipeline)
        .collect();
    assert_eq!(ours, vec![&created_second, &created], "newest first");
    assert!(
        everything
            .windows(2)
            .all(|w| w[0].started_at >= w[1].started_at),
        "list_runs(None) is newest first"
    );

    assert!(
        ok(
            store.finish_run(&first.id, RunStatus::Completed, base + 100, None),
            "finish_run",
        ),
        "finishing a running run answers true"
    );
    assert!(ok(
        store.finish_run(
            &second.id,
            RunStatus::Failed,
            base + 200,
            Some("step `x` failed"),
        ),
        "finish_run",
    ));
    // Finishing again is not an error, and changes nothing: not even another status.
    assert!(
        !ok(
            store.finish_run(&first.id, RunStatus::Completed, base + 100, None),
            "finish_run again",
        ),
        "finishing a finished run answers false"
    );
    assert!(!ok(
        store.finish_run(&first.id, RunStatus::Failed, base + 300, Some("late")),
        "finish_run with another status",
    ));
    let finished = ok(store.get_run(&first.name), "get_run");
    assert_eq!(
        (finished.status, finished.ended_at, finished.error),
        (RunStatus::Completed, Some(base + 100), None)
    );
    let failed = ok(store.get_run(&second.id), "get_run");
    assert_eq!(
        (failed.status, failed.ended_at, failed.error.as_deref()),
        (RunStatus::Failed, Some(base + 200), Some("step `x` failed"))
    );

    // A cancelled run stays cancelled when its driver finishes it afterwards.
    let third = ok(
        store.create_run(&new_run(&pipeline, &unique("third"), base + 20)),
        "create_run",
    );
    assert!(ok(
        store.finish_run(&third.id, RunStatus::Cancelled, base + 50, Some("by me")),
        "finish_run as cancelled",
    ));
    assert!(!ok(
        store.finish_run(&third.id, RunStatus::Completed, base + 60, None),
        "finish_run after a cancel",
    ));
    let cancelled = ok(store.get_run(&third.id), "get_run");
    assert_eq!(
        (
            cancelled.status,
            cancelled.ended_at,
            cancelled.error.as_deref()
        ),
        (RunStatus::Cancelled, Some(base + 50), Some("by me"))
    );
    assert!(
        !ok(
            store.renew_run_lease(&third.id, base + 10_000),
            "renew_run_lease"
        ),
        "a cancelled run's lease cannot be renewed"
    );
}

/// Run names are unique in the store (a duplicate is `DuplicateRunName` and leaves no pipeline
/// behind) and compare byte for byte.
pub fn run_names_are_unique_and_case_sensitive(store: &dyn MetadataStore) {
    let pipeline = unique("duplicates");
    let base = now();
    let name = unique("Name-Ünïcode");
    let original = ok(
        store.create_run(&new_run(&pipeline, &name, base)),
        "create_run",
    );

    let again = new_run(&pipeline, &name, base + 1);
    expect_duplicate(store.create_run(&again), &name);
    // The same NewRun twice is a duplicate too.
    let twin = new_run(&pipeline, &unique("twin"), base);
    ok(store.create_run(&twin), "create_run");
    expect_duplicate(store.create_run(&twin), &twin.name);

    // Names are unique in the whole store, and the failed create leaves no pipeline behind.
    let other_pipeline = unique("duplicates-other");
    expect_duplicate(
        store.create_run(&new_run(&other_pipeline, &name, base)),
        &name,
    );
    let pipelines = ok(store.list_pipelines(), "list_pipelines");
    assert!(
        pipelines.iter().all(|p| p.pipeline.name != other_pipeline),
        "a failed create_run left its pipeline behind"
    );

    // Names compare byte for byte: another case is another name.
    let lower = name.to_lowercase();
    ok(
        store.create_run(&new_run(&pipeline, &lower, base + 2)),
        "create_run with a name differing in case",
    );
    assert_eq!(ok(store.get_run(&name), "get_run").id, original.id);
    assert_eq!(ok(store.get_run(&lower), "get_run").name, lower);
    assert_eq!(ok(store.list_runs(Some(&pipeline)), "list_runs").len(), 3);
}

/// A run keeps the spec it was created with; a running run whose lease has expired reads as
/// interrupted (also in listings and summaries), a renewal makes it running again, and a
/// finished run's lease can no longer be renewed and no longer matters.
pub fn runs_keep_their_spec_and_lease(store: &dyn MetadataStore) {
    let pipeline = unique("leased");
    let spec = json!({"steps": [{
        "name": "load",
        "code_hash": blake3_like("load"),
        "inputs": [],
        "outputs": [{"name": "output", "materializer": "zenml.json", "version": 1}],
    }]});
    let expired = now() - 60_000;
    let run = ok(
        store.create_run(&NewRun {
            spec: spec.clone(),
            lease_expires_at: Some(expired),
            ..new_run(&pipeline, &unique("run"), now())
        }),
        "create_run",
    );
    assert_eq!((&run.spec, run.lease_expires_at), (&spec, Some(expired)));
    let read = ok(store.get_run(&run.id), "get_run");
    assert_eq!(read.spec, spec, "the spec is kept as given");
    assert_eq!(read.lease_expires_at, Some(expired));
    assert_eq!(
        read.status,
        RunStatus::Interrupted,
        "a running run whose lease expired is interrupted"
    );
    let listed = ok(store.list_runs(Some(&pipeline)), "list_runs");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].status, RunStatus::Interrupted, "in listings too");
    let latest = summary_of(store, &pipeline)
        .latest_run
        .expect("a latest run");
    assert_eq!(latest.status, RunStatus::Interrupted, "in summaries too");

    let later = now() + 3_600_000;
    assert!(ok(store.renew_run_lease(&run.id, later), "renew_run_lease"));
    let read = ok(store.get_run(&run.id), "get_run");
    assert_eq!(
        (read.status, read.lease_expires_at),
        (RunStatus::Running, Some(later))
    );
    assert!(
        ok(store.renew_run_lease(&run.id, later), "renew_run_lease"),
        "renewing a running run with the lease it has is still a renewal"
    );

    ok(
        store.finish_run(&run.id, RunStatus::Completed, now(), None),
        "finish_run",
    );
    assert!(
        !ok(store.renew_run_lease(&run.id, later + 1), "renew_run_lease"),
        "a finished run's lease cannot be renewed"
    );
    let read = ok(store.get_run(&run.id), "get_run");
    assert_eq!(
        (read.status, read.lease_expires_at),
        (RunStatus::Completed, Some(later))
    );

    // A finished run whose lease has expired is what it was finished as.
    let failed = ok(
        store.create_run(&NewRun {
            lease_expires_at: Some(expired),
            ..new_run(&pipeline, &unique("run"), now())
        }),
        "create_run",
    );
    ok(
        store.finish_run(&failed.id, RunStatus::Failed, now(), Some("boom")),
        "finish_run",
    );
    assert_eq!(
        ok(store.get_run(&failed.id), "get_run").status,
        RunStatus::Failed
    );
    for status in [RunStatus::Running, RunStatus::Interrupted] {
        assert!(
            matches!(
                store.finish_run(&failed.id, status, now(), None),
                Err(MetadataStoreError::InvalidRecord { .. })
            ),
            "finishing a run as {} is refused",
            status.as_str()
        );
    }

    // Without a spec and a lease: never interrupted.
    let plain = ok(
        store.create_run(&new_run(&pipeline, &unique("run"), expired)),
        "create_run",
    );
    let read = ok(store.get_run(&plain.id), "get_run");
    assert_eq!(
        (read.spec, read.lease_expires_at, read.status),
        (serde_json::Value::Null, None, RunStatus::Running)
    );
    let unknown = uuid::Uuid::new_v4().to_string();
    expect_not_found(store.renew_run_lease(&unknown, later), "run", &unknown);
}

/// Failed attempts of retried steps: listed by step and attempt; the same attempt (same id)
/// recorded again changes nothing; another record of the same step and attempt number is
/// refused; the step run that follows carries its attempt number; an unknown run is not
/// found.
pub fn failed_attempts_are_recorded_once_each(store: &dyn MetadataStore) {
    let run = ok(
        store.create_run(&new_run(&unique("retried"), &unique("run"), now())),
        "create_run",
    );
    assert!(ok(store.step_attempts(&run.id), "step_attempts").is_empty());
    let attempt = |name: &str, number: u32| StepAttemptRecord {
        id: uuid::Uuid::new_v4().to_string(),
        run_id: run.id.clone(),
        name: name.to_owned(),
        attempt: number,
        started_at: now() - 10,
        ended_at: now(),
        error: format!("{name} attempt {number} failed: exit code {number}"),
    };
    let train_1 = attempt("train", 1);
    let train_2 = attempt("train", 2);
    let load_1 = attempt("load", 1);
    for record in [&train_2, &load_1, &train_1] {
        ok(store.record_failed_attempt(record), "record_failed_attempt");
    }
    ok(
        store.record_failed_attempt(&train_1),
        "recording the same attempt again",
    );
    assert!(
        store
            .record_failed_attempt(&StepAttemptRecord {
                id: uuid::Uuid::new_v4().to_string(),
                ..train_1.clone()
            })
            .is_err(),
        "another record of attempt 1 of `train` is refused"
    );
    assert_eq!(
        ok(store.step_attempts(&run.id), "step_attempts"),
        vec![load_1, train_1, train_2],
        "by step name, then attempt"
    );
    let mut third = step_write(&run.id, "train", now());
    third.step.attempt = 3;
    ok(store.record_step_run(&third), "record_step_run");
    let recorded = ok(store.step_runs(&run.id), "step_runs");
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].attempt, 3, "the step run carries its attempt");
    assert_eq!(
        ok(store.get_step_run(&third.step.id), "get_step_run").attempt,
        3
    );
    let unknown = uuid::Uuid::new_v4().to_string();
    expect_not_found(store.step_attempts(&unknown), "run", &unknown);
    expect_not_found(
        store.record_failed_attempt(&StepAttemptRecord {
            id: uuid::Uuid::new_v4().to_string(),
            run_id: unknown.clone(),
            ..attempt("load", 2)
        }),
        "run",
        &unknown,
    );
}

/// Step runs round-trip with their inputs, new and reused outputs and metadata, in the
/// documented orders.
pub fn step_runs_round_trip_with_lineage_and_metadata(store: &dyn MetadataStore) {
    let pipeline = unique("lineage");
    let base = now();
    let run = ok(
        store.create_run(&new_run(&pipeline, &unique("run"), base)),
        "create_run",
    );

    // load: no inputs, two new outputs, metadata about itself and an output.
    let mut load = step_write(&run.id, "load", base + 10);
    let labels = artifact(&load.step, "labels", base + 10);
    let features = artifact(&load.step, "features", base + 10);
    load.new_outputs = vec![labels.clone(), features.clone()];
    load.metadata = vec![
        MetadataEntry {
            resource: Resource::StepRun(load.step.id.clone()),
            key: "rows".to_owned(),
            value: json!(150),
        },
        MetadataEntry {
            resource: Resource::StepRun(load.step.id.clone()),
            key: "loader".to_owned(),
            value: json!({"format": "csv", "columns": ["a", "b"]}),
        },
        MetadataEntry {
            resource: Resource::Artifact(features.id.clone()),
            key: "shape".to_owned(),
            value: json!([150, 4]),
        },
    ];
    ok(store.record_step_run(&load), "record_step_run(load)");

    // train: two inputs (given out of order), one output, a cache key and an error-free run.
    let mut train = step_write(&run.id, "train", base + 30);
    train.step.started_at = base + 5;
    train.step.cache_key = Some(unique("cache-key"));
    train.step.parameters = json!({"epochs": 3, "rate": 0.5, "name": "ünï"});
    train.inputs = vec![
        ("y".to_owned(), labels.id.clone()),
        ("x".to_owned(), features.id.clone()),
    ];
    let model = artifact(&train.step, "model", base + 30);
    train.new_outputs = vec![model.clone()];
    ok(store.record_step_run(&train), "record_step_run(train)");

    // evaluate: cached, reusing train's output; reused and new outputs together.
    let mut evaluate = step_write(&run.id, "evaluate", base + 20);
    evaluate.step.status = StepStatus::Cached;
    evaluate.step.original_step_run_id = Some(train.step.id.clone());
    evaluate.inputs = vec![("model".to_owned(), model.id.clone())];
    evaluate.reused_outputs = vec![("b_reused".to_owned(), model.id.clone())];
    let report = artifact(&evaluate.step, "a_report", base + 20);
    evaluate.new_outputs = vec![report.clone()];
    ok(
        store.record_step_run(&evaluate),
        "record_step_run(evaluate)",
    );

    // skipped and failed steps have no outputs.
    let mut failed = step_write(&run.id, "deploy", base + 40);
    failed.step.status = StepStatus::Failed;
    failed.step.error = Some("deploy panicked: no target".to_owned());
    ok(store.record_step_run(&failed), "record_step_run(deploy)");

    let steps = ok(store.step_runs(&run.id), "step_runs");
    assert_eq!(
        steps,
        vec![
            load.step.clone(),
            evaluate.step.clone(),
            train.step.clone(),
            failed.step.clone()
        ],
        "step runs in the order they ended"
    );

    assert_eq!(
        ok(store.step_inputs(&train.step.id), "step_inputs"),
        vec![
            ("x".to_owned(), features.clone()),
            ("y".to_owned(), labels.clone())
        ],
        "inputs sorted by name"
    );
    assert_eq!(
        ok(store.step_outputs(&load.step.id), "step_outputs"),
        vec![
            ("features".to_owned(), features.clone()),
            ("labels".to_owned(), labels.clone())
        ],
        "outputs sorted by name"
    );
    assert_eq!(
        ok(store.step_outputs(&evaluate.step.id), "step_outputs"),
        vec![
            ("a_report".to_owned(), report.clone()),
            ("b_reused".to_owned(), model.clone())
        ],
        "new and reused outputs"
    );
    assert_eq!(ok(store.step_inputs(&load.step.id), "step_inputs"), vec![]);
    assert_eq!(
        ok(store.step_outputs(&failed.step.id), "step_outputs"),
        vec![]
    );

    assert_eq!(ok(store.get_artifact(&model.id), "get_artifact"), model);
    let all = ok(store.list_artifacts(), "list_artifacts");
    let ours: Vec<&str> = all
        .iter()
        .filter(|a| {
            [&labels, &features, &model, &report]
                .iter()
                .any(|o| o.id == a.id)
        })
        .map(|a| a.output_name.as_str())
        .collect();
    assert_eq!(ours.len(), 4, "every artifact is listed once");
    assert_eq!(ours[0], "model", "newest first");
    assert_eq!(ours[1], "a_report", "newest first");
    assert!(
        all.windows(2).all(|w| w[0].created_at >= w[1].created_at),
        "list_artifacts is newest first"
    );

    assert_eq!(
        ok(
            store.metadata(&Resource::StepRun(load.step.id.clone())),
            "metadata"
        ),
        vec![
            (
                "loader".to_owned(),
                json!({"format": "csv", "columns": ["a", "b"]})
            ),
            ("rows".to_owned(), json!(150)),
        ],
        "metadata sorted by key"
    );
    assert_eq!(
        ok(
            store.metadata(&Resource::Artifact(features.id.clone())),
            "metadata"
        ),
        vec![("shape".to_owned(), json!([150, 4]))]
    );
    assert_eq!(
        ok(
            store.metadata(&Resource::Artifact(labels.id.clone())),
            "metadata"
        ),
        vec![]
    );
}

/// Metadata is replaced per resource and key, and the resource type is part of the key.
pub fn metadata_is_replaced_per_key(store: &dyn MetadataStore) {
    let run = ok(
        store.create_run(&new_run(&unique("metadata"), &unique("run"), now())),
        "create_run",
    );
    let entry = |key: &str, value| MetadataEntry {
        resource: Resource::Run(run.id.clone()),
        key: key.to_owned(),
        value,
    };
    ok(
        store.log_metadata(&[entry("accuracy", json!(0.5)), entry("note", json!("first"))]),
        "log_metadata",
    );
    ok(
        store.log_metadata(&[entry("loss", json!(0.25)), entry("accuracy", json!(0.9))]),
        "log_metadata",
    );
    ok(store.log_metadata(&[]), "log_metadata(nothing)");
    assert_eq!(
        ok(store.metadata(&Resource::Run(run.id.clone())), "metadata"),
        vec![
            ("accuracy".to_owned(), json!(0.9)),
            ("loss".to_owned(), json!(0.25)),
            ("note".to_owned(), json!("first")),
        ]
    );
    // The resource type is part of the key.
    assert_eq!(
        ok(
            store.metadata(&Resource::StepRun(run.id.clone())),
            "metadata"
        ),
        vec![]
    );
}

/// Names longer than 255 characters and new outputs of another producer are `InvalidRecord`, in
/// every flavor.
pub fn records_the_schema_cannot_hold_are_refused(store: &dyn MetadataStore) {
    let base = now();
    let long = "n".repeat(256);
    let err = store
        .create_run(&new_run(&unique("limits"), &long, base))
        .expect_err("a 256-character run name must be refused");
    assert!(
        matches!(err, MetadataStoreError::InvalidRecord { .. }),
        "{err:?}"
    );
    // 255 characters, not bytes: allowed.
    let pipeline = unique(&"é".repeat(242));
    assert_eq!(pipeline.chars().count(), 255);
    let run = ok(
        store.create_run(&new_run(&pipeline, &unique("limits"), base)),
        "create_run with a 255-character pipeline name",
    );
    assert_eq!(
        ok(store.get_run(&run.id), "get_run").pipeline_name,
        pipeline
    );

    // A new output must be produced by the step run that records it.
    let mut write = step_write(&run.id, "producer", base);
    let mut stray = artifact(&write.step, "out", base);
    stray.producer_step_run_id = uuid::Uuid::new_v4().to_string();
    write.new_outputs = vec![stray.clone()];
    let err = store
        .record_step_run(&write)
        .expect_err("an artifact of another producer must be refused");
    assert!(
        matches!(err, MetadataStoreError::InvalidRecord { .. }),
        "{err:?}"
    );
    assert_nothing_of(store, &run.id, &write, &stray);
}
