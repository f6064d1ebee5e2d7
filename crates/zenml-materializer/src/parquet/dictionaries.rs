//! Exact dictionary columns. Parquet keeps a dictionary column's values row by row, but not
//! its dictionary: a reader rebuilds the dictionary in order of first use, without unused
//! values. So the materializer records each top-level string dictionary as written (per
//! batch, under [`DICTIONARIES_KEY`]) and, on load, maps the keys back onto it, so that a
//! table loads with the same keys and dictionaries it was saved with.
//!
//! What cannot come back exactly is refused when saving: dictionaries of other value types,
//! dictionaries nested in lists or structs, and dictionaries with repeated or null values
//! (a key cannot be told from another with the same value once written).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    ArrowDictionaryKeyType, Int8Type, Int16Type, Int32Type, Int64Type, UInt8Type, UInt16Type,
    UInt32Type, UInt64Type,
};
use arrow_array::{
    Array, ArrayRef, DictionaryArray, LargeStringArray, PrimitiveArray, RecordBatch, StringArray,
};
use arrow_buffer::ArrowNativeType;
use arrow_schema::{DataType, Field, Schema};

/// The file-level metadata key of the recorded dictionaries: a JSON object from column
/// index to one list of values per batch.
pub(super) const DICTIONARIES_KEY: &str = "zenml.dictionaries";

/// The recorded dictionaries: column index → per batch, its dictionary's values.
pub(super) type Dictionaries = BTreeMap<usize, Vec<Vec<String>>>;

/// Why a table cannot be stored exactly.
pub(super) fn unsupported(schema: &Schema) -> Option<String> {
    for field in schema.fields() {
        match field.data_type() {
            DataType::Dictionary(_, value) if is_string(value) => {}
            DataType::Dictionary(_, value) => {
                return Some(format!(
                    "column `{}` is a dictionary of {value} values; only dictionaries of strings come back exactly from Parquet",
                    field.name()
                ));
            }
            other if has_dictionary(other) => {
                return Some(format!(
                    "column `{}` holds a dictionary inside a {other}; Parquet does not keep nested dictionaries",
                    field.name()
                ));
            }
            _ => {}
        }
    }
    None
}

fn is_string(data_type: &DataType) -> bool {
    matches!(data_type, DataType::Utf8 | DataType::LargeUtf8)
}

fn has_dictionary(data_type: &DataType) -> bool {
    match data_type {
        DataType::Dictionary(..) => true,
        DataType::List(f)
        | DataType::LargeList(f)
        | DataType::FixedSizeList(f, _)
        | DataType::ListView(f)
        | DataType::LargeListView(f)
        | DataType::Map(f, _) => has_dictionary(f.data_type()),
        DataType::Struct(fields) => fields.iter().any(|f| has_dictionary(f.data_type())),
        DataType::Union(fields, _) => fields.iter().any(|(_, f)| has_dictionary(f.data_type())),
        DataType::RunEndEncoded(_, values) => has_dictionary(values.data_type()),
        _ => false,
    }
}

/// The dictionaries of `batches` to record, or why one cannot be.
pub(super) fn record(schema: &Schema, batches: &[RecordBatch]) -> Result<Dictionaries, String> {
    let mut recorded = Dictionaries::new();
    for (index, field) in schema.fields().iter().enumerate() {
        if !matches!(field.data_type(), DataType::Dictionary(..)) {
            continue;
        }
        let mut per_batch = Vec::with_capacity(batches.len());
        for batch in batches {
            let values = dictionary_values(batch.column(index));
            let strings = strings(&values).ok_or_else(|| {
                format!(
                    "column `{}`: its dictionary holds a null value",
                    field.name()
                )
            })?;
            let mut seen = std::collections::HashSet::with_capacity(strings.len());
            if let Some(repeated) = strings.iter().find(|s| !seen.insert(s.as_str())) {
                return Err(format!(
                    "column `{}`: its dictionary holds the value `{repeated}` twice",
                    field.name()
                ));
            }
            per_batch.push(strings);
        }
        recorded.insert(index, per_batch);
    }
    Ok(recorded)
}

/// The values array of a dictionary array, whatever its key type.
fn dictionary_values(array: &ArrayRef) -> ArrayRef {
    array
        .as_any_dictionary_opt()
        .map(|d| d.values().clone())
        .unwrap_or_else(|| array.clone())
}

