//! The schema and statistics of an Arrow table, column by column; columns are computed in
//! parallel, one thread per core.

use std::sync::atomic::{AtomicUsize, Ordering};

use arrow_array::cast::AsArray;
use arrow_array::types::{
    ArrowDictionaryKeyType, Float32Type, Float64Type, Int8Type, Int16Type, Int32Type, Int64Type,
    UInt8Type, UInt16Type, UInt32Type, UInt64Type,
};
use arrow_array::{Array, ArrayRef, ArrowPrimitiveType, RecordBatch};
use arrow_buffer::ArrowNativeType;
use arrow_schema::{DataType, Schema};

use crate::description::{
    ColumnSchema, ColumnStatistics, DataKind, DataSchema, DataStatistics, Description,
};
use crate::statistics::{NumericColumn, TextColumn, counts_only, float_key};

/// The description of a table made of `batches`, all of `schema`.
pub(super) fn describe(schema: &Schema, batches: &[RecordBatch], statistics: bool) -> Description {
    let rows: u64 = batches.iter().map(|b| b.num_rows() as u64).sum();
    let data_schema = DataSchema {
        kind: DataKind::Table,
        rows,
        shape: None,
        columns: schema
            .fields()
            .iter()
            .map(|field| ColumnSchema {
                name: field.name().clone(),
                data_type: field.data_type().to_string(),
                nullable: field.is_nullable(),
            })
            .collect(),
    };
    let statistics = statistics.then(|| DataStatistics {
        rows,
        columns: column_statistics(schema, batches),
    });
    Description {
        schema: data_schema,
        statistics,
    }
}

/// Every column's statistics, in order, computed by one thread per core.
fn column_statistics(schema: &Schema, batches: &[RecordBatch]) -> Vec<ColumnStatistics> {
    let columns = schema.fields().len();
    let threads = std::thread::available_parallelism()
        .map_or(1, std::num::NonZero::get)
        .clamp(1, columns.max(1));
    // The costliest columns first (text, then numbers, then the rest), so that no thread
    // starts a long column when the others are about to finish.
    let mut order: Vec<usize> = (0..columns).collect();
    order.sort_by_key(|&i| cost_class(schema.fields()[i].data_type()));
    let next = AtomicUsize::new(0);
    let mut results: Vec<(usize, ColumnStatistics)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let Some(&index) = order.get(next.fetch_add(1, Ordering::Relaxed)) else {
                            return done;
                        };
                        let field = &schema.fields()[index];
                        let arrays: Vec<&ArrayRef> =
                            batches.iter().map(|b| b.column(index)).collect();
                        done.push((index, column(field.name(), field.data_type(), &arrays)));
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|worker| {
                worker
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    });
    results.sort_by_key(|(index, _)| *index);
    results.into_iter().map(|(_, stats)| stats).collect()
}

/// How costly a column's statistics are per value, cheapest last: text (a hash-map lookup
/// per value), numbers (two passes), then the rest (dictionaries and booleans are counted
/// by key; other types only counted).
fn cost_class(data_type: &DataType) -> u8 {
    match data_type {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => 0,
        t if t.is_numeric() => 1,
        _ => 2,
    }
}

/// The statistics of one column, made of `arrays` (one per batch) of `data_type`.
fn column(name: &str, data_type: &DataType, arrays: &[&ArrayRef]) -> ColumnStatistics {
    let type_name = data_type.to_string();
    let nulls: u64 = arrays.iter().map(|a| a.null_count() as u64).sum();
    let count: u64 = arrays.iter().map(|a| a.len() as u64).sum::<u64>() - nulls;
    match data_type {
        DataType::Int8 => {
            numeric::<Int8Type>(name, &type_name, arrays, |v| Some(i64::from(v) as u64))
        }
        DataType::Int16 => {
            numeric::<Int16Type>(name, &type_name, arrays, |v| Some(i64::from(v) as u64))
        }
        DataType::Int32 => {
            numeric::<Int32Type>(name, &type_name, arrays, |v| Some(i64::from(v) as u64))
        }
        DataType::Int64 => numeric::<Int64Type>(name, &type_name, arrays, |v| Some(v as u64)),
        DataType::UInt8 => numeric::<UInt8Type>(name, &type_name, arrays, |v| Some(u64::from(v))),
        DataType::UInt16 => numeric::<UInt16Type>(name, &type_name, arrays, |v| Some(u64::from(v))),
        DataType::UInt32 => numeric::<UInt32Type>(name, &type_name, arrays, |v| Some(u64::from(v))),
        DataType::UInt64 => numeric::<UInt64Type>(name, &type_name, arrays, Some),
        DataType::Float32 => {
            numeric::<Float32Type>(name, &type_name, arrays, |v| float_key(f64::from(v)))
        }
        DataType::Float64 => numeric::<Float64Type>(name, &type_name, arrays, float_key),
        DataType::Boolean => {
            let mut column = TextColumn::new();
            column.add_nulls(nulls);
            for array in arrays {
                let values = array.as_boolean();
                let trues = values.true_count() as u64;
                let falses = (values.len() - values.null_count()) as u64 - trues;
                column.push_n("true", trues);
                column.push_n("false", falses);
            }
            column.finish(name, &type_name)
        }
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
            let mut column = TextColumn::new();
            column.add_nulls(nulls);
            for array in arrays {
                match array.data_type() {
                    DataType::Utf8 => array
                        .as_string::<i32>()
                        .iter()
                        .flatten()
                        .for_each(|v| column.push(v)),
                    DataType::LargeUtf8 => array
                        .as_string::<i64>()
                        .iter()
                        .flatten()
                        .for_each(|v| column.push(v)),
                    _ => array
                        .as_string_view()
                        .iter()
                        .flatten()
                        .for_each(|v| column.push(v)),
                }
            }
            column.finish(name, &type_name)
        }
        DataType::Dictionary(key, value)
            if matches!(**value, DataType::Utf8 | DataType::LargeUtf8) =>
        {
            let mut column = TextColumn::new();
            column.add_nulls(nulls);
            for array in arrays {
                match **key {
                    DataType::Int8 => categories::<Int8Type>(array, &mut column),
                    DataType::Int16 => categories::<Int16Type>(array, &mut column),
                    DataType::Int32 => categories::<Int32Type>(array, &mut column),
                    DataType::Int64 => categories::<Int64Type>(array, &mut column),
                    DataType::UInt8 => categories::<UInt8Type>(array, &mut column),
                    DataType::UInt16 => categories::<UInt16Type>(array, &mut column),
                    DataType::UInt32 => categories::<UInt32Type>(array, &mut column),
                    _ => categories::<UInt64Type>(array, &mut column),
                }
            }
            column.finish(name, &type_name)
        }
        _ => counts_only(name, &type_name, count, nulls),
    }
}

