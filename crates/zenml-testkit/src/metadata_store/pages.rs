//! Bounded reads: pages of artifacts, runs, step runs and consumers, and a pipeline's
//! metrics, checked against the whole-history reads on a store of a few thousand rows.

use std::collections::HashSet;

use zenml_metadata_store::{
    ArtifactCursor, ArtifactOrder, ArtifactQuery, MAX_LIMIT, MAX_OFFSET, MetricQuery,
    NewArtifactLabels, RunCursor, RunPage, StepRunCursor, Total,
};

use super::helpers::*;
use super::*;

/// How many runs [`seed_history`] records; each has two step runs.
const RUNS: i64 = 50;

/// How many artifacts each step run of [`seed_history`] produces.
const OUTPUTS: usize = 25;

/// A pipeline's history: `RUNS` runs of `prep` and `train`, each step run with `OUTPUTS`
/// artifacts recorded at one instant (ties broken by id); `train`'s `model` output is the
/// next version of a name, every tenth tagged `best`; `prep`'s first output is written by
/// `zenml.bytes`; `train` logs `accuracy` and `loss`, except in every fifth run, where it
/// is cached from the run before.
struct History {
    pipeline: String,
    name: String,
    base: Millis,
    /// Every artifact, in the order of `ArtifactOrder::NewestFirst`.
    newest_first: Vec<ArtifactRecord>,
    /// The runs' ids, oldest first.
    runs: Vec<String>,
}

fn seed_history(store: &dyn MetadataStore) -> History {
    let pipeline = unique("history");
    let name = format!("{pipeline}-model");
    let base = now() - 1_000_000;
    let mut artifacts = Vec::new();
    let mut runs = Vec::new();
    let mut last_train: Option<StepRunWrite> = None;
    for r in 0..RUNS {
        let started = base + r * 100;
        let run = ok(
            store.create_run(&new_run(&pipeline, &format!("{pipeline}-{r:03}"), started)),
            "create_run",
        );
        for (s, step) in ["prep", "train"].into_iter().enumerate() {
            let at = started + 10 * (s as i64 + 1);
            let mut write = step_write(&run.id, step, at);
            let cached = step == "train" && r % 5 == 4;
            if cached {
                let original = last_train.as_ref().expect("a train step run before");
                write.step.status = StepStatus::Cached;
                write.step.original_step_run_id = Some(original.step.id.clone());
                write.reused_outputs = original
                    .new_outputs
                    .iter()
                    .map(|a| (a.output_name.clone(), a.id.clone()))
                    .collect();
                ok(store.record_step_run(&write), "record_step_run");
                continue;
            }
            for k in 0..OUTPUTS {
                let output = if step == "train" && k == 0 {
                    "model".to_owned()
                } else {
                    format!("out{k:02}")
                };
                let mut artifact = artifact(&write.step, &output, at);
                if step == "prep" && k == 0 {
                    artifact.materializer_id = "zenml.bytes".to_owned();
                }
                if output == "model" {
                    write.artifact_labels.push(NewArtifactLabels {
                        artifact_id: artifact.id.clone(),
                        name: Some(name.clone()),
                        tags: if r % 10 == 0 {
                            vec!["best".to_owned()]
                        } else {
                            Vec::new()
                        },
                    });
                }
                write.new_outputs.push(artifact);
            }
            if step == "train" {
                for (key, value) in [
                    ("accuracy", r as f64 / 100.0),
                    ("loss", 1.0 - r as f64 / 100.0),
                ] {
                    write.metadata.push(MetadataEntry {
                        resource: Resource::StepRun(write.step.id.clone()),
                        key: key.to_owned(),
                        value: json!(value),
                    });
                }
            }
            ok(store.record_step_run(&write), "record_step_run");
            artifacts.extend(write.new_outputs.iter().cloned());
            if step == "train" {
                last_train = Some(write);
            }
        }
        ok(
            store.finish_run(&run.id, RunStatus::Completed, started + 50, None),
            "finish_run",
        );
        runs.push(run.id);
    }
    artifacts.sort_by(|a, b| (b.created_at, &b.id).cmp(&(a.created_at, &a.id)));
    History {
        pipeline,
        name,
        base,
        newest_first: artifacts,
        runs,
    }
}

fn ids(artifacts: &[ArtifactRecord]) -> Vec<&str> {
    artifacts.iter().map(|a| a.id.as_str()).collect()
}

