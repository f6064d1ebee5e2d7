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
fn bucket_uris_pick_the_flavor_that_serves_their_scheme() {
    let zen = Zenml::init();
    for (uri, flavor) in [
        ("s3://ml-bucket/artifacts", "s3"),
        ("gs://ml-bucket/artifacts", "gcs"),
        ("gcs://ml-bucket/artifacts", "gcs"),
        ("az://container/artifacts", "azure"),
        (
            "abfs://container@acct.dfs.core.windows.net/artifacts",
            "azure",
        ),
    ] {
        zen.ok(&["config", "artifacts", "set", uri]).stdout_has(&[
            "Artifact store of stack `default` set to",
            flavor,
            uri,
        ]);
        let config = zen.config();
        let store = &config["artifact_stores"]["default"];
        assert_eq!(store["flavor"].as_str(), Some(flavor), "{uri}");
        assert_eq!(store["path"].as_str(), Some(uri));
    }
    // More settings follow the URI; a literal key goes to the secrets file, never shown.
    zen.ok(&[
        "config",
        "artifacts",
        "set",
        "s3://ml-bucket/team",
        "--endpoint",
        "http://127.0.0.1:9000",
        "--allow-http=true",
        "--access-key-id",
        "AKIDEXAMPLE",
        "--secret-access-key",
        "wJalrXUtnFEMI-not-shown",
    ])
    .stdout_has(&["endpoint=http://127.0.0.1:9000"])
    .never_shows("wJalrXUtnFEMI-not-shown")
    .never_shows("AKIDEXAMPLE");
    let text = std::fs::read_to_string(zen.path(".zen/config.toml")).unwrap();
    assert!(
        !text.contains("wJalrXUtnFEMI") && !text.contains("AKIDEXAMPLE"),
        "{text}"
    );
    zen.ok(&["config", "artifacts", "get", "--output", "json"])
        .never_shows("wJalrXUtnFEMI-not-shown")
        .never_shows("AKIDEXAMPLE");
    zen.ok(&["stack", "export", "default"])
        .never_shows("wJalrXUtnFEMI-not-shown")
        .never_shows("AKIDEXAMPLE");

    // A scheme no linked flavor serves names those that are served.
    zen.refused(&["config", "artifacts", "set", "r2://host/dir"])
        .stderr_has(&[
            "no linked artifact store flavor serves `r2://` URIs",
            "s3:// (s3)",
            "gs:// (gcs)",
            "az:// (azure)",
        ]);
    // A malformed bucket URI names the key and what is expected, and changes nothing.
    let before = std::fs::read_to_string(zen.path(".zen/config.toml")).unwrap();
    zen.refused(&["config", "artifacts", "set", "s3:///no-bucket"])
        .stderr_has(&["path", "names no bucket"]);
    zen.refused(&[
        "config",
        "artifacts",
        "set",
        "s3://b/x",
        "--endpoint",
        "http://h:1",
    ])
    .stderr_has(&["endpoint", "allow_http"]);
    assert_eq!(
        std::fs::read_to_string(zen.path(".zen/config.toml")).unwrap(),
        before
    );
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
