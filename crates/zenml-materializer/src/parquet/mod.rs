//! The `zenml.parquet` materializers (feature `arrow`): Apache Arrow tables as Parquet
//! files, which `pandas.read_parquet` and `pyarrow` read.
//!
//! [`ParquetMaterializer`] stores one `RecordBatch`; [`ParquetBatchesMaterializer`] a
//! `Vec<RecordBatch>` (a large table in parts), and gives back the same batches. Both write
//! `table.parquet` with the arrow and parquet crates: the Arrow schema is kept in the file,
//! so types Parquet has no exact name for (unsigned integers, dictionaries, time zones)
//! come back as they were. Both stream: the writer holds at most one row group
//! ([`ROW_GROUP_BYTES`]) besides the table, and the reader decodes straight into the
//! batches it returns, so a table is never held twice.
//!
//! They are the default materializers of `RecordBatch` and `Vec<RecordBatch>`, here rather
//! than in a crate of their own because of the orphan rule (see [`crate::npy`]).

mod describe;
mod dictionaries;

use std::fs;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::{Schema, SchemaRef};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder,
};
use parquet::basic::Compression;
use parquet::errors::ParquetError;
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;

use crate::description::Description;
use crate::files::open_regular;
use crate::{DefaultMaterializer, Materializer, MaterializerError};

/// The most bytes of encoded data one row group holds, so the most the writer buffers.
pub const ROW_GROUP_BYTES: usize = 128 << 20;

/// The file-level metadata key that records where each batch starts: a JSON array of
/// `[rows, row groups]`, one per batch.
const BATCHES_KEY: &str = "zenml.batches";

/// The file both materializers write.
pub const FILE: &str = "table.parquet";
/// Their id.
pub const ID: &str = "zenml.parquet";
/// The version of their file layout.
pub const VERSION: u32 = 1;

/// Stores an Arrow `RecordBatch` as the Parquet file `table.parquet` (Snappy-compressed).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ParquetMaterializer;

/// Stores a `Vec<RecordBatch>` (batches of one schema) as the Parquet file
/// `table.parquet`, and loads the same batches back.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ParquetBatchesMaterializer;

impl Materializer for ParquetMaterializer {
    type Value = RecordBatch;

    fn id(&self) -> &'static str {
        ID
    }

    fn version(&self) -> u32 {
        VERSION
    }

    fn save(&self, value: &RecordBatch, dir: &Path) -> Result<(), MaterializerError> {
        write_table(
            value.schema(),
            std::slice::from_ref(value),
            dir,
            type_name_of::<RecordBatch>(),
        )
    }

    fn load(&self, dir: &Path) -> Result<RecordBatch, MaterializerError> {
        let rust_type = type_name_of::<RecordBatch>();
        let (schema, batches, path) = read_table(dir, rust_type)?;
        match batches.len() {
            0 => Ok(RecordBatch::new_empty(schema)),
            1 => Ok(batches
                .into_iter()
                .next()
                .unwrap_or_else(|| RecordBatch::new_empty(schema))),
            n => Err(MaterializerError::Mismatch {
                id: ID,
                rust_type,
                file: path,
                message: format!("it holds {n} batches; load it as a `Vec<RecordBatch>`"),
            }),
        }
    }

    fn describe(
        &self,
        value: &RecordBatch,
        statistics: bool,
    ) -> Result<Option<Description>, MaterializerError> {
        Ok(Some(describe::describe(
            &value.schema(),
            std::slice::from_ref(value),
            statistics,
        )))
    }
}

impl Materializer for ParquetBatchesMaterializer {
    type Value = Vec<RecordBatch>;

    fn id(&self) -> &'static str {
        ID
    }

    fn version(&self) -> u32 {
        VERSION
    }

    fn save(&self, value: &Vec<RecordBatch>, dir: &Path) -> Result<(), MaterializerError> {
        let rust_type = type_name_of::<Vec<RecordBatch>>();
        let schema = match value.first() {
            Some(first) => first.schema(),
            None => Arc::new(Schema::empty()),
        };
        if let Some((index, _)) = value
            .iter()
            .enumerate()
            .find(|(_, batch)| batch.schema() != schema)
        {
            return Err(MaterializerError::Unsupported {
                id: ID,
                rust_type,
                message: format!(
                    "batch {index} has another schema than batch 0; the batches of a table share one schema"
                ),
            });
        }
        write_table(schema, value, dir, rust_type)
    }

    fn load(&self, dir: &Path) -> Result<Vec<RecordBatch>, MaterializerError> {
        let (_, batches, _) = read_table(dir, type_name_of::<Vec<RecordBatch>>())?;
        Ok(batches)
    }

    fn describe(
        &self,
        value: &Vec<RecordBatch>,
        statistics: bool,
    ) -> Result<Option<Description>, MaterializerError> {
        let schema = match value.first() {
            Some(first) => first.schema(),
            None => Arc::new(Schema::empty()),
        };
        Ok(Some(describe::describe(&schema, value, statistics)))
    }
}

