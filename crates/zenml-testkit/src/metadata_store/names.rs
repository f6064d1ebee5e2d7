//! Checks of named, versioned and tagged artifacts.

use zenml_metadata_store::NewArtifactLabels;

use super::helpers::*;
use super::*;

/// Records a step run of a fresh run whose one new output is labelled `name` (if any) and
/// `tags`; returns the output's artifact.
fn record_labelled(
    store: &dyn MetadataStore,
    pipeline: &str,
    name: Option<&str>,
    tags: &[&str],
) -> ArtifactRecord {
    let run = ok(
        store.create_run(&new_run(pipeline, &unique("labelled-run"), now())),
        "create_run",
    );
    let mut write = step_write(&run.id, "train", now());
    let model = artifact(&write.step, "model", now());
    write.new_outputs.push(model.clone());
    write.artifact_labels.push(NewArtifactLabels {
        artifact_id: model.id.clone(),
        name: name.map(str::to_owned),
        tags: tags.iter().map(|t| (*t).to_owned()).collect(),
    });
    ok(store.record_step_run(&write), "record_step_run with labels");
    model
}

/// Each new artifact of a name is its next version (1, 2, 3); the latest and any version
/// are found by name; tags are recorded sorted and once, added and removed later, and read
/// in bulk; unknown names, versions and artifacts are not found; labels of an artifact that
/// is not a new output are refused with nothing recorded.
pub fn artifacts_are_named_versioned_and_tagged(store: &dyn MetadataStore) {
    let pipeline = unique("named");
    let name = unique("classifier");
    let first = record_labelled(store, &pipeline, Some(&name), &["iris", "baseline", "iris"]);
    let second = record_labelled(store, &pipeline, Some(&name), &[]);
    let third = record_labelled(store, &pipeline, Some(&name), &["candidate"]);
    let unnamed = record_labelled(store, &pipeline, None, &["scratch"]);

    let versions = ok(store.artifact_versions(&name), "artifact_versions");
    let numbered: Vec<(u32, &str)> = versions
        .iter()
        .map(|v| (v.version, v.artifact.id.as_str()))
        .collect();
    assert_eq!(
        numbered,
        [
            (1, first.id.as_str()),
            (2, second.id.as_str()),
            (3, third.id.as_str())
        ],
        "versions of `{name}` in the order they were recorded"
    );
    assert_eq!(
        versions[0].tags,
        ["baseline", "iris"],
        "tags sorted, duplicates once"
    );
    assert_eq!(
        versions[0].artifact, first,
        "the version's artifact as recorded"
    );

    let latest = ok(
        store.artifact_version(&name, None),
        "artifact_version latest",
    );
    assert_eq!(
        (latest.version, latest.artifact.id.as_str()),
        (3, third.id.as_str())
    );
    let second_found = ok(store.artifact_version(&name, Some(2)), "artifact_version 2");
    assert_eq!(second_found.artifact.id, second.id);
    expect_not_found(
        store.artifact_version(&name, Some(4)),
        "artifact version",
        &format!("{name}:4"),
    );
    let unknown = unique("no-such-name");
    expect_not_found(
        store.artifact_version(&unknown, None),
        "artifact name",
        &unknown,
    );
    expect_not_found(store.artifact_versions(&unknown), "artifact name", &unknown);

    let listed = ok(store.artifact_names(), "artifact_names");
    let summary = listed
        .iter()
        .find(|n| n.name == name)
        .unwrap_or_else(|| panic!("`{name}` is not listed: {listed:?}"));
    assert_eq!((summary.latest_version, summary.versions), (3, 3));
    let names: Vec<&str> = listed.iter().map(|n| n.name.as_str()).collect();
    let mut sorted = names.clone();
    sorted.sort_unstable();
    assert_eq!(names, sorted, "names are listed sorted");

    assert!(ok(
        store.tag_artifact(&second.id, "production"),
        "tag_artifact"
    ));
    assert!(!ok(
        store.tag_artifact(&second.id, "production"),
        "tag_artifact again"
    ));
    assert!(ok(
        store.untag_artifact(&first.id, "iris"),
        "untag_artifact"
    ));
    assert!(!ok(
        store.untag_artifact(&first.id, "iris"),
        "untag_artifact again"
    ));
    let missing = uuid::Uuid::new_v4().to_string();
    expect_not_found(store.tag_artifact(&missing, "x"), "artifact", &missing);
    expect_not_found(store.untag_artifact(&missing, "x"), "artifact", &missing);
    assert!(
        matches!(
            store.tag_artifact(&second.id, ""),
            Err(MetadataStoreError::InvalidRecord { .. })
        ),
        "an empty tag is refused"
    );

    let ids = [
        first.id.as_str(),
        second.id.as_str(),
        unnamed.id.as_str(),
        missing.as_str(),
    ];
    let labels = ok(store.artifact_labels(&ids), "artifact_labels");
    let by_id = |id: &str| {
        labels
            .iter()
            .find(|(found, _)| found == id)
            .map(|(_, l)| l.clone())
    };
    let first_labels = by_id(&first.id).expect("the first version has labels");
    assert_eq!(
        (
            first_labels.name.as_deref(),
            first_labels.version,
            first_labels.tags
        ),
        (Some(name.as_str()), Some(1), vec!["baseline".to_owned()])
    );
    assert_eq!(
        by_id(&second.id).map(|l| l.tags),
        Some(vec!["production".to_owned()])
    );
    let scratch = by_id(&unnamed.id).expect("a tagged artifact without a name has labels");
    assert_eq!((scratch.name, scratch.version), (None, None));
    assert!(
        by_id(&missing).is_none(),
        "an unknown artifact has no labels"
    );

    // Labels of an artifact the step run does not create: refused, nothing recorded.
    let run = ok(
        store.create_run(&new_run(&pipeline, &unique("bad-labels"), now())),
        "create_run",
    );
    let mut write = step_write(&run.id, "train", now());
    let output = artifact(&write.step, "model", now());
    write.new_outputs.push(output.clone());
    write.artifact_labels.push(NewArtifactLabels {
        artifact_id: first.id.clone(),
        name: Some(name.clone()),
        tags: Vec::new(),
    });
    assert!(
        matches!(
            store.record_step_run(&write),
            Err(MetadataStoreError::InvalidRecord { .. })
        ),
        "labels of an artifact that is not a new output are refused"
    );
    super::helpers::assert_nothing_of(store, &run.id, &write, &output);
    assert_eq!(
        ok(store.artifact_versions(&name), "artifact_versions").len(),
        3
    );
}

