//! How far the distribution of each column moved between two sets of statistics (train and
//! eval, yesterday's data and today's), as TensorFlow Data Validation compared them: the
//! Kolmogorov–Smirnov distance for numbers, the L-infinity distance of value frequencies for
//! strings, categories and booleans. Both lie between 0 (the same) and 1.

use serde::{Deserialize, Serialize};

use crate::description::{ColumnStatistics, DataStatistics, Histogram, TopValues};

/// How a [`ColumnDrift`] was measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DriftMeasure {
    /// The largest difference between the two cumulative distributions, approximated from
    /// the histograms (values spread evenly within each bin).
    KolmogorovSmirnov,
    /// The largest difference between the two frequencies of any one value.
    LInfinity,
}

/// Where a compared column is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Presence {
    /// In both.
    Both,
    /// Only in the first.
    FirstOnly,
    /// Only in the second.
    SecondOnly,
}

/// How one column moved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColumnDrift {
    /// The column's name.
    pub name: String,
    /// Whether both sides have it.
    pub presence: Presence,
    /// The distance, when both sides have comparable statistics: numbers with a histogram on
    /// both sides, or complete value counts on both sides.
    pub distance: Option<f64>,
    /// How `distance` was measured.
    pub measure: Option<DriftMeasure>,
}

/// The drift of every column: the first side's columns in order, then those only the second
/// has.
pub fn compare_statistics(first: &DataStatistics, second: &DataStatistics) -> Vec<ColumnDrift> {
    let mut drifts: Vec<ColumnDrift> = first
        .columns
        .iter()
        .map(|a| match second.columns.iter().find(|b| b.name == a.name) {
            Some(b) => {
                let (distance, measure) = column_distance(a, b);
                ColumnDrift {
                    name: a.name.clone(),
                    presence: Presence::Both,
                    distance,
                    measure,
                }
            }
            None => ColumnDrift {
                name: a.name.clone(),
                presence: Presence::FirstOnly,
                distance: None,
                measure: None,
            },
        })
        .collect();
    drifts.extend(
        second
            .columns
            .iter()
            .filter(|b| !first.columns.iter().any(|a| a.name == b.name))
            .map(|b| ColumnDrift {
                name: b.name.clone(),
                presence: Presence::SecondOnly,
                distance: None,
                measure: None,
            }),
    );
    drifts
}

fn column_distance(
    a: &ColumnStatistics,
    b: &ColumnStatistics,
) -> (Option<f64>, Option<DriftMeasure>) {
    if let (Some(na), Some(nb)) = (&a.numeric, &b.numeric)
        && !na.histogram.counts.is_empty()
        && !nb.histogram.counts.is_empty()
    {
        let d = kolmogorov_smirnov(&na.histogram, &nb.histogram);
        return (Some(d), Some(DriftMeasure::KolmogorovSmirnov));
    }
    if let (Some(ta), Some(tb)) = (&a.top_values, &b.top_values)
        && let Some(d) = l_infinity(ta, a.count, tb, b.count)
    {
        return (Some(d), Some(DriftMeasure::LInfinity));
    }
    (None, None)
}

/// The cumulative share of values at or below `x` (`left`: strictly below, which differs
/// only at a histogram of one value).
fn cdf(h: &Histogram, x: f64, left: bool) -> f64 {
    let total: u64 = h.counts.iter().sum();
    let (Some(&lo), Some(&hi)) = (h.edges.first(), h.edges.last()) else {
        return 0.0;
    };
    if total == 0 || x < lo || (left && x == lo) {
        return 0.0;
    }
    if x >= hi {
        return 1.0;
    }
    let mut below = 0u64;
    for (i, &count) in h.counts.iter().enumerate() {
        let (start, end) = (h.edges[i], h.edges[i + 1]);
        if x < end {
            let part = if end > start {
                (x - start) / (end - start)
            } else {
                0.0
            };
            return (below as f64 + count as f64 * part) / total as f64;
        }
        below += count;
    }
    1.0
}

