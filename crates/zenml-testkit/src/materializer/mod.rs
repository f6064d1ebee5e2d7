//! The materializer suite: the [`Materializer`] contract on each registered Rust type.
//!
//! Materializers are chosen by Rust type, so the suite is typed: [`check_materializer`] (or
//! [`check_materializer_by`] for values without a usable `PartialEq`, such as NaN) checks one
//! materializer on given values, and a crate that registers its own materializer calls it in
//! its tests. The built-in materializers have typed checks here ([`check_bool`],
//! [`check_integers`], [`check_floats`], [`check_strings`], [`check_bytes`]), each also
//! checking that the type's registration matches its [`DefaultMaterializer`].
//!
//! [`run_all`] runs the typed checks, grouped as `bool`, `integers`, `floats`, `strings` and
//! `bytes`, and in group `registry` checks that no Rust type is registered twice and reports
//! every registered type the suite has no typed check for as **skipped**, so that a new
//! registration cannot pass unnoticed.
//!
//! ```no_run
//! # use zenml_materializer::JsonMaterializer;
//! // In a test of the crate that registers `Vec<u32>` (here with the JSON materializer):
//! zenml_testkit::materializer::check_materializer(
//!     &JsonMaterializer::<Vec<u32>>::new(),
//!     &[vec![], vec![1, 2, 3], vec![u32::MAX]],
//! );
//! ```

use std::any::type_name;
use std::fmt::Debug;
use std::fs;

use zenml_materializer::{
    BytesMaterializer, DefaultMaterializer, Description, JsonMaterializer, Materializer,
    MaterializerError, check_unique, registered,
};

#[cfg(feature = "ndarray")]
pub mod arrays;
#[cfg(feature = "arrow")]
pub mod tables;

use crate::{GroupReport, SuiteReport};

/// The suite's name in reports.
pub const SUITE: &str = "materializer";

/// The groups of [`run_all`], in order.
pub const GROUPS: [&str; 8] = [
    "bool", "integers", "floats", "strings", "bytes", "arrays", "tables", "registry",
];

/// A typed check of a built-in registration: the Rust type as registered, its group, and the
/// check.
#[derive(Debug, Clone, Copy)]
pub struct TypedCheck {
    /// The Rust type, as the registration writes it (e.g. `Vec<u8>`).
    pub rust_type: &'static str,
    /// The group in [`run_all`]'s report.
    pub group: &'static str,
    /// Panics on a violation.
    pub check: fn(),
}

/// The typed checks of the built-in registrations.
pub fn typed_checks() -> Vec<TypedCheck> {
    let typed = |rust_type, group, check| TypedCheck {
        rust_type,
        group,
        check,
    };
    vec![
        typed("bool", "bool", check_bool),
        typed("i8", "integers", || check_integers::<i8>("i8")),
        typed("i16", "integers", || check_integers::<i16>("i16")),
        typed("i32", "integers", || check_integers::<i32>("i32")),
        typed("i64", "integers", || check_integers::<i64>("i64")),
        typed("i128", "integers", || check_integers::<i128>("i128")),
        typed("u8", "integers", || check_integers::<u8>("u8")),
        typed("u16", "integers", || check_integers::<u16>("u16")),
        typed("u32", "integers", || check_integers::<u32>("u32")),
        typed("u64", "integers", || check_integers::<u64>("u64")),
        typed("u128", "integers", || check_integers::<u128>("u128")),
        typed("f32", "floats", || check_floats::<f32>("f32")),
        typed("f64", "floats", || check_floats::<f64>("f64")),
        typed("String", "strings", check_strings),
        typed("Vec<u8>", "bytes", check_bytes),
        #[cfg(feature = "ndarray")]
        typed("ndarray::Array<bool, D>", "arrays", || {
            arrays::check_arrays::<bool>("ndarray::Array<bool, D>")
        }),
        #[cfg(feature = "ndarray")]
        typed("ndarray::Array<f32, D>", "arrays", || {
            arrays::check_arrays::<f32>("ndarray::Array<f32, D>")
        }),
        #[cfg(feature = "ndarray")]
        typed("ndarray::Array<f64, D>", "arrays", || {
            arrays::check_arrays::<f64>("ndarray::Array<f64, D>")
        }),
        #[cfg(feature = "ndarray")]
        typed("ndarray::Array<i8, D>", "arrays", || {
            arrays::check_arrays::<i8>("ndarray::Array<i8, D>")
        }),
        #[cfg(feature = "ndarray")]
        typed("ndarray::Array<i16, D>", "arrays", || {
            arrays::check_arrays::<i16>("ndarray::Array<i16, D>")
        }),
        #[cfg(feature = "ndarray")]
        typed("ndarray::Array<i32, D>", "arrays", || {
            arrays::check_arrays::<i32>("ndarray::Array<i32, D>")
        }),
        #[cfg(feature = "ndarray")]
        typed("ndarray::Array<i64, D>", "arrays", || {
            arrays::check_arrays::<i64>("ndarray::Array<i64, D>")
        }),
        #[cfg(feature = "ndarray")]
        typed("ndarray::Array<u8, D>", "arrays", || {
            arrays::check_arrays::<u8>("ndarray::Array<u8, D>")
        }),
        #[cfg(feature = "ndarray")]
        typed("ndarray::Array<u16, D>", "arrays", || {
            arrays::check_arrays::<u16>("ndarray::Array<u16, D>")
        }),
        #[cfg(feature = "ndarray")]
        typed("ndarray::Array<u32, D>", "arrays", || {
            arrays::check_arrays::<u32>("ndarray::Array<u32, D>")
        }),
        #[cfg(feature = "ndarray")]
        typed("ndarray::Array<u64, D>", "arrays", || {
            arrays::check_arrays::<u64>("ndarray::Array<u64, D>")
        }),
        #[cfg(feature = "arrow")]
        typed("arrow_array::RecordBatch", "tables", tables::check_tables),
        #[cfg(feature = "arrow")]
        typed(
            "Vec<arrow_array::RecordBatch>",
            "tables",
            tables::check_table_batches,
        ),
    ]
}

