//! The iris example, run as a user runs it: a real classifier trained on a table artifact,
//! a second run with other hyperparameters that reuses the cached data steps and records
//! version 2 of the model, and the artifact commands on what it recorded (names, versions,
//! tags, schemas, statistics and their comparison).

use std::path::Path;

use serde_json::Value;
use zenml_e2e::{Zenml, strings};

fn deeper_toml(zen: &Zenml) {
    let source = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the e2e package sits in the workspace root")
        .join("examples/iris/deeper.toml");
    let text = std::fs::read_to_string(&source)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", source.display()));
    zen.write("deeper.toml", &text);
}

/// The id of the artifact that `output` of `step` of `run` produced.
fn output_id(zen: &Zenml, run: &str, step: &str, output: &str) -> String {
    let described = zen.json(&["step", "describe", run, step]);
    described["outputs"]
        .as_array()
        .expect("outputs")
        .iter()
        .find(|o| o["name"] == output)
        .and_then(|o| o["artifact"]["id"].as_str())
        .unwrap_or_else(|| panic!("no output `{output}` in {described:#}"))
        .to_owned()
}

#[test]
fn a_second_run_with_other_hyperparameters_caches_the_data_and_versions_the_model() {
    let zen = Zenml::init();
    deeper_toml(&zen);
    let first = zen.example("iris", &[]).ok();
    first.stdout_has(&["of pipeline `iris` completed: 4 steps."]);
    let first = first.run_name();
    let accuracy = zen.json(&["step", "describe", &first, "evaluate"])["metadata"]["accuracy"]
        .as_f64()
        .expect("`evaluate` logs the accuracy");
    assert!(
        (0.85..=1.0).contains(&accuracy),
        "a depth-2 tree classifies iris well: {accuracy}"
    );

    let second = zen.example("iris", &["--config", "deeper.toml"]).ok();
    second.stdout_has(&["4 steps, 2 cached"]);
    let second = second.run_name();
    let train = zen.json(&["step", "describe", &second, "train"]);
    assert_eq!(train["step"]["parameters"]["max_depth"], 4, "{train:#}");

    // Two versions of the model, one of the data set: the cached `load` made no new one.
    let versions = zen.json(&["artifact", "versions", "iris-classifier"])["items"].clone();
    assert_eq!(versions.as_array().map(Vec::len), Some(2), "{versions:#}");
    assert_eq!(versions[0]["version"], 1);
    assert_eq!(versions[1]["version"], 2);
    assert_eq!(
        versions[1]["id"],
        output_id(&zen, &second, "train", "model")
    );
    assert_eq!(versions[0]["tags"], serde_json::json!(["decision-tree"]));
    let data = zen.json(&["artifact", "versions", "iris-dataset"])["items"].clone();
    assert_eq!(data.as_array().map(Vec::len), Some(1), "{data:#}");
    zen.ok(&["artifact", "list", "--name", "iris-classifier"])
        .stdout_has(&["iris-classifier:1", "iris-classifier:2", "decision-tree"]);

    // By name, by name:version; tags added and removed.
    let latest = zen.json(&["artifact", "describe", "iris-classifier"]);
    assert_eq!(latest["artifact"]["version"], 2);
    let one = zen.json(&["artifact", "describe", "iris-classifier:1"]);
    assert_eq!(one["artifact"]["id"], versions[0]["id"]);
    zen.ok(&["artifact", "tag", "iris-classifier:1", "production"])
        .stdout_has(&["Tagged artifact", "`production`"]);
    zen.ok(&["artifact", "tag", "iris-classifier:1", "production"])
        .stdout_has(&["already has the tag"]);
    let tagged = zen.json(&["artifact", "list", "--tag", "production"])["items"].clone();
    assert_eq!(
        strings(&tagged, Some("id")),
        [versions[0]["id"].as_str().unwrap_or_default()]
    );
    zen.ok(&["artifact", "untag", "iris-classifier:1", "production"])
        .stdout_has(&["Removed the tag"]);
    assert_eq!(
        zen.json(&["artifact", "list", "--tag", "production"])["items"].clone(),
        serde_json::json!([])
    );
    zen.fails(&["artifact", "versions", "no-such-model"])
        .stderr_has(&["artifact name `no-such-model` not found", "iris-classifier"]);
    zen.fails(&["artifact", "describe", "iris-classifier:9"])
        .stderr_has(&["artifact version `iris-classifier:9` not found"]);
}

#[test]
fn tables_have_schemas_and_statistics_that_compare() {
    let zen = Zenml::init();
    let run = zen.example("iris", &[]).ok().run_name();

    let schema = zen.json(&["artifact", "schema", "iris-dataset"]);
    assert_eq!(
        (schema["kind"].as_str(), schema["rows"].as_u64()),
        (Some("table"), Some(150))
    );
    assert_eq!(
        strings(&schema["columns"], Some("name")),
        [
            "sepal_length",
            "sepal_width",
            "petal_length",
            "petal_width",
            "species"
        ]
    );
    zen.ok(&["artifact", "schema", "iris-dataset"])
        .stdout_has(&["Table of 150 rows, 5 columns", "Dictionary(Int32, Utf8)"]);

    let statistics = zen.json(&["artifact", "statistics", "iris-dataset"]);
    let column = |name: &str| -> Value {
        statistics["columns"]
            .as_array()
            .and_then(|c| c.iter().find(|c| c["name"] == name))
            .cloned()
            .unwrap_or_else(|| panic!("no column {name}"))
    };
    let sepal = column("sepal_length");
    // Fisher's iris: sepal length from 4.3 to 7.9 cm, mean 5.843.
    assert_eq!(sepal["numeric"]["min"], 4.3);
    assert_eq!(sepal["numeric"]["max"], 7.9);
    let mean = sepal["numeric"]["mean"].as_f64().unwrap_or_default();
    assert!((mean - 5.8433).abs() < 1e-3, "{mean}");
    let species = column("species");
    assert_eq!(species["distinct"]["value"], 3);
    assert_eq!(species["top_values"]["values"][0]["count"], 50);
    zen.ok(&["artifact", "statistics", "iris-dataset"])
        .stdout_has(&["150 rows", "sepal_length", "setosa (50)"]);

    let train = output_id(&zen, &run, "split", "train");
    let test = output_id(&zen, &run, "split", "test");
    let compared = zen.json(&["artifact", "statistics", &train, "--compare", &test]);
    assert_eq!(compared["first"]["statistics"]["rows"], 105);
    assert_eq!(compared["second"]["statistics"]["rows"], 45);
    let drift = compared["drift"].as_array().expect("a drift per column");
    assert_eq!(drift.len(), 5);
    assert!(drift.iter().all(|d| {
        d["distance"]
            .as_f64()
            .is_some_and(|x| (0.0..=1.0).contains(&x))
    }));
    zen.ok(&[
        "artifact",
        "statistics",
        &train,
        "--compare",
        &test,
        "--threshold",
        "0",
    ])
    .stdout_has(&["105 rows", "45 rows", "◀ moved", "5 of 5 columns moved"]);
    zen.ok(&["artifact", "statistics", &train, "--compare", &train])
        .stdout_has(&["no column moved by 0.1 or more"]);

    // A model has neither a schema nor statistics.
    zen.fails(&["artifact", "schema", "iris-classifier"])
        .stderr_has(&["has no schema: schemas are recorded for tables and arrays"]);
    zen.fails(&["artifact", "statistics", "iris-classifier"])
        .stderr_has(&["has no statistics"]);
}
