//! `zenml stack …`: register, list, describe, get, set, update, rename, copy, delete, export,
//! import (including the ready definitions in `stacks/`) and check.

use serde_json::{Value, json};
use zenml::metadata_store::schema::SCHEMA_VERSION;
use zenml_e2e::{Zenml, stacks_dir, strings};

/// Registers a second set of components: orchestrator `fast`, metadata store `scratch-db`,
/// artifact store `scratch`.
fn with_scratch_components(zen: &Zenml) {
    zen.ok(&[
        "orchestrator",
        "register",
        "fast",
        "--flavor",
        "local",
        "--max-parallelism=2",
    ]);
    zen.ok(&[
        "metadata-store",
        "register",
        "scratch-db",
        "--flavor",
        "sqlite",
        "--path",
        "scratch/metadata.db",
    ]);
    zen.ok(&[
        "artifact-store",
        "register",
        "scratch",
        "--flavor=local",
        "--path=scratch/artifacts",
    ]);
}

fn stack_entry<'a>(list: &'a Value, name: &str) -> &'a Value {
    list.as_array()
        .expect("a JSON array of stacks")
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no stack {name} in {list}"))
}

#[test]
fn the_stack_lifecycle() {
    let zen = Zenml::init();
    with_scratch_components(&zen);

    // register
    zen.ok(&[
        "stack",
        "register",
        "exp",
        "-o",
        "fast",
        "-m",
        "scratch-db",
        "-a",
        "scratch",
    ])
    .stdout_has(&["Registered stack `exp`."]);
    let config = zen.config();
    assert_eq!(
        config["stacks"]["exp"],
        toml::Value::Table(
            toml::from_str(
                "orchestrator = \"fast\"\nmetadata_store = \"scratch-db\"\nartifact_store = \"scratch\""
            )
            .unwrap()
        )
    );
    assert_eq!(config["active_stack"].as_str(), Some("default"));

    // list: table and JSON
    zen.ok(&["stack", "list"]).stdout_has(&[
        "ACTIVE",
        "STACK",
        "ORCHESTRATOR",
        "METADATA STORE",
        "ARTIFACT STORE",
        "👉",
        "exp",
        "scratch-db",
    ]);
    let list = zen.json(&["stack", "list"]);
    assert_eq!(strings(&list, Some("name")), ["default", "exp"]);
    assert_eq!(
        stack_entry(&list, "exp"),
        &json!({
            "name": "exp",
            "active": false,
            "orchestrator": "fast",
            "metadata_store": "scratch-db",
            "artifact_store": "scratch",
        })
    );
    assert_eq!(stack_entry(&list, "default")["active"], true);

    // describe, by name and (default) the active stack
    zen.ok(&["stack", "describe", "exp"]).stdout_has(&[
        "Stack `exp`",
        "fast",
        "max_parallelism=2",
        "path=scratch/metadata.db",
        "path=scratch/artifacts",
    ]);
    let exp = zen.json(&["stack", "describe", "exp"]);
    assert_eq!(exp["active"], false);
    assert_eq!(
        exp["components"]["orchestrator"],
        json!({ "name": "fast", "flavor": "local", "config": { "max_parallelism": 2 } })
    );
    assert_eq!(
        exp["components"]["metadata_store"]["config"],
        json!({ "path": "scratch/metadata.db" })
    );
    assert_eq!(zen.json(&["stack", "describe"])["name"], "default");
    zen.ok(&["stack", "describe"])
        .stdout_has(&["Stack `default` (active)"]);

    // set and get
    zen.ok(&["stack", "set", "exp"])
        .stdout_has(&["Active stack set to `exp`."]);
    assert_eq!(zen.config()["active_stack"].as_str(), Some("exp"));
    zen.ok(&["stack", "get"])
        .stdout_has(&["The active stack is `exp`."]);
    assert_eq!(
        zen.json(&["stack", "get"]),
        json!({ "name": "exp", "source": "repository" })
    );

    // update: one component of a named stack, then of the active stack
    zen.ok(&["stack", "update", "default", "-a", "scratch"])
        .stdout_has(&["Updated stack `default`."]);
    assert_eq!(
        zen.config()["stacks"]["default"]["artifact_store"].as_str(),
        Some("scratch")
    );
    zen.ok(&[
        "stack",
        "update",
        "-o",
        "default",
        "--metadata-store",
        "default",
    ]);
    let exp = zen.json(&["stack", "describe", "exp"]);
    assert_eq!(exp["components"]["orchestrator"]["name"], "default");
    assert_eq!(exp["components"]["metadata_store"]["name"], "default");
    assert_eq!(exp["components"]["artifact_store"]["name"], "scratch");

    // rename: the active stack stays active under its new name
    zen.ok(&["stack", "rename", "exp", "experiment"])
        .stdout_has(&["Renamed stack `exp` to `experiment`."]);
    let config = zen.config();
    assert_eq!(config["active_stack"].as_str(), Some("experiment"));
    assert!(config["stacks"].get("exp").is_none());
    assert_eq!(
        config["stacks"]["experiment"]["artifact_store"].as_str(),
        Some("scratch")
    );
    assert_eq!(zen.json(&["stack", "get"])["name"], "experiment");
    // renaming a stack that is not active leaves the active stack alone
    zen.ok(&["stack", "rename", "default", "base"]);
    assert_eq!(zen.config()["active_stack"].as_str(), Some("experiment"));

    // copy
    zen.ok(&["stack", "copy", "experiment", "experiment-2"])
        .stdout_has(&["Copied stack `experiment` to `experiment-2`."]);
    let config = zen.config();
    assert_eq!(
        config["stacks"]["experiment-2"],
        config["stacks"]["experiment"]
    );
    assert_eq!(config["active_stack"].as_str(), Some("experiment"));

    // delete: refused without -y when there is no terminal to ask on
    zen.refused(&["stack", "delete", "experiment-2"])
        .stderr_has(&[
            "Delete stack `experiment-2`?",
            "Pass -y to confirm (no terminal to ask on)",
        ]);
    zen.ok(&["stack", "delete", "experiment-2", "-y"])
        .stdout_has(&["Deleted stack `experiment-2`."]);
    zen.ok(&["stack", "delete", "--yes", "base"]);
    let config = zen.config();
    assert_eq!(
        config["stacks"]
            .as_table()
            .unwrap()
            .keys()
            .collect::<Vec<_>>(),
        ["experiment"]
    );
    // its components stay registered
    assert!(config["orchestrators"].get("fast").is_some());
    assert!(config["metadata_stores"].get("scratch-db").is_some());
    assert_eq!(
        strings(&zen.json(&["orchestrator", "list"]), Some("name")),
        ["default", "fast"]
    );
}

