//! The `postgres` flavor against a real server: PostgreSQL on 127.0.0.1:5432, role
//! `postgres` without a password (trust authentication, as on these machines). Without a
//! server the tests that need one say how to start it and pass, except in CI (`CI=true`),
//! where a missing server fails them.

use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use tokio_postgres::NoTls;
use zenml_core::{ComponentContext, SecretString};
use zenml_metadata_store::schema::{MIGRATIONS, RECORD_MIGRATION_SQL, SCHEMA_VERSION};
use zenml_metadata_store::{MetadataStore, MetadataStoreError, MetadataStoreFlavor};
use zenml_postgres::{PostgresDialect, PostgresMetadataStore, PostgresMetadataStoreConfig};
use zenml_testkit::metadata_store as conformance;

const PORT: u16 = 5432;

/// The role with a password that `.ci/services` creates (and requires a password for).
const PASSWORD_ROLE: &str = "zenml_password";

/// Its password.
const PASSWORD: &str = "zenml-test-password";

/// Whether the test server is reachable; panics when it is not and CI=true.
fn server_available() -> bool {
    let address = SocketAddr::from(([127, 0, 0, 1], PORT));
    if TcpStream::connect_timeout(&address, Duration::from_secs(2)).is_ok() {
        return true;
    }
    let message = format!(
        "no PostgreSQL server on 127.0.0.1:{PORT}; start it with `bash .ci/services` (or \
         `pg_ctlcluster <version> main start` as root), then run the tests again"
    );
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{message}; under CI=true this test cannot be skipped"
    );
    eprintln!("skipping: {message}");
    false
}

fn config(database: &str) -> PostgresMetadataStoreConfig {
    PostgresMetadataStoreConfig {
        pool_size: 4,
        connect_timeout_secs: 5,
        ..serde_json::from_value(serde_json::json!({
            "host": "127.0.0.1",
            "port": PORT,
            "database": database,
        }))
        .expect("a valid configuration")
    }
}

fn context() -> ComponentContext {
    ComponentContext::new(std::env::temp_dir())
}

/// Runs `sql` (statements separated by `;`) on a connection of its own as `postgres`, in
/// `database`.
fn run_sql(database: &str, sql: &str) -> Result<(), tokio_postgres::Error> {
    on_server(database, async |client| client.batch_execute(sql).await)
}

/// Runs `work` on a fresh connection as `postgres` to `database`.
fn on_server<T>(
    database: &str,
    work: impl AsyncFnOnce(&tokio_postgres::Client) -> Result<T, tokio_postgres::Error>,
) -> Result<T, tokio_postgres::Error> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("cannot build a runtime");
    runtime.block_on(async {
        let (client, connection) = tokio_postgres::connect(
            &format!("host=127.0.0.1 port={PORT} user=postgres dbname={database}"),
            NoTls,
        )
        .await?;
        let driver = tokio::spawn(connection);
        let result = work(&client).await;
        drop(client);
        let _ended = driver.await;
        result
    })
}

/// A database name of this test alone, dropped (with its connections) when the value is.
struct TestDatabase(String);