/// Runs the typed checks and the registry check, and reports them by group.
pub fn run_all() -> SuiteReport {
    let checks = typed_checks();
    let mut report = SuiteReport::new(SUITE);
    for name in GROUPS {
        let mut group = GroupReport::new(name);
        for typed in checks.iter().filter(|c| c.group == name) {
            group.run(typed.rust_type, typed.check);
        }
        if name == "registry" {
            group.run("registrations_are_unique", || {
                if let Err(e) = check_unique(&registered()) {
                    panic!("{e}");
                }
            });
            for description in registered() {
                if !checks.iter().any(|c| c.rust_type == description.rust_type) {
                    group.skipped(
                        &format!(
                            "{} ({} from {})",
                            description.rust_type, description.id, description.source
                        ),
                        "no typed round-trip check in zenml-testkit; the registering crate \
                         runs `check_materializer` on it in its tests",
                    );
                }
            }
        }
        report.groups.push(group);
    }
    report
}

/// Checks `materializer` on `values`, comparing with `==`: see [`check_materializer_by`].
pub fn check_materializer<M>(materializer: &M, values: &[M::Value])
where
    M: Materializer,
    M::Value: PartialEq + Debug,
{
    check_materializer_by(materializer, values, |a, b| a == b);
}

/// Checks `materializer` on `values`, with `same` telling whether a loaded value is the
/// saved one:
///
/// - its id is a dotted name without spaces and its version is at least 1;
/// - each value saves into a fresh empty folder, writing nothing beside it, and loads back
///   (twice) as the same value;
/// - loading from an empty folder fails with an error naming the materializer's id.
pub fn check_materializer_by<M>(
    materializer: &M,
    values: &[M::Value],
    same: impl Fn(&M::Value, &M::Value) -> bool,
) where
    M: Materializer,
    M::Value: Debug,
{
    let id = materializer.id();
    assert!(
        !id.is_empty() && id.contains('.') && !id.contains(char::is_whitespace),
        "the id `{id}` is a dotted name, e.g. `mycrate.model`"
    );
    assert!(materializer.version() >= 1, "`{id}`: versions start at 1");
    for value in values {
        let parent = tempfile::tempdir().expect("cannot create a temporary folder");
        let dir = parent.path().join("artifact");
        fs::create_dir(&dir).expect("cannot create a temporary folder");
        materializer
            .save(value, &dir)
            .unwrap_or_else(|e| panic!("`{id}` cannot save {value:?}: {e}"));
        let beside: Vec<String> = fs::read_dir(parent.path())
            .expect("cannot list a temporary folder")
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|name| name != "artifact")
            .collect();
        assert!(
            beside.is_empty(),
            "`{id}` wrote outside its folder: {beside:?}"
        );
        for attempt in ["loads", "loads again"] {
            let loaded = materializer
                .load(&dir)
                .unwrap_or_else(|e| panic!("`{id}` cannot load the {value:?} it saved: {e}"));
            assert!(
                same(value, &loaded),
                "`{id}` saved {value:?} and {attempt} {loaded:?}"
            );
        }
    }
    let empty = tempfile::tempdir().expect("cannot create a temporary folder");
    match materializer.load(empty.path()) {
        Ok(value) => panic!("`{id}` loaded {value:?} from an empty folder"),
        Err(e @ (MaterializerError::MissingFile { .. } | MaterializerError::Mismatch { .. })) => {
            assert!(
                e.to_string().contains(id),
                "the error names the materializer `{id}`: {e}"
            )
        }
        Err(e) => panic!("`{id}`: loading from an empty folder is MissingFile or Mismatch: {e:?}"),
    }
}

