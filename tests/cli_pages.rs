//! Every list shows a page: `--limit`, `--page`, `--all`, filters, and JSON that carries the
//! total and the next page, on runs recorded by the quickstart example.

use serde_json::Value;
use zenml_e2e::{Zenml, strings};

fn items(document: &Value) -> usize {
    document["items"].as_array().map_or(0, Vec::len)
}

#[test]
fn lists_show_pages_with_their_totals_and_stream_everything_with_all() {
    let zen = Zenml::init();
    let mut runs = Vec::new();
    for _ in 0..3 {
        runs.push(zen.example("quickstart", &[]).ok().run_name());
    }
    runs.reverse();

    let first = zen.json(&["run", "list", "--limit", "2"]);
    assert_eq!(items(&first), 2, "{first:#}");
    assert_eq!(first["total"], 3);
    assert_eq!(first["total_exact"], true);
    assert_eq!(first["next_page"], 2);
    assert_eq!(
        strings(&first["items"], Some("name")),
        runs[..2].to_vec(),
        "newest first"
    );
    let second = zen.json(&["run", "list", "--limit", "2", "--page", "2"]);
    assert_eq!(strings(&second["items"], Some("name")), runs[2..].to_vec());
    assert_eq!(second["next_page"], Value::Null, "the last page");
    zen.ok(&["run", "list", "--limit", "2"]).stdout_has(&[
        "Runs 1–2 of 3.",
        "Next page: --page 2",
        "--all",
    ]);
    zen.ok(&["run", "list", "--page", "9"])
        .stdout_has(&["Page 9 is past the last of 3 runs."]);

    // --all streams every row: JSON as one document, a table as tab-separated lines.
    let all = zen.json(&["run", "list", "--all"]);
    assert_eq!(strings(&all["items"], Some("name")), runs);
    assert_eq!(all["total"], 3);
    let lines = zen.ok(&["run", "list", "--all"]).stdout;
    let lines: Vec<&str> = lines.lines().collect();
    assert_eq!(lines.len(), 4, "a header and a line per run: {lines:?}");
    assert!(lines[0].starts_with("RUN\tPIPELINE\tSTATUS"), "{lines:?}");
    assert!(lines[1].starts_with(&format!("{}\tquickstart\tcompleted", runs[0])));

    // Filters.
    assert_eq!(
        items(&zen.json(&["run", "list", "--status", "completed"])),
        3
    );
    zen.ok(&["run", "list", "--status", "failed"])
        .stdout_has(&["No runs match these filters."]);
    let usage = zen.cmd(&["run", "list", "--status", "done"]).run();
    assert_eq!(usage.code, Some(2), "a usage error: {usage}");
    usage.stderr_has(&["`done` is no run status"]);
    let artifacts = zen.json(&["artifact", "list"]);
    assert_eq!(
        artifacts["total"], 3,
        "the first run's three outputs, reused by the cached runs: {artifacts:#}"
    );
    let totals = zen.json(&["artifact", "list", "--step", "total"]);
    assert_eq!(items(&totals), 1, "{totals:#}");
    assert_eq!(
        items(&zen.json(&[
            "artifact",
            "list",
            "--pipeline",
            "quickstart",
            "--since",
            "2000-01-01"
        ])),
        3
    );
    assert_eq!(
        items(&zen.json(&["artifact", "list", "--since", "2999-01-01"])),
        0
    );
    let usage = zen.cmd(&["artifact", "list", "--since", "yesterday"]).run();
    assert_eq!(usage.code, Some(2), "a usage error: {usage}");
    usage.stderr_has(&["neither an age"]);
    zen.fails(&["artifact", "list", "--pipeline", "nope"])
        .stderr_has(&["pipeline `nope` not found"]);
    let all_artifacts = zen.json(&["artifact", "list", "--all", "--limit", "1"]);
    assert_eq!(items(&all_artifacts), 3);

    // Deep pages are refused with what to do instead.
    zen.fails(&["run", "list", "--page", "202"])
        .stderr_has(&["starts past the first 10000", "--all"]);
    let pipelines = zen.json(&["pipeline", "list"]);
    assert_eq!(
        (items(&pipelines), pipelines["total"].clone()),
        (1, Value::from(1))
    );
    let entries = zen.json(&["cache", "list", "--limit", "1"]);
    assert_eq!(
        (items(&entries), entries["next_page"].clone()),
        (1, Value::from(2))
    );
}
