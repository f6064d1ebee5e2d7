//! Benchmarks that measure whole processes, as users run them.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// `cargo xtask bench [all | cli | chain | lineage | artifact]`.
pub(crate) fn run(root: &Path, args: &[String]) -> anyhow::Result<()> {
    let which = args.first().map(String::as_str).unwrap_or("all");
    match which {
        "all" => {
            cli(root)?;
            chain(root)?;
            lineage(root)?;
            artifact(root)
        }
        "cli" => cli(root),
        "chain" => chain(root),
        "lineage" => lineage(root),
        "artifact" => artifact(root),
        other => bail!("unknown benchmark `{other}`; known: cli, chain, lineage, artifact"),
    }
}

/// Lineage of an artifact 10 steps deep in a SQLite store of 100,000 step runs.
fn lineage(root: &Path) -> anyhow::Result<()> {
    super::cargo(
        root,
        &[
            "run",
            "--release",
            "-p",
            "zenml-pipeline",
            "--example",
            "lineage_scale",
        ],
    )
}

/// The 20-step chain pipeline from a release build: the whole process's wall time and the
/// in-process time per step, over 10 runs against one repository, once with caching off
/// (every step runs) and once fully cached.
fn chain(root: &Path) -> anyhow::Result<()> {
    super::cargo(
        root,
        &[
            "build",
            "--release",
            "-p",
            "zenml-examples",
            "--example",
            "chain",
        ],
    )?;
    let example = root.join("target/release/examples/chain");
    let dir = std::env::temp_dir().join(format!("zenml-bench-chain-{}", std::process::id()));
    fs::create_dir_all(&dir)?;
    let run = |args: &[&str]| -> anyhow::Result<(f64, f64)> {
        let start = Instant::now();
        let output = Command::new(&example)
            .arg("--quiet")
            .args(args)
            .current_dir(&dir)
            .env_remove("ZENML_STACK")
            .env_remove("ZENML_REPOSITORY_PATH")
            .output()
            .context("cannot run the chain example")?;
        let elapsed = start.elapsed();
        if !output.status.success() {
            bail!(
                "the chain example failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        let stdout = String::from_utf8_lossy(&output.stdout);
        let per_step = stdout
            .split('(')
            .nth(1)
            .and_then(|s| s.split(" ms per step").next())
            .and_then(|s| s.trim().parse::<f64>().ok())
            .context("the chain example did not print its time per step")?;
        Ok((ms(elapsed), per_step))
    };
    // The first run creates the repository and the database.
    run(&[])?;
    for (label, args) in [
        ("every step runs (--no-cache)", &["--no-cache"][..]),
        ("fully cached", &[][..]),
    ] {
        let mut wall = Vec::new();
        let mut per_step = Vec::new();
        for _ in 0..10 {
            let (w, p) = run(args)?;
            wall.push(w);
            per_step.push(p);
        }
        println!(
            "chain of 20 steps, {label} (release, 10 runs, default stack): whole process median {:.1} ms \
             (min {:.1}); in-process per step median {:.2} ms",
            median(wall.clone()),
            wall.iter().copied().fold(f64::INFINITY, f64::min),
            median(per_step)
        );
    }
    fs::remove_dir_all(&dir)?;
    Ok(())
}

/// Wall time of `zenml stack list` from a release build, over 20 runs.
fn cli(root: &Path) -> anyhow::Result<()> {
    super::cargo(
        root,
        &["build", "--release", "-p", "zenml-cli", "--bin", "zenml"],
    )?;
    let zenml = root.join("target/release/zenml");
    let dir = std::env::temp_dir().join(format!("zenml-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let status = Command::new(&zenml)
        .args(["init", "--path"])
        .arg(&dir)
        .stdout(Stdio::null())
        .status()
        .context("cannot run zenml init")?;
    if !status.success() {
        bail!("zenml init failed");
    }
    // Warm the page cache once, then measure.
    run_once(&zenml, &dir)?;
    let mut times: Vec<Duration> = (0..20)
        .map(|_| run_once(&zenml, &dir))
        .collect::<Result<_, _>>()?;
    times.sort();
    let median = (times[9] + times[10]) / 2;
    println!(
        "zenml stack list (release, 20 runs): median {:.2} ms, min {:.2} ms, max {:.2} ms",
        ms(median),
        ms(times[0]),
        ms(times[19])
    );
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

fn run_once(zenml: &Path, dir: &Path) -> anyhow::Result<Duration> {
    let start = Instant::now();
    let status = Command::new(zenml)
        .args(["stack", "list"])
        .current_dir(dir)
        .env_remove("ZENML_STACK")
        .env_remove("ZENML_REPOSITORY_PATH")
        .stdout(Stdio::null())
        .status()?;
    let elapsed = start.elapsed();
    if !status.success() {
        bail!("zenml stack list failed");
    }
    Ok(elapsed)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

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
fn artifact(root: &Path) -> anyhow::Result<()> {
    super::cargo(
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
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Writes `mib` MiB of pseudo-random bytes to `path`.
fn write_pseudo_random(path: &Path, mib: usize) -> anyhow::Result<()> {
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
fn flush_disks() -> anyhow::Result<()> {
    let status = Command::new("sync").status().context("cannot run sync")?;
    if !status.success() {
        bail!("sync failed");
    }
    Ok(())
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}
