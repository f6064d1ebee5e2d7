//! The `mysql` flavor against a real server: MariaDB (or MySQL) on 127.0.0.1:3306, user
//! `root` with an empty password. Without a server the tests that need one say how to start
//! it and pass, except in CI (`CI=true`), where a missing server fails them.

use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use mysql_async::prelude::Queryable;
use zenml_core::{ComponentContext, SecretString};
use zenml_metadata_store::schema::{MIGRATIONS, RECORD_MIGRATION_SQL, SCHEMA_VERSION};
use zenml_metadata_store::{MetadataStore, MetadataStoreError, MetadataStoreFlavor};
use zenml_mysql::{MysqlMetadataStore, MysqlMetadataStoreConfig};
use zenml_testkit::metadata_store as conformance;

const PORT: u16 = 3306;

/// Whether the test server is reachable; panics when it is not and CI=true.
fn server_available() -> bool {
    let address = SocketAddr::from(([127, 0, 0, 1], PORT));
    if TcpStream::connect_timeout(&address, Duration::from_secs(2)).is_ok() {
        return true;
    }
    let message = format!(
        "no MySQL/MariaDB server on 127.0.0.1:{PORT}; start one with \
         `start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd` \
         (as root), then run the tests again"
    );
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{message}");
    }
    eprintln!("skipping: {message}");
    false
}

fn config(database: &str) -> MysqlMetadataStoreConfig {
    MysqlMetadataStoreConfig {
        host: "127.0.0.1".to_owned(),
        port: PORT,
        username: "root".to_owned(),
        database: database.to_owned(),
        password_env: None,
        password_file: None,
        password: None,
        pool_size: 2,
        connect_timeout_secs: 5,
        tls: false,
        tls_ca: None,
        tls_cert: None,
        tls_key: None,
        tls_verify: true,
    }
}

fn context() -> ComponentContext {
    ComponentContext::new(std::env::temp_dir())
}

/// Runs `work` on a fresh connection to the test server, with `database` selected.
fn on_server<T>(
    database: Option<&str>,
    work: impl AsyncFnOnce(&mut mysql_async::Conn) -> mysql_async::Result<T>,
) -> mysql_async::Result<T> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let opts = mysql_async::OptsBuilder::default()
            .ip_or_hostname("127.0.0.1")
            .tcp_port(PORT)
            .user(Some("root"))
            .db_name(database);
        let mut conn = mysql_async::Conn::new(opts).await?;
        let result = work(&mut conn).await;
        conn.disconnect().await?;
        result
    })
}

/// [`on_server`], failing the test on an error.
fn with_server<T>(
    database: Option<&str>,
    work: impl AsyncFnOnce(&mut mysql_async::Conn) -> mysql_async::Result<T>,
) -> T {
    on_server(database, work).expect("the test server refused a statement")
}

/// A database name of this test alone, dropped when the value is.
struct TestDatabase(String);

impl TestDatabase {
    fn new() -> TestDatabase {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "zenml_test_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let database = TestDatabase(name);
        database
            .drop_database()
            .expect("cannot clear the test database");
        database
    }

    fn drop_database(&self) -> mysql_async::Result<()> {
        let statement = format!("DROP DATABASE IF EXISTS `{}`", self.0);
        on_server(None, async |conn| conn.query_drop(statement).await)
    }

    fn recorded_migrations(&self) -> i64 {
        with_server(Some(&self.0), async |conn| {
            conn.query_first("SELECT COUNT(*) FROM zenml_schema_migrations")
                .await
        })
        .unwrap_or(-1)
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
fn open_creates_the_database_and_the_schema() {
    if !server_available() {
        return;
    }
    let database = TestDatabase::new();
    let store = config(&database.0).open(&context()).unwrap();
    assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
    assert_eq!(
        store.uri(),
        format!("mysql://root@127.0.0.1:{PORT}/{}", database.0)
    );
    assert_eq!(database.recorded_migrations(), MIGRATIONS.len() as i64);
    drop(store);
}

#[test]
fn reopening_is_idempotent() {
    if !server_available() {
        return;
    }
    let database = TestDatabase::new();
    let first = config(&database.0).open(&context()).unwrap();
    let second = config(&database.0).open(&context()).unwrap();
    drop(first);
    let third = MysqlMetadataStore::open(&config(&database.0), &context()).unwrap();
    assert_eq!(second.schema_version().unwrap(), SCHEMA_VERSION);
    assert_eq!(third.database(), database.0);
    assert_eq!(database.recorded_migrations(), MIGRATIONS.len() as i64);
}

#[test]
fn concurrent_first_opens_migrate_once() {
    if !server_available() {
        return;
    }
    let database = TestDatabase::new();
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..3)
            .map(|_| scope.spawn(|| config(&database.0).open(&context())))
            .collect();
        for handle in handles {
            let store = handle.join().unwrap().unwrap();
            assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
        }
    });
    assert_eq!(database.recorded_migrations(), MIGRATIONS.len() as i64);
}

