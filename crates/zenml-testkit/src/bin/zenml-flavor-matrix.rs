//! Runs every flavor linked into the `zenml` facade (with `mysql`, `postgres`, `s3`, `gcs`,
//! `azure` and `slurm`) against its kind's
//! conformance suite, plus the materializer suite once, and prints the flavor matrix and a
//! machine-readable summary (the last line, `summary: {json}`).
//!
//! Run it through `cargo xtask test-flavors`, which finds or starts MariaDB and passes it in
//! `ZENML_TEST_MYSQL_HOST`, `ZENML_TEST_MYSQL_PORT`, `ZENML_TEST_MYSQL_USER` and
//! `ZENML_TEST_MYSQL_PASSWORD` (or the reason there is none in `ZENML_TEST_MYSQL_SKIP`).
//! Without them it tries 127.0.0.1:3306 as `root` without a password. The postgres flavor
//! runs against the server in `ZENML_TEST_POSTGRES_HOST`, `_PORT`, `_USER` and `_PASSWORD`,
//! by default 127.0.0.1:5432 as `postgres` without a password (as `.ci/services` starts
//! it). The bucket flavors run against the local test servers of
//! [`zenml_testkit::services`].
//!
//! Exits with 1 when a check failed, and under `CI=true` also when one was skipped. A
//! flavor this runner has no test configuration for is skipped with that reason, so a new
//! flavor cannot pass unnoticed.

use std::net::{TcpStream, ToSocketAddrs};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use mysql_async::prelude::Queryable;
use serde::de::DeserializeOwned;
use zenml::artifact_store::ArtifactStoreFlavor;
use zenml::core::{ComponentContext, ComponentKind, FlavorDescription, FlavorRegistry};
use zenml::metadata_store::{MetadataStore, MetadataStoreFlavor};
use zenml::orchestrator::OrchestratorFlavor;
use zenml_testkit::matrix::{Matrix, RowResult};
use zenml_testkit::services::{self, AZURITE, GCS, S3, SLURM, Service};
use zenml_testkit::{artifact_store, materializer, metadata_store, orchestrator};

/// The reason for a flavor without a test configuration here.
const NO_CONFIGURATION: &str = "no test configuration for this flavor";

/// The environment variable that holds the MySQL password, if any.
const PASSWORD_ENV: &str = "ZENML_TEST_MYSQL_PASSWORD";

fn main() -> ExitCode {
    zenml_testkit::matrix::quiet_intended_panics();
    let strict = std::env::var("CI").as_deref() == Ok("true");
    let crates = zenml::linked_flavor_crates();
    println!("flavor crates linked: {}", crates.join(", "));
    let registry = match FlavorRegistry::global() {
        Ok(registry) => registry,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };

    let mut matrix = Matrix::default();
    for kind in ComponentKind::STACK_KINDS {
        for flavor in registry.flavors(kind) {
            eprintln!(
                "testing {kind} flavor `{}` ({})",
                flavor.name, flavor.source
            );
            let result = test_flavor(flavor);
            matrix.push(kind.cli_name(), flavor.name, flavor.source, result);
        }
    }
    eprintln!("testing the registered materializers");
    matrix.push(
        materializer::SUITE,
        "registered",
        "(every linked crate)",
        RowResult::Ran(materializer::run_all()),
    );

    println!();
    print!("{}", matrix.render());
    let verdict = matrix.verdict(strict);
    println!("summary: {}", matrix.to_json(strict));
    match verdict {
        Ok(()) => ExitCode::SUCCESS,
        Err(reason) => {
            eprintln!("error: {reason}");
            ExitCode::FAILURE
        }
    }
}