fn type_name_of<T>() -> &'static str {
    std::any::type_name::<T>()
}

/// Writes `batches` (all of `schema`) to `dir/table.parquet`, each batch starting a row
/// group of its own, and records how many rows and row groups each batch has.
fn write_table(
    schema: SchemaRef,
    batches: &[RecordBatch],
    dir: &Path,
    rust_type: &'static str,
) -> Result<(), MaterializerError> {
    let unsupported = |message: String| MaterializerError::Unsupported {
        id: ID,
        rust_type,
        message,
    };
    if let Some(reason) = dictionaries::unsupported(&schema) {
        return Err(unsupported(reason));
    }
    let recorded = dictionaries::record(&schema, batches).map_err(unsupported)?;
    let path = dir.join(FILE);
    let file = fs::File::create_new(&path).map_err(|source| MaterializerError::Io {
        action: "cannot create",
        path: path.clone(),
        source,
    })?;
    let properties = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_max_row_group_bytes(Some(ROW_GROUP_BYTES))
        .build();
    let writer_error = |e: ParquetError| write_error(e, &path, rust_type);
    let mut writer = ArrowWriter::try_new(
        BufWriter::with_capacity(1 << 20, file),
        schema,
        Some(properties),
    )
    .map_err(writer_error)?;
    let mut layout = Vec::with_capacity(batches.len());
    for batch in batches {
        let groups_before = writer.flushed_row_groups().len();
        writer.write(batch).map_err(writer_error)?;
        writer.flush().map_err(writer_error)?;
        let groups = writer.flushed_row_groups().len() - groups_before;
        layout.push([batch.num_rows() as u64, groups as u64]);
    }
    let layout = serde_json::to_string(&layout).map_err(|e| MaterializerError::Backend {
        id: ID,
        source: Box::new(e),
    })?;
    writer.append_key_value_metadata(KeyValue::new(BATCHES_KEY.to_owned(), layout));
    if !recorded.is_empty() {
        let recorded =
            serde_json::to_string(&recorded).map_err(|e| MaterializerError::Backend {
                id: ID,
                source: Box::new(e),
            })?;
        writer.append_key_value_metadata(KeyValue::new(
            dictionaries::DICTIONARIES_KEY.to_owned(),
            recorded,
        ));
    }
    let mut inner = writer.into_inner().map_err(writer_error)?;
    inner.flush().map_err(|source| MaterializerError::Io {
        action: "cannot write",
        path,
        source,
    })
}

fn write_error(error: ParquetError, path: &Path, rust_type: &'static str) -> MaterializerError {
    match error {
        ParquetError::External(inner) => match inner.downcast::<std::io::Error>() {
            Ok(io) => MaterializerError::Io {
                action: "cannot write",
                path: path.to_path_buf(),
                source: *io,
            },
            Err(other) => MaterializerError::Unsupported {
                id: ID,
                rust_type,
                message: other.to_string(),
            },
        },
        other => MaterializerError::Unsupported {
            id: ID,
            rust_type,
            message: other.to_string(),
        },
    }
}

