//! `zenml config …`: the original ZenML shortcuts that change the active stack's metadata
//! and artifact stores, and show the active stack.

use serde_json::json;
use zenml_e2e::Zenml;

#[test]
fn metadata_set_and_get_on_the_active_stack() {
    let zen = Zenml::init();
    assert_eq!(
        zen.json(&["config", "metadata", "get"]),
        json!({
            "stack": "default",
            "name": "default",
            "flavor": "sqlite",
            "config": { "path": ".zen/metadata.db" },
        })
    );
    zen.ok(&["config", "metadata", "get"]).stdout_has(&[
        "Metadata store of stack `default`: `default` sqlite (path=.zen/metadata.db)",
    ]);

    // mysql, with every option (import-like: no server needed to change the definition)
    zen.ok(&[
        "config",
        "metadata",
        "set",
        "mysql",
        "--host",
        "db.example.com",
        "--port",
        "3307",
        "--username",
        "zenml",
        "--database",
        "zen_db",
        "--password-env",
        "ZENML_DB_PASSWORD",
    ])
    .stdout_has(&[
        "Metadata store of stack `default` set to `default`: mysql (",
        "host=db.example.com",
        "password_env=ZENML_DB_PASSWORD",
    ]);
    let config = zen.config();
    let store: toml::Table = toml::from_str(
        r#"
        flavor = "mysql"
        host = "db.example.com"
        port = 3307
        username = "zenml"
        database = "zen_db"
        password_env = "ZENML_DB_PASSWORD"
        "#,
    )
    .unwrap();
    assert_eq!(
        config["metadata_stores"]["default"].as_table(),
        Some(&store)
    );
    let got = zen.json(&["config", "metadata", "get"]);
    assert_eq!(got["flavor"], "mysql");
    assert_eq!(got["config"]["port"], 3307);

    // back to sqlite: the path defaults to .zen/metadata.db, the mysql keys are gone
    zen.ok(&["config", "metadata", "set", "sqlite"]);
    assert_eq!(
        zen.json(&["config", "metadata", "get"])["config"],
        json!({ "path": ".zen/metadata.db" })
    );
    zen.ok(&[
        "config",
        "metadata",
        "set",
        "sqlite",
        "--path",
        "meta/other.db",
    ]);
    assert_eq!(
        zen.config()["metadata_stores"]["default"]["path"].as_str(),
        Some("meta/other.db")
    );
    zen.ok(&["stack", "check"])
        .stdout_has(&[&format!("sqlite://{}", zen.path("meta/other.db").display())]);
    assert!(zen.path("meta/other.db").is_file());
}

#[test]
fn artifacts_set_and_get_on_the_active_stack() {
    let zen = Zenml::init();
    assert_eq!(
        zen.json(&["config", "artifacts", "get"]),
        json!({
            "stack": "default",
            "name": "default",
            "flavor": "local",
            "config": { "path": ".zen/artifacts" },
        })
    );
    let folder = zen.path("data/artifacts");
    zen.ok(&["config", "artifacts", "set", folder.to_str().unwrap()])
        .stdout_has(&[&format!(
            "Artifact store of stack `default` set to `default`: local (path={})",
            folder.display()
        )]);
    assert_eq!(
        zen.config()["artifact_stores"]["default"]["path"].as_str(),
        folder.to_str()
    );
    zen.ok(&["config", "artifacts", "get"])
        .stdout_has(&[&format!(
            "Artifact store of stack `default`: `default` local (path={})",
            folder.display()
        )]);
    // file:// URIs are local folders; relative paths are kept relative to the repository.
    zen.ok(&["config", "artifacts", "set", "file:///srv/artifacts"]);
    assert_eq!(
        zen.json(&["config", "artifacts", "get"])["config"]["path"],
        "/srv/artifacts"
    );
    zen.ok(&["config", "artifacts", "set", "relative/artifacts"]);
    assert_eq!(
        zen.json(&["config", "artifacts", "get"])["config"]["path"],
        "relative/artifacts"
    );
    zen.ok(&["stack", "check"]).stdout_has(&[&format!(
        "file://{}",
        zen.path("relative/artifacts").display()
    )]);
}

#[test]
fn bucket_uris_name_the_missing_flavor() {
    let zen = Zenml::init();
    for (uri, flavor) in [
        ("s3://ml-bucket/artifacts", "s3"),
        ("gs://ml-bucket/artifacts", "gcs"),
        ("az://container/artifacts", "azure"),
    ] {
        zen.refused(&["config", "artifacts", "set", uri]).stderr_has(&[
            &format!("unknown artifact store flavor `{flavor}`"),
            "known artifact store flavors: local",
            &format!("`{uri}` needs the `{flavor}` artifact store flavor, which this build does not link"),
        ]);
    }
    zen.refused(&["config", "artifacts", "set", "ftp://host/dir"])
        .stderr_has(&["unsupported URI scheme `ftp://`", "s3://"]);
}

#[test]
fn shortcuts_do_not_change_components_other_stacks_share() {
    let zen = Zenml::init();
    zen.ok(&["stack", "copy", "default", "team"]);
    zen.ok(&["stack", "set", "team"]);

    // `default` components are shared by two stacks: the shortcut registers new ones.
    zen.ok(&["config", "metadata", "set", "sqlite", "--path", "team.db"])
        .stdout_has(&["Metadata store of stack `team` set to `team-metadata`"]);
    zen.ok(&["config", "artifacts", "set", "team-artifacts"])
        .stdout_has(&["Artifact store of stack `team` set to `team-artifacts`"]);
    let config = zen.config();
    assert_eq!(
        config["stacks"]["team"]["metadata_store"].as_str(),
        Some("team-metadata")
    );
    assert_eq!(
        config["stacks"]["team"]["artifact_store"].as_str(),
        Some("team-artifacts")
    );
    assert_eq!(
        config["metadata_stores"]["default"]["path"].as_str(),
        Some(".zen/metadata.db"),
        "the shared component is unchanged"
    );
    assert_eq!(
        config["stacks"]["default"]["metadata_store"].as_str(),
        Some("default")
    );
    assert_eq!(
        config["metadata_stores"]["team-metadata"]["path"].as_str(),
        Some("team.db")
    );

    // Now `team-metadata` belongs to `team` alone: it is changed in place.
    zen.ok(&["config", "metadata", "set", "sqlite", "--path", "team2.db"])
        .stdout_has(&["set to `team-metadata`"]);
    let config = zen.config();
    assert_eq!(
        config["metadata_stores"]["team-metadata"]["path"].as_str(),
        Some("team2.db")
    );
    assert_eq!(
        config["metadata_stores"].as_table().unwrap().len(),
        2,
        "{config}"
    );
}

#[test]
fn config_list_shows_the_active_stack() {
    let zen = Zenml::init();
    zen.ok(&["config", "artifacts", "set", "art"]);
    zen.ok(&["config", "list"]).stdout_has(&[
        "Stack `default` (active)",
        "COMPONENT",
        "orchestrator",
        "metadata-store",
        "artifact-store",
        "path=.zen/metadata.db",
        "path=art",
    ]);
    let list = zen.json(&["config", "list"]);
    assert_eq!(list, zen.json(&["stack", "describe"]));
    assert_eq!(
        list["components"]["artifact_store"]["config"]["path"],
        "art"
    );
}
