//! Lineage and run graphs of the training example, as a user reads them: `zenml artifact
//! lineage ID [--depth N]` and `zenml run dag RUN`, as tables, JSON and Graphviz DOT that
//! `dot -Tsvg` renders.

use std::collections::BTreeSet;
use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::Value;
use zenml_e2e::Zenml;

/// The artifact id of output `output` of step `step` in `run` (from `run describe`).
fn output_id(zen: &Zenml, run: &str, step: &str, output: &str) -> String {
    let described = zen.json(&["run", "describe", run]);
    described["steps"]
        .as_array()
        .expect("`steps` is an array")
        .iter()
        .find(|s| s["step"]["name"] == step)
        .and_then(|s| {
            s["outputs"]
                .as_array()?
                .iter()
                .find(|o| o["name"] == output)
        })
        .and_then(|o| o["artifact"]["id"].as_str())
        .unwrap_or_else(|| panic!("no output {step}.{output} in {described:#}"))
        .to_owned()
}

/// The nodes of a lineage graph (JSON) of one kind.
fn nodes<'a>(graph: &'a Value, kind: &str) -> Vec<&'a Value> {
    graph["nodes"]
        .as_array()
        .expect("`nodes` is an array")
        .iter()
        .filter(|n| n["kind"] == kind)
        .collect()
}

/// The step names of the step run nodes, sorted (with repeats).
fn step_names(graph: &Value) -> Vec<String> {
    let mut names: Vec<String> = nodes(graph, "step_run")
        .iter()
        .map(|n| n["step"].as_str().expect("a step name").to_owned())
        .collect();
    names.sort();
    names
}

/// The edges of a graph as (from, kind, name, to).
fn edges(graph: &Value) -> BTreeSet<(String, String, String, String)> {
    graph["edges"]
        .as_array()
        .expect("`edges` is an array")
        .iter()
        .map(|e| {
            let text = |key: &str| e[key].as_str().expect("a string").to_owned();
            (text("from"), text("kind"), text("name"), text("to"))
        })
        .collect()
}

/// The id of the step run node of step `step` in run `run`.
fn step_node(graph: &Value, step: &str, run: &str) -> String {
    nodes(graph, "step_run")
        .into_iter()
        .find(|n| n["step"] == step && n["run"] == run)
        .and_then(|n| n["id"].as_str())
        .unwrap_or_else(|| panic!("no step {step} of run {run} in {graph:#}"))
        .to_owned()
}

/// Renders `dot_text` with Graphviz (`dot -Tsvg`) and asserts that it succeeds. Without
/// `dot` installed, prints that the check is skipped, except under `CI=true`, where
/// `.ci/services` installs it and its absence is a failure.
fn assert_graphviz_renders(dot_text: &str, what: &str) {
    let child = Command::new("dot")
        .arg("-Tsvg")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(child) => child,
        Err(e) => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "Graphviz `dot` cannot be run ({e}); under CI=true `bash .ci/services` installs it"
            );
            eprintln!(
                "skipped rendering {what} with Graphviz: `dot` cannot be run ({e}); \
                 install graphviz (or run `bash .ci/services`) to check it"
            );
            return;
        }
    };
    child
        .stdin
        .take()
        .expect("dot's stdin")
        .write_all(dot_text.as_bytes())
        .expect("DOT written to dot");
    let output = child.wait_with_output().expect("dot finished");
    assert!(
        output.status.success(),
        "dot -Tsvg rejected {what}: {}\n{dot_text}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("<svg"),
        "dot -Tsvg printed no SVG for {what}"
    );
}

