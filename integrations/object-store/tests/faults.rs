//! Faults between the `s3` flavor and a real S3 server (moto), injected by a TCP proxy: the
//! server goes away in the middle of a multipart upload, refuses connections, or answers
//! errors. A failed write leaves nothing under its key, the error names the store and the
//! cause, transient errors are retried, and the next write succeeds once the server is back.

// A panic is a test failure.
#![allow(clippy::unwrap_used)]

use std::io::Read;

use zenml_artifact_store::{
    ArtifactStore, ArtifactStoreError, ArtifactStoreFlavor, ObjectPath, PutMode,
};
use zenml_core::{ComponentContext, SecretString};
use zenml_object_store::S3ArtifactStoreConfig;
use zenml_testkit::fault_proxy::{Fault, FaultProxy};
use zenml_testkit::services::{S3, fresh_prefix};

/// The flavor on `endpoint` below `prefix`, with small parts and few, fast retries.
fn store(endpoint: &str, prefix: &str, max_retries: usize) -> Box<dyn ArtifactStore> {
    let mut config: S3ArtifactStoreConfig = toml::from_str(&format!(
        r#"path = "s3://{}/{prefix}"
        endpoint = "{endpoint}"
        allow_http = true
        region = "us-east-1"
        part_size_mib = 5
        max_retries = {max_retries}
        retry_timeout_secs = 10
        retry_backoff_ms = 10
        connect_timeout_secs = 2
        request_timeout_secs = 10"#,
        S3.bucket
    ))
    .unwrap();
    config.access_key_id = Some(SecretString::new("testing"));
    config.secret_access_key = Some(SecretString::new("testing"));
    let dir = tempfile::tempdir().unwrap();
    config.open(&ComponentContext::new(dir.path())).unwrap()
}

/// `len` bytes that differ from block to block.
fn payload(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| ((i >> 10) as u8).wrapping_mul(31) ^ (i as u8))
        .collect()
}

fn key(name: &str) -> ObjectPath {
    ObjectPath::new(name).unwrap()
}

#[test]
fn a_server_that_goes_away_mid_upload_leaves_no_object_and_the_next_upload_works() {
    if !S3.available_for("a_server_that_goes_away_mid_upload_leaves_no_object") {
        return;
    }
    let proxy = FaultProxy::start(S3.address).unwrap();
    let prefix = fresh_prefix("faults-cut");
    let through_proxy = store(&proxy.url(), &prefix, 2);
    let direct = store(S3.url, &prefix, 2);
    let data = payload(24 << 20);
    for mode in [PutMode::Create, PutMode::Overwrite] {
        // About two of five parts arrive, then the server is gone.
        proxy.set(Fault::CutAfter(11 << 20));
        let err = through_proxy
            .put_stream(&key("big.bin"), &mut data.as_slice(), mode)
            .unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, ArtifactStoreError::Backend { .. }), "{err:?}");
        assert!(
            text.starts_with("s3 artifact store: ")
                && text.contains(&format!("s3://zenml-test/{prefix}")),
            "the error names the store: {text}"
        );
        // Nothing under the key, nor anything else the client can see.
        assert!(!direct.exists(&key("big.bin")).unwrap(), "{mode:?}");
        assert!(direct.list(None).unwrap().is_empty(), "{mode:?}");
    }
    // The server is back: the same upload succeeds and reads back whole.
    proxy.set(Fault::None);
    through_proxy
        .put_stream(&key("big.bin"), &mut data.as_slice(), PutMode::Create)
        .unwrap();
    assert_eq!(direct.get(&key("big.bin")).unwrap(), data);
    // A download cut part way (the server goes away after 6 MiB of answers) is an error,
    // never a short read.
    proxy.set(Fault::CutResponsesAfter(6 << 20));
    let mut partial = Vec::new();
    let read = through_proxy
        .get_opts(&key("big.bin"), Default::default())
        .and_then(|mut result| {
            result
                .reader
                .read_to_end(&mut partial)
                .map_err(|source| ArtifactStoreError::Read {
                    path: "big.bin".to_owned(),
                    source,
                })
        });
    assert!(
        read.is_err() && partial.len() < data.len(),
        "a download through a dying server read {} bytes without an error",
        partial.len()
    );
    proxy.set(Fault::None);
    direct.delete_prefix(&key("big.bin")).unwrap();
    direct.delete(&key("big.bin")).unwrap();
}

#[test]
fn transient_errors_are_retried_and_lasting_ones_are_reported() {
    if !S3.available_for("transient_errors_are_retried_and_lasting_ones_are_reported") {
        return;
    }
    let proxy = FaultProxy::start(S3.address).unwrap();
    let prefix = fresh_prefix("faults-retry");
    let through_proxy = store(&proxy.url(), &prefix, 5);
    let direct = store(S3.url, &prefix, 2);

    // Two 503s, then the server answers: the retries hide them.
    proxy.set(Fault::Unavailable(2));
    through_proxy.put(&key("small"), b"after two 503s").unwrap();
    assert_eq!(
        proxy.answered_errors(),
        2,
        "both errors were met and retried"
    );
    assert_eq!(direct.get(&key("small")).unwrap(), b"after two 503s");

    // A server that keeps failing: the write fails after the retries, naming the cause,
    // and the earlier object is untouched.
    proxy.set(Fault::InternalError);
    let err = through_proxy
        .put(&key("small"), b"never written")
        .unwrap_err();
    assert!(err.to_string().contains("500"), "{err}");
    assert!(
        proxy.answered_errors() > 1,
        "the write was retried before it failed"
    );
    assert_eq!(direct.get(&key("small")).unwrap(), b"after two 503s");

    // Connections refused: a clear error, then success once the server is back.
    proxy.set(Fault::Refuse);
    assert!(through_proxy.put(&key("other"), b"x").is_err());
    assert!(!direct.exists(&key("other")).unwrap());
    proxy.set(Fault::None);
    through_proxy.put(&key("other"), b"x").unwrap();
    direct.delete(&key("small")).unwrap();
    direct.delete(&key("other")).unwrap();
}
