//! The training example, run as a user runs it: a run configuration file, run names, bad
//! configuration files, a step that fails in the middle of a run, and runs on another
//! stack (`--stack`, `ZENML_STACK`).

use std::path::Path;

use serde_json::{Value, json};
use zenml_e2e::{Zenml, strings};

/// The steps of the training pipeline, in order.
const STEPS: [&str; 4] = ["load", "split", "trainer", "evaluate"];

/// Copies `examples/training/run.toml` into the temporary folder as `run.toml` and returns
/// it, parsed.
fn copy_run_toml(zen: &Zenml) -> toml::Table {
    let source = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the e2e package sits in the workspace root")
        .join("examples/training/run.toml");
    let text = std::fs::read_to_string(&source)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", source.display()));
    zen.write("run.toml", &text);
    toml::from_str(&text).expect("run.toml is valid TOML")
}

/// `[steps.STEP.parameters] NAME` of a run configuration, as JSON.
fn file_parameter(config: &toml::Table, step: &str, name: &str) -> Value {
    let value = &config["steps"][step]["parameters"][name];
    serde_json::to_value(value).expect("a TOML value is JSON")
}

/// The number of recorded runs and artifacts.
fn counts(zen: &Zenml) -> (usize, usize) {
    let runs = zen.json(&["run", "list"])["items"].clone();
    let artifacts = zen.json(&["artifact", "list"])["items"].clone();
    (
        runs.as_array().expect("an array of runs").len(),
        artifacts.as_array().expect("an array of artifacts").len(),
    )
}

/// The entry of `describe["steps"]` (from `run describe --output json`) for step `name`.
fn step<'a>(describe: &'a Value, name: &str) -> &'a Value {
    describe["steps"]
        .as_array()
        .expect("`steps` is an array")
        .iter()
        .find(|s| s["step"]["name"] == name)
        .unwrap_or_else(|| panic!("no step {name} in {describe:#}"))
}

/// The metrics `evaluate` logged, after checking that the fitted line is close to the
/// `y = 3x + 2` the data was drawn from.
fn check_fit(zen: &Zenml, run: &str) -> Value {
    let evaluate = zen.json(&["step", "describe", run, "evaluate"]);
    let metadata = evaluate["metadata"].clone();
    let number = |key: &str| {
        metadata[key]
            .as_f64()
            .unwrap_or_else(|| panic!("metadata `{key}` is a number: {metadata}"))
    };
    let (mse, slope, intercept) = (number("mse"), number("slope"), number("intercept"));
    assert!(
        (slope - 3.0).abs() < 0.1 && (intercept - 2.0).abs() < 0.1 && mse < 0.05,
        "run `{run}` fits y = {slope}x + {intercept} with mse {mse}, not y = 3x + 2"
    );
    metadata
}

#[test]
fn a_run_configuration_file_sets_the_parameters() {
    let zen = Zenml::init();
    let config = copy_run_toml(&zen);

    let run = zen.example("training", &["--config", "run.toml"]).ok();
    assert_eq!(run.stderr, "", "{run}");
    let name = run.run_name();
    assert!(
        name.starts_with("training-20"),
        "run.toml's template names the run\n{run}"
    );
    run.stdout_has(&["of pipeline `training` completed: 4 steps."]);

    // The recorded parameters come from the file, and differ from the defaults in code.
    let load = zen.json(&["step", "describe", &name, "load"]);
    assert_eq!(
        load["step"]["parameters"]["rows"],
        file_parameter(&config, "load", "rows")
    );
    assert_eq!(load["step"]["parameters"]["rows"], 2000);
    assert_eq!(
        load["step"]["parameters"]["noise"], 0.5,
        "not in the file: the default"
    );
    let trainer = zen.json(&["step", "describe", &name, "trainer"]);
    for parameter in ["learning_rate", "epochs"] {
        assert_eq!(
            trainer["step"]["parameters"][parameter],
            file_parameter(&config, "trainer", parameter),
            "{trainer:#}"
        );
    }
    assert_eq!(trainer["step"]["parameters"]["epochs"], 400);
    assert_ne!(trainer["step"]["parameters"]["learning_rate"], 0.5);
    assert!(trainer["metadata"]["final_slope"].is_f64(), "{trainer:#}");
    let split = zen.json(&["step", "describe", &name, "split"]);
    assert_eq!(split["step"]["parameters"], json!({ "test_every": 5 }));
    assert_eq!(strings(&split["outputs"], Some("name")), ["test", "train"]);

    // The resolved configuration is recorded with the run.
    let described = zen.json(&["run", "describe", &name]);
    let recorded = &described["run"]["config"]["steps"];
    assert_eq!(recorded["load"]["parameters"]["rows"], 2000);
    assert_eq!(
        recorded["trainer"]["parameters"],
        trainer["step"]["parameters"]
    );
    for s in STEPS {
        assert_eq!(step(&described, s)["step"]["status"], "completed");
    }
    zen.ok(&["run", "describe", &name])
        .stdout_has(&["rows=2000", "epochs=400", "test_every=5"]);

    // The metrics are recorded on `evaluate`, and the model fits.
    let metrics = check_fit(&zen, &name);
    assert_eq!(
        metrics
            .as_object()
            .map(|m| m.keys().cloned().collect::<Vec<_>>()),
        Some(vec![
            "intercept".to_owned(),
            "mse".to_owned(),
            "slope".to_owned()
        ])
    );
    zen.ok(&["step", "describe", &name, "evaluate"])
        .stdout_has(&["metadata mse", "metadata slope", "metadata intercept"]);

    // Without the file: the defaults in code, and a model that fits as well.
    let default = zen.example("training", &[]).ok().run_name();
    let load = zen.json(&["step", "describe", &default, "load"]);
    assert_eq!(
        load["step"]["parameters"],
        json!({ "rows": 1000, "noise": 0.5 })
    );
    check_fit(&zen, &default);
}

