//! The `mysql` store over TLS: a private `mariadbd` with a certificate from a test CA made
//! with the `openssl` command, users that require TLS (`REQUIRE SSL`) or a client
//! certificate (`REQUIRE X509`), and the store's `tls`, `tls_ca`, `tls_cert`, `tls_key` and
//! `tls_verify` keys against it.
//!
//! Without `/usr/sbin/mariadbd`, `mariadb-install-db` or `openssl` the server tests say what
//! is missing and pass, except in CI (`CI=true`), where they fail.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use mysql_async::prelude::Queryable;
use zenml_core::ComponentContext;
use zenml_metadata_store::{MetadataStore, MetadataStoreError};
use zenml_mysql::{MysqlMetadataStore, MysqlMetadataStoreConfig};
use zenml_testkit::certificates::make_test_certificates;
use zenml_testkit::mariadb::{MARIADBD, MariaDbSetup, PrivateMariaDb, running_as_root};

/// The user that must connect over TLS.
const TLS_USER: &str = "zen_tls";

/// The user that must present a client certificate.
const X509_USER: &str = "zen_x509";

/// Fails under `CI=true`, otherwise says why the test is skipped.
fn skip(message: &str) {
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{message}; under CI=true this test cannot be skipped"
    );
    eprintln!("skipping: {message}");
}

