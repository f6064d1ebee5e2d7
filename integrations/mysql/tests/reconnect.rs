//! The `mysql` store when its connections break: killed by an administrator between two
//! operations or in the middle of them, and a server restart. Every operation after a break
//! succeeds on a fresh connection, and a step run is recorded whole or not at all.
//!
//! The kill tests use MariaDB (or MySQL) on 127.0.0.1:3306, user `root` with an empty
//! password, and kill only the connections to their own database. The restart test starts a
//! private `mariadbd` on a free port in a temporary folder, so that it disturbs no one else.
//! Without a server (or without `/usr/sbin/mariadbd`) the tests say what is missing and
//! pass, except in CI (`CI=true`), where they fail.

use std::collections::BTreeSet;
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;
use serde_json::json;
use zenml_core::ComponentContext;
use zenml_metadata_store::{
    ArtifactRecord, MetadataStore, MetadataStoreError, NewRun, StepRunRecord, StepRunWrite,
    StepStatus,
};
use zenml_mysql::{MysqlMetadataStore, MysqlMetadataStoreConfig};
use zenml_testkit::mariadb::PrivateMariaDb;

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

/// A fresh id of at most 36 characters.
fn new_id(kind: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!(
        "{kind}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

fn now() -> i64 {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("the clock is after 1970");
    i64::try_from(since_epoch.as_millis()).expect("a time in range")
}

/// Records a new run and returns its id.
fn new_run(store: &dyn MetadataStore) -> String {
    let id = new_id("run");
    store
        .create_run(&NewRun {
            id: id.clone(),
            pipeline_name: "reconnect".to_owned(),
            name: id.clone(),
            started_at: now(),
            config: json!({}),
            stack: json!({}),
            spec: serde_json::Value::Null,
            lease_expires_at: None,
        })
        .expect("cannot create the run");
    id
}

/// A completed step run of `run_id` with three new output artifacts.
fn step_with_three_outputs(run_id: &str, n: usize) -> StepRunWrite {
    let step_id = new_id("step");
    let at = now();
    let new_outputs = (0..3)
        .map(|i| {
            let id = new_id("artifact");
            ArtifactRecord {
                uri: format!("file:///tmp/artifacts/{id}"),
                artifact_store_uri: "file:///tmp/artifacts".to_owned(),
                path: id.clone(),
                id,
                rust_type: "u64".to_owned(),
                materializer_id: "zenml.json".to_owned(),
                materializer_version: 1,
                content_hash: format!("{i:064x}"),
                size: 8,
                producer_step_run_id: step_id.clone(),
                output_name: format!("output_{i}"),
                created_at: at,
            }
        })
        .collect();
    StepRunWrite {
        step: StepRunRecord {
            id: step_id,
            run_id: run_id.to_owned(),
            name: format!("step_{n}"),
            status: StepStatus::Completed,
            started_at: at,
            ended_at: at,
            code_hash: "code".to_owned(),
            cache_key: None,
            parameters: json!({ "n": n }),
            error: None,
            original_step_run_id: None,
            cache_invalidated_at: None,
            attempt: 1,
        },
        inputs: Vec::new(),
        new_outputs,
        reused_outputs: Vec::new(),
        metadata: Vec::new(),
    }
}

/// Asserts that every step run recorded for `run_id` has its three outputs, and returns the
/// ids of the recorded step runs.
fn assert_whole_step_runs(store: &dyn MetadataStore, run_id: &str) -> BTreeSet<String> {
    let mut recorded = BTreeSet::new();
    for step in store.step_runs(run_id).expect("cannot list step runs") {
        let outputs = store.step_outputs(&step.id).expect("cannot list outputs");
        assert_eq!(outputs.len(), 3, "step run {} is recorded in part", step.id);
        for (name, artifact) in outputs {
            assert_eq!(artifact.producer_step_run_id, step.id);
            assert_eq!(artifact.output_name, name);
        }
        recorded.insert(step.id);
    }
    recorded
}

#[test]
fn operations_after_the_connections_were_killed_succeed() {
    if !server_available() {
        return;
    }
    let database = TestDatabase::new(PORT);
    let store = open(PORT, &database.name);
    let run_id = new_run(&store);
    assert!(
        kill_connections(PORT, &database.name) > 0,
        "nothing to kill"
    );

    // A write on a killed connection is run again on a fresh one.
    let write = step_with_three_outputs(&run_id, 0);
    store.record_step_run(&write).unwrap();
    assert!(kill_connections(PORT, &database.name) > 0);
    // So is a read.
    let steps = store.step_runs(&run_id).unwrap();
    assert_eq!(steps.len(), 1);
    assert!(kill_connections(PORT, &database.name) > 0);
    store
        .record_step_run(&step_with_three_outputs(&run_id, 1))
        .unwrap();
    assert_eq!(assert_whole_step_runs(&store, &run_id).len(), 2);
    // Reopening finds the schema and the records.
    drop(store);
    let store = open(PORT, &database.name);
    assert_eq!(assert_whole_step_runs(&store, &run_id).len(), 2);
}

#[test]
fn connections_killed_while_recording_never_leave_half_a_step_run() {
    if !server_available() {
        return;
    }
    let database = TestDatabase::new(PORT);
    let store = open(PORT, &database.name);
    let run_id = new_run(&store);
    let stop = AtomicBool::new(false);
    let kills = AtomicUsize::new(0);
    let calls = 60;
    let (succeeded, failed) = std::thread::scope(|scope| {
        scope.spawn(|| {
            while !stop.load(Ordering::Relaxed) {
                kills.fetch_add(kill_connections(PORT, &database.name), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(15));
            }
        });
        let mut succeeded = BTreeSet::new();
        let mut failed = Vec::new();
        for n in 0..calls {
            let write = step_with_three_outputs(&run_id, n);
            match store.record_step_run(&write) {
                Ok(()) => {
                    succeeded.insert(write.step.id);
                }
                Err(e) => failed.push((write.step.id, e)),
            }
        }
        stop.store(true, Ordering::Relaxed);
        (succeeded, failed)
    });
    let kills = kills.into_inner();
    eprintln!(
        "{} of {calls} calls succeeded, {} failed, {kills} connections killed",
        succeeded.len(),
        failed.len()
    );
    for (_, error) in &failed {
        eprintln!("failed: {error}");
    }
    assert!(kills > 0, "the killer killed nothing");

    let recorded = assert_whole_step_runs(&store, &run_id);
    assert!(
        succeeded.is_subset(&recorded),
        "a step run reported as recorded is missing"
    );
    for (id, _) in &failed {
        // A failed call recorded nothing, unless it was committed before its connection
        // died; then it is whole (checked above).
        if recorded.contains(id) {
            eprintln!("step run {id} was reported as failed but recorded whole");
        }
    }
    // The retries keep the killing from reaching the caller.
    assert!(failed.is_empty(), "{} calls failed", failed.len());
}

#[test]
fn operations_after_a_server_restart_succeed() {
    let Some(mut server) = PrivateMariaDb::for_test("server restart") else {
        return;
    };
    let store = open(server.port(), "zenml_restart");
    let run_id = new_run(&store);
    store
        .record_step_run(&step_with_three_outputs(&run_id, 0))
        .unwrap();

    // Down and up again between two operations.
    server.stop().unwrap();
    server.launch().unwrap();
    store
        .record_step_run(&step_with_three_outputs(&run_id, 1))
        .unwrap();
    assert_eq!(assert_whole_step_runs(&store, &run_id).len(), 2);

    // Down while an operation starts: it is refused, retried, and succeeds once the server
    // is back (within the connect timeout). The server comes back only once the store has
    // seen it gone and is retrying.
    server.stop().unwrap();
    let before = store.lost_connections();
    std::thread::scope(|scope| {
        let writer = scope.spawn(|| store.record_step_run(&step_with_three_outputs(&run_id, 2)));
        let deadline = Instant::now() + Duration::from_secs(60);
        while store.lost_connections() == before {
            assert!(!writer.is_finished(), "the write ended without retrying");
            assert!(Instant::now() < deadline, "the write never retried");
            std::thread::yield_now();
        }
        server.launch().unwrap();
        writer.join().unwrap().unwrap();
    });
    assert!(store.lost_connections() > before);
    assert_eq!(assert_whole_step_runs(&store, &run_id).len(), 3);
    assert_eq!(store.list_runs(None).unwrap().len(), 1);
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
    let run_id = new_run(&store);
    server.stop().unwrap();
    let started = Instant::now();
    // On a thread, so that a write that never gives up fails the test instead of stalling
    // it; how long the budget is, is the unit tests' business (they count attempts).
    let (done, result) = std::sync::mpsc::channel();
    let err = std::thread::scope(|scope| {
        scope.spawn(|| {
            let _ = done.send(store.record_step_run(&step_with_three_outputs(&run_id, 0)));
        });
        result
            .recv_timeout(Duration::from_secs(120))
            .expect("the write never gives up on a server that stays down")
            .unwrap_err()
    });
    assert!(
        matches!(
            err,
            MetadataStoreError::Connect { .. } | MetadataStoreError::Backend { .. }
        ),
        "{err:?}"
    );
    assert!(
        store.lost_connections() >= 1,
        "it tried again before giving up"
    );
    // It kept trying for a good part of its 2 s budget: a lower bound, which sleeps guarantee.
    assert!(started.elapsed() >= Duration::from_millis(1000));
}
