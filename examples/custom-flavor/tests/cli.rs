//! The `acme-zenml` binary (the whole command line, with `acme.mirror` next to `local`), and
//! a pipeline that runs on the stack it sets up.

// Helpers outside `#[test]` functions unwrap too: a panic is a test failure.
#![allow(clippy::unwrap_used)]

use std::fs;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::Value;
use zenml::metadata_store::StepStatus;
use zenml::pipeline::RunOutcome;
use zenml::prelude::*;
use zenml::stack::Repository;

// This test program runs pipelines in-process on `acme.mirror`, so it links the crate too.
use acme_zenml_flavors as _;

/// Runs `acme-zenml ARGS` in `dir` with no `ZENML_*` variables and no terminal.
fn run(dir: &Path, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_acme-zenml"));
    cmd.current_dir(dir).args(args).stdin(Stdio::null());
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("ZENML_") {
            cmd.env_remove(key);
        }
    }
    cmd.output().expect("the acme-zenml binary runs")
}

fn describe(args: &[&str], out: &Output) -> String {
    format!(
        "acme-zenml {}\nexit: {}\nstdout:\n{}\nstderr:\n{}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn ok(dir: &Path, args: &[&str]) -> Output {
    let out = run(dir, args);
    assert!(out.status.success(), "{}", describe(args, &out));
    out
}

fn json(dir: &Path, args: &[&str]) -> Value {
    let mut with_json = args.to_vec();
    with_json.extend(["--output", "json"]);
    let out = ok(dir, &with_json);
    serde_json::from_slice(&out.stdout).expect("JSON on stdout")
}

#[test]
fn the_binary_lists_registers_and_checks_the_mirror_flavor() {
    let tmp = tempfile::tempdir().unwrap();
    let tmp = fs::canonicalize(tmp.path()).unwrap();

    let flavors = json(&tmp, &["artifact-store", "flavor", "list"]);
    let names: Vec<&str> = flavors
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["acme.mirror", "azure", "gcs", "local", "s3"],
        "{flavors}"
    );
    assert_eq!(flavors[0]["source"], "acme-zenml-flavors");

    let described = json(
        &tmp,
        &["artifact-store", "flavor", "describe", "acme.mirror"],
    );
    assert!(
        described["fields"][1]["doc"]
            .as_str()
            .unwrap()
            .starts_with("The folder that keeps a second copy"),
        "{described}"
    );

    let repo = tmp.join("repo");
    let backup = tmp.join("backup");
    ok(&tmp, &["init", "--path", repo.to_str().unwrap()]);

    // Validation runs before anything is written.
    let config = fs::read(repo.join(".zen/config.toml")).unwrap();
    let args = [
        "artifact-store",
        "register",
        "bad",
        "--flavor",
        "acme.mirror",
        "--primary",
        "artifacts",
        "--mirror=artifacts/",
    ];
    let refused = run(&repo, &args);
    assert_eq!(
        refused.status.code(),
        Some(1),
        "{}",
        describe(&args, &refused)
    );
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("is also the primary folder"),
        "{}",
        describe(&args, &refused)
    );
    assert_eq!(fs::read(repo.join(".zen/config.toml")).unwrap(), config);

    ok(
        &repo,
        &[
            "artifact-store",
            "register",
            "m",
            "--flavor",
            "acme.mirror",
            "--primary",
            "artifacts",
            "--mirror",
            backup.to_str().unwrap(),
        ],
    );
    ok(
        &repo,
        &[
            "stack", "register", "mirrored", "-o", "default", "-m", "default", "-a", "m", "--set",
        ],
    );
    let check = json(&repo, &["stack", "check"]);
    assert_eq!(check["name"], "mirrored");
    assert_eq!(
        check["artifact_store"]["uri"],
        format!("file://{}", repo.join("artifacts").display())
    );
    assert!(repo.join("artifacts").is_dir() && backup.is_dir());
}

#[step]
fn numbers(count: Param<u32>) -> Vec<u32> {
    (1..=*count).collect()
}

#[step]
fn total(values: Vec<u32>) -> u32 {
    values.iter().sum()
}

#[pipeline]
fn summing() {
    let values = numbers(10);
    total(values);
}

fn run_summing(repo: &Path) -> RunOutcome {
    let options = RunOptions {
        repository: Some(repo.to_path_buf()),
        quiet: true,
        ..RunOptions::default()
    };
    summing().run(&options).unwrap()
}

/// The files below `dir`, relative to it, sorted.
fn files(dir: &Path) -> Vec<String> {
    fn walk(dir: &Path, base: &Path, out: &mut Vec<String>) {
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, base, out);
            } else {
                out.push(path.strip_prefix(base).unwrap().display().to_string());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

#[test]
fn a_pipeline_on_a_mirrored_stack_survives_losing_the_primary_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let tmp = fs::canonicalize(tmp.path()).unwrap();
    let (repo, backup) = (tmp.join("repo"), tmp.join("backup"));
    ok(&tmp, &["init", "--path", repo.to_str().unwrap()]);
    ok(
        &repo,
        &[
            "artifact-store",
            "register",
            "m",
            "--flavor",
            "acme.mirror",
            "--primary=artifacts",
            &format!("--mirror={}", backup.display()),
        ],
    );
    ok(
        &repo,
        &[
            "stack", "register", "mirrored", "-o", "default", "-m", "default", "-a", "m", "--set",
        ],
    );

    let first = run_summing(&repo);
    assert!(
        first
            .steps
            .iter()
            .all(|s| s.status == StepStatus::Completed)
    );
    let primary = repo.join("artifacts");
    let published = files(&primary);
    assert!(!published.is_empty());
    // The stores' staging folders aside, both folders hold the same files.
    let published: Vec<_> = published
        .into_iter()
        .filter(|f| !f.starts_with(".zenml-staging"))
        .collect();
    let mirrored: Vec<_> = files(&backup)
        .into_iter()
        .filter(|f| !f.starts_with(".zenml-staging"))
        .collect();
    assert_eq!(published, mirrored);

    // The primary disk is lost. The next run still finds every output (through the mirror),
    // so it is fully cached, and checking the outputs copied them back.
    fs::remove_dir_all(&primary).unwrap();
    let second = run_summing(&repo);
    assert!(
        second.steps.iter().all(|s| s.status == StepStatus::Cached),
        "{:?}",
        second.steps
    );
    let healed: Vec<_> = files(&primary)
        .into_iter()
        .filter(|f| !f.starts_with(".zenml-staging"))
        .collect();
    assert_eq!(healed, mirrored);

    let client = Client::open(&Repository::open(&repo).unwrap(), None).unwrap();
    let sum: u32 = client
        .latest_run("summing")
        .unwrap()
        .step("total")
        .unwrap()
        .output("output")
        .unwrap();
    assert_eq!(sum, 55);
}
