//! The `local` flavor against the artifact store suite of zenml-testkit.

use zenml_artifact_store::{ArtifactStoreFlavor, LocalArtifactStore, LocalArtifactStoreConfig};
use zenml_core::ComponentContext;

#[test]
fn the_local_store_passes_the_testkit_suite() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalArtifactStore::open(&dir.path().join("artifacts"), true).unwrap();
    let report = zenml_testkit::artifact_store::run_all(&store);
    report.assert_passed();
    assert!(report.skips().is_empty(), "{:?}", report.skips());
}

#[test]
fn the_local_store_opened_from_its_config_without_sync_passes_too() {
    let dir = tempfile::tempdir().unwrap();
    let config = LocalArtifactStoreConfig {
        path: "artifacts".into(),
        sync: false,
    };
    let store = config.open(&ComponentContext::new(dir.path())).unwrap();
    zenml_testkit::artifact_store::run_all(store.as_ref()).assert_passed();
}