/// Two passes over a numeric column, a block at a time where a batch has no nulls.
fn numeric<T>(
    name: &str,
    type_name: &str,
    arrays: &[&ArrayRef],
    key: impl Fn(T::Native) -> Option<u64> + Copy,
) -> ColumnStatistics
where
    T: ArrowPrimitiveType,
    T::Native: Into<NumberValue>,
{
    let as_f64 = |v: T::Native| v.into().0;
    let mut column = NumericColumn::new();
    for array in arrays {
        let values = array.as_primitive::<T>();
        if values.null_count() == 0 {
            column.push_slice(values.values(), as_f64, key);
        } else {
            let present: Vec<T::Native> = values.iter().flatten().collect();
            column.push_slice(&present, as_f64, key);
        }
    }
    column.add_nulls(arrays.iter().map(|a| a.null_count() as u64).sum());
    let mut bins = column.histogram();
    for_each_value::<T>(arrays, |v| bins.push(as_f64(v)));
    column.finish(name, type_name, bins)
}

/// Calls `f` with each non-null value of `arrays`, read from the buffers directly when an
/// array has no nulls.
fn for_each_value<T: ArrowPrimitiveType>(arrays: &[&ArrayRef], mut f: impl FnMut(T::Native)) {
    for array in arrays {
        let values = array.as_primitive::<T>();
        if values.null_count() == 0 {
            values.values().iter().for_each(|&v| f(v));
        } else {
            values.iter().flatten().for_each(&mut f);
        }
    }
}

/// A number as `f64`, for binning.
struct NumberValue(f64);

macro_rules! number_values {
    ($($t:ty),+) => {$(
        impl From<$t> for NumberValue {
            fn from(value: $t) -> Self {
                NumberValue(value as f64)
            }
        }
    )+};
}

number_values!(i8, i16, i32, i64, u8, u16, u32, u64, f32, f64);

/// Counts a dictionary column's values by key, then each distinct value once.
fn categories<K: ArrowDictionaryKeyType>(array: &ArrayRef, column: &mut TextColumn) {
    let dictionary = array.as_dictionary::<K>();
    let values = dictionary.values();
    let mut counts = vec![0u64; values.len()];
    let keys = dictionary.keys();
    let mut count = |key: K::Native| {
        if let Some(count) = key.to_usize().and_then(|index| counts.get_mut(index)) {
            *count += 1;
        }
    };
    if keys.null_count() == 0 {
        keys.values().iter().for_each(|&key| count(key));
    } else {
        keys.iter().flatten().for_each(count);
    }
    let text = |index: usize| -> Option<String> {
        match values.data_type() {
            DataType::Utf8 => {
                let strings = values.as_string::<i32>();
                strings
                    .is_valid(index)
                    .then(|| strings.value(index).to_owned())
            }
            _ => {
                let strings = values.as_string::<i64>();
                strings
                    .is_valid(index)
                    .then(|| strings.value(index).to_owned())
            }
        }
    };
    for (index, count) in counts.into_iter().enumerate() {
        if count > 0 {
            match text(index) {
                Some(value) => column.push_n(&value, count),
                // A key that points at a null value is a null.
                None => column.add_nulls(count),
            }
        }
    }
}