/// Every page of `query` from the first, following each page's cursor; checks that every
/// page reports the same total.
fn follow(store: &dyn MetadataStore, mut query: ArtifactQuery) -> Vec<ArtifactRecord> {
    let mut all = Vec::new();
    let mut total = None;
    loop {
        let page = ok(store.query_artifacts(&query), "query_artifacts");
        assert!(
            page.artifacts.len() as u64 <= query.limit,
            "a page holds at most its limit"
        );
        assert!(
            total.is_none_or(|t| t == page.total),
            "every page counts the same total"
        );
        total = Some(page.total);
        all.extend(page.artifacts);
        match page.next {
            Some(next) => query.after = Some(next),
            None => break,
        }
    }
    let total = total.expect("at least one page");
    assert!(total.exact, "a few thousand artifacts are counted exactly");
    assert_eq!(total.count, all.len() as u64, "the total counts every page");
    all
}

fn of_pipeline(history: &History) -> ArtifactQuery {
    let mut query = ArtifactQuery::default();
    query.pipeline = Some(history.pipeline.clone());
    query
}

/// `query_artifacts` pages a pipeline's few thousand artifacts by offset and by cursor, in
/// both orders (ties of `created_at` by id), filters them by name, tag, step, materializer,
/// type and time, counts them, and refuses deep offsets, huge pages and unknown pipelines.
pub fn artifacts_are_queried_in_pages(store: &dyn MetadataStore) {
    let history = seed_history(store);
    let expected = ids(&history.newest_first);
    assert_eq!(expected.len(), 2 * 40 * OUTPUTS + 10 * OUTPUTS);

    let mut query = of_pipeline(&history);
    query.limit = 97;
    let walked = follow(store, query.clone());
    assert_eq!(
        ids(&walked),
        expected,
        "newest first, ties by id, every artifact once"
    );

    query.order = ArtifactOrder::OldestFirst;
    let oldest = follow(store, query.clone());
    let mut reversed = expected.clone();
    reversed.reverse();
    assert_eq!(ids(&oldest), reversed, "oldest first is the reverse");

    let mut by_offset = of_pipeline(&history);
    by_offset.offset = 200;
    by_offset.limit = 50;
    let page = ok(store.query_artifacts(&by_offset), "query_artifacts");
    assert_eq!(
        ids(&page.artifacts),
        expected[200..250].to_vec(),
        "offset 200, limit 50"
    );
    assert_eq!(page.total.count, expected.len() as u64);
    assert_eq!(
        page.next,
        Some(ArtifactCursor::of(&page.artifacts[49])),
        "a full page points past its last artifact"
    );
    by_offset.after = page.next.clone();
    by_offset.offset = 10;
    let after = ok(store.query_artifacts(&by_offset), "query_artifacts");
    assert_eq!(
        ids(&after.artifacts),
        expected[260..310].to_vec(),
        "an offset past the cursor"
    );
    by_offset.after = None;
    by_offset.offset = expected.len() as u64;
    let beyond = ok(store.query_artifacts(&by_offset), "query_artifacts");
    assert!(
        beyond.artifacts.is_empty() && beyond.next.is_none(),
        "past the last page"
    );

    let filtered = |edit: &dyn Fn(&mut ArtifactQuery)| {
        let mut query = of_pipeline(&history);
        query.limit = MAX_LIMIT;
        edit(&mut query);
        follow(store, query)
    };
    let expect = |keep: &dyn Fn(&ArtifactRecord) -> bool| -> Vec<&str> {
        history
            .newest_first
            .iter()
            .filter(|a| keep(a))
            .map(|a| a.id.as_str())
            .collect()
    };
    let train_ids: HashSet<String> = history
        .newest_first
        .iter()
        .filter(|a| a.path.starts_with("train/"))
        .map(|a| a.id.clone())
        .collect();
    assert_eq!(
        ids(&filtered(&|q| q.step = Some("train".to_owned()))),
        expect(&|a| train_ids.contains(&a.id)),
        "by producing step"
    );
    let models = filtered(&|q| q.name = Some(history.name.clone()));
    assert_eq!(
        ids(&models),
        expect(&|a| a.output_name == "model"),
        "by name"
    );
    assert_eq!(models.len(), 40);
    let best = filtered(&|q| {
        q.name = Some(history.name.clone());
        q.tag = Some("best".to_owned());
    });
    assert_eq!(best.len(), 5, "by name and tag: every tenth run's model");
    assert_eq!(
        ids(&filtered(
            &|q| q.materializer = Some("zenml.bytes".to_owned())
        )),
        expect(&|a| a.materializer_id == "zenml.bytes"),
        "by materializer"
    );
    let (from, to) = (history.base + 1_000, history.base + 2_000);
    assert_eq!(
        ids(&filtered(&|q| {
            q.created_after = Some(from);
            q.created_before = Some(to);
        })),
        expect(&|a| a.created_at >= from && a.created_at < to),
        "by a time window: from inclusive, to exclusive"
    );
    assert_eq!(
        filtered(&|q| q.rust_type = Some("no::such::Type".to_owned())).len(),
        0,
        "by type"
    );

    let unfiltered = ok(
        store.query_artifacts(&ArtifactQuery::default()),
        "query_artifacts",
    );
    assert!(
        unfiltered
            .artifacts
            .windows(2)
            .all(|w| (w[0].created_at, &w[0].id) > (w[1].created_at, &w[1].id)),
        "every artifact, newest first"
    );

    let missing = unique("no-such-pipeline");
    let mut unknown = ArtifactQuery::default();
    unknown.pipeline = Some(missing.clone());
    expect_not_found(store.query_artifacts(&unknown), "pipeline", &missing);
    let mut deep = of_pipeline(&history);
    deep.offset = MAX_OFFSET + 1;
    expect_invalid_query(store.query_artifacts(&deep));
    let mut huge = of_pipeline(&history);
    huge.limit = MAX_LIMIT + 1;
    expect_invalid_query(store.query_artifacts(&huge));
}

