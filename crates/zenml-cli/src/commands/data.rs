//! `zenml artifact schema|statistics`: the schema and statistics a table or array artifact
//! was saved with, and two artifacts' statistics side by side.

use serde_json::json;
use zenml::materializer::{
    ColumnDrift, ColumnStatistics, DataKind, DataStatistics, DriftMeasure, Presence,
    compare_statistics,
};
use zenml::pipeline::ArtifactView;

use crate::output::{Output, wide_table};

/// The eight heights of a histogram bar.
const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// `zenml artifact schema ARTIFACT`.
pub(super) fn schema(out: Output, artifact: &ArtifactView<'_>) -> anyhow::Result<()> {
    let Some(schema) = artifact.schema()? else {
        anyhow::bail!(
            "artifact {} (a `{}`) has no schema: schemas are recorded for tables and arrays",
            artifact.id,
            artifact.rust_type
        );
    };
    out.show(serde_json::to_value(&schema)?, || {
        let heading = match (schema.kind, &schema.shape) {
            (DataKind::Array, Some(shape)) => format!(
                "Array of shape ({}), {} elements",
                shape
                    .iter()
                    .map(u64::to_string)
                    .collect::<Vec<_>>()
                    .join(", "),
                schema.rows
            ),
            _ => format!(
                "Table of {} rows, {} columns",
                schema.rows,
                schema.columns.len()
            ),
        };
        let rows = schema.columns.iter().map(|c| {
            vec![
                c.name.clone(),
                c.data_type.clone(),
                if c.nullable { "yes" } else { "no" }.to_owned(),
            ]
        });
        format!(
            "{heading}\n{}",
            wide_table(&["COLUMN".into(), "TYPE".into(), "NULLABLE".into()], rows)
        )
    });
    Ok(())
}

fn require_statistics(artifact: &ArtifactView<'_>) -> anyhow::Result<DataStatistics> {
    artifact.statistics()?.ok_or_else(|| {
        anyhow::anyhow!(
            "artifact {} (a `{}`) has no statistics: they are recorded for tables and arrays, \
             unless the step switched them off for the output",
            artifact.id,
            artifact.rust_type
        )
    })
}

/// `zenml artifact statistics ARTIFACT`.
pub(super) fn statistics(out: Output, artifact: &ArtifactView<'_>) -> anyhow::Result<()> {
    let stats = require_statistics(artifact)?;
    out.show(serde_json::to_value(&stats)?, || {
        let header: Vec<String> = [
            "COLUMN",
            "TYPE",
            "COUNT",
            "NULLS",
            "DISTINCT",
            "MIN",
            "MEDIAN",
            "MEAN",
            "STD",
            "MAX",
            "HISTOGRAM / TOP VALUES",
        ]
        .map(str::to_owned)
        .to_vec();
        let rows = stats.columns.iter().map(column_row);
        format!("{} rows\n{}", stats.rows, wide_table(&header, rows))
    });
    Ok(())
}

fn column_row(c: &ColumnStatistics) -> Vec<String> {
    let distinct = c.distinct.map_or(String::new(), |d| {
        if d.exact {
            d.value.to_string()
        } else {
            format!("~{}", d.value)
        }
    });
    let (min, median, mean, std, max, shape) = match (&c.numeric, &c.top_values) {
        (Some(n), _) => {
            let median = n.quantiles.iter().find(|q| q.q == 0.5).map(|q| q.value);
            let mut shape = sparkline(&n.histogram.counts);
            if n.nan > 0 {
                shape.push_str(&format!(" NaN {}", n.nan));
            }
            if n.infinite > 0 {
                shape.push_str(&format!(" ±inf {}", n.infinite));
            }
            (n.min, median, n.mean, n.std_dev, n.max, shape)
        }
        (None, Some(top)) => {
            let shown: Vec<String> = top
                .values
                .iter()
                .take(3)
                .map(|v| format!("{} ({})", printable(&v.value), v.count))
                .collect();
            let text = if top.complete {
                shown.join(", ")
            } else {
                "too many distinct values to count".to_owned()
            };
            (None, None, None, None, None, text)
        }
        (None, None) => (None, None, None, None, None, String::new()),
    };
    vec![
        c.name.clone(),
        c.data_type.clone(),
        c.count.to_string(),
        c.nulls.to_string(),
        distinct,
        number(min),
        number(median),
        number(mean),
        number(std),
        number(max),
        shape,
    ]
}

/// A value as a terminal shows it: control characters escaped, long text cut.
fn printable(value: &str) -> String {
    let escaped: String = value.chars().flat_map(char::escape_debug).collect();
    let mut chars = escaped.chars();
    let cut: String = chars.by_ref().take(24).collect();
    if chars.next().is_some() {
        format!("{cut}…")
    } else {
        cut
    }
}

