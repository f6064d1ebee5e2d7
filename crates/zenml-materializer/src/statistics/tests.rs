use super::*;
use crate::description::{DistinctCount, MAX_COUNTED_VALUES};

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
fn a_slice_describes_as_its_values_one_by_one() {
    let values: Vec<f64> = (0..200_000)
        .map(|i| match i % 1000 {
            0 => f64::NAN,
            1 => f64::INFINITY,
            2 => -0.0,
            _ => (f64::from(i) * 0.37).sin() * 1e3,
        })
        .collect();
    let one_by_one = numeric(&values);
    let mut column = NumericColumn::new();
    column.push_slice(
        &values,
        |v| v,
        |v| (!v.is_nan()).then_some(if v == 0.0 { 0 } else { v.to_bits() }),
    );
    let mut bins = column.histogram();
    bins.push_slice(&values, |v| v);
    let sliced = column.finish("x", "float64", bins);
    let (a, b) = (
        one_by_one.numeric.clone().unwrap(),
        sliced.numeric.clone().unwrap(),
    );
    assert_eq!(
        (a.nan, a.infinite, a.zeros, a.min, a.max),
        (b.nan, b.infinite, b.zeros, b.min, b.max)
    );
    assert_eq!(
        (a.histogram, a.quantiles),
        (b.histogram, b.quantiles),
        "the same sample"
    );
    assert_eq!(one_by_one.distinct, sliced.distinct);
    assert_eq!(one_by_one.count, sliced.count);
    let (ma, mb) = (a.mean.unwrap(), b.mean.unwrap());
    assert!((ma - mb).abs() <= 1e-9 * ma.abs().max(1.0), "{ma} {mb}");
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
