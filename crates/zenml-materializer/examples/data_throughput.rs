//! Throughput of the data materializers, one phase per process so that each reports its own
//! peak memory: a 1 GiB `f64` array through `zenml.npy` and a 1 GiB table of several column
//! types through `zenml.parquet`, saved, loaded and described, beside the same bytes written
//! and read as a plain file. `cargo xtask bench data` runs the phases and prints the ratios.
//!
//! ```sh
//! data_throughput PHASE DIR MIB
//! ```
//!
//! Phases: `array-save`, `array-load`, `array-describe`, `table-save`, `table-load`,
//! `table-describe`, `table-describe-columns` (each column alone, its time as
//! `column_NAME`), `plain-write` and `plain-read` (of the size of the table in memory). A
//! load phase reads what the save phase of the same kind wrote into `DIR`. Output lines are
//! `key=value`: `seconds` (the phase alone, not the making of its data), `bytes` (the data
//! in memory) and `peak_rss_kib`.

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use zenml_materializer::Materializer;
use zenml_materializer::arrow_array::types::Int32Type;
use zenml_materializer::arrow_array::{
    Array, ArrayRef, BooleanArray, DictionaryArray, Float32Array, Float64Array, Int32Array,
    Int64Array, RecordBatch, StringArray,
};
use zenml_materializer::arrow_schema::{Field, Schema};
use zenml_materializer::ndarray::{Array1, Ix1};
use zenml_materializer::npy::NpyMaterializer;
use zenml_materializer::parquet::ParquetMaterializer;

type Error = Box<dyn std::error::Error>;

fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [phase, dir, mib] = args.as_slice() else {
        return Err("usage: data_throughput PHASE DIR MIB".into());
    };
    let dir = PathBuf::from(dir);
    let bytes: usize = mib.parse::<usize>()? << 20;
    let (seconds, data_bytes) = match phase.as_str() {
        "array-save" => {
            let array = array(bytes);
            let out = fresh(&dir.join("array"))?;
            let started = Instant::now();
            NpyMaterializer::<f64, Ix1>::new().save(&array, &out)?;
            (started.elapsed().as_secs_f64(), array.len() * 8)
        }
        "array-load" => {
            let started = Instant::now();
            let array = NpyMaterializer::<f64, Ix1>::new().load(&dir.join("array"))?;
            (started.elapsed().as_secs_f64(), array.len() * 8)
        }
        "array-describe" => {
            let array = array(bytes);
            let started = Instant::now();
            NpyMaterializer::<f64, Ix1>::new().describe(&array, true)?;
            (started.elapsed().as_secs_f64(), array.len() * 8)
        }
        "table-save" => {
            let table = table(bytes);
            let out = fresh(&dir.join("table"))?;
            let started = Instant::now();
            ParquetMaterializer.save(&table, &out)?;
            (
                started.elapsed().as_secs_f64(),
                table.get_array_memory_size(),
            )
        }
        "table-load" => {
            let started = Instant::now();
            let table = ParquetMaterializer.load(&dir.join("table"))?;
            (
                started.elapsed().as_secs_f64(),
                table.get_array_memory_size(),
            )
        }
        "table-describe" => {
            let table = table(bytes);
            let started = Instant::now();
            ParquetMaterializer.describe(&table, true)?;
            (
                started.elapsed().as_secs_f64(),
                table.get_array_memory_size(),
            )
        }
        "table-describe-columns" => {
            // Each column alone, to see where the statistics' time goes.
            let table = table(bytes);
            let started = Instant::now();
            for (i, field) in table.schema().fields().iter().enumerate() {
                let one = RecordBatch::try_new(
                    Arc::new(Schema::new(vec![field.as_ref().clone()])),
                    vec![table.column(i).clone()],
                )?;
                let column_started = Instant::now();
                ParquetMaterializer.describe(&one, true)?;
                println!(
                    "column_{}={}",
                    field.name(),
                    column_started.elapsed().as_secs_f64()
                );
            }
            (
                started.elapsed().as_secs_f64(),
                table.get_array_memory_size(),
            )
        }
        "plain-write" => {
            let data: Vec<u8> = (0..bytes).map(|i| (i % 251) as u8).collect();
            let path = dir.join("plain.bin");
            let started = Instant::now();
            let mut file = fs::File::create(&path)?;
            file.write_all(&data)?;
            file.flush()?;
            (started.elapsed().as_secs_f64(), data.len())
        }
        "plain-read" => {
            let started = Instant::now();
            let mut data = Vec::new();
            fs::File::open(dir.join("plain.bin"))?.read_to_end(&mut data)?;
            (started.elapsed().as_secs_f64(), data.len())
        }
        other => return Err(format!("unknown phase `{other}`").into()),
    };
    println!("seconds={seconds}");
    println!("bytes={data_bytes}");
    println!("peak_rss_kib={}", peak_rss_kib()?);
    Ok(())
}

