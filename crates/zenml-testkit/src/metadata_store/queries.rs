//! Queries: summaries, not-found errors, the step cache and bulk metadata.

use super::helpers::*;
use super::*;

/// Pipelines are listed sorted by name with their run count and newest run.
pub fn pipelines_are_summarized(store: &dyn MetadataStore) {
    let prefix = unique("summary");
    let (a, b) = (format!("{prefix}-a"), format!("{prefix}-B"));
    let base = now();
    let a1 = ok(
        store.create_run(&new_run(&a, &unique("a1"), base)),
        "create_run",
    );
    let a3 = ok(
        store.create_run(&new_run(&a, &unique("a3"), base + 30)),
        "create_run",
    );
    let _a2 = ok(
        store.create_run(&new_run(&a, &unique("a2"), base + 20)),
        "create_run",
    );
    let b1 = ok(
        store.create_run(&new_run(&b, &unique("b1"), base)),
        "create_run",
    );
    ok(
        store.finish_run(&a3.id, RunStatus::Completed, base + 40, None),
        "finish_run",
    );

    let pipelines = ok(store.list_pipelines(), "list_pipelines");
    let names: Vec<&str> = pipelines.iter().map(|p| p.pipeline.name.as_str()).collect();
    let mut sorted = names.clone();
    sorted.sort_unstable();
    assert_eq!(names, sorted, "pipelines are sorted by name, byte for byte");
    let a_summary = summary_of(store, &a);
    assert_eq!(a_summary.run_count, 3);
    assert_eq!(a_summary.pipeline.id, a1.pipeline_id);
    assert_eq!(a_summary.pipeline.created_at, base, "the first run's start");
    let latest = a_summary
        .latest_run
        .expect("a pipeline with runs has a latest run");
    assert_eq!(latest, ok(store.get_run(&a3.id), "get_run"));
    assert_eq!(latest.status, RunStatus::Completed);
    let b_summary = summary_of(store, &b);
    assert_eq!(b_summary.run_count, 1);
    assert_eq!(b_summary.latest_run, Some(b1));
}

