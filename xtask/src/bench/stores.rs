//! The metadata store benchmarks, on each flavor side by side: the 20-step chain
//! (`chain-flavors`) and the rate of recorded step runs (`record-rate`). The server flavors
//! use the servers `.ci/services` starts: MariaDB on 127.0.0.1:3306 (root, no password) and
//! PostgreSQL on 127.0.0.1:5432 (postgres, trust).

use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use super::{BenchRepo, bucket, median, ms, release_zenml_and_example, stdout_of};

/// The variable that holds the benchmark database's password (empty: the servers' test
/// users have none).
pub(super) const PASSWORD_VAR: &str = "ZENML_BENCH_DB_PASSWORD";

/// The metadata store flavors the store benchmarks compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Flavor {
    Sqlite,
    Mysql,
    Postgres,
}

impl Flavor {
    pub(super) fn name(self) -> &'static str {
        match self {
            Flavor::Sqlite => "sqlite",
            Flavor::Mysql => "mysql",
            Flavor::Postgres => "postgres",
        }
    }

    /// The server's address, for a server flavor.
    fn address(self) -> Option<SocketAddr> {
        match self {
            Flavor::Sqlite => None,
            Flavor::Mysql => Some(SocketAddr::from(([127, 0, 0, 1], 3306))),
            Flavor::Postgres => Some(SocketAddr::from(([127, 0, 0, 1], 5432))),
        }
    }

    /// `zenml config metadata set FLAVOR` arguments but the database and the password, for
    /// a server flavor.
    pub(super) fn server_args(self) -> Option<[&'static str; 6]> {
        match self {
            Flavor::Sqlite => None,
            Flavor::Mysql => Some([
                "--host",
                "127.0.0.1",
                "--port",
                "3306",
                "--username",
                "root",
            ]),
            Flavor::Postgres => Some([
                "--host",
                "127.0.0.1",
                "--port",
                "5432",
                "--username",
                "postgres",
            ]),
        }
    }

    /// Whether the flavor's server answers (SQLite always does); prints why the flavor's
    /// part of `what` is skipped when it does not.
    pub(super) fn reachable(self, what: &str) -> bool {
        let Some(address) = self.address() else {
            return true;
        };
        if TcpStream::connect_timeout(&address, Duration::from_secs(2)).is_ok() {
            return true;
        }
        println!(
            "{what} on {}: skipped: no server on {address} (start it with `bash .ci/services`)",
            self.name()
        );
        false
    }

    /// Drops `database` with the server's command-line client, if one is installed.
    pub(super) fn drop_database(self, database: &str) {
        let clients: Vec<Command> = match self {
            Flavor::Sqlite => return,
            Flavor::Mysql => ["mysql", "mariadb"]
                .iter()
                .map(|client| {
                    let mut command = Command::new(client);
                    command
                        .args(["-uroot", "-h127.0.0.1", "-P3306", "-e"])
                        .arg(format!("DROP DATABASE IF EXISTS `{database}`"))
                        .env_remove("MYSQL_PWD");
                    command
                })
                .collect(),
            Flavor::Postgres => {
                let mut command = Command::new("psql");
                command
                    .args(["-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-c"])
                    .arg(format!(
                        "DROP DATABASE IF EXISTS \"{database}\" WITH (FORCE)"
                    ))
                    .env_remove("PGPASSWORD");
                vec![command]
            }
        };
        let dropped = clients.into_iter().any(|mut client| {
            client
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        });
        if !dropped {
            eprintln!(
                "note: cannot drop the benchmark database `{database}`: no {} client",
                self.name()
            );
        }
    }
}

