//! What a materializer can say about a value besides storing it: its schema and its
//! statistics ([`Description`]), recorded with the artifact as structured metadata under
//! [`SCHEMA_KEY`] and [`STATISTICS_KEY`], as the original ZenML's `view_schema()` and
//! `view_statistics()` showed them.
//!
//! Every number here is finite, so that a description is plain JSON: statistics over
//! floating-point values are computed over their finite values, and NaN and infinite values
//! are counted apart.

use serde::{Deserialize, Serialize};

/// The metadata key under which an artifact's [`DataSchema`] is recorded.
pub const SCHEMA_KEY: &str = "zenml.schema";
/// The metadata key under which an artifact's [`DataStatistics`] are recorded.
pub const STATISTICS_KEY: &str = "zenml.statistics";

/// What [`Materializer::describe`](crate::Materializer::describe) returns: a value's
/// schema, and its statistics unless they were not asked for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Description {
    /// The value's schema.
    pub schema: DataSchema,
    /// Its statistics; `None` when the step switched them off for this output.
    pub statistics: Option<DataStatistics>,
}

/// What kind of data a [`DataSchema`] describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DataKind {
    /// A table of named columns (an Arrow record batch).
    Table,
    /// An n-dimensional array of one element type, described as one column of its
    /// elements in memory order.
    Array,
}

/// The schema of a table or an array.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataSchema {
    /// A table or an array.
    pub kind: DataKind,
    /// Rows of a table; elements of an array.
    pub rows: u64,
    /// An array's shape (empty for a 0-dimensional array); `None` for tables.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shape: Option<Vec<u64>>,
    /// The columns in order; an array has one, named [`ARRAY_COLUMN`].
    pub columns: Vec<ColumnSchema>,
}

/// The name of the one column that describes an array's elements.
pub const ARRAY_COLUMN: &str = "values";

/// One column of a [`DataSchema`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColumnSchema {
    /// The column's name.
    pub name: String,
    /// Its type as its format names it: Arrow's (`Int64`, `Utf8`, …) for tables, numpy's
    /// dtype (`float64`, `bool`, …) for arrays.
    pub data_type: String,
    /// Whether it may hold nulls.
    pub nullable: bool,
}

/// The statistics of a table or an array, column by column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataStatistics {
    /// Rows of a table; elements of an array.
    pub rows: u64,
    /// One entry per column, in the schema's order.
    pub columns: Vec<ColumnStatistics>,
}

/// The statistics of one column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColumnStatistics {
    /// The column's name.
    pub name: String,
    /// Its type, as in [`ColumnSchema::data_type`].
    pub data_type: String,
    /// How many values are not null.
    pub count: u64,
    /// How many values are null.
    pub nulls: u64,
    /// How many distinct values the column holds (nulls and NaN not counted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distinct: Option<DistinctCount>,
    /// For numbers: range, moments, quantiles and a histogram.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub numeric: Option<NumericStatistics>,
    /// For strings, categories and booleans: the most frequent values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_values: Option<TopValues>,
}

/// A count of distinct values, exact or estimated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DistinctCount {
    /// The count.
    pub value: u64,
    /// Whether it is exact; otherwise a HyperLogLog estimate (about 1.6 % standard error).
    pub exact: bool,
}

/// The statistics of a numeric column, over its finite values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NumericStatistics {
    /// NaN values (not null, not counted in the rest).
    pub nan: u64,
    /// Infinite values (not counted in the rest).
    pub infinite: u64,
    /// Values equal to zero.
    pub zeros: u64,
    /// The smallest finite value; `None` when there is none.
    pub min: Option<f64>,
    /// The largest finite value.
    pub max: Option<f64>,
    /// The mean of the finite values.
    pub mean: Option<f64>,
    /// Their population standard deviation.
    pub std_dev: Option<f64>,
    /// Quantiles at [`QUANTILES`], from every finite value when there are at most
    /// [`SAMPLE_SIZE`] of them, otherwise from a uniform random sample of that many.
    pub quantiles: Vec<Quantile>,
    /// Whether `quantiles` were computed from every value.
    pub quantiles_exact: bool,
    /// Counts of the finite values in equal-width bins from `min` to `max`.
    pub histogram: Histogram,
}

/// The probabilities at which quantiles are computed.
pub const QUANTILES: [f64; 9] = [0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99];

/// How many values quantiles are computed from at most: a quantile from a uniform sample
/// of this many is within about 0.4 % of its rank (the standard error of a median), and
/// keeping the sample costs under a nanosecond per value of a column of a billion.
pub const SAMPLE_SIZE: usize = 1 << 14;

/// One quantile.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Quantile {
    /// The probability, e.g. 0.5 for the median.
    pub q: f64,
    /// The value at that probability (nearest rank).
    pub value: f64,
}

/// A histogram: `counts[i]` values lie in `[edges[i], edges[i + 1])`, the last bin
/// including its upper edge. Empty when the column has no finite value.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Histogram {
    /// `counts.len() + 1` increasing bin edges.
    pub edges: Vec<f64>,
    /// Values per bin.
    pub counts: Vec<u64>,
}

/// The most frequent values of a column of strings, categories or booleans.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopValues {
    /// Up to [`TOP_VALUES`] values with their counts, most frequent first (ties by value).
    pub values: Vec<ValueCount>,
    /// Whether every distinct value was counted; `false` when the column has more than
    /// [`MAX_COUNTED_VALUES`] distinct values, and `values` is then empty.
    pub complete: bool,
}

/// How many most frequent values are kept.
pub const TOP_VALUES: usize = 10;

/// How many distinct values a column's values are counted for, at most.
pub const MAX_COUNTED_VALUES: usize = 65_536;

/// A value and how often it occurs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValueCount {
    /// The value as text (`true` and `false` for booleans).
    pub value: String,
    /// How many times it occurs.
    pub count: u64,
}
