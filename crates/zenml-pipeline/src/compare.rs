//! Comparing runs: two runs step by step ([`RunComparison`]), or every run of some pipelines
//! as rows of one table ([`PipelineComparison`], what ZenML's `compare_training_runs` gave).
//!
//! Metrics are the metadata steps log about themselves. A `cached` step run logs none: its
//! metrics are those of the original step run whose outputs it reused, and that is what a
//! comparison shows for it.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use zenml_metadata_store::{
    MetadataStore, MetadataStoreError, Millis, RunRecord, RunStatus, StepRunRecord, StepStatus,
};

/// A run, as a comparison shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    /// The run's id.
    pub id: String,
    /// The run's name.
    pub name: String,
    /// Its pipeline.
    pub pipeline: String,
    /// Its status.
    pub status: RunStatus,
    /// When it started.
    pub started_at: Millis,
    /// How long it took, in milliseconds; `None` while it runs.
    pub duration_ms: Option<i64>,
}

impl RunSummary {
    fn of(run: &RunRecord) -> RunSummary {
        RunSummary {
            id: run.id.clone(),
            name: run.name.clone(),
            pipeline: run.pipeline_name.clone(),
            status: run.status,
            started_at: run.started_at,
            duration_ms: run.ended_at.map(|end| end - run.started_at),
        }
    }
}

/// Two runs compared step by step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunComparison {
    /// The first run.
    pub a: RunSummary,
    /// The second run.
    pub b: RunSummary,
    /// Every step name present in either run: first those of `a` in the order they
    /// finished, then those only `b` has.
    pub steps: Vec<StepComparison>,
}

impl RunComparison {
    /// `step.parameter` for every parameter whose value differs between the runs.
    pub fn differing_parameters(&self) -> Vec<String> {
        self.steps
            .iter()
            .flat_map(|s| {
                s.parameters
                    .iter()
                    .filter(|p| p.differs)
                    .map(move |p| format!("{}.{}", s.step, p.name))
            })
            .collect()
    }
}

/// One step in two runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepComparison {
    /// The step's name.
    pub step: String,
    /// The step in the first run, if it has the step.
    pub a: Option<StepSide>,
    /// The step in the second run, if it has the step.
    pub b: Option<StepSide>,
    /// Every parameter of either, sorted by name.
    pub parameters: Vec<ValueComparison>,
    /// Every metric of either, sorted by name.
    pub metrics: Vec<ValueComparison>,
}

/// A step run, as a comparison shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepSide {
    /// The step run's id.
    pub step_run_id: String,
    /// Its outcome.
    pub status: StepStatus,
    /// How long it took, in milliseconds.
    pub duration_ms: i64,
    /// For a `cached` step run: the step run it reused, whose metrics are shown.
    pub original_step_run_id: Option<String>,
}

/// A named value (a parameter or a metric) in two runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ValueComparison {
    /// The parameter's or metric's name.
    pub name: String,
    /// Its value in the first run, if it has one.
    pub a: Option<Value>,
    /// Its value in the second run, if it has one.
    pub b: Option<Value>,
    /// Whether the two differ (also when only one run has it). Numbers compare by value:
    /// `1` and `1.0` are the same.
    pub differs: bool,
}

/// Whether two JSON values are the same, numbers compared by value.
pub fn same_value(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_f64(), y.as_f64()) {
            (Some(x), Some(y)) if !(x.is_nan() || y.is_nan()) => x == y,
            _ => x == y,
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same_value(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| same_value(v, w)))
        }
        _ => a == b,
    }
}

fn compare_maps(
    a: Option<&BTreeMap<String, Value>>,
    b: Option<&BTreeMap<String, Value>>,
) -> Vec<ValueComparison> {
    let mut names: Vec<&String> = a.into_iter().chain(b).flat_map(BTreeMap::keys).collect();
    names.sort();
    names.dedup();
    names
        .into_iter()
        .map(|name| {
            let x = a.and_then(|m| m.get(name)).cloned();
            let y = b.and_then(|m| m.get(name)).cloned();
            let differs = match (&x, &y) {
                (Some(x), Some(y)) => !same_value(x, y),
                (None, None) => false,
                _ => true,
            };
            ValueComparison {
                name: name.clone(),
                a: x,
                b: y,
                differs,
            }
        })
        .collect()
}

