//! End-to-end tests of zenml-rs: the real `zenml` binary, run in temporary folders as a user
//! runs it.
//!
//! The test files next to this package's `Cargo.toml` (`repository.rs`, `cli_stack.rs`,
//! `bad_input.rs`, …) drive the binary through [`Zenml`]: a fresh temporary folder, a clean
//! environment (no `ZENML_*` variables unless the test sets them), no terminal on stdin. Each
//! run returns a [`Run`] with the exit code, stdout and stderr, and assertion helpers whose
//! failure messages show the whole command and its output.
//!
//! The binary is built once per test process by [`binary`], with the same profile and target
//! folder as the test executable, so `cargo test -p zenml-e2e` always tests the current code.
//! The example pipelines (`examples/`) are built the same way by [`example`] and run through
//! [`Zenml::example`]; [`Cmd::spawn`] starts several at once.
//!
//! Tests that need MariaDB call [`mariadb_available`]: without a server on 127.0.0.1:3306
//! they print how to start one and return early, except under `CI=true`, where they fail.

use std::ffi::OsString;
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use serde_json::Value;

mod servers;

pub use servers::{MARIADB, SqlServer, TestDatabase, mariadb_available};

/// The prefix of the environment variables that change what `zenml` does (`ZENML_STACK`,
/// `ZENML_REPOSITORY_PATH`, passwords named by `password_env`). Inherited ones are removed
/// from every run; a test sets the ones it needs.
const ZENML_ENV_PREFIX: &str = "ZENML_";

/// The `zenml` binary of this checkout, built on first use (once per test process) with
/// `cargo build -p zenml-cli --bin zenml`.
///
/// The test executable lives in `<target dir>/<profile>/deps/`; the binary is built into the
/// same target folder (`CARGO_TARGET_DIR` when it is set to an absolute path) and profile,
/// and found at `<target dir>/<profile>/zenml`.
pub fn binary() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| {
        let profile_dir = cargo_build("the zenml binary", &["-p", "zenml-cli", "--bin", "zenml"]);
        existing_file(profile_dir.join(format!("zenml{}", std::env::consts::EXE_SUFFIX)))
    })
}

/// The example pipeline program `name` (`quickstart`, `training`, `iris`) of this checkout.
/// The examples are built on first use (once per test process) with
/// `cargo build -p zenml-examples --examples --features iris`, into the same target folder and profile as
/// [`binary`], and found at `<target dir>/<profile>/examples/<name>`.
pub fn example(name: &str) -> PathBuf {
    static EXAMPLES: OnceLock<PathBuf> = OnceLock::new();
    let dir = EXAMPLES.get_or_init(|| {
        cargo_build(
            "the example pipelines",
            &["-p", "zenml-examples", "--examples", "--features", "iris"],
        )
        .join("examples")
    });
    existing_file(dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX)))
}

fn existing_file(path: PathBuf) -> PathBuf {
    assert!(
        path.is_file(),
        "cargo built it, but `{}` does not exist",
        path.display()
    );
    path
}

/// Runs `cargo build --quiet ARGS` in the workspace, with the target folder and profile of
/// the running test executable, and returns `<target dir>/<profile>`.
fn cargo_build(what: &str, args: &[&str]) -> PathBuf {
    let exe = std::env::current_exe().expect("the test executable's path");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("the test executable lives in <target dir>/<profile>/deps/");
    let profile = profile_dir
        .file_name()
        .and_then(|n| n.to_str())
        .expect("the profile folder has a UTF-8 name")
        .to_owned();
    let target_dir = match std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from) {
        Some(dir) if dir.is_absolute() => dir,
        _ => profile_dir
            .parent()
            .expect("the profile folder is inside the target folder")
            .to_path_buf(),
    };
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the e2e package sits in the workspace root");
    let mut build = Command::new(&cargo);
    build
        .current_dir(workspace)
        .args(["build", "--quiet"])
        .args(args)
        .arg("--target-dir")
        .arg(&target_dir);
    match profile.as_str() {
        "debug" => {}
        "release" => {
            build.arg("--release");
        }
        other => {
            build.args(["--profile", other]);
        }
    }
    let output = build
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run `{}`: {e}", cargo.to_string_lossy()));
    assert!(
        output.status.success(),
        "building {what} failed ({}):\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    target_dir.join(&profile)
}

/// A temporary folder in which tests run `zenml`; deleted when dropped.
#[derive(Debug)]
pub struct Zenml {
    /// Owns the folder: dropping it deletes the folder and everything in it.
    _dir: tempfile::TempDir,
    root: PathBuf,
}

