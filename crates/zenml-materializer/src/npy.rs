//! The `zenml.npy` materializer (feature `ndarray`): `ndarray` arrays as NumPy `.npy`
//! files, which `numpy.load` reads with the same shape, dtype and values.
//!
//! It is the default materializer of `ndarray::Array<T, D>` for every element type of
//! [`NpyElement`] (`f32`, `f64`, `i8`–`i64`, `u8`–`u64`, `bool`) and every dimension `D`
//! (`Array1`, `Array2`, …, `ArrayD`). Those impls live here rather than in a crate of their
//! own because of the orphan rule: [`DefaultMaterializer`] can be implemented for a type of
//! another crate only by the crate that defines the trait. The format is written and read
//! by `ndarray-npy`.

use std::fmt;
use std::fs;
use std::io::{BufReader, BufWriter, Read, Write};
use std::marker::PhantomData;
use std::path::Path;

use ndarray::{Array, ArrayView, Dimension, IxDyn};
use ndarray_npy::{
    ReadNpyError, ReadNpyExt, ReadableElement, ViewElement, ViewNpyError, ViewNpyExt,
    WritableElement, WriteNpyError, WriteNpyExt,
};

use crate::description::{
    ARRAY_COLUMN, ColumnSchema, ColumnStatistics, DataKind, DataSchema, DataStatistics, Description,
};
use crate::files::open_regular;
use crate::statistics::{NumericColumn, TextColumn, float_key};
use crate::{DefaultMaterializer, Materializer, MaterializerError};

/// An element type that `.npy` files hold and whose statistics can be computed.
pub trait NpyElement:
    WritableElement + ReadableElement + ViewElement + Clone + Send + Sync + 'static
{
    /// NumPy's name of the dtype, e.g. `float64`.
    const DTYPE: &'static str;

    /// The statistics of `values`, a whole array's elements, as one column.
    fn statistics(values: &[Self]) -> ColumnStatistics;
}

macro_rules! numeric_elements {
    ($($t:ty => $dtype:literal, $key:expr;)+) => {$(
        impl NpyElement for $t {
            const DTYPE: &'static str = $dtype;

            fn statistics(values: &[Self]) -> ColumnStatistics {
                let mut column = NumericColumn::new();
                column.push_slice(values, |v| v as f64, $key);
                let mut bins = column.histogram();
                bins.push_slice(values, |v| v as f64);
                column.finish(ARRAY_COLUMN, $dtype, bins)
            }
        }
    )+};
}

numeric_elements! {
    f32 => "float32", |v: f32| float_key(f64::from(v));
    f64 => "float64", float_key;
    i8 => "int8", |v: i8| Some(i64::from(v) as u64);
    i16 => "int16", |v: i16| Some(i64::from(v) as u64);
    i32 => "int32", |v: i32| Some(i64::from(v) as u64);
    i64 => "int64", |v: i64| Some(v as u64);
    u8 => "uint8", |v: u8| Some(u64::from(v));
    u16 => "uint16", |v: u16| Some(u64::from(v));
    u32 => "uint32", |v: u32| Some(u64::from(v));
    u64 => "uint64", |v: u64| Some(v);
}

impl NpyElement for bool {
    const DTYPE: &'static str = "bool";

    fn statistics(values: &[Self]) -> ColumnStatistics {
        let (mut trues, mut falses) = (0u64, 0u64);
        for &v in values {
            if v {
                trues += 1;
            } else {
                falses += 1;
            }
        }
        let mut column = TextColumn::new();
        column.push_n("true", trues);
        column.push_n("false", falses);
        column.finish(ARRAY_COLUMN, "bool")
    }
}

/// Stores an `ndarray::Array<T, D>` as the NumPy file `array.npy` (C or Fortran order, as
/// the array is laid out in memory).
pub struct NpyMaterializer<T, D>(PhantomData<fn() -> (T, D)>);

impl<T, D> NpyMaterializer<T, D> {
    /// The materializer's id.
    pub const ID: &'static str = "zenml.npy";
    /// The version of its file layout.
    pub const VERSION: u32 = 1;
    /// The file it writes.
    pub const FILE: &'static str = "array.npy";

    /// The materializer.
    pub fn new() -> Self {
        NpyMaterializer(PhantomData)
    }
}

impl<T, D> Default for NpyMaterializer<T, D> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T, D> fmt::Debug for NpyMaterializer<T, D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NpyMaterializer<{}>", std::any::type_name::<T>())
    }
}

/// How many bytes of a file are checked against its header before it is read: more than
/// any header (NumPy writes at most a few KiB), so the header's claim about the data's size
/// can be checked against the file's length before memory is allocated for it.
const HEADER_PREFIX: usize = 1 << 16;

impl<T: NpyElement, D: Dimension> Materializer for NpyMaterializer<T, D> {
    type Value = Array<T, D>;

