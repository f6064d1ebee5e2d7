//! Throughput of artifact I/O: writes a `Vec<u8>` artifact with `write_artifact` into a
//! local artifact store, reads it back with `read_artifact`, and prints both times, and the
//! time of the materializer's load alone (the part of the read that is not artifact I/O).
//! It does so twice: a first, cold round (keys prefixed `cold_`), in which the process
//! touches its memory for the first time, and a second one.
//!
//! ```text
//! artifact_throughput <work folder> [size in MiB, default 1024] [sync | nosync, default sync]
//! ```
//!
//! The store and the staging folder are created in the work folder, which should be on the
//! disk being measured; the example removes what it created. `cargo xtask bench artifact`
//! runs it and compares the times with `cp`. Output lines are `key=value`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use zenml_artifact_store::{ArtifactStore, LocalArtifactStore, LocalFiles, ObjectPath};
use zenml_materializer::{BytesMaterializer, Materializer};
use zenml_pipeline::artifact_io::{read_artifact, write_artifact};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(work) = args.first().map(PathBuf::from) else {
        return Err("usage: artifact_throughput <work folder> [MiB] [sync | nosync]".into());
    };
    let mib: usize = args.get(1).map_or(Ok(1024), |s| s.parse())?;
    let sync = match args.get(2).map(String::as_str) {
        None | Some("sync") => true,
        Some("nosync") => false,
        Some(other) => return Err(format!("expected `sync` or `nosync`, not `{other}`").into()),
    };

    // Bytes that no layer could compress or deduplicate.
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let value: Vec<u8> = (0..mib * (1 << 20) / 8)
        .flat_map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state.to_le_bytes()
        })
        .collect();

    std::fs::create_dir_all(&work)?;
    let work = tempfile::Builder::new()
        .prefix("artifact-throughput-")
        .tempdir_in(&work)?;
    let store = LocalArtifactStore::open(&work.path().join("artifacts"), sync)?;
    let staging = work.path().join("staging");

    println!("bytes={}", value.len());
    println!("sync={sync}");
    for round in ["cold_", ""] {
        let times = measure(&store, &staging, round, &value)?;
        println!("{round}write_seconds={:.6}", times[0]);
        println!("{round}read_seconds={:.6}", times[1]);
        println!("{round}load_only_seconds={:.6}", times[2]);
    }
    Ok(())
}

/// Writes `value` as an artifact, reads it back, loads it without `read_artifact`, and
/// deletes it: returns the seconds of the write, of the read, and of the load alone.
fn measure(
    store: &LocalArtifactStore,
    staging: &Path,
    name: &str,
    value: &Vec<u8>,
) -> Result<[f64; 3], Box<dyn std::error::Error>> {
    let folder = ObjectPath::new(&format!("bench/step/output/{name}0"))?;

    let start = Instant::now();
    let written = write_artifact(store, staging, &folder, &BytesMaterializer, value)?;
    let write = start.elapsed();

    let start = Instant::now();
    let back = read_artifact(
        store,
        staging,
        &folder,
        &written.content_hash,
        &BytesMaterializer,
    )?;
    let read = start.elapsed();

    if &back != value {
        return Err("the artifact read back differs from the value written".into());
    }
    drop(back);

    // The materializer's share of the read: loading the stored folder directly.
    let dir = LocalFiles::local_path(store, &folder).ok_or("the local store has no local path")?;
    let start = Instant::now();
    let loaded = BytesMaterializer.load(&dir)?;
    let load = start.elapsed();
    drop(loaded);

    store.delete_prefix(&folder)?;
    Ok([write, read, load].map(|d| d.as_secs_f64()))
}
