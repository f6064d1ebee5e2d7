//! The `postgres` store over TLS: a private server (`initdb` in a temporary folder) with a
//! certificate from a test CA made with the `openssl` command, accepting TLS connections
//! only, and a role that must present a client certificate; against it, each `sslmode`,
//! `sslrootcert`, and `sslcert` with `sslkey`.
//!
//! Without PostgreSQL's programs or `openssl` the tests say what is missing and pass, except
//! in CI (`CI=true`), where they fail.

use std::path::PathBuf;

use tokio_postgres::NoTls;
use zenml_core::ComponentContext;
use zenml_metadata_store::{MetadataStore, MetadataStoreError};
use zenml_postgres::{PostgresMetadataStore, PostgresMetadataStoreConfig, SslMode};
use zenml_testkit::certificates::{make_test_certificates, openssl_available};
use zenml_testkit::metadata_store as conformance;
use zenml_testkit::postgres::{PostgresSetup, PrivatePostgres, postgres_bin};

/// The role that must present a client certificate signed by the test CA.
const CERT_ROLE: &str = "zen_cert";

/// A private server that accepts TLS connections only, with the test CA's certificates.
struct TlsServer {
    server: PrivatePostgres,
}

impl TlsServer {
    /// `None` (after saying why) when a program is missing.
    fn start(test: &str) -> Option<TlsServer> {
        if postgres_bin().is_none() || !openssl_available() {
            let advice = format!(
                "{test}: PostgreSQL's programs or `openssl` are missing; install them with \
                 `bash .ci/services`"
            );
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "{advice}; under CI=true this test cannot be skipped"
            );
            eprintln!("skipped: {advice}");
            return None;
        }
        let server = PrivatePostgres::start_with(|dir| {
            make_test_certificates(dir)?;
            let file = |name: &str| dir.join(name).display().to_string();
            Ok(PostgresSetup {
                settings: vec![
                    // 127.0.0.2 is a name the server's certificate does not hold.
                    "listen_addresses = '127.0.0.1,127.0.0.2'".to_owned(),
                    "ssl = on".to_owned(),
                    format!("ssl_cert_file = '{}'", file("server.pem")),
                    format!("ssl_key_file = '{}'", file("server-key.pem")),
                    format!("ssl_ca_file = '{}'", file("ca.pem")),
                ],
                hba: vec![
                    "local all all trust".to_owned(),
                    format!("hostssl all {CERT_ROLE} 127.0.0.0/8 trust clientcert=verify-ca"),
                    "hostssl all all 127.0.0.0/8 trust".to_owned(),
                ],
            })
        })
        .unwrap_or_else(|e| panic!("{test}: {e}"));
        let tls = TlsServer { server };
        tls.admin(&format!("CREATE ROLE {CERT_ROLE} LOGIN CREATEDB"));
        Some(tls)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.server.dir().join(name)
    }

    /// Runs `sql` as `postgres` over the server's Unix socket.
    fn admin(&self, sql: &str) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("cannot build a runtime");
        runtime
            .block_on(async {
                let mut config = tokio_postgres::Config::new();
                config
                    .host_path(self.server.dir())
                    .port(self.server.port())
                    .user("postgres")
                    .dbname("postgres");
                let (client, connection) = config.connect(NoTls).await?;
                let driver = tokio::spawn(connection);
                let result = client.batch_execute(sql).await;
                drop(client);
                let _ended = driver.await;
                result
            })
            .expect("the administrator's statement failed");
    }

    fn config(&self, host: &str, sslmode: SslMode) -> PostgresMetadataStoreConfig {
        PostgresMetadataStoreConfig {
            sslmode,
            connect_timeout_secs: 5,
            ..serde_json::from_value(serde_json::json!({
                "host": host,
                "port": self.server.port(),
                "database": "zenml_tls",
            }))
            .expect("a valid configuration")
        }
    }

    fn open(
        &self,
        config: &PostgresMetadataStoreConfig,
    ) -> Result<PostgresMetadataStore, MetadataStoreError> {
        PostgresMetadataStore::open(config, &ComponentContext::new(std::env::temp_dir()))
    }
}

#[test]
fn verify_full_with_the_ca_connects_and_plain_tcp_is_refused() {
    let Some(tls) = TlsServer::start("verify_full_with_the_ca_connects") else {
        return;
    };
    let verified = PostgresMetadataStoreConfig {
        sslrootcert: Some(tls.path("ca.pem")),
        ..tls.config("127.0.0.1", SslMode::VerifyFull)
    };
    let store = tls.open(&verified).unwrap();
    conformance::check_store(&store);

    // The server has no rule for connections without TLS.
    let err = tls
        .open(&tls.config("127.0.0.1", SslMode::Disable))
        .unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, MetadataStoreError::Connect { .. }), "{err:?}");
    assert!(text.contains("no encryption"), "{text}");

    // `require` encrypts without verifying.
    let store = tls
        .open(&tls.config("127.0.0.1", SslMode::Require))
        .unwrap();
    assert!(store.list_pipelines().is_ok());
}

#[test]
fn a_server_the_roots_do_not_vouch_for_is_refused_with_a_hint() {
    let Some(tls) = TlsServer::start("a_server_the_roots_do_not_vouch_for_is_refused") else {
        return;
    };
    // The built-in roots know nothing of the test CA.
    let err = tls
        .open(&tls.config("127.0.0.1", SslMode::VerifyFull))
        .unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, MetadataStoreError::Connect { .. }), "{err:?}");
    assert!(text.contains("sslrootcert"), "{text}");
}

#[test]
fn verify_ca_accepts_a_certificate_for_another_name_and_verify_full_does_not() {
    let Some(tls) = TlsServer::start("verify_ca_and_verify_full") else {
        return;
    };
    // The certificate names 127.0.0.1 and localhost, not 127.0.0.2.
    let full = PostgresMetadataStoreConfig {
        sslrootcert: Some(tls.path("ca.pem")),
        ..tls.config("127.0.0.2", SslMode::VerifyFull)
    };
    let err = tls.open(&full).unwrap_err();
    assert!(matches!(err, MetadataStoreError::Connect { .. }), "{err:?}");
    let ca_only = PostgresMetadataStoreConfig {
        sslmode: SslMode::VerifyCa,
        ..full
    };
    let store = tls.open(&ca_only).unwrap();
    assert!(store.list_pipelines().is_ok());
}

#[test]
fn a_role_that_needs_a_client_certificate_gets_it_from_sslcert() {
    let Some(tls) = TlsServer::start("a_role_that_needs_a_client_certificate") else {
        return;
    };
    let without = PostgresMetadataStoreConfig {
        username: CERT_ROLE.to_owned(),
        sslrootcert: Some(tls.path("ca.pem")),
        ..tls.config("127.0.0.1", SslMode::VerifyFull)
    };
    let err = tls.open(&without).unwrap_err();
    assert!(matches!(err, MetadataStoreError::Connect { .. }), "{err:?}");
    assert!(err.to_string().contains("certificate"), "{err}");

    let with = PostgresMetadataStoreConfig {
        sslcert: Some(tls.path("client.pem")),
        sslkey: Some(tls.path("client-key.pem")),
        ..without
    };
    let store = tls.open(&with).unwrap();
    conformance::check_store(&store);
}