/// The test configuration of a flavor that needs a local test service (which
/// `.ci/services` starts), and that service: the bucket flavors (below a fresh prefix) and
/// the `slurm` orchestrator; `None` for other flavors.
fn service_table(flavor: &FlavorDescription) -> Option<(Service, toml::Table)> {
    if (flavor.kind, flavor.name) == (ComponentKind::Orchestrator, "slurm") {
        let mut table = table(&[
            ("partition", SLURM.bucket.into()),
            ("slurm_conf", path_value(&services::slurm_conf())),
            ("poll_interval_ms", toml::Value::Integer(50)),
        ]);
        table.insert("flavor".to_owned(), flavor.name.into());
        return Some((SLURM, table));
    }
    if flavor.kind != ComponentKind::ArtifactStore {
        return None;
    }
    let prefix = services::fresh_prefix("flavor-matrix");
    let (service, entries): (_, Vec<(&str, toml::Value)>) = match flavor.name {
        "s3" => (
            S3,
            vec![
                ("path", format!("s3://{}/{prefix}", S3.bucket).into()),
                ("endpoint", S3.url.into()),
                ("allow_http", true.into()),
                ("region", "us-east-1".into()),
                // moto checks no signature; the keys only have to be there.
                ("access_key_id", "testing".into()),
                ("secret_access_key", "testing".into()),
            ],
        ),
        "gcs" => (
            GCS,
            vec![
                ("path", format!("gs://{}/{prefix}", GCS.bucket).into()),
                ("base_url", GCS.url.into()),
                ("allow_http", true.into()),
                ("anonymous", true.into()),
            ],
        ),
        "azure" => (
            AZURITE,
            vec![
                ("path", format!("az://{}/{prefix}", AZURITE.bucket).into()),
                ("use_emulator", true.into()),
            ],
        ),
        _ => return None,
    };
    let mut table = table(&entries);
    table.insert("max_retries".to_owned(), toml::Value::Integer(2));
    table.insert("retry_timeout_secs".to_owned(), toml::Value::Integer(10));
    table.insert("flavor".to_owned(), flavor.name.into());
    Some((service, table))
}

/// Opens `flavor` from its test configuration and runs its kind's suite.
fn test_flavor(flavor: &FlavorDescription) -> RowResult {
    let scratch = match tempfile::tempdir() {
        Ok(dir) => dir,
        Err(e) => return RowResult::Failed(format!("cannot create a temporary folder: {e}")),
    };
    let context = ComponentContext::new(scratch.path());
    if (flavor.kind, flavor.name) == (ComponentKind::MetadataStore, "mysql") {
        return test_mysql(flavor, &context);
    }
    if (flavor.kind, flavor.name) == (ComponentKind::MetadataStore, "postgres") {
        return test_postgres(flavor, &context);
    }
    let table = match service_table(flavor) {
        Some((service, table)) => match service.unavailable_reason() {
            Some(reason) => return RowResult::Skipped(reason),
            None => Some(table),
        },
        None => test_table(flavor, scratch.path()),
    };
    let Some(table) = table else {
        return RowResult::Skipped(NO_CONFIGURATION.to_owned());
    };
    match flavor.kind {
        ComponentKind::ArtifactStore => {
            match configure::<Box<dyn ArtifactStoreFlavor>>(flavor, table) {
                Ok(config) => match config.open(&context) {
                    Ok(store) => RowResult::Ran(artifact_store::run_all(store.as_ref())),
                    Err(e) => RowResult::Failed(format!("cannot open: {e}")),
                },
                Err(reason) => RowResult::Failed(reason),
            }
        }
        ComponentKind::MetadataStore => {
            match configure::<Box<dyn MetadataStoreFlavor>>(flavor, table) {
                Ok(config) => run_metadata_suite(config.as_ref(), &context),
                Err(reason) => RowResult::Failed(reason),
            }
        }
        ComponentKind::Orchestrator => {
            match configure::<Box<dyn OrchestratorFlavor>>(flavor, table) {
                Ok(config) => match config.open(&context) {
                    Ok(orchestrator) => {
                        RowResult::Ran(orchestrator::run_all(orchestrator.as_ref()))
                    }
                    Err(e) => RowResult::Failed(format!("cannot open: {e}")),
                },
                Err(reason) => RowResult::Failed(reason),
            }
        }
        _ => RowResult::Skipped(NO_CONFIGURATION.to_owned()),
    }
}

