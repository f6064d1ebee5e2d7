//! The step cache and storage, managed as a user manages them: `zenml cache list`,
//! `zenml cache invalidate` (and what the next run then recomputes), and
//! `zenml artifact prune`, which deletes unrecorded artifact folders and staging leftovers
//! but never a recorded artifact.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use zenml_e2e::{Zenml, strings};

/// The status of each step of `run`, in the pipeline's order.
fn statuses(zen: &Zenml, run: &str) -> Vec<(String, String)> {
    let described = zen.json(&["run", "describe", run]);
    let steps = described["steps"].as_array().expect("`steps` is an array");
    ["load", "split", "trainer", "evaluate"]
        .iter()
        .map(|name| {
            let step = steps
                .iter()
                .find(|s| s["step"]["name"] == *name)
                .unwrap_or_else(|| panic!("no step {name} in {described:#}"));
            (
                (*name).to_owned(),
                step["step"]["status"]
                    .as_str()
                    .expect("a status")
                    .to_owned(),
            )
        })
        .collect()
}

/// `statuses` as expected: each step with its status.
fn expect(pairs: [(&str, &str); 4]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(s, t)| ((*s).to_owned(), (*t).to_owned()))
        .collect()
}

/// The step names of `cache list --output json` (with filters), sorted.
fn cached_steps(zen: &Zenml, filters: &[&str]) -> Vec<String> {
    let mut args = vec!["cache", "list"];
    args.extend_from_slice(filters);
    let mut steps = strings(&zen.json(&args)["items"], Some("step"));
    steps.sort();
    steps
}

/// The step run of step `step` in `run`, from `step describe --output json`.
fn step_run(zen: &Zenml, run: &str, step: &str) -> Value {
    zen.json(&["step", "describe", run, step])
}

#[test]
fn invalidating_the_trainer_makes_the_next_run_compute_it_again() {
    let zen = Zenml::init();
    zen.example("training", &["--run-name", "base"]).ok();

    let entries = zen.json(&["cache", "list"])["items"].clone();
    assert_eq!(
        cached_steps(&zen, &[]),
        ["evaluate", "load", "split", "trainer"]
    );
    for entry in entries.as_array().expect("an array") {
        assert_eq!(entry["pipeline"], "training");
        assert_eq!(entry["run"], "base");
        assert_eq!(
            entry["cache_key"].as_str().map(str::len),
            Some(64),
            "{entry}"
        );
    }
    zen.ok(&["cache", "list"]).stdout_has(&[
        "STEP",
        "PIPELINE",
        "RUN",
        "CACHE KEY",
        "CREATED",
        "trainer",
        "base",
    ]);
    assert_eq!(cached_steps(&zen, &["--step", "trainer"]), ["trainer"]);
    assert_eq!(
        cached_steps(&zen, &["--pipeline", "training", "--step", "nope"]),
        Vec::<String>::new()
    );
    zen.fails(&["cache", "list", "--pipeline", "nope"])
        .stderr_has(&["pipeline `nope` not found", "training"]);

    // A filter or --all is required, and without a terminal -y is too.
    zen.run(&["cache", "invalidate"]).assert_usage_error();
    zen.run(&["cache", "invalidate", "--all", "--step", "trainer"])
        .assert_usage_error();
    zen.fails(&["cache", "invalidate", "--step", "trainer"])
        .stderr_has(&["Invalidate 1 cache entry of step `trainer`?", "Pass -y"]);
    assert_eq!(cached_steps(&zen, &[]).len(), 4, "nothing was invalidated");

    zen.ok(&["cache", "invalidate", "--step", "trainer", "-y"])
        .stdout_has(&["Invalidated 1 cache entry of step `trainer`"]);
    assert_eq!(cached_steps(&zen, &[]), ["evaluate", "load", "split"]);
    zen.ok(&["cache", "invalidate", "--step", "trainer", "-y"])
        .stdout_has(&["nothing invalidated"]);

    // The next run computes the trainer again; load and split are hits. The trainer is
    // deterministic, so it writes the same bytes as before: evaluate's cache key hashes the
    // *content* of its inputs, not their ids, so evaluate is a hit as well, reusing base's
    // evaluation.
    zen.example("training", &["--run-name", "after"])
        .ok()
        .stdout_has(&["completed: 4 steps, 3 cached."]);
    assert_eq!(
        statuses(&zen, "after"),
        expect([
            ("load", "cached"),
            ("split", "cached"),
            ("trainer", "completed"),
            ("evaluate", "cached"),
        ])
    );
    let evaluate = step_run(&zen, "after", "evaluate");
    assert_eq!(
        evaluate["step"]["original_step_run_id"],
        step_run(&zen, "base", "evaluate")["step"]["id"]
    );
    let trainers = zen.json(&["cache", "list", "--step", "trainer"])["items"].clone();
    assert_eq!(strings(&trainers, Some("run")), ["after"]);

    // Everything of the pipeline: the next run computes every step.
    assert_eq!(
        zen.json(&["cache", "invalidate", "--pipeline", "training", "-y"]),
        json!({ "invalidated": 4 })
    );
    assert!(cached_steps(&zen, &[]).is_empty());
    zen.ok(&["cache", "list"]).stdout_has(&["No cache entries"]);
    zen.example("training", &["--run-name", "fresh"]).ok();
    assert_eq!(
        statuses(&zen, "fresh"),
        expect([
            ("load", "completed"),
            ("split", "completed"),
            ("trainer", "completed"),
            ("evaluate", "completed"),
        ])
    );
    assert_eq!(
        zen.json(&["cache", "invalidate", "--all", "-y"]),
        json!({ "invalidated": 4 })
    );
}

