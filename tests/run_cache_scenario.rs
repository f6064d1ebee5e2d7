//! The scenario of the original docs, end to end: run pipeline A, copy it to B with
//! `zenml pipeline copy`, change only the trainer's parameters, run B: every step before
//! the trainer is a cache hit, the trainer and the evaluator run. And a run's exported
//! configuration repeats it fully cached.

use serde_json::Value;
use zenml_e2e::Zenml;

/// Status and `original_step_run_id` of every step of `run`, by step name.
fn steps(zen: &Zenml, run: &str) -> Vec<(String, String, Value)> {
    let described = zen.json(&["run", "describe", run]);
    described["steps"]
        .as_array()
        .expect("an array of steps")
        .iter()
        .map(|s| {
            (
                s["step"]["name"].as_str().unwrap_or_default().to_owned(),
                s["step"]["status"].as_str().unwrap_or_default().to_owned(),
                s["step"]["original_step_run_id"].clone(),
            )
        })
        .collect()
}

fn status_of<'a>(steps: &'a [(String, String, Value)], name: &str) -> &'a str {
    steps
        .iter()
        .find(|(n, _, _)| n == name)
        .map(|(_, s, _)| s.as_str())
        .unwrap_or_else(|| panic!("no step {name} in {steps:?}"))
}

#[test]
fn copying_a_pipeline_and_changing_the_trainer_reuses_everything_before_it() {
    let zen = Zenml::init();
    let a = zen.example("training", &["--run-name", "a-1"]).ok();
    assert!(
        a.stdout.contains("pipeline `training` completed: 4 steps."),
        "{a}"
    );
    let a_steps = steps(&zen, "a-1");

    // Copy A to B: a configuration file, and nothing recorded.
    zen.ok(&["pipeline", "copy", "training", "training-b"])
        .stdout_has(&["training-b.toml"]);
    let text = zen.read("training-b.toml");
    assert!(text.contains("pipeline = \"training-b\""), "{text}");
    let mut config: toml::Table = toml::from_str(&text).expect("the copy is TOML");
    let trainer = config["steps"]["trainer"]["parameters"]
        .as_table()
        .expect("the trainer's parameters are copied")
        .clone();
    assert_eq!(trainer["learning_rate"].as_float(), Some(0.5));
    // Change only the trainer's parameters.
    config["steps"]
        .as_table_mut()
        .and_then(|s| s.get_mut("trainer"))
        .and_then(|t| t.get_mut("parameters"))
        .and_then(toml::Value::as_table_mut)
        .expect("trainer parameters")
        .insert("learning_rate".to_owned(), toml::Value::Float(0.3));
    zen.write("training-b.toml", &toml::to_string(&config).expect("TOML"));

    let b = zen
        .example(
            "training",
            &["--config", "training-b.toml", "--run-name", "b-1"],
        )
        .ok();
    assert!(
        b.stdout
            .contains("pipeline `training-b` completed: 4 steps, 2 cached."),
        "{b}"
    );
    let b_steps = steps(&zen, "b-1");
    assert_eq!(status_of(&b_steps, "load"), "cached");
    assert_eq!(status_of(&b_steps, "split"), "cached");
    assert_eq!(status_of(&b_steps, "trainer"), "completed");
    assert_eq!(status_of(&b_steps, "evaluate"), "completed");

    // The cached steps name the run they came from: A's step runs.
    for name in ["load", "split"] {
        let original = &b_steps.iter().find(|(n, _, _)| n == name).expect("step").2;
        let a_step = zen.json(&["step", "describe", "a-1", name]);
        assert_eq!(original, &a_step["step"]["id"], "{name}");
        zen.ok(&["step", "describe", "b-1", name])
            .stdout_has(&["cached from"]);
    }

    // A's record is unchanged; B is a pipeline of its own.
    assert_eq!(steps(&zen, "a-1"), a_steps);
    let pipelines = zen.json(&["pipeline", "list"])["items"].clone();
    let names: Vec<&str> = pipelines
        .as_array()
        .expect("pipelines")
        .iter()
        .map(|p| p["pipeline"]["name"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(names, ["training", "training-b"]);
    assert_eq!(
        zen.json(&["run", "list", "-p", "training"])["items"]
            .clone()
            .as_array()
            .map(Vec::len),
        Some(1)
    );

    // Copying onto a pipeline that has runs is refused.
    zen.fails(&["pipeline", "copy", "training", "training-b"])
        .stderr_has(&["already has runs"]);
}

#[test]
fn an_exported_configuration_reruns_fully_cached() {
    let zen = Zenml::init();
    zen.example("training", &["--run-name", "first"]).ok();
    zen.ok(&["run", "export-config", "first", "exported.toml"]);
    let exported = zen.read("exported.toml");
    assert!(exported.contains("pipeline = \"training\""), "{exported}");
    assert!(exported.contains("learning_rate"), "{exported}");

    let again = zen
        .example(
            "training",
            &["--config", "exported.toml", "--run-name", "again"],
        )
        .ok();
    assert!(again.stdout.contains("4 steps, 4 cached."), "{again}");
    assert!(
        steps(&zen, "again")
            .iter()
            .all(|(_, status, _)| status == "cached")
    );
}
