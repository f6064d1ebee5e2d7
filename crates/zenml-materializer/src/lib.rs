//! Materializers: Rust values to files and back.
//!
//! A step's outputs are Rust values; artifacts are files. A [`Materializer`] turns a value of
//! one Rust type into files in a local folder and reads them back. Materializers are not
//! stack components configured in TOML: each Rust type has one default materializer, chosen
//! by type through [`DefaultMaterializer`], and [`register_materializer!`] both makes that
//! choice and lists it in a link-time registry ([`registered`]) for `materializer list`.
//!
//! Built in:
//!
//! - [`JsonMaterializer`] (`zenml.json`, file `data.json`) for `bool`, every integer type,
//!   `f32`, `f64` and `String`, and usable for any serde type.
//! - [`BytesMaterializer`] (`zenml.bytes`, file `data.bin`) for `Vec<u8>`.
//!
//! A materializer of data (tables, arrays) can also [describe](Materializer::describe) a
//! value: its [`DataSchema`] and [`DataStatistics`], which the runner records with the
//! artifact. [`statistics`] computes them column by column, and [`compare_statistics`]
//! measures how far two sets of them moved apart.

mod bytes;
mod description;
mod drift;
mod error;
pub mod files;
mod json;
#[cfg(feature = "ndarray")]
pub mod npy;
#[cfg(feature = "arrow")]
pub mod parquet;
/// The `ndarray` crate whose arrays [`npy`] stores (feature `ndarray`).
#[cfg(feature = "ndarray")]
pub use ndarray;
/// The Arrow crates whose tables [`parquet`] stores (feature `arrow`).
#[cfg(feature = "arrow")]
pub use {arrow_array, arrow_schema};
mod registry;
mod shape;
pub mod statistics;

use std::fmt;
use std::path::Path;

pub use bytes::BytesMaterializer;
pub use description::{
    ARRAY_COLUMN, ColumnSchema, ColumnStatistics, DataKind, DataSchema, DataStatistics,
    Description, DistinctCount, Histogram, MAX_COUNTED_VALUES, NumericStatistics, QUANTILES,
    Quantile, SAMPLE_SIZE, SCHEMA_KEY, STATISTICS_KEY, TOP_VALUES, TopValues, ValueCount,
};
pub use drift::{ColumnDrift, DriftMeasure, Presence, compare_statistics};
pub use error::{MaterializerError, MaterializerRegistryError};
pub use json::JsonMaterializer;
pub use registry::{MaterializerDescription, check_unique, registered};

/// Turns values of one Rust type into files in a folder, and back.
///
/// # Contract
///
/// Implementations are used from many threads at once and must uphold:
///
/// - **Contained.** [`save`](Materializer::save) writes only inside `dir`, an existing,
///   empty folder made for this one value; it may create files and subfolders there.
///   [`load`](Materializer::load) reads only from inside `dir` and does not follow links out
///   of it.
/// - **Data, not code.** `load` never executes code or instantiates types named by the data:
///   an artifact may come from someone else.
/// - **Exact round trip.** `load` gives back the value `save` was given. A value the format
///   cannot hold exactly is refused by `save` with [`MaterializerError::Unsupported`], never
///   stored approximately.
/// - **Clear mismatches.** When `dir` does not hold what this materializer writes (a missing
///   file, another format, a value of another type, corrupt data), `load` fails with an
///   error that names the materializer's id and the expected Rust type
///   ([`MaterializerError::MissingFile`] or [`MaterializerError::Mismatch`]).
/// - **Honest descriptions.** [`describe`](Materializer::describe), where implemented,
///   describes exactly the value given (the same value describes the same way), computes
///   statistics only when asked, and never fails where `save` of the same value succeeds
///   only because the value is unusual (empty, all null, NaN).
/// - **Stable identity.** [`id`](Materializer::id) never changes and is unique across
///   materializers; [`version`](Materializer::version) grows whenever the files' layout
///   changes. Both are recorded with each artifact.
pub trait Materializer: fmt::Debug + Send + Sync {
    /// The Rust type this materializer stores.
    type Value;

    /// The materializer's identifier, e.g. `zenml.json`: a crate-prefixed dotted name.
    fn id(&self) -> &'static str;

    /// The version of the files' layout, starting at 1.
    fn version(&self) -> u32;

    /// Writes `value` as files into `dir`, an existing empty folder.
    fn save(&self, value: &Self::Value, dir: &Path) -> Result<(), MaterializerError>;

    /// Reads a value back from the files in `dir`.
    fn load(&self, dir: &Path) -> Result<Self::Value, MaterializerError>;

    /// Describes `value` for the people who look at its artifact: its schema, and its
    /// statistics when `statistics` is true (a step can switch them off for one output).
    /// The runner records the description with the artifact, as metadata under
    /// [`SCHEMA_KEY`] and [`STATISTICS_KEY`].
    ///
    /// `None`, the default, for values that are not data sets (a model, a number).
    fn describe(
        &self,
        value: &Self::Value,
        statistics: bool,
    ) -> Result<Option<Description>, MaterializerError> {
        let _ = (value, statistics);
        Ok(None)
    }
}

/// A value type's default materializer: the one used for it unless a step says otherwise.
/// Materializers are chosen by type.
///
/// Implement it with [`register_materializer!`], which also lists the choice in the
/// registry.
pub trait DefaultMaterializer: Sized {
    /// The materializer for `Self`.
    type Materializer: Materializer<Value = Self> + Default;
}

/// Saves `value` into `dir` with its type's default materializer.
pub fn save<T: DefaultMaterializer>(value: &T, dir: &Path) -> Result<(), MaterializerError> {
    T::Materializer::default().save(value, dir)
}

/// Loads a `T` from `dir` with its type's default materializer.
pub fn load<T: DefaultMaterializer>(dir: &Path) -> Result<T, MaterializerError> {
    T::Materializer::default().load(dir)
}

/// Makes a materializer the default for a Rust type and registers a
/// [`MaterializerDescription`] of the choice.
///
/// ```text
/// zenml_materializer::register_materializer! {
///     Model => ModelMaterializer {
///         id: "acme.model",
///         version: 1,
///         description: "Weights in weights.bin, shape in shape.json",
///     }
/// }
/// ```
///
/// It implements [`DefaultMaterializer`] for the type (so a type can be registered only
/// once, by the crate that defines it or by this one) and submits the description through
/// [`inventory`], with the Rust type as written and the crate that registers it. `id` and
/// `version` must be what the materializer's [`Materializer::id`] and
/// [`Materializer::version`] return. Several registrations may follow each other, separated
/// by `;`. The calling crate does not need to depend on `inventory`.
#[macro_export]
macro_rules! register_materializer {
    ($(
        $value:ty => $materializer:ty {
            id: $id:expr,
            version: $version:expr,
            description: $description:expr $(,)?
        }
    );+ $(;)?) => {$(
        impl $crate::DefaultMaterializer for $value {
            type Materializer = $materializer;
        }

        $crate::__private::inventory::submit! {
            $crate::MaterializerDescription {
                id: $id,
                version: $version,
                rust_type: ::core::stringify!($value),
                description: $description,
                source: ::core::env!("CARGO_PKG_NAME"),
            }
        }
    )+};
}

#[doc(hidden)]
pub mod __private {
    pub use inventory;
}