/// The test configuration of a flavor that needs no outside service, with files below
/// `scratch`; `None` for a flavor this runner does not know.
fn test_table(flavor: &FlavorDescription, scratch: &Path) -> Option<toml::Table> {
    let entries: Vec<(&str, toml::Value)> = match (flavor.kind, flavor.name) {
        (ComponentKind::ArtifactStore, "local") => {
            vec![("path", path_value(&scratch.join("artifacts")))]
        }
        (ComponentKind::MetadataStore, "sqlite") => {
            vec![("path", path_value(&scratch.join("metadata.db")))]
        }
        // Two parallel steps, as the parallel check needs.
        (ComponentKind::Orchestrator, "local" | "process") => {
            vec![("max_parallelism", toml::Value::Integer(2))]
        }
        _ => return None,
    };
    let mut table = table(&entries);
    table.insert("flavor".to_owned(), flavor.name.into());
    Some(table)
}

/// Runs the metadata store suite on stores opened from `config`, a new one per call.
fn run_metadata_suite(config: &dyn MetadataStoreFlavor, context: &ComponentContext) -> RowResult {
    // Open once outside the suite, so that a store that cannot open is one clear failure.
    if let Err(e) = config.open(context) {
        return RowResult::Failed(format!("cannot open: {e}"));
    }
    let open = || -> Arc<dyn MetadataStore> {
        match config.open(context) {
            Ok(store) => Arc::from(store),
            Err(e) => panic!("cannot open the store again: {e}"),
        }
    };
    RowResult::Ran(metadata_store::run_all(&open))
}

/// Checks a test configuration against the flavor's declared fields, as `zenml` does
/// before it stores one, and deserializes it into the flavor's config type.
fn configure<T: DeserializeOwned>(
    flavor: &FlavorDescription,
    table: toml::Table,
) -> Result<T, String> {
    let mut fields = table.clone();
    fields.remove("flavor");
    flavor
        .check_table(&fields)
        .map_err(|e| format!("the test configuration is refused: {e}"))?;
    toml::Value::Table(table)
        .try_into()
        .map_err(|e: toml::de::Error| format!("the test configuration does not load: {e}"))
}

fn table(entries: &[(&str, toml::Value)]) -> toml::Table {
    entries
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect()
}

fn path_value(path: &Path) -> toml::Value {
    toml::Value::String(path.display().to_string())
}

// ----- mysql --------------------------------------------------------------------------------

/// Where the MySQL server is, from the environment `cargo xtask test-flavors` sets.
struct Server {
    host: String,
    port: u16,
    user: String,
    password: Option<String>,
}

impl Server {
    /// The server to test against, or why there is none.
    fn from_env() -> Result<Server, String> {
        if let Ok(reason) = std::env::var("ZENML_TEST_MYSQL_SKIP") {
            return Err(reason);
        }
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let explicit = var("ZENML_TEST_MYSQL_HOST").is_some();
        let port = match var("ZENML_TEST_MYSQL_PORT") {
            Some(text) => text
                .parse()
                .map_err(|_| format!("ZENML_TEST_MYSQL_PORT `{text}` is not a port number"))?,
            None => 3306,
        };
        let server = Server {
            host: var("ZENML_TEST_MYSQL_HOST").unwrap_or_else(|| "127.0.0.1".to_owned()),
            port,
            user: var("ZENML_TEST_MYSQL_USER").unwrap_or_else(|| "root".to_owned()),
            password: var(PASSWORD_ENV),
        };
        let reachable = (server.host.as_str(), server.port)
            .to_socket_addrs()
            .ok()
            .and_then(|mut addresses| addresses.next())
            .is_some_and(|address| {
                TcpStream::connect_timeout(&address, Duration::from_secs(2)).is_ok()
            });
        if reachable {
            Ok(server)
        } else if explicit {
            Err(format!(
                "no MySQL/MariaDB server at {}:{} (from ZENML_TEST_MYSQL_HOST/PORT)",
                server.host, server.port
            ))
        } else {
            Err(format!(
                "no MySQL/MariaDB server on 127.0.0.1:{}; run `cargo xtask test-flavors` \
                 (which starts a private MariaDB when mariadbd is installed) or `bash .ci/services`",
                server.port
            ))
        }
    }