/// Whether `program` can be run (found on `PATH` or at its path).
fn runnable(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

/// Runs `command` and fails the test, with its output, unless it succeeds.
fn run(command: &mut Command) {
    let output = command.output().expect("cannot run a command");
    assert!(
        output.status.success(),
        "{command:?} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A `mariadbd` of its own with TLS, on a free port in a temporary folder; killed when
/// dropped, also when the test fails.
struct TlsServer {
    server: PrivateMariaDb,
    port: u16,
}

impl TlsServer {
    /// Makes the certificates, initializes the grant tables, starts the server and creates
    /// the test users; `None` (after saying why) when a program is missing.
    fn start() -> Option<TlsServer> {
        for (program, missing) in [
            (MARIADBD, !Path::new(MARIADBD).exists()),
            ("mariadb-install-db", !runnable("mariadb-install-db")),
            ("openssl", !runnable("openssl")),
        ] {
            if missing {
                skip(&format!(
                    "`{program}` is missing; install MariaDB and OpenSSL (`bash .ci/services`)"
                ));
                return None;
            }
        }
        let server = PrivateMariaDb::start_with(|dir| {
            make_test_certificates(dir)?;
            let mut install = Command::new("mariadb-install-db");
            install
                .arg("--no-defaults")
                .arg(format!("--datadir={}", dir.join("data").display()))
                .args([
                    "--auth-root-authentication-method=normal",
                    "--skip-test-db",
                    "--skip-name-resolve",
                ]);
            if running_as_root() {
                install.arg("--user=root");
            }
            run(&mut install);
            let file = |name: &str| dir.join(name).display().to_string();
            Ok(MariaDbSetup {
                grant_tables: true,
                args: vec![
                    format!("--ssl-ca={}", file("ca.pem")),
                    format!("--ssl-cert={}", file("server.pem")),
                    format!("--ssl-key={}", file("server-key.pem")),
                ],
            })
        })
        .expect("the private mariadbd starts");
        let server = TlsServer {
            port: server.port(),
            server,
        };
        for statement in [
            format!("CREATE USER {TLS_USER}@'127.0.0.1' REQUIRE SSL"),
            format!("GRANT ALL ON *.* TO {TLS_USER}@'127.0.0.1'"),
            format!("CREATE USER {X509_USER}@'127.0.0.1' REQUIRE X509"),
            format!("GRANT ALL ON *.* TO {X509_USER}@'127.0.0.1'"),
        ] {
            server.as_root(&statement).expect("cannot create the users");
        }
        Some(server)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.server.dir().join(name)
    }

    /// Runs `statement` as `root` over plain TCP.
    fn as_root(&self, statement: &str) -> mysql_async::Result<()> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        runtime.block_on(async {
            let opts = mysql_async::OptsBuilder::default()
                .ip_or_hostname("127.0.0.1")
                .tcp_port(self.port)
                .user(Some("root"));
            let mut conn = mysql_async::Conn::new(opts).await?;
            let result = conn.query_drop(statement).await;
            let _closed = conn.disconnect().await;
            result
        })
    }

    /// A config for `username` with TLS (trusting the test CA), database `zenml_tls`.
    fn config(&self, username: &str) -> MysqlMetadataStoreConfig {
        MysqlMetadataStoreConfig {
            host: "127.0.0.1".to_owned(),
            port: self.port,
            username: username.to_owned(),
            database: "zenml_tls".to_owned(),
            password_env: None,
            password_file: None,
            password: None,
            pool_size: 2,
            connect_timeout_secs: 5,
            tls: true,
            tls_ca: Some(self.path("ca.pem")),
            tls_cert: None,
            tls_key: None,
            tls_verify: true,
        }
    }
}

/// The cipher of a connection made with the store's own options for `config`, empty when
/// the connection is not encrypted.
fn session_cipher(config: &MysqlMetadataStoreConfig, context: &ComponentContext) -> String {
    let opts = MysqlMetadataStore::connection_opts(config, context)
        .expect("cannot build the connection options");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("cannot build a runtime");
    runtime.block_on(async {
        let mut conn = mysql_async::Conn::new(opts)
            .await
            .expect("cannot connect with the store's options");
        let row: Option<(String, String)> = conn
            .query_first("SHOW SESSION STATUS LIKE 'Ssl_cipher'")
            .await
            .expect("cannot read Ssl_cipher");
        let _closed = conn.disconnect().await;
        row.map(|(_, cipher)| cipher).unwrap_or_default()
    })
}

fn open(
    config: &MysqlMetadataStoreConfig,
    context: &ComponentContext,
) -> Result<MysqlMetadataStore, MetadataStoreError> {
    MysqlMetadataStore::open(config, context)
}

#[test]
fn tls_connections_verify_the_server_and_present_client_certificates() {
    let Some(server) = TlsServer::start() else {
        return;
    };
    let context = ComponentContext::new(server.server.dir().to_path_buf());

    // (1) The test CA verifies the server: the store opens, over an encrypted session.
    let trusted = server.config(TLS_USER);
    let store = open(&trusted, &context).unwrap();
    assert_eq!(
        store.schema_version().unwrap(),
        zenml_metadata_store::schema::SCHEMA_VERSION
    );
    drop(store);
    let cipher = session_cipher(&trusted, &context);
    assert!(!cipher.is_empty(), "the session is not encrypted");
    // A relative path is resolved against the repository root.
    let relative = MysqlMetadataStoreConfig {
        tls_ca: Some("ca.pem".into()),
        ..server.config(TLS_USER)
    };
    open(&relative, &context).unwrap();

    // (2) The built-in roots do not know the test CA.
    let built_in_roots = MysqlMetadataStoreConfig {
        tls_ca: None,
        ..server.config(TLS_USER)
    };
    let err = open(&built_in_roots, &context).unwrap_err().to_string();
    assert!(
        err.contains("certificate") && err.contains("`tls_ca`"),
        "{err}"
    );

    // (3) Without verification any certificate is accepted, still encrypted.
    let unverified = MysqlMetadataStoreConfig {
        tls_verify: false,
        ..built_in_roots
    };
    open(&unverified, &context).unwrap();
    assert!(!session_cipher(&unverified, &context).is_empty());

    // (4) A user that requires TLS is refused over plain TCP.
    let plain = MysqlMetadataStoreConfig {
        tls: false,
        tls_ca: None,
        ..server.config(TLS_USER)
    };
    let err = open(&plain, &context).unwrap_err().to_string();
    assert!(
        err.contains("Access denied") && err.contains(TLS_USER),
        "{err}"
    );
    assert!(err.contains("set `tls = true`"), "{err}");

    // (5) A user that requires a client certificate connects with one only.
    let with_identity = MysqlMetadataStoreConfig {
        tls_cert: Some(server.path("client.pem")),
        tls_key: Some(server.path("client-key.pem")),
        ..server.config(X509_USER)
    };
    open(&with_identity, &context).unwrap();
    let err = open(&server.config(X509_USER), &context)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("Access denied") && err.contains(X509_USER),
        "{err}"
    );
}

#[test]
fn missing_tls_files_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let context = ComponentContext::new(dir.path().to_path_buf());
    let config = MysqlMetadataStoreConfig {
        host: "127.0.0.1".to_owned(),
        port: 1,
        username: "root".to_owned(),
        database: "zenml".to_owned(),
        password_env: None,
        password_file: None,
        password: None,
        pool_size: 1,
        connect_timeout_secs: 1,
        tls: true,
        tls_ca: Some("certs/missing-ca.pem".into()),
        tls_cert: None,
        tls_key: None,
        tls_verify: true,
    };
    let err = open(&config, &context).unwrap_err().to_string();
    assert!(
        err.contains("tls_ca") && err.contains("certs/missing-ca.pem"),
        "{err}"
    );

    std::fs::write(dir.path().join("ca.pem"), "not a certificate").unwrap();
    let not_pem = MysqlMetadataStoreConfig {
        tls_ca: Some("ca.pem".into()),
        ..config.clone()
    };
    let err = open(&not_pem, &context).unwrap_err().to_string();
    assert!(err.contains("ca.pem") && err.contains("PEM"), "{err}");

    std::fs::write(
        dir.path().join("client.pem"),
        "-----BEGIN CERTIFICATE-----\n",
    )
    .unwrap();
    let missing_key = MysqlMetadataStoreConfig {
        tls_ca: None,
        tls_cert: Some("client.pem".into()),
        tls_key: Some("client-key.pem".into()),
        ..config
    };
    let err = open(&missing_key, &context).unwrap_err().to_string();
    assert!(
        err.contains("tls_key") && err.contains("client-key.pem"),
        "{err}"
    );
}
