//! Comparing runs of the training example: `zenml run compare A B` (parameters marked where
//! they differ, metrics side by side) and `zenml pipeline compare [PIPELINE …]` as a table,
//! JSON and CSV.

use std::path::Path;

use serde_json::Value;
use zenml_e2e::Zenml;

/// Writes `examples/training/run.toml` into the temporary folder as `FILE`, changed to name
/// the run `run_name` and to set only the trainer's learning rate (the other parameters keep
/// their defaults, so only the learning rate differs from a run without a file).
fn learning_rate_config(zen: &Zenml, file: &str, run_name: &str, learning_rate: f64) {
    let source = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the e2e package sits in the workspace root")
        .join("examples/training/run.toml");
    let text = std::fs::read_to_string(&source)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", source.display()));
    let mut config: toml::Table = toml::from_str(&text).expect("run.toml is valid TOML");
    config.insert("run_name".to_owned(), toml::Value::from(run_name));
    let steps = config
        .get_mut("steps")
        .and_then(toml::Value::as_table_mut)
        .expect("run.toml has [steps]");
    steps.remove("load");
    let trainer = steps
        .get_mut("trainer")
        .and_then(|t| t.get_mut("parameters"))
        .and_then(toml::Value::as_table_mut)
        .expect("run.toml has [steps.trainer.parameters]");
    trainer.remove("epochs");
    trainer.insert("learning_rate".to_owned(), toml::Value::from(learning_rate));
    zen.write(file, &toml::to_string(&config).expect("TOML"));
}

/// The comparison of step `name` in `run compare --output json`.
fn step<'a>(comparison: &'a Value, name: &str) -> &'a Value {
    comparison["steps"]
        .as_array()
        .expect("`steps` is an array")
        .iter()
        .find(|s| s["step"] == name)
        .unwrap_or_else(|| panic!("no step {name} in {comparison:#}"))
}

/// The entry `name` of a step comparison's `parameters` or `metrics`.
fn entry<'a>(step: &'a Value, list: &str, name: &str) -> &'a Value {
    step[list]
        .as_array()
        .unwrap_or_else(|| panic!("`{list}` is an array in {step:#}"))
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("no {list} entry {name} in {step:#}"))
}

/// Parses RFC 4180 CSV: fields separated by commas, records by CRLF, quoted fields with
/// doubled quotes. Panics on anything else.
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut records = Vec::new();
    let mut record = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if quoted {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                '"' => quoted = false,
                c => field.push(c),
            }
            continue;
        }
        match c {
            '"' if field.is_empty() => quoted = true,
            '"' => panic!("a quote inside an unquoted field: {text}"),
            ',' => record.push(std::mem::take(&mut field)),
            '\r' => {
                assert_eq!(chars.next(), Some('\n'), "CR without LF: {text}");
                record.push(std::mem::take(&mut field));
                records.push(std::mem::take(&mut record));
            }
            '\n' => panic!("a bare LF ends a record: {text:?}"),
            c => field.push(c),
        }
    }
    assert!(
        field.is_empty() && record.is_empty() && !quoted,
        "the last record ends with CRLF: {text:?}"
    );
    records
}

