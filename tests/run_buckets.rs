//! Pipelines on bucket artifact stores, as a team uses them: the training example on mysql
//! metadata and s3 artifacts (a second run fully cached, artifacts described and loaded back
//! through the Client), two colleagues' repositories sharing one database and one bucket
//! (each gets the other's cache hits and loads the other's artifacts), pruning a bucket,
//! `zenml stack check` finding a missing bucket and a wrong credential before any run, and a
//! run whose bucket goes away (through a fault proxy) failing cleanly.
//!
//! The servers are the real local ones `.ci/services` starts: MariaDB on 127.0.0.1:3306,
//! moto (S3) on 127.0.0.1:5000, Azurite on 127.0.0.1:10000. Each test uses its own database
//! and its own bucket prefix. Without a server the tests say how to start it and return
//! early, except under `CI=true`.

use std::collections::BTreeSet;

use serde_json::Value;
use zenml::prelude::Client;
use zenml::stack::Repository;
use zenml_e2e::{Cmd, TestDatabase, Zenml, mariadb_available, strings};
use zenml_testkit::fault_proxy::{Fault, FaultProxy};
use zenml_testkit::services::{AZURITE, S3, fresh_prefix};

/// `zenml ARGS`.
fn zenml(zen: &Zenml, args: &[&str]) -> Cmd {
    zen.cmd(args)
}

/// The example `name`.
fn example(zen: &Zenml, name: &str, args: &[&str]) -> Cmd {
    zen.example(name, args)
}

/// Whether MariaDB and the S3 server are both up (see the module docs).
fn services_up(test: &str) -> bool {
    mariadb_available(test) && S3.available_for(test)
}

/// A repository whose active stack records in `db` (as root, whose password is empty, so
/// that the Client of this test process needs no password either) and keeps artifacts in the
/// test bucket below `prefix`. The S3 keys are literal secrets: they go to the secrets file.
fn team_repository(db: &TestDatabase, prefix: &str) -> Zenml {
    let zen = Zenml::init();
    zen.ok(&[
        "config",
        "metadata",
        "set",
        "mysql",
        "--host",
        "127.0.0.1",
        "--username",
        "root",
        "--database",
        db.name(),
    ]);
    zen.set_s3_artifacts(prefix, "s3-secret-of-the-team");
    zenml(&zen, &["stack", "check"])
        .ok()
        .stdout_has(&[&format!("s3://{}/{prefix} (reachable)", S3.bucket)]);
    zen
}

/// The artifacts of `run`'s step `step`, from `step describe --output json`.
fn outputs(zen: &Zenml, run: &str, step: &str) -> Vec<Value> {
    let described = zenml(zen, &["step", "describe", run, step]).json();
    described["outputs"]
        .as_array()
        .unwrap_or_else(|| panic!("no outputs in {described:#}"))
        .iter()
        .map(|o| o["artifact"].clone())
        .collect()
}

/// Loads the `total` output of quickstart run `run` through the Client of `zen`'s repository.
fn load_total(zen: &Zenml, run: &str) -> u64 {
    let id = outputs(zen, run, "total")[0]["id"]
        .as_str()
        .expect("an artifact id")
        .to_owned();
    let repo = Repository::discover(zen.root()).expect("the repository");
    let client = Client::open(&repo, None).expect("the client opens the stack");
    let artifact = client.artifact(&id).expect("the artifact record");
    client.load::<u64>(&artifact).expect("the artifact loads")
}

#[test]
fn training_on_mysql_and_s3_is_cached_and_loads_back() {
    if !services_up("training_on_mysql_and_s3_is_cached_and_loads_back") {
        return;
    }
    let db = TestDatabase::new("s3_train");
    let prefix = fresh_prefix("e2e-train");
    let zen = team_repository(&db, &prefix);

    let first = example(&zen, "training", &[]).ok();
    assert_eq!(first.stderr, "", "{first}");
    first.stdout_has(&["of pipeline `training` completed: 4 steps."]);
    let first_name = first.run_name();
    let second = example(&zen, "training", &[]).ok();
    assert_eq!(second.stderr, "", "{second}");
    second.stdout_has(&["4 steps, 4 cached."]);

    // Every artifact is in the bucket, below the prefix, and describes itself.
    let artifacts = zenml(&zen, &["artifact", "list"]).json()["items"].clone();
    let uris = strings(&artifacts, Some("uri"));
    assert!(!uris.is_empty(), "{artifacts:#}");
    for uri in &uris {
        assert!(
            uri.starts_with(&format!("s3://{}/{prefix}/training/", S3.bucket)),
            "{uri}"
        );
    }
    let model = &outputs(&zen, &first_name, "trainer")[0];
    let described = zenml(
        &zen,
        &["artifact", "describe", model["id"].as_str().unwrap()],
    )
    .json();
    assert_eq!(described["artifact"]["uri"], model["uri"], "{described:#}");
    assert!(described["artifact"]["size"].as_u64().unwrap_or(0) > 0);

    // The stack snapshot of the run names the bucket, never the key.
    zenml(&zen, &["run", "describe", &first_name])
        .ok()
        .never_shows("s3-secret-of-the-team");
    let run = zenml(&zen, &["run", "describe", &first_name]).json();
    let store = &run["run"]["stack"]["components"]["artifact_store"];
    assert_eq!(store["flavor"], "s3", "{run:#}");

    // The Client loads an artifact back from the bucket.
    let quick = example(&zen, "quickstart", &[]).ok();
    assert_eq!(load_total(&zen, &quick.run_name()), 385);
}