#[test]
fn register_with_set_activates_the_new_stack() {
    let zen = Zenml::init();
    with_scratch_components(&zen);
    zen.ok(&[
        "stack",
        "register",
        "scratch",
        "--orchestrator",
        "fast",
        "--metadata-store",
        "scratch-db",
        "--artifact-store",
        "scratch",
        "--set",
    ])
    .stdout_has(&[
        "Registered stack `scratch`.",
        "Active stack set to `scratch`.",
    ]);
    assert_eq!(zen.config()["active_stack"].as_str(), Some("scratch"));
    let list = zen.json(&["stack", "list"]);
    assert_eq!(stack_entry(&list, "scratch")["active"], true);
    assert_eq!(stack_entry(&list, "default")["active"], false);
    assert_eq!(zen.json(&["artifact-store", "get"])["name"], "scratch");
}

#[test]
fn check_opens_every_component_of_a_stack() {
    let zen = Zenml::init();
    zen.ok(&["stack", "check"]).stdout_has(&[
        "Stack `default` works:",
        &format!(
            "sqlite://{} (schema version {})",
            zen.path(".zen/metadata.db").display(),
            SCHEMA_VERSION
        ),
        &format!("file://{}", zen.path(".zen/artifacts").display()),
    ]);

    // A stack whose files do not exist yet: check creates them.
    with_scratch_components(&zen);
    zen.ok(&[
        "stack",
        "register",
        "scratch",
        "-o",
        "fast",
        "-m",
        "scratch-db",
        "-a",
        "scratch",
    ]);
    assert!(!zen.path("scratch").exists());
    let check = zen.json(&["stack", "check", "scratch"]);
    assert_eq!(check["name"], "scratch");
    assert_eq!(
        check["metadata_store"],
        json!({
            "uri": format!("sqlite://{}", zen.path("scratch/metadata.db").display()),
            "schema_version": SCHEMA_VERSION,
        })
    );
    assert_eq!(
        check["artifact_store"]["uri"],
        format!("file://{}", zen.path("scratch/artifacts").display())
    );
    assert!(
        check["orchestrator"].as_str().unwrap().contains('2'),
        "the orchestrator runs 2 steps at once: {check}"
    );
    assert!(zen.path("scratch/metadata.db").is_file());
    assert!(zen.path("scratch/artifacts").is_dir());

    zen.fails(&["stack", "check", "ghost"])
        .stderr_has(&["no stack named `ghost`; registered stacks: default, scratch"]);
}