fn parameters_of(step: &StepRunRecord) -> BTreeMap<String, Value> {
    step.parameters
        .as_object()
        .map(|o| o.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default()
}

/// The step run whose metadata holds a step run's metrics: its original when cached.
fn metrics_source(step: &StepRunRecord) -> &str {
    match (&step.status, &step.original_step_run_id) {
        (StepStatus::Cached, Some(original)) => original,
        _ => &step.id,
    }
}

/// The metrics of many step runs (cached ones through their originals), in one query: step
/// run id → metric → value.
fn metrics_of(
    store: &dyn MetadataStore,
    steps: &[&StepRunRecord],
) -> Result<HashMap<String, BTreeMap<String, Value>>, MetadataStoreError> {
    let sources: Vec<String> = steps
        .iter()
        .map(|s| metrics_source(s).to_owned())
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let mut by_source: HashMap<String, BTreeMap<String, Value>> = HashMap::new();
    for (id, key, value) in store.step_metadata_bulk(&sources)? {
        by_source.entry(id).or_default().insert(key, value);
    }
    Ok(steps
        .iter()
        .filter_map(|s| {
            by_source
                .get(metrics_source(s))
                .map(|m| (s.id.clone(), m.clone()))
        })
        .collect())
}

/// Compares two recorded runs step by step.
pub(crate) fn compare_runs(
    store: &dyn MetadataStore,
    a: &RunRecord,
    b: &RunRecord,
) -> Result<RunComparison, MetadataStoreError> {
    let steps_a = store.step_runs(&a.id)?;
    let steps_b = store.step_runs(&b.id)?;
    let all: Vec<&StepRunRecord> = steps_a.iter().chain(&steps_b).collect();
    let metrics = metrics_of(store, &all)?;
    let mut names: Vec<&str> = Vec::new();
    for step in &all {
        if !names.contains(&step.name.as_str()) {
            names.push(&step.name);
        }
    }
    let side = |step: &StepRunRecord| StepSide {
        step_run_id: step.id.clone(),
        status: step.status,
        duration_ms: step.ended_at - step.started_at,
        original_step_run_id: step.original_step_run_id.clone(),
    };
    let steps = names
        .into_iter()
        .map(|name| {
            let x = steps_a.iter().find(|s| s.name == name);
            let y = steps_b.iter().find(|s| s.name == name);
            let params_x = x.map(parameters_of);
            let params_y = y.map(parameters_of);
            StepComparison {
                step: name.to_owned(),
                a: x.map(side),
                b: y.map(side),
                parameters: compare_maps(params_x.as_ref(), params_y.as_ref()),
                metrics: compare_maps(
                    x.and_then(|s| metrics.get(&s.id)),
                    y.and_then(|s| metrics.get(&s.id)),
                ),
            }
        })
        .collect();
    Ok(RunComparison {
        a: RunSummary::of(a),
        b: RunSummary::of(b),
        steps,
    })
}

/// Every run of some pipelines as the rows of one table: the run's summary, then one column
/// per `step.parameter` and one per `step.metric` seen in any of the runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PipelineComparison {
    /// The pipelines compared, sorted.
    pub pipelines: Vec<String>,
    /// The parameter columns, `step.parameter`: steps in the order they first appear, each
    /// step's parameters sorted by name.
    pub parameter_columns: Vec<String>,
    /// The metric columns, `step.metric`, ordered the same way.
    pub metric_columns: Vec<String>,
    /// One row per run, newest first.
    pub rows: Vec<ComparisonRow>,
}

/// One run in a [`PipelineComparison`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ComparisonRow {
    /// The run.
    pub run: RunSummary,
    /// Its parameter values, by `step.parameter` column.
    pub parameters: BTreeMap<String, Value>,
    /// Its metric values, by `step.metric` column.
    pub metrics: BTreeMap<String, Value>,
}

