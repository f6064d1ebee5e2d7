//! `cargo xtask fuzz [--seconds N] [--merge] [--if-nightly] [--target-dir DIR] [TARGET...]`:
//! builds the
//! coverage-guided fuzzers of `fuzz/` (libFuzzer through libfuzzer-sys, instrumented as
//! cargo-fuzz instruments them, with AddressSanitizer) on the nightly toolchain, runs each
//! target for N seconds (default 60) starting from its committed corpus, and prints a table
//! of executions, new inputs and crashes per target.
//!
//! - New interesting inputs go to `target/fuzz/corpus/<target>/`, kept between runs;
//!   `--merge` adds those that reach new code to the committed `fuzz/corpus/<target>/`.
//! - A crash (a panic, a timeout of 10 s, an allocation over 512 MiB, memory over 2 GiB)
//!   fails the command and leaves the input in `target/fuzz/artifacts/<target>/`: fix the
//!   bug, then copy the input into `fuzz/corpus/<target>/` so that `cargo test` keeps it
//!   fixed (crates/zenml-fuzz/tests/corpus.rs).
//! - `--if-nightly` (CI): without a nightly toolchain, say so and succeed.
//! - `--target-dir DIR`: where the instrumented build goes (default `target/fuzz`); CI keeps
//!   it in a cache folder outside the checkout, so that the build is made once per machine.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, bail};

/// Every target; `fuzz/Cargo.toml` has one binary of each name (checked by the corpus test).
const TARGETS: &[&str] = &[
    "materializers",
    "names",
    "repository",
    "run_config",
    "stack_export",
];

/// The host triple the fuzzers are built for: an explicit target keeps the instrumentation
/// away from build scripts and proc macros.
const TRIPLE: &str = "x86_64-unknown-linux-gnu";

/// cargo-fuzz's instrumentation flags for libFuzzer, with AddressSanitizer.
const RUSTFLAGS: &[&str] = &[
    "-Cpasses=sancov-module",
    "-Cllvm-args=-sanitizer-coverage-level=4",
    "-Cllvm-args=-sanitizer-coverage-inline-8bit-counters",
    "-Cllvm-args=-sanitizer-coverage-pc-table",
    "-Cllvm-args=-sanitizer-coverage-trace-compares",
    "--cfg",
    "fuzzing",
    "-Zsanitizer=address",
    "-Cdebug-assertions",
    "-Coverflow-checks",
];

struct Options {
    seconds: u64,
    merge: bool,
    if_nightly: bool,
    target_dir: Option<PathBuf>,
    targets: Vec<String>,
}

fn parse(args: &[String]) -> anyhow::Result<Options> {
    let mut options = Options {
        seconds: 60,
        merge: false,
        if_nightly: false,
        target_dir: None,
        targets: Vec::new(),
    };
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--seconds" => {
                let value = args.next().context("--seconds needs a number")?;
                options.seconds = value
                    .parse()
                    .with_context(|| format!("--seconds: `{value}` is not a whole number"))?;
            }
            "--merge" => options.merge = true,
            "--if-nightly" => options.if_nightly = true,
            "--target-dir" => {
                let value = args.next().context("--target-dir needs a folder")?;
                options.target_dir = Some(PathBuf::from(value));
            }
            target if TARGETS.contains(&target) => options.targets.push(target.to_owned()),
            other => bail!(
                "unknown argument `{other}`; usage: cargo xtask fuzz [--seconds N] [--merge] [--if-nightly] [--target-dir DIR] [TARGET...]; targets: {}",
                TARGETS.join(", ")
            ),
        }
    }
    if options.targets.is_empty() {
        options.targets = TARGETS.iter().map(|t| (*t).to_owned()).collect();
    }
    Ok(options)
}

/// What one target's run did.
struct Outcome {
    target: String,
    executions: u64,
    per_second: u64,
    new_inputs: u64,
    crash: Option<PathBuf>,
}

pub(crate) fn run(root: &Path, args: &[String]) -> anyhow::Result<()> {
    let options = parse(args)?;
    if !has_nightly() {
        let message = "the fuzzers need a nightly toolchain (for -Zsanitizer): \
                       `rustup toolchain install nightly`";
        if options.if_nightly {
            println!("fuzz: skipped: {message}");
            return Ok(());
        }
        bail!("{message}");
    }
    let out = options
        .target_dir
        .clone()
        .unwrap_or_else(|| target_dir(root).join("fuzz"));
    build(root, &out)?;
    let mut outcomes = Vec::new();
    for target in &options.targets {
        outcomes.push(run_target(root, &out, target, options.seconds)?);
        if options.merge {
            merge(root, &out, target)?;
        }
    }
    println!(
        "\n{:<14} {:>12} {:>10} {:>10}  crash",
        "target", "executions", "exec/s", "new inputs"
    );
    for o in &outcomes {
        println!(
            "{:<14} {:>12} {:>10} {:>10}  {}",
            o.target,
            o.executions,
            o.per_second,
            o.new_inputs,
            o.crash
                .as_ref()
                .map_or("none".to_owned(), |p| p.display().to_string())
        );
    }
    let crashed: Vec<&str> = outcomes
        .iter()
        .filter(|o| o.crash.is_some())
        .map(|o| o.target.as_str())
        .collect();
    if !crashed.is_empty() {
        bail!("fuzz: crashes in {}", crashed.join(", "));
    }
    Ok(())
}

