//! Columns of strings, categories and booleans: value counts and distinct values.

use std::collections::HashMap;
use std::hash::BuildHasher;

use foldhash::fast::FixedState;

use super::sketch::{HyperLogLog, mix};
use crate::description::{
    ColumnStatistics, DistinctCount, MAX_COUNTED_VALUES, TOP_VALUES, TopValues, ValueCount,
};

/// One pass over a column of strings, categories or booleans: counts of each value (while
/// there are at most [`MAX_COUNTED_VALUES`] distinct ones) and distinct values.
#[derive(Debug, Default)]
pub struct TextColumn {
    nulls: u64,
    count: u64,
    counts: Option<HashMap<Box<str>, u64, FixedState>>,
    overflow: Option<HyperLogLog>,
}

/// The hash of a text value for HyperLogLog: foldhash with a fixed seed (the same value
/// always hashes the same), its bits spread by [`mix`].
fn text_hash(value: &str) -> u64 {
    mix(FixedState::with_seed(0).hash_one(value))
}

impl TextColumn {
    /// A column with no values yet.
    pub fn new() -> Self {
        TextColumn {
            counts: Some(HashMap::with_hasher(FixedState::with_seed(0))),
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
            let mut estimator = HyperLogLog::new();
            for key in counts.keys() {
                estimator.insert_hash(text_hash(key));
            }
            self.counts = None;
            self.overflow = Some(estimator);
        }
        if let Some(estimator) = &mut self.overflow {
            estimator.insert_hash(text_hash(value));
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
                    value: estimator.map_or(0, |e| e.estimate()),
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
