//! The quickstart example, run as a user runs it, and everything `zenml` shows about its
//! runs: `pipeline list`, `pipeline runs list`, `run list`, `run describe`, `step describe`,
//! `artifact list` and `artifact describe`, as tables and as JSON, and their errors.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{Value, json};
use zenml_e2e::{Zenml, binary, strings};

/// The steps of the quickstart, in order.
const STEPS: [&str; 3] = ["numbers", "square", "total"];

/// Whether `text` is 64 lowercase hexadecimal digits (a blake3 or sha-256 hash).
fn is_hash(text: &str) -> bool {
    text.len() == 64
        && text
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
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

/// The local folder of a `file://` URI.
fn folder_of(uri: &str) -> PathBuf {
    PathBuf::from(
        uri.strip_prefix("file://")
            .unwrap_or_else(|| panic!("not a file URI: {uri}")),
    )
}

/// The files in an artifact's folder: their total size, and the only file's value parsed as
/// JSON (the `zenml.json` materializer writes one JSON file).
fn artifact_files(folder: &Path) -> (u64, Value) {
    let files: Vec<PathBuf> = fs::read_dir(folder)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", folder.display()))
        .map(|e| e.expect("a folder entry").path())
        .collect();
    assert_eq!(
        files.len(),
        1,
        "one file in {}: {files:?}",
        folder.display()
    );
    let text = fs::read_to_string(&files[0]).expect("the artifact file");
    let size = files
        .iter()
        .map(|f| fs::metadata(f).expect("the file's metadata").len())
        .sum();
    let value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not JSON ({e}): {text}", files[0].display()));
    (size, value)
}

/// A table's text without borders or white space, so that a cell wrapped over several lines
/// reads as one word.
fn squashed(table: &str) -> String {
    table
        .chars()
        .filter(|c| !c.is_whitespace() && !matches!(c, '│' | '┆'))
        .collect()
}

#[test]
fn the_quickstart_creates_a_repository_then_reuses_it() {
    let zen = Zenml::new();
    assert!(!zen.path(".zen").exists());

    // Where `zenml` is installed, the hint names it; PATH is pinned to a folder holding it.
    let bin = zen.root().join("installed-bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink(binary(), bin.join("zenml")).unwrap();
    let first = zen
        .example("quickstart", &[])
        .env("PATH", &bin.to_string_lossy())
        .ok();
    first.stderr_has(&[&format!(
        "Created a zenml repository in `{}` with the default stack",
        zen.root().display()
    )]);
    assert!(zen.path(".zen/config.toml").is_file(), "{first}");
    let first_name = first.run_name();
    assert!(
        first_name.starts_with("quickstart-20")
            && first_name.len() == "quickstart-2026-11-22-074012-".len() + 8,
        "the default run name is `{{pipeline}}-{{date}}-{{time}}-{{id}}`\n{first}"
    );
    first.stdout_has(&[
        &format!("Run `{first_name}` of pipeline `quickstart` completed: 3 steps."),
        &format!("Next: `zenml run describe {first_name}` shows its steps and artifacts;"),
        "`zenml up` shows every run in a browser (the dashboard).",
    ]);
    // What the hint names runs as written: the run's description.
    zen.ok(&["run", "describe", &first_name])
        .stdout_has(&[&first_name]);

    // The second run finds the repository: nothing is created, and without a terminal
    // there is no progress output either, so stderr is empty.
    let config = zen.config_text();
    let second = zen.example("quickstart", &[]).ok();
    assert_eq!(
        second.stderr, "",
        "a quiet run prints nothing on stderr\n{second}"
    );
    assert_eq!(zen.config_text(), config, "running changes no definition");
    let second_name = second.run_name();
    assert_ne!(first_name, second_name);

    let runs = zen.json(&["run", "list"])["items"].clone();
    assert_eq!(runs.as_array().map(Vec::len), Some(2), "{runs:#}");
    assert_eq!(
        strings(&runs, Some("name")),
        [second_name.as_str(), first_name.as_str()],
        "newest first"
    );
    for run in runs.as_array().unwrap() {
        assert_eq!(run["pipeline"], "quickstart");
        assert_eq!(run["status"], "completed");
        assert_eq!(run["error"], Value::Null);
        assert!(
            run["ended_at"].as_i64() >= run["started_at"].as_i64(),
            "{run}"
        );
    }
    closing_hints_work_without_an_installed_cli(&zen);
}

#[test]
fn a_successful_run_without_a_terminal_prints_no_progress() {
    let zen = Zenml::init();
    // With `zenml` installed, so that the hint is its two lines.
    let bin = zen.root().join("installed-bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink(binary(), bin.join("zenml")).unwrap();
    for args in [&[][..], &["--quiet"][..]] {
        let run = zen
            .example("quickstart", args)
            .env("PATH", &bin.to_string_lossy())
            .ok();
        assert_eq!(
            run.stderr, "",
            "no progress lines without a terminal\n{run}"
        );
        run.never_shows("▶").never_shows("✔");
        assert_eq!(
            run.stdout.lines().count(),
            3,
            "stdout holds the outcome and the next commands\n{run}"
        );
    }
}

#[test]
fn what_zenml_shows_about_quickstart_runs() {
    let zen = Zenml::init();
    let first = zen.example("quickstart", &[]).ok().run_name();
    // Without the cache, so that the second run's steps run and record new artifacts too.
    let second = zen.example("quickstart", &["--no-cache"]).ok().run_name();

    // pipeline list
    zen.ok(&["pipeline", "list"]).stdout_has(&[
        "PIPELINE",
        "RUNS",
        "LATEST RUN",
        "quickstart",
        "2",
        &second,
        "completed",
    ]);
    let pipelines = zen.json(&["pipeline", "list"])["items"].clone();
    assert_eq!(pipelines.as_array().map(Vec::len), Some(1), "{pipelines:#}");
    assert_eq!(pipelines[0]["pipeline"]["name"], "quickstart");
    assert_eq!(pipelines[0]["run_count"], 2);
    assert_eq!(pipelines[0]["latest_run"]["name"], second.as_str());
    assert_eq!(pipelines[0]["latest_run"]["status"], "completed");

    // the runs, three ways
    for args in [
        &["pipeline", "runs", "list", "quickstart"][..],
        &["pipeline", "runs", "list"][..],
        &["run", "list"][..],
        &["run", "list", "--pipeline", "quickstart"][..],
        &["run", "list", "-p", "quickstart"][..],
    ] {
        zen.ok(args).stdout_has(&[
            "RUN",
            "PIPELINE",
            "STATUS",
            "DURATION",
            &first,
            &second,
            "completed",
        ]);
        let runs = zen.json(args)["items"].clone();
        assert_eq!(
            strings(&runs, Some("name")),
            [second.as_str(), first.as_str()],
            "`zenml {}`: newest first",
            args.join(" ")
        );
    }

    // run describe: the table
    let describe = zen.ok(&["run", "describe", &second]);
    describe.stdout_has(&[
        &format!("Run `{second}` of pipeline `quickstart`: completed"),
        "stack    default",
        "STEP",
        "STATUS",
        "DURATION",
        "PARAMETERS",
        "OUTPUTS",
        "numbers",
        "square",
        "total",
        "count=10",
        " ms",
        "alloc::vec::Vec<u64>",
        "(u64)",
    ]);
    assert_eq!(
        describe.stdout.matches("completed").count(),
        4,
        "{describe}"
    );

    // run describe: JSON
    let run = zen.json(&["run", "describe", &second]);
    assert_eq!(run["run"]["name"], second.as_str());
    assert_eq!(run["run"]["pipeline_name"], "quickstart");
    assert_eq!(run["run"]["status"], "completed");
    assert_eq!(run["run"]["stack"]["name"], "default");
    assert_eq!(
        run["run"]["config"]["steps"]["numbers"]["parameters"],
        json!({ "count": 10 })
    );
    assert_eq!(run["steps"].as_array().map(Vec::len), Some(3), "{run:#}");
    for name in STEPS {
        let s = step(&run, name);
        assert_eq!(s["step"]["status"], "completed", "{s:#}");
        assert_eq!(s["step"]["error"], Value::Null);
        assert!(s["step"]["ended_at"].as_i64() >= s["step"]["started_at"].as_i64());
        assert_eq!(strings(&s["outputs"], Some("name")), ["output"]);
    }
    assert_eq!(step(&run, "square")["step"]["parameters"], json!({}));
    // The same run, by id.
    let by_id = zen.json(&["run", "describe", run["run"]["id"].as_str().unwrap()]);
    assert_eq!(by_id["run"]["name"], second.as_str());

    // step describe: parameters, output, code hash, lineage
    zen.ok(&["step", "describe", &second, "numbers"])
        .stdout_has(&[
            &format!("Step `numbers` of run `{second}`"),
            "status",
            "completed",
            "code hash",
            "parameter count",
            "10",
            "output output",
        ]);
    let numbers = zen.json(&["step", "describe", &second, "numbers"]);
    assert_eq!(numbers["run"], second.as_str());
    assert_eq!(numbers["step"]["parameters"], json!({ "count": 10 }));
    assert!(
        is_hash(numbers["step"]["code_hash"].as_str().unwrap()),
        "{numbers:#}"
    );
    assert_eq!(numbers["inputs"], json!([]));
    assert_eq!(strings(&numbers["outputs"], Some("name")), ["output"]);
    let numbers_out = &numbers["outputs"][0]["artifact"];
    assert_eq!(numbers_out["rust_type"], "alloc::vec::Vec<u64>");
    assert_eq!(numbers_out["producer_step_run_id"], numbers["step"]["id"]);

    let square = zen.json(&["step", "describe", &second, "square"]);
    assert_eq!(strings(&square["inputs"], Some("name")), ["values"]);
    assert_eq!(square["inputs"][0]["artifact"]["id"], numbers_out["id"]);

    // step describe: the metadata the step logged
    zen.ok(&["step", "describe", &second, "total"])
        .stdout_has(&["metadata sum", "385", "input values"]);
    let total = zen.json(&["step", "describe", &second, "total"]);
    assert_eq!(total["metadata"], json!({ "sum": 385 }));
    assert_eq!(
        total["inputs"][0]["artifact"]["id"],
        square["outputs"][0]["artifact"]["id"]
    );
    assert_ne!(total["step"]["code_hash"], numbers["step"]["code_hash"]);
    // The code hash of a step is the same in every run.
    let first_total = zen.json(&["step", "describe", &first, "total"]);
    assert_eq!(first_total["step"]["code_hash"], total["step"]["code_hash"]);
    assert_ne!(first_total["step"]["id"], total["step"]["id"]);

    // artifact list: three per run
    let artifacts = zen.json(&["artifact", "list"])["items"].clone();
    assert_eq!(artifacts.as_array().map(Vec::len), Some(6), "{artifacts:#}");
    let total_out = total["outputs"][0]["artifact"].clone();
    let total_id = total_out["id"].as_str().unwrap().to_owned();
    assert!(strings(&artifacts, Some("id")).contains(&total_id));
    zen.ok(&["artifact", "list"])
        .stdout_has(&["ID", "TYPE", "SIZE", &total_id, "u64"]);

    // artifact describe
    let root = zen.root().display().to_string();
    let prefix = format!("file://{root}/.zen/artifacts/quickstart/total/output/");
    let table = zen.ok(&["artifact", "describe", &total_id]);
    // The table wraps long cells (at 120 columns without a terminal): the URI may span lines.
    assert!(
        squashed(&table.stdout).contains(&format!("uri{prefix}{total_id}")),
        "{table}"
    );
    table.stdout_has(&[
        &format!("Artifact {total_id}"),
        "u64",
        "zenml.json v1",
        &format!("blake3:{}", total_out["content_hash"].as_str().unwrap()),
        " bytes",
        total["step"]["id"].as_str().unwrap(),
    ]);
    let described = zen.json(&["artifact", "describe", &total_id]);
    let a = &described["artifact"];
    // An unnamed, untagged artifact; the rest is the record that step describe shows.
    assert_eq!(
        (&a["name"], &a["version"], &a["tags"]),
        (&Value::Null, &Value::Null, &serde_json::json!([]))
    );
    let mut record = a.clone();
    if let Some(fields) = record.as_object_mut() {
        fields.retain(|key, _| !matches!(key.as_str(), "name" | "version" | "tags"));
    }
    assert_eq!(record, total_out, "describe and step describe agree");
    let uri = a["uri"].as_str().unwrap();
    assert_eq!(uri, format!("{prefix}{total_id}"));
    assert_eq!(
        a["artifact_store_uri"],
        format!("file://{root}/.zen/artifacts")
    );
    assert_eq!(a["path"], format!("quickstart/total/output/{total_id}"));
    assert_eq!(a["rust_type"], "u64");
    assert_eq!(a["materializer_id"], "zenml.json");
    assert!(is_hash(a["content_hash"].as_str().unwrap()), "{a:#}");
    assert_eq!(a["producer_step_run_id"], total["step"]["id"]);
    assert_eq!(a["output_name"], "output");
    // The files are where the URI says, as big as recorded, and hold the value.
    let (size, value) = artifact_files(&folder_of(uri));
    assert_eq!(a["size"].as_u64(), Some(size));
    assert_eq!(value, json!(385));
    let (_, numbers_value) = artifact_files(&folder_of(numbers_out["uri"].as_str().unwrap()));
    assert_eq!(numbers_value, json!([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]));
}

#[test]
fn unknown_runs_steps_artifacts_and_pipelines_are_clear_errors() {
    let zen = Zenml::init();
    // Before any run: no pipeline is recorded.
    zen.fails(&["pipeline", "runs", "list", "quickstart"])
        .stderr_has(&["pipeline `quickstart` not found; recorded pipelines: (none)"]);
    assert_eq!(zen.json(&["run", "list"])["items"].clone(), json!([]));
    assert_eq!(zen.json(&["pipeline", "list"])["items"].clone(), json!([]));

    let run = zen.example("quickstart", &[]).ok().run_name();
    zen.fails(&["run", "describe", "no-such-run"]).stderr_has(&[
        "run `no-such-run` not found",
        "`zenml run list` shows the runs",
    ]);
    zen.fails(&["step", "describe", "no-such-run", "numbers"])
        .stderr_has(&["run `no-such-run` not found"]);
    zen.fails(&["step", "describe", &run, "squares"])
        .stderr_has(&[
            "step `squares` not found",
            &format!("run `{run}` has steps: numbers, square, total"),
        ]);
    zen.fails(&["artifact", "describe", "no-such-artifact"])
        .stderr_has(&[
            "artifact `no-such-artifact` not found",
            "`zenml artifact list` shows the artifacts",
        ]);
    for args in [
        &["pipeline", "runs", "list", "quikstart"][..],
        &["run", "list", "--pipeline", "quikstart"][..],
    ] {
        zen.fails(args)
            .stderr_has(&["pipeline `quikstart` not found; recorded pipelines: quickstart"]);
    }
    // JSON output does not change errors: stdout stays empty.
    let failed = zen
        .cmd(&["--output", "json", "run", "describe", "nope"])
        .fails();
    assert_eq!(failed.stdout, "", "{failed}");
}

/// `zenml artifact list | head -1`: the reader goes away before `zenml` writes, which is not
/// a failure (and certainly not a panic).
#[test]
fn a_reader_that_goes_away_is_not_an_error() {
    let zen = Zenml::init();
    zen.example("quickstart", &[]).ok();
    for args in [
        &["artifact", "list"][..],
        &["--output", "json", "run", "list"][..],
    ] {
        let mut child = Command::new(binary())
            .args(args)
            .current_dir(zen.root())
            .env_remove("ZENML_STACK")
            .env_remove("ZENML_REPOSITORY_PATH")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("zenml starts");
        // Close the reading end at once: `zenml` is still starting up.
        drop(child.stdout.take());
        let mut stderr = String::new();
        child
            .stderr
            .take()
            .expect("a stderr pipe")
            .read_to_string(&mut stderr)
            .expect("stderr is text");
        let status = child.wait().expect("zenml ends");
        assert!(
            status.success() && stderr.is_empty(),
            "`zenml {}` with a closed stdout: {status}\n{stderr}",
            args.join(" ")
        );
    }
}

/// Without `zenml` on PATH, the quickstart's closing hint names `cargo run -q -p zenml-cli --`
/// in a zenml-rs checkout (where `cargo run --example quickstart` runs), and says how to
/// install the CLI elsewhere.
fn closing_hints_work_without_an_installed_cli(zen: &Zenml) {
    let empty = zen.root().join("empty-bin");
    std::fs::create_dir_all(&empty).expect("a folder for PATH");
    let elsewhere = zen
        .example("quickstart", &[])
        .env("PATH", &empty.to_string_lossy())
        .ok();
    elsewhere.stdout_has(&[
        "Next: `zenml run describe",
        "install the `zenml` CLI first: `cargo install --path crates/zenml-cli` in a zenml-rs checkout",
    ]);
    // A folder that looks like the checkout (its CLI crate's manifest) gets the cargo form.
    zen.write("crates/zenml-cli/Cargo.toml", "[package]\n");
    let in_checkout = zen
        .example("quickstart", &[])
        .env("PATH", &empty.to_string_lossy())
        .ok();
    let name = in_checkout.run_name();
    in_checkout.stdout_has(&[
        &format!("Next: `cargo run -q -p zenml-cli -- run describe {name}` shows its steps and artifacts;"),
        "`cargo run -q -p zenml-cli -- up` shows every run in a browser (the dashboard).",
    ]);
    std::fs::remove_dir_all(zen.root().join("crates")).expect("the fake checkout removed");
}