#[test]
fn run_names_are_chosen_and_unique() {
    let zen = Zenml::init();
    zen.example("training", &["--run-name", "my-run"])
        .ok()
        .stdout_has(&[
            "Run `my-run` of pipeline `training` completed: 4 steps.",
            "run describe my-run` shows its steps and artifacts;",
        ]);
    assert_eq!(
        strings(&zen.json(&["run", "list"])["items"].clone(), Some("name")),
        ["my-run"]
    );
    let before = counts(&zen);

    let again = zen.example("training", &["--run-name=my-run"]).fails();
    again.stderr_has(&["a run named `my-run` already exists; choose another run name"]);
    assert_eq!(again.stdout, "", "{again}");
    // Run names are unique across pipelines too.
    zen.example("quickstart", &["--run-name", "my-run"])
        .fails()
        .stderr_has(&["`my-run` already exists"]);
    assert_eq!(counts(&zen), before, "a refused run records nothing");

    // A name (template) from the file; the command line wins over it.
    zen.write("named.toml", "run_name = \"nightly-{pipeline}\"\n");
    zen.example("training", &["--config", "named.toml"])
        .ok()
        .stdout_has(&["Run `nightly-training` of pipeline `training`"]);
    zen.example(
        "training",
        &["--config", "named.toml", "--run-name", "override"],
    )
    .ok()
    .stdout_has(&["Run `override` of pipeline `training`"]);

    // Names that cannot be shown or typed back.
    for bad in ["", "   ", " padded", "two\nlines"] {
        zen.example("training", &["--run-name", bad])
            .fails()
            .stderr_has(&["run_name"]);
    }
    assert_eq!(counts(&zen).0, 3);

    // Malformed command lines.
    zen.example("training", &["--run-name"])
        .fails()
        .stderr_has(&["`--run-name` needs a name"]);
    zen.example("training", &["--epochs", "3"])
        .fails()
        .stderr_has(&["unknown option `--epochs`", "--config FILE"]);
    assert_eq!(counts(&zen).0, 3);

    // Help and version print and run nothing.
    zen.example("training", &["--help"]).ok().stdout_has(&[
        "Runs pipeline `training`",
        "Usage: training [OPTIONS]",
        "--config FILE",
        "--zenml-run RUN --zenml-step STEP",
        "--version",
    ]);
    zen.example("training", &["-V"])
        .ok()
        .stdout_has(&["training (pipeline `training`), zenml "]);
    assert_eq!(counts(&zen).0, 3);
}

