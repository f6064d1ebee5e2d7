//! The artifact store suite on every bucket flavor, against the real local test servers that
//! `.ci/services` starts (moto for S3, Azurite for Azure, tools/gcs-emulator for GCS).

// A panic is a test failure.
#![allow(clippy::unwrap_used)]

use zenml_artifact_store::{ArtifactStore, ArtifactStoreFlavor};
use zenml_core::{ComponentContext, SecretString, ValidateConfig};
use zenml_object_store::{AzureArtifactStoreConfig, GcsArtifactStoreConfig, S3ArtifactStoreConfig};
use zenml_testkit::services::{self, AZURITE, GCS, S3};

fn open(config: &dyn ArtifactStoreFlavor) -> Box<dyn ArtifactStore> {
    let dir = tempfile::tempdir().unwrap();
    config.open(&ComponentContext::new(dir.path())).unwrap()
}

fn s3_config(prefix: &str) -> S3ArtifactStoreConfig {
    let mut config: S3ArtifactStoreConfig = toml::from_str(&format!(
        r#"path = "s3://{}/{prefix}"
        endpoint = "{}"
        allow_http = true
        region = "us-east-1"
        max_retries = 2
        retry_timeout_secs = 5"#,
        S3.bucket, S3.url
    ))
    .unwrap();
    config.access_key_id = Some(SecretString::new("testing"));
    config.secret_access_key = Some(SecretString::new("testing"));
    config
}

fn assert_suite_passes(store: &dyn ArtifactStore) {
    let report = zenml_testkit::artifact_store::run_all(store);
    report.assert_passed();
    assert!(report.skips().is_empty(), "skipped: {:?}", report.skips());
    // Only the checks of the local-files capability and of links planted in a folder do not
    // apply: a bucket has neither.
    let not_applicable: Vec<&str> = report.not_applicable().iter().map(|(_, c, _)| *c).collect();
    assert_eq!(
        not_applicable,
        [
            "links_inside_the_store_are_not_followed",
            "put_file_moving_publishes_the_file",
            "local_path_points_at_the_object"
        ]
    );
}

#[test]
fn the_s3_flavor_passes_the_artifact_store_suite() {
    if !S3.available_for("the_s3_flavor_passes_the_artifact_store_suite") {
        return;
    }
    let config = s3_config(&services::fresh_prefix("suite"));
    config.validate().unwrap();
    let store = open(&config);
    assert!(
        store.uri().starts_with("s3://zenml-test/suite-"),
        "{}",
        store.uri()
    );
    assert_suite_passes(store.as_ref());
}

#[test]
fn the_azure_flavor_passes_the_artifact_store_suite() {
    if !AZURITE.available_for("the_azure_flavor_passes_the_artifact_store_suite") {
        return;
    }
    let config: AzureArtifactStoreConfig = toml::from_str(&format!(
        r#"path = "az://{}/{}"
        use_emulator = true
        max_retries = 2
        retry_timeout_secs = 5"#,
        AZURITE.bucket,
        services::fresh_prefix("suite")
    ))
    .unwrap();
    assert_suite_passes(open(&config).as_ref());
}

#[test]
fn the_gcs_flavor_passes_the_artifact_store_suite() {
    if !GCS.available_for("the_gcs_flavor_passes_the_artifact_store_suite") {
        return;
    }
    let config: GcsArtifactStoreConfig = toml::from_str(&format!(
        r#"path = "gs://{}/{}"
        base_url = "{}"
        allow_http = true
        anonymous = true
        max_retries = 2
        retry_timeout_secs = 5"#,
        GCS.bucket,
        services::fresh_prefix("suite"),
        GCS.url
    ))
    .unwrap();
    assert_suite_passes(open(&config).as_ref());
}
