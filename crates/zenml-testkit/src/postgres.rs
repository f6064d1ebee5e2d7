//! A private PostgreSQL server for tests that stop and restart it or configure it their own
//! way (TLS, authentication rules): a cluster made by `initdb` in a temporary folder,
//! served by `postgres` on a free port of 127.0.0.1, disturbing no other server. Needs
//! Debian's PostgreSQL (`bash .ci/services` installs it); when this process runs as root,
//! the server runs as the `postgres` user, as PostgreSQL requires. It is stopped when the
//! value is dropped.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a start may take before it is a failure.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// How a private cluster is configured, as [`PrivatePostgres::start_with`]'s preparation
/// says: lines appended to `postgresql.conf`, and the rules of `pg_hba.conf`.
#[derive(Debug, Clone)]
pub struct PostgresSetup {
    /// Settings, e.g. `ssl = on`.
    pub settings: Vec<String>,
    /// The whole of `pg_hba.conf`, e.g. `hostssl all all 127.0.0.1/32 trust`.
    pub hba: Vec<String>,
}

impl Default for PostgresSetup {
    /// Trust for everyone on 127.0.0.1 and the socket, as the machines' shared server.
    fn default() -> Self {
        PostgresSetup {
            settings: Vec::new(),
            hba: vec![
                "local all all trust".to_owned(),
                "host all all 127.0.0.1/32 trust".to_owned(),
            ],
        }
    }
}

/// A private `postgres`; see the module's documentation.
#[derive(Debug)]
pub struct PrivatePostgres {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
    owner: Option<(u32, u32)>,
    child: Option<Child>,
}

/// The folder of the newest installed PostgreSQL's programs, e.g.
/// `/usr/lib/postgresql/15/bin`.
pub fn postgres_bin() -> Option<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("postgres").is_file().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

