//! `zenml run compare` and `zenml pipeline compare`: runs side by side.

use serde_json::Value;
use zenml::pipeline::Client;
use zenml::pipeline::compare::{ValueComparison, value_text};
use zenml::pipeline::time::format_duration;

use crate::args::OutputFormat;
use crate::output::{Output, table, wide_table, write_stdout};

/// A value for a table: numbers to six significant digits, strings without quotes.
fn short_value(value: &Value) -> String {
    match value {
        Value::Number(n) if n.is_f64() => {
            let x = n.as_f64().unwrap_or(f64::NAN);
            if x == 0.0 || !x.is_finite() {
                return x.to_string();
            }
            let magnitude = x.abs().log10().floor() as i32;
            if !(-4..=9).contains(&magnitude) {
                return format!("{x:.5e}");
            }
            let decimals = (5 - magnitude).clamp(0, 12) as usize;
            let text = format!("{x:.decimals$}");
            if text.contains('.') {
                text.trim_end_matches('0').trim_end_matches('.').to_owned()
            } else {
                text
            }
        }
        other => value_text(other),
    }
}

fn optional(value: &Option<Value>) -> String {
    value.as_ref().map(short_value).unwrap_or_default()
}

/// `zenml run compare A B`.
pub(crate) fn runs(out: Output, client: &Client, a: &str, b: &str) -> anyhow::Result<()> {
    let comparison = client.compare_runs(a, b)?;
    out.show(serde_json::to_value(&comparison)?, || {
        let summary = |r: &zenml::pipeline::compare::RunSummary| {
            format!(
                "`{}` (pipeline `{}`, {}, {})",
                r.name,
                r.pipeline,
                r.status.as_str(),
                r.duration_ms
                    .map(format_duration)
                    .unwrap_or_else(|| "running".to_owned())
            )
        };
        let mut rows = Vec::new();
        let mark = |differs: bool| if differs { "*" } else { "" }.to_owned();
        for step in &comparison.steps {
            let side = |s: &Option<zenml::pipeline::compare::StepSide>| {
                s.as_ref()
                    .map(|s| s.status.as_str().to_owned())
                    .unwrap_or_else(|| "(absent)".to_owned())
            };
            rows.push([
                mark(step.a.is_none() || step.b.is_none()),
                step.step.clone(),
                "status".to_owned(),
                side(&step.a),
                side(&step.b),
            ]);
            let duration = |s: &Option<zenml::pipeline::compare::StepSide>| {
                s.as_ref()
                    .map(|s| format_duration(s.duration_ms))
                    .unwrap_or_default()
            };
            rows.push([
                String::new(),
                step.step.clone(),
                "duration".to_owned(),
                duration(&step.a),
                duration(&step.b),
            ]);
            let values = |kind: &str, values: &[ValueComparison]| {
                values
                    .iter()
                    .map(|v| {
                        [
                            mark(v.differs),
                            step.step.clone(),
                            format!("{kind} {}", v.name),
                            optional(&v.a),
                            optional(&v.b),
                        ]
                    })
                    .collect::<Vec<_>>()
            };
            rows.extend(values("parameter", &step.parameters));
            rows.extend(values("metric", &step.metrics));
        }
        let header_a = format!("A: {}", comparison.a.name);
        let header_b = format!("B: {}", comparison.b.name);
        let differing = comparison.differing_parameters();
        format!(
            "A: run {}\nB: run {}\n{}\n{}",
            summary(&comparison.a),
            summary(&comparison.b),
            table(["", "STEP", "WHAT", &header_a, &header_b], rows),
            if differing.is_empty() {
                "* marks what differs. The parameters are the same.".to_owned()
            } else {
                format!(
                    "* marks what differs. Differing parameters: {}.",
                    differing.join(", ")
                )
            }
        )
    });
    Ok(())
}

/// `zenml pipeline compare [PIPELINE …] [--limit N]`: the newest N runs.
pub(crate) fn pipelines(
    out: Output,
    client: &Client,
    pipelines: &[String],
    limit: u64,
) -> anyhow::Result<()> {
    let names: Vec<&str> = pipelines.iter().map(String::as_str).collect();
    let (comparison, total) = client.compare_newest_runs(&names, limit)?;
    if out.format == OutputFormat::Csv {
        write_stdout(&comparison.to_csv());
        return Ok(());
    }
    let shown = comparison.rows.len() as u64;
    let mut document = serde_json::to_value(&comparison)?;
    if let Some(object) = document.as_object_mut() {
        object.insert("total_runs".to_owned(), total.into());
        object.insert("limit".to_owned(), limit.into());
    }
    out.show(document, || {
        let mut header = comparison.header();
        header[4] = "duration".to_owned();
        let mut cells = comparison.cells(short_value);
        for (row, record) in cells.iter_mut().zip(&comparison.rows) {
            row[4] = record
                .run
                .duration_ms
                .map(format_duration)
                .unwrap_or_else(|| "running".to_owned());
        }
        if cells.is_empty() {
            return "No runs to compare.".to_owned();
        }
        let mut text = wide_table(&header, cells);
        if total > shown {
            text.push_str(&format!(
                "\nThe newest {shown} of {total} runs; --limit N compares up to 1000."
            ));
        }
        text
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn table_values_are_short() {
        assert_eq!(short_value(&json!(0.7)), "0.7");
        assert_eq!(short_value(&json!(0.020833333333)), "0.0208333");
        assert_eq!(short_value(&json!(123.456789)), "123.457");
        assert_eq!(short_value(&json!(3.0)), "3");
        assert_eq!(short_value(&json!(2000)), "2000");
        assert_eq!(short_value(&json!(1.5e-9)), "1.50000e-9");
        assert_eq!(short_value(&json!("text")), "text");
    }
}
