//! Benchmarks that measure whole processes, as users run them.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod artifact;
mod bucket;
mod dashboard;
mod data;
mod http;
mod stores;
mod wide;

use anyhow::{Context, bail};
use stores::Flavor;

/// `cargo xtask bench [all | cli | chain | chain-flavors | chain-orchestrators | wide | record-rate | read-rate | lineage | artifact |
/// bucket | data | dashboard]`.
pub(crate) fn run(root: &Path, args: &[String]) -> anyhow::Result<()> {
    let which = args.first().map(String::as_str).unwrap_or("all");
    match which {
        "all" => {
            cli(root)?;
            chain(root)?;
            stores::chain_flavors(root)?;
            chain_orchestrators(root)?;
            wide::wide(root)?;
            stores::record_rate(root)?;
            lineage(root)?;
            read_rate(root)?;
            artifact::artifact(root)?;
            bucket::bucket(root)?;
            data::data(root)?;
            dashboard::dashboard(root)
        }
        "cli" => cli(root),
        "chain" => chain(root),
        "chain-flavors" => stores::chain_flavors(root),
        "chain-orchestrators" => chain_orchestrators(root),
        "wide" => wide::wide(root),
        "record-rate" => stores::record_rate(root),
        "lineage" => lineage(root),
        "read-rate" => read_rate(root),
        "artifact" => artifact::artifact(root),
        "bucket" => bucket::bucket(root),
        "data" => data::data(root),
        "dashboard" => dashboard::dashboard(root),
        other => bail!(
            "unknown benchmark `{other}`; known: cli, chain, chain-flavors, chain-orchestrators, wide, record-rate, read-rate, \
             lineage, artifact, bucket, data, dashboard"
        ),
    }
}

/// Queries per second from 8 threads of one process on one SQLite store while another
/// thread records runs.
fn read_rate(root: &Path) -> anyhow::Result<()> {
    pipeline_example(root, "read_rate")
}

/// Runs an example of the zenml-pipeline crate from a release build.
fn pipeline_example(root: &Path, name: &str) -> anyhow::Result<()> {
    super::cargo(
        root,
        &[
            "run",
            "--release",
            "-p",
            "zenml-pipeline",
            "--example",
            name,
        ],
    )
}

