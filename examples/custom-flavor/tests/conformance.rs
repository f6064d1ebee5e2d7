//! The testkit's artifact store suite: the whole `ArtifactStore` contract, on a mirror store.

// Helpers outside `#[test]` functions unwrap too: a panic is a test failure.
#![allow(clippy::unwrap_used)]

use acme_zenml_flavors::MirrorArtifactStore;

#[test]
fn the_artifact_store_suite_passes() {
    let dir = tempfile::tempdir().unwrap();
    let store = MirrorArtifactStore::open(
        &dir.path().join("primary"),
        &dir.path().join("mirror"),
        true,
    )
    .unwrap();
    let report = zenml_testkit::artifact_store::run_all(&store);
    report.assert_passed(); // panics listing every failed check
    assert!(report.skips().is_empty(), "skipped: {:?}", report.skips());
}
