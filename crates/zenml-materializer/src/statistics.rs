//! Computing [`ColumnStatistics`] in one or two passes over a column's values, for
//! materializers that describe tables and arrays.
//!
//! A numeric column is read twice: [`NumericColumn`] takes each value once (counts, range,
//! moments by Welford's method, a uniform sample for quantiles, distinct values), and
//! [`NumericColumn::histogram`] then takes them again into bins between the range it found.
//! A column of strings, categories or booleans is read once by [`TextColumn`]. Distinct
//! values are counted exactly while there are few, and estimated with HyperLogLog beyond.

use std::collections::HashMap;

use cardinality_estimator::CardinalityEstimator;

use crate::description::{
    ColumnStatistics, DistinctCount, Histogram, MAX_COUNTED_VALUES, NumericStatistics, QUANTILES,
    Quantile, SAMPLE_SIZE, TOP_VALUES, TopValues, ValueCount,
};

/// How many bins a histogram has at most.
pub const HISTOGRAM_BINS: usize = 20;

/// How many distinct values are kept exactly before the count becomes an estimate.
const EXACT_DISTINCT: usize = 32;

/// Counts distinct 64-bit keys: exactly for the first [`EXACT_DISTINCT`], then as a
/// HyperLogLog estimate.
#[derive(Debug)]
struct DistinctKeys {
    exact: Vec<u64>,
    estimator: Option<CardinalityEstimator<u64>>,
}

impl DistinctKeys {
    fn new() -> Self {
        DistinctKeys {
            exact: Vec::new(),
            estimator: None,
        }
    }

    #[inline]
    fn insert(&mut self, key: u64) {
        if let Some(estimator) = &mut self.estimator {
            estimator.insert_hash(mix(key));
        } else if !self.exact.contains(&key) {
            self.exact.push(key);
            if self.exact.len() > EXACT_DISTINCT {
                let mut estimator = CardinalityEstimator::new();
                for key in self.exact.drain(..) {
                    estimator.insert_hash(mix(key));
                }
                self.estimator = Some(estimator);
            }
        }
    }

    fn count(&self) -> DistinctCount {
        match &self.estimator {
            Some(estimator) => DistinctCount {
                value: estimator.estimate() as u64,
                exact: false,
            },
            None => DistinctCount {
                value: self.exact.len() as u64,
                exact: true,
            },
        }
    }
}

/// A 64-bit mixer (the finalizer of MurmurHash3): equal keys hash equal, and nearby keys
/// (consecutive integers) spread over every bit, as HyperLogLog needs.
#[inline]
fn mix(mut key: u64) -> u64 {
    key ^= key >> 33;
    key = key.wrapping_mul(0xff51_afd7_ed55_8ccd);
    key ^= key >> 33;
    key = key.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    key ^ (key >> 33)
}

/// A uniform random sample of a stream (Li's algorithm L): each value of the stream is in
/// the sample with equal probability, and the generator runs only when a value is taken.
/// Seeded with a constant, so the same column gives the same sample.
#[derive(Debug)]
struct Reservoir {
    values: Vec<f64>,
    seen: u64,
    skip: u64,
    w: f64,
    state: u64,
}

impl Reservoir {
    fn new() -> Self {
        let mut reservoir = Reservoir {
            values: Vec::new(),
            seen: 0,
            skip: 0,
            w: 1.0,
            state: 0x9e37_79b9_7f4a_7c15,
        };
        reservoir.w = (reservoir.uniform().ln() / SAMPLE_SIZE as f64).exp();
        reservoir
    }

