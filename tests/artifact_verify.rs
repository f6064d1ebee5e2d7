//! Tamper detection as a user meets it: `zenml artifact verify` re-hashes artifacts and
//! names each one whose files were edited, truncated or deleted; loads and cache hits
//! refuse such artifacts too.

use std::fs;
use std::path::PathBuf;

use serde_json::Value;
use zenml_e2e::Zenml;

/// The artifacts of `run`: (step, artifact id, local folder).
fn outputs(zen: &Zenml, run: &str) -> Vec<(String, String, PathBuf)> {
    let described = zen.json(&["run", "describe", run]);
    let mut found = Vec::new();
    for step in described["steps"].as_array().expect("steps") {
        for output in step["outputs"].as_array().expect("outputs") {
            let artifact = &output["artifact"];
            found.push((
                step["step"]["name"].as_str().unwrap_or_default().to_owned(),
                artifact["id"].as_str().unwrap_or_default().to_owned(),
                zen.path(".zen/artifacts")
                    .join(artifact["path"].as_str().unwrap_or_default()),
            ));
        }
    }
    found.sort();
    found
}

/// The one file of the artifact in `folder` (the built-in materializers write one).
fn data_file(folder: &PathBuf) -> PathBuf {
    let files: Vec<PathBuf> = fs::read_dir(folder)
        .expect("the artifact's folder")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    files[0].clone()
}

/// Each artifact's result, by id, from `zenml artifact verify ARGS --output json`.
fn results(zen: &Zenml, args: &[&str]) -> (Value, Vec<(String, String)>) {
    let mut full = vec!["--output", "json", "artifact", "verify"];
    full.extend(args);
    let run = zen.run(&full);
    let json: Value = serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}: {run}"));
    let mut found: Vec<(String, String)> = json["artifacts"]
        .as_array()
        .expect("artifacts")
        .iter()
        .map(|a| {
            let finding = &a["finding"];
            let state = finding["state"]
                .as_str()
                .or(finding["result"].as_str())
                .unwrap_or_default();
            (
                a["id"].as_str().unwrap_or_default().to_owned(),
                state.to_owned(),
            )
        })
        .collect();
    found.sort();
    (json, found)
}

#[test]
fn edited_truncated_and_deleted_artifacts_are_reported() {
    let zen = Zenml::init();
    zen.example("diamond", &["--run-name", "first"]).ok();
    let artifacts = outputs(&zen, "first");
    assert_eq!(artifacts.len(), 4, "{artifacts:?}");
    zen.ok(&["artifact", "verify", "--run", "first"])
        .stdout_has(&["4 artifacts checked, 0 missing, truncated or modified."]);

    let id_of = |step: &str| {
        artifacts
            .iter()
            .find(|(s, _, _)| s == step)
            .unwrap_or_else(|| panic!("no {step}"))
            .clone()
    };
    // Edit one (same length, other bytes), truncate one, delete one.
    let (_, edited, folder) = id_of("left");
    let file = data_file(&folder);
    let text = fs::read_to_string(&file).expect("read");
    fs::write(&file, text.replace('1', "7")).expect("edit");
    let (_, truncated, folder) = id_of("right");
    let file = data_file(&folder);
    let bytes = fs::read(&file).expect("read");
    fs::write(&file, &bytes[..bytes.len() / 2]).expect("truncate");
    let (_, deleted, folder) = id_of("join");
    fs::remove_dir_all(&folder).expect("delete");
    let (_, intact, _) = id_of("source");

    let run = zen.fails(&["artifact", "verify", "--all"]);
    run.stdout_has(&[
        "4 artifacts checked, 3 missing, truncated or modified",
        "modified",
        "truncated",
        "missing",
    ])
    .stderr_has(&["3 of 4 artifacts are missing, truncated or modified"]);
    let (json, found) = results(&zen, &["--run", "first"]);
    let mut expected = vec![
        (edited.clone(), "modified".to_owned()),
        (truncated.clone(), "truncated".to_owned()),
        (deleted.clone(), "missing".to_owned()),
        (intact.clone(), "intact".to_owned()),
    ];
    expected.sort();
    assert_eq!(found, expected, "{json:#}");
    assert_eq!(json["problems"], 3);
    // By id: only those named.
    let (_, found) = results(&zen, &[&intact]);
    assert_eq!(found, [(intact.clone(), "intact".to_owned())]);
    zen.ok(&["artifact", "verify", &intact]);
    zen.fails(&["artifact", "verify", &truncated])
        .stdout_has(&["truncated"]);
    zen.fails(&["artifact", "verify", "no-such-id"])
        .stderr_has(&["artifact `no-such-id` not found"]);
    zen.fails(&["artifact", "verify"])
        .stderr_has(&["--run", "--all"]);

    // A cache hit refuses them: the next run recomputes every step whose output changed.
    zen.example("diamond", &["--run-name", "second"]).ok();
    let statuses: Vec<(String, String)> = zen
        .step_statuses("second")
        .into_iter()
        .filter(|(name, _)| name != "source")
        .collect();
    assert!(
        statuses.iter().all(|(_, status)| status == "completed"),
        "{statuses:?}"
    );
    zen.ok(&["artifact", "verify", "--run", "second"]);
}
