//! The `mysql` metadata store against a real MariaDB on 127.0.0.1:3306 (user root, empty
//! password): configured through the shortcut, through `metadata-store register`, and with a
//! password file. Each test uses its own database and drops it afterwards. Without a server
//! the tests say how to start one and return early, except under `CI=true`.

use zenml::metadata_store::schema::SCHEMA_VERSION;
use zenml_e2e::{TestDatabase, Zenml, mariadb_available, set_mode};

#[test]
fn config_metadata_set_mysql_then_check() {
    if !mariadb_available("config_metadata_set_mysql_then_check") {
        return;
    }
    let db = TestDatabase::new("shortcut");
    let zen = Zenml::init();
    zen.set_mysql_metadata(db.name(), "ZENML_E2E_MYSQL_PASSWORD");
    let check = zen
        .cmd(&["stack", "check"])
        .env("ZENML_E2E_MYSQL_PASSWORD", "")
        .ok();
    check.stdout_has(&[
        "Stack `default` works:",
        &format!(
            "mysql://root@127.0.0.1:3306/{} (schema version {})",
            db.name(),
            SCHEMA_VERSION
        ),
    ]);
    if let Some(exists) = db.exists() {
        assert!(exists, "stack check creates the database {}", db.name());
    }

    // A second check finds the schema in place.
    let json = zen
        .cmd(&["stack", "check"])
        .env("ZENML_E2E_MYSQL_PASSWORD", "")
        .json();
    assert_eq!(
        json["metadata_store"]["uri"],
        format!("mysql://root@127.0.0.1:3306/{}", db.name())
    );
    assert_eq!(json["metadata_store"]["schema_version"], SCHEMA_VERSION);

    // Without the variable, the error names it.
    zen.fails(&["stack", "check"]).stderr_has(&[
        "the environment variable `ZENML_E2E_MYSQL_PASSWORD` named by `password_env` is not set",
    ]);
}

#[test]
fn a_registered_mysql_stack_checks() {
    if !mariadb_available("a_registered_mysql_stack_checks") {
        return;
    }
    let db = TestDatabase::new("register");
    let zen = Zenml::init();
    zen.ok(&[
        "metadata-store",
        "register",
        "team-db",
        "--flavor",
        "mysql",
        "--host=127.0.0.1",
        "--port=3306",
        "--username=root",
        &format!("--database={}", db.name()),
        "--password-env=ZENML_E2E_MYSQL_PASSWORD",
    ]);
    zen.ok(&[
        "stack", "register", "team", "-o", "default", "-m", "team-db", "-a", "default", "--set",
    ]);
    zen.cmd(&["stack", "check"])
        .env("ZENML_E2E_MYSQL_PASSWORD", "")
        .ok()
        .stdout_has(&[
            "Stack `team` works:",
            &format!(
                "mysql://root@127.0.0.1:3306/{} (schema version {})",
                db.name(),
                SCHEMA_VERSION
            ),
            &format!("file://{}", zen.path(".zen/artifacts").display()),
        ]);
    // The default stack still works offline, by name.
    zen.ok(&["stack", "check", "default"])
        .stdout_has(&["Stack `default` works:", "sqlite://"]);

    // A wrong password is a clear error that does not show the password.
    zen.cmd(&["stack", "check"])
        .env("ZENML_E2E_MYSQL_PASSWORD", "not-the-password")
        .fails()
        .stderr_has(&["cannot open metadata store `team-db`", "Access denied"])
        .never_shows("not-the-password");
}

#[test]
fn a_private_password_file_works() {
    if !mariadb_available("a_private_password_file_works") {
        return;
    }
    let db = TestDatabase::new("pwfile");
    let zen = Zenml::init();
    // root's password is empty: the file holds an empty line.
    let file = zen.write("db-password", "\n");
    set_mode(&file, 0o644);
    zen.ok(&[
        "config",
        "metadata",
        "set",
        "mysql",
        "--host",
        "127.0.0.1",
        "--database",
        db.name(),
        "--password-file",
        "db-password",
    ]);
    zen.fails(&["stack", "check"])
        .stderr_has(&["can be accessed by other users (mode 0644)", "chmod 600"]);
    set_mode(&file, 0o600);
    // A relative password file is found from the repository root, from any subfolder.
    let sub = zen.path("notebooks");
    std::fs::create_dir_all(&sub).unwrap();
    zen.cmd(&["stack", "check"])
        .current_dir(&sub)
        .ok()
        .stdout_has(&[&format!(
            "mysql://root@127.0.0.1:3306/{} (schema version {})",
            db.name(),
            SCHEMA_VERSION
        )]);
}