/// The Kolmogorov–Smirnov distance of two histograms. Both cumulative distributions are
/// linear between bin edges, so the largest difference lies at an edge of one of them.
fn kolmogorov_smirnov(a: &Histogram, b: &Histogram) -> f64 {
    a.edges
        .iter()
        .chain(&b.edges)
        .flat_map(|&x| [false, true].map(|left| (cdf(a, x, left) - cdf(b, x, left)).abs()))
        .fold(0.0, f64::max)
}

/// The L-infinity distance of two value frequency tables; `None` unless both counted every
/// value. Only the most frequent values are kept, so a value in neither list counts as
/// equally rare on both sides.
fn l_infinity(a: &TopValues, a_count: u64, b: &TopValues, b_count: u64) -> Option<f64> {
    if !a.complete || !b.complete || a_count == 0 || b_count == 0 {
        return None;
    }
    let share = |top: &TopValues, total: u64, value: &str| {
        top.values
            .iter()
            .find(|v| v.value == value)
            .map_or(0.0, |v| v.count as f64 / total as f64)
    };
    let distance = a
        .values
        .iter()
        .chain(&b.values)
        .map(|v| (share(a, a_count, &v.value) - share(b, b_count, &v.value)).abs())
        .fold(0.0, f64::max);
    Some(distance)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::statistics::{NumericColumn, TextColumn};

    fn numbers(name: &str, values: impl Iterator<Item = f64> + Clone) -> ColumnStatistics {
        let mut column = NumericColumn::new();
        values.clone().for_each(|v| column.push_f64(v));
        let mut bins = column.histogram();
        values.for_each(|v| bins.push(v));
        column.finish(name, "float64", bins)
    }

    fn words(name: &str, values: &[&str]) -> ColumnStatistics {
        let mut column = TextColumn::new();
        values.iter().for_each(|v| column.push(v));
        column.finish(name, "Utf8")
    }

    fn stats(columns: Vec<ColumnStatistics>) -> DataStatistics {
        DataStatistics { rows: 0, columns }
    }

    #[test]
    fn identical_columns_do_not_move_and_shifted_ones_do() {
        let base = numbers("x", (0..1000).map(f64::from));
        let shifted = numbers("x", (500..1500).map(f64::from));
        let same = compare_statistics(&stats(vec![base.clone()]), &stats(vec![base.clone()]));
        assert_eq!(same[0].distance, Some(0.0));
        assert_eq!(same[0].measure, Some(DriftMeasure::KolmogorovSmirnov));
        let moved = compare_statistics(&stats(vec![base]), &stats(vec![shifted]));
        let d = moved[0].distance.unwrap();
        assert!(
            (d - 0.5).abs() < 0.02,
            "half the mass moved past the other: {d}"
        );
    }

    #[test]
    fn disjoint_and_single_valued_columns_are_fully_apart() {
        let a = numbers("x", [1.0, 1.0].into_iter());
        let b = numbers("x", [2.0, 2.0].into_iter());
        let d = compare_statistics(&stats(vec![a.clone()]), &stats(vec![b]));
        assert_eq!(d[0].distance, Some(1.0));
        let d = compare_statistics(&stats(vec![a.clone()]), &stats(vec![a]));
        assert_eq!(d[0].distance, Some(0.0));
    }

    #[test]
    fn categories_compare_by_frequency_and_missing_columns_are_named() {
        let a = words("colour", &["red", "red", "blue", "blue"]);
        let b = words("colour", &["red", "red", "red", "blue"]);
        let extra = words("size", &["s"]);
        let drifts = compare_statistics(&stats(vec![a.clone()]), &stats(vec![b, extra]));
        assert_eq!(drifts[0].distance, Some(0.25));
        assert_eq!(drifts[0].measure, Some(DriftMeasure::LInfinity));
        assert_eq!(drifts[1].presence, Presence::SecondOnly);
        assert_eq!(drifts[1].distance, None);
        let only = compare_statistics(&stats(vec![a]), &stats(vec![]));
        assert_eq!(only[0].presence, Presence::FirstOnly);
    }
}
