//! `bench dashboard`: `zenml up` over a SQLite store holding 100,000 step runs (10,000 runs
//! of 10 steps, seeded by the `seed_runs` example of zenml-dashboard through the public
//! `MetadataStore` API). It measures the runs page and `/api/v1/runs` (the default page, a
//! status filter and a later page): the server-side time of each request (its
//! `Server-Timing: app;dur=…` header) and the client-side time, over sequential requests
//! on one keep-alive connection; requests per second under load from `wrk -t2 -c16 -d10s`
//! (Debian's `wrk`, installed if absent; without it, a load client of our own with 16
//! keep-alive connections), with the error count; and the server's peak resident memory.

use std::fs::{self, File};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use super::http::{self, Connection, LoadReport};
use super::stores::Flavor;
use super::{BenchRepo, median, ms, stdout_of};

/// Runs seeded: 10 step runs each.
const RUNS: usize = 10_000;

/// Sequential requests measured per URL, after [`WARM_UP`] unmeasured ones.
const REQUESTS: usize = 300;
const WARM_UP: usize = 20;

/// The load: `wrk`'s threads, connections and duration.
const LOAD_THREADS: usize = 2;
const LOAD_CONNECTIONS: usize = 16;
const LOAD_SECONDS: u64 = 10;

/// The targets of issue 10.
const TARGET_MEDIAN_MS: f64 = 20.0;
const TARGET_RPS: f64 = 2_000.0;
const TARGET_RSS_MIB: f64 = 64.0;

/// The URLs measured one request at a time.
const SEQUENTIAL: [&str; 6] = [
    "/runs",
    "/runs?status=failed",
    "/runs?page=50",
    "/api/v1/runs",
    "/api/v1/runs?status=failed",
    "/api/v1/runs?page=50",
];

/// The URLs measured under load.
const LOADED: [&str; 2] = ["/runs", "/api/v1/runs"];

pub(super) fn dashboard(root: &Path) -> anyhow::Result<()> {
    crate::cargo(
        root,
        &["build", "--release", "-p", "zenml-cli", "--bin", "zenml"],
    )?;
    crate::cargo(
        root,
        &[
            "build",
            "--release",
            "-p",
            "zenml-dashboard",
            "--example",
            "seed_runs",
        ],
    )?;
    let zenml = root.join("target/release/zenml");
    let seed = root.join("target/release/examples/seed_runs");
    let repo = BenchRepo::new(&zenml, "dashboard", Flavor::Sqlite)?;

    let mut seeding = repo.command(&seed);
    seeding.args(["--runs", &RUNS.to_string()]);
    let seeded = Seeded::parse(&stdout_of(seeding, "the seed_runs example")?)?;
    println!(
        "dashboard: seeded {} runs, {} step runs ({} completed, {} failed, {} partly cached, \
         {} cancelled, {} running) in {:.1} s through MetadataStore (sqlite)",
        seeded.runs,
        seeded.step_runs,
        seeded.completed,
        seeded.failed,
        seeded.cached,
        seeded.cancelled,
        seeded.running + seeded.interrupted,
        seeded.seconds
    );

    let server = Server::start(&repo, &zenml)?;
    println!(
        "dashboard: `zenml up --port 0` listening at {} after {:.0} ms; RSS {:.1} MiB at rest",
        server.url,
        server.startup_ms,
        server.memory()?.rss_mib
    );
    check_answers(server.address, &seeded)?;
    for path in SEQUENTIAL {
        sequential(server.address, path)?;
    }
    let tool = LoadTool::find();
    for path in LOADED {
        let report = match &tool {
            LoadTool::Wrk => wrk(&server.url, path)?,
            LoadTool::Own => http::load(
                server.address,
                path,
                LOAD_CONNECTIONS,
                Duration::from_secs(LOAD_SECONDS),
            ),
        };
        let errors = report.non_2xx + report.socket_errors;
        println!(
            "dashboard: GET {path} under load ({}, {LOAD_CONNECTIONS} connections, \
             {LOAD_SECONDS} s): {:.0} requests/s (target >= {TARGET_RPS:.0}: {}), {} requests, \
             {} non-2xx, {} socket errors{}",
            tool.describe(),
            report.requests_per_second,
            verdict(report.requests_per_second >= TARGET_RPS && errors == 0),
            report.requests,
            report.non_2xx,
            report.socket_errors,
            report
                .latency
                .as_ref()
                .map_or(String::new(), |l| format!("; latency {l}"))
        );
    }
    let memory = server.memory()?;
    println!(
        "dashboard: server peak RSS (VmHWM) {:.1} MiB after the load (target < \
         {TARGET_RSS_MIB:.0} MiB: {}); RSS now {:.1} MiB",
        memory.peak_mib,
        verdict(memory.peak_mib < TARGET_RSS_MIB),
        memory.rss_mib
    );
    let stop = server.stop()?;
    println!("dashboard: {stop}");
    Ok(())
}