/// `query_runs` filters by pipeline and status (an expired lease reads `interrupted`),
/// orders, pages, counts every run that passes, and counts each run's step runs; it agrees
/// with `list_runs`.
pub fn runs_are_queried_in_pages(store: &dyn MetadataStore) {
    let pipeline = unique("paged");
    let base = now();
    let mut ids = Vec::new();
    for i in 0..7 {
        let run = ok(
            store.create_run(&new_run(&pipeline, &format!("{pipeline}-{i}"), base + i)),
            "create_run",
        );
        ids.push(run.id);
    }
    // Runs 0–2 completed (run 1 with a cached step), 3 failed, 4 running with an expired
    // lease (interrupted), 5 and 6 running.
    for (i, id) in ids.iter().enumerate().take(3) {
        let mut first = step_write(id, "load", base + 100);
        let mut second = step_write(id, "train", base + 101);
        if i == 1 {
            second.step.status = StepStatus::Cached;
            first.step.status = StepStatus::Cached;
        }
        ok(store.record_step_run(&first), "record_step_run");
        ok(store.record_step_run(&second), "record_step_run");
        ok(
            store.finish_run(id, RunStatus::Completed, base + 200, None),
            "finish_run",
        );
    }
    ok(
        store.finish_run(&ids[3], RunStatus::Failed, base + 200, Some("boom")),
        "finish_run",
    );
    let mut leased = new_run(&pipeline, &format!("{pipeline}-lost"), base + 3);
    leased.lease_expires_at = Some(base - 1);
    let lost = ok(store.create_run(&leased), "create_run");

    let query = |status: Option<RunStatus>, order: RunOrder, offset: u64, limit: u64| {
        ok(
            store.query_runs(&RunQuery {
                pipeline: Some(pipeline.clone()),
                status,
                order,
                offset,
                limit,
            }),
            "query_runs",
        )
    };
    let all = query(None, RunOrder::NewestFirst, 0, 100);
    assert_eq!(all.total, 8, "every run of the pipeline is counted");
    let listed: Vec<String> = ok(store.list_runs(Some(&pipeline)), "list_runs")
        .into_iter()
        .map(|run| run.id)
        .collect();
    let queried: Vec<String> = all.runs.iter().map(|run| run.id.clone()).collect();
    assert_eq!(queried, listed, "newest first, as list_runs orders them");

    let page = query(None, RunOrder::NewestFirst, 2, 3);
    assert_eq!(page.total, 8, "the total counts every page");
    assert_eq!(
        page.runs.iter().map(|run| &run.id).collect::<Vec<_>>(),
        listed[2..5].iter().collect::<Vec<_>>(),
        "offset 2, limit 3"
    );
    let oldest = query(None, RunOrder::OldestFirst, 0, 1);
    assert_eq!(oldest.runs[0].id, ids[0], "oldest first");
    let by_name = query(None, RunOrder::NameDescending, 0, 100);
    let names: Vec<&str> = by_name.runs.iter().map(|run| run.name.as_str()).collect();
    let mut sorted = names.clone();
    sorted.sort_unstable_by(|a, b| b.cmp(a));
    assert_eq!(names, sorted, "by name, Z to A");
    let ascending = query(None, RunOrder::NameAscending, 0, 1);
    assert_eq!(ascending.runs[0].name, format!("{pipeline}-0"));

    let completed = query(Some(RunStatus::Completed), RunOrder::OldestFirst, 0, 100);
    assert_eq!(completed.total, 3);
    assert_eq!(
        completed
            .runs
            .iter()
            .map(|run| (run.step_runs, run.cached_step_runs))
            .collect::<Vec<_>>(),
        vec![(2, 0), (2, 2), (2, 0)],
        "step runs counted, cached ones apart"
    );
    let failed = query(Some(RunStatus::Failed), RunOrder::NewestFirst, 0, 100);
    assert_eq!(failed.total, 1);
    assert_eq!(failed.runs[0].error.as_deref(), Some("boom"));
    let interrupted = query(Some(RunStatus::Interrupted), RunOrder::NewestFirst, 0, 100);
    assert_eq!(
        interrupted
            .runs
            .iter()
            .map(|run| &run.id)
            .collect::<Vec<_>>(),
        vec![&lost.id],
        "an expired lease reads interrupted"
    );
    let running = query(Some(RunStatus::Running), RunOrder::OldestFirst, 0, 100);
    assert_eq!(
        running.runs.iter().map(|run| &run.id).collect::<Vec<_>>(),
        vec![&ids[4], &ids[5], &ids[6]],
        "running excludes interrupted"
    );
    assert!(running.runs.iter().all(|run| run.ended_at.is_none()));
    let beyond = query(None, RunOrder::NewestFirst, 100, 10);
    assert_eq!(
        (beyond.runs.len(), beyond.total),
        (0, 8),
        "past the last page"
    );

    let missing = unique("no-such-pipeline");
    expect_not_found(
        store.query_runs(&RunQuery {
            pipeline: Some(missing.clone()),
            ..RunQuery::default()
        }),
        "pipeline",
        &missing,
    );
}

/// Unknown runs, step runs, artifacts and pipelines are typed `NotFound` errors.
pub fn unknown_records_are_not_found(store: &dyn MetadataStore) {
    let missing = uuid::Uuid::new_v4().to_string();
    expect_not_found(store.get_artifact(&missing), "artifact", &missing);
    expect_not_found(store.get_run(&missing), "run", &missing);
    expect_not_found(store.step_runs(&missing), "run", &missing);
    expect_not_found(store.step_inputs(&missing), "step run", &missing);
    expect_not_found(store.step_outputs(&missing), "step run", &missing);
    expect_not_found(
        store.finish_run(&missing, RunStatus::Completed, now(), None),
        "run",
        &missing,
    );
    let pipeline = unique("no-such-pipeline");
    expect_not_found(store.list_runs(Some(&pipeline)), "pipeline", &pipeline);
    expect_not_found(
        store.record_step_run(&step_write(&missing, "orphan", now())),
        "run",
        &missing,
    );
    assert_eq!(
        ok(store.metadata(&Resource::Run(missing.clone())), "metadata"),
        vec![]
    );
}

