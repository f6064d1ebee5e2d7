//! Several pipeline processes started at the same moment in one repository: every run
//! succeeds and is recorded whole, and SQLite's locking never shows.

use std::collections::BTreeSet;
use std::time::Instant;

use zenml_e2e::{Zenml, strings};

/// Starts `n` quickstart processes at once in one repository, waits for all of them, and
/// checks what they recorded.
fn runs_at_once(n: usize) {
    let zen = Zenml::init();
    let start = Instant::now();
    // Without the cache, so that every process really runs and records every step.
    let started: Vec<_> = (0..n)
        .map(|_| zen.example("quickstart", &["--no-cache"]).spawn())
        .collect();
    let finished: Vec<_> = started.into_iter().map(|s| s.wait()).collect();
    eprintln!(
        "{n} quickstart runs at once took {:.2} s",
        start.elapsed().as_secs_f64()
    );

    let mut names = BTreeSet::new();
    for run in &finished {
        run.assert_success();
        assert!(
            !run.stderr.contains("database is locked"),
            "SQLite's lock leaked out\n{run}"
        );
        assert_eq!(run.stderr, "", "{run}");
        names.insert(run.run_name());
    }
    assert_eq!(names.len(), n, "every run has its own name: {names:?}");

    let runs = zen.cmd(&["--output", "json", "run", "list"]).ok();
    assert!(!runs.stderr.contains("database is locked"), "{runs}");
    let runs = runs.json()["items"].clone();
    assert_eq!(runs.as_array().map(Vec::len), Some(n), "{runs:#}");
    assert_eq!(
        strings(&runs, Some("name"))
            .into_iter()
            .collect::<BTreeSet<_>>(),
        names
    );
    for name in &names {
        let described = zen.json(&["run", "describe", name]);
        assert_eq!(described["run"]["status"], "completed", "{described:#}");
        let steps = described["steps"].as_array().expect("an array of steps");
        assert_eq!(steps.len(), 3, "{described:#}");
        for step in steps {
            assert_eq!(step["step"]["status"], "completed", "{described:#}");
            assert_eq!(step["outputs"].as_array().map(Vec::len), Some(1));
        }
        let total = zen.json(&["step", "describe", name, "total"]);
        assert_eq!(total["metadata"]["sum"], 385);
    }
    let pipelines = zen.json(&["pipeline", "list"])["items"].clone();
    assert_eq!(pipelines[0]["run_count"], n);
    let artifacts = zen.json(&["artifact", "list"])["items"].clone();
    assert_eq!(artifacts.as_array().map(Vec::len), Some(3 * n));
}

#[test]
fn four_runs_at_once() {
    runs_at_once(4);
}

#[test]
fn eight_runs_at_once() {
    runs_at_once(8);
}

#[test]
fn runs_started_at_once_in_an_empty_folder_share_one_new_repository() {
    let zen = Zenml::new();
    let started: Vec<_> = (0..4)
        .map(|_| zen.example("quickstart", &[]).spawn())
        .collect();
    let finished: Vec<_> = started.into_iter().map(|s| s.wait()).collect();
    let mut created = 0;
    for run in &finished {
        run.assert_success();
        if run.stderr.contains("Created a zenml repository") {
            created += 1;
        }
    }
    assert_eq!(created, 1, "exactly one process creates the repository");
    let runs = zen.json(&["run", "list"])["items"].clone();
    assert_eq!(runs.as_array().map(Vec::len), Some(4), "{runs:#}");
}
