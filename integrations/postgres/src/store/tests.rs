//! Tests of the store's identity and retry rules, without a server.

use super::*;

fn config(json: &str) -> PostgresMetadataStoreConfig {
    serde_json::from_str(json).unwrap()
}

#[test]
fn uris_name_the_server_and_schema_without_the_password() {
    let plain = config(
        r#"{"host": "db.example.com", "port": 5433, "username": "zenml", "database": "meta",
            "password": "hunter2"}"#,
    );
    assert_eq!(
        postgres_uri(&plain),
        "postgres://zenml@db.example.com:5433/meta"
    );
    let schema = config(r#"{"host": "::1", "database": "meta", "schema": "Team_A"}"#);
    assert_eq!(
        postgres_uri(&schema),
        "postgres://postgres@[::1]:5432/meta?options=-csearch_path%3DTeam_A"
    );
}

#[test]
fn other_errors_are_not_transient() {
    let errors = [
        MetadataStoreError::Config("bad".to_owned()),
        MetadataStoreError::Connect {
            uri: "postgres://postgres@127.0.0.1:5432/zenml".to_owned(),
            source: "the server did not answer within 5 seconds".into(),
        },
    ];
    for error in &errors {
        assert_eq!(classify(error), server::Transient::No, "{error:?}");
        assert!(!errors::is_unique_violation(error));
    }
}

#[test]
fn async_callers_are_refused() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let err = runtime.block_on(async {
        PostgresMetadataStore::open(
            &config(r#"{"host": "127.0.0.1", "database": "zenml"}"#),
            &ComponentContext::new("/"),
        )
        .unwrap_err()
    });
    assert!(err.to_string().contains("spawn_blocking"), "{err}");
}