#[track_caller]
fn expect_invalid_query<T: Debug>(result: Result<T, MetadataStoreError>) {
    match result {
        Err(MetadataStoreError::InvalidQuery { message }) => {
            assert!(!message.is_empty(), "the refusal says why");
        }
        other => panic!("expected InvalidQuery, got {other:?}"),
    }
}

/// `query_runs_after` follows a pipeline's runs page by page in every order, as one large
/// page of `query_runs` lists them, with the total on every page; `query_runs` refuses
/// offsets past the maximum.
pub fn runs_are_followed_by_cursor(store: &dyn MetadataStore) {
    let pipeline = unique("cursor");
    let base = now();
    for i in 0..60 {
        // Pairs of runs that start at the same millisecond: ties are ordered by name.
        let name = format!("{pipeline}-{:02}", (i * 37) % 60);
        ok(
            store.create_run(&new_run(&pipeline, &name, base + i / 2)),
            "create_run",
        );
    }
    for order in [
        RunOrder::NewestFirst,
        RunOrder::OldestFirst,
        RunOrder::NameAscending,
        RunOrder::NameDescending,
    ] {
        let query = RunQuery {
            pipeline: Some(pipeline.clone()),
            order,
            limit: 7,
            ..RunQuery::default()
        };
        let whole = ok(
            store.query_runs(&RunQuery {
                limit: 100,
                ..query.clone()
            }),
            "query_runs",
        );
        let mut page: RunPage = ok(store.query_runs(&query), "query_runs");
        let mut walked = Vec::new();
        loop {
            assert_eq!(page.total, 60, "{order:?}: the total counts every run");
            let last = page.runs.last().map(RunCursor::of);
            walked.extend(page.runs.into_iter().map(|run| run.name));
            let Some(cursor) = last else { break };
            page = ok(store.query_runs_after(&query, &cursor), "query_runs_after");
        }
        let expected: Vec<String> = whole.runs.into_iter().map(|run| run.name).collect();
        assert_eq!(
            walked, expected,
            "{order:?}: the cursor walks the whole order"
        );
    }
    expect_invalid_query(store.query_runs(&RunQuery {
        offset: MAX_OFFSET + 1,
        ..RunQuery::default()
    }));
}