#[test]
fn a_bad_run_configuration_fails_before_anything_is_recorded() {
    let zen = Zenml::init();
    zen.example("training", &[]).ok();
    let before = counts(&zen);
    assert_eq!(before, (1, 5));

    let cases: &[(&str, &[&str])] = &[
        // unknown step
        (
            "[steps.evaluation.parameters]\nx = 1\n",
            &[
                "bad.toml",
                "step `evaluation`",
                "its steps: load, split, trainer, evaluate",
            ],
        ),
        // unknown parameter
        (
            "[steps.load.parameters]\nrowz = 10\n",
            &[
                "bad.toml",
                "step `load` has no parameter `rowz`",
                "its parameters: rows, noise",
            ],
        ),
        (
            "[steps.square.parameters]\ncount = 10\n",
            &["bad.toml", "step `square`"],
        ),
        // wrongly typed values
        (
            "[steps.load.parameters]\nrows = \"many\"\n",
            &["bad.toml", "steps.load.parameters.rows", "u32"],
        ),
        (
            "[steps.load.parameters]\nrows = -5\n",
            &["bad.toml", "steps.load.parameters.rows", "u32"],
        ),
        (
            "[steps.trainer.parameters]\nlearning_rate = \"fast\"\n",
            &["bad.toml", "steps.trainer.parameters.learning_rate", "f64"],
        ),
        (
            "[steps.trainer.parameters]\nepochs = 1.5\n",
            &["bad.toml", "steps.trainer.parameters.epochs"],
        ),
        // malformed files: file:line
        ("[steps.load.parameters]\nrows = = 3\n", &["bad.toml:2:"]),
        ("[steps.load\nrows = 3\n", &["bad.toml:1:"]),
        (
            "run_name = \"x\"\nrun_nmae = \"y\"\n",
            &["bad.toml:2:", "run_nmae"],
        ),
        (
            "[steps.load]\nparams = { rows = 3 }\n",
            &["bad.toml:2:", "params", "parameters"],
        ),
        ("run_name = \"\"\n", &["bad.toml", "run_name"]),
    ];
    for (text, expected) in cases {
        zen.write("bad.toml", text);
        let run = zen.example("training", &["--config", "bad.toml"]).fails();
        for part in *expected {
            assert!(
                run.error().contains(part),
                "the error for\n{text}\nlacks {part:?}\n{run}"
            );
        }
        assert_eq!(
            counts(&zen),
            before,
            "nothing is recorded for\n{text}\n{run}"
        );
    }
    zen.example("training", &["--config", "missing.toml"])
        .fails()
        .stderr_has(&["cannot read run configuration `missing.toml`"]);
    assert_eq!(counts(&zen), before);
    // An integer is a fine floating-point value.
    zen.write(
        "int.toml",
        "[steps.trainer.parameters]\nlearning_rate = 1\n",
    );
    zen.example("training", &["--config", "int.toml"]).ok();
}