/// A number in at most about eight characters.
fn number(value: Option<f64>) -> String {
    let Some(v) = value else {
        return String::new();
    };
    let magnitude = v.abs();
    if v == 0.0 {
        "0".to_owned()
    } else if !(1e-3..1e7).contains(&magnitude) {
        format!("{v:.3e}")
    } else if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        let text = format!("{v:.4}");
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    }
}

/// A histogram's counts as one bar per bin.
fn sparkline(counts: &[u64]) -> String {
    let max = counts.iter().copied().max().unwrap_or(0);
    counts
        .iter()
        .map(|&c| {
            if max == 0 || c == 0 {
                ' '
            } else {
                let level = (c as f64 / max as f64 * (BARS.len() - 1) as f64).round() as usize;
                BARS[level.clamp(0, BARS.len() - 1)]
            }
        })
        .collect()
}

/// `zenml artifact statistics A --compare B`.
pub(super) fn compare(
    out: Output,
    first: &ArtifactView<'_>,
    second: &ArtifactView<'_>,
    threshold: f64,
) -> anyhow::Result<()> {
    let (a, b) = (require_statistics(first)?, require_statistics(second)?);
    let drift = compare_statistics(&a, &b);
    let moved: Vec<&ColumnDrift> = drift
        .iter()
        .filter(|d| d.distance.is_some_and(|x| x >= threshold))
        .collect();
    out.show(
        json!({
            "first": { "artifact": first.id, "statistics": a },
            "second": { "artifact": second.id, "statistics": b },
            "threshold": threshold,
            "drift": drift,
        }),
        || {
            let header: Vec<String> = [
                "COLUMN", "COUNT", "NULLS", "MEAN", "STD", "DISTINCT", "DISTANCE", "",
            ]
            .map(str::to_owned)
            .to_vec();
            let rows = drift.iter().map(|d| {
                let left = a.columns.iter().find(|c| c.name == d.name);
                let right = b.columns.iter().find(|c| c.name == d.name);
                let pair = |f: &dyn Fn(&ColumnStatistics) -> String| {
                    let (l, r) = (
                        left.map_or("-".to_owned(), f),
                        right.map_or("-".to_owned(), f),
                    );
                    if l.is_empty() && r.is_empty() {
                        String::new()
                    } else {
                        format!("{l} → {r}")
                    }
                };
                let distance = match (d.distance, d.measure) {
                    (Some(x), Some(DriftMeasure::KolmogorovSmirnov)) => format!("{x:.3} (KS)"),
                    (Some(x), _) => format!("{x:.3} (L∞)"),
                    (None, _) => match d.presence {
                        Presence::FirstOnly => "only in the first".to_owned(),
                        Presence::SecondOnly => "only in the second".to_owned(),
                        Presence::Both => String::new(),
                    },
                };
                let mark = if d.distance.is_some_and(|x| x >= threshold) {
                    "◀ moved"
                } else {
                    ""
                };
                vec![
                    d.name.clone(),
                    pair(&|c| c.count.to_string()),
                    pair(&|c| c.nulls.to_string()),
                    pair(&|c| number(c.numeric.as_ref().and_then(|n| n.mean))),
                    pair(&|c| number(c.numeric.as_ref().and_then(|n| n.std_dev))),
                    pair(&|c| c.distinct.map_or(String::new(), |d| d.value.to_string())),
                    distance,
                    mark.to_owned(),
                ]
            });
            let mut summary = format!(
                "{} ({} rows) → {} ({} rows)\n{}",
                first.id,
                a.rows,
                second.id,
                b.rows,
                wide_table(&header, rows)
            );
            let most = drift
                .iter()
                .filter_map(|d| d.distance.map(|x| (x, d.name.as_str())))
                .max_by(|x, y| x.0.total_cmp(&y.0));
            match most {
                Some((x, name)) if !moved.is_empty() => summary.push_str(&format!(
                    "\n{} of {} columns moved by at least {threshold}; most: `{name}` ({x:.3})",
                    moved.len(),
                    drift.len()
                )),
                _ => summary.push_str(&format!("\nno column moved by {threshold} or more")),
            }
            summary
        },
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_short_and_histograms_are_bars() {
        assert_eq!(number(Some(0.0)), "0");
        assert_eq!(number(Some(5.843_333)), "5.8433");
        assert_eq!(number(Some(150.0)), "150");
        assert_eq!(number(Some(1.5e-9)), "1.500e-9");
        assert_eq!(number(Some(-2.5e12)), "-2.500e12");
        assert_eq!(number(None), "");
        assert_eq!(sparkline(&[0, 1, 7, 14]), " ▂▅█");
        assert_eq!(sparkline(&[0, 1, 100]), " ▁█", "a non-empty bin shows");
        assert_eq!(sparkline(&[]), "");
        assert_eq!(printable("a\nb\u{1b}[31m"), "a\\nb\\u{1b}[31m");
        assert_eq!(printable(&"x".repeat(30)), format!("{}…", "x".repeat(24)));
    }
}