    fn id(&self) -> &'static str {
        Self::ID
    }

    fn version(&self) -> u32 {
        Self::VERSION
    }

    fn save(&self, value: &Array<T, D>, dir: &Path) -> Result<(), MaterializerError> {
        let path = dir.join(Self::FILE);
        let file = fs::File::create_new(&path).map_err(|source| MaterializerError::Io {
            action: "cannot create",
            path: path.clone(),
            source,
        })?;
        let mut writer = BufWriter::with_capacity(1 << 20, file);
        value.write_npy(&mut writer).map_err(|e| match e {
            WriteNpyError::Io(source) => MaterializerError::Io {
                action: "cannot write",
                path: path.clone(),
                source,
            },
            other => MaterializerError::Unsupported {
                id: Self::ID,
                rust_type: std::any::type_name::<Array<T, D>>(),
                message: other.to_string(),
            },
        })?;
        writer.flush().map_err(|source| MaterializerError::Io {
            action: "cannot write",
            path,
            source,
        })
    }

    fn load(&self, dir: &Path) -> Result<Array<T, D>, MaterializerError> {
        let rust_type = std::any::type_name::<Array<T, D>>();
        let (file, path) = open_regular(dir, Self::FILE, Self::ID, rust_type)?;
        let mismatch = |message: String| MaterializerError::Mismatch {
            id: Self::ID,
            rust_type,
            file: path.clone(),
            message,
        };
        let io = |source| MaterializerError::Io {
            action: "cannot read",
            path: path.clone(),
            source,
        };
        let len = file.metadata().map_err(io)?.len();
        let mut reader = BufReader::with_capacity(1 << 20, file);
        // Check the header against the file first: an artifact may come from someone else,
        // and a header that claims more data than the file holds must not make the reader
        // allocate it.
        let mut prefix = Vec::with_capacity(HEADER_PREFIX);
        let prefix_len = (&mut reader)
            .take(HEADER_PREFIX as u64)
            .read_to_end(&mut prefix)
            .map_err(io)?;
        let (aligned, offset) = aligned_copy(&prefix);
        match ArrayView::<T, IxDyn>::view_npy(&aligned[offset..offset + prefix_len]) {
            Ok(_) => {}
            Err(ViewNpyError::MissingBytes(missing)) => {
                let claimed = prefix_len as u64 + missing as u64;
                if claimed != len || prefix_len as u64 == len {
                    return Err(mismatch(format!(
                        "its header describes {claimed} bytes, but the file has {len}"
                    )));
                }
            }
            Err(e) => return Err(mismatch(view_error(e))),
        }
        drop(aligned);
        let mut whole = std::io::Cursor::new(prefix).chain(reader);
        Array::<T, D>::read_npy(&mut whole).map_err(|e| match e {
            ReadNpyError::Io(source) => io(source),
            ReadNpyError::WrongNdim(expected, found) => mismatch(format!(
                "it holds an array of {found} dimensions, not {}",
                expected.map_or("any".to_owned(), |n| n.to_string())
            )),
            other => mismatch(other.to_string()),
        })
    }

    fn describe(
        &self,
        value: &Array<T, D>,
        statistics: bool,
    ) -> Result<Option<Description>, MaterializerError> {
        let rows = value.len() as u64;
        let schema = DataSchema {
            kind: DataKind::Array,
            rows,
            shape: Some(value.shape().iter().map(|&n| n as u64).collect()),
            columns: vec![ColumnSchema {
                name: ARRAY_COLUMN.to_owned(),
                data_type: T::DTYPE.to_owned(),
                nullable: false,
            }],
        };
        let statistics = statistics.then(|| {
            // An array not contiguous in memory (rare for an owned one) is copied first.
            let column = match value.as_slice_memory_order() {
                Some(slice) => T::statistics(slice),
                None => T::statistics(&value.iter().cloned().collect::<Vec<T>>()),
            };
            DataStatistics {
                rows,
                columns: vec![column],
            }
        });
        Ok(Some(Description { schema, statistics }))
    }
}

/// Words of a view error that say what is wrong with the file.
fn view_error(error: ViewNpyError) -> String {
    match error {
        ViewNpyError::WrongDescriptor(descriptor) => {
            format!("it holds elements of dtype {descriptor}, not the expected type")
        }
        other => other.to_string(),
    }
}

/// `bytes` copied into a buffer whose start is aligned for any element type, as viewing
/// them in place requires; returns the buffer and where the copy starts.
fn aligned_copy(bytes: &[u8]) -> (Vec<u8>, usize) {
    const ALIGN: usize = 16;
    let mut buffer = vec![0u8; bytes.len() + ALIGN];
    let offset = buffer.as_ptr().align_offset(ALIGN).min(ALIGN);
    buffer[offset..offset + bytes.len()].copy_from_slice(bytes);
    (buffer, offset)
}

impl<T: NpyElement, D: Dimension> DefaultMaterializer for Array<T, D> {
    type Materializer = NpyMaterializer<T, D>;
}

macro_rules! describe_registrations {
    ($($t:ty),+) => {$(
        inventory::submit! {
            crate::MaterializerDescription {
                id: "zenml.npy",
                version: 1,
                rust_type: concat!("ndarray::Array<", stringify!($t), ", D>"),
                description: "A NumPy .npy file, array.npy (feature `ndarray`)",
                source: env!("CARGO_PKG_NAME"),
            }
        }
    )+};
}

describe_registrations!(bool, f32, f64, i16, i32, i64, i8, u16, u32, u64, u8);

#[cfg(test)]
mod tests;