/// Cache candidates, cache entries, invalidation by step, pipeline and everything, lineage
/// across runs, and artifacts per artifact store.
pub fn step_cache_is_found_managed_and_followed(store: &dyn MetadataStore) {
    let base = now();
    let (pipeline_a, pipeline_b) = (unique("cache-a"), unique("cache-b"));
    let (load, train, evaluate) = (unique("load"), unique("train"), unique("evaluate"));
    let (load_key, train_key, evaluate_key) = (
        unique("key-load"),
        unique("key-train"),
        unique("key-evaluate"),
    );
    let artifact_store = format!("file:///{}/artifacts", unique("store"));
    let in_store = |step: &StepRunRecord, output: &str, at: Millis| ArtifactRecord {
        artifact_store_uri: artifact_store.clone(),
        ..artifact(step, output, at)
    };
    let record = |write: &StepRunWrite| ok(store.record_step_run(write), "record_step_run");
    let create = |pipeline: &str, at: Millis| {
        ok(
            store.create_run(&new_run(pipeline, &unique("run"), at)),
            "create_run",
        )
    };

    // Run a1: load → train → evaluate (failed, with a cache key).
    let a1 = create(&pipeline_a, base);
    let mut a1_load = step_write(&a1.id, &load, base + 10);
    a1_load.step.cache_key = Some(load_key.clone());
    let data = in_store(&a1_load.step, "data", base + 10);
    a1_load.new_outputs = vec![data.clone()];
    record(&a1_load);
    let mut a1_train = step_write(&a1.id, &train, base + 20);
    a1_train.step.cache_key = Some(train_key.clone());
    a1_train.inputs = vec![("data".to_owned(), data.id.clone())];
    let model_1 = in_store(&a1_train.step, "model", base + 20);
    a1_train.new_outputs = vec![model_1.clone()];
    // Even a step run recorded as invalidated is recorded valid.
    a1_train.step.cache_invalidated_at = Some(base);
    record(&a1_train);
    a1_train.step.cache_invalidated_at = None;
    let mut a1_evaluate = step_write(&a1.id, &evaluate, base + 30);
    a1_evaluate.step.status = StepStatus::Failed;
    a1_evaluate.step.cache_key = Some(evaluate_key.clone());
    a1_evaluate.step.error = Some("evaluate failed".to_owned());
    a1_evaluate.inputs = vec![("model".to_owned(), model_1.id.clone())];
    record(&a1_evaluate);

    // Run a2: load is cached (reusing a1's data); train runs again on that data; evaluate
    // completes without a cache key (caching disabled).
    let a2 = create(&pipeline_a, base + 100);
    let mut a2_load = step_write(&a2.id, &load, base + 110);
    a2_load.step.status = StepStatus::Cached;
    a2_load.step.cache_key = Some(load_key.clone());
    a2_load.step.original_step_run_id = Some(a1_load.step.id.clone());
    a2_load.reused_outputs = vec![("data".to_owned(), data.id.clone())];
    record(&a2_load);
    let mut a2_train = step_write(&a2.id, &train, base + 120);
    a2_train.step.cache_key = Some(train_key.clone());
    a2_train.inputs = vec![("data".to_owned(), data.id.clone())];
    let model_2 = in_store(&a2_train.step, "model", base + 120);
    a2_train.new_outputs = vec![model_2.clone()];
    record(&a2_train);
    let mut a2_evaluate = step_write(&a2.id, &evaluate, base + 130);
    a2_evaluate.inputs = vec![
        ("model".to_owned(), model_2.id.clone()),
        ("baseline".to_owned(), model_1.id.clone()),
    ];
    record(&a2_evaluate);

    // Run a3: train once more on the same data.
    let a3 = create(&pipeline_a, base + 200);
    let mut a3_train = step_write(&a3.id, &train, base + 220);
    a3_train.step.cache_key = Some(train_key.clone());
    a3_train.inputs = vec![("data".to_owned(), data.id.clone())];
    let model_3 = in_store(&a3_train.step, "model", base + 220);
    a3_train.new_outputs = vec![model_3.clone()];
    record(&a3_train);

    // Run b1 of another pipeline: steps with the same names, other cache keys.
    let b_load_key = unique("key-b-load");
    let b_train_key = unique("key-b-train");
    let b1 = create(&pipeline_b, base + 300);
    let mut b1_load = step_write(&b1.id, &load, base + 310);
    b1_load.step.cache_key = Some(b_load_key.clone());
    let b_data = artifact(&b1_load.step, "data", base + 310);
    b1_load.new_outputs = vec![b_data.clone()];
    record(&b1_load);
    let mut b1_train = step_write(&b1.id, &train, base + 320);
    b1_train.step.cache_key = Some(b_train_key.clone());
    b1_train.inputs = vec![("data".to_owned(), b_data.id.clone())];
    record(&b1_train);

    // ----- candidates
    let candidates = |key: &str, limit| ok(store.cache_candidates(key, limit), "cache_candidates");
    assert_eq!(
        candidates(&train_key, 10),
        vec![
            a3_train.step.clone(),
            a2_train.step.clone(),
            a1_train.step.clone()
        ],
        "completed step runs with the key, newest first"
    );
    assert_eq!(
        candidates(&train_key, 2),
        vec![a3_train.step.clone(), a2_train.step.clone()],
        "at most `limit`"
    );
    assert_eq!(candidates(&train_key, 0), vec![], "limit 0");
    assert_eq!(
        candidates(&load_key, 10),
        vec![a1_load.step.clone()],
        "a cached step run is not a candidate"
    );
    assert_eq!(
        candidates(&evaluate_key, 10),
        vec![],
        "failed: no candidate"
    );
    assert_eq!(candidates(&unique("key-none"), 10), vec![]);
    assert_eq!(candidates(&b_train_key, 10), vec![b1_train.step.clone()]);

    // ----- the outputs of a cached step run are the reused artifacts
    assert_eq!(
        ok(store.step_outputs(&a2_load.step.id), "step_outputs"),
        vec![("data".to_owned(), data.clone())]
    );

    // ----- single step runs
    assert_eq!(
        ok(store.get_step_run(&a2_load.step.id), "get_step_run"),
        a2_load.step
    );
    assert_eq!(
        ok(store.get_step_run(&a1_evaluate.step.id), "get_step_run"),
        a1_evaluate.step
    );
    let missing = uuid::Uuid::new_v4().to_string();
    expect_not_found(store.get_step_run(&missing), "step run", &missing);

    // ----- lineage across runs
    assert_eq!(
        ok(store.artifact_consumers(&data.id), "artifact_consumers"),
        vec![
            ("data".to_owned(), a1_train.step.clone()),
            ("data".to_owned(), a2_train.step.clone()),
            ("data".to_owned(), a3_train.step.clone()),
        ],
        "consumers of a reused artifact in later runs, oldest first"
    );
    assert_eq!(
        ok(store.artifact_consumers(&model_1.id), "artifact_consumers"),
        vec![
            ("model".to_owned(), a1_evaluate.step.clone()),
            ("baseline".to_owned(), a2_evaluate.step.clone()),
        ]
    );
    assert_eq!(
        ok(store.artifact_consumers(&model_3.id), "artifact_consumers"),
        vec![],
        "an artifact nothing consumed"
    );
    expect_not_found(store.artifact_consumers(&missing), "artifact", &missing);

    // ----- artifacts of one artifact store
    let mut ours: Vec<String> = [&data, &model_1, &model_2, &model_3]
        .iter()
        .map(|a| a.id.clone())
        .collect();
    ours.sort_unstable();
    assert_eq!(
        ok(
            store.artifact_ids_in_store(&artifact_store),
            "artifact_ids_in_store"
        ),
        ours,
        "exactly the artifacts of that store, sorted"
    );
    assert_eq!(
        ok(
            store.artifact_ids_in_store(&format!("{artifact_store}/nested")),
            "artifact_ids_in_store"
        ),
        Vec::<String>::new(),
        "the URI must match exactly"
    );

    // ----- cache entries
    let entry = |write: &StepRunWrite, run: &RunRecord| CacheEntry {
        step_run: ok(store.get_step_run(&write.step.id), "get_step_run"),
        run_name: run.name.clone(),
        pipeline_name: run.pipeline_name.clone(),
    };
    let entries = |pipeline: Option<&str>, step: Option<&str>| {
        let filter = CacheFilter {
            pipeline: pipeline.map(str::to_owned),
            step: step.map(str::to_owned),
        };
        ok(store.cache_entries(&filter), "cache_entries")
    };
    assert_eq!(
        entries(Some(&pipeline_a), None),
        vec![
            entry(&a3_train, &a3),
            entry(&a2_train, &a2),
            entry(&a1_train, &a1),
            entry(&a1_load, &a1),
        ],
        "completed step runs with a cache key, newest first"
    );
    assert_eq!(
        entries(None, Some(&train)),
        vec![
            entry(&b1_train, &b1),
            entry(&a3_train, &a3),
            entry(&a2_train, &a2),
            entry(&a1_train, &a1),
        ],
        "one step in every pipeline"
    );
    assert_eq!(
        entries(Some(&pipeline_b), Some(&load)),
        vec![entry(&b1_load, &b1)],
        "one step of one pipeline"
    );
    assert_eq!(entries(Some(&unique("no-such-pipeline")), None), vec![]);
    assert_eq!(entries(Some(&pipeline_b), Some(&evaluate)), vec![]);
    let everything = entries(None, None);
    let ids: Vec<&str> = everything.iter().map(|e| e.step_run.id.as_str()).collect();
    for write in [
        &a1_load, &a1_train, &a2_train, &a3_train, &b1_load, &b1_train,
    ] {
        assert!(
            ids.contains(&write.step.id.as_str()),
            "{:?} is an entry",
            write.step
        );
    }
    for write in [&a1_evaluate, &a2_load, &a2_evaluate] {
        assert!(
            !ids.contains(&write.step.id.as_str()),
            "{:?} is no entry",
            write.step
        );
    }
    assert!(
        everything
            .windows(2)
            .all(|w| w[0].step_run.ended_at >= w[1].step_run.ended_at),
        "cache_entries is newest first"
    );

    // ----- invalidation by step name, in every pipeline
    let invalidate = |pipeline: Option<&str>, step: Option<&str>, at: Millis| {
        let filter = CacheFilter {
            pipeline: pipeline.map(str::to_owned),
            step: step.map(str::to_owned),
        };
        ok(store.invalidate_cache(&filter, at), "invalidate_cache")
    };
    let first_at = base + 1_000;
    assert_eq!(invalidate(None, Some(&train), first_at), 4);
    assert_eq!(entries(None, Some(&train)), vec![]);
    assert_eq!(candidates(&train_key, 10), vec![]);
    assert_eq!(candidates(&b_train_key, 10), vec![]);
    assert_eq!(
        candidates(&load_key, 10),
        vec![a1_load.step.clone()],
        "other steps keep their entries"
    );
    let invalidated = ok(store.get_step_run(&a2_train.step.id), "get_step_run");
    assert_eq!(
        invalidated,
        StepRunRecord {
            cache_invalidated_at: Some(first_at),
            ..a2_train.step.clone()
        },
        "an invalidated step run stays recorded, with its cache key"
    );
    assert!(
        ok(store.step_runs(&a2.id), "step_runs").contains(&invalidated),
        "step_runs reads the invalidation too"
    );
    assert_eq!(
        ok(store.step_outputs(&a2_train.step.id), "step_outputs"),
        vec![("model".to_owned(), model_2.clone())],
        "its outputs stay linked"
    );
    assert_eq!(
        invalidate(None, Some(&train), first_at + 1),
        0,
        "nothing left to invalidate"
    );
    assert_eq!(
        ok(store.get_step_run(&a2_train.step.id), "get_step_run").cache_invalidated_at,
        Some(first_at),
        "a second invalidation does not move the first"
    );

    // ----- invalidation by pipeline
    assert_eq!(
        invalidate(Some(&pipeline_a), None, base + 2_000),
        1,
        "a1's load"
    );
    assert_eq!(entries(Some(&pipeline_a), None), vec![]);
    assert_eq!(candidates(&load_key, 10), vec![]);
    assert_eq!(
        ok(store.get_step_run(&a2_load.step.id), "get_step_run"),
        a2_load.step,
        "a cached step run is not invalidated with its original"
    );
    assert_eq!(
        entries(Some(&pipeline_b), None),
        vec![entry(&b1_load, &b1)],
        "other pipelines keep their entries"
    );
    assert_eq!(
        invalidate(Some(&unique("no-such-pipeline")), None, base + 2_000),
        0
    );

    // A new step run with an invalidated key is a candidate again; the old ones are not.
    let a4 = create(&pipeline_a, base + 400);
    let mut a4_train = step_write(&a4.id, &train, base + 420);
    a4_train.step.cache_key = Some(train_key.clone());
    record(&a4_train);
    assert_eq!(candidates(&train_key, 10), vec![a4_train.step.clone()]);
    assert_eq!(
        entries(Some(&pipeline_a), None),
        vec![entry(&a4_train, &a4)]
    );

    // ----- invalidation of everything
    let before = entries(None, None).len();
    assert!(before >= 2, "b1's load and a4's train are entries");
    let last_at = base + 3_000;
    assert_eq!(invalidate(None, None, last_at), before);
    assert_eq!(entries(None, None), vec![]);
    assert_eq!(candidates(&train_key, 10), vec![]);
    assert_eq!(candidates(&b_load_key, 10), vec![]);
    assert_eq!(
        ok(store.get_step_run(&b1_load.step.id), "get_step_run").cache_invalidated_at,
        Some(last_at)
    );
    assert_eq!(
        ok(store.get_step_run(&a1_train.step.id), "get_step_run").cache_invalidated_at,
        Some(first_at)
    );
    assert_eq!(
        ok(store.get_step_run(&a2_evaluate.step.id), "get_step_run"),
        a2_evaluate.step,
        "a step run without a cache key is not an entry, so never invalidated"
    );
    assert_eq!(invalidate(None, None, last_at), 0);
}

