//! The database servers of the e2e tests: MariaDB and PostgreSQL as `.ci/services` starts
//! them, whether they answer, and databases of a test's own.

use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// The address the MariaDB tests use.
pub const MARIADB: &str = "127.0.0.1:3306";

/// Whether MariaDB answers on 127.0.0.1:3306 (user root, empty password). When it does not,
/// prints how to start it and returns `false`, so the test returns early; under `CI=true` it
/// panics instead, because CI must run every test.
pub fn mariadb_available(test: &str) -> bool {
    let addr: SocketAddr = MARIADB.parse().expect("a socket address");
    if TcpStream::connect_timeout(&addr, Duration::from_secs(2)).is_ok() {
        return true;
    }
    let advice = format!(
        "{test}: MariaDB is not running on {MARIADB}. Start it with \
         `start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd` \
         or `bash .ci/services` (which also installs it)"
    );
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{advice}; under CI=true this test cannot be skipped"
    );
    eprintln!("skipped: {advice}");
    false
}

/// A database server the server flavors of the metadata store record in: MariaDB on
/// 127.0.0.1:3306 (user root, empty password) or PostgreSQL on 127.0.0.1:5432 (role
/// postgres, trust authentication), as `.ci/services` starts them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SqlServer {
    /// The `mysql` flavor's MariaDB.
    Mysql,
    /// The `postgres` flavor's PostgreSQL.
    Postgres,
}

impl SqlServer {
    /// The flavor's name.
    pub fn flavor(self) -> &'static str {
        match self {
            SqlServer::Mysql => "mysql",
            SqlServer::Postgres => "postgres",
        }
    }

    /// The user the tests connect as.
    pub fn username(self) -> &'static str {
        match self {
            SqlServer::Mysql => "root",
            SqlServer::Postgres => "postgres",
        }
    }

    /// The server's port on 127.0.0.1.
    pub fn port(self) -> u16 {
        match self {
            SqlServer::Mysql => 3306,
            SqlServer::Postgres => 5432,
        }
    }

    /// The URI of a store in `database` on this server, as the flavor prints it.
    pub fn uri(self, database: &str) -> String {
        format!(
            "{}://{}@127.0.0.1:{}/{database}",
            self.flavor(),
            self.username(),
            self.port()
        )
    }

    /// Whether the server answers. When it does not, prints how to start it and returns
    /// `false`, so the test returns early; under `CI=true` it panics instead.
    pub fn available(self, test: &str) -> bool {
        match self {
            SqlServer::Mysql => mariadb_available(test),
            SqlServer::Postgres => {
                let addr = SocketAddr::from(([127, 0, 0, 1], self.port()));
                if TcpStream::connect_timeout(&addr, Duration::from_secs(2)).is_ok() {
                    return true;
                }
                let advice = format!(
                    "{test}: PostgreSQL is not running on {addr}. Start it with \
                     `bash .ci/services` (which also installs it)"
                );
                assert!(
                    std::env::var("CI").as_deref() != Ok("true"),
                    "{advice}; under CI=true this test cannot be skipped"
                );
                eprintln!("skipped: {advice}");
                false
            }
        }
    }

    /// The settings of a store in `database` on this server with the password in the
    /// environment variable `password_var`, as `--key=value` arguments.
    pub fn settings(self, database: &str, password_var: &str) -> Vec<String> {
        vec![
            "--host=127.0.0.1".to_owned(),
            format!("--port={}", self.port()),
            format!("--username={}", self.username()),
            format!("--database={database}"),
            format!("--password-env={password_var}"),
        ]
    }

    /// Runs one statement as the server's administrator with its command-line client;
    /// `None` when no client can be run.
    fn admin(self, statement: &str) -> Option<std::process::Output> {
        match self {
            SqlServer::Mysql => mysql_client(statement),
            SqlServer::Postgres => Command::new("psql")
                .args([
                    "-h",
                    "127.0.0.1",
                    "-U",
                    "postgres",
                    "-d",
                    "postgres",
                    "-At",
                    "-c",
                    statement,
                ])
                .env_remove("PGPASSWORD")
                .stdin(Stdio::null())
                .output()
                .ok(),
        }
    }
}

/// A uniquely named database for one test on a [`SqlServer`], dropped (if it was created)
/// when this value is dropped.
#[derive(Debug)]
pub struct TestDatabase {
    server: SqlServer,
    name: String,
}

impl TestDatabase {
    /// A fresh MariaDB database name, `zenml_e2e_<tag>_<pid>_<n>`: letters, digits and `_`.
    pub fn new(tag: &str) -> TestDatabase {
        TestDatabase::on(SqlServer::Mysql, tag)
    }

    /// A fresh database name on `server`, `zenml_e2e_<tag>_<pid>_<n>`.
    pub fn on(server: SqlServer, tag: &str) -> TestDatabase {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let name = format!("zenml_e2e_{tag}_{}_{n}", std::process::id());
        assert!(name.len() <= 63, "database name too long: {name}");
        let db = TestDatabase { server, name };
        db.drop_database(); // a leftover from a crashed run with the same pid
        db
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether the server has this database, asked through its command-line client;
    /// `None` when no client is installed.
    pub fn exists(&self) -> Option<bool> {
        let statement = match self.server {
            SqlServer::Mysql => format!("SHOW DATABASES LIKE '{}'", self.name),
            SqlServer::Postgres => format!(
                "SELECT datname FROM pg_database WHERE datname = '{}'",
                self.name
            ),
        };
        let output = self.server.admin(&statement)?;
        Some(String::from_utf8_lossy(&output.stdout).contains(&self.name))
    }

    fn drop_database(&self) {
        let statement = match self.server {
            SqlServer::Mysql => format!("DROP DATABASE IF EXISTS `{}`", self.name),
            SqlServer::Postgres => {
                format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name)
            }
        };
        let _ = self.server.admin(&statement);
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        self.drop_database();
    }
}

/// Runs one statement with the `mysql` (or `mariadb`) command-line client as root; `None`
/// when neither client can be run.
fn mysql_client(statement: &str) -> Option<std::process::Output> {
    ["mysql", "mariadb"].iter().find_map(|client| {
        Command::new(client)
            .args([
                "-uroot",
                "-h127.0.0.1",
                "-P3306",
                "--batch",
                "-e",
                statement,
            ])
            .env_remove("MYSQL_PWD")
            .stdin(Stdio::null())
            .output()
            .ok()
    })
}