    /// Runs `statement` on the server, without a database selected.
    fn execute(&self, statement: String) -> Result<(), String> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start a runtime: {e}"))?;
        runtime.block_on(async {
            let opts = mysql_async::OptsBuilder::default()
                .ip_or_hostname(self.host.clone())
                .tcp_port(self.port)
                .user(Some(self.user.clone()))
                .pass(self.password.clone());
            let mut conn = mysql_async::Conn::new(opts)
                .await
                .map_err(|e| format!("cannot connect to {}:{}: {e}", self.host, self.port))?;
            let result = conn
                .query_drop(&statement)
                .await
                .map_err(|e| format!("`{statement}` failed: {e}"));
            let _ignored = conn.disconnect().await;
            result
        })
    }
}

/// The mysql flavor on a fresh database of its own, dropped afterwards.
fn test_mysql(flavor: &FlavorDescription, context: &ComponentContext) -> RowResult {
    let server = match Server::from_env() {
        Ok(server) => server,
        Err(reason) => return RowResult::Skipped(reason),
    };
    let stamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let database = format!("zenml_flavor_matrix_{}_{stamp}", std::process::id());
    let drop_database = format!("DROP DATABASE IF EXISTS `{database}`");
    if let Err(e) = server.execute(drop_database.clone()) {
        return RowResult::Failed(e);
    }
    let mut entries = vec![
        ("flavor", flavor.name.into()),
        ("host", server.host.clone().into()),
        ("port", toml::Value::Integer(i64::from(server.port))),
        ("username", server.user.clone().into()),
        ("database", database.clone().into()),
        ("pool_size", toml::Value::Integer(4)),
    ];
    if server.password.is_some() {
        entries.push(("password_env", PASSWORD_ENV.into()));
    }
    let result = match configure::<Box<dyn MetadataStoreFlavor>>(flavor, table(&entries)) {
        Ok(config) => run_metadata_suite(config.as_ref(), context),
        Err(reason) => RowResult::Failed(reason),
    };
    if let Err(e) = server.execute(drop_database) {
        eprintln!("warning: cannot drop the test database `{database}`: {e}");
    }
    result
}

// ----- postgres -----------------------------------------------------------------------------

/// The environment variable that holds the PostgreSQL password, if any.
const POSTGRES_PASSWORD_ENV: &str = "ZENML_TEST_POSTGRES_PASSWORD";

