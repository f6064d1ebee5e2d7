//! `cargo xtask test-flavors`: every linked flavor against its kind's conformance suite.
//!
//! It finds the services the flavors need, then runs the matrix runner of zenml-testkit
//! (`cargo run -p zenml-testkit --bin zenml-flavor-matrix`) with their addresses in the
//! environment:
//!
//! - MySQL/MariaDB: a server on 127.0.0.1:3306 (user `root`, no password) when one answers;
//!   otherwise, when `mariadbd` and `mariadb-install-db` are installed, a private instance in
//!   a temporary folder on a free port, stopped and deleted afterwards; otherwise the runner
//!   reports the mysql flavor skipped, saying how to start a server. `--private-mysql` starts
//!   the private instance even when a server runs on 3306. A server named by the caller in
//!   `ZENML_TEST_MYSQL_HOST` (with `_PORT`, `_USER`, `_PASSWORD`) is used as it is.
//! - PostgreSQL: the server on 127.0.0.1:5432 (role `postgres`, trust) that
//!   `bash .ci/services` starts, or the one named in `ZENML_TEST_POSTGRES_HOST` (with
//!   `_PORT`, `_USER`, `_PASSWORD`); without one the runner reports the postgres flavor
//!   skipped, saying how to start it.
//! - Buckets: the `s3`, `gcs` and `azure` flavors run against the local test servers that
//!   `bash .ci/services` installs and starts (moto, tools/gcs-emulator, Azurite; see
//!   `zenml_testkit::services`); a flavor whose server is down is reported skipped, saying so.
//!
//! The runner exits non-zero on a failed check, and under `CI=true` on a skipped one.

use std::fs;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// The port of the shared test server, as in `.ci/services`.
const DEFAULT_PORT: u16 = 3306;

/// How long a private server may take to accept connections.
const STARTUP_LIMIT: Duration = Duration::from_secs(60);

/// Finds or starts the services, runs the matrix runner, and stops what it started.
pub(crate) fn run(root: &Path, args: &[String]) -> anyhow::Result<()> {
    let mut private = false;
    for arg in args {
        match arg.as_str() {
            "--private-mysql" => private = true,
            other => {
                bail!("unknown option `{other}`; usage: cargo xtask test-flavors [--private-mysql]")
            }
        }
    }
    // Held until the runner has finished: dropping it stops a private server.
    let (mysql, _server) = if std::env::var_os("ZENML_TEST_MYSQL_HOST").is_some() && !private {
        eprintln!("mysql: using the server that ZENML_TEST_MYSQL_HOST/PORT/USER/PASSWORD name");
        (Mysql::FromEnvironment, None)
    } else {
        mysql(private)?
    };
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let args = ["run", "-p", "zenml-testkit", "--bin", "zenml-flavor-matrix"];
    eprintln!("$ cargo {}", args.join(" "));
    let mut command = Command::new(cargo);
    command.args(args).current_dir(root);
    if !matches!(mysql, Mysql::FromEnvironment) {
        for name in [
            "ZENML_TEST_MYSQL_HOST",
            "ZENML_TEST_MYSQL_PORT",
            "ZENML_TEST_MYSQL_USER",
            "ZENML_TEST_MYSQL_PASSWORD",
            "ZENML_TEST_MYSQL_SKIP",
        ] {
            command.env_remove(name);
        }
    }
    match &mysql {
        Mysql::Server { port, .. } => {
            command
                .env("ZENML_TEST_MYSQL_HOST", "127.0.0.1")
                .env("ZENML_TEST_MYSQL_PORT", port.to_string())
                .env("ZENML_TEST_MYSQL_USER", "root");
        }
        Mysql::Absent(reason) => {
            command.env("ZENML_TEST_MYSQL_SKIP", reason);
        }
        Mysql::FromEnvironment => {}
    }
    let status = command.status().context("cannot run cargo")?;
    if !status.success() {
        bail!("the flavor matrix has failures (or, with CI=true, skips): see above");
    }
    Ok(())
}

/// Where the mysql flavor is tested, or why it is not.
enum Mysql {
    /// A server on 127.0.0.1, user `root` without a password.
    Server {
        /// Its port.
        port: u16,
    },
    /// No server: the reason the flavor is skipped.
    Absent(String),
    /// The server the caller named in `ZENML_TEST_MYSQL_*`, passed on unchanged.
    FromEnvironment,
}