impl PipelineComparison {
    /// The header of the table: `run`, `pipeline`, `status`, `started`, `duration_ms`, then
    /// the parameter columns and the metric columns. A metric column named like a parameter
    /// column gets ` (metric)` appended, so that every header is unique.
    pub fn header(&self) -> Vec<String> {
        let mut header: Vec<String> = ["run", "pipeline", "status", "started", "duration_ms"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        header.extend(self.parameter_columns.iter().cloned());
        header.extend(self.metric_columns.iter().map(|m| {
            if self.parameter_columns.contains(m) {
                format!("{m} (metric)")
            } else {
                m.clone()
            }
        }));
        header
    }

    /// The cells of each row, under [`header`](Self::header): the started time as
    /// `YYYY-MM-DD HH:MM:SS` (UTC), values as JSON text (strings without quotes), empty
    /// where a run has no such value. `format` turns each parameter or metric value into
    /// text.
    pub fn cells(&self, format: impl Fn(&Value) -> String) -> Vec<Vec<String>> {
        self.rows
            .iter()
            .map(|row| {
                let mut cells = vec![
                    row.run.name.clone(),
                    row.run.pipeline.clone(),
                    row.run.status.as_str().to_owned(),
                    crate::time::format_timestamp(row.run.started_at),
                    row.run
                        .duration_ms
                        .map(|d| d.to_string())
                        .unwrap_or_default(),
                ];
                cells.extend(
                    self.parameter_columns
                        .iter()
                        .map(|c| row.parameters.get(c).map(&format).unwrap_or_default()),
                );
                cells.extend(
                    self.metric_columns
                        .iter()
                        .map(|c| row.metrics.get(c).map(&format).unwrap_or_default()),
                );
                cells
            })
            .collect()
    }

    /// The table as CSV (RFC 4180): a header line, then one line per run, lines ended by
    /// CRLF, fields holding a comma, a quote or a line break quoted (quotes doubled). Values
    /// are written in full ([`value_text`]).
    pub fn to_csv(&self) -> String {
        let mut csv = String::new();
        csv_line(&mut csv, &self.header());
        for row in self.cells(value_text) {
            csv_line(&mut csv, &row);
        }
        csv
    }
}

/// A JSON value as text: strings without quotes, anything else as JSON.
pub fn value_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Appends one CSV record and its CRLF.
fn csv_line(out: &mut String, fields: &[String]) {
    for (i, field) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        if field.contains([',', '"', '\n', '\r']) {
            out.push('"');
            out.push_str(&field.replace('"', "\"\""));
            out.push('"');
        } else {
            out.push_str(field);
        }
    }
    out.push_str("\r\n");
}

