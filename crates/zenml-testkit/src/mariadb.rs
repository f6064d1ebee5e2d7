//! A private MariaDB server for tests that stop and restart it or configure it their own
//! way: `mariadbd` in a temporary folder on a free port of 127.0.0.1, disturbing no other
//! server. By default grant tables are skipped (any user, no password); a test that needs
//! users or TLS prepares the folder first ([`PrivateMariaDb::start_with`]). Needs
//! `/usr/sbin/mariadbd` (`bash .ci/services` installs MariaDB); it is killed when the value
//! is dropped.

use std::io::Read;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Where the server binary is.
pub const MARIADBD: &str = "/usr/sbin/mariadbd";

/// How long a start may take before it is a failure.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// How a private server starts, as [`PrivateMariaDb::start_with`]'s preparation says.
#[derive(Debug, Clone, Default)]
pub struct MariaDbSetup {
    /// Use the grant tables the preparation made in `<folder>/data` (with
    /// `mariadb-install-db`) instead of skipping them.
    pub grant_tables: bool,
    /// More arguments for `mariadbd`, e.g. `--ssl-cert=…`.
    pub args: Vec<String>,
}

/// A private `mariadbd`; see the module's documentation.
#[derive(Debug)]
pub struct PrivateMariaDb {
    dir: tempfile::TempDir,
    port: u16,
    setup: MariaDbSetup,
    child: Option<Child>,
}

impl PrivateMariaDb {
    /// Starts a server without grant tables on a free port and waits until it greets
    /// clients. `Err` says why there is none: `mariadbd` is not installed (the message says
    /// how to install it), or it did not start.
    pub fn start() -> Result<PrivateMariaDb, String> {
        PrivateMariaDb::start_with(|_| Ok(MariaDbSetup::default()))
    }

    /// A server for the test named `test`, started as [`start`](Self::start) does. Without
    /// `mariadbd`, prints how to install it and returns `None` (the test returns early),
    /// except under `CI=true`, where it panics: CI runs every test. A server that is
    /// installed but does not start fails the test.
    pub fn for_test(test: &str) -> Option<PrivateMariaDb> {
        if !Path::new(MARIADBD).exists() {
            let advice =
                format!("{test}: {MARIADBD} is missing; install MariaDB with `bash .ci/services`");
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "{advice}; under CI=true this test cannot be skipped"
            );
            eprintln!("skipped: {advice}");
            return None;
        }
        match PrivateMariaDb::start() {
            Ok(server) => Some(server),
            Err(e) => panic!("{test}: {e}"),
        }
    }

    /// Like [`start`](Self::start), after `prepare` has set up the server's folder (given
    /// as its argument: the data goes in `data/` below it) and said how to start it.
    pub fn start_with(
        prepare: impl FnOnce(&Path) -> Result<MariaDbSetup, String>,
    ) -> Result<PrivateMariaDb, String> {
        if !Path::new(MARIADBD).exists() {
            return Err(format!(
                "{MARIADBD} is missing; install MariaDB (`bash .ci/services` does)"
            ));
        }
        let dir = tempfile::tempdir().map_err(|e| format!("cannot create a folder: {e}"))?;
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .map_err(|e| format!("no free port: {e}"))?
            .port();
        let setup = prepare(dir.path())?;
        let mut server = PrivateMariaDb {
            dir,
            port,
            setup,
            child: None,
        };
        server.launch()?;
        Ok(server)
    }

    /// The server's port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's folder: its data in `data/`, and whatever the preparation put there.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Whether the server process is running (started and not stopped).
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Starts the server process (again, after [`stop`](Self::stop), on the same port and
    /// data) and waits until it greets clients.
    pub fn launch(&mut self) -> Result<(), String> {
        if self.child.is_some() {
            return Ok(());
        }
        let data = self.data_dir();
        std::fs::create_dir_all(&data)
            .map_err(|e| format!("cannot create {}: {e}", data.display()))?;
        let mut command = Command::new(MARIADBD);
        command
            .arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            .arg(format!(
                "--socket={}",
                self.dir.path().join("sock").display()
            ))
            .arg(format!(
                "--pid-file={}",
                self.dir.path().join("pid").display()
            ))
            .arg(format!("--port={}", self.port))
            .args([
                "--bind-address=127.0.0.1",
                "--skip-name-resolve",
                "--innodb-buffer-pool-size=16M",
            ])
            .args(&self.setup.args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if !self.setup.grant_tables {
            command.arg("--skip-grant-tables");
        }
        if running_as_root() {
            command.arg("--user=root");
        }
        let child = command
            .spawn()
            .map_err(|e| format!("cannot start {MARIADBD}: {e}"))?;
        self.child = Some(child);
        let deadline = Instant::now() + START_TIMEOUT;
        while !self.greets() {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                self.child = None;
                return Err(format!("the private mariadbd ended at start: {status}"));
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "the private mariadbd did not greet clients within {START_TIMEOUT:?}"
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }

    /// Whether a client that connects gets the server's greeting (the MySQL protocol's
    /// first packet, which the server sends unasked).
    fn greets(&self) -> bool {
        let address = SocketAddr::from(([127, 0, 0, 1], self.port));
        let Ok(mut stream) = TcpStream::connect_timeout(&address, Duration::from_secs(1)) else {
            return false;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
        let mut header = [0u8; 5];
        // A greeting: a 4-byte packet header, then protocol version 10.
        stream.read_exact(&mut header).is_ok() && header[4] == 10
    }

    /// Stops the server as an administrator does (SIGTERM: clients are disconnected, data
    /// is flushed) and waits until its process has ended.
    pub fn stop(&mut self) -> Result<(), String> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .map_err(|e| format!("cannot run kill: {e}"))?;
        if !status.success() {
            return Err(format!("kill -TERM {} failed: {status}", child.id()));
        }
        child
            .wait()
            .map_err(|e| format!("cannot wait for mariadbd: {e}"))?;
        Ok(())
    }
}

impl Drop for PrivateMariaDb {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _killed = child.kill();
            let _reaped = child.wait();
        }
    }
}

/// Whether this process runs as root (`mariadbd` then needs `--user=root`, and so does
/// `mariadb-install-db`).
pub fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
}