/// An empty folder at `path` (removed first if it exists).
fn fresh(path: &Path) -> Result<PathBuf, Error> {
    if path.exists() {
        fs::remove_dir_all(path)?;
    }
    fs::create_dir_all(path)?;
    Ok(path.to_path_buf())
}

/// `bytes` of `f64`s: a smooth signal with noise, so that statistics have work to do.
fn array(bytes: usize) -> Array1<f64> {
    let n = bytes / 8;
    Array1::from_iter((0..n).map(|i| {
        let x = i as f64;
        (x * 1e-6).sin() * 100.0 + ((x * 12.9898).sin() * 43_758.547).fract()
    }))
}

/// About `bytes` of a table in memory: ids, a measurement, a ratio, a count, a flag, a
/// short label and a category, per row.
fn table(bytes: usize) -> RecordBatch {
    // 8 + 8 + 4 + 4 + 1/8 + (4 offset + ~9 text) + 4 key bytes per row.
    let rows = bytes / 41;
    let columns: Vec<(&str, ArrayRef)> = vec![
        ("id", Arc::new(Int64Array::from_iter_values(0..rows as i64))),
        (
            "measurement",
            Arc::new(Float64Array::from_iter_values((0..rows).map(|i| {
                let x = i as f64;
                (x * 1e-5).sin() * 10.0 + ((x * 78.233).sin() * 43_758.547).fract()
            }))),
        ),
        (
            "ratio",
            Arc::new(Float32Array::from_iter_values(
                (0..rows).map(|i| (i % 1000) as f32 / 1000.0),
            )),
        ),
        (
            "count",
            Arc::new(Int32Array::from_iter_values(
                (0..rows).map(|i| (i % 97) as i32),
            )),
        ),
        (
            "flag",
            Arc::new(BooleanArray::from_iter((0..rows).map(|i| Some(i % 3 == 0)))),
        ),
        (
            "label",
            Arc::new(StringArray::from_iter_values(
                (0..rows).map(|i| format!("item-{:04}", i % 5000)),
            )),
        ),
        (
            "category",
            Arc::new(DictionaryArray::<Int32Type>::new(
                Int32Array::from_iter_values((0..rows).map(|i| (i % 7) as i32)),
                Arc::new(StringArray::from(vec!["a", "b", "c", "d", "e", "f", "g"])),
            )),
        ),
    ];
    let fields: Vec<Field> = columns
        .iter()
        .map(|(name, array)| Field::new(*name, array.data_type().clone(), false))
        .collect();
    RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns.into_iter().map(|(_, a)| a).collect(),
    )
    .expect("the columns match the schema")
}

/// The process's peak resident memory, from `/proc/self/status`.
fn peak_rss_kib() -> Result<u64, Error> {
    let status = fs::read_to_string("/proc/self/status")?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| "no VmHWM in /proc/self/status".into())
}