#[test]
fn export_then_import_round_trips() {
    let zen = Zenml::init();
    with_scratch_components(&zen);
    zen.ok(&[
        "stack",
        "register",
        "exp",
        "-o",
        "fast",
        "-m",
        "scratch-db",
        "-a",
        "scratch",
    ]);

    // The default file name is `<stack>.toml` in the working folder.
    zen.ok(&["stack", "export", "exp"])
        .stdout_has(&["Exported stack `exp` to `exp.toml`."]);
    let exported: toml::Table = toml::from_str(&zen.read("exp.toml")).unwrap();
    let expected: toml::Table = toml::from_str(&format!(
        r#"
        zenml_version = "{}"
        stack_name = "exp"

        [components.orchestrator]
        name = "fast"
        flavor = "local"
        max_parallelism = 2

        [components.metadata_store]
        name = "scratch-db"
        flavor = "sqlite"
        path = "scratch/metadata.db"

        [components.artifact_store]
        name = "scratch"
        flavor = "local"
        path = "scratch/artifacts"
        "#,
        env!("CARGO_PKG_VERSION")
    ))
    .unwrap();
    assert_eq!(exported, expected);
    zen.ok(&["stack", "export", "default", "out/default-stack.toml"])
        .stdout_has(&["out/default-stack.toml"]);

    // Into a fresh repository: everything is registered.
    let other = Zenml::init();
    let file = zen.path("exp.toml");
    other
        .ok(&["stack", "import", file.to_str().unwrap()])
        .stdout_has(&[
            "Registered orchestrator `fast`.",
            "Registered metadata store `scratch-db`.",
            "Registered artifact store `scratch`.",
            "Imported stack `exp`",
        ]);
    let a = zen.json(&["stack", "describe", "exp"]);
    let b = other.json(&["stack", "describe", "exp"]);
    assert_eq!(a["components"], b["components"]);
    assert_eq!(
        other.config()["active_stack"].as_str(),
        Some("default"),
        "import does not activate"
    );

    // Into the same repository under another name: identical components are reused.
    let before = zen.config();
    zen.ok(&["stack", "import", "exp.toml", "--name", "exp-copy"])
        .stdout_has(&[
            "Reusing the identical orchestrator `fast`.",
            "Reusing the identical metadata store `scratch-db`.",
            "Reusing the identical artifact store `scratch`.",
            "Imported stack `exp-copy` from `exp.toml`.",
        ]);
    let after = zen.config();
    assert_eq!(after["orchestrators"], before["orchestrators"]);
    assert_eq!(after["metadata_stores"], before["metadata_stores"]);
    assert_eq!(after["artifact_stores"], before["artifact_stores"]);
    assert_eq!(after["stacks"]["exp-copy"], after["stacks"]["exp"]);
}