/// Step metadata is read in bulk, in the order of the ids, across query chunks.
pub fn metadata_is_read_in_bulk(store: &dyn MetadataStore) {
    let base = now();
    let run = ok(
        store.create_run(&new_run(&unique("bulk"), &unique("run"), base)),
        "create_run",
    );
    let mut first = step_write(&run.id, "first", base + 1);
    first.metadata = vec![
        MetadataEntry {
            resource: Resource::StepRun(first.step.id.clone()),
            key: "loss".to_owned(),
            value: json!(0.5),
        },
        MetadataEntry {
            resource: Resource::StepRun(first.step.id.clone()),
            key: "accuracy".to_owned(),
            value: json!({"train": 0.9}),
        },
        // The same id as another kind of resource: not step metadata.
        MetadataEntry {
            resource: Resource::Artifact(first.step.id.clone()),
            key: "size".to_owned(),
            value: json!(1),
        },
    ];
    ok(store.record_step_run(&first), "record_step_run");
    let mut second = step_write(&run.id, "second", base + 2);
    second.metadata = vec![MetadataEntry {
        resource: Resource::StepRun(second.step.id.clone()),
        key: "loss".to_owned(),
        value: json!(0.25),
    }];
    ok(store.record_step_run(&second), "record_step_run");
    let quiet = step_write(&run.id, "quiet", base + 3);
    ok(store.record_step_run(&quiet), "record_step_run");

    let bulk = |ids: &[String]| ok(store.step_metadata_bulk(ids), "step_metadata_bulk");
    let (f, s) = (first.step.id.clone(), second.step.id.clone());
    assert_eq!(bulk(&[]), vec![]);
    assert_eq!(
        bulk(&[
            s.clone(),
            quiet.step.id.clone(),
            uuid::Uuid::new_v4().to_string(),
            f.clone(),
            s.clone(),
        ]),
        vec![
            (s.clone(), "loss".to_owned(), json!(0.25)),
            (f.clone(), "accuracy".to_owned(), json!({"train": 0.9})),
            (f.clone(), "loss".to_owned(), json!(0.5)),
        ],
        "in the order of the ids, each once, keys sorted"
    );

    // More ids than one query takes: entries on both sides of every chunk boundary.
    let ids: Vec<String> = (0..1_201)
        .map(|_| uuid::Uuid::new_v4().to_string())
        .collect();
    let marked = [0, 1, 499, 500, 501, 999, 1_000, 1_200];
    let entries: Vec<MetadataEntry> = marked
        .iter()
        .map(|&i| MetadataEntry {
            resource: Resource::StepRun(ids[i].clone()),
            key: "index".to_owned(),
            value: json!(i),
        })
        .collect();
    ok(store.log_metadata(&entries), "log_metadata");
    let mut reversed = ids.clone();
    reversed.reverse();
    let expected: Vec<(String, String, serde_json::Value)> = marked
        .iter()
        .rev()
        .map(|&i| (ids[i].clone(), "index".to_owned(), json!(i)))
        .collect();
    assert_eq!(bulk(&reversed), expected, "across chunks");
}

// ----- helpers --------------------------------------------------------------------------------