/// The 20-step chain from a release build with `--no-cache`, on a default stack whose
/// metadata store is SQLite, on one whose store is MySQL, one whose store is PostgreSQL
/// (configured with `zenml config metadata set …`, PostgreSQL with libpq's default
/// `sslmode = "prefer"`, so over TLS), and on MySQL with artifacts in the S3 test server
/// (`zenml config artifacts set s3://…`): the in-process time per step (from the start of
/// the run, opening the stack included, to its end) and the whole process's wall time,
/// medians of 10 runs after a first run that creates the database. The rounds interleave
/// the stacks (one run on each, then the next round), so that the machine's slower moments
/// (the disk's flushes, other tenants) fall on all of them alike.
pub(super) fn chain_flavors(root: &Path) -> anyhow::Result<()> {
    let (zenml, example) = release_zenml_and_example(root, "chain")?;
    let mut stacks = Vec::new();
    for (flavor, on_s3) in [
        (Flavor::Sqlite, false),
        (Flavor::Mysql, false),
        (Flavor::Postgres, false),
        (Flavor::Mysql, true),
    ] {
        if !flavor.reachable("chain of 20 steps") {
            continue;
        }
        if on_s3 && !bucket::s3_reachable("chain of 20 steps on s3") {
            continue;
        }
        let label = if on_s3 { "chain-s3" } else { "chain" };
        let repo = BenchRepo::new(&zenml, label, flavor)?;
        let artifacts = if on_s3 {
            let args = bucket::set_s3_artifacts("bench-chain");
            repo.zenml(&zenml, &args.iter().map(String::as_str).collect::<Vec<_>>())?;
            "s3 (moto)"
        } else {
            "local"
        };
        chain_once(&repo, &example)?;
        stacks.push((flavor, artifacts, repo, Vec::new(), Vec::new()));
    }
    for _ in 0..10 {
        for (_, _, repo, wall, per_step) in &mut stacks {
            let (w, p) = chain_once(repo, &example)?;
            wall.push(w);
            per_step.push(p);
        }
    }
    for (flavor, artifacts, _, wall, per_step) in stacks {
        println!(
            "chain of 20 steps, --no-cache, {} metadata store, {artifacts} artifacts (release, \
             10 interleaved runs): in-process per step median {:.2} ms (min {:.2}); whole \
             process median {:.1} ms",
            flavor.name(),
            median(per_step.clone()),
            per_step.iter().copied().fold(f64::INFINITY, f64::min),
            median(wall)
        );
    }
    Ok(())
}

/// One run of the chain in `repo`: the whole process's wall time and the time per step it
/// reports, in milliseconds.
fn chain_once(repo: &BenchRepo, example: &Path) -> anyhow::Result<(f64, f64)> {
    let mut command = repo.command(example);
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
}

/// Step runs recorded per process in `bench record-rate`.
const RECORD_RATE_STEPS: usize = 1000;

/// Rounds of `bench record-rate`.
const RECORD_RATE_ROUNDS: usize = 3;

/// Step runs (each with 3 artifacts) recorded per second by the metadata store alone: the
/// `record_rate` example (release) calls `record_step_run` directly, from 1 process and from
/// 8 processes at once, on SQLite, MySQL and PostgreSQL. With 8 processes, they open their
/// stores first and start recording at one agreed moment; the rate is all their step runs
/// over the time from the first start to the last end. Each figure is the median of 3
/// rounds, which interleave the flavors.
pub(super) fn record_rate(root: &Path) -> anyhow::Result<()> {
    let (zenml, example) = release_zenml_and_example(root, "record_rate")?;
    let mut repos = Vec::new();
    for flavor in [Flavor::Sqlite, Flavor::Mysql, Flavor::Postgres] {
        if !flavor.reachable("record rate") {
            continue;
        }
        let repo = BenchRepo::new(&zenml, "rate", flavor)?;
        // Creates the database and its schema, outside the measurement.
        let mut warm_up = repo.command(&example);
        warm_up.args(["--steps", "10"]);
        stdout_of(warm_up, "the record_rate example")?;
        repos.push((flavor, repo));
    }
    for processes in [1, 8] {
        let mut rates: Vec<Vec<f64>> = vec![Vec::new(); repos.len()];
        for _ in 0..RECORD_RATE_ROUNDS {
            for ((_, repo), rates) in repos.iter().zip(&mut rates) {
                rates.push(record_once(repo, &example, processes)?);
            }
        }
        for ((flavor, _), rates) in repos.iter().zip(rates) {
            println!(
                "record_step_run with 3 artifacts, {} metadata store, {processes} process{} \
                 ({} step runs each, median of {RECORD_RATE_ROUNDS} rounds): {:.0} step runs/s \
                 (min {:.0}, max {:.0})",
                flavor.name(),
                if processes == 1 { "" } else { "es at once" },
                RECORD_RATE_STEPS,
                median(rates.clone()),
                rates.iter().copied().fold(f64::INFINITY, f64::min),
                rates.iter().copied().fold(0.0, f64::max),
            );
        }
    }
    Ok(())
}

/// One round of `record_rate` in `repo` from `processes` processes: step runs per second.
fn record_once(repo: &BenchRepo, example: &Path, processes: usize) -> anyhow::Result<f64> {
    let start_at = now_ms() + 1500;
    let children = (0..processes)
        .map(|_| {
            repo.command(example)
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
    Ok(total as f64 / seconds)
}

/// Milliseconds since the Unix epoch.
fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}