#[test]
fn the_lineage_of_evaluates_output_goes_up_to_load_and_renders() {
    let zen = Zenml::init();
    zen.example("training", &["--run-name", "base"]).ok();
    let id = output_id(&zen, "base", "evaluate", "output");

    let graph = zen.json(&["artifact", "lineage", &id]);
    assert_eq!(graph["root"], id.as_str());
    assert_eq!(graph["depth"], Value::Null);
    assert_eq!(
        step_names(&graph),
        ["evaluate", "load", "split", "trainer"],
        "{graph:#}"
    );
    // load's output, split's train and test, the model, evaluate's output.
    assert_eq!(nodes(&graph, "artifact").len(), 5, "{graph:#}");
    let trainer = nodes(&graph, "step_run")
        .into_iter()
        .find(|n| n["step"] == "trainer")
        .expect("the trainer");
    assert_eq!(trainer["run"], "base");
    assert_eq!(trainer["pipeline"], "training");
    assert_eq!(trainer["status"], "completed");
    assert_eq!(trainer["parameters"]["learning_rate"], 0.5);
    assert_eq!(trainer["code_hash"].as_str().map(str::len), Some(64));
    let evaluate = step_node(&graph, "evaluate", "base");
    let model = output_id(&zen, "base", "trainer", "output");
    let test_set = output_id(&zen, "base", "split", "test");
    let edges = edges(&graph);
    for edge in [
        (evaluate.clone(), "output", "output", id.clone()),
        (model.clone(), "input", "model", evaluate.clone()),
        (test_set, "input", "test", evaluate.clone()),
        (
            step_node(&graph, "trainer", "base"),
            "output",
            "output",
            model,
        ),
    ] {
        let edge = (edge.0, edge.1.to_owned(), edge.2.to_owned(), edge.3);
        assert!(edges.contains(&edge), "{edge:?} in {graph:#}");
    }
    assert_eq!(
        edges.len(),
        9,
        "4 inputs and 5 outputs, each once: {graph:#}"
    );

    // The same as DOT, which Graphviz renders.
    let dot = zen
        .ok(&["artifact", "lineage", &id, "--output", "dot"])
        .stdout
        .clone();
    assert!(dot.starts_with("digraph lineage {"), "{dot}");
    assert!(dot.contains(&format!("\"artifact:{id}\"")), "{dot}");
    assert!(
        dot.contains("shape=box") && dot.contains("shape=ellipse"),
        "{dot}"
    );
    assert!(dot.contains("learning_rate=0.5"), "{dot}");
    assert_graphviz_renders(&dot, "the lineage of evaluate's output");

    // One step run up: evaluate and its inputs only.
    let near = zen.json(&["artifact", "lineage", &id, "--depth", "1"]);
    assert_eq!(near["depth"], 1);
    assert_eq!(step_names(&near), ["evaluate"], "{near:#}");
    assert_eq!(nodes(&near, "artifact").len(), 3, "{near:#}");
    let near_dot = zen
        .ok(&["artifact", "lineage", &id, "--depth", "1", "-O", "dot"])
        .stdout
        .clone();
    assert!(near_dot.len() < dot.len());
    assert_graphviz_renders(&near_dot, "a lineage of depth 1");
    let alone = zen.json(&["artifact", "lineage", &id, "--depth", "0"]);
    assert_eq!(alone["nodes"].as_array().map(Vec::len), Some(1));

    // For people: the step runs, artifacts and edges.
    zen.ok(&["artifact", "lineage", &id]).stdout_has(&[
        &format!("Lineage of artifact {id} (f64, output `output`)"),
        "Step runs",
        "Artifacts",
        "Edges",
        "step trainer [base]",
        "input `model`",
    ]);

    // A node cap keeps the nearest nodes and says how many it left out.
    let capped = zen.json(&["artifact", "lineage", &id, "--max-nodes", "3"]);
    assert_eq!(
        capped["nodes"].as_array().map(Vec::len),
        Some(3),
        "{capped:#}"
    );
    assert_eq!(capped["max_nodes"], 3);
    assert!(
        capped["left_out"].as_u64().is_some_and(|n| n > 0),
        "{capped:#}"
    );
    assert_eq!(graph["left_out"], 0);
    zen.ok(&["artifact", "lineage", &id, "--max-nodes", "3"])
        .stdout_has(&["left out at the limit of 3 nodes", "raise --max-nodes"]);
    zen.cmd(&["artifact", "lineage", &id, "--max-nodes", "0"])
        .run()
        .assert_usage_error()
        .stderr_has(&["--max-nodes"]);

    // An unknown artifact.
    zen.fails(&["artifact", "lineage", "nope"])
        .stderr_has(&["artifact `nope` not found", "zenml artifact list"]);
}