/// `ok` or `MISSED`.
fn verdict(met: bool) -> &'static str {
    if met { "ok" } else { "MISSED" }
}

/// What the seeding wrote, from its last line.
#[derive(Debug, Default)]
struct Seeded {
    runs: u64,
    step_runs: u64,
    completed: u64,
    failed: u64,
    cached: u64,
    cancelled: u64,
    running: u64,
    interrupted: u64,
    seconds: f64,
}

impl Seeded {
    fn parse(stdout: &str) -> anyhow::Result<Seeded> {
        let line = stdout
            .lines()
            .rev()
            .find(|line| line.starts_with("runs="))
            .with_context(|| format!("no `runs=…` line in the seeding's output:\n{stdout}"))?;
        let field = |key: &str| -> anyhow::Result<&str> {
            line.split_whitespace()
                .find_map(|word| word.strip_prefix(key)?.strip_prefix('='))
                .with_context(|| format!("no `{key}=` in the seeding's output: {line}"))
        };
        let count = |key: &str| -> anyhow::Result<u64> {
            field(key)?
                .parse()
                .with_context(|| format!("bad `{key}` in the seeding's output: {line}"))
        };
        Ok(Seeded {
            runs: count("runs")?,
            step_runs: count("step_runs")?,
            completed: count("completed")?,
            failed: count("failed")?,
            cached: count("cached")?,
            cancelled: count("cancelled")?,
            running: count("running")?,
            interrupted: count("interrupted")?,
            seconds: field("seconds")?.parse().context("bad `seconds`")?,
        })
    }
}

/// A running `zenml up`, stopped (SIGTERM, then SIGKILL) when dropped.
struct Server {
    child: Child,
    url: String,
    address: SocketAddr,
    startup_ms: f64,
    log: PathBuf,
}

/// The server's resident memory, from `/proc/PID/status`.
struct Memory {
    rss_mib: f64,
    peak_mib: f64,
}