/// `pipeline_metrics` reads the step metadata of a pipeline's newest runs, oldest first,
/// filtered by step and key; a cached step run shows its original's metrics.
pub fn pipeline_metrics_cover_the_newest_runs(store: &dyn MetadataStore) {
    let history = seed_history(store);
    let mut query = MetricQuery::new(history.pipeline.clone());
    query.runs = 10;
    let points = ok(store.pipeline_metrics(&query), "pipeline_metrics");
    let newest: Vec<&String> = history.runs[history.runs.len() - 10..].iter().collect();
    let mut expected_runs = Vec::new();
    for id in &newest {
        expected_runs.push(*id);
        expected_runs.push(*id);
    }
    assert_eq!(
        points.iter().map(|p| &p.run_id).collect::<Vec<_>>(),
        expected_runs,
        "two metrics for each of the 10 newest runs, oldest first"
    );
    assert!(points.iter().all(|p| p.step == "train"));
    assert_eq!(
        points
            .iter()
            .take(2)
            .map(|p| p.key.as_str())
            .collect::<Vec<_>>(),
        ["accuracy", "loss"],
        "by key within a step run"
    );
    // Run 49 is cached from run 48: its accuracy is run 48's.
    let last = &points[points.len() - 2];
    assert_eq!(
        (last.key.as_str(), last.value.as_f64()),
        ("accuracy", Some(0.48))
    );
    assert_eq!(last.run_name, format!("{}-049", history.pipeline));

    query.key = Some("loss".to_owned());
    query.step = Some("train".to_owned());
    query.runs = 50;
    let losses = ok(store.pipeline_metrics(&query), "pipeline_metrics");
    assert_eq!(losses.len(), 50);
    assert!(losses.iter().all(|p| p.key == "loss"));
    assert!(losses.windows(2).all(|w| w[0].started_at < w[1].started_at));
    query.step = Some("prep".to_owned());
    assert!(ok(store.pipeline_metrics(&query), "pipeline_metrics").is_empty());

    let missing = unique("no-such-pipeline");
    expect_not_found(
        store.pipeline_metrics(&MetricQuery::new(missing.clone())),
        "pipeline",
        &missing,
    );
}

/// `step_runs_page`, `artifact_consumers_page` and `cache_entries_page` are slices of
/// `step_runs`, `artifact_consumers` and `cache_entries` with their totals; `step_run_named`
/// finds a step's step run in a run; unknown records are not found.
pub fn step_runs_and_consumers_are_paged(store: &dyn MetadataStore) {
    let pipeline = unique("wide");
    let base = now();
    let run = ok(
        store.create_run(&new_run(&pipeline, &unique("wide"), base)),
        "create_run",
    );
    let mut source = step_write(&run.id, "source", base + 1);
    let data = artifact(&source.step, "data", base + 1);
    source.new_outputs.push(data.clone());
    ok(store.record_step_run(&source), "record_step_run");
    for i in 0..30 {
        let mut write = step_write(&run.id, &format!("map-{i:02}"), base + 2 + i);
        write.inputs.push(("data".to_owned(), data.id.clone()));
        write.step.cache_key = Some(unique("key"));
        ok(store.record_step_run(&write), "record_step_run");
    }
    let steps = ok(store.step_runs(&run.id), "step_runs");
    let page = ok(store.step_runs_page(&run.id, 5, 10), "step_runs_page");
    assert_eq!(page.total, Total::exact(31));
    assert_eq!(page.items, steps[5..15].to_vec());
    for step in [&steps[0], &steps[17], &steps[30]] {
        let named = ok(store.step_run_named(&run.id, &step.name), "step_run_named");
        assert_eq!(
            named.as_ref(),
            Some(step),
            "step_run_named finds `{}`",
            step.name
        );
    }
    assert_eq!(
        ok(
            store.step_run_named(&run.id, "no-such-step"),
            "step_run_named"
        ),
        None,
        "a step without a step run in the run"
    );
    let missing = unique("no-such-run");
    expect_not_found(store.step_run_named(&missing, "source"), "run", &missing);
    let consumers = ok(store.artifact_consumers(&data.id), "artifact_consumers");
    let page = ok(
        store.artifact_consumers_page(&data.id, 20, 50),
        "artifact_consumers_page",
    );
    assert_eq!(page.total, Total::exact(30));
    assert_eq!(page.items, consumers[20..].to_vec());

    let filter = CacheFilter {
        pipeline: Some(pipeline.clone()),
        step: None,
    };
    let entries = ok(store.cache_entries(&filter), "cache_entries");
    assert_eq!(entries.len(), 30, "every keyed step run is a cache entry");
    let page = ok(
        store.cache_entries_page(&filter, None, 5, 10),
        "cache_entries_page",
    );
    assert_eq!(page.total, Total::exact(30));
    assert_eq!(page.items, entries[5..15].to_vec());
    let cursor = StepRunCursor::of(&page.items[9].step_run);
    let after = ok(
        store.cache_entries_page(&filter, Some(&cursor), 0, 100),
        "cache_entries_page",
    );
    assert_eq!(
        after.total,
        Total::exact(30),
        "the total ignores the cursor"
    );
    assert_eq!(
        after.items,
        entries[15..].to_vec(),
        "the entries after the cursor"
    );

    let missing = uuid::Uuid::new_v4().to_string();
    expect_not_found(store.step_runs_page(&missing, 0, 10), "run", &missing);
    expect_not_found(
        store.artifact_consumers_page(&missing, 0, 10),
        "artifact",
        &missing,
    );
    expect_invalid_query(store.step_runs_page(&run.id, MAX_OFFSET + 1, 10));
}