#[test]
fn import_registers_a_clashing_component_under_the_stack_name() {
    let zen = Zenml::init();
    // `default` means different things in the file and in this repository.
    zen.write(
        "team.toml",
        r#"
zenml_version = "0.1.0"
stack_name = "team"

[components.orchestrator]
name = "default"
flavor = "local"

[components.metadata_store]
name = "default"
flavor = "sqlite"
path = "team/metadata.db"

[components.artifact_store]
name = "default"
flavor = "local"
path = "team/artifacts"
"#,
    );
    zen.ok(&["stack", "import", "team.toml"]).stdout_has(&[
        "Reusing the identical orchestrator `default`.",
        "Registered metadata store `default` as `team-default`: `default` is a different metadata store here.",
        "Registered artifact store `default` as `team-default`",
        "Imported stack `team`",
    ]);
    let config = zen.config();
    assert_eq!(
        config["stacks"]["team"]["orchestrator"].as_str(),
        Some("default")
    );
    assert_eq!(
        config["stacks"]["team"]["metadata_store"].as_str(),
        Some("team-default")
    );
    assert_eq!(
        config["metadata_stores"]["team-default"]["path"].as_str(),
        Some("team/metadata.db")
    );
    assert_eq!(
        config["metadata_stores"]["default"]["path"].as_str(),
        Some(".zen/metadata.db"),
        "the existing component is untouched"
    );

    // Imported again after deleting the stack: the renamed components are reused.
    zen.ok(&["stack", "delete", "team", "-y"]);
    zen.ok(&["stack", "import", "team.toml"]).stdout_has(&[
        "Reusing the identical metadata store `team-default`.",
        "Reusing the identical artifact store `team-default`.",
    ]);
    // Under another name, the clashing components are registered under that name.
    zen.ok(&["stack", "import", "team.toml", "--name", "team2"]);
    let config = zen.config();
    assert_eq!(
        config["stacks"]["team2"]["metadata_store"].as_str(),
        Some("team2-default"),
        "{config}"
    );

    // When both names hold different components, the import is refused.
    zen.ok(&[
        "artifact-store",
        "register",
        "team3-default",
        "--flavor",
        "local",
        "--path",
        "elsewhere",
    ]);
    zen.refused(&["stack", "import", "team.toml", "--name", "team3"])
        .stderr_has(&["team3-default", "rename one of them first"]);
}

#[test]
fn the_ready_stack_definitions_in_stacks_import() {
    let zen = Zenml::init();
    let default = stacks_dir().join("default.toml");
    let mysql = stacks_dir().join("mysql.toml");
    let s3 = stacks_dir().join("s3.toml");

    // default.toml is the stack `zenml init` creates: under another name, all reused.
    zen.refused(&["stack", "import", default.to_str().unwrap()])
        .stderr_has(&["stack `default` already exists"]);
    zen.ok(&[
        "stack",
        "import",
        default.to_str().unwrap(),
        "--name",
        "local",
    ])
    .stdout_has(&[
        "Reusing the identical orchestrator `default`.",
        "Reusing the identical metadata store `default`.",
        "Reusing the identical artifact store `default`.",
    ]);
    let config = zen.config();
    assert_eq!(config["stacks"]["local"], config["stacks"]["default"]);

    // mysql.toml needs no server to import; the password stays a variable's name.
    zen.ok(&["stack", "import", mysql.to_str().unwrap()])
        .stdout_has(&[
            "Registered metadata store `mysql`.",
            "Imported stack `mysql`",
        ]);
    let config = zen.config();
    let store = config["metadata_stores"]["mysql"].as_table().unwrap();
    assert_eq!(store["flavor"].as_str(), Some("mysql"));
    assert_eq!(store["password_env"].as_str(), Some("ZENML_MYSQL_PASSWORD"));
    assert!(!store.contains_key("password"));
    assert!(!zen.path(".zen/secrets.toml").exists());
    assert_eq!(
        config["stacks"]["mysql"]["artifact_store"].as_str(),
        Some("default")
    );

    // postgres.toml likewise: the password is a variable's name, TLS libpq's default.
    let postgres = stacks_dir().join("postgres.toml");
    zen.ok(&["stack", "import", postgres.to_str().unwrap()])
        .stdout_has(&[
            "Registered metadata store `postgres`.",
            "Imported stack `postgres`",
        ]);
    let config = zen.config();
    let store = config["metadata_stores"]["postgres"].as_table().unwrap();
    assert_eq!(store["flavor"].as_str(), Some("postgres"));
    assert_eq!(
        store["password_env"].as_str(),
        Some("ZENML_POSTGRES_PASSWORD")
    );
    assert_eq!(store["sslmode"].as_str(), Some("prefer"));
    assert!(!store.contains_key("password"));

    // s3.toml: mysql metadata and an s3 bucket; importing needs no server either.
    let fresh = Zenml::init();
    fresh
        .ok(&["stack", "import", s3.to_str().unwrap()])
        .stdout_has(&["Registered artifact store `bucket`.", "Imported stack `s3`"]);
    let config = fresh.config();
    let bucket = config["artifact_stores"]["bucket"].as_table().unwrap();
    assert_eq!(bucket["flavor"].as_str(), Some("s3"));
    assert_eq!(bucket["path"].as_str(), Some("s3://ml/artifacts"));
    assert_eq!(
        config["stacks"]["s3"]["metadata_store"].as_str(),
        Some("mysql")
    );
}