/// Reads `dir/table.parquet`: its Arrow schema and its batches as written (one batch per
/// row group for a file without the batch layout, e.g. one written by pandas).
fn read_table(
    dir: &Path,
    rust_type: &'static str,
) -> Result<(SchemaRef, Vec<RecordBatch>, PathBuf), MaterializerError> {
    let (file, path) = open_regular(dir, FILE, ID, rust_type)?;
    let mismatch = |message: String| MaterializerError::Mismatch {
        id: ID,
        rust_type,
        file: path.clone(),
        message,
    };
    let metadata = ArrowReaderMetadata::load(&file, ArrowReaderOptions::new())
        .map_err(|e| mismatch(e.to_string()))?;
    let row_groups: Vec<u64> = metadata
        .metadata()
        .row_groups()
        .iter()
        .map(|g| g.num_rows().max(0) as u64)
        .collect();
    let layout: Vec<[u64; 2]> = match key_value(&metadata, BATCHES_KEY) {
        Some(text) => serde_json::from_str(text).map_err(|e| {
            mismatch(format!(
                "its batch layout `{BATCHES_KEY}` is unreadable: {e}"
            ))
        })?,
        None => row_groups.iter().map(|&rows| [rows, 1]).collect(),
    };
    // The layout must cover the row groups exactly.
    let mut next_group = 0usize;
    let mut plan = Vec::with_capacity(layout.len());
    for &[rows, groups] in &layout {
        let groups = usize::try_from(groups).unwrap_or(usize::MAX);
        let end = next_group
            .checked_add(groups)
            .filter(|&end| end <= row_groups.len());
        let Some(end) = end else {
            return Err(mismatch(
                "its batch layout names more row groups than it has".to_owned(),
            ));
        };
        if row_groups[next_group..end].iter().sum::<u64>() != rows {
            return Err(mismatch(
                "its batch layout does not match its row groups".to_owned(),
            ));
        }
        plan.push((next_group..end, rows));
        next_group = end;
    }
    if next_group != row_groups.len() {
        return Err(mismatch(
            "its batch layout leaves row groups out".to_owned(),
        ));
    }

    let recorded: dictionaries::Dictionaries =
        match key_value(&metadata, dictionaries::DICTIONARIES_KEY) {
            Some(text) => serde_json::from_str(text).map_err(|e| {
                mismatch(format!(
                    "its dictionaries `{}` are unreadable: {e}",
                    dictionaries::DICTIONARIES_KEY
                ))
            })?,
            None => dictionaries::Dictionaries::new(),
        };

    // The schema as written: without the batch layout and dictionaries, which the reader
    // adds to it.
    let read_schema = metadata.schema().clone();
    let mut fields_metadata = read_schema.metadata().clone();
    fields_metadata.remove(BATCHES_KEY);
    fields_metadata.remove(dictionaries::DICTIONARIES_KEY);
    let schema = Arc::new(Schema::new_with_metadata(
        read_schema.fields().clone(),
        fields_metadata,
    ));

    let mut batches = Vec::with_capacity(plan.len());
    for (groups, rows) in plan {
        if rows == 0 {
            batches.push(RecordBatch::new_empty(schema.clone()));
            continue;
        }
        let handle = file.try_clone().map_err(|source| MaterializerError::Io {
            action: "cannot read",
            path: path.clone(),
            source,
        })?;
        let reader = ParquetRecordBatchReaderBuilder::new_with_metadata(handle, metadata.clone())
            .with_row_groups(groups.collect())
            .with_batch_size(usize::try_from(rows).unwrap_or(usize::MAX))
            .build()
            .map_err(|e| mismatch(e.to_string()))?;
        let mut read = 0u64;
        for batch in reader {
            let batch = batch.map_err(|e| mismatch(e.to_string()))?;
            read += batch.num_rows() as u64;
            let batch = batch
                .with_schema(schema.clone())
                .map_err(|e| mismatch(e.to_string()))?;
            let batch =
                dictionaries::restore(batch, batches.len(), &recorded).map_err(&mismatch)?;
            batches.push(batch);
        }
        if read != rows {
            return Err(mismatch(format!(
                "a batch of {rows} rows read back as {read}"
            )));
        }
    }
    Ok((schema, batches, path))
}

/// The file-level metadata value under `key`.
fn key_value<'m>(metadata: &'m ArrowReaderMetadata, key: &str) -> Option<&'m str> {
    metadata
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .and_then(|kv| kv.iter().find(|kv| kv.key == key))
        .and_then(|kv| kv.value.as_deref())
}

impl DefaultMaterializer for RecordBatch {
    type Materializer = ParquetMaterializer;
}

impl DefaultMaterializer for Vec<RecordBatch> {
    type Materializer = ParquetBatchesMaterializer;
}

inventory::submit! {
    crate::MaterializerDescription {
        id: ID,
        version: VERSION,
        rust_type: "arrow_array::RecordBatch",
        description: "A Parquet file, table.parquet, with the Arrow schema (feature `arrow`)",
        source: env!("CARGO_PKG_NAME"),
    }
}

inventory::submit! {
    crate::MaterializerDescription {
        id: ID,
        version: VERSION,
        rust_type: "Vec<arrow_array::RecordBatch>",
        description: "A Parquet file, table.parquet, one row group run per batch (feature `arrow`)",
        source: env!("CARGO_PKG_NAME"),
    }
}

#[cfg(test)]
mod tests;