#[test]
fn run_compare_marks_the_changed_learning_rate_and_shows_both_metrics() {
    let zen = Zenml::init();
    zen.example("training", &["--run-name", "base"]).ok();
    learning_rate_config(&zen, "fast.toml", "fast", 0.7);
    zen.example("training", &["--config", "fast.toml"])
        .ok()
        .stdout_has(&["Run `fast` of pipeline `training` completed: 4 steps, 2 cached."]);

    let comparison = zen.json(&["run", "compare", "base", "fast"]);
    assert_eq!(comparison["a"]["name"], "base");
    assert_eq!(comparison["b"]["name"], "fast");
    let names: Vec<&str> = comparison["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["step"].as_str())
        .collect();
    assert_eq!(names, ["load", "split", "trainer", "evaluate"]);

    let trainer = step(&comparison, "trainer");
    let learning_rate = entry(trainer, "parameters", "learning_rate");
    assert_eq!(learning_rate["a"], 0.5);
    assert_eq!(learning_rate["b"], 0.7);
    assert_eq!(learning_rate["differs"], true);
    let epochs = entry(trainer, "parameters", "epochs");
    assert_eq!(
        (epochs["a"].clone(), epochs["differs"].clone()),
        (200.into(), false.into())
    );
    for (name, s) in [
        ("load", step(&comparison, "load")),
        ("split", step(&comparison, "split")),
    ] {
        assert!(
            s["parameters"]
                .as_array()
                .unwrap()
                .iter()
                .all(|p| p["differs"] == false),
            "{name}: {s:#}"
        );
        assert_eq!(s["a"]["status"], "completed");
        assert_eq!(
            s["b"]["status"], "cached",
            "same parameters and inputs: {s:#}"
        );
    }
    assert_eq!(trainer["b"]["status"], "completed");

    // evaluate's metrics, for both runs.
    let evaluate = step(&comparison, "evaluate");
    let mse = entry(evaluate, "metrics", "mse");
    let (a, b) = (
        mse["a"].as_f64().expect("mse of base"),
        mse["b"].as_f64().expect("mse of fast"),
    );
    assert!(a > 0.0 && b > 0.0 && a < 0.05 && b < 0.05, "{mse}");
    for metric in ["slope", "intercept"] {
        let m = entry(evaluate, "metrics", metric);
        assert!(m["a"].is_f64() && m["b"].is_f64(), "{m}");
    }
    assert!(entry(trainer, "metrics", "final_slope")["b"].is_f64());

    // For people: `*` on the learning rate's row, not on the epochs'.
    let table = zen.ok(&["run", "compare", "base", "fast"]);
    let line = |needle: &str| {
        table
            .stdout
            .lines()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no line with {needle:?}\n{table}"))
            .to_owned()
    };
    assert!(line("parameter learning_rate").contains('*'), "{table}");
    assert!(line("parameter learning_rate").contains("0.7"), "{table}");
    assert!(!line("parameter epochs").contains('*'), "{table}");
    assert!(line("metric mse").contains('*'), "{table}");
    table.stdout_has(&[
        "A: run `base`",
        "B: run `fast`",
        "Differing parameters: trainer.learning_rate.",
    ]);

    // A run with itself: nothing differs.
    let same = zen.json(&["run", "compare", "base", "base"]);
    assert!(
        same["steps"].as_array().unwrap().iter().all(|s| {
            s["parameters"]
                .as_array()
                .unwrap()
                .iter()
                .chain(s["metrics"].as_array().unwrap())
                .all(|v| v["differs"] == false)
        }),
        "{same:#}"
    );
    zen.fails(&["run", "compare", "base", "nope"])
        .stderr_has(&["run `nope` not found"]);
}

#[test]
fn pipeline_compare_has_a_row_per_run_and_a_column_per_parameter_and_metric() {
    let zen = Zenml::init();
    zen.example("training", &["--run-name", "base"]).ok();
    learning_rate_config(&zen, "fast.toml", "fast", 0.7);
    zen.example("training", &["--config", "fast.toml"]).ok();
    learning_rate_config(&zen, "slow.toml", "slow, \"careful\"", 0.1);
    zen.example("training", &["--config", "slow.toml"]).ok();
    zen.example("quickstart", &["--run-name", "quick"]).ok();

    let csv = zen
        .ok(&["pipeline", "compare", "training", "--output", "csv"])
        .stdout
        .clone();
    let records = parse_csv(&csv);
    let header = &records[0];
    assert_eq!(
        &header[..5],
        ["run", "pipeline", "status", "started", "duration_ms"]
    );
    for column in [
        "load.rows",
        "load.noise",
        "split.test_every",
        "trainer.learning_rate",
        "trainer.epochs",
        "trainer.final_slope",
        "evaluate.mse",
        "evaluate.slope",
        "evaluate.intercept",
    ] {
        assert!(header.iter().any(|h| h == column), "{column} in {header:?}");
    }
    assert_eq!(header.len(), 5 + 5 + 4, "{header:?}");
    let rows = &records[1..];
    assert_eq!(rows.len(), 3, "one row per run of training:\n{csv}");
    assert!(rows.iter().all(|r| r.len() == header.len()), "{csv}");
    let column = |name: &str| {
        header
            .iter()
            .position(|h| h == name)
            .unwrap_or_else(|| panic!("no column {name}"))
    };
    let row = |run: &str| {
        rows.iter()
            .find(|r| r[0] == run)
            .unwrap_or_else(|| panic!("no row for {run}:\n{csv}"))
    };
    // Newest first; a run name with a comma and quotes survives the round trip.
    assert_eq!(
        rows.iter().map(|r| r[0].as_str()).collect::<Vec<_>>(),
        ["slow, \"careful\"", "fast", "base"]
    );
    for (run, rate) in [
        ("base", "0.5"),
        ("fast", "0.7"),
        ("slow, \"careful\"", "0.1"),
    ] {
        let r = row(run);
        assert_eq!(r[column("trainer.learning_rate")], rate);
        assert_eq!(r[column("pipeline")], "training");
        assert_eq!(r[column("status")], "completed");
        assert!(r[column("duration_ms")].parse::<u64>().is_ok(), "{r:?}");
        let mse: f64 = r[column("evaluate.mse")]
            .parse()
            .unwrap_or_else(|e| panic!("mse of {run} is a number ({e}): {r:?}"));
        assert!(mse > 0.0, "{r:?}");
    }

    // All pipelines: the quickstart's row has its own columns, and none of training's.
    let all = zen.json(&["pipeline", "compare"]);
    assert_eq!(
        all["pipelines"],
        serde_json::json!(["quickstart", "training"])
    );
    let json_rows = all["rows"].as_array().expect("rows");
    assert_eq!(json_rows.len(), 4);
    assert_eq!(json_rows[0]["run"]["name"], "quick");
    assert_eq!(
        json_rows[0]["parameters"].get("trainer.learning_rate"),
        None
    );
    let records = parse_csv(&zen.ok(&["-O", "csv", "pipeline", "compare"]).stdout);
    assert_eq!(records.len(), 5);
    let header = &records[0];
    let rate = header
        .iter()
        .position(|h| h == "trainer.learning_rate")
        .expect("a learning-rate column");
    let quick = records
        .iter()
        .find(|r| r[0] == "quick")
        .expect("quick's row");
    assert_eq!(quick[rate], "", "empty where a run has no such parameter");
    for column in ["numbers.count", "total.sum"] {
        assert!(header.iter().any(|h| h == column), "{column} in {header:?}");
        assert_ne!(
            quick[header.iter().position(|h| h == column).unwrap_or(0)],
            ""
        );
    }

    // For people, and the errors.
    zen.ok(&["pipeline", "compare", "training"]).stdout_has(&[
        "trainer.learning_rate",
        "evaluate.mse",
        "fast",
        "0.7",
    ]);
    zen.fails(&["pipeline", "compare", "trainin"])
        .stderr_has(&["pipeline `trainin` not found", "training"]);
}