impl PrivatePostgres {
    /// A server for the test named `test`, trusting everyone on 127.0.0.1. Without
    /// PostgreSQL's programs, prints how to install them and returns `None` (the test
    /// returns early), except under `CI=true`, where it panics: CI runs every test. A server
    /// that is installed but does not start fails the test.
    pub fn for_test(test: &str) -> Option<PrivatePostgres> {
        if postgres_bin().is_none() {
            let advice = format!(
                "{test}: PostgreSQL's programs (/usr/lib/postgresql/*/bin) are missing; \
                 install PostgreSQL with `bash .ci/services`"
            );
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "{advice}; under CI=true this test cannot be skipped"
            );
            eprintln!("skipped: {advice}");
            return None;
        }
        match PrivatePostgres::start_with(|_| Ok(PostgresSetup::default())) {
            Ok(server) => Some(server),
            Err(e) => panic!("{test}: {e}"),
        }
    }

    /// Makes a cluster (`initdb`, superuser `postgres`) in a new temporary folder, lets
    /// `prepare` put files in the folder (given as its argument; the cluster is in `data/`
    /// below it) and say how to configure it, then starts the server on a free port and
    /// waits until it accepts connections.
    pub fn start_with(
        prepare: impl FnOnce(&Path) -> Result<PostgresSetup, String>,
    ) -> Result<PrivatePostgres, String> {
        let bin = postgres_bin().ok_or_else(|| {
            "PostgreSQL is not installed; `bash .ci/services` installs it".to_owned()
        })?;
        let dir = tempfile::tempdir().map_err(|e| format!("cannot create a folder: {e}"))?;
        let owner = if crate::mariadb::running_as_root() {
            Some(postgres_user()?)
        } else {
            None
        };
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .map_err(|e| format!("no free port: {e}"))?
            .port();
        let mut server = PrivatePostgres {
            dir,
            bin,
            port,
            owner,
            child: None,
        };
        let setup = prepare(server.dir())?;
        server.chown_all()?;
        let data = server.data_dir();
        let mut initdb = server.command("initdb");
        initdb
            .args(["-D"])
            .arg(&data)
            .args(["-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C"])
            .args(["--no-sync"]);
        let output = initdb
            .output()
            .map_err(|e| format!("cannot run initdb: {e}"))?;
        if !output.status.success() {
            return Err(format!(
                "initdb failed: {}",
                String::from_utf8_lossy(&output.stderr)
            ));
        }
        let mut conf = std::fs::read_to_string(data.join("postgresql.conf"))
            .map_err(|e| format!("cannot read postgresql.conf: {e}"))?;
        for line in [
            format!("port = {port}"),
            "listen_addresses = '127.0.0.1'".to_owned(),
            format!("unix_socket_directories = '{}'", server.dir().display()),
            "fsync = off".to_owned(),
            "shared_buffers = 16MB".to_owned(),
        ]
        .iter()
        .chain(&setup.settings)
        {
            conf.push_str(line);
            conf.push('\n');
        }
        std::fs::write(data.join("postgresql.conf"), conf)
            .map_err(|e| format!("cannot write postgresql.conf: {e}"))?;
        std::fs::write(data.join("pg_hba.conf"), setup.hba.join("\n") + "\n")
            .map_err(|e| format!("cannot write pg_hba.conf: {e}"))?;
        server.chown_all()?;
        server.launch()?;
        Ok(server)
    }

    /// The server's port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's folder: the cluster in `data/`, and whatever the preparation put there.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// A command running one of PostgreSQL's programs, as `postgres` when this process is
    /// root.
    fn command(&self, program: &str) -> Command {
        let mut command = Command::new(self.bin.join(program));
        command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .env_remove("PGDATA");
        if let Some((uid, gid)) = self.owner {
            command.uid(uid).gid(gid);
        }
        command
    }

    /// Gives the folder and everything in it to `postgres` (when this process is root), and
    /// makes private keys readable by their owner only, as the server demands.
    fn chown_all(&self) -> Result<(), String> {
        let Some((uid, gid)) = self.owner else {
            return Ok(());
        };
        let mut pending = vec![self.dir().to_path_buf()];
        while let Some(path) = pending.pop() {
            std::os::unix::fs::chown(&path, Some(uid), Some(gid))
                .map_err(|e| format!("cannot chown {}: {e}", path.display()))?;
            if path.is_dir() {
                let entries = std::fs::read_dir(&path)
                    .map_err(|e| format!("cannot list {}: {e}", path.display()))?;
                pending.extend(entries.filter_map(Result::ok).map(|e| e.path()));
            } else if path.to_string_lossy().ends_with("-key.pem") {
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
                    .map_err(|e| format!("cannot chmod {}: {e}", path.display()))?;
            }
        }
        Ok(())
    }

    /// Starts the server process (again, after [`stop`](Self::stop), on the same port and
    /// data) and waits until it accepts connections.
    pub fn launch(&mut self) -> Result<(), String> {
        if self.child.is_some() {
            return Ok(());
        }
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir().join("server.log"))
            .map_err(|e| format!("cannot open the server's log: {e}"))?;
        let mut command = self.command("postgres");
        command.arg("-D").arg(self.data_dir()).stderr(log);
        let child = command
            .spawn()
            .map_err(|e| format!("cannot start postgres: {e}"))?;
        self.child = Some(child);
        let deadline = Instant::now() + START_TIMEOUT;
        while !self.accepts() {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                self.child = None;
                let log =
                    std::fs::read_to_string(self.dir().join("server.log")).unwrap_or_default();
                return Err(format!(
                    "the private postgres ended at start: {status}\n{log}"
                ));
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "the private postgres did not accept connections within {START_TIMEOUT:?}"
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }

    /// Whether the server is up and accepts connections (`pg_isready`).
    fn accepts(&self) -> bool {
        let address = SocketAddr::from(([127, 0, 0, 1], self.port));
        if TcpStream::connect_timeout(&address, Duration::from_secs(1)).is_err() {
            return false;
        }
        let mut ready = self.command("pg_isready");
        ready
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-t", "2"])
            .stderr(Stdio::null());
        ready.status().is_ok_and(|status| status.success())
    }

    /// Stops the server as an administrator does in a hurry (a fast shutdown, SIGINT:
    /// clients are disconnected, their transactions rolled back) and waits until its
    /// process has ended.
    pub fn stop(&mut self) -> Result<(), String> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        let status = Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status()
            .map_err(|e| format!("cannot run kill: {e}"))?;
        if !status.success() {
            return Err(format!("kill -INT {} failed: {status}", child.id()));
        }
        child
            .wait()
            .map_err(|e| format!("cannot wait for postgres: {e}"))?;
        Ok(())
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        // An immediate shutdown: the folder goes away next.
        if let Some(mut child) = self.child.take() {
            let _signalled = Command::new("kill")
                .args(["-QUIT", &child.id().to_string()])
                .status();
            let _reaped = child.wait();
        }
    }
}

/// The `postgres` user's ids.
fn postgres_user() -> Result<(u32, u32), String> {
    let id = |flag: &str| -> Result<u32, String> {
        let output = Command::new("id")
            .args([flag, "postgres"])
            .output()
            .map_err(|e| format!("cannot run id: {e}"))?;
        String::from_utf8_lossy(&output.stdout)
            .trim()
            .parse()
            .map_err(|_| "there is no `postgres` user; install PostgreSQL".to_owned())
    };
    Ok((id("-u")?, id("-g")?))
}