impl TestDatabase {
    fn new() -> TestDatabase {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let database = TestDatabase(format!(
            "zenml_test_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        database
            .drop_database()
            .expect("cannot clear the test database");
        database
    }

    fn drop_database(&self) -> Result<(), tokio_postgres::Error> {
        run_sql(
            "postgres",
            &format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.0),
        )
    }

    /// Creates the database as an administrator would, with the server's defaults.
    fn create(&self) {
        run_sql("postgres", &format!("CREATE DATABASE \"{}\"", self.0))
            .expect("cannot create the test database");
    }

    fn scalar(&self, query: &str) -> i64 {
        on_server(&self.0, async |client| {
            client.query_one(query, &[]).await.map(|row| row.get(0))
        })
        .expect("the test query failed")
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

/// Applies `MIGRATIONS[..version]` in PostgreSQL's dialect, as the release that wrote that
/// version did, then `rows`.
fn database_at_version(database: &TestDatabase, version: usize, rows: &[&str]) {
    database.create();
    let mut sql = String::new();
    for migration in &MIGRATIONS[..version] {
        for statement in migration.statements_in(&PostgresDialect) {
            sql.push_str(&statement);
            sql.push_str(";\n");
        }
    }
    run_sql(&database.0, &sql).expect("cannot apply the old migrations");
    on_server(&database.0, async |client| {
        let record = client
            .prepare(&zenml_metadata_store::sql::bind_placeholders(
                RECORD_MIGRATION_SQL,
                &PostgresDialect,
            ))
            .await?;
        for migration in &MIGRATIONS[..version] {
            let number = i32::try_from(migration.version).expect("small version");
            client
                .execute(
                    &record,
                    &[&number, &migration.description, &"2026-06-01T00:00:00Z"],
                )
                .await?;
        }
        for rows in rows {
            client.batch_execute(rows).await?;
        }
        Ok(())
    })
    .expect("cannot write the old rows");
}

#[test]
fn open_creates_the_database_in_the_c_collation_and_migrates_it() {
    if !server_available() {
        return;
    }
    let database = TestDatabase::new();
    let store = config(&database.0).open(&context()).unwrap();
    assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
    assert_eq!(
        store.uri(),
        format!("postgres://postgres@127.0.0.1:{PORT}/{}", database.0)
    );
    assert_eq!(
        database.scalar("SELECT COUNT(*) FROM zenml_schema_migrations"),
        MIGRATIONS.len() as i64
    );
    assert_eq!(
        database.scalar(
            "SELECT COUNT(*) FROM pg_database \
             WHERE datname = current_database() AND datcollate = 'C'"
        ),
        1
    );
}

#[test]
fn reopening_and_concurrent_first_opens_migrate_once() {
    if !server_available() {
        return;
    }
    let database = TestDatabase::new();
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..4)
            .map(|_| scope.spawn(|| config(&database.0).open(&context())))
            .collect();
        for handle in handles {
            let store = handle.join().unwrap().unwrap();
            assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
        }
    });
    let again = PostgresMetadataStore::open(&config(&database.0), &context()).unwrap();
    assert_eq!(again.database(), database.0);
    assert_eq!(
        database.scalar("SELECT COUNT(*) FROM zenml_schema_migrations"),
        MIGRATIONS.len() as i64
    );
}

#[test]
fn a_newer_database_is_refused_unchanged() {
    if !server_available() {
        return;
    }
    let database = TestDatabase::new();
    drop(config(&database.0).open(&context()).unwrap());
    run_sql(
        &database.0,
        &format!(
            "INSERT INTO zenml_schema_migrations VALUES ({}, 'from the future', '2999-01-01')",
            SCHEMA_VERSION + 1
        ),
    )
    .unwrap();
    let err = config(&database.0).open(&context()).unwrap_err();
    assert!(
        matches!(
            err,
            MetadataStoreError::SchemaTooNew { found, supported }
                if found == SCHEMA_VERSION + 1 && supported == SCHEMA_VERSION
        ),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(
        text.contains(&format!("schema version {}", SCHEMA_VERSION + 1))
            && text.contains(&format!("up to {SCHEMA_VERSION}")),
        "{text}"
    );
    assert_eq!(
        database.scalar("SELECT COUNT(*) FROM zenml_schema_migrations"),
        MIGRATIONS.len() as i64 + 1
    );
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
fn writers_in_several_threads_never_fail() {
    if !server_available() {
        return;
    }
    let database = TestDatabase::new();
    drop(config(&database.0).open(&context()).unwrap());
    let open =
        || -> Arc<dyn MetadataStore> { Arc::from(config(&database.0).open(&context()).unwrap()) };
    conformance::check_concurrent_writers(&open, 4, 10);
    let store: Arc<dyn MetadataStore> = open();
    conformance::check_concurrent_writers(&|| Arc::clone(&store), 4, 10);
}

#[test]
fn a_version_1_database_is_upgraded() {
    if !server_available() {
        return;
    }
    let database = TestDatabase::new();
    database_at_version(&database, 1, &[]);
    let store = config(&database.0).open(&context()).unwrap();
    assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
    conformance::check_store(store.as_ref());
}

#[test]
fn a_version_2_database_is_upgraded_and_keeps_its_rows() {
    if !server_available() {
        return;
    }
    let database = TestDatabase::new();
    database_at_version(&database, 2, &[conformance::VERSION_2_ROWS]);
    let store = config(&database.0).open(&context()).unwrap();
    conformance::check_version_2_rows_upgraded(store.as_ref());
}

#[test]
fn a_database_of_the_previous_version_is_upgraded_and_keeps_its_rows() {
    if !server_available() {
        return;
    }
    let database = TestDatabase::new();
    database_at_version(
        &database,
        5,
        &[conformance::VERSION_2_ROWS, conformance::VERSION_4_ROWS],
    );
    let store = config(&database.0).open(&context()).unwrap();
    assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
    conformance::check_version_4_rows_upgraded(store.as_ref());
    // Only the migrations after version 5 ran on opening.
    assert_eq!(
        database.scalar("SELECT MIN(version)::BIGINT FROM zenml_schema_migrations WHERE applied_at <> '2026-06-01T00:00:00Z'"),
        6
    );
}

#[test]
fn a_database_an_administrator_made_sorts_names_byte_for_byte() {
    if !server_available() {
        return;
    }
    let database = TestDatabase::new();
    database.create();
    let store = config(&database.0).open(&context()).unwrap();
    conformance::check_store(store.as_ref());
}

#[test]
fn schemas_keep_the_records_of_two_stores_in_one_database_apart() {
    if !server_available() {
        return;
    }
    let database = TestDatabase::new();
    let in_schema = |schema: &str| PostgresMetadataStoreConfig {
        schema: Some(schema.to_owned()),
        ..config(&database.0)
    };
    let team_a = in_schema("Team_A").open(&context()).unwrap();
    let team_b = in_schema("team_b").open(&context()).unwrap();
    let public = config(&database.0).open(&context()).unwrap();
    assert!(team_a.uri().ends_with("?options=-csearch_path%3DTeam_A"));
    conformance::check_store(team_a.as_ref());
    assert!(!team_a.list_pipelines().unwrap().is_empty());
    assert!(team_b.list_pipelines().unwrap().is_empty());
    assert!(public.list_pipelines().unwrap().is_empty());
    assert_eq!(
        database.scalar(
            "SELECT COUNT(*) FROM information_schema.tables \
             WHERE table_name = 'zenml_schema_migrations'"
        ),
        3
    );
}

#[test]
fn an_unreachable_server_is_reported_without_the_password() {
    // Port 1 has no server: the connection is refused before any query.
    let config = PostgresMetadataStoreConfig {
        port: 1,
        password: Some(SecretString::new("hunter2")),
        connect_timeout_secs: 2,
        ..config("zenml")
    };
    let err = config.open(&context()).unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, MetadataStoreError::Connect { .. }), "{err:?}");
    assert!(
        text.contains("postgres://postgres@127.0.0.1:1/zenml"),
        "{text}"
    );
    assert!(!text.contains("hunter2") && !format!("{err:?}").contains("hunter2"));
}