    /// A uniform value in (0, 1) from SplitMix64.
    fn uniform(&mut self) -> f64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let bits = mix(self.state) >> 11;
        (bits as f64 + 0.5) / (1u64 << 53) as f64
    }

    #[inline]
    fn push(&mut self, value: f64) {
        self.seen += 1;
        if self.values.len() < SAMPLE_SIZE {
            self.values.push(value);
            if self.values.len() == SAMPLE_SIZE {
                self.plan_next();
            }
        } else if self.skip > 0 {
            self.skip -= 1;
        } else {
            let slot = (self.uniform() * SAMPLE_SIZE as f64) as usize;
            self.values[slot.min(SAMPLE_SIZE - 1)] = value;
            self.w *= (self.uniform().ln() / SAMPLE_SIZE as f64).exp();
            self.plan_next();
        }
    }

    fn plan_next(&mut self) {
        let skip = (self.uniform().ln() / (1.0 - self.w).ln()).floor();
        self.skip = if skip.is_finite() && skip >= 0.0 {
            skip as u64
        } else {
            u64::MAX
        };
    }

    /// The sample sorted, and whether it holds every value pushed.
    fn into_sorted(mut self) -> (Vec<f64>, bool) {
        self.values.sort_unstable_by(f64::total_cmp);
        let exact = self.seen == self.values.len() as u64;
        (self.values, exact)
    }
}

/// The first pass over a numeric column: push every value (nulls counted with
/// [`add_nulls`](Self::add_nulls)), then make the second pass with
/// [`histogram`](Self::histogram) and [`finish`](Self::finish).
#[derive(Debug)]
pub struct NumericColumn {
    nulls: u64,
    nan: u64,
    infinite: u64,
    zeros: u64,
    finite: u64,
    min: f64,
    max: f64,
    mean: f64,
    m2: f64,
    distinct: DistinctKeys,
    sample: Reservoir,
}

impl Default for NumericColumn {
    fn default() -> Self {
        Self::new()
    }
}

impl NumericColumn {
    /// A column with no values yet.
    pub fn new() -> Self {
        NumericColumn {
            nulls: 0,
            nan: 0,
            infinite: 0,
            zeros: 0,
            finite: 0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            mean: 0.0,
            m2: 0.0,
            distinct: DistinctKeys::new(),
            sample: Reservoir::new(),
        }
    }

    /// Counts `n` null values.
    pub fn add_nulls(&mut self, n: u64) {
        self.nulls += n;
    }

    /// Takes a floating-point value.
    #[inline]
    pub fn push_f64(&mut self, value: f64) {
        if value.is_nan() {
            self.nan += 1;
            return;
        }
        // -0.0 and 0.0 are one value.
        let key = if value == 0.0 { 0 } else { value.to_bits() };
        self.distinct.insert(key);
        self.take(value);
    }

    /// Takes a signed integer (counted distinct by its exact value, not its `f64`).
    #[inline]
    pub fn push_i64(&mut self, value: i64) {
        self.distinct.insert(value as u64);
        self.take(value as f64);
    }

    /// Takes an unsigned integer (counted distinct by its exact value).
    #[inline]
    pub fn push_u64(&mut self, value: u64) {
        self.distinct.insert(value);
        self.take(value as f64);
    }

    #[inline]
    fn take(&mut self, value: f64) {
        if !value.is_finite() {
            self.infinite += 1;
            return;
        }
        if value == 0.0 {
            self.zeros += 1;
        }
        self.finite += 1;
        self.min = self.min.min(value);
        self.max = self.max.max(value);
        let delta = value - self.mean;
        self.mean += delta / self.finite as f64;
        self.m2 += delta * (value - self.mean);
        self.sample.push(value);
    }

    /// The bins for the second pass, between the smallest and largest finite value.
    pub fn histogram(&self) -> HistogramBins {
        HistogramBins::new(self.min, self.max, self.finite)
    }