/// A fresh UUID-shaped id (the artifact folder layout wants one).
fn fresh_id(n: u128) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("a time after 1970")
        .as_nanos();
    let hex = format!(
        "{:032x}",
        nanos ^ (n << 64) ^ (u128::from(std::process::id()) << 96)
    );
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

/// Copies the folder `from` to `to`, recursively.
fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).expect("the copy's folder");
    for entry in fs::read_dir(from).expect("the folder to copy") {
        let entry = entry.expect("an entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("a file type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), &target).expect("a copied file");
        }
    }
}

/// Sets the modification time of `path` and everything in it to `age` ago.
fn backdate(path: &Path, age: Duration) {
    if path.is_dir() {
        for entry in fs::read_dir(path).expect("a folder") {
            backdate(&entry.expect("an entry").path(), age);
        }
    }
    fs::File::open(path)
        .and_then(|f| f.set_modified(SystemTime::now() - age))
        .unwrap_or_else(|e| panic!("cannot backdate {}: {e}", path.display()));
}

/// Every file below `root`, relative to it, sorted.
fn files(root: &Path) -> BTreeSet<PathBuf> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeSet<PathBuf>) {
        for entry in fs::read_dir(dir).expect("a folder") {
            let path = entry.expect("an entry").path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                out.insert(
                    path.strip_prefix(root)
                        .expect("below the root")
                        .to_path_buf(),
                );
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(root, root, &mut out);
    out
}

/// The id of the artifact of output `output` of `step` in `run`.
fn output_id(zen: &Zenml, run: &str, step: &str, output: &str) -> String {
    step_run(zen, run, step)["outputs"]
        .as_array()
        .expect("outputs")
        .iter()
        .find(|o| o["name"] == output)
        .and_then(|o| o["artifact"]["id"].as_str())
        .unwrap_or_else(|| panic!("no output {step}.{output} in run {run}"))
        .to_owned()
}

#[test]
fn prune_deletes_unrecorded_folders_and_nothing_recorded() {
    let zen = Zenml::init();
    zen.example("training", &["--run-name", "base"]).ok();
    let artifacts = zen.path(".zen/artifacts");
    zen.ok(&["artifact", "prune"])
        .stdout_has(&["Nothing to prune.", "5 recorded artifact folder(s) kept"]);

    // An orphan, as a step that crashed after publishing its output leaves one: a copy of
    // the trainer's output under a fresh id, written two hours ago.
    let model = output_id(&zen, "base", "trainer", "output");
    let source = artifacts.join(format!("training/trainer/output/{model}"));
    let orphan_id = fresh_id(1);
    let orphan = artifacts.join(format!("training/trainer/output/{orphan_id}"));
    copy_dir(&source, &orphan);
    backdate(&orphan, Duration::from_secs(2 * 3600));
    // A young one: a running step may be about to record it.
    let young_id = fresh_id(2);
    let young = artifacts.join(format!("training/trainer/output/{young_id}"));
    copy_dir(&source, &young);
    // Staging leftovers: an old one and a young one.
    let old_staging = zen.path(".zen/staging/leftover-old");
    fs::create_dir_all(old_staging.join("sub")).expect("a staging folder");
    fs::write(old_staging.join("sub/part"), b"0123456789").expect("a staging file");
    backdate(&old_staging, Duration::from_secs(2 * 3600));
    let young_staging = zen.path(".zen/staging/leftover-young");
    fs::write(&young_staging, b"x").expect("a staging file");
    let before = files(&artifacts);

    // The default is a dry run.
    let dry = zen.ok(&["artifact", "prune"]);
    dry.stdout_has(&[
        &orphan_id,
        "leftover-old",
        "Would delete 1 unrecorded artifact folder(s) and 1 staging leftover(s)",
        "zenml artifact prune --yes",
        &format!("kept: training/trainer/output/{young_id}"),
    ]);
    assert_eq!(
        files(&artifacts),
        before,
        "a dry run deletes nothing\n{dry}"
    );
    assert!(old_staging.exists());
    let plan = zen.json(&["artifact", "prune"]);
    assert_eq!(plan["dry_run"], true);
    let orphans = &plan["plan"]["orphans"];
    assert_eq!(strings(orphans, Some("artifact_id")), [orphan_id.as_str()]);
    let model_size = zen.json(&["artifact", "describe", &model])["artifact"]["size"].clone();
    assert_eq!(orphans[0]["bytes"], model_size, "{plan:#}");
    assert_eq!(plan["plan"]["staging"][0]["bytes"], 10);
    assert_eq!(plan["plan"]["recorded_folders"], 5);

    // --yes deletes the orphan and the old leftover, and nothing else.
    zen.ok(&["artifact", "prune", "--yes"]).stdout_has(&[
        "Deleted 1 artifact folder(s) (1 object(s)) and 1 staging leftover(s)",
        &orphan_id,
    ]);
    let expected: BTreeSet<PathBuf> = before
        .iter()
        .filter(|f| !f.starts_with(format!("training/trainer/output/{orphan_id}")))
        .cloned()
        .collect();
    assert_eq!(expected.len(), before.len() - 1);
    assert_eq!(files(&artifacts), expected);
    assert!(!orphan.exists() && young.exists());
    assert!(!old_staging.exists() && young_staging.exists());

    // Every recorded artifact is still there: it describes, and the next run reuses every
    // step's outputs, which verifies their files against their recorded hashes.
    let recorded = zen.json(&["artifact", "list"])["items"].clone();
    assert_eq!(recorded.as_array().map(Vec::len), Some(5));
    for id in strings(&recorded, Some("id")) {
        let described = zen.json(&["artifact", "describe", &id]);
        let folder = described["artifact"]["uri"]
            .as_str()
            .and_then(|u| u.strip_prefix("file://"))
            .expect("a file URI");
        assert!(Path::new(folder).is_dir(), "{folder}");
    }
    zen.example("training", &["--run-name", "after"])
        .ok()
        .stdout_has(&["completed: 4 steps, 4 cached."]);

    // Without a minimum age the young ones go too; still nothing recorded.
    zen.ok(&["artifact", "prune", "--yes", "--min-age", "0"])
        .stdout_has(&["Deleted 1 artifact folder(s)", &young_id]);
    assert!(!young.exists() && !young_staging.exists());
    zen.example("training", &["--run-name", "after-all"])
        .ok()
        .stdout_has(&["completed: 4 steps, 4 cached."]);
    zen.ok(&["artifact", "prune"])
        .stdout_has(&["Nothing to prune."]);
}