impl Server {
    /// Starts `zenml up --port 0` in `repo` and waits for the URL it prints first.
    fn start(repo: &BenchRepo, zenml: &Path) -> anyhow::Result<Server> {
        let log = repo.dir.join("zenml-up.log");
        let stderr = File::create(&log).context("cannot create the server's log")?;
        let started = Instant::now();
        let mut child = repo
            .command(zenml)
            .args(["up", "--port", "0"])
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .context("cannot start `zenml up`")?;
        let stdout = child.stdout.take().context("no stdout from `zenml up`")?;
        let (sender, receiver) = mpsc::channel();
        // Reads the first line, then drains the rest so that the server never blocks on a
        // full pipe.
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let _ = sender.send(lines.next());
            for _ in lines {}
        });
        let mut server = Server {
            child,
            url: String::new(),
            address: SocketAddr::from(([127, 0, 0, 1], 0)),
            startup_ms: 0.0,
            log,
        };
        let first = match receiver.recv_timeout(Duration::from_secs(60)) {
            Ok(Some(Ok(line))) => line,
            Ok(_) => bail!(
                "`zenml up` ended without printing its URL: {}",
                server.log_text()
            ),
            Err(_) => bail!(
                "`zenml up` printed no URL within 60 s: {}",
                server.log_text()
            ),
        };
        server.startup_ms = ms(started.elapsed());
        let url = first
            .strip_prefix("dashboard: ")
            .with_context(|| format!("`zenml up` printed `{first}`, not `dashboard: URL`"))?
            .trim()
            .to_owned();
        server.address = url
            .strip_prefix("http://")
            .and_then(|rest| rest.split('/').next())
            .and_then(|authority| authority.parse().ok())
            .with_context(|| format!("cannot read an address from `{url}`"))?;
        server.url = url.trim_end_matches('/').to_owned();
        Ok(server)
    }

    /// The server's log (its stderr), for error messages.
    fn log_text(&self) -> String {
        match fs::read_to_string(&self.log) {
            Ok(text) if !text.trim().is_empty() => format!("its stderr:\n{text}"),
            _ => "it wrote nothing on stderr".to_owned(),
        }
    }

    fn memory(&self) -> anyhow::Result<Memory> {
        let status_file = format!("/proc/{}/status", self.child.id());
        let status = fs::read_to_string(&status_file)
            .with_context(|| format!("cannot read {status_file}"))?;
        let kib = |key: &str| -> anyhow::Result<f64> {
            status
                .lines()
                .find_map(|line| line.strip_prefix(key))
                .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
                .with_context(|| format!("no `{key}` in {status_file}"))
        };
        Ok(Memory {
            rss_mib: kib("VmRSS:")? / 1024.0,
            peak_mib: kib("VmHWM:")? / 1024.0,
        })
    }

    /// Sends SIGTERM and waits up to 10 s for the server to end; says how it ended.
    fn stop(mut self) -> anyhow::Result<String> {
        let started = Instant::now();
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .context("cannot run `kill`")?;
        if !sent.success() {
            bail!("`kill -TERM {}` failed", self.child.id());
        }
        while started.elapsed() < Duration::from_secs(10) {
            if let Some(status) = self.child.try_wait()? {
                return Ok(format!(
                    "`zenml up` ended {:.0} ms after SIGTERM ({status})",
                    ms(started.elapsed())
                ));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        bail!(
            "`zenml up` was still running 10 s after SIGTERM (killed); {}",
            self.log_text()
        )
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Checks that the API answers with the seeded runs, so that the figures are those of real
/// pages: the default page holds a full page of runs out of all of them, the status filter
/// finds the failed runs, and page 50 is page 50.
fn check_answers(address: SocketAddr, seeded: &Seeded) -> anyhow::Result<()> {
    let mut connection = Connection::open(address)?;
    let mut list = |path: &str| -> anyhow::Result<serde_json::Value> {
        let response = connection.get(path)?;
        if response.status != 200 {
            bail!(
                "GET {path}: status {}: {}",
                response.status,
                String::from_utf8_lossy(&response.body)
            );
        }
        serde_json::from_slice(&response.body).with_context(|| format!("GET {path}: not JSON"))
    };
    let items = |value: &serde_json::Value| value["items"].as_array().map_or(0, Vec::len);
    let all = list("/api/v1/runs")?;
    if all["total"].as_u64() != Some(seeded.runs) || items(&all) == 0 {
        bail!(
            "GET /api/v1/runs: total {} with {} items, but {} runs were seeded",
            all["total"],
            items(&all),
            seeded.runs
        );
    }
    let failed = list("/api/v1/runs?status=failed")?;
    let later = list("/api/v1/runs?page=50")?;
    let runs_page = connection.get("/runs")?;
    let rows = String::from_utf8_lossy(&runs_page.body)
        .matches("run-row")
        .count();
    println!(
        "dashboard: answers checked: /api/v1/runs total {} ({} items a page); \
         ?status=failed total {} ({} failed runs seeded); ?page=50 page {} with {} items; \
         /runs status {} with {rows} `run-row`s",
        all["total"],
        items(&all),
        failed["total"],
        seeded.failed,
        later["page"],
        items(&later),
        runs_page.status
    );
    Ok(())
}

/// [`REQUESTS`] sequential requests of `path` on one keep-alive connection: the median
/// and 95th percentile of the server's `Server-Timing` and the client-side median.
fn sequential(address: SocketAddr, path: &str) -> anyhow::Result<()> {
    let mut connection = Connection::open(address)?;
    let mut server = Vec::with_capacity(REQUESTS);
    let mut client = Vec::with_capacity(REQUESTS);
    let mut bytes = 0;
    for i in 0..WARM_UP + REQUESTS {
        let started = Instant::now();
        let response = connection.get(path)?;
        let elapsed = ms(started.elapsed());
        if response.status != 200 {
            bail!("GET {path}: status {}", response.status);
        }
        let app = response.server_ms.with_context(|| {
            format!("GET {path}: no `Server-Timing: app;dur=…` header in the response")
        })?;
        if i >= WARM_UP {
            server.push(app);
            client.push(elapsed);
            bytes = response.body.len();
        }
    }
    let server_median = median(server.clone());
    println!(
        "dashboard: GET {path} ({REQUESTS} sequential requests, keep-alive, {:.1} KiB): server \
         median {server_median:.2} ms (target < {TARGET_MEDIAN_MS:.0} ms: {}), p95 {:.2} ms; \
         client median {:.2} ms{}",
        bytes as f64 / 1024.0,
        verdict(server_median < TARGET_MEDIAN_MS),
        percentile(server, 0.95),
        median(client),
        if connection.reconnects > 0 {
            format!(
                " ({} reconnections: the server closed the connection)",
                connection.reconnects
            )
        } else {
            String::new()
        }
    );
    Ok(())
}

/// The `fraction` percentile of `values` (nearest rank).
fn percentile(mut values: Vec<f64>, fraction: f64) -> f64 {
    values.sort_by(f64::total_cmp);
    let rank = ((values.len() as f64 * fraction).ceil() as usize).clamp(1, values.len());
    values[rank - 1]
}

/// The load generator.
enum LoadTool {
    /// Debian's `wrk`.
    Wrk,
    /// [`http::load`].
    Own,
}

impl LoadTool {
    /// `wrk` if it is installed or can be (`apt-get install -y wrk`), else our own client.
    fn find() -> LoadTool {
        let installed = || {
            Command::new("wrk")
                .arg("--version")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok()
        };
        if installed() {
            return LoadTool::Wrk;
        }
        eprintln!("$ apt-get install -y wrk");
        let _ = Command::new("apt-get")
            .args(["install", "-y", "wrk"])
            .stdout(Stdio::null())
            .status();
        if installed() {
            LoadTool::Wrk
        } else {
            println!("dashboard: `wrk` is not installed and cannot be: load from our own client");
            LoadTool::Own
        }
    }

    fn describe(&self) -> String {
        match self {
            LoadTool::Wrk => format!("wrk -t{LOAD_THREADS} -c{LOAD_CONNECTIONS} -d{LOAD_SECONDS}s"),
            LoadTool::Own => "xtask's keep-alive client".to_owned(),
        }
    }
}

/// `wrk -t2 -c16 -d10s --latency` on `base` + `path`.
fn wrk(base: &str, path: &str) -> anyhow::Result<LoadReport> {
    let mut command = Command::new("wrk");
    command.args([
        &format!("-t{LOAD_THREADS}"),
        &format!("-c{LOAD_CONNECTIONS}"),
        &format!("-d{LOAD_SECONDS}s"),
        "--latency",
        &format!("{base}{path}"),
    ]);
    let text = stdout_of(command, "wrk")?;
    let after = |prefix: &str| -> Option<&str> {
        text.lines()
            .find_map(|line| line.trim().strip_prefix(prefix))
            .map(str::trim)
    };
    let requests_per_second = after("Requests/sec:")
        .and_then(|v| v.parse().ok())
        .with_context(|| format!("no `Requests/sec:` in wrk's output:\n{text}"))?;
    let requests = text
        .lines()
        .find(|line| line.contains(" requests in "))
        .and_then(|line| line.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .with_context(|| format!("no `N requests in` in wrk's output:\n{text}"))?;
    let non_2xx = after("Non-2xx or 3xx responses:")
        .map_or(Ok(0), str::parse)
        .context("bad `Non-2xx or 3xx responses` in wrk's output")?;
    // `Socket errors: connect 0, read 0, write 0, timeout 0`, printed only when some occurred.
    let socket_errors = after("Socket errors:").map_or(0, |line| {
        line.split(',')
            .filter_map(|part| part.split_whitespace().last()?.parse::<u64>().ok())
            .sum()
    });
    let latency = ["50%", "99%"]
        .iter()
        .map(|p| after(p).map(|v| format!("p{} {v}", p.trim_end_matches('%'))))
        .collect::<Option<Vec<_>>>()
        .map(|parts| parts.join(", "));
    Ok(LoadReport {
        requests,
        requests_per_second,
        non_2xx,
        socket_errors,
        latency,
    })
}