    /// The column's statistics, with the histogram of the second pass.
    pub fn finish(self, name: &str, data_type: &str, bins: HistogramBins) -> ColumnStatistics {
        let (sample, quantiles_exact) = self.sample.into_sorted();
        let quantiles = if sample.is_empty() {
            Vec::new()
        } else {
            QUANTILES
                .iter()
                .map(|&q| {
                    // Nearest rank: the smallest value with at least q of the values at or
                    // below it.
                    let rank = (q * sample.len() as f64).ceil() as usize;
                    Quantile {
                        q,
                        value: sample[rank.clamp(1, sample.len()) - 1],
                    }
                })
                .collect()
        };
        let any = self.finite > 0;
        let std_dev = (self.m2 / self.finite as f64).sqrt();
        ColumnStatistics {
            name: name.to_owned(),
            data_type: data_type.to_owned(),
            count: self.finite + self.nan + self.infinite,
            nulls: self.nulls,
            distinct: Some(self.distinct.count()),
            numeric: Some(NumericStatistics {
                nan: self.nan,
                infinite: self.infinite,
                zeros: self.zeros,
                min: any.then_some(self.min),
                max: any.then_some(self.max),
                mean: finite(any, self.mean),
                std_dev: finite(any, std_dev),
                quantiles,
                quantiles_exact,
                histogram: bins.finish(),
            }),
            top_values: None,
        }
    }
}

/// `value` when `any` and it is finite (a sum of huge values can overflow).
fn finite(any: bool, value: f64) -> Option<f64> {
    (any && value.is_finite()).then_some(value)
}

/// The second pass of a [`NumericColumn`]: equal-width bins between its range.
///
/// Positions are computed on halved values, so that the span between two huge values of
/// opposite signs (up to twice `f64::MAX`) stays finite.
#[derive(Debug)]
pub struct HistogramBins {
    half_min: f64,
    half_width: f64,
    max: f64,
    counts: Vec<u64>,
}

impl HistogramBins {
    fn new(min: f64, max: f64, finite: u64) -> Self {
        if finite == 0 {
            return HistogramBins {
                half_min: 0.0,
                half_width: 0.0,
                max: 0.0,
                counts: Vec::new(),
            };
        }
        let bins = if min == max { 1 } else { HISTOGRAM_BINS };
        HistogramBins {
            half_min: min / 2.0,
            half_width: (max / 2.0 - min / 2.0) / bins as f64,
            max,
            counts: vec![0; bins],
        }
    }

    /// Counts a value; NaN and infinite values are not binned.
    #[inline]
    pub fn push(&mut self, value: f64) {
        if !value.is_finite() || self.counts.is_empty() {
            return;
        }
        let last = self.counts.len() - 1;
        let bin = if self.half_width > 0.0 {
            (((value / 2.0 - self.half_min) / self.half_width) as usize).min(last)
        } else {
            0
        };
        self.counts[bin] += 1;
    }

    fn finish(self) -> Histogram {
        if self.counts.is_empty() {
            return Histogram::default();
        }
        let bins = self.counts.len();
        let edges = (0..=bins)
            .map(|i| {
                if i == bins {
                    self.max
                } else {
                    (self.half_min + self.half_width * i as f64) * 2.0
                }
            })
            .collect();
        Histogram {
            edges,
            counts: self.counts,
        }
    }
}

/// One pass over a column of strings, categories or booleans: counts of each value (while
/// there are at most [`MAX_COUNTED_VALUES`] distinct ones) and distinct values.
#[derive(Debug, Default)]
pub struct TextColumn {
    nulls: u64,
    count: u64,
    counts: Option<HashMap<Box<str>, u64>>,
    overflow: Option<CardinalityEstimator<str>>,
}

impl TextColumn {
    /// A column with no values yet.
    pub fn new() -> Self {
        TextColumn {
            counts: Some(HashMap::new()),
            ..TextColumn::default()
        }
    }

    /// Counts `n` null values.
    pub fn add_nulls(&mut self, n: u64) {
        self.nulls += n;
    }

    /// Takes a value.
    #[inline]
    pub fn push(&mut self, value: &str) {
        self.push_n(value, 1);
    }

    /// Takes `n` occurrences of a value at once (the values of a category, or `true`).
    pub fn push_n(&mut self, value: &str, n: u64) {
        if n == 0 {
            return;
        }
        self.count += n;
        if let Some(counts) = &mut self.counts {
            if let Some(count) = counts.get_mut(value) {
                *count += n;
                return;
            }
            if counts.len() < MAX_COUNTED_VALUES {
                counts.insert(value.into(), n);
                return;
            }
            let mut estimator = CardinalityEstimator::<str>::new();
            for key in counts.keys() {
                estimator.insert(key);
            }
            self.counts = None;
            self.overflow = Some(estimator);
        }
        if let Some(estimator) = &mut self.overflow {
            estimator.insert(value);
        }
    }