/// Compares every run of `runs` (already in the order of the rows).
pub(crate) fn compare_pipelines(
    store: &dyn MetadataStore,
    pipelines: Vec<String>,
    runs: &[RunRecord],
) -> Result<PipelineComparison, MetadataStoreError> {
    let mut steps_of_runs = Vec::with_capacity(runs.len());
    for run in runs {
        steps_of_runs.push(store.step_runs(&run.id)?);
    }
    let all: Vec<&StepRunRecord> = steps_of_runs.iter().flatten().collect();
    let metrics = metrics_of(store, &all)?;

    // Column order: steps in the order they first appear (runs oldest first, so that the
    // pipeline's own order wins over later additions), names sorted within a step.
    let mut step_order: Vec<&str> = Vec::new();
    for steps in steps_of_runs.iter().rev() {
        for step in steps {
            if !step_order.contains(&step.name.as_str()) {
                step_order.push(&step.name);
            }
        }
    }
    let mut parameter_names: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut metric_names: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut rows = Vec::with_capacity(runs.len());
    for (run, steps) in runs.iter().zip(&steps_of_runs) {
        let mut row = ComparisonRow {
            run: RunSummary::of(run),
            parameters: BTreeMap::new(),
            metrics: BTreeMap::new(),
        };
        for step in steps {
            for (name, value) in parameters_of(step) {
                let names = parameter_names.entry(step.name.clone()).or_default();
                if !names.contains(&name) {
                    names.push(name.clone());
                }
                row.parameters
                    .insert(format!("{}.{name}", step.name), value);
            }
            for (name, value) in metrics.get(&step.id).into_iter().flatten() {
                let names = metric_names.entry(step.name.clone()).or_default();
                if !names.contains(name) {
                    names.push(name.clone());
                }
                row.metrics
                    .insert(format!("{}.{name}", step.name), value.clone());
            }
        }
        rows.push(row);
    }
    let columns = |names: &mut BTreeMap<String, Vec<String>>| -> Vec<String> {
        step_order
            .iter()
            .flat_map(|step| {
                let mut within = names.remove(*step).unwrap_or_default();
                within.sort();
                within.into_iter().map(move |n| format!("{step}.{n}"))
            })
            .collect()
    };
    Ok(PipelineComparison {
        pipelines,
        parameter_columns: columns(&mut parameter_names),
        metric_columns: columns(&mut metric_names),
        rows,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use zenml_metadata_store::{MetadataEntry, Resource};

    use super::*;
    use crate::lineage::tests::{StepSpec, open_store, run, step};

    /// Parses RFC 4180 text (quoted fields, doubled quotes, CRLF) into records.
    fn parse_csv(text: &str) -> Vec<Vec<String>> {
        let mut records = Vec::new();
        let mut record = Vec::new();
        let mut field = String::new();
        let mut chars = text.chars().peekable();
        let mut quoted = false;
        while let Some(c) = chars.next() {
            match (quoted, c) {
                (true, '"') if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                (true, '"') => quoted = false,
                (true, c) => field.push(c),
                (false, '"') if field.is_empty() => quoted = true,
                (false, ',') => record.push(std::mem::take(&mut field)),
                (false, '\r') if chars.peek() == Some(&'\n') => {
                    chars.next();
                    record.push(std::mem::take(&mut field));
                    records.push(std::mem::take(&mut record));
                }
                (false, c) => field.push(c),
            }
        }
        assert!(
            field.is_empty() && record.is_empty(),
            "the last line ends with CRLF"
        );
        records
    }

    #[test]
    fn csv_quotes_what_needs_quoting() {
        let mut out = String::new();
        csv_line(
            &mut out,
            &[
                "plain".to_owned(),
                "a,b".to_owned(),
                "say \"hi\"".to_owned(),
                "two\nlines".to_owned(),
                String::new(),
            ],
        );
        assert_eq!(out, "plain,\"a,b\",\"say \"\"hi\"\"\",\"two\nlines\",\r\n");
        assert_eq!(
            parse_csv(&out),
            [["plain", "a,b", "say \"hi\"", "two\nlines", ""]]
        );
    }

    #[test]
    fn numbers_compare_by_value() {
        assert!(same_value(&json!(1), &json!(1.0)));
        assert!(!same_value(&json!(0.5), &json!(0.7)));
        assert!(same_value(&json!({"a": [1, 2.0]}), &json!({"a": [1.0, 2]})));
        assert!(!same_value(&json!("1"), &json!(1)));
    }

    fn log(store: &dyn MetadataStore, step_run: &str, key: &str, value: Value) {
        store
            .log_metadata(&[MetadataEntry {
                resource: Resource::StepRun(step_run.to_owned()),
                key: key.to_owned(),
                value,
            }])
            .unwrap();
    }

    #[test]
    fn runs_compare_step_by_step_with_metrics_of_cached_steps() {
        let dir = tempfile::tempdir().unwrap();
        let store = open_store(dir.path());
        let r1 = run(&store, "p", "r1", 100);
        let (load1, load_out) = step(
            &store,
            StepSpec {
                outputs: vec!["output"],
                parameters: json!({"rows": 10}),
                ..StepSpec::new(&r1, "load", 100)
            },
        );
        let data = load_out["output"].id.clone();
        let (train1, _) = step(
            &store,
            StepSpec {
                inputs: vec![("data", data.clone())],
                outputs: vec!["output"],
                parameters: json!({"lr": 0.5, "epochs": 3}),
                ..StepSpec::new(&r1, "train", 110)
            },
        );
        log(&store, &load1, "rows_seen", json!(10));
        log(&store, &train1, "loss", json!(0.25));
        let r2 = run(&store, "p", "r2", 200);
        step(
            &store,
            StepSpec {
                cached_from: Some((load1.clone(), vec![("output", data.clone())])),
                parameters: json!({"rows": 10}),
                ..StepSpec::new(&r2, "load", 200)
            },
        );
        let (train2, _) = step(
            &store,
            StepSpec {
                inputs: vec![("data", data)],
                outputs: vec!["output"],
                parameters: json!({"lr": 0.7, "epochs": 3.0}),
                ..StepSpec::new(&r2, "train", 210)
            },
        );
        log(&store, &train2, "loss", json!(0.5));
        step(&store, StepSpec::new(&r2, "extra", 220));

        let a = store.get_run("r1").unwrap();
        let b = store.get_run("r2").unwrap();
        let comparison = compare_runs(&store, &a, &b).unwrap();
        let names: Vec<&str> = comparison.steps.iter().map(|s| s.step.as_str()).collect();
        assert_eq!(names, ["load", "train", "extra"]);
        assert_eq!(comparison.differing_parameters(), ["train.lr"]);

        let load = &comparison.steps[0];
        assert_eq!(load.b.as_ref().map(|s| s.status), Some(StepStatus::Cached));
        assert_eq!(
            load.metrics,
            [ValueComparison {
                name: "rows_seen".to_owned(),
                a: Some(json!(10)),
                b: Some(json!(10)),
                differs: false,
            }],
            "a cached step shows its original's metrics"
        );
        let train = &comparison.steps[1];
        assert_eq!(train.metrics[0].a, Some(json!(0.25)));
        assert_eq!(train.metrics[0].b, Some(json!(0.5)));
        assert!(train.metrics[0].differs);
        let epochs = &train.parameters[0];
        assert_eq!(epochs.name, "epochs");
        assert!(!epochs.differs, "3 and 3.0 are the same");
        let extra = &comparison.steps[2];
        assert!(extra.a.is_none() && extra.b.is_some());

        // The pipeline view: one row per run, newest first, and the columns of all runs.
        let runs = store.list_runs(Some("p")).unwrap();
        let table = compare_pipelines(&store, vec!["p".to_owned()], &runs).unwrap();
        assert_eq!(
            table.parameter_columns,
            ["load.rows", "train.epochs", "train.lr"]
        );
        assert_eq!(table.metric_columns, ["load.rows_seen", "train.loss"]);
        let csv = parse_csv(&table.to_csv());
        assert_eq!(csv.len(), 3);
        assert_eq!(
            csv[0],
            [
                "run",
                "pipeline",
                "status",
                "started",
                "duration_ms",
                "load.rows",
                "train.epochs",
                "train.lr",
                "load.rows_seen",
                "train.loss"
            ]
        );
        assert_eq!(csv[1][0], "r2");
        assert_eq!(&csv[1][5..], ["10", "3.0", "0.7", "10", "0.5"]);
        assert_eq!(csv[2][0], "r1");
        assert_eq!(&csv[2][5..], ["10", "3", "0.5", "10", "0.25"]);
    }

    #[test]
    fn a_metric_named_like_a_parameter_gets_its_own_header() {
        let comparison = PipelineComparison {
            pipelines: vec!["p".to_owned()],
            parameter_columns: vec!["s.x".to_owned()],
            metric_columns: vec!["s.x".to_owned(), "s.y".to_owned()],
            rows: Vec::new(),
        };
        assert_eq!(&comparison.header()[5..], ["s.x", "s.x (metric)", "s.y"]);
    }
}