#[test]
fn two_repositories_share_one_database_and_one_bucket() {
    if !services_up("two_repositories_share_one_database_and_one_bucket") {
        return;
    }
    let db = TestDatabase::new("s3_team");
    let prefix = fresh_prefix("e2e-team");
    // Two colleagues' machines: two `.zen/` folders, registered against the same database
    // and the same bucket.
    let alice = team_repository(&db, &prefix);
    let bob = team_repository(&db, &prefix);

    let first = example(&alice, "quickstart", &[]).ok();
    first.stdout_has(&["3 steps."]);
    // Bob's first run reuses Alice's outputs: the cache is the team's.
    let reused = example(&bob, "quickstart", &[]).ok();
    reused.stdout_has(&["3 steps, 3 cached."]);
    // Each loads the other's artifacts from the bucket.
    assert_eq!(load_total(&bob, &first.run_name()), 385);
    let fresh = example(&bob, "quickstart", &["--no-cache"]).ok();
    assert_eq!(load_total(&alice, &fresh.run_name()), 385);
    let names: BTreeSet<String> = strings(
        &zenml(&alice, &["run", "list"]).json()["items"].clone(),
        Some("name"),
    )
    .into_iter()
    .collect();
    assert_eq!(
        names,
        BTreeSet::from([first.run_name(), reused.run_name(), fresh.run_name()])
    );
}

#[test]
fn prune_deletes_unrecorded_folders_in_a_bucket() {
    if !services_up("prune_deletes_unrecorded_folders_in_a_bucket") {
        return;
    }
    let db = TestDatabase::new("s3_prune");
    let prefix = fresh_prefix("e2e-prune");
    let zen = team_repository(&db, &prefix);
    let run = example(&zen, "quickstart", &[]).ok();

    // An orphan: an artifact folder no record points to, as a crash between publishing and
    // recording leaves one.
    let repo = Repository::discover(zen.root()).expect("the repository");
    let stack = zenml::stack::open_stack(&repo, "default").expect("the stack opens");
    let orphan = zenml::artifact_store::ObjectPath::new(
        "quickstart/numbers/output/01234567-89ab-4def-8123-456789abcdef/data.json",
    )
    .unwrap();
    stack.artifact_store.put(&orphan, b"[1,2,3]").unwrap();

    let plan = zenml(&zen, &["artifact", "prune", "--min-age", "0"]).json();
    let orphans = &plan["plan"]["orphans"];
    assert_eq!(orphans.as_array().map(Vec::len), Some(1), "{plan:#}");
    assert_eq!(orphans[0]["bytes"], 7, "{plan:#}");
    zenml(&zen, &["artifact", "prune", "--min-age", "0", "--yes"]).ok();
    assert!(
        !stack.artifact_store.exists(&orphan).unwrap(),
        "the orphan is deleted"
    );
    // What is recorded stays, and loads.
    assert_eq!(load_total(&zen, &run.run_name()), 385);
}

