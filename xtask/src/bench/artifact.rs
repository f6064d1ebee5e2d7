//! `bench artifact`: a 1 GiB artifact written to and read from a local artifact store, beside
//! `cp` of the same bytes on the same disk.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, bail};

use super::median;

/// The artifact size of `bench artifact`.
const ARTIFACT_MIB: usize = 1024;
/// Measured runs per configuration of `bench artifact`; the median is reported.
const ARTIFACT_RUNS: usize = 5;

/// Write and read throughput of a 1 GiB `Vec<u8>` artifact (the
/// `artifact_throughput` example of zenml-pipeline: `write_artifact` and `read_artifact`
/// with a local artifact store), as a ratio to `cp` of a 1 GiB file on the same disk
/// (below `target/`). A ratio of 1 is as fast as `cp`; higher is faster.
///
/// With `sync` on (the store's default), the store flushes the artifact to disk, so the
/// write is compared with `cp` followed by an fsync of the copy; the read, with plain
/// `cp` either way. The example writes and reads twice; the ratios are those of the second
/// round, after a warm-up like `cp`'s, and the first round is shown too: on virtual machines
/// a process's first touch of 1 GiB of memory can cost more than the I/O.
pub(super) fn artifact(root: &Path) -> anyhow::Result<()> {
    crate::cargo(
        root,
        &[
            "build",
            "--release",
            "-p",
            "zenml-pipeline",
            "--example",
            "artifact_throughput",
        ],
    )?;
    let example = root.join("target/release/examples/artifact_throughput");
    let work = Scratch(root.join(format!("target/bench-artifact-{}", std::process::id())));
    fs::create_dir_all(&work.0)?;
    let source = work.0.join("source.bin");
    write_pseudo_random(&source, ARTIFACT_MIB)?;
    let copy = work.0.join("copy.bin");

    // Warm up: the page cache, the allocator and the binary.
    time_cp(&source, &copy, false)?;
    run_example(&example, &work.0, false)?;

    println!(
        "artifact of {ARTIFACT_MIB} MiB, median of {ARTIFACT_RUNS} runs \
         (ratio = cp time / our time; at least 0.7 is the target):"
    );
    for sync in [false, true] {
        let (mut cp, mut cp_sync) = (vec![], vec![]);
        let (mut write, mut read, mut load) = (vec![], vec![], vec![]);
        let (mut cold_write, mut cold_read) = (vec![], vec![]);
        for _ in 0..ARTIFACT_RUNS {
            cp.push(time_cp(&source, &copy, false)?);
            if sync {
                cp_sync.push(time_cp(&source, &copy, true)?);
            }
            let times = run_example(&example, &work.0, sync)?;
            write.push(times.write);
            read.push(times.read);
            load.push(times.load_only);
            cold_write.push(times.cold_write);
            cold_read.push(times.cold_read);
        }
        let cp = median(cp);
        let cp_write = if sync { median(cp_sync) } else { cp };
        let (write, read, load) = (median(write), median(read), median(load));
        let (cold_write, cold_read) = (median(cold_write), median(cold_read));
        let label = if sync {
            "sync = true (default)"
        } else {
            "sync = false"
        };
        println!(
            "  {label}:\n    write {write:.3} s vs cp{} {cp_write:.3} s: ratio {:.2} \
             (first write of the process: {cold_write:.3} s, ratio {:.2})\n    \
             read  {read:.3} s vs cp {cp:.3} s: ratio {:.2} (first read of the process: \
             {cold_read:.3} s, ratio {:.2}; the materializer's load alone takes {load:.3} s)",
            if sync { " + fsync" } else { "" },
            cp_write / write,
            cp_write / cold_write,
            cp / read,
            cp / cold_read,
        );
    }
    Ok(())
}

/// A folder removed on drop, so that the benchmark frees its disk space on every path.
pub(super) struct Scratch(pub(super) PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Writes `mib` MiB of pseudo-random bytes to `path`.
pub(super) fn write_pseudo_random(path: &Path, mib: usize) -> anyhow::Result<()> {
    let mut file = std::io::BufWriter::new(fs::File::create(path)?);
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut block = vec![0u8; 1 << 20];
    for _ in 0..mib {
        for word in block.chunks_exact_mut(8) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            word.copy_from_slice(&state.to_le_bytes());
        }
        file.write_all(&block)?;
    }
    file.into_inner()?.sync_all()?;
    Ok(())
}

/// Seconds to `cp source copy` (then fsync the copy if `sync`). The copy is removed and
/// dirty pages are flushed afterwards, outside the measurement.
fn time_cp(source: &Path, copy: &Path, sync: bool) -> anyhow::Result<f64> {
    let start = Instant::now();
    let status = Command::new("cp")
        .arg(source)
        .arg(copy)
        .status()
        .context("cannot run cp")?;
    if !status.success() {
        bail!("cp failed");
    }
    if sync {
        fs::File::open(copy)?.sync_all()?;
    }
    let elapsed = start.elapsed().as_secs_f64();
    fs::remove_file(copy)?;
    flush_disks()?;
    Ok(elapsed)
}

/// The times one run of the `artifact_throughput` example reports, in seconds.
struct ExampleTimes {
    write: f64,
    read: f64,
    load_only: f64,
    cold_write: f64,
    cold_read: f64,
}

/// Runs the example once.
fn run_example(example: &Path, work: &Path, sync: bool) -> anyhow::Result<ExampleTimes> {
    let output = Command::new(example)
        .arg(work)
        .arg(ARTIFACT_MIB.to_string())
        .arg(if sync { "sync" } else { "nosync" })
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("cannot run {}", example.display()))?;
    if !output.status.success() {
        bail!("{} failed", example.display());
    }
    let text = String::from_utf8(output.stdout)?;
    let value = |key: &str| -> anyhow::Result<f64> {
        text.lines()
            .find_map(|line| line.strip_prefix(key)?.strip_prefix('='))
            .with_context(|| format!("no `{key}=` in the example's output:\n{text}"))?
            .parse()
            .with_context(|| format!("bad `{key}` in the example's output:\n{text}"))
    };
    let times = ExampleTimes {
        write: value("write_seconds")?,
        read: value("read_seconds")?,
        load_only: value("load_only_seconds")?,
        cold_write: value("cold_write_seconds")?,
        cold_read: value("cold_read_seconds")?,
    };
    flush_disks()?;
    Ok(times)
}

/// Runs `sync`, so that one measurement's dirty pages are not written during the next.
pub(super) fn flush_disks() -> anyhow::Result<()> {
    let status = Command::new("sync").status().context("cannot run sync")?;
    if !status.success() {
        bail!("sync failed");
    }
    Ok(())
}