/// `threads` writers, each recording `per_thread` step runs whose output is a new version
/// of one name, at once: the versions are exactly 1 to `threads × per_thread`, each once.
pub fn concurrent_writers_number_versions_uniquely(
    open: &(dyn Fn() -> Arc<dyn MetadataStore> + Sync),
    threads: usize,
    per_thread: usize,
) {
    let pipeline = unique("versions");
    let name = unique("concurrent-model");
    let start = Barrier::new(threads);
    std::thread::scope(|scope| {
        for _ in 0..threads {
            let (pipeline, name, start) = (&pipeline, &name, &start);
            scope.spawn(move || {
                let store = open();
                start.wait();
                for _ in 0..per_thread {
                    record_labelled(store.as_ref(), pipeline, Some(name), &["concurrent"]);
                }
            });
        }
    });
    let store = open();
    let versions = ok(store.artifact_versions(&name), "artifact_versions");
    let numbers: Vec<u32> = versions.iter().map(|v| v.version).collect();
    let expected: Vec<u32> =
        (1..=u32::try_from(threads * per_thread).unwrap_or(u32::MAX)).collect();
    assert_eq!(
        numbers, expected,
        "versions of `{name}` from concurrent writers"
    );
    let mut artifacts: Vec<&str> = versions.iter().map(|v| v.artifact.id.as_str()).collect();
    artifacts.sort_unstable();
    artifacts.dedup();
    assert_eq!(artifacts.len(), versions.len(), "one artifact per version");
}