#[test]
fn stack_check_finds_a_missing_bucket_and_a_wrong_credential() {
    if !(S3.available_for("stack_check_finds_a_missing_bucket_and_a_wrong_credential")
        && AZURITE.available_for("stack_check_finds_a_missing_bucket_and_a_wrong_credential"))
    {
        return;
    }
    let zen = Zenml::init();
    zen.ok(&[
        "config",
        "artifacts",
        "set",
        "s3://no-such-bucket-zenml/p",
        "--endpoint",
        S3.url,
        "--allow-http=true",
        "--region=us-east-1",
        "--access-key-id=testing",
        "--secret-access-key=testing",
    ]);
    zen.fails(&["stack", "check"])
        .stderr_has(&["artifact store", "s3://no-such-bucket-zenml/p"]);

    // Azurite checks signatures: a wrong account key is refused before any run.
    zen.ok(&[
        "config",
        "artifacts",
        "set",
        &format!("az://{}/p", AZURITE.bucket),
        "--use-emulator=true",
        "--account=devstoreaccount1",
        "--access-key",
        "d3JvbmcgYWNjb3VudCBrZXkgb2YgdGhlIHRlc3Q=",
    ]);
    let refused = zen.fails(&["stack", "check"]);
    refused.stderr_has(&["artifact store", &format!("az://{}/p", AZURITE.bucket)]);
    refused.never_shows("d3JvbmcgYWNjb3VudCBrZXkgb2YgdGhlIHRlc3Q=");
    let run = zen.example("quickstart", &[]).fails();
    run.never_shows("d3JvbmcgYWNjb3VudCBrZXkgb2YgdGhlIHRlc3Q=");
}

#[test]
fn a_run_whose_bucket_goes_away_fails_cleanly_and_the_next_run_succeeds() {
    if !S3.available_for("a_run_whose_bucket_goes_away_fails_cleanly_and_the_next_run_succeeds") {
        return;
    }
    // The bucket is reached through a proxy that the test can take away.
    let proxy = FaultProxy::start(S3.address).expect("the proxy starts");
    let prefix = fresh_prefix("e2e-fault");
    let uri = format!("s3://{}/{prefix}", S3.bucket);
    let zen = Zenml::init();
    zen.ok(&[
        "config",
        "artifacts",
        "set",
        &uri,
        "--endpoint",
        &proxy.url(),
        "--allow-http=true",
        "--region=us-east-1",
        "--access-key-id=testing",
        "--secret-access-key=testing",
        "--max-retries=1",
        "--retry-timeout-secs=2",
        "--retry-backoff-ms=10",
        "--connect-timeout-secs=1",
    ]);
    proxy.set(Fault::Refuse);
    let run = zen
        .example("quickstart", &["--run-name", "lost-bucket"])
        .run();
    run.assert_failure();
    run.stderr_has(&[
        "run `lost-bucket` failed",
        "step `numbers`",
        "s3 artifact store",
        &uri,
    ]);

    // Recorded as failed, with the cause; no artifact is recorded and nothing is in the bucket.
    let described = zen.json(&["run", "describe", "lost-bucket"]);
    assert_eq!(described["run"]["status"], "failed", "{described:#}");
    let steps = described["steps"].as_array().expect("steps");
    let numbers = steps
        .iter()
        .find(|s| s["step"]["name"] == "numbers")
        .expect("the numbers step");
    assert_eq!(numbers["step"]["status"], "failed", "{described:#}");
    assert!(
        numbers["step"]["error"]
            .as_str()
            .is_some_and(|e| e.contains("s3 artifact store") && e.contains(&uri)),
        "{numbers:#}"
    );
    assert_eq!(numbers["outputs"], serde_json::json!([]));
    assert_eq!(
        zen.json(&["artifact", "list"])["items"].clone(),
        serde_json::json!([])
    );
    let direct = direct_store(&prefix);
    assert!(
        direct.list(None).expect("list").is_empty(),
        "no object under the prefix"
    );

    // The server is back: the next run succeeds.
    proxy.set(Fault::None);
    zen.example("quickstart", &[])
        .ok()
        .stdout_has(&["3 steps."]);
    // Three artifacts, each its claim object and its one file.
    let objects = direct.list(None).expect("list");
    let claims = objects
        .iter()
        .filter(|meta| meta.path.as_str().ends_with("/.zenml-artifact.json"))
        .count();
    assert_eq!((objects.len(), claims), (6, 3), "{objects:#?}");
    direct
        .delete_prefix(&zenml::artifact_store::ObjectPath::new("quickstart").unwrap())
        .unwrap();
}

/// The test bucket below `prefix`, reached directly (not through a proxy).
fn direct_store(prefix: &str) -> Box<dyn zenml::artifact_store::ArtifactStore> {
    use zenml::artifact_store::ArtifactStoreFlavor;
    let mut config: zenml::object_store::S3ArtifactStoreConfig = toml::from_str(&format!(
        "path = \"s3://{}/{prefix}\"\nendpoint = \"{}\"\nallow_http = true\nregion = \"us-east-1\"",
        S3.bucket, S3.url
    ))
    .expect("a valid configuration");
    config.access_key_id = Some(zenml::core::SecretString::new("testing"));
    config.secret_access_key = Some(zenml::core::SecretString::new("testing"));
    config
        .open(&zenml::core::ComponentContext::new(std::env::temp_dir()))
        .expect("the store opens")
}
