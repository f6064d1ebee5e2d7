//! Typed checks of the `zenml.parquet` materializers (feature `arrow`): tables of many
//! column types with edge values (empty tables, nulls, NaN, unicode column names, schema
//! metadata), as one `RecordBatch` and as several, and their descriptions.

use std::collections::HashMap;
use std::sync::Arc;

use zenml_materializer::DefaultMaterializer;
use zenml_materializer::arrow_array::{
    ArrayRef, BooleanArray, Date32Array, DictionaryArray, Float32Array, Float64Array, Int8Array,
    Int32Array, Int64Array, LargeStringArray, RecordBatch, StringArray, TimestampMillisecondArray,
    UInt8Array, UInt64Array, types::Int32Type,
};
use zenml_materializer::arrow_schema::{Field, Schema};

use super::{check_default, check_description};

/// A table of every column type the checks use, with `rows` rows, nulls, NaN and extremes.
pub fn sample_table(rows: usize) -> RecordBatch {
    let n = rows as i64;
    let columns: Vec<(&str, ArrayRef, bool)> = vec![
        ("id", Arc::new(Int64Array::from_iter_values(0..n)), false),
        (
            "small",
            Arc::new(Int8Array::from_iter((0..n).map(|i| match i % 4 {
                0 => Some(i8::MIN),
                1 => Some(i8::MAX),
                2 => None,
                _ => Some(0),
            }))),
            true,
        ),
        (
            "unsigned",
            Arc::new(UInt64Array::from_iter_values(
                (0..n).map(|i| if i % 2 == 0 { u64::MAX } else { i as u64 }),
            )),
            false,
        ),
        (
            "byte",
            Arc::new(UInt8Array::from_iter_values(
                (0..n).map(|i| (i % 256) as u8),
            )),
            false,
        ),
        (
            "score",
            Arc::new(Float64Array::from_iter((0..n).map(|i| match i % 7 {
                0 => Some(f64::NAN),
                1 => None,
                2 => Some(f64::INFINITY),
                3 => Some(-0.0),
                _ => Some(i as f64 / 3.0),
            }))),
            true,
        ),
        (
            "ratio",
            Arc::new(Float32Array::from_iter_values(
                (0..n).map(|i| i as f32 * 0.5),
            )),
            false,
        ),
        (
            "flag",
            Arc::new(BooleanArray::from_iter(
                (0..n).map(|i| (i % 3 != 2).then_some(i % 2 == 0)),
            )),
            true,
        ),
        (
            "naïve 名前 🦀",
            Arc::new(StringArray::from_iter((0..n).map(|i| match i % 5 {
                0 => None,
                1 => Some(String::new()),
                2 => Some("ünï\u{0}cødé".to_owned()),
                _ => Some(format!("row {i}")),
            }))),
            true,
        ),
        (
            "long_text",
            Arc::new(LargeStringArray::from_iter_values(
                (0..n).map(|i| "x".repeat((i % 50) as usize)),
            )),
            false,
        ),
        (
            "category",
            // First used in another order than the dictionary's, with a value never used:
            // Parquet would rebuild the dictionary as [blue, green, red].
            Arc::new(DictionaryArray::<Int32Type>::new(
                Int32Array::from_iter((0..n).map(|i| (i % 6 != 5).then_some(2 - (i % 3) as i32))),
                Arc::new(StringArray::from(vec!["red", "green", "blue", "unused"])),
            )),
            true,
        ),
        (
            "day",
            Arc::new(Date32Array::from_iter_values(
                (0..n).map(|i| i as i32 - 1000),
            )),
            false,
        ),
        (
            "at",
            Arc::new(
                TimestampMillisecondArray::from_iter_values((0..n).map(|i| i * 1000))
                    .with_timezone("Europe/Berlin"),
            ),
            false,
        ),
    ];
    let fields: Vec<Field> = columns
        .iter()
        .map(|(name, array, nullable)| Field::new(*name, array.data_type().clone(), *nullable))
        .collect();
    let schema = Schema::new_with_metadata(
        fields,
        HashMap::from([("source".to_owned(), "zenml-testkit".to_owned())]),
    );
    RecordBatch::try_new(
        Arc::new(schema),
        columns.into_iter().map(|(_, a, _)| a).collect(),
    )
    .expect("the sample table's columns match its schema")
}

/// The same schema, the same values (NaN equal to NaN), the same batches.
fn same_batch(a: &RecordBatch, b: &RecordBatch) -> bool {
    a.schema() == b.schema()
        && a.num_rows() == b.num_rows()
        && a.columns().iter().zip(b.columns()).all(|(x, y)| {
            // Arrow's equality compares NaN by bits for floats, as the round trip keeps them.
            x.to_data() == y.to_data()
        })
}

/// `Vec<RecordBatch>` with its default materializer: several batches (an empty one among
/// them), one, an empty one, none; and a table in batches describes as the same table in
/// one batch.
pub fn check_table_batches() {
    let table = sample_table(100);
    let empty = sample_table(0);
    let batches = vec![table.slice(0, 40), empty.clone(), table.slice(40, 60)];
    check_default::<Vec<RecordBatch>>(
        "Vec<arrow_array::RecordBatch>",
        &[
            batches.clone(),
            vec![table.clone()],
            vec![empty],
            Vec::new(),
        ],
        |a, b| a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same_batch(x, y)),
    );
    let one = <RecordBatch as DefaultMaterializer>::Materializer::default();
    let parts = <Vec<RecordBatch> as DefaultMaterializer>::Materializer::default();
    let whole = check_description(&one, &table, 100);
    let split = check_description(&parts, &batches, 100);
    assert_eq!(
        split, whole,
        "a table in batches describes as the same table in one"
    );
}

/// `RecordBatch` with its default materializer, on tables of every column type with edge
/// values (and an empty one, and one without columns), and its descriptions.
pub fn check_tables() {
    let table = sample_table(100);
    let empty = sample_table(0);
    let no_columns = RecordBatch::new_empty(Arc::new(Schema::empty()));
    check_default::<RecordBatch>(
        "arrow_array::RecordBatch",
        &[table.clone(), empty.clone(), sample_table(1), no_columns],
        same_batch,
    );

    let materializer = <RecordBatch as DefaultMaterializer>::Materializer::default();
    let described = check_description(&materializer, &table, 100);
    let columns = &described.schema.columns;
    assert_eq!(
        columns.len(),
        table.num_columns(),
        "one schema column per table column"
    );
    assert_eq!(columns[7].name, "naïve 名前 🦀");
    assert_eq!(
        (columns[0].data_type.as_str(), columns[0].nullable),
        ("Int64", false)
    );
    let statistics = described.statistics.expect("statistics were asked for");
    let score = &statistics.columns[4];
    let numeric = score
        .numeric
        .as_ref()
        .expect("a float column has numeric statistics");
    assert_eq!(score.nulls, 15, "`score`: rows 1, 8, …, 99 are null");
    assert_eq!(numeric.nan, 15);
    assert_eq!(numeric.infinite, 14);
    let category = &statistics.columns[9];
    let top = category
        .top_values
        .as_ref()
        .expect("a dictionary column has top values");
    assert_eq!(top.values.len(), 3);
    assert_eq!(category.nulls + category.count, 100);
    check_description(&materializer, &empty, 0);
}
