//! Project automation for zenml-rs, in the style of matklad's cargo-xtask: run it as
//! `cargo xtask <command>` (an alias in `.cargo/config.toml`).
//!
//! - `tidy`: conventions that rustfmt and clippy do not check (also an ordinary `#[test]`,
//!   so `cargo test` enforces it).
//! - `bench`: the project's benchmarks, printing the figures that issues ask for (`cli`:
//!   `zenml stack list` wall time; `artifact`: artifact write and read throughput against
//!   `cp`).
//! - `test-flavors`: every linked flavor against its kind's conformance suite (zenml-testkit),
//!   printing the flavor matrix; finds or starts MariaDB for the `mysql` flavor.
//! - `fuzz`: the coverage-guided fuzzers of `fuzz/` for N seconds each (nightly toolchain).
//! - `ci`: everything CI enforces, in order.

mod bench;
mod flavors;
mod fuzz;
mod tidy;

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("tidy") => {
            let problems = tidy::check(&project_root())?;
            if problems.is_empty() {
                println!("tidy: ok");
                Ok(())
            } else {
                for p in &problems {
                    eprintln!("{p}");
                }
                bail!("tidy: {} problem(s)", problems.len())
            }
        }
        Some("bench") => bench::run(&project_root(), &args[1..]),
        Some("test-flavors") => flavors::run(&project_root(), &args[1..]),
        Some("fuzz") => fuzz::run(&project_root(), &args[1..]),
        Some("ci") => ci(&project_root()),
        _ => {
            eprintln!(
                "usage: cargo xtask <tidy | bench [all | cli | chain | chain-flavors | chain-orchestrators | wide | record-rate | read-rate | lineage | artifact | bucket | data | dashboard] | test-flavors [--private-mysql] | fuzz [--seconds N] [--merge] [--if-nightly] [--target-dir DIR] [TARGET...] | ci>"
            );
            bail!("unknown or missing command")
        }
    }
}

/// The workspace root.
fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// Runs `cargo` with `args` in the workspace root and fails if it fails.
fn cargo(root: &Path, args: &[&str]) -> anyhow::Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    eprintln!("$ cargo {}", args.join(" "));
    let status = Command::new(cargo)
        .args(args)
        .current_dir(root)
        .status()
        .context("cannot run cargo")?;
    if !status.success() {
        bail!("`cargo {}` failed", args.join(" "));
    }
    Ok(())
}

fn ci(root: &Path) -> anyhow::Result<()> {
    cargo(root, &["fmt", "--all", "--check"])?;
    cargo(
        root,
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ],
    )?;
    cargo(root, &["test", "--workspace"])?;
    flavors::run(root, &[])?;
    Ok(())
}
