//! Faults during a run (issue "Trust", item 4): the artifact store's file system fills up,
//! the metadata database's file system fills up, a MySQL or PostgreSQL server stops mid-run
//! and comes back or stays down. Each ends with a clear error and no panic, nothing partial is recorded or
//! left visible, and the next run succeeds once the fault is gone.
//!
//! The file systems are small tmpfs mounts made by the tests, which needs root (or
//! CAP_SYS_ADMIN); the servers are a private `mariadbd` (zenml_testkit::mariadb) and a
//! private PostgreSQL cluster (zenml_testkit::postgres). Without
//! them the tests say what is missing and pass, except under `CI=true`, where they fail.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use zenml_e2e::{Started, Zenml, eventually, pairs};
use zenml_testkit::mariadb::PrivateMariaDb;
use zenml_testkit::postgres::PrivatePostgres;

/// Fails under `CI=true`, otherwise says why the test is skipped.
fn skip(message: &str) {
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{message}; under CI=true this test cannot be skipped"
    );
    eprintln!("skipped: {message}");
}

/// A tmpfs of a fixed size on a temporary folder, unmounted when dropped.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size` (e.g. `8m`); `None` (after saying why) when this process
    /// may not mount.
    fn mount(size: &str) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let out = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0755"),
                "tmpfs",
            ])
            .arg(dir.path())
            .output()
            .expect("cannot run mount");
        if !out.status.success() {
            skip(&format!(
                "cannot mount a tmpfs ({}); run the tests as root",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
            return None;
        }
        Some(Tmpfs { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Fills the file system: `name` grows until no byte is left.
    fn fill(&self, name: &str) -> PathBuf {
        let path = self.path().join(name);
        let mut file = fs::File::create(&path).expect("the filler file");
        let block = vec![0xa5u8; 64 << 10];
        loop {
            match file.write(&block) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if e.raw_os_error() == Some(28) => break,
                Err(e) => panic!("cannot fill {}: {e}", path.display()),
            }
        }
        // Smaller writes take what the large ones could not.
        while file.write(&[0u8]).is_ok_and(|n| n == 1) {}
        path
    }

    /// Fills the file system but for about `free` bytes.
    fn fill_but(&self, name: &str, free: u64) -> PathBuf {
        let path = self.fill(name);
        let len = fs::metadata(&path).expect("the filler file").len();
        fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .and_then(|f| f.set_len(len.saturating_sub(free)))
            .expect("cannot shrink the filler file");
        path
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// Every file below `dir` (relative paths, sorted), links included.
fn files_below(dir: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, found: &mut Vec<String>) {
        for entry in fs::read_dir(dir).expect("a readable folder") {
            let entry = entry.expect("a folder entry");
            let path = entry.path();
            if entry.file_type().expect("a file type").is_dir() {
                walk(root, &path, found);
            } else {
                found.push(
                    path.strip_prefix(root)
                        .expect("below the root")
                        .display()
                        .to_string(),
                );
            }
        }
    }
    let mut found = Vec::new();
    walk(dir, dir, &mut found);
    found.sort();
    found
}

fn all_completed() -> Vec<(String, String)> {
    pairs(&[
        ("join", "completed"),
        ("left", "completed"),
        ("right", "completed"),
        ("source", "completed"),
    ])
}

/// The recorded steps of `run` are whole: each completed one has its output and each
/// output's files are there and intact (`artifact verify --run`).
fn assert_whole(zen: &Zenml, run: &str) {
    let described = zen.json(&["run", "describe", run]);
    for step in described["steps"].as_array().cloned().unwrap_or_default() {
        if step["step"]["status"] == "completed" {
            assert_eq!(
                step["outputs"].as_array().map_or(0, Vec::len),
                1,
                "a completed step without its output: {step}"
            );
        } else {
            assert!(
                step["outputs"].as_array().is_none_or(Vec::is_empty),
                "a step that did not complete has outputs: {step}"
            );
        }
    }
    zen.ok(&["artifact", "verify", "--run", run]);
}

#[test]
fn a_full_artifact_store_fails_the_step_keeps_nothing_partial_and_the_next_run_succeeds() {
    let Some(disk) = Tmpfs::mount("32m") else {
        return;
    };
    let zen = Zenml::init();
    let store = disk.path().join("artifacts");
    zen.ok(&[
        "config",
        "artifacts",
        "set",
        store.to_str().expect("a UTF-8 path"),
    ]);
    // The source's output, about 2 MB of JSON, does not fit in what is left.
    zen.write("big.toml", "[steps.source.parameters]\ncount = 300000\n");
    let filler = disk.fill_but("filler", 512 << 10);

    let run = zen
        .example("diamond", &["--config", "big.toml", "--run-name", "full"])
        .run();
    run.assert_failure();
    run.stderr_has(&["No space left on device"])
        .never_shows("panicked");
    eprintln!("the run on a full artifact store ended:\n{run}");
    assert_eq!(
        zen.step_statuses("full"),
        pairs(&[
            ("join", "skipped"),
            ("left", "skipped"),
            ("right", "skipped"),
            ("source", "failed"),
        ])
    );
    assert_eq!(
        zen.json(&["run", "describe", "full"])["run"]["status"],
        "failed"
    );
    let described = zen.json(&["step", "describe", "full", "source"]);
    assert!(
        described.to_string().contains("No space left on device"),
        "the step's recorded error names the fault: {described}"
    );
    assert_eq!(
        zen.json(&["artifact", "list"])["items"].clone(),
        serde_json::json!([])
    );
    // Nothing partial is left where readers look: no artifact files, no staging files.
    let left: Vec<String> = files_below(disk.path())
        .into_iter()
        .filter(|f| f != "filler")
        .collect();
    assert!(left.is_empty(), "files left on the full store: {left:?}");

    fs::remove_file(filler).expect("the filler file");
    zen.example("diamond", &["--config", "big.toml", "--run-name", "after"])
        .ok();
    assert_eq!(zen.step_statuses("after"), all_completed());
    assert_whole(&zen, "after");
    zen.ok(&["artifact", "verify", "--all"]);
}

#[test]
fn a_metadata_disk_that_fills_mid_run_fails_the_run_cleanly_and_loses_nothing() {
    let Some((disk, zen)) = metadata_on_tmpfs() else {
        return;
    };
    zen.example("diamond", &["--run-name", "before"]).ok();
    let hold = zen.path("go");
    write_hold_config(&zen);
    let started = start_held(&zen);
    let filler = disk.fill("filler");
    fs::write(&hold, b"go").expect("the hold file");
    let run = started.wait();
    run.assert_failure();
    run.stderr_has(&["database or disk is full"])
        .never_shows("panicked");
    eprintln!("the run with a full metadata disk ended:\n{run}");

    fs::remove_file(filler).expect("the filler file");
    // What was recorded is whole, and the earlier run is untouched.
    assert_whole(&zen, "held");
    assert_eq!(zen.step_statuses("before"), all_completed());
    zen.example("diamond", &["--config", "hold.toml", "--run-name", "after"])
        .ok();
    assert_eq!(zen.step_statuses("after"), all_completed());
    zen.ok(&["artifact", "verify", "--all"]);
}

#[test]
fn a_metadata_database_made_read_only_mid_run_fails_the_steps_clearly() {
    let Some((disk, zen)) = metadata_on_tmpfs() else {
        return;
    };
    zen.use_process_stack();
    write_hold_config(&zen);
    let started = start_held(&zen);
    // The held source step's process has the database open (as the driver has) before the
    // folder changes: a read-only remount is refused while a file is open for writing
    // through the new mount.
    let database = disk.path().join("metadata.db");
    eventually(
        Duration::from_secs(60),
        "the source step's process opens the database",
        || step_process_has_open(zenml::pipeline::STEP_OPTION, "source", &database).then_some(()),
    );
    // The folder becomes read-only for every process that opens the database from now on
    // (a read-only bind mount over it); the open connections keep writing.
    let mount = |args: &[&str]| {
        let status = Command::new("mount")
            .args(args)
            .arg(disk.path())
            .status()
            .expect("cannot run mount");
        assert!(status.success(), "mount {args:?} failed");
    };
    mount(&["--bind", disk.path().to_str().expect("a UTF-8 path")]);
    mount(&["-o", "remount,bind,ro"]);
    fs::write(zen.path("go"), b"go").expect("the hold file");
    let run = started.wait();
    let status = Command::new("umount")
        .arg(disk.path())
        .status()
        .expect("cannot run umount");
    assert!(status.success(), "the read-only bind mount stays");
    run.assert_failure();
    run.never_shows("panicked");
    eprintln!("the run whose database became read-only ended:\n{run}");
    let described = zen.json(&["run", "describe", "held"]);
    assert_eq!(described["run"]["status"], "failed");
    let mut failed = 0;
    for step in described["steps"].as_array().cloned().unwrap_or_default() {
        match step["step"]["status"].as_str() {
            Some("failed") => {
                failed += 1;
                let error = step["step"]["error"].as_str().unwrap_or_default();
                assert!(
                    error.contains("readonly database"),
                    "the recorded error says why: {error}"
                );
            }
            Some("completed" | "skipped") => {}
            other => panic!("unexpected status {other:?}: {step}"),
        }
    }
    assert!(failed >= 1, "a step failed: {described}");
    assert_whole(&zen, "held");
    zen.example("diamond", &["--config", "hold.toml", "--run-name", "after"])
        .ok();
    assert_eq!(zen.step_statuses("after"), all_completed());
}

/// Whether a process started with `option step` among its arguments (a step's process)
/// has `file` open, from `/proc`.
fn step_process_has_open(option: &str, step: &str, file: &Path) -> bool {
    let Ok(processes) = fs::read_dir("/proc") else {
        return false;
    };
    processes.flatten().any(|process| {
        let arguments = fs::read(process.path().join("cmdline")).unwrap_or_default();
        let arguments: Vec<&[u8]> = arguments.split(|b| *b == 0).collect();
        let is_step = arguments
            .windows(2)
            .any(|pair| pair[0] == option.as_bytes() && pair[1] == step.as_bytes());
        is_step
            && fs::read_dir(process.path().join("fd")).is_ok_and(|fds| {
                fds.flatten()
                    .any(|fd| fs::read_link(fd.path()).is_ok_and(|target| target == file))
            })
    })
}

/// A 16 MiB tmpfs, and a repository whose SQLite database is on it.
fn metadata_on_tmpfs() -> Option<(Tmpfs, Zenml)> {
    let disk = Tmpfs::mount("16m")?;
    let zen = Zenml::init();
    let database = disk.path().join("metadata.db");
    zen.ok(&[
        "config",
        "metadata",
        "set",
        "sqlite",
        "--path",
        database.to_str().expect("a UTF-8 path"),
    ]);
    Some((disk, zen))
}

/// Starts the diamond as run `held` with `hold.toml`, which holds its source step until the
/// file `go` exists, and returns once the run is recorded as running.
fn start_held(zen: &Zenml) -> Started {
    let started = zen
        .example("diamond", &["--config", "hold.toml", "--run-name", "held"])
        .spawn();
    eventually(Duration::from_secs(60), "the run is recorded", || {
        let described = zen
            .cmd(&["--output", "json", "run", "describe", "held"])
            .run();
        (described.code == Some(0) && described.json()["run"]["status"] == "running").then_some(())
    });
    started
}

/// Writes `hold.toml`: caching off, the source step held until the file `go` exists.
fn write_hold_config(zen: &Zenml) {
    zen.write(
        "hold.toml",
        &format!(
            "enable_cache = false\n[steps.source.parameters]\nhold_until = \"{}\"\n",
            zen.path("go").display()
        ),
    );
}

/// A private database server of one of the server flavors, which a test stops and starts.
enum PrivateServer {
    Mysql(PrivateMariaDb),
    Postgres(PrivatePostgres),
}

impl PrivateServer {
    /// A private server of `flavor` for the test named `test`; `None` when it cannot be
    /// installed here outside CI (the reason printed).
    fn for_test(flavor: &str, test: &str) -> Option<PrivateServer> {
        match flavor {
            "mysql" => PrivateMariaDb::for_test(test).map(PrivateServer::Mysql),
            _ => PrivatePostgres::for_test(test).map(PrivateServer::Postgres),
        }
    }

    fn flavor(&self) -> &'static str {
        match self {
            PrivateServer::Mysql(_) => "mysql",
            PrivateServer::Postgres(_) => "postgres",
        }
    }

    fn port(&self) -> u16 {
        match self {
            PrivateServer::Mysql(server) => server.port(),
            PrivateServer::Postgres(server) => server.port(),
        }
    }

    fn stop(&mut self) {
        match self {
            PrivateServer::Mysql(server) => server.stop(),
            PrivateServer::Postgres(server) => server.stop(),
        }
        .expect("the server stops");
    }

    fn launch(&mut self) {
        match self {
            PrivateServer::Mysql(server) => server.launch(),
            PrivateServer::Postgres(server) => server.launch(),
        }
        .expect("the server starts again");
    }
}

/// A repository whose active stack keeps its metadata on `server`, database `zenml_faults`,
/// and the configuration `hold.toml` that holds the source step until the file `go` exists.
fn on_private_server(server: &PrivateServer, connect_timeout_secs: u32) -> Zenml {
    let zen = Zenml::init();
    let port = server.port().to_string();
    let user = match server {
        PrivateServer::Mysql(_) => "root",
        PrivateServer::Postgres(_) => "postgres",
    };
    zen.ok(&[
        "config",
        "metadata",
        "set",
        server.flavor(),
        "--host",
        "127.0.0.1",
        "--port",
        &port,
        "--username",
        user,
        "--database",
        "zenml_faults",
    ]);
    zen.ok(&[
        "metadata-store",
        "update",
        "default",
        &format!("--connect_timeout_secs={connect_timeout_secs}"),
    ]);
    write_hold_config(&zen);
    zen
}

/// The database server stops while a step runs and starts again before the step's record
/// gives up: the run finishes, whole.
fn server_restarted_mid_run(flavor: &str) {
    let Some(mut server) = PrivateServer::for_test(flavor, "restart mid-run") else {
        return;
    };
    let zen = on_private_server(&server, 60);
    let started = start_held(&zen);
    server.stop();
    // The source step ends while the server is down, and its record waits for it.
    fs::write(zen.path("go"), b"go").expect("the hold file");
    server.launch();
    let run = started.wait();
    run.assert_success();
    assert_eq!(zen.step_statuses("held"), all_completed());
    assert_whole(&zen, "held");
}

/// The database server stops while a step runs and stays down: the run fails, saying
/// where it could not record, and what was recorded is whole once the server is back.
fn server_that_stays_down(flavor: &str) {
    let Some(mut server) = PrivateServer::for_test(flavor, "server down mid-run") else {
        return;
    };
    let zen = on_private_server(&server, 2);
    let started = start_held(&zen);
    server.stop();
    fs::write(zen.path("go"), b"go").expect("the hold file");
    let run = started.wait();
    run.assert_failure();
    run.stderr_has(&["127.0.0.1"]).never_shows("panicked");
    eprintln!("the run on a {flavor} server that stayed down ended:\n{run}");

    // Back up: what was recorded is whole, and the next run succeeds.
    server.launch();
    assert_whole(&zen, "held");
    zen.example("diamond", &["--run-name", "after"]).ok();
    assert_eq!(zen.step_statuses("after"), all_completed());
}

#[test]
fn a_mysql_server_restarted_mid_run_lets_the_run_finish() {
    server_restarted_mid_run("mysql");
}

#[test]
fn a_postgres_server_restarted_mid_run_lets_the_run_finish() {
    server_restarted_mid_run("postgres");
}

#[test]
fn a_mysql_server_that_stays_down_fails_the_run_cleanly() {
    server_that_stays_down("mysql");
}

#[test]
fn a_postgres_server_that_stays_down_fails_the_run_cleanly() {
    server_that_stays_down("postgres");
}