/// `T`'s default materializer on `values`, and `T`'s registration (as `rust_type`) names
/// that materializer's id and version.
pub fn check_default<T: DefaultMaterializer + Debug>(
    rust_type: &str,
    values: &[T],
    same: impl Fn(&T, &T) -> bool,
) {
    let materializer = T::Materializer::default();
    let all = registered();
    let description = all
        .iter()
        .find(|d| d.rust_type == rust_type)
        .unwrap_or_else(|| panic!("`{rust_type}` ({}) is not registered", type_name::<T>()));
    assert_eq!(
        (description.id, description.version),
        (materializer.id(), materializer.version()),
        "the registration of `{rust_type}` names its default materializer"
    );
    check_materializer_by(&materializer, values, same);
}

/// Checks what `materializer` says about `value`, which has `rows` rows (a table) or
/// elements (an array), and returns the full description:
///
/// - with statistics, it describes the value (`Some`), its schema counts `rows`, and its
///   statistics have one entry per column of the schema, with the same names and types, in
///   the same order;
/// - without statistics, the schema is the same and there are no statistics;
/// - describing again gives the same description, and it goes through JSON unchanged (so
///   every number in it is finite).
pub fn check_description<M>(materializer: &M, value: &M::Value, rows: u64) -> Description
where
    M: Materializer,
    M::Value: Debug,
{
    let id = materializer.id();
    let describe = |statistics| {
        materializer
            .describe(value, statistics)
            .unwrap_or_else(|e| panic!("`{id}` cannot describe {value:?}: {e}"))
            .unwrap_or_else(|| panic!("`{id}` does not describe {value:?}"))
    };
    let full = describe(true);
    assert_eq!(full.schema.rows, rows, "`{id}`: the rows of {value:?}");
    let statistics = full
        .statistics
        .as_ref()
        .unwrap_or_else(|| panic!("`{id}` gave no statistics when asked"));
    assert_eq!(statistics.rows, rows, "`{id}`: the rows in the statistics");
    let columns: Vec<(&str, &str)> = full
        .schema
        .columns
        .iter()
        .map(|c| (c.name.as_str(), c.data_type.as_str()))
        .collect();
    let described: Vec<(&str, &str)> = statistics
        .columns
        .iter()
        .map(|c| (c.name.as_str(), c.data_type.as_str()))
        .collect();
    assert_eq!(
        columns, described,
        "`{id}`: statistics follow the schema's columns"
    );
    for column in &statistics.columns {
        assert!(
            column.count + column.nulls <= rows,
            "`{id}`: column `{}` counts more values than rows",
            column.name
        );
    }
    let without = describe(false);
    assert_eq!(
        without.schema, full.schema,
        "`{id}`: the schema without statistics"
    );
    assert!(
        without.statistics.is_none(),
        "`{id}`: statistics when switched off"
    );
    assert_eq!(
        describe(true),
        full,
        "`{id}`: the same value describes the same way"
    );
    let json = serde_json::to_value(&full).expect("a description is JSON");
    let back: Description = serde_json::from_value(json.clone())
        .unwrap_or_else(|e| panic!("`{id}`: the description {json} does not read back: {e}"));
    assert_eq!(back, full, "`{id}`: the description survives JSON");
    full
}