/// A string array's values; `None` when one is null.
fn strings(values: &ArrayRef) -> Option<Vec<String>> {
    let collect = |iter: &mut dyn Iterator<Item = Option<&str>>| {
        iter.map(|v| v.map(str::to_owned))
            .collect::<Option<Vec<_>>>()
    };
    match values.data_type() {
        DataType::LargeUtf8 => collect(&mut values.as_string::<i64>().iter()),
        _ => collect(&mut values.as_string::<i32>().iter()),
    }
}

/// `batch`, the `batch_index`-th of the table, with each recorded dictionary column mapped
/// back onto its dictionary as written.
pub(super) fn restore(
    batch: RecordBatch,
    batch_index: usize,
    dictionaries: &Dictionaries,
) -> Result<RecordBatch, String> {
    if dictionaries.is_empty() {
        return Ok(batch);
    }
    let schema = batch.schema();
    let mut columns: Vec<ArrayRef> = batch.columns().to_vec();
    for (&index, per_batch) in dictionaries {
        let (Some(field), Some(original)) =
            (schema.fields().get(index), per_batch.get(batch_index))
        else {
            return Err(format!(
                "the recorded dictionary of column {index} has no column or batch"
            ));
        };
        columns[index] = remap(field, &columns[index], original)?;
    }
    RecordBatch::try_new(schema, columns).map_err(|e| e.to_string())
}

fn remap(field: &Field, array: &ArrayRef, original: &[String]) -> Result<ArrayRef, String> {
    let DataType::Dictionary(key, value) = field.data_type() else {
        return Err(format!("column `{}` is not a dictionary", field.name()));
    };
    let values: ArrayRef = match **value {
        DataType::LargeUtf8 => Arc::new(LargeStringArray::from_iter_values(original)),
        _ => Arc::new(StringArray::from_iter_values(original)),
    };
    let positions: HashMap<&str, usize> = original
        .iter()
        .enumerate()
        .map(|(i, v)| (v.as_str(), i))
        .collect();
    match **key {
        DataType::Int8 => remap_keys::<Int8Type>(field, array, values, &positions),
        DataType::Int16 => remap_keys::<Int16Type>(field, array, values, &positions),
        DataType::Int32 => remap_keys::<Int32Type>(field, array, values, &positions),
        DataType::Int64 => remap_keys::<Int64Type>(field, array, values, &positions),
        DataType::UInt8 => remap_keys::<UInt8Type>(field, array, values, &positions),
        DataType::UInt16 => remap_keys::<UInt16Type>(field, array, values, &positions),
        DataType::UInt32 => remap_keys::<UInt32Type>(field, array, values, &positions),
        _ => remap_keys::<UInt64Type>(field, array, values, &positions),
    }
}

fn remap_keys<K: ArrowDictionaryKeyType>(
    field: &Field,
    array: &ArrayRef,
    values: ArrayRef,
    positions: &HashMap<&str, usize>,
) -> Result<ArrayRef, String> {
    let loaded = array
        .as_dictionary_opt::<K>()
        .ok_or_else(|| format!("column `{}` did not load as a dictionary", field.name()))?;
    let loaded_values = strings(loaded.values())
        .ok_or_else(|| format!("column `{}` loaded a null dictionary value", field.name()))?;
    let mut keys = Vec::with_capacity(loaded.len());
    for key in loaded.keys().iter() {
        let Some(key) = key else {
            keys.push(None);
            continue;
        };
        let value = key
            .to_usize()
            .and_then(|k| loaded_values.get(k))
            .ok_or_else(|| format!("column `{}` has a key outside its dictionary", field.name()))?;
        let position = positions.get(value.as_str()).ok_or_else(|| {
            format!(
                "column `{}` holds `{value}`, which its recorded dictionary does not",
                field.name()
            )
        })?;
        keys.push(Some(
            <K::Native as ArrowNativeType>::from_usize(*position).ok_or_else(|| {
                format!(
                    "column `{}`: key {position} does not fit its key type",
                    field.name()
                )
            })?,
        ));
    }
    let keys: PrimitiveArray<K> = keys.into_iter().collect();
    let dictionary = DictionaryArray::<K>::try_new(keys, values).map_err(|e| e.to_string())?;
    Ok(Arc::new(dictionary))
}
