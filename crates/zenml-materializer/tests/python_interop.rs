//! Arrays and tables saved from Rust, read in Python: `numpy.load` gets the same shape,
//! dtype and values (bit for bit) from every `.npy` the `zenml.npy` materializer writes,
//! and `pyarrow` and `pandas.read_parquet` get the same columns, types and values from the
//! `zenml.parquet` materializer's files as from an Arrow IPC file of the same table.
//!
//! They run the Python of `zenml_testkit::services::python_data_tools` (the virtualenv that
//! `.ci/services` makes); without it they skip, saying how to make it.

// Test helpers outside `#[test]` functions may unwrap: a failure is a test failure.
#![allow(clippy::unwrap_used)]

use std::fs;
use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};
use zenml_materializer::arrow_array::RecordBatch;
use zenml_materializer::ndarray::{Array, ArrayD, IxDyn, ShapeBuilder};
use zenml_materializer::{Materializer, save};
use zenml_testkit::materializer::arrays::ArrayElement;
use zenml_testkit::materializer::tables::sample_table;
use zenml_testkit::services::python_data_tools;

/// Runs `script` with `args` in the data tools' Python; panics with its output on failure.
fn run_python(python: &Path, script: &str, args: &[&Path]) {
    let output = Command::new(python)
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "python failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// An element's bits as an unsigned integer of its width, as numpy's `view` gives them.
trait Bits {
    fn bits(&self) -> u64;
}

macro_rules! bits {
    ($($t:ty => $e:expr),+ $(,)?) => {$(
        impl Bits for $t {
            fn bits(&self) -> u64 {
                let f: fn(&$t) -> u64 = $e;
                f(self)
            }
        }
    )+};
}

bits! {
    f32 => |v| u64::from(v.to_bits()),
    f64 => |v| v.to_bits(),
    i8 => |v| u64::from(*v as u8),
    i16 => |v| u64::from(*v as u16),
    i32 => |v| u64::from(*v as u32),
    i64 => |v| *v as u64,
    u8 => |v| u64::from(*v),
    u16 => |v| u64::from(*v),
    u32 => |v| u64::from(*v),
    u64 => |v| *v,
    bool => |v| u64::from(*v),
}

/// Saves arrays of `T` (0-d, empty, the edge values, 3-d, Fortran order) under `dir` and
/// adds what numpy must find to `manifest`.
fn save_arrays<T: ArrayElement + Bits>(dir: &Path, manifest: &mut Vec<Value>) {
    let edges = T::edges();
    let filled = |n: usize| -> Vec<T> { (0..n).map(T::from_index).collect() };
    let arrays: Vec<ArrayD<T>> = vec![
        ArrayD::from_elem(IxDyn(&[]), edges[0]),
        ArrayD::from_shape_vec(IxDyn(&[0, 3]), Vec::new()).unwrap(),
        ArrayD::from_shape_vec(IxDyn(&[edges.len()]), edges.clone()).unwrap(),
        ArrayD::from_shape_vec(IxDyn(&[2, 3, 4]), filled(24)).unwrap(),
        Array::from_shape_vec((3, 5).f(), filled(15))
            .unwrap()
            .into_dyn(),
    ];
    for (i, array) in arrays.iter().enumerate() {
        let folder = dir.join(format!("{}-{i}", T::DTYPE));
        fs::create_dir(&folder).unwrap();
        save(array, &folder).unwrap();
        manifest.push(json!({
            "file": folder.join("array.npy"),
            "dtype": T::DTYPE,
            "shape": array.shape(),
            "bits": array.iter().map(Bits::bits).collect::<Vec<u64>>(),
            "fortran": array.len() > 1 && !array.is_standard_layout() && array.t().is_standard_layout(),
        }));
    }
}

const NUMPY_CHECK: &str = r#"
import json, sys
import numpy as np
manifest = json.load(open(sys.argv[1]))
for entry in manifest:
    a = np.load(entry["file"], allow_pickle=False)
    where = f'{entry["file"]}'
    assert str(a.dtype) == entry["dtype"], f"{where}: dtype {a.dtype}, expected {entry['dtype']}"
    assert list(a.shape) == entry["shape"], f"{where}: shape {a.shape}, expected {entry['shape']}"
    if entry["fortran"]:
        assert a.flags["F_CONTIGUOUS"] and not a.flags["C_CONTIGUOUS"], f"{where}: not in Fortran order"
    view = np.ascontiguousarray(a).view(f"u{a.dtype.itemsize}")
    bits = [int(b) for b in view.ravel()]
    assert bits == entry["bits"], f"{where}: values {bits[:8]}…, expected {entry['bits'][:8]}…"
print(f"numpy {np.__version__}: {len(manifest)} arrays equal")
"#;

#[test]
fn numpy_loads_every_array_with_its_shape_dtype_and_values() {
    let Some(python) = python_data_tools("numpy_loads_every_array_with_its_shape_dtype_and_values")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut manifest = Vec::new();
    save_arrays::<f32>(dir.path(), &mut manifest);
    save_arrays::<f64>(dir.path(), &mut manifest);
    save_arrays::<i8>(dir.path(), &mut manifest);
    save_arrays::<i16>(dir.path(), &mut manifest);
    save_arrays::<i32>(dir.path(), &mut manifest);
    save_arrays::<i64>(dir.path(), &mut manifest);
    save_arrays::<u8>(dir.path(), &mut manifest);
    save_arrays::<u16>(dir.path(), &mut manifest);
    save_arrays::<u32>(dir.path(), &mut manifest);
    save_arrays::<u64>(dir.path(), &mut manifest);
    save_arrays::<bool>(dir.path(), &mut manifest);
    assert_eq!(manifest.len(), 55);
    let manifest_file = dir.path().join("manifest.json");
    fs::write(&manifest_file, serde_json::to_vec(&manifest).unwrap()).unwrap();
    run_python(&python, NUMPY_CHECK, &[&manifest_file]);
}

const ARROW_CHECK: &str = r#"
import math, sys
import pyarrow as pa, pyarrow.parquet as pq, pandas as pd
one, parts, expected_file = sys.argv[1], sys.argv[2], sys.argv[3]
expected = pa.ipc.open_file(expected_file).read_all()

def same(a, b):
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b

for path, rows in [(one, 100), (parts, 100)]:
    table = pq.read_table(path)
    assert table.num_rows == rows, f"{path}: {table.num_rows} rows"
    assert table.column_names == expected.column_names, f"{path}: {table.column_names}"
    for name in expected.column_names:
        got, want = table.schema.field(name), expected.schema.field(name)
        assert str(got.type) == str(want.type), f"{path}: `{name}` is {got.type}, expected {want.type}"
        assert got.nullable == want.nullable, f"{path}: `{name}` nullability"
        a, b = table.column(name).to_pylist(), expected.column(name).to_pylist()
        assert len(a) == len(b) and all(same(x, y) for x, y in zip(a, b)), f"{path}: `{name}` values differ"
    assert table.schema.metadata.get(b"source") == b"zenml-testkit", f"{path}: schema metadata {table.schema.metadata}"

types = {name: str(expected.schema.field(name).type) for name in expected.column_names}
assert types["unsigned"] == "uint64", types
assert types["category"] == "dictionary<values=string, indices=int32, ordered=0>", types
assert types["at"] == "timestamp[ms, tz=Europe/Berlin]", types

frame = pd.read_parquet(one)
assert frame.shape == (100, len(expected.column_names)), frame.shape
assert str(frame["unsigned"].dtype) == "uint64", frame.dtypes
assert str(frame["category"].dtype) == "category", frame.dtypes
assert set(frame["category"].dropna()) == {"red", "green", "blue"}, frame["category"]
assert frame["category"].isna().sum() == 16, "every sixth row"
assert str(frame["at"].dtype).startswith("datetime64[ms, Europe/Berlin]"), frame.dtypes
assert frame["id"].tolist() == list(range(100))
assert frame["naïve 名前 🦀"].isna().sum() == 20
assert frame["score"].isna().sum() == 30, "15 nulls and 15 NaN"
print(f"pyarrow {pa.__version__}, pandas {pd.__version__}: tables equal")
"#;

#[test]
fn pyarrow_and_pandas_read_every_table_as_written() {
    let Some(python) = python_data_tools("pyarrow_and_pandas_read_every_table_as_written") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let table = sample_table(100);
    let one = dir.path().join("one");
    fs::create_dir(&one).unwrap();
    save(&table, &one).unwrap();
    let parts = dir.path().join("parts");
    fs::create_dir(&parts).unwrap();
    let batches: Vec<RecordBatch> =
        vec![table.slice(0, 30), table.slice(30, 0), table.slice(30, 70)];
    zenml_materializer::parquet::ParquetBatchesMaterializer
        .save(&batches, &parts)
        .unwrap();
    let expected = dir.path().join("expected.arrow");
    let mut writer = arrow_ipc::writer::FileWriter::try_new(
        fs::File::create(&expected).unwrap(),
        &table.schema(),
    )
    .unwrap();
    writer.write(&table).unwrap();
    writer.finish().unwrap();
    run_python(
        &python,
        ARROW_CHECK,
        &[
            &one.join("table.parquet"),
            &parts.join("table.parquet"),
            &expected,
        ],
    );
}