#[test]
fn a_newer_database_is_refused() {
    if !server_available() {
        return;
    }
    let database = TestDatabase::new();
    drop(config(&database.0).open(&context()).unwrap());
    with_server(Some(&database.0), async |conn| {
        conn.exec_drop(
            RECORD_MIGRATION_SQL,
            (
                SCHEMA_VERSION + 1,
                "from the future",
                "2999-01-01T00:00:00Z",
            ),
        )
        .await
    });
    let err = config(&database.0).open(&context()).unwrap_err();
    assert!(
        matches!(
            err,
            MetadataStoreError::SchemaTooNew { found, supported }
                if found == SCHEMA_VERSION + 1 && supported == SCHEMA_VERSION
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("upgrade zenml"), "{err}");
}

#[test]
fn the_conformance_suite_passes() {
    if !server_available() {
        return;
    }
    let database = TestDatabase::new();
    let store = config(&database.0).open(&context()).unwrap();
    conformance::check_store(store.as_ref());
}

#[test]
fn the_testkit_suite_passes_with_a_store_per_opening() {
    if !server_available() {
        return;
    }
    let database = TestDatabase::new();
    let open =
        || -> Arc<dyn MetadataStore> { Arc::from(config(&database.0).open(&context()).unwrap()) };
    conformance::run_all(&open).assert_passed();
}

#[test]
fn writers_in_several_threads_with_their_own_stores_never_fail() {
    if !server_available() {
        return;
    }
    let database = TestDatabase::new();
    drop(config(&database.0).open(&context()).unwrap());
    let open =
        || -> Arc<dyn MetadataStore> { Arc::from(config(&database.0).open(&context()).unwrap()) };
    conformance::check_concurrent_writers(&open, 4, 10);
}

#[test]
fn writers_in_several_threads_sharing_one_store_never_fail() {
    if !server_available() {
        return;
    }
    let database = TestDatabase::new();
    let store: Arc<dyn MetadataStore> = Arc::from(config(&database.0).open(&context()).unwrap());
    conformance::check_concurrent_writers(&|| Arc::clone(&store), 4, 10);
}

#[test]
fn a_version_1_database_is_upgraded_and_keeps_its_rows() {
    if !server_available() {
        return;
    }
    let database = TestDatabase::new();
    // What the previous release wrote: migration 1 only, in a database it created.
    with_server(None, async |conn| {
        conn.query_drop(format!(
            "CREATE DATABASE `{}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin",
            database.0
        ))
        .await
    });
    with_server(Some(&database.0), async |conn| {
        for migration in &MIGRATIONS[..1] {
            for statement in migration.statements() {
                conn.query_drop(statement).await?;
            }
            conn.exec_drop(
                RECORD_MIGRATION_SQL,
                (
                    migration.version,
                    migration.description,
                    "2025-01-31T14:05:09Z",
                ),
            )
            .await?;
        }
        Ok(())
    });

    let store = config(&database.0).open(&context()).unwrap();
    assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
    let recorded: Vec<(u32, String)> = with_server(Some(&database.0), async |conn| {
        conn.query("SELECT version, applied_at FROM zenml_schema_migrations ORDER BY version")
            .await
    });
    assert_eq!(recorded.len(), MIGRATIONS.len());
    assert_eq!(recorded[0], (1, "2025-01-31T14:05:09Z".to_owned()));
    conformance::check_store(store.as_ref());
}

/// Creates `database` as a release that wrote schema `version` did: migrations 1 to
/// `version` as its mysql flavor ran them, recorded as applied at `applied_at`, then `rows`.
fn database_at_version(database: &TestDatabase, version: usize, applied_at: &str, rows: &[&str]) {
    with_server(None, async |conn| {
        conn.query_drop(format!(
            "CREATE DATABASE `{}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin",
            database.0
        ))
        .await
    });
    with_server(Some(&database.0), async |conn| {
        for migration in &MIGRATIONS[..version] {
            for statement in migration.statements_in(&zenml_mysql::MysqlDialect) {
                conn.query_drop(statement.as_ref()).await?;
            }
            conn.exec_drop(
                RECORD_MIGRATION_SQL,
                (migration.version, migration.description, applied_at),
            )
            .await?;
        }
        for statement in rows
            .iter()
            .flat_map(|rows| rows.split(';'))
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            conn.query_drop(statement).await?;
        }
        Ok(())
    });
}

