//! A metric across the runs of a pipeline, drawn by `plotters` as SVG.

use plotters::prelude::*;

use crate::api::model::MetricSeries;
use crate::error::RequestError;

/// The most runs drawn with a dot each.
const MAX_DOTS: usize = 200;

/// The chart of `series`: the metric's value by run, oldest first.
pub(crate) fn metric_chart(series: &MetricSeries) -> Result<String, RequestError> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (720, 320)).into_drawing_area();
        let failed = |e: &dyn std::fmt::Display| {
            RequestError::Internal(format!("cannot draw the chart: {e}"))
        };
        root.fill(&WHITE).map_err(|e| failed(&e))?;
        let values: Vec<f64> = series.points.iter().map(|p| p.value).collect();
        let (mut low, mut high) = values
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
                (lo.min(v), hi.max(v))
            });
        if !low.is_finite() {
            (low, high) = (0.0, 1.0);
        }
        if (high - low).abs() < f64::EPSILON {
            (low, high) = (low - 0.5, high + 0.5);
        }
        let pad = (high - low) * 0.08;
        let runs = series.points.len().max(1);
        let mut chart = ChartBuilder::on(&root)
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(64)
            .build_cartesian_2d(
                0usize..runs.saturating_sub(1).max(1),
                (low - pad)..(high + pad),
            )
            .map_err(|e| failed(&e))?;
        chart
            .configure_mesh()
            .x_desc("run (oldest first)")
            .y_desc(series.metric.as_str())
            .x_labels(runs.min(10))
            .draw()
            .map_err(|e| failed(&e))?;
        let line = RGBColor(37, 99, 235);
        chart
            .draw_series(LineSeries::new(
                values.iter().copied().enumerate(),
                line.stroke_width(2),
            ))
            .map_err(|e| failed(&e))?;
        // A dot per run while they stay apart; past that the line alone says as much in a
        // fraction of the bytes.
        if values.len() <= MAX_DOTS {
            chart
                .draw_series(
                    values
                        .iter()
                        .copied()
                        .enumerate()
                        .map(|(i, v)| Circle::new((i, v), 3, line.filled())),
                )
                .map_err(|e| failed(&e))?;
        }
        root.present().map_err(|e| failed(&e))?;
    }
    Ok(svg)
}
