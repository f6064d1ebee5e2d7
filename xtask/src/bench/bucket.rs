//! `bench bucket`: a 1 GiB artifact uploaded to and downloaded from the S3 test server
//! through the `s3` flavor, beside `object_store`'s own client moving the same bytes with the
//! same part size and concurrency, and the peak memory of each.

use std::fs;
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context, bail};

use super::artifact::{Scratch, flush_disks, write_pseudo_random};
use super::median;

/// The S3 test server `.ci/services` starts (moto), and its bucket.
const S3_ADDRESS: &str = "127.0.0.1:5000";
const S3_URL: &str = "http://127.0.0.1:5000";
const S3_BUCKET: &str = "zenml-test";

/// The object size and the measured rounds (the median is reported).
const MIB: usize = 1024;
const ROUNDS: usize = 2;

/// Whether the S3 test server answers; prints why `what` is skipped when it does not.
pub(super) fn s3_reachable(what: &str) -> bool {
    let address: SocketAddr = S3_ADDRESS.parse().expect("a socket address");
    if TcpStream::connect_timeout(&address, Duration::from_secs(2)).is_ok() {
        return true;
    }
    println!(
        "{what}: skipped: no S3 test server on {S3_ADDRESS} (start it with `bash .ci/services`)"
    );
    false
}

/// The `zenml` arguments that point the active stack's artifacts at the S3 test server,
/// below a prefix of its own.
pub(super) fn set_s3_artifacts(name: &str) -> Vec<String> {
    [
        "config",
        "artifacts",
        "set",
        &format!("s3://{S3_BUCKET}/{name}-{}", std::process::id()),
        "--endpoint",
        S3_URL,
        "--allow-http=true",
        "--region=us-east-1",
        "--access-key-id=testing",
        "--secret-access-key=testing",
    ]
    .map(str::to_owned)
    .to_vec()
}

/// One phase's report.
struct Phase {
    seconds: f64,
    peak_rss_kib: u64,
    hash: Option<String>,
}

/// Runs one phase of the `bucket_throughput` example.
fn phase(example: &Path, args: &[&str]) -> anyhow::Result<Phase> {
    let output = Command::new(example)
        .args([S3_URL, S3_BUCKET])
        .args(args)
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("cannot run {}", example.display()))?;
    if !output.status.success() {
        bail!("bucket_throughput {} failed", args.join(" "));
    }
    let text = String::from_utf8(output.stdout)?;
    let value = |key: &str| -> Option<&str> {
        text.lines()
            .find_map(|line| line.strip_prefix(key)?.strip_prefix('='))
    };
    let number = |key: &str| -> anyhow::Result<f64> {
        value(key)
            .with_context(|| format!("no `{key}=` in:\n{text}"))?
            .parse()
            .with_context(|| format!("bad `{key}` in:\n{text}"))
    };
    let report = Phase {
        seconds: number("seconds")?,
        peak_rss_kib: number("peak_rss_kib")? as u64,
        hash: value("hash").map(str::to_owned),
    };
    flush_disks()?;
    Ok(report)
}

/// The measurements of one kind of transfer over the rounds.
#[derive(Default)]
struct Series {
    seconds: Vec<f64>,
    peak_rss_kib: Vec<u64>,
}

impl Series {
    fn push(&mut self, phase: &Phase) {
        self.seconds.push(phase.seconds);
        self.peak_rss_kib.push(phase.peak_rss_kib);
    }

    fn median(&self) -> f64 {
        median(self.seconds.clone())
    }

    fn peak_mib(&self) -> f64 {
        self.peak_rss_kib.iter().copied().max().unwrap_or(0) as f64 / 1024.0
    }

    fn mib_per_s(&self) -> f64 {
        MIB as f64 / self.median()
    }
}

/// Uploads and downloads of 1 GiB: the `s3` flavor's `put_file` (with `PutMode::Create`,
/// which a large object pays for with a server-side copy, and with `Overwrite`), `get_file`,
/// and a whole `write_artifact` (the folder claimed, then its file uploaded in parts) and
/// `read_artifact` (hashing and staging included), against `object_store`'s multipart put
/// and streamed get of the same file. Ratio = object_store's time / ours (1 is as fast).
pub(super) fn bucket(root: &Path) -> anyhow::Result<()> {
    if !s3_reachable("bucket throughput") {
        return Ok(());
    }
    crate::cargo(
        root,
        &[
            "build",
            "--release",
            "-p",
            "zenml-object-store",
            "--example",
            "bucket_throughput",
        ],
    )?;
    let example = root.join("target/release/examples/bucket_throughput");
    let work = Scratch(root.join(format!("target/bench-bucket-{}", std::process::id())));
    fs::create_dir_all(&work.0)?;
    let source = work.0.join("source.bin");
    write_pseudo_random(&source, MIB)?;
    let back = work.0.join("back.bin");
    let (source, back) = (source.display().to_string(), back.display().to_string());
    let prefix = format!("bench-{}", std::process::id());

    let mut series: [Series; 7] = Default::default();
    let names = [
        "object_store put (multipart)",
        "s3 flavor put_file, Create",
        "s3 flavor put_file, Overwrite",
        "object_store get (streamed)",
        "s3 flavor get_file",
        "write_artifact",
        "read_artifact",
    ];
    for round in 1..=ROUNDS {
        let key = |what: &str| format!("{prefix}/{what}-{round}");
        let raw_key = key("raw");
        let ours_key = key("ours");
        let overwrite_key = key("overwrite");
        let folder = format!("{prefix}/step/output/00000000-0000-4000-8000-{:012}", round);
        let phases = [
            phase(&example, &["raw-put", &source, &raw_key])?,
            phase(&example, &["ours-put", &source, &ours_key])?,
            phase(&example, &["ours-put-overwrite", &source, &overwrite_key])?,
            phase(&example, &["raw-get", &raw_key, &back])?,
            phase(&example, &["ours-get", &ours_key, &back])?,
        ];
        phase(&example, &["delete", &prefix])?;
        let written = phase(&example, &["artifact-write", &source, &folder])?;
        let hash = written
            .hash
            .clone()
            .context("artifact-write printed no hash")?;
        let read = phase(&example, &["artifact-read", &folder, &hash])?;
        phase(&example, &["delete", &prefix])?;
        for (series, phase) in series
            .iter_mut()
            .zip(phases.iter().chain([&written, &read]))
        {
            series.push(phase);
        }
    }
    println!(
        "1 GiB on the s3 flavor against the S3 test server at {S3_URL} (moto), median of \
         {ROUNDS} rounds; ratio = object_store's time / ours (at least 0.8 is the target), \
         peak RSS the largest of the rounds (under 256 MiB is the target):"
    );
    for (name, series) in names.iter().zip(&series) {
        println!(
            "  {name:<32} {:7.2} s  {:7.1} MiB/s  peak RSS {:6.1} MiB",
            series.median(),
            series.mib_per_s(),
            series.peak_mib()
        );
    }
    let [
        raw_put,
        put_create,
        put_overwrite,
        raw_get,
        get,
        write,
        read,
    ] = &series;
    println!(
        "  whole artifact: upload ratio {:.2} (write_artifact), download ratio {:.2} \
         (read_artifact);\n  the store alone: put_file {:.2} (Overwrite), {:.2} (Create, with its \
         copy into place), get_file {:.2}",
        raw_put.median() / write.median(),
        raw_get.median() / read.median(),
        raw_put.median() / put_overwrite.median(),
        raw_put.median() / put_create.median(),
        raw_get.median() / get.median(),
    );
    Ok(())
}
