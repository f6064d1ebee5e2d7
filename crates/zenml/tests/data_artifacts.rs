//! Arrays and tables as step outputs: their default materializers, the schemas and
//! statistics recorded with them (or switched off for one output), named versions, and
//! loading them back through the Client.

// Test helpers outside `#[test]` functions may unwrap: a failure is a test failure.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use zenml::metadata_store::StepStatus;
use zenml::prelude::*;
use zenml::stack::Repository;
use zenml_materializer::arrow_array::{Float64Array, RecordBatch, StringArray};
use zenml_materializer::arrow_schema::{DataType, Field, Schema};
use zenml_materializer::ndarray::{Array2, array};
use zenml_materializer::{DataKind, SCHEMA_KEY, STATISTICS_KEY};

#[step(outputs(features(statistics = false)))]
fn features(scale: Param<f64>) -> Array2<f64> {
    array![[1.0, 2.0], [3.0, f64::NAN]] * *scale
}

#[step(outputs(table(name = "measurements", tags("raw"))))]
fn measurements() -> RecordBatch {
    table_value()
}

#[step]
fn total(features: Array2<f64>, table: RecordBatch) -> f64 {
    let values = table
        .column(0)
        .as_any()
        .downcast_ref::<Float64Array>()
        .unwrap();
    features.iter().filter(|v| v.is_finite()).sum::<f64>() + values.iter().flatten().sum::<f64>()
}

#[pipeline]
fn data() {
    let f = features(1.0);
    let t = measurements();
    total(f, t);
}

#[test]
fn arrays_and_tables_flow_between_steps_with_their_descriptions() {
    let dir = tempfile::tempdir().unwrap();
    let repo = Repository::init(dir.path()).unwrap();
    let options = RunOptions {
        repository: Some(dir.path().to_path_buf()),
        quiet: true,
        ..RunOptions::default()
    };
    let outcome = data().run(&options).unwrap();
    let client = Client::open(&repo, None).unwrap();
    let run = client.run(&outcome.run.name).unwrap();
    assert_eq!(
        client
            .load::<f64>(
                &run.step("total")
                    .unwrap()
                    .output_artifact("output")
                    .unwrap()
            )
            .unwrap(),
        5.5
    );

    // The array: loaded back exactly by its default materializer; a schema, no statistics.
    let array = run
        .step("features")
        .unwrap()
        .output_artifact("features")
        .unwrap();
    assert_eq!(array.materializer_id, "zenml.npy");
    let view = client.artifact(&array.id).unwrap();
    let loaded: Array2<f64> = view.load().unwrap();
    assert_eq!(loaded.shape(), [2, 2]);
    assert!(loaded[[1, 1]].is_nan() && loaded[[1, 0]] == 3.0);
    let schema = view.schema().unwrap().expect("arrays have a schema");
    assert_eq!(
        (schema.kind, schema.shape.clone()),
        (DataKind::Array, Some(vec![2, 2]))
    );
    assert_eq!(
        view.statistics().unwrap(),
        None,
        "switched off for this output"
    );
    assert_eq!(view.name(), None);

    // The table: a named version with its tag, schema and statistics.
    let table = client.artifact("measurements").unwrap();
    assert_eq!(
        (table.name(), table.version_number()),
        (Some("measurements"), Some(1))
    );
    assert_eq!(table.tags(), ["raw"]);
    assert_eq!(table.materializer_id, "zenml.parquet");
    let statistics = table.statistics().unwrap().expect("tables have statistics");
    assert_eq!(statistics.rows, 3);
    assert_eq!(
        (statistics.columns[0].count, statistics.columns[0].nulls),
        (2, 1)
    );
    let loaded: RecordBatch = table.latest().unwrap().load().unwrap();
    assert_eq!(loaded, table_value());
    let metadata = client
        .stack()
        .metadata_store
        .metadata(&zenml::metadata_store::Resource::Artifact(table.id.clone()))
        .unwrap();
    let keys: Vec<&str> = metadata.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, [SCHEMA_KEY, STATISTICS_KEY]);

    // A cached rerun makes no new version; a changed one does not either for the table,
    // whose step did not change.
    let again = data().run(&options).unwrap();
    assert!(
        again.steps.iter().all(|s| s.status == StepStatus::Cached),
        "{:?}",
        again.steps
    );
    assert_eq!(client.artifact_versions("measurements").unwrap().len(), 1);
    assert!(table.version(2).is_err());
}

/// Three rows: a nullable number and a label.
fn table_value() -> RecordBatch {
    let schema = Schema::new(vec![
        Field::new("value", DataType::Float64, true),
        Field::new("label", DataType::Utf8, false),
    ]);
    RecordBatch::try_new(
        Arc::new(schema),
        vec![
            Arc::new(Float64Array::from(vec![Some(1.5), None, Some(-2.0)])),
            Arc::new(StringArray::from(vec!["a", "b", "a"])),
        ],
    )
    .unwrap()
}