impl Default for Zenml {
    fn default() -> Self {
        Zenml::new()
    }
}

impl Zenml {
    /// An empty temporary folder: no repository yet.
    pub fn new() -> Zenml {
        let dir = tempfile::Builder::new()
            .prefix("zenml-e2e-")
            .tempdir()
            .expect("a temporary folder");
        // The binary prints canonical paths; compare against the same spelling.
        let root = fs::canonicalize(dir.path()).expect("the temporary folder's real path");
        Zenml { _dir: dir, root }
    }

    /// A temporary folder in which `zenml init` succeeded.
    pub fn init() -> Zenml {
        let zen = Zenml::new();
        zen.ok(&["init"]);
        zen
    }

    /// The temporary folder (canonical), where commands run unless told otherwise.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `rel` inside the temporary folder.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    /// A command to configure (environment, folder) before running it.
    pub fn cmd(&self, args: &[&str]) -> Cmd {
        Cmd {
            program: Program::Zenml,
            args: args.iter().map(|a| (*a).to_owned()).collect(),
            dir: self.root.clone(),
            env: Vec::new(),
            zen_dir: self.path(".zen"),
        }
    }

    /// A command that runs the example pipeline program `name` (see [`example`]) with
    /// `args` in the temporary folder, to configure before running it.
    pub fn example(&self, name: &str, args: &[&str]) -> Cmd {
        Cmd {
            program: Program::Example(name.to_owned()),
            ..self.cmd(args)
        }
    }

    /// Runs `zenml ARGS` in the temporary folder, whatever the outcome.
    pub fn run(&self, args: &[&str]) -> Run {
        self.cmd(args).run()
    }

