//! The `postgres` store when its connections break: terminated by an administrator
//! (`pg_terminate_backend`) between two operations or in the middle of them, and a server
//! restart. Every operation after a break succeeds on a fresh connection, and a step run is
//! recorded whole or not at all.
//!
//! The termination tests use PostgreSQL on 127.0.0.1:5432 (role `postgres`, trust) and end
//! only the connections to their own database. The restart tests start a private server
//! (`initdb` in a temporary folder, on a free port), so that they disturb no one else.
//! Without a server (or without PostgreSQL's programs) the tests say what is missing and
//! pass, except in CI (`CI=true`), where they fail.

use std::cell::RefCell;
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use tokio_postgres::NoTls;
use zenml_core::ComponentContext;
use zenml_postgres::{PostgresMetadataStore, PostgresMetadataStoreConfig};
use zenml_testkit::metadata_store as conformance;
use zenml_testkit::postgres::PrivatePostgres;

const PORT: u16 = 5432;

/// Whether the shared test server is reachable; panics when it is not and CI=true.
fn server_available() -> bool {
    let address = SocketAddr::from(([127, 0, 0, 1], PORT));
    if TcpStream::connect_timeout(&address, Duration::from_secs(2)).is_ok() {
        return true;
    }
    let message = format!(
        "no PostgreSQL server on 127.0.0.1:{PORT}; start it with `bash .ci/services`, then \
         run the tests again"
    );
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{message}; under CI=true this test cannot be skipped"
    );
    eprintln!("skipping: {message}");
    false
}

fn config(port: u16, database: &str, connect_timeout_secs: u64) -> PostgresMetadataStoreConfig {
    PostgresMetadataStoreConfig {
        pool_size: 2,
        connect_timeout_secs,
        ..serde_json::from_value(serde_json::json!({
            "host": "127.0.0.1",
            "port": port,
            "database": database,
        }))
        .expect("a valid configuration")
    }
}

fn open(port: u16, database: &str) -> PostgresMetadataStore {
    PostgresMetadataStore::open(
        &config(port, database, 10),
        &ComponentContext::new(std::env::temp_dir()),
    )
    .expect("cannot open the store")
}

/// Runs `sql` on a connection of its own, as `postgres`, to database `postgres`; returns
/// the first column of the rows as integers.
fn on_server(port: u16, sql: &str) -> Result<Vec<i64>, tokio_postgres::Error> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("cannot build a runtime");
    runtime.block_on(async {
        let (client, connection) = tokio_postgres::connect(
            &format!("host=127.0.0.1 port={port} user=postgres dbname=postgres"),
            NoTls,
        )
        .await?;
        let driver = tokio::spawn(connection);
        let rows = client.query(sql, &[]).await;
        drop(client);
        let _ended = driver.await;
        Ok(rows?.iter().map(|row| row.get(0)).collect())
    })
}

/// Ends every connection to `database` (`pg_terminate_backend`); returns how many.
fn terminate_connections(port: u16, database: &str) -> usize {
    on_server(
        port,
        &format!(
            // Materialized first: in one WHERE clause the server may call
            // pg_terminate_backend before it has checked the database.
            "WITH victims AS MATERIALIZED (SELECT pid FROM pg_stat_activity \
               WHERE datname = '{database}' AND pid <> pg_backend_pid()) \
             SELECT COUNT(*) FROM victims WHERE pg_terminate_backend(pid)"
        ),
    )
    .expect("cannot terminate the store's connections")
    .first()
    .map_or(0, |n| usize::try_from(*n).unwrap_or(0))
}

/// A database name of this test alone, dropped when the value is.
struct TestDatabase(String);

impl TestDatabase {
    fn new() -> TestDatabase {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let database = TestDatabase(format!(
            "zenml_reconnect_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        database
            .drop_database()
            .expect("cannot clear the test database");
        database
    }

    fn drop_database(&self) -> Result<Vec<i64>, tokio_postgres::Error> {
        on_server(
            PORT,
            &format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.0),
        )
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        // Never panic here: this also runs while a failed test unwinds.
        if let Err(e) = self.drop_database() {
            eprintln!("cannot drop test database `{}`: {e}", self.0);
        }
    }
}

#[test]
fn operations_after_the_connections_were_terminated_succeed() {
    if !server_available() {
        return;
    }
    let database = TestDatabase::new();
    let store = open(PORT, &database.0);
    conformance::operations_after_broken_connections_succeed(&store, &|| {
        terminate_connections(PORT, &database.0)
    });
}

#[test]
fn connections_terminated_while_recording_never_leave_half_a_step_run() {
    if !server_available() {
        return;
    }
    let database = TestDatabase::new();
    let store = open(PORT, &database.0);
    let terminated = conformance::recording_survives_connections_broken_meanwhile(
        &store,
        &|| terminate_connections(PORT, &database.0),
        60,
        Duration::from_millis(15),
    );
    eprintln!(
        "{terminated} connections terminated while recording 60 step runs; {} retries",
        store.lost_connections()
    );
}

#[test]
fn operations_after_a_server_restart_succeed() {
    let Some(server) = PrivatePostgres::for_test("operations_after_a_server_restart_succeed")
    else {
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
    let Some(mut server) = PrivatePostgres::for_test(
        "a_server_that_stays_down_fails_the_operation_within_the_connect_timeout",
    ) else {
        return;
    };
    let store = PostgresMetadataStore::open(
        &config(server.port(), "zenml_down", 2),
        &ComponentContext::new(std::env::temp_dir()),
    )
    .expect("cannot open the store");
    conformance::an_operation_fails_when_the_server_stays_down(
        &store,
        &mut || server.stop().expect("the server stops"),
        &|| store.lost_connections(),
        Duration::from_secs(2),
    );
}
