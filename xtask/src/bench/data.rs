//! `bench data`: a 1 GiB `f64` array through the `zenml.npy` materializer and a 1 GiB
//! table of seven column types through `zenml.parquet`, saved and loaded, beside the same
//! number of bytes written and read as a plain file; the cost of their statistics as a
//! fraction of the save; the peak memory of each phase (its own process).

use std::fs;
use std::path::Path;
use std::process::Command;

use anyhow::Context;

use super::artifact::{Scratch, flush_disks};
use super::{median, stdout_of};

/// The data size and the measured rounds (the median is reported).
const MIB: usize = 1024;
const ROUNDS: usize = 3;

/// One phase's report.
#[derive(Debug, Clone, Copy)]
struct Phase {
    seconds: f64,
    bytes: f64,
    peak_mib: f64,
}

fn phase(example: &Path, name: &str, dir: &Path) -> anyhow::Result<Phase> {
    let mut command = Command::new(example);
    command.args([name, &dir.display().to_string(), &MIB.to_string()]);
    let text = stdout_of(command, &format!("data_throughput {name}"))?;
    let number = |key: &str| -> anyhow::Result<f64> {
        text.lines()
            .find_map(|line| line.strip_prefix(key)?.strip_prefix('='))
            .with_context(|| format!("no `{key}=` in:\n{text}"))?
            .parse()
            .with_context(|| format!("bad `{key}` in:\n{text}"))
    };
    let report = Phase {
        seconds: number("seconds")?,
        bytes: number("bytes")?,
        peak_mib: number("peak_rss_kib")? / 1024.0,
    };
    flush_disks()?;
    Ok(report)
}

/// The median time and the largest peak of a phase over the rounds.
fn summary(phases: &[Phase]) -> (f64, f64, f64) {
    let seconds = median(phases.iter().map(|p| p.seconds).collect());
    let peak = phases.iter().map(|p| p.peak_mib).fold(0.0, f64::max);
    (seconds, phases[0].bytes / f64::from(1u32 << 20), peak)
}

pub(super) fn data(root: &Path) -> anyhow::Result<()> {
    crate::cargo(
        root,
        &[
            "build",
            "--release",
            "-p",
            "zenml-materializer",
            "--example",
            "data_throughput",
            "--features",
            "ndarray,arrow",
        ],
    )?;
    let example = root.join("target/release/examples/data_throughput");
    let work = Scratch(root.join(format!("target/bench-data-{}", std::process::id())));
    fs::create_dir_all(&work.0)?;
    let names = [
        "plain-write",
        "plain-read",
        "array-save",
        "array-load",
        "array-describe",
        "table-save",
        "table-load",
        "table-describe",
    ];
    let mut rounds: Vec<Vec<Phase>> = vec![Vec::new(); names.len()];
    for _ in 0..ROUNDS {
        for (i, name) in names.iter().enumerate() {
            rounds[i].push(phase(&example, name, &work.0)?);
        }
    }
    let [
        plain_write,
        plain_read,
        array_save,
        array_load,
        array_describe,
        table_save,
        table_load,
        table_describe,
    ] = [0, 1, 2, 3, 4, 5, 6, 7].map(|i| summary(&rounds[i]));
    println!(
        "{MIB} MiB of data on the local disk (page cache), median of {ROUNDS} rounds; ratio = \
         plain file time / ours (1 is as fast); peak RSS of the phase's process, data included:"
    );
    let line = |name: &str, (seconds, mib, peak): (f64, f64, f64), plain: Option<f64>| {
        let ratio = plain.map_or(String::new(), |p| format!("  ratio {:.2}", p / seconds));
        println!(
            "  {name:<34} {seconds:7.2} s  {:7.1} MiB/s  peak RSS {peak:7.1} MiB{ratio}",
            mib / seconds
        );
    };
    line("plain file write", plain_write, None);
    line("plain file read", plain_read, None);
    line("array save (npy, f64)", array_save, Some(plain_write.0));
    line("array load", array_load, Some(plain_read.0));
    line("array statistics", array_describe, None);
    line(
        "table save (parquet, 7 columns)",
        table_save,
        Some(plain_write.0),
    );
    line("table load", table_load, Some(plain_read.0));
    line("table statistics", table_describe, None);
    println!(
        "  statistics cost: array {:.0} % of its save, table {:.0} % of its save \
         (at most 20 % is the target for the table)",
        100.0 * array_describe.0 / array_save.0,
        100.0 * table_describe.0 / table_save.0
    );
    Ok(())
}