#[test]
fn the_lineage_of_loads_output_shows_its_consumers_in_every_run() {
    let zen = Zenml::init();
    zen.example("training", &["--run-name", "first"]).ok();
    // The same parameters: every step of the second run is cached.
    zen.example("training", &["--run-name", "second"]).ok();
    let data = output_id(&zen, "first", "load", "output");
    assert_eq!(
        output_id(&zen, "second", "load", "output"),
        data,
        "a cached step reuses the original's output"
    );

    let graph = zen.json(&["artifact", "lineage", &data]);
    let edges = edges(&graph);
    let first_split = step_node(&graph, "split", "first");
    let second_split = step_node(&graph, "split", "second");
    for split in [&first_split, &second_split] {
        let edge = (
            data.clone(),
            "input".to_owned(),
            "data".to_owned(),
            split.clone(),
        );
        assert!(
            edges.contains(&edge),
            "split consumed load's output: {graph:#}"
        );
    }
    // The cached split of the second run leads to the split that really ran.
    let cached = nodes(&graph, "step_run")
        .into_iter()
        .find(|n| n["id"] == second_split.as_str())
        .expect("the cached split");
    assert_eq!(cached["status"], "cached");
    assert_eq!(cached["original_step_run_id"], first_split.as_str());
    assert!(edges.contains(&(
        second_split.clone(),
        "cached_from".to_owned(),
        String::new(),
        first_split.clone()
    )));
    // Downstream all the way: the trainers and evaluations of both runs.
    assert_eq!(
        step_names(&graph),
        [
            "evaluate", "evaluate", "load", "split", "split", "trainer", "trainer"
        ],
        "{graph:#}"
    );

    // One level down: the splits and their outputs, not the trainers.
    let near = zen.json(&["artifact", "lineage", &data, "--depth", "1"]);
    assert_eq!(step_names(&near), ["load", "split", "split"], "{near:#}");
    let artifacts: BTreeSet<&str> = nodes(&near, "artifact")
        .iter()
        .filter_map(|a| a["output_name"].as_str())
        .collect();
    assert_eq!(artifacts, BTreeSet::from(["output", "test", "train"]));

    let dot = zen
        .ok(&["artifact", "lineage", &data, "-O", "dot"])
        .stdout
        .clone();
    assert!(
        dot.contains("cached from") && dot.contains("style=dashed"),
        "{dot}"
    );
    assert_graphviz_renders(&dot, "a lineage with cached step runs");
}

#[test]
fn the_dag_of_a_run_has_its_four_steps_and_their_artifacts() {
    let zen = Zenml::init();
    zen.example("training", &["--run-name", "base"]).ok();
    zen.example("training", &["--run-name", "again"]).ok();

    for run in ["base", "again"] {
        let dag = zen.json(&["run", "dag", run]);
        assert_eq!(dag["root"], Value::Null);
        let steps = nodes(&dag, "step_run");
        assert_eq!(steps.len(), 4, "{dag:#}");
        assert!(
            steps.iter().all(|s| s["run"] == run),
            "only the run's own step runs"
        );
        assert_eq!(step_names(&dag), ["evaluate", "load", "split", "trainer"]);
        assert_eq!(nodes(&dag, "artifact").len(), 5, "{dag:#}");
        assert_eq!(edges(&dag).len(), 9, "{dag:#}");
        let expected_status = if run == "base" { "completed" } else { "cached" };
        assert!(
            steps.iter().all(|s| s["status"] == expected_status),
            "{dag:#}"
        );
        let dot = zen
            .ok(&["run", "dag", run, "--output", "dot"])
            .stdout
            .clone();
        assert_graphviz_renders(&dot, &format!("the graph of run `{run}`"));
    }
    // Both runs show the same artifacts: the second reused them all.
    let ids = |run: &str| -> BTreeSet<String> {
        nodes(&zen.json(&["run", "dag", run]), "artifact")
            .iter()
            .map(|a| a["id"].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    assert_eq!(ids("base"), ids("again"));

    zen.ok(&["run", "dag", "base"]).stdout_has(&[
        "Run `base` of pipeline `training`: completed",
        "step split [base]",
        "output `train`",
    ]);
    zen.fails(&["run", "dag", "nope"])
        .stderr_has(&["run `nope` not found"]);
}

#[test]
fn dot_and_csv_are_refused_where_they_make_no_sense() {
    let zen = Zenml::init();
    zen.example("training", &["--run-name", "base"]).ok();
    for args in [
        &["run", "list"][..],
        &["stack", "list"],
        &["run", "describe", "base"],
        &["pipeline", "compare"],
        &["stack", "delete", "default", "-y"],
    ] {
        let mut line = vec!["--output", "dot"];
        line.extend_from_slice(args);
        zen.refused(&line).stderr_has(&[
            "`--output dot` is only for the graph commands `zenml artifact lineage` and `zenml run dag`",
        ]);
    }
    for args in [
        &["run", "dag", "base"][..],
        &["run", "list"],
        &["cache", "list"],
    ] {
        let mut line = vec!["-O", "csv"];
        line.extend_from_slice(args);
        zen.refused(&line)
            .stderr_has(&["`--output csv` is only for `zenml pipeline compare`"]);
    }
    zen.ok(&["stack", "describe"]);
}