/// Finds a server on the default port, or starts a private one.
fn mysql(force_private: bool) -> anyhow::Result<(Mysql, Option<PrivateServer>)> {
    if !force_private && port_open(DEFAULT_PORT) {
        eprintln!("mysql: using the server on 127.0.0.1:{DEFAULT_PORT}");
        return Ok((Mysql::Server { port: DEFAULT_PORT }, None));
    }
    let (Some(mariadbd), Some(install_db)) =
        (executable("mariadbd"), executable("mariadb-install-db"))
    else {
        let reason = format!(
            "no MySQL/MariaDB server on 127.0.0.1:{DEFAULT_PORT} and no mariadbd installed; \
             run `bash .ci/services`"
        );
        if force_private {
            bail!("--private-mysql: {reason}");
        }
        eprintln!("mysql: {reason}");
        return Ok((Mysql::Absent(reason), None));
    };
    let server = PrivateServer::start(&mariadbd, &install_db)?;
    Ok((Mysql::Server { port: server.port }, Some(server)))
}

/// A MariaDB server of this run alone: its data in a temporary folder, on a free port.
/// Dropping it stops the server and deletes the folder.
struct PrivateServer {
    dir: PathBuf,
    port: u16,
    child: Child,
}

impl PrivateServer {
    fn start(mariadbd: &Path, install_db: &Path) -> anyhow::Result<PrivateServer> {
        let port = free_port()?;
        let dir = std::env::temp_dir().join(format!("zenml-xtask-mariadb-{}", std::process::id()));
        if dir.exists() {
            fs::remove_dir_all(&dir).with_context(|| format!("cannot clear {}", dir.display()))?;
        }
        let data = dir.join("data");
        fs::create_dir_all(&data).with_context(|| format!("cannot create {}", data.display()))?;
        let as_root = is_root();
        eprintln!("mysql: creating a private MariaDB in {}", dir.display());
        let mut install = Command::new(install_db);
        install
            .arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            // root@localhost without a password, which TCP clients from 127.0.0.1 match.
            .arg("--auth-root-authentication-method=normal")
            .stdout(Stdio::null());
        if as_root {
            install.arg("--user=root");
        }
        let output = install
            .output()
            .with_context(|| format!("cannot run {}", install_db.display()))?;
        if !output.status.success() {
            let _ignored = fs::remove_dir_all(&dir);
            bail!(
                "{} failed: {}",
                install_db.display(),
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }

        let log = dir.join("error.log");
        let mut command = Command::new(mariadbd);
        command
            .arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            .arg(format!("--socket={}", dir.join("mysqld.sock").display()))
            .arg(format!("--port={port}"))
            .arg("--bind-address=127.0.0.1")
            .arg(format!("--pid-file={}", dir.join("mysqld.pid").display()))
            .arg(format!("--log-error={}", log.display()))
            .arg("--skip-log-bin")
            .arg("--innodb-buffer-pool-size=64M")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if as_root {
            command.arg("--user=root");
        }
        let child = command
            .spawn()
            .with_context(|| format!("cannot start {}", mariadbd.display()))?;
        let mut server = PrivateServer { dir, port, child };
        eprintln!("mysql: starting it on 127.0.0.1:{port}");
        let started = Instant::now();
        while !port_open(port) {
            if let Some(status) = server.child.try_wait().context("cannot watch mariadbd")? {
                bail!(
                    "mariadbd stopped ({status}) before it accepted connections; its log:\n{}",
                    fs::read_to_string(&log).unwrap_or_default()
                );
            }
            if started.elapsed() > STARTUP_LIMIT {
                bail!(
                    "mariadbd did not accept connections within {} s; its log:\n{}",
                    STARTUP_LIMIT.as_secs(),
                    fs::read_to_string(&log).unwrap_or_default()
                );
            }
            sleep(Duration::from_millis(100));
        }
        Ok(server)
    }
}

impl Drop for PrivateServer {
    fn drop(&mut self) {
        eprintln!("mysql: stopping the private MariaDB");
        // A clean shutdown through the admin tool when there is one; a kill otherwise.
        let socket = self.dir.join("mysqld.sock");
        let stopped = executable("mariadb-admin").is_some_and(|admin| {
            Command::new(admin)
                .arg(format!("--socket={}", socket.display()))
                .args(["-uroot", "shutdown"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        });
        if !stopped {
            let _ignored = self.child.kill();
        }
        let _ignored = self.child.wait();
        let _ignored = fs::remove_dir_all(&self.dir);
    }
}

/// Whether something accepts TCP connections on 127.0.0.1:`port`.
fn port_open(port: u16) -> bool {
    let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    TcpStream::connect_timeout(&address, Duration::from_secs(2)).is_ok()
}

/// A port nothing listens on now.
fn free_port() -> anyhow::Result<u16> {
    let listener =
        TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("cannot find a free port")?;
    Ok(listener
        .local_addr()
        .context("cannot find a free port")?
        .port())
}

/// `name` on the PATH or in the system folders where MariaDB puts its programs.
fn executable(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/local/sbin", "/usr/bin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|file| file.is_file())
}

/// Whether this process runs as root (mariadbd then needs `--user=root`).
fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}
