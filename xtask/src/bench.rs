//! Benchmarks that measure whole processes, as users run them.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// `cargo xtask bench [cli]`.
pub(crate) fn run(root: &Path, args: &[String]) -> anyhow::Result<()> {
    let which = args.first().map(String::as_str).unwrap_or("all");
    match which {
        "all" | "cli" => cli(root),
        other => bail!("unknown benchmark `{other}`; known: cli"),
    }
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