/// The postgres flavor on a fresh database of its own (which the store creates), dropped
/// afterwards.
fn test_postgres(flavor: &FlavorDescription, context: &ComponentContext) -> RowResult {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    if let Some(reason) = var("ZENML_TEST_POSTGRES_SKIP") {
        return RowResult::Skipped(reason);
    }
    let host = var("ZENML_TEST_POSTGRES_HOST").unwrap_or_else(|| "127.0.0.1".to_owned());
    let port: u16 = match var("ZENML_TEST_POSTGRES_PORT").map(|p| p.parse()) {
        None => 5432,
        Some(Ok(port)) => port,
        Some(Err(_)) => {
            return RowResult::Failed("ZENML_TEST_POSTGRES_PORT is not a port number".to_owned());
        }
    };
    let user = var("ZENML_TEST_POSTGRES_USER").unwrap_or_else(|| "postgres".to_owned());
    let reachable = (host.as_str(), port)
        .to_socket_addrs()
        .ok()
        .and_then(|mut addresses| addresses.next())
        .is_some_and(|address| {
            TcpStream::connect_timeout(&address, Duration::from_secs(2)).is_ok()
        });
    if !reachable {
        return RowResult::Skipped(format!(
            "no PostgreSQL server on {host}:{port}; start it with `bash .ci/services` (or name \
             one in ZENML_TEST_POSTGRES_HOST/PORT/USER/PASSWORD)"
        ));
    }
    let stamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let database = format!("zenml_flavor_matrix_{}_{stamp}", std::process::id());
    let mut entries = vec![
        ("flavor", flavor.name.into()),
        ("host", host.clone().into()),
        ("port", toml::Value::Integer(i64::from(port))),
        ("username", user.clone().into()),
        ("database", database.clone().into()),
        ("pool_size", toml::Value::Integer(4)),
    ];
    if var(POSTGRES_PASSWORD_ENV).is_some() {
        entries.push(("password_env", POSTGRES_PASSWORD_ENV.into()));
    }
    let result = match configure::<Box<dyn MetadataStoreFlavor>>(flavor, table(&entries)) {
        Ok(config) => run_metadata_suite(config.as_ref(), context),
        Err(reason) => RowResult::Failed(reason),
    };
    let mut admin = tokio_postgres::Config::new();
    admin.host(&host).port(port).user(&user).dbname("postgres");
    if let Some(password) = var(POSTGRES_PASSWORD_ENV) {
        admin.password(password);
    }
    let drop_database = format!("DROP DATABASE IF EXISTS \"{database}\" WITH (FORCE)");
    if let Err(e) = postgres_execute(&admin, &drop_database) {
        eprintln!("warning: cannot drop the test database `{database}`: {e}");
    }
    result
}

/// Runs `statement` on a connection of its own (plain TCP).
fn postgres_execute(config: &tokio_postgres::Config, statement: &str) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start a runtime: {e}"))?;
    runtime.block_on(async {
        let (client, connection) = config
            .connect(tokio_postgres::NoTls)
            .await
            .map_err(|e| format!("cannot connect: {e}"))?;
        let driver = tokio::spawn(connection);
        let result = client
            .batch_execute(statement)
            .await
            .map_err(|e| format!("`{statement}` failed: {e}"));
        drop(client);
        let _ended = driver.await;
        result
    })
}

#[cfg(test)]
mod tests {
    use zenml::core::ConfigError;

    use super::*;

    fn accept(_: &toml::Table) -> Result<(), ConfigError> {
        Ok(())
    }

    #[test]
    fn a_flavor_without_a_test_configuration_is_skipped_saying_so() {
        let unknown: &'static FlavorDescription = Box::leak(Box::new(FlavorDescription {
            kind: ComponentKind::ArtifactStore,
            name: "acme.s3",
            description: "a flavor the runner does not know",
            source: "acme-s3",
            example: "",
            fields: &[],
            schemes: &[],
            check: accept,
        }));
        assert_eq!(
            test_flavor(unknown),
            RowResult::Skipped("no test configuration for this flavor".to_owned())
        );
    }

    #[test]
    fn every_linked_flavor_but_the_servers_has_a_test_configuration_its_flavor_accepts() {
        let _linked = zenml::linked_flavor_crates();
        let registry = FlavorRegistry::global().unwrap();
        let scratch = tempfile::tempdir().unwrap();
        let mut configured = Vec::new();
        for kind in ComponentKind::STACK_KINDS {
            for flavor in registry.flavors(kind) {
                if ["mysql", "postgres"].contains(&flavor.name) {
                    continue;
                }
                let table = service_table(flavor)
                    .map(|(_, table)| table)
                    .or_else(|| test_table(flavor, scratch.path()))
                    .unwrap_or_else(|| {
                        panic!("no test configuration for {kind} `{}`", flavor.name)
                    });
                let mut fields = table.clone();
                fields.remove("flavor");
                flavor.check_table(&fields).unwrap();
                configured.push(format!("{kind}/{}", flavor.name));
            }
        }
        assert_eq!(
            configured,
            [
                "orchestrator/local",
                "orchestrator/process",
                "orchestrator/slurm",
                "metadata-store/sqlite",
                "artifact-store/azure",
                "artifact-store/gcs",
                "artifact-store/local",
                "artifact-store/s3",
            ]
        );
    }
}