    /// Each step of run `run` with its status, sorted by step name, from `run describe`.
    pub fn step_statuses(&self, run: &str) -> Vec<(String, String)> {
        let described = self.json(&["run", "describe", run]);
        let mut steps: Vec<(String, String)> = described["steps"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .map(|s| {
                (
                    s["step"]["name"].as_str().unwrap_or_default().to_owned(),
                    s["step"]["status"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        steps.sort();
        steps
    }

    /// Runs `zenml ARGS` and asserts that it succeeded.
    pub fn ok(&self, args: &[&str]) -> Run {
        self.cmd(args).ok()
    }

    /// Runs `zenml ARGS` and asserts that it failed with exit code 1 and an `error:` line.
    pub fn fails(&self, args: &[&str]) -> Run {
        self.cmd(args).fails()
    }

    /// Runs `zenml --output json ARGS`, asserts that it succeeded and parses its stdout.
    pub fn json(&self, args: &[&str]) -> Value {
        self.cmd(args).json()
    }

    /// Runs `zenml ARGS`, asserts that it failed and that `.zen/` is exactly as before: the
    /// bytes of `config.toml` and `secrets.toml` and the set of files.
    pub fn refused(&self, args: &[&str]) -> Run {
        self.cmd(args).refused()
    }

    /// Registers a `process` orchestrator `procs` and makes the stack `procs` of it and the
    /// default stores active.
    pub fn use_process_stack(&self) {
        self.ok(&["orchestrator", "register", "procs", "--flavor", "process"]);
        self.ok(&[
            "stack", "register", "procs", "-o", "procs", "-m", "default", "-a", "default", "--set",
        ]);
    }

    /// `zenml config metadata set mysql` for the MariaDB on 127.0.0.1:3306 as root, with
    /// the password read from the environment variable `password_var`; must succeed.
    pub fn set_mysql_metadata(&self, database: &str, password_var: &str) -> Run {
        self.set_mysql_metadata_at(3306, database, Some(password_var))
    }

    /// `zenml config metadata set mysql` for a MariaDB on 127.0.0.1:`port` as root, with
    /// the password (if any) read from the environment variable `password_var`; must
    /// succeed.
    pub fn set_mysql_metadata_at(
        &self,
        port: u16,
        database: &str,
        password_var: Option<&str>,
    ) -> Run {
        let port = port.to_string();
        let mut args = vec![
            "config",
            "metadata",
            "set",
            "mysql",
            "--host",
            "127.0.0.1",
            "--port",
            &port,
            "--username",
            "root",
            "--database",
            database,
        ];
        if let Some(var) = password_var {
            args.extend(["--password-env", var]);
        }
        self.ok(&args)
    }

    /// `zenml config artifacts set s3://<bucket>/<prefix>` on the S3 test server (moto),
    /// with the literal key `secret` (kept in the secrets file); must succeed and never show
    /// the key.
    pub fn set_s3_artifacts(&self, prefix: &str, secret: &str) -> Run {
        let run = self.ok(&[
            "config",
            "artifacts",
            "set",
            &format!("s3://{}/{prefix}", zenml_testkit::services::S3.bucket),
            "--endpoint",
            zenml_testkit::services::S3.url,
            "--allow-http",
            "true",
            "--region",
            "us-east-1",
            "--access-key-id",
            "testing",
            "--secret-access-key",
            secret,
        ]);
        run.never_shows(secret);
        run
    }

    /// The text of `.zen/config.toml`.
    pub fn config_text(&self) -> String {
        self.read(".zen/config.toml")
    }

    /// `.zen/config.toml`, parsed.
    pub fn config(&self) -> toml::Table {
        toml::from_str(&self.config_text()).expect(".zen/config.toml is valid TOML")
    }

    /// The text of the file `rel` in the temporary folder.
    pub fn read(&self, rel: &str) -> String {
        let path = self.path(rel);
        fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
    }

    /// Writes `text` to the file `rel` in the temporary folder (creating its folder) and
    /// returns its path.
    pub fn write(&self, rel: &str, text: &str) -> PathBuf {
        let path = self.path(rel);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).expect("the file's folder");
        }
        fs::write(&path, text).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        path
    }

    /// What `.zen/` holds now, to compare after a command.
    pub fn snapshot(&self) -> ZenSnapshot {
        ZenSnapshot::of(&self.path(".zen"))
    }
}

/// The state of a `.zen/` folder that a failed command must not change: the names of its
/// entries and the bytes of its definition and secret files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZenSnapshot {
    /// The names in `.zen/`, sorted (empty when there is no `.zen/`).
    pub entries: Vec<String>,
    /// The bytes of `config.toml`, if it exists.
    pub config: Option<Vec<u8>>,
    /// The bytes of `secrets.toml`, if it exists.
    pub secrets: Option<Vec<u8>>,
}

impl ZenSnapshot {
    /// Reads the snapshot of the `.zen/` folder `zen_dir`.
    pub fn of(zen_dir: &Path) -> ZenSnapshot {
        let mut entries: Vec<String> = fs::read_dir(zen_dir)
            .map(|dir| {
                dir.filter_map(Result::ok)
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        entries.sort();
        ZenSnapshot {
            entries,
            config: fs::read(zen_dir.join("config.toml")).ok(),
            secrets: fs::read(zen_dir.join("secrets.toml")).ok(),
        }
    }
}

/// Which program a [`Cmd`] runs.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Program {
    /// The `zenml` binary.
    Zenml,
    /// An example pipeline program.
    Example(String),
}

impl Program {
    fn path(&self) -> PathBuf {
        match self {
            Program::Zenml => binary().to_path_buf(),
            Program::Example(name) => example(name),
        }
    }

    fn name(&self) -> &str {
        match self {
            Program::Zenml => "zenml",
            Program::Example(name) => name,
        }
    }
}

/// A `zenml` (or example pipeline) command line with its environment and working folder,
/// ready to run.
#[derive(Debug, Clone)]
pub struct Cmd {
    program: Program,
    args: Vec<String>,
    dir: PathBuf,
    env: Vec<(String, String)>,
    zen_dir: PathBuf,
}

impl Cmd {
    /// Sets an environment variable for this run.
    pub fn env(mut self, key: &str, value: &str) -> Cmd {
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }

    /// Runs in `dir` instead of the temporary folder.
    pub fn current_dir(mut self, dir: impl AsRef<Path>) -> Cmd {
        self.dir = dir.as_ref().to_path_buf();
        self
    }

    /// The process to start: program, arguments, folder, a clean environment with this
    /// command's variables, no stdin.
    fn command(&self) -> Command {
        let mut command = Command::new(self.program.path());
        command
            .args(&self.args)
            .current_dir(&self.dir)
            .stdin(Stdio::null());
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with(ZENML_ENV_PREFIX) {
                command.env_remove(key);
            }
        }
        for (key, value) in &self.env {
            command.env(key, value);
        }
        command
    }

    /// Runs the command, whatever the outcome.
    pub fn run(self) -> Run {
        let output = self
            .command()
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", self.program.name()));
        self.outcome(output)
    }

    /// Starts the command and returns at once, with stdout and stderr captured; see
    /// [`Started::wait`]. For commands that must run at the same time.
    pub fn spawn(self) -> Started {
        let child = self
            .command()
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", self.program.name()));
        Started { cmd: self, child }
    }

    fn outcome(self, output: std::process::Output) -> Run {
        Run {
            program: self.program.name().to_owned(),
            args: self.args,
            env: self.env,
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Runs the command and asserts that it succeeded.
    pub fn ok(self) -> Run {
        let run = self.run();
        run.assert_success();
        run
    }

    /// Runs the command and asserts that it failed with exit code 1 and an `error:` line.
    pub fn fails(self) -> Run {
        let run = self.run();
        run.assert_failure();
        run
    }

    /// Runs the command with `--output json` in front, asserts that it succeeded and parses
    /// its stdout.
    pub fn json(mut self) -> Value {
        self.args
            .splice(0..0, ["--output".to_owned(), "json".to_owned()]);
        self.ok().json()
    }

    /// Runs the command, asserts that it failed and that `.zen/` is exactly as before.
    pub fn refused(self) -> Run {
        let zen_dir = self.zen_dir.clone();
        let before = ZenSnapshot::of(&zen_dir);
        let run = self.fails();
        let after = ZenSnapshot::of(&zen_dir);
        assert!(
            before.entries == after.entries,
            "a failed command changed the files in .zen/: {:?} became {:?}\n{run}",
            before.entries,
            after.entries
        );
        assert!(
            before.config == after.config,
            "a failed command changed .zen/config.toml:\n--- before\n{}\n--- after\n{}\n{run}",
            lossy(before.config.as_deref()),
            lossy(after.config.as_deref())
        );
        assert!(
            before.secrets == after.secrets,
            "a failed command changed .zen/secrets.toml\n{run}"
        );
        run
    }
}

/// A command started by [`Cmd::spawn`].
#[derive(Debug)]
pub struct Started {
    cmd: Cmd,
    child: std::process::Child,
}

impl Started {
    /// The process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Kills the command with `SIGKILL` (if it still runs) and returns its outcome.
    pub fn kill(mut self) -> Run {
        let _ = self.child.kill();
        self.wait()
    }

    /// Waits for the command to end, but at most `limit`: then kills it with `SIGKILL`.
    /// Returns its outcome (without an exit code when the kill ended it). It waits on the
    /// process's exit, so a command that ends sooner returns at once.
    pub fn kill_after(self, limit: std::time::Duration) -> Run {
        let pid = self.child.id().to_string();
        let (done, outcome) = std::sync::mpsc::channel();
        std::thread::scope(|scope| {
            scope.spawn(move || {
                let _ = done.send(self.wait());
            });
            match outcome.recv_timeout(limit) {
                Ok(run) => run,
                Err(_) => {
                    // The waiting thread still owns the child, so it is not reaped yet
                    // and its pid cannot have been reused.
                    let _ = std::process::Command::new("kill")
                        .args(["-KILL", &pid])
                        .status();
                    outcome
                        .recv()
                        .expect("the waiting thread reports the outcome")
                }
            }
        })
    }

    /// Waits for the command to end and returns its outcome.
    pub fn wait(self) -> Run {
        let output = self
            .child
            .wait_with_output()
            .unwrap_or_else(|e| panic!("cannot wait for {}: {e}", self.cmd.program.name()));
        self.cmd.outcome(output)
    }
}

fn lossy(bytes: Option<&[u8]>) -> String {
    bytes.map_or_else(
        || "(no file)".to_owned(),
        |b| String::from_utf8_lossy(b).into_owned(),
    )
}

/// The outcome of one `zenml` (or example pipeline) run.
#[derive(Debug, Clone)]
pub struct Run {
    /// The program: `zenml`, or the example's name.
    pub program: String,
    /// The arguments after the program.
    pub args: Vec<String>,
    /// The environment variables the test set.
    pub env: Vec<(String, String)>,
    /// The exit code (`None` when killed by a signal).
    pub code: Option<i32>,
    /// Everything printed to stdout.
    pub stdout: String,
    /// Everything printed to stderr.
    pub stderr: String,
}

impl fmt::Display for Run {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let env: String = self
            .env
            .iter()
            .map(|(k, v)| format!("{k}={v:?} "))
            .collect();
        writeln!(f, "$ {env}{} {}", self.program, self.args.join(" "))?;
        writeln!(f, "exit code: {:?}", self.code)?;
        writeln!(f, "--- stdout\n{}", self.stdout)?;
        write!(f, "--- stderr\n{}", self.stderr)
    }
}

impl Run {
    /// Asserts exit code 0.
    pub fn assert_success(&self) -> &Run {
        assert_eq!(self.code, Some(0), "expected success\n{self}");
        self
    }

    /// Asserts that the command failed as a command does (not as a malformed command line):
    /// exit code 1, and stderr says `error: …`.
    pub fn assert_failure(&self) -> &Run {
        assert_eq!(self.code, Some(1), "expected exit code 1\n{self}");
        assert!(
            self.stderr.starts_with("error: ") || self.stderr.contains("\nerror: "),
            "a failure explains itself with `error: …` on stderr\n{self}"
        );
        self
    }

    /// Asserts that clap rejected the command line: exit code 2, an `error:` on stderr and
    /// nothing on stdout.
    pub fn assert_usage_error(&self) -> &Run {
        assert_eq!(self.code, Some(2), "expected a command-line error\n{self}");
        assert!(self.stderr.starts_with("error: "), "{self}");
        assert!(self.stdout.is_empty(), "{self}");
        self
    }

    /// Asserts that stdout contains every one of `parts`.
    pub fn stdout_has(&self, parts: &[&str]) -> &Run {
        for part in parts {
            assert!(self.stdout.contains(part), "stdout lacks {part:?}\n{self}");
        }
        self
    }

    /// Asserts that stderr contains every one of `parts`.
    pub fn stderr_has(&self, parts: &[&str]) -> &Run {
        for part in parts {
            assert!(self.stderr.contains(part), "stderr lacks {part:?}\n{self}");
        }
        self
    }

    /// Asserts that neither stdout nor stderr contains `text`.
    pub fn never_shows(&self, text: &str) -> &Run {
        assert!(
            !self.stdout.contains(text) && !self.stderr.contains(text),
            "the output shows {text:?}\n{self}"
        );
        self
    }

    /// The `error: …` message on stderr, with its `caused by:` lines.
    pub fn error(&self) -> &str {
        self.stderr
            .find("error: ")
            .and_then(|i| self.stderr.get(i..))
            .unwrap_or(&self.stderr)
    }

    /// The name of the pipeline run that an example program reported on stdout as
    /// ``Run `NAME` of pipeline `PIPELINE` completed: …``.
    pub fn run_name(&self) -> String {
        self.stdout
            .lines()
            .find_map(|line| {
                let rest = line.strip_prefix("Run `")?;
                let (name, tail) = rest.split_once('`')?;
                tail.starts_with(" of pipeline `").then(|| name.to_owned())
            })
            .unwrap_or_else(|| panic!("stdout names no run\n{self}"))
    }

    /// Stdout parsed as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e})\n{self}"))
    }
}

/// The strings of a JSON array of strings, or of the `key` field of each object of a JSON
/// array.
pub fn strings(value: &Value, key: Option<&str>) -> Vec<String> {
    value
        .as_array()
        .unwrap_or_else(|| panic!("expected a JSON array, got {value}"))
        .iter()
        .map(|item| {
            let item = match key {
                Some(k) => &item[k],
                None => item,
            };
            item.as_str()
                .unwrap_or_else(|| panic!("expected a string, got {item}"))
                .to_owned()
        })
        .collect()
}

/// The file permission bits of `path` (Unix).
#[cfg(unix)]
pub fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(path)
        .unwrap_or_else(|e| panic!("cannot inspect {}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

/// Sets the file permission bits of `path` (Unix).
#[cfg(unix)]
pub fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("cannot chmod {}: {e}", path.display()));
}

/// The stack definitions shipped in the repository's `stacks/` folder.
pub fn stacks_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the e2e package sits in the workspace root")
        .join("stacks")
}

/// A fresh repository with a second stack `team` whose metadata store is a mysql store
/// `shared` (never opened), for tests of refusals that need something to clash with.
pub fn repository_with_team_stack() -> Zenml {
    let zen = Zenml::init();
    zen.ok(&[
        "metadata-store",
        "register",
        "shared",
        "--flavor",
        "mysql",
        "--host",
        "127.0.0.1",
        "--database",
        "zenml",
        "--password-env",
        "ZENML_MYSQL_PASSWORD",
    ]);
    zen.ok(&[
        "stack", "register", "team", "-o", "default", "-m", "shared", "-a", "default",
    ]);
    zen
}

/// The 1-based line of the first line of `text` that starts with `prefix`.
pub fn line_of(text: &str, prefix: &str) -> usize {
    text.lines()
        .position(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no line starts with {prefix:?} in:\n{text}"))
        + 1
}

/// Owned string pairs, e.g. (step, status), from literals.
pub fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect()
}

/// Polls `check` every 50 ms until it returns `Some`, for at most `limit`; panics naming
/// `what` when it never does. For waiting on another process, never as a fixed sleep.
pub fn eventually<T>(
    limit: std::time::Duration,
    what: &str,
    mut check: impl FnMut() -> Option<T>,
) -> T {
    let deadline = std::time::Instant::now() + limit;
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{what} did not happen within {limit:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}