#[test]
fn a_failing_step_fails_the_run_and_skips_what_depends_on_it() {
    let zen = Zenml::init();
    zen.write("fail.toml", "[steps.split.parameters]\ntest_every = 1\n");
    let run = zen
        .example(
            "training",
            &["--config", "fail.toml", "--run-name", "broken"],
        )
        .run();
    assert_ne!(run.code, Some(0), "{run}");
    run.assert_failure();
    run.stderr_has(&[
        "run `broken` failed",
        "step `split`",
        "test_every must be at least 2, got 1",
    ]);
    run.never_shows("completed: 4 steps");

    // The run is recorded as failed, with the error.
    let runs = zen.json(&["run", "list"])["items"].clone();
    assert_eq!(strings(&runs, Some("name")), ["broken"]);
    assert_eq!(runs[0]["status"], "failed");
    let error = runs[0]["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("split") && error.contains("test_every must be at least 2, got 1"),
        "{runs:#}"
    );
    let pipelines = zen.json(&["pipeline", "list"])["items"].clone();
    assert_eq!(pipelines[0]["latest_run"]["status"], "failed");

    // Each step's fate.
    let described = zen.json(&["run", "describe", "broken"]);
    assert_eq!(described["run"]["status"], "failed");
    assert_eq!(
        described["steps"].as_array().map(Vec::len),
        Some(4),
        "{described:#}"
    );
    let load = step(&described, "load");
    assert_eq!(load["step"]["status"], "completed");
    assert_eq!(load["step"]["error"], Value::Null);
    let split = step(&described, "split");
    assert_eq!(split["step"]["status"], "failed");
    assert!(
        split["step"]["error"]
            .as_str()
            .is_some_and(|e| e.contains("test_every must be at least 2, got 1")),
        "{split:#}"
    );
    assert_eq!(split["step"]["parameters"], json!({ "test_every": 1 }));
    assert_eq!(split["outputs"], json!([]));
    for skipped in ["trainer", "evaluate"] {
        let s = step(&described, skipped);
        assert_eq!(s["step"]["status"], "skipped", "{s:#}");
        assert_eq!(s["outputs"], json!([]));
    }
    assert!(
        step(&described, "trainer")["step"]["error"]
            .as_str()
            .is_some_and(|e| e.contains("split")),
        "the skipped step says why\n{described:#}"
    );
    zen.ok(&["run", "describe", "broken"]).stdout_has(&[
        "Run `broken` of pipeline `training`: failed",
        "error    step `split` failed: test_every must be at least 2, got 1",
        "failed: test_every",
        "skipped",
    ]);
    zen.ok(&["step", "describe", "broken", "split"])
        .stdout_has(&["failed", "error", "test_every must be at least 2"]);

    // `load`'s output is recorded and on disk; nothing was recorded or written for split.
    let artifacts = zen.json(&["artifact", "list"])["items"].clone();
    assert_eq!(artifacts.as_array().map(Vec::len), Some(1), "{artifacts:#}");
    let id = artifacts[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(load["outputs"][0]["artifact"]["id"], id.as_str());
    let artifact = zen.json(&["artifact", "describe", &id]);
    assert_eq!(
        artifact["artifact"]["producer_step_run_id"],
        load["step"]["id"]
    );
    let uri = artifact["artifact"]["uri"].as_str().unwrap();
    let folder = uri.strip_prefix("file://").expect("a file URI");
    assert!(
        folder.starts_with(&format!(
            "{}/.zen/artifacts/training/load/",
            zen.root().display()
        )),
        "{uri}"
    );
    let points: Vec<(f64, f64)> = std::fs::read_dir(folder)
        .expect("the artifact's folder")
        .map(|e| {
            let text = std::fs::read_to_string(e.expect("an entry").path()).expect("a file");
            serde_json::from_str::<Vec<(f64, f64)>>(&text).expect("the points, as JSON")
        })
        .next()
        .expect("a file in the artifact's folder");
    assert_eq!(points.len(), 1000, "the loaded points");
    assert!(!zen.path(".zen/artifacts/training/split").exists());
}

#[test]
fn a_run_on_another_stack_keeps_its_artifacts_there() {
    let zen = Zenml::init();
    zen.ok(&[
        "artifact-store",
        "register",
        "alt",
        "--flavor",
        "local",
        "--path",
        "alt-artifacts",
    ]);
    zen.ok(&[
        "stack", "register", "other", "-o", "default", "-m", "default", "-a", "alt",
    ]);
    let config = zen.config_text();
    let alt = format!("file://{}/alt-artifacts/training/", zen.root().display());
    let local = format!("file://{}/.zen/artifacts/training/", zen.root().display());

    let on_other = zen
        .example("training", &["--stack", "other", "--run-name", "flag"])
        .ok();
    assert_eq!(on_other.stderr, "", "{on_other}");
    let via_env = zen
        .example("training", &["--run-name", "env"])
        .env("ZENML_STACK", "other")
        .ok();
    assert_eq!(via_env.stderr, "", "{via_env}");
    let on_default = zen.example("training", &["--run-name", "default"]).ok();
    assert_eq!(on_default.stderr, "", "{on_default}");
    assert_eq!(
        zen.config_text(),
        config,
        "the active stack is still `default`"
    );

    for (run, stack, prefix) in [
        ("flag", "other", &alt),
        ("env", "other", &alt),
        ("default", "default", &local),
    ] {
        let described = zen.json(&["run", "describe", run]);
        assert_eq!(described["run"]["stack"]["name"], stack, "{described:#}");
        let uris: Vec<&str> = described["steps"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|s| s["outputs"].as_array().unwrap())
            .map(|o| o["artifact"]["uri"].as_str().unwrap())
            .collect();
        assert_eq!(uris.len(), 5, "{described:#}");
        for uri in uris {
            assert!(
                uri.starts_with(prefix.as_str()),
                "run `{run}`: {uri} is not under {prefix}"
            );
            let folder = uri.strip_prefix("file://").unwrap();
            assert!(Path::new(folder).is_dir(), "{folder} exists");
        }
    }
    assert_eq!(
        zen.json(&["run", "describe", "flag"])["run"]["stack"]["components"]["artifact_store"]["name"],
        "alt"
    );
    // Both stacks share the metadata store: the artifacts of both are listed. The second
    // run on `other` reused the first's outputs from the cache (same artifact store); the
    // run on `default` did not, since the artifact store is part of the cache key.
    let artifacts = zen.json(&["artifact", "list"])["items"].clone();
    assert_eq!(artifacts.as_array().map(Vec::len), Some(10));
    let env = zen.json(&["run", "describe", "env"]);
    assert!(
        env["steps"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["step"]["status"] == "cached"),
        "{env:#}"
    );
    let first = artifacts
        .as_array()
        .unwrap()
        .iter()
        .find(|a| {
            a["uri"]
                .as_str()
                .is_some_and(|u| u.starts_with(alt.as_str()))
        })
        .expect("an artifact in alt-artifacts");
    zen.ok(&["artifact", "describe", first["id"].as_str().unwrap()])
        .stdout_has(&[&alt]);

    // An unknown stack: nothing runs, nothing is recorded.
    zen.example("training", &["--stack", "nope"])
        .fails()
        .stderr_has(&["no stack named `nope`", "default, other"]);
    zen.example("training", &[])
        .env("ZENML_STACK", "nope")
        .fails()
        .stderr_has(&["`nope`"]);
    assert_eq!(counts(&zen).0, 3);
}