/// `true` and `false`, with the JSON materializer.
pub fn check_bool() {
    check_default::<bool>("bool", &[true, false], |a, b| a == b);
    assert_eq!(
        <bool as DefaultMaterializer>::Materializer::default().id(),
        JsonMaterializer::<bool>::ID
    );
}

/// An integer type's 0, 1, -1 (when signed), minimum and maximum.
pub fn check_integers<T>(rust_type: &str)
where
    T: DefaultMaterializer + Debug + PartialEq + Bounded,
{
    let mut values = vec![T::ZERO, T::ONE, T::MIN, T::MAX];
    values.extend(T::MINUS_ONE);
    check_default::<T>(rust_type, &values, |a, b| a == b);
}

/// A float type's specials: ±0.0 (bit for bit), 0.1, 1/3, the extremes, the smallest
/// subnormal, NaN and ±infinity.
pub fn check_floats<T>(rust_type: &str)
where
    T: DefaultMaterializer + Debug + Float,
{
    check_default::<T>(rust_type, &T::specials(), |a, b| a.same(b));
}

/// Empty, ASCII, escapes, non-ASCII, special words, a NUL and a long string.
pub fn check_strings() {
    let values: Vec<String> = [
        "",
        "a",
        "ünïcødé 日本語 🦀",
        "\"quoted\"\n\ttab \\ back /slash",
        "NaN",
        "Infinity",
        "null",
        "{\"json\": true}",
        "nul \u{0} inside",
        "\u{feff}bom",
    ]
    .into_iter()
    .map(str::to_owned)
    .chain(std::iter::once("long ".repeat(20_000)))
    .collect();
    check_default::<String>("String", &values, |a, b| a == b);
}

/// Empty, every byte value, and 1 MiB.
pub fn check_bytes() {
    let values: Vec<Vec<u8>> = vec![
        Vec::new(),
        (0..=255).collect(),
        (0..1u32 << 20).map(|i| (i % 251) as u8).collect(),
    ];
    check_default::<Vec<u8>>("Vec<u8>", &values, |a, b| a == b);
    assert_eq!(
        <Vec<u8> as DefaultMaterializer>::Materializer::default().id(),
        BytesMaterializer::ID
    );
}

/// The integer values [`check_integers`] uses.
pub trait Bounded: Sized {
    /// 0.
    const ZERO: Self;
    /// 1.
    const ONE: Self;
    /// -1 for signed types.
    const MINUS_ONE: Option<Self>;
    /// The smallest value.
    const MIN: Self;
    /// The largest value.
    const MAX: Self;
}

macro_rules! bounded {
    ($($ty:ty: $minus_one:expr;)+) => {$(
        impl Bounded for $ty {
            const ZERO: Self = 0;
            const ONE: Self = 1;
            const MINUS_ONE: Option<Self> = $minus_one;
            const MIN: Self = <$ty>::MIN;
            const MAX: Self = <$ty>::MAX;
        }
    )+};
}

bounded! {
    i8: Some(-1); i16: Some(-1); i32: Some(-1); i64: Some(-1); i128: Some(-1);
    u8: None; u16: None; u32: None; u64: None; u128: None;
}

/// The float values [`check_floats`] uses, and their comparison.
pub trait Float: Sized {
    /// The values.
    fn specials() -> Vec<Self>;
    /// The same bits, or both NaN (NaN payloads need not survive).
    fn same(&self, other: &Self) -> bool;
}

macro_rules! float {
    ($($ty:ty),+) => {$(
        impl Float for $ty {
            fn specials() -> Vec<Self> {
                vec![
                    0.0,
                    -0.0,
                    1.0,
                    -2.5,
                    0.1,
                    1.0 / 3.0,
                    <$ty>::MIN,
                    <$ty>::MAX,
                    <$ty>::MIN_POSITIVE,
                    <$ty>::EPSILON,
                    <$ty>::from_bits(1),
                    <$ty>::INFINITY,
                    <$ty>::NEG_INFINITY,
                    <$ty>::NAN,
                ]
            }

            fn same(&self, other: &Self) -> bool {
                self.to_bits() == other.to_bits() || (self.is_nan() && other.is_nan())
            }
        }
    )+};
}

float!(f32, f64);