fn has_nightly() -> bool {
    Command::new("rustup")
        .args(["run", "nightly", "rustc", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
}

/// `rustup run nightly cargo …`, without what the outer (stable) cargo put in the
/// environment.
fn nightly_cargo(root: &Path) -> Command {
    let mut command = Command::new("rustup");
    command.args(["run", "nightly", "cargo"]).current_dir(root);
    for var in [
        "CARGO",
        "RUSTC",
        "RUSTDOC",
        "RUSTC_WRAPPER",
        "RUSTUP_TOOLCHAIN",
    ] {
        command.env_remove(var);
    }
    command
}

fn build(root: &Path, out: &Path) -> anyhow::Result<()> {
    eprintln!(
        "fuzz: building the fuzzers (nightly, instrumented) in {}",
        out.display()
    );
    let status = nightly_cargo(root)
        .args([
            "build",
            "--release",
            "--locked",
            "--bins",
            "--manifest-path",
        ])
        .arg(root.join("fuzz/Cargo.toml"))
        .args(["--target", TRIPLE, "--target-dir"])
        .arg(out)
        .env("RUSTFLAGS", RUSTFLAGS.join(" "))
        .status()
        .context("cannot run cargo through rustup")?;
    if !status.success() {
        bail!("building the fuzzers failed");
    }
    Ok(())
}

fn binary(out: &Path, target: &str) -> PathBuf {
    out.join(TRIPLE).join("release").join(target)
}

fn run_target(root: &Path, out: &Path, target: &str, seconds: u64) -> anyhow::Result<Outcome> {
    let found = out.join("corpus").join(target);
    let artifacts = out.join("artifacts").join(target);
    fs::create_dir_all(&found).with_context(|| format!("cannot create {}", found.display()))?;
    fs::create_dir_all(&artifacts)
        .with_context(|| format!("cannot create {}", artifacts.display()))?;
    let before = crash_files(&artifacts)?;
    eprintln!("fuzz: {target} for {seconds} s");
    let output = Command::new(binary(out, target))
        .arg(&found)
        .arg(root.join("fuzz/corpus").join(target))
        .arg(format!("-max_total_time={seconds}"))
        .args([
            "-timeout=10",
            "-rss_limit_mb=2048",
            "-malloc_limit_mb=512",
            "-print_final_stats=1",
        ])
        .arg(format!("-artifact_prefix={}/", artifacts.display()))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .with_context(|| format!("cannot run the fuzzer {target}"))?;
    let log = String::from_utf8_lossy(&output.stderr);
    let stat = |name: &str| {
        log.lines()
            .filter_map(|line| line.strip_prefix(&format!("stat::{name}:")))
            .filter_map(|v| v.trim().parse::<u64>().ok())
            .next_back()
            .unwrap_or(0)
    };
    let crash = crash_files(&artifacts)?
        .into_iter()
        .find(|p| !before.contains(p));
    if !output.status.success() {
        let tail: Vec<&str> = log.lines().rev().take(40).collect();
        eprintln!(
            "fuzz: {target} failed; its last lines:\n{}",
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        );
        if crash.is_none() {
            bail!("the fuzzer {target} failed without leaving a crashing input");
        }
    }
    Ok(Outcome {
        target: target.to_owned(),
        executions: stat("number_of_executed_units"),
        per_second: stat("average_exec_per_sec"),
        new_inputs: stat("new_units_added"),
        crash,
    })
}

fn crash_files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))? {
        files.push(entry?.path());
    }
    Ok(files)
}

/// Adds the inputs found in `target/fuzz/corpus/<target>` that reach code the committed
/// corpus does not to `fuzz/corpus/<target>` (libFuzzer's `-set_cover_merge=1`: a small set that covers as much).
fn merge(root: &Path, out: &Path, target: &str) -> anyhow::Result<()> {
    let committed = root.join("fuzz/corpus").join(target);
    let status = Command::new(binary(out, target))
        .arg("-set_cover_merge=1")
        .arg(&committed)
        .arg(out.join("corpus").join(target))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .with_context(|| format!("cannot run the fuzzer {target}"))?;
    if !status.success() {
        bail!("merging new inputs into {} failed", committed.display());
    }
    Ok(())
}