#[test]
fn password_authentication_works_and_a_wrong_password_is_refused() {
    if !server_available() {
        return;
    }
    let exists = on_server("postgres", async |client| {
        client
            .query_one(
                "SELECT COUNT(*) FROM pg_roles WHERE rolname = $1",
                &[&PASSWORD_ROLE],
            )
            .await
            .map(|row| row.get::<_, i64>(0))
    })
    .unwrap();
    if exists == 0 {
        let message =
            format!("the role `{PASSWORD_ROLE}` does not exist; `bash .ci/services` creates it");
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{message}; under CI=true this test cannot be skipped"
        );
        eprintln!("skipping: {message}");
        return;
    }
    let database = TestDatabase::new();
    run_sql(
        "postgres",
        &format!("CREATE DATABASE \"{}\" OWNER {PASSWORD_ROLE}", database.0),
    )
    .unwrap();
    let with_password = |password: &str| PostgresMetadataStoreConfig {
        username: PASSWORD_ROLE.to_owned(),
        password: Some(SecretString::new(password)),
        ..config(&database.0)
    };
    let wrong = with_password("not-the-password")
        .open(&context())
        .unwrap_err();
    let text = wrong.to_string();
    assert!(
        matches!(wrong, MetadataStoreError::Connect { .. }),
        "{wrong:?}"
    );
    assert!(text.contains("password"), "{text}");
    assert!(!text.contains("not-the-password"), "{text}");

    let store = with_password(PASSWORD).open(&context()).unwrap();
    conformance::check_store(store.as_ref());

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("pg-password"), format!("{PASSWORD}\n")).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(
            dir.path().join("pg-password"),
            std::fs::Permissions::from_mode(0o600),
        )
        .unwrap();
    }
    let from_file = PostgresMetadataStoreConfig {
        password: None,
        password_file: Some("pg-password".into()),
        ..with_password("")
    };
    let store = from_file.open(&ComponentContext::new(dir.path())).unwrap();
    assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
}

#[test]
fn a_role_that_may_not_create_the_database_is_told_whom_to_ask() {
    if !server_available() {
        return;
    }
    let role = format!("zenml_nocreate_{}", std::process::id());
    run_sql(
        "postgres",
        &format!("DROP ROLE IF EXISTS {role}; CREATE ROLE {role} LOGIN NOCREATEDB"),
    )
    .unwrap();
    let config = PostgresMetadataStoreConfig {
        username: role.clone(),
        ..config(&format!("zenml_absent_{}", std::process::id()))
    };
    let err = config.open(&context()).unwrap_err();
    run_sql("postgres", &format!("DROP ROLE IF EXISTS {role}")).unwrap();
    let text = err.to_string();
    assert!(
        text.contains("may not create it") && text.contains("ask an administrator"),
        "{text}"
    );
}