#[test]
fn a_version_2_database_is_upgraded_and_keeps_its_rows() {
    if !server_available() {
        return;
    }
    let database = TestDatabase::new();
    // What the release before step caching wrote.
    database_at_version(
        &database,
        2,
        "2025-06-01T00:00:00Z",
        &[conformance::VERSION_2_ROWS],
    );
    let store = config(&database.0).open(&context()).unwrap();
    assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
    let recorded: Vec<(u32, String)> = with_server(Some(&database.0), async |conn| {
        conn.query("SELECT version, applied_at FROM zenml_schema_migrations ORDER BY version")
            .await
    });
    assert_eq!(recorded.len(), MIGRATIONS.len());
    assert_eq!(recorded[1], (2, "2025-06-01T00:00:00Z".to_owned()));
    conformance::check_version_2_rows_upgraded(store.as_ref());
    conformance::check_store(store.as_ref());
}

#[test]
fn a_database_of_the_previous_version_is_upgraded_and_keeps_its_rows() {
    if !server_available() {
        return;
    }
    let database = TestDatabase::new();
    // What the release before named artifacts wrote.
    database_at_version(
        &database,
        5,
        "2026-06-01T00:00:00Z",
        &[conformance::VERSION_2_ROWS, conformance::VERSION_4_ROWS],
    );
    let store = config(&database.0).open(&context()).unwrap();
    assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
    assert_eq!(database.recorded_migrations(), MIGRATIONS.len() as i64);
    conformance::check_version_4_rows_upgraded(store.as_ref());
    conformance::check_store(store.as_ref());
}

#[test]
fn tables_compare_names_byte_for_byte_whatever_the_database_collation() {
    if !server_available() {
        return;
    }
    let database = TestDatabase::new();
    // A database an administrator made with a case-insensitive default collation.
    with_server(None, async |conn| {
        conn.query_drop(format!(
            "CREATE DATABASE `{}` CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci",
            database.0
        ))
        .await
    });
    let store = config(&database.0).open(&context()).unwrap();
    conformance::check_store(store.as_ref());
    let engines: Vec<(String, String)> = with_server(Some(&database.0), async |conn| {
        conn.query(
            "SELECT engine, table_collation FROM information_schema.tables \
             WHERE table_schema = DATABASE() AND table_name <> 'zenml_schema_migrations'",
        )
        .await
    });
    assert_eq!(engines.len(), 11, "{engines:?}");
    for (engine, collation) in engines {
        assert_eq!(
            (engine.as_str(), collation.as_str()),
            ("InnoDB", "utf8mb4_bin")
        );
    }
}

#[test]
fn an_interrupted_migration_is_completed_on_the_next_open() {
    if !server_available() {
        return;
    }
    let database = TestDatabase::new();
    drop(config(&database.0).open(&context()).unwrap());
    // As if migrations 2 and 3 had been interrupted after their DDL (committed at once by
    // MySQL: tables, indexes and the added column exist) but before they were recorded.
    with_server(Some(&database.0), async |conn| {
        conn.query_drop("DELETE FROM zenml_schema_migrations WHERE version >= 2")
            .await
    });
    let store = config(&database.0).open(&context()).unwrap();
    assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
    assert_eq!(database.recorded_migrations(), MIGRATIONS.len() as i64);
    conformance::check_store(store.as_ref());
}

#[test]
fn an_unreachable_server_is_reported_without_the_password() {
    // Port 1 has no server: the connection is refused (or times out) before any query.
    let config = MysqlMetadataStoreConfig {
        port: 1,
        password: Some(SecretString::new("hunter2")),
        connect_timeout_secs: 2,
        ..config("zenml")
    };
    let err = config.open(&context()).unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, MetadataStoreError::Connect { .. }), "{err:?}");
    assert!(text.contains("mysql://root@127.0.0.1:1/zenml"), "{text}");
    assert!(!text.contains("hunter2") && !format!("{err:?}").contains("hunter2"));
}

#[test]
fn an_unset_password_variable_is_named() {
    // No server needed: the password is resolved before connecting.
    let variable = format!("ZENML_TEST_UNSET_PASSWORD_{}", std::process::id());
    let config = MysqlMetadataStoreConfig {
        password_env: Some(variable.clone()),
        ..config("zenml")
    };
    let err = config.open(&context()).unwrap_err();
    assert!(matches!(err, MetadataStoreError::Config(_)), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains(&format!("`{variable}`")) && text.contains("not set"),
        "{text}"
    );
}

#[cfg(unix)]
#[test]
fn a_password_file_others_can_read_is_refused() {
    use std::os::unix::fs::PermissionsExt;

    // No server needed: the password is resolved before connecting.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("mysql-password");
    std::fs::write(&file, "s3cret\n").unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let config = MysqlMetadataStoreConfig {
        password_file: Some("mysql-password".into()),
        ..config("zenml")
    };
    let context = ComponentContext::new(dir.path());
    let err = config.open(&context).unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, MetadataStoreError::Config(_)), "{err:?}");
    assert!(
        text.contains("0644") && text.contains("chmod 600") && text.contains("mysql-password"),
        "{text}"
    );
    assert!(!text.contains("s3cret"), "{text}");

    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let password = config.resolve_password(&context).unwrap().unwrap();
    assert_eq!(password.expose(), "s3cret");
}