    /// The column's statistics.
    pub fn finish(self, name: &str, data_type: &str) -> ColumnStatistics {
        let (distinct, top_values) = match (self.counts, self.overflow) {
            (Some(counts), _) => {
                let distinct = DistinctCount {
                    value: counts.len() as u64,
                    exact: true,
                };
                let mut values: Vec<ValueCount> = counts
                    .into_iter()
                    .map(|(value, count)| ValueCount {
                        value: value.into(),
                        count,
                    })
                    .collect();
                values.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.value.cmp(&b.value)));
                values.truncate(TOP_VALUES);
                (
                    distinct,
                    TopValues {
                        values,
                        complete: true,
                    },
                )
            }
            (None, estimator) => (
                DistinctCount {
                    value: estimator.map_or(0, |e| e.estimate() as u64),
                    exact: false,
                },
                TopValues {
                    values: Vec::new(),
                    complete: false,
                },
            ),
        };
        ColumnStatistics {
            name: name.to_owned(),
            data_type: data_type.to_owned(),
            count: self.count,
            nulls: self.nulls,
            distinct: Some(distinct),
            numeric: None,
            top_values: Some(top_values),
        }
    }
}

/// The statistics of a column whose values are neither numbers nor text (lists, structs,
/// binary data): counts only.
pub fn counts_only(name: &str, data_type: &str, count: u64, nulls: u64) -> ColumnStatistics {
    ColumnStatistics {
        name: name.to_owned(),
        data_type: data_type.to_owned(),
        count,
        nulls,
        distinct: None,
        numeric: None,
        top_values: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numeric(values: &[f64]) -> ColumnStatistics {
        let mut column = NumericColumn::new();
        for &v in values {
            column.push_f64(v);
        }
        let mut bins = column.histogram();
        for &v in values {
            bins.push(v);
        }
        column.finish("x", "float64", bins)
    }

    #[test]
    fn numeric_statistics_are_exact_for_small_columns() {
        let values: Vec<f64> = (1..=100).map(f64::from).collect();
        let stats = numeric(&values);
        let n = stats.numeric.clone().unwrap();
        assert_eq!(stats.count, 100);
        let distinct = stats.distinct.unwrap();
        assert!(
            !distinct.exact && (95..=105).contains(&distinct.value),
            "{distinct:?}"
        );
        assert_eq!((n.min, n.max, n.mean), (Some(1.0), Some(100.0), Some(50.5)));
        let sd = n.std_dev.unwrap();
        assert!((sd - 28.866_070_047_722_12).abs() < 1e-9, "{sd}");
        let median = n.quantiles.iter().find(|q| q.q == 0.5).unwrap().value;
        assert_eq!(median, 50.0);
        assert!(n.quantiles_exact);
        assert_eq!(n.histogram.counts.iter().sum::<u64>(), 100);
        assert_eq!(n.histogram.counts.len(), HISTOGRAM_BINS);
        assert_eq!(n.histogram.edges.first(), Some(&1.0));
        assert_eq!(n.histogram.edges.last(), Some(&100.0));
        assert_eq!(n.histogram.counts[0], 5);
        assert_eq!(
            n.histogram.counts[HISTOGRAM_BINS - 1],
            5,
            "96 to 100: the last bin holds the maximum"
        );
    }

    #[test]
    fn distinct_values_are_exact_while_few_and_estimated_beyond() {
        let labels: Vec<f64> = (0..10_000).map(|i| f64::from(i % 3)).collect();
        assert_eq!(
            numeric(&labels).distinct,
            Some(DistinctCount {
                value: 3,
                exact: true
            })
        );
        let many: Vec<f64> = (0..100_000).map(f64::from).collect();
        let d = numeric(&many).distinct.unwrap();
        assert!(!d.exact);
        let error = (d.value as f64 - 100_000.0).abs() / 100_000.0;
        assert!(error < 0.05, "estimate {} is {error} off", d.value);
    }

    #[test]
    fn nan_infinity_and_zero_are_counted_apart() {
        let stats = numeric(&[f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -0.0, 0.0, 2.0]);
        let n = stats.numeric.unwrap();
        assert_eq!((stats.count, n.nan, n.infinite, n.zeros), (6, 1, 2, 2));
        assert_eq!(
            stats.distinct.unwrap().value,
            4,
            "0 and -0 are one value; NaN none"
        );
        assert_eq!((n.min, n.max), (Some(0.0), Some(2.0)));
        assert_eq!(n.histogram.counts.iter().sum::<u64>(), 3);
        let json = serde_json::to_string(&n).unwrap();
        assert!(!json.contains("null"), "every number is finite: {json}");
    }

    #[test]
    fn columns_without_finite_values_have_no_range() {
        let n = numeric(&[f64::NAN]).numeric.unwrap();
        assert_eq!((n.min, n.mean, n.std_dev), (None, None, None));
        assert!(n.quantiles.is_empty() && n.histogram.counts.is_empty());
        let one = numeric(&[7.0, 7.0]).numeric.unwrap();
        assert_eq!(one.histogram.edges, [7.0, 7.0]);
        assert_eq!(one.histogram.counts, [2]);
        let huge = numeric(&[f64::MAX, -f64::MAX]).numeric.unwrap();
        assert_eq!(huge.histogram.counts.iter().sum::<u64>(), 2);
        assert!(huge.histogram.edges.iter().all(|e| e.is_finite()));
    }

    #[test]
    fn quantiles_of_large_columns_come_from_a_uniform_sample() {
        let n = 1_000_000u32;
        let values: Vec<f64> = (0..n).map(f64::from).collect();
        let stats = numeric(&values).numeric.unwrap();
        assert!(!stats.quantiles_exact);
        for q in &stats.quantiles {
            let expected = q.q * f64::from(n);
            assert!(
                (q.value - expected).abs() < 0.01 * f64::from(n),
                "quantile {} is {}, expected about {expected}",
                q.q,
                q.value
            );
        }
    }

    #[test]
    fn integers_keep_their_exact_identity() {
        let mut column = NumericColumn::new();
        column.push_i64(i64::MAX);
        column.push_i64(i64::MAX - 1);
        column.push_u64(u64::MAX);
        column.add_nulls(2);
        let bins = column.histogram();
        let stats = column.finish("n", "int64", bins);
        assert_eq!(stats.distinct.unwrap().value, 3);
        assert_eq!((stats.count, stats.nulls), (3, 2));
    }

    #[test]
    fn text_columns_count_their_most_frequent_values() {
        let mut column = TextColumn::new();
        for word in ["b", "a", "b", "c", "b", "a", "ünï"] {
            column.push(word);
        }
        column.push_n("z", 0);
        column.add_nulls(1);
        let stats = column.finish("word", "Utf8");
        assert_eq!((stats.count, stats.nulls), (7, 1));
        assert_eq!(
            stats.distinct,
            Some(DistinctCount {
                value: 4,
                exact: true
            })
        );
        let top = stats.top_values.unwrap();
        assert!(top.complete);
        let pairs: Vec<(&str, u64)> = top
            .values
            .iter()
            .map(|v| (v.value.as_str(), v.count))
            .collect();
        assert_eq!(pairs, [("b", 3), ("a", 2), ("c", 1), ("ünï", 1)]);
    }

    #[test]
    fn text_columns_with_too_many_values_are_estimated() {
        let mut column = TextColumn::new();
        let n = MAX_COUNTED_VALUES * 2;
        for i in 0..n {
            column.push(&format!("value-{i}"));
        }
        let stats = column.finish("id", "Utf8");
        let top = stats.top_values.unwrap();
        assert!(!top.complete && top.values.is_empty());
        let d = stats.distinct.unwrap();
        assert!(!d.exact);
        let error = (d.value as f64 - n as f64).abs() / n as f64;
        assert!(error < 0.05, "estimate {} is {error} off", d.value);
    }
}