/// Lineage of an artifact 10 steps deep in a SQLite store of 100,000 step runs.
fn lineage(root: &Path) -> anyhow::Result<()> {
    pipeline_example(root, "lineage_scale")
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

pub(super) fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

pub(super) fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// A temporary repository whose default stack records in `flavor`'s store (for a server
/// flavor, in a database of its own, dropped with the repository when the value is
/// dropped).
pub(super) struct BenchRepo {
    dir: PathBuf,
    database: Option<(Flavor, String)>,
}

impl BenchRepo {
    fn new(zenml: &Path, name: &str, flavor: Flavor) -> anyhow::Result<BenchRepo> {
        let dir = std::env::temp_dir().join(format!(
            "zenml-bench-{name}-{}-{}",
            flavor.name(),
            std::process::id()
        ));
        if dir.exists() {
            fs::remove_dir_all(&dir)?;
        }
        fs::create_dir_all(&dir)?;
        let mut repo = BenchRepo {
            dir,
            database: None,
        };
        repo.zenml(zenml, &["init"])?;
        if let Some(args) = flavor.server_args() {
            let database = format!(
                "zenml_bench_{}_{}",
                name.replace('-', "_"),
                std::process::id()
            );
            flavor.drop_database(&database);
            repo.database = Some((flavor, database.clone()));
            let mut set = vec!["config", "metadata", "set", flavor.name()];
            set.extend(args);
            set.extend([
                "--database",
                &database,
                "--password-env",
                stores::PASSWORD_VAR,
            ]);
            repo.zenml(zenml, &set)?;
        }
        Ok(repo)
    }

    /// A command that runs `program` in the repository with a clean zenml environment.
    pub(super) fn command(&self, program: &Path) -> Command {
        let mut command = Command::new(program);
        command
            .current_dir(&self.dir)
            .env_remove("ZENML_STACK")
            .env_remove("ZENML_REPOSITORY_PATH")
            .env(stores::PASSWORD_VAR, "")
            .stdin(Stdio::null());
        command
    }

    pub(super) fn zenml(&self, zenml: &Path, args: &[&str]) -> anyhow::Result<()> {
        let output = self
            .command(zenml)
            .args(args)
            .output()
            .context("cannot run zenml")?;
        if !output.status.success() {
            bail!(
                "zenml {} failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Ok(())
    }
}

impl Drop for BenchRepo {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
        if let Some((flavor, database)) = &self.database {
            flavor.drop_database(database);
        }
    }
}

/// Builds the `zenml` binary and the example `name` in release mode; returns their paths.
pub(super) fn release_zenml_and_example(
    root: &Path,
    name: &str,
) -> anyhow::Result<(PathBuf, PathBuf)> {
    super::cargo(
        root,
        &["build", "--release", "-p", "zenml-cli", "--bin", "zenml"],
    )?;
    super::cargo(
        root,
        &[
            "build",
            "--release",
            "-p",
            "zenml-examples",
            "--example",
            name,
        ],
    )?;
    Ok((
        root.join("target/release/zenml"),
        root.join("target/release/examples").join(name),
    ))
}

/// Runs `command` and returns its stdout; fails with its stderr when it fails.
pub(super) fn stdout_of(mut command: Command, what: &str) -> anyhow::Result<String> {
    let output = command
        .output()
        .with_context(|| format!("cannot run {what}"))?;
    if !output.status.success() {
        bail!("{what} failed: {}", String::from_utf8_lossy(&output.stderr));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// The 20-step chain from a release build with `--no-cache` on the default stores (SQLite,
/// a local folder), on the `local` orchestrator (steps on threads of the one process), on
/// the `process` orchestrator (every step a process of its own, started from the chain's
/// program) and, when the Slurm test cluster runs, on the `slurm` orchestrator (every step
/// a batch job): the whole process's wall time from start to the run's end, per step. The steps
/// do next to nothing, so this is the orchestration's overhead. Medians of 10 runs after a
/// first one.
fn chain_orchestrators(root: &Path) -> anyhow::Result<()> {
    let (zenml, example) = release_zenml_and_example(root, "chain")?;
    let slurm_up = slurm_running("chain on slurm");
    for orchestrator in ["local", "process", "slurm"] {
        if orchestrator == "slurm" && !slurm_up {
            continue;
        }
        let repo = orchestrator_repo(&zenml, &format!("chain-{orchestrator}"), orchestrator, &[])?;
        let run = || -> anyhow::Result<f64> {
            let mut command = repo.command(&example);
            command.args(["--quiet", "--no-cache"]);
            let start = Instant::now();
            stdout_of(command, "the chain example")?;
            Ok(ms(start.elapsed()))
        };
        run()?;
        let wall: Vec<f64> = (0..10).map(|_| run()).collect::<anyhow::Result<_>>()?;
        let whole = median(wall);
        println!(
            "chain of 20 steps, --no-cache, sqlite + local folder, `{orchestrator}` orchestrator \
             (release, 10 runs): whole process median {whole:.1} ms, {:.2} ms per step",
            whole / 20.0
        );
    }
    Ok(())
}

/// Whether the Slurm test cluster runs; says so when it does not, for `what`.
pub(super) fn slurm_running(what: &str) -> bool {
    let up = std::net::TcpStream::connect("127.0.0.1:6817").is_ok();
    if !up {
        println!("{what}: skipped, the Slurm test cluster is not running (bash .ci/services)");
    }
    up
}

/// A bench repository (SQLite and a local folder) whose active stack runs on an
/// orchestrator of flavor `orchestrator` with the options `extra`; a `slurm` one is on the
/// test cluster.
pub(super) fn orchestrator_repo(
    zenml: &Path,
    label: &str,
    orchestrator: &str,
    extra: &[&str],
) -> anyhow::Result<BenchRepo> {
    let slurm_conf = std::env::var_os("ZENML_CI_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/zenml-rs-ci")))
        .unwrap_or_default()
        .join("slurm/slurm.conf");
    let repo = BenchRepo::new(zenml, label, Flavor::Sqlite)?;
    let conf = format!("--slurm-conf={}", slurm_conf.display());
    let mut register = vec![
        "orchestrator",
        "register",
        "bench",
        "--flavor",
        orchestrator,
    ];
    if orchestrator == "slurm" {
        register.extend([
            "--partition",
            "debug",
            conf.as_str(),
            "--poll-interval-ms",
            "50",
        ]);
    }
    register.extend(extra);
    repo.zenml(zenml, &register)?;
    repo.zenml(
        zenml,
        &[
            "stack", "register", "bench", "-o", "bench", "-m", "default", "-a", "default", "--set",
        ],
    )?;
    Ok(repo)
}
