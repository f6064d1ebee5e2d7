//! The `mysql` store when its connections break: killed by an administrator between two
//! operations or in the middle of them, and a server restart. Every operation after a break
//! succeeds on a fresh connection, and a step run is recorded whole or not at all.
//!
//! The kill tests use MariaDB (or MySQL) on 127.0.0.1:3306, user `root` with an empty
//! password, and kill only the connections to their own database. The restart test starts a
//! private `mariadbd` on a free port in a temporary folder, so that it disturbs no one else.
//! Without a server (or without `/usr/sbin/mariadbd`) the tests say what is missing and
//! pass, except in CI (`CI=true`), where they fail.

use std::cell::RefCell;
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use mysql_async::prelude::Queryable;
use zenml_core::ComponentContext;
use zenml_mysql::{MysqlMetadataStore, MysqlMetadataStoreConfig};
use zenml_testkit::mariadb::PrivateMariaDb;
use zenml_testkit::metadata_store as conformance;

const PORT: u16 = 3306;

/// Fails under `CI=true`, otherwise says why the test is skipped.
fn skip(message: &str) {
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{message}; under CI=true this test cannot be skipped"
    );
    eprintln!("skipping: {message}");
}

/// Whether the shared test server is reachable.
fn server_available() -> bool {
    let address = SocketAddr::from(([127, 0, 0, 1], PORT));
    if TcpStream::connect_timeout(&address, Duration::from_secs(2)).is_ok() {
        return true;
    }
    skip(&format!(
        "no MySQL/MariaDB server on 127.0.0.1:{PORT}; start one with \
         `start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd` (as \
         root), then run the tests again"
    ));
    false
}

fn config(port: u16, database: &str) -> MysqlMetadataStoreConfig {
    MysqlMetadataStoreConfig {
        host: "127.0.0.1".to_owned(),
        port,
        username: "root".to_owned(),
        database: database.to_owned(),
        password_env: None,
        password_file: None,
        password: None,
        pool_size: 2,
        connect_timeout_secs: 10,
        tls: false,
        tls_ca: None,
        tls_cert: None,
        tls_key: None,
        tls_verify: true,
    }
}

fn open(port: u16, database: &str) -> MysqlMetadataStore {
    MysqlMetadataStore::open(
        &config(port, database),
        &ComponentContext::new(std::env::temp_dir()),
    )
    .expect("cannot open the store")
}

/// Runs `work` on a fresh connection of its own to the server on `port`.
fn on_server<T>(
    port: u16,
    work: impl AsyncFnOnce(&mut mysql_async::Conn) -> mysql_async::Result<T>,
) -> mysql_async::Result<T> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let opts = mysql_async::OptsBuilder::default()
            .ip_or_hostname("127.0.0.1")
            .tcp_port(port)
            .user(Some("root"));
        let mut conn = mysql_async::Conn::new(opts).await?;
        let result = work(&mut conn).await;
        let _closed = conn.disconnect().await;
        result
    })
}

/// Kills every connection to `database` but the killer's own; returns how many it killed.
fn kill_connections(port: u16, database: &str) -> usize {
    on_server(port, async |conn| {
        let ids: Vec<u64> = conn
            .exec(
                "SELECT id FROM information_schema.processlist \
                 WHERE db = ? AND id <> CONNECTION_ID()",
                (database,),
            )
            .await?;
        let mut killed = 0;
        for id in ids {
            // A connection that ended meanwhile is "Unknown thread id": nothing to kill.
            if conn.query_drop(format!("KILL {id}")).await.is_ok() {
                killed += 1;
            }
        }
        Ok(killed)
    })
    .expect("cannot kill the store's connections")
}

/// A database name of this test alone, dropped when the value is.
struct TestDatabase {
    port: u16,
    name: String,
}

impl TestDatabase {
    fn new(port: u16) -> TestDatabase {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "zenml_reconnect_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let database = TestDatabase { port, name };
        database
            .drop_database()
            .expect("cannot clear the test database");
        database
    }

    fn drop_database(&self) -> mysql_async::Result<()> {
        let statement = format!("DROP DATABASE IF EXISTS `{}`", self.name);
        on_server(self.port, async |conn| conn.query_drop(statement).await)
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Err(e) = self.drop_database() {
            eprintln!("cannot drop test database `{}`: {e}", self.name);
        }
    }
}

#[test]
fn operations_after_the_connections_were_killed_succeed() {
    if !server_available() {
        return;
    }
    let database = TestDatabase::new(PORT);
    let store = open(PORT, &database.name);
    conformance::operations_after_broken_connections_succeed(&store, &|| {
        kill_connections(PORT, &database.name)
    });
}

#[test]
fn connections_killed_while_recording_never_leave_half_a_step_run() {
    if !server_available() {
        return;
    }
    let database = TestDatabase::new(PORT);
    let store = open(PORT, &database.name);
    let killed = conformance::recording_survives_connections_broken_meanwhile(
        &store,
        &|| kill_connections(PORT, &database.name),
        60,
        Duration::from_millis(15),
    );
    eprintln!("{killed} connections killed while recording 60 step runs");
}

#[test]
fn operations_after_a_server_restart_succeed() {
    let Some(server) = PrivateMariaDb::for_test("server restart") else {
        return;
    };
    let store = open(server.port(), "zenml_restart");
    let server = RefCell::new(server);
    conformance::operations_survive_a_server_restart(
        &store,
        &mut || server.borrow_mut().stop().expect("the server stops"),
        &mut || {
            server
                .borrow_mut()
                .launch()
                .expect("the server starts again")
        },
        &|| store.lost_connections(),
    );
}

#[test]
fn a_server_that_stays_down_fails_the_operation_within_the_connect_timeout() {
    let Some(mut server) = PrivateMariaDb::for_test(
        "a_server_that_stays_down_fails_the_operation_within_the_connect_timeout",
    ) else {
        return;
    };
    let config = MysqlMetadataStoreConfig {
        connect_timeout_secs: 2,
        ..config(server.port(), "zenml_down")
    };
    let store =
        MysqlMetadataStore::open(&config, &ComponentContext::new(std::env::temp_dir())).unwrap();
    conformance::an_operation_fails_when_the_server_stays_down(
        &store,
        &mut || server.stop().expect("the server stops"),
        &|| store.lost_connections(),
        Duration::from_secs(2),
    );
}
