//! Benchmarks that measure whole processes, as users run them.

use std::fs;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod artifact;
mod bucket;
mod wide;

use anyhow::{Context, bail};

/// `cargo xtask bench [all | cli | chain | chain-flavors | chain-orchestrators | wide | record-rate | read-rate | lineage | artifact |
/// bucket]`.
pub(crate) fn run(root: &Path, args: &[String]) -> anyhow::Result<()> {
    let which = args.first().map(String::as_str).unwrap_or("all");
    match which {
        "all" => {
            cli(root)?;
            chain(root)?;
            chain_flavors(root)?;
            chain_orchestrators(root)?;
            wide::wide(root)?;
            record_rate(root)?;
            lineage(root)?;
            read_rate(root)?;
            artifact::artifact(root)?;
            bucket::bucket(root)
        }
        "cli" => cli(root),
        "chain" => chain(root),
        "chain-flavors" => chain_flavors(root),
        "chain-orchestrators" => chain_orchestrators(root),
        "wide" => wide::wide(root),
        "record-rate" => record_rate(root),
        "lineage" => lineage(root),
        "read-rate" => read_rate(root),
        "artifact" => artifact::artifact(root),
        "bucket" => bucket::bucket(root),
        other => bail!(
            "unknown benchmark `{other}`; known: cli, chain, chain-flavors, chain-orchestrators, wide, record-rate, read-rate, \
             lineage, artifact, bucket"
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

/// Where the MySQL parts of the benchmarks find their server: MariaDB (or MySQL) with user
/// `root` and an empty password, as the tests use it.
const MYSQL_ADDRESS: &str = "127.0.0.1:3306";

/// The variable that holds the benchmark database's password (root's is empty).
const MYSQL_PASSWORD_VAR: &str = "ZENML_BENCH_MYSQL_PASSWORD";

/// The metadata store flavors the store benchmarks compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flavor {
    Sqlite,
    Mysql,
}

impl Flavor {
    fn name(self) -> &'static str {
        match self {
            Flavor::Sqlite => "sqlite",
            Flavor::Mysql => "mysql",
        }
    }
}

/// Whether the MySQL server answers; prints why the MySQL part is skipped when it does not.
fn mysql_reachable(what: &str) -> bool {
    let address: SocketAddr = MYSQL_ADDRESS.parse().expect("a socket address");
    if TcpStream::connect_timeout(&address, Duration::from_secs(2)).is_ok() {
        return true;
    }
    println!(
        "{what} on mysql: skipped: no MariaDB/MySQL on {MYSQL_ADDRESS} (start one with \
         `start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd` or \
         `bash .ci/services`)"
    );
    false
}

/// A temporary repository whose default stack records in `flavor`'s store (for mysql, in a
/// database of its own, dropped with the repository when the value is dropped).
pub(super) struct BenchRepo {
    dir: PathBuf,
    database: Option<String>,
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
        if flavor == Flavor::Mysql {
            let database = format!(
                "zenml_bench_{}_{}",
                name.replace('-', "_"),
                std::process::id()
            );
            drop_mysql_database(&database);
            repo.database = Some(database.clone());
            repo.zenml(
                zenml,
                &[
                    "config",
                    "metadata",
                    "set",
                    "mysql",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    "3306",
                    "--username",
                    "root",
                    "--database",
                    &database,
                    "--password-env",
                    MYSQL_PASSWORD_VAR,
                ],
            )?;
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
            .env(MYSQL_PASSWORD_VAR, "")
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
        if let Some(database) = &self.database {
            drop_mysql_database(database);
        }
    }
}

/// Drops `database` with the `mysql` (or `mariadb`) client, if one is installed.
fn drop_mysql_database(database: &str) {
    let dropped = ["mysql", "mariadb"].iter().any(|client| {
        Command::new(client)
            .args(["-uroot", "-h127.0.0.1", "-P3306", "-e"])
            .arg(format!("DROP DATABASE IF EXISTS `{database}`"))
            .env_remove("MYSQL_PWD")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    });
    if !dropped {
        eprintln!("note: cannot drop the benchmark database `{database}`: no mysql client");
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

/// The 20-step chain from a release build with `--no-cache`, on a default stack whose
/// metadata store is SQLite, on one whose store is MySQL (configured with
/// `zenml config metadata set mysql`), and on MySQL with artifacts in the S3 test server
/// (`zenml config artifacts set s3://…`): the in-process time per step and the whole
/// process's wall time, medians of 10 runs after a first run that creates the database.
fn chain_flavors(root: &Path) -> anyhow::Result<()> {
    let (zenml, example) = release_zenml_and_example(root, "chain")?;
    for (flavor, on_s3) in [
        (Flavor::Sqlite, false),
        (Flavor::Mysql, false),
        (Flavor::Mysql, true),
    ] {
        if flavor == Flavor::Mysql && !mysql_reachable("chain of 20 steps") {
            continue;
        }
        if on_s3 && !bucket::s3_reachable("chain of 20 steps on s3") {
            continue;
        }
        let repo = BenchRepo::new(&zenml, "chain", flavor)?;
        let artifacts = if on_s3 {
            let args = bucket::set_s3_artifacts("bench-chain");
            repo.zenml(&zenml, &args.iter().map(String::as_str).collect::<Vec<_>>())?;
            "s3 (moto)"
        } else {
            "local"
        };
        let run = || -> anyhow::Result<(f64, f64)> {
            let mut command = repo.command(&example);
            command.args(["--quiet", "--no-cache"]);
            let start = Instant::now();
            let stdout = stdout_of(command, "the chain example")?;
            let wall = ms(start.elapsed());
            let per_step = stdout
                .split('(')
                .nth(1)
                .and_then(|s| s.split(" ms per step").next())
                .and_then(|s| s.trim().parse::<f64>().ok())
                .context("the chain example did not print its time per step")?;
            Ok((wall, per_step))
        };
        run()?;
        let mut wall = Vec::new();
        let mut per_step = Vec::new();
        for _ in 0..10 {
            let (w, p) = run()?;
            wall.push(w);
            per_step.push(p);
        }
        println!(
            "chain of 20 steps, --no-cache, {} metadata store, {artifacts} artifacts (release, \
             10 runs): in-process per step median {:.2} ms (min {:.2}); whole process median \
             {:.1} ms",
            flavor.name(),
            median(per_step.clone()),
            per_step.iter().copied().fold(f64::INFINITY, f64::min),
            median(wall)
        );
    }
    Ok(())
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

/// Step runs recorded per process in `bench record-rate`.
const RECORD_RATE_STEPS: usize = 1000;

/// Step runs (each with 3 artifacts) recorded per second by the metadata store alone: the
/// `record_rate` example (release) calls `record_step_run` directly, from 1 process and from
/// 8 processes at once, on SQLite and on MySQL. With 8 processes, they open their stores
/// first and start recording at one agreed moment; the rate is all their step runs over the
/// time from the first start to the last end.
fn record_rate(root: &Path) -> anyhow::Result<()> {
    let (zenml, example) = release_zenml_and_example(root, "record_rate")?;
    for flavor in [Flavor::Sqlite, Flavor::Mysql] {
        if flavor == Flavor::Mysql && !mysql_reachable("record rate") {
            continue;
        }
        let repo = BenchRepo::new(&zenml, "rate", flavor)?;
        // Creates the database and its schema, outside the measurement.
        let mut warm_up = repo.command(&example);
        warm_up.args(["--steps", "10"]);
        stdout_of(warm_up, "the record_rate example")?;
        for processes in [1, 8] {
            let start_at = now_ms() + 1500;
            let children = (0..processes)
                .map(|_| {
                    repo.command(&example)
                        .args(["--steps", &RECORD_RATE_STEPS.to_string()])
                        .args(["--start-at", &start_at.to_string()])
                        .stdout(Stdio::piped())
                        .stderr(Stdio::piped())
                        .spawn()
                        .context("cannot start the record_rate example")
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            let (mut total, mut first_start, mut last_end) = (0u64, u64::MAX, 0u64);
            for child in children {
                let output = child.wait_with_output()?;
                if !output.status.success() {
                    bail!(
                        "the record_rate example failed: {}",
                        String::from_utf8_lossy(&output.stderr)
                    );
                }
                let stdout = String::from_utf8_lossy(&output.stdout);
                let field = |key: &str| -> anyhow::Result<u64> {
                    stdout
                        .split_whitespace()
                        .find_map(|word| word.strip_prefix(key)?.strip_prefix('='))
                        .with_context(|| format!("no `{key}=` in the example's output:\n{stdout}"))?
                        .parse()
                        .with_context(|| format!("bad `{key}` in the example's output:\n{stdout}"))
                };
                total += field("step_runs")?;
                first_start = first_start.min(field("start_ms")?);
                last_end = last_end.max(field("end_ms")?);
            }
            let seconds = (last_end.saturating_sub(first_start)).max(1) as f64 / 1000.0;
            println!(
                "record_step_run with 3 artifacts, {} metadata store, {processes} process{}: \
                 {total} step runs in {seconds:.2} s = {:.0} step runs/s",
                flavor.name(),
                if processes == 1 { "" } else { "es at once" },
                total as f64 / seconds
            );
        }
    }
    Ok(())
}

/// Milliseconds since the Unix epoch.
fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}
