//! The repository as a user meets it: `zenml init`, finding `.zen/` from any subfolder,
//! `ZENML_REPOSITORY_PATH` and `ZENML_STACK`, commands outside a repository, `zenml version`,
//! the linked flavors, `zenml materializer list` and `--help` everywhere.

use serde_json::{Value, json};
use zenml_e2e::{Zenml, strings};

/// The `config.toml` that `zenml init` writes, as TOML.
fn default_config() -> toml::Table {
    toml::from_str(
        r#"
        version = 1
        active_stack = "default"

        [stacks.default]
        orchestrator = "default"
        metadata_store = "default"
        artifact_store = "default"

        [orchestrators.default]
        flavor = "local"

        [metadata_stores.default]
        flavor = "sqlite"
        path = ".zen/metadata.db"

        [artifact_stores.default]
        flavor = "local"
        path = ".zen/artifacts"
        "#,
    )
    .expect("valid TOML")
}

#[test]
fn init_creates_the_default_stack_and_its_database() {
    let zen = Zenml::new();
    let run = zen.ok(&["init"]);
    run.stdout_has(&[
        &format!(
            "Initialized a zenml repository in `{}`.",
            zen.root().display()
        ),
        "The active stack is `default`",
        &format!("sqlite://{}", zen.path(".zen/metadata.db").display()),
        &format!("file://{}", zen.path(".zen/artifacts").display()),
    ]);
    assert_eq!(zen.config(), default_config());
    let db = std::fs::read(zen.path(".zen/metadata.db")).unwrap();
    assert!(
        db.starts_with(b"SQLite format 3\0"),
        "init creates the SQLite database"
    );
    assert!(zen.path(".zen/artifacts").is_dir());
    assert!(
        !zen.path(".zen/secrets.toml").exists(),
        "no secrets, no secrets file"
    );

    let stack = zen.json(&["stack", "describe"]);
    assert_eq!(stack["name"], "default");
    assert_eq!(stack["active"], true);
    assert_eq!(
        stack["components"],
        json!({
            "orchestrator": { "name": "default", "flavor": "local", "config": {} },
            "metadata_store": { "name": "default", "flavor": "sqlite", "config": { "path": ".zen/metadata.db" } },
            "artifact_store": { "name": "default", "flavor": "local", "config": { "path": ".zen/artifacts" } },
        })
    );
}

#[test]
fn init_twice_fails_and_changes_nothing() {
    let zen = Zenml::init();
    let run = zen.refused(&["init"]);
    assert_eq!(
        run.error().trim(),
        format!(
            "error: a zenml repository already exists at `{}`",
            zen.path(".zen").display()
        )
    );
    zen.refused(&["init", "--path", "."]);
    assert_eq!(zen.config(), default_config());
}

#[test]
fn init_with_path_creates_the_folder() {
    let zen = Zenml::new();
    zen.ok(&["init", "--path", "projects/one"])
        .stdout_has(&[&format!(
            "Initialized a zenml repository in `{}`.",
            zen.path("projects/one").display()
        )]);
    assert!(zen.path("projects/one/.zen/config.toml").is_file());
    assert!(zen.path("projects/one/.zen/metadata.db").is_file());
    assert!(
        !zen.path(".zen").exists(),
        "--path initializes that folder only"
    );

    let absolute = zen.path("projects/two");
    zen.ok(&["init", "--path", absolute.to_str().unwrap()]);
    assert!(absolute.join(".zen/config.toml").is_file());
    zen.fails(&["init", "--path", absolute.to_str().unwrap()])
        .stderr_has(&["already exists"]);

    // The README's first command: init a folder, then use it through ZENML_REPOSITORY_PATH.
    zen.cmd(&["stack", "describe"])
        .env("ZENML_REPOSITORY_PATH", absolute.to_str().unwrap())
        .ok()
        .stdout_has(&["Stack `default` (active)", "sqlite", ".zen/metadata.db"]);
}

#[test]
fn commands_find_the_repository_from_subfolders_like_git() {
    let zen = Zenml::init();
    zen.ok(&["stack", "copy", "default", "outer"]);
    let deep = zen.path("src/models/v1");
    std::fs::create_dir_all(&deep).unwrap();

    let stacks = zen.cmd(&["stack", "list"]).current_dir(&deep).json();
    assert_eq!(strings(&stacks, Some("name")), ["default", "outer"]);

    // A command run in a subfolder changes the repository above it, not the subfolder.
    zen.cmd(&["stack", "set", "outer"]).current_dir(&deep).ok();
    assert_eq!(zen.config()["active_stack"].as_str(), Some("outer"));
    assert!(!deep.join(".zen").exists());

    // The nearest repository wins: a nested one hides the outer one.
    zen.ok(&["init", "--path", "src/models"]);
    let nested = zen.cmd(&["stack", "list"]).current_dir(&deep).json();
    assert_eq!(strings(&nested, Some("name")), ["default"]);
    let above = zen
        .cmd(&["stack", "get"])
        .current_dir(zen.path("src"))
        .json();
    assert_eq!(above["name"], "outer");
}

#[test]
fn zenml_repository_path_overrides_the_search() {
    let here = Zenml::init();
    let there = Zenml::init();
    there.ok(&["stack", "copy", "default", "remote"]);
    let there_root = there.root().to_str().unwrap();

    let stacks = here
        .cmd(&["stack", "list"])
        .env("ZENML_REPOSITORY_PATH", there_root)
        .json();
    assert_eq!(strings(&stacks, Some("name")), ["default", "remote"]);

    here.cmd(&["stack", "set", "remote"])
        .env("ZENML_REPOSITORY_PATH", there_root)
        .ok();
    assert_eq!(there.config()["active_stack"].as_str(), Some("remote"));
    assert_eq!(
        here.config(),
        default_config(),
        "the local repository is untouched"
    );

    // An empty value means "not set".
    let local = here
        .cmd(&["stack", "list"])
        .env("ZENML_REPOSITORY_PATH", "")
        .json();
    assert_eq!(strings(&local, Some("name")), ["default"]);

    // A folder without `.zen/` is an error, even inside a repository.
    let empty = Zenml::new();
    here.cmd(&["stack", "list"])
        .env("ZENML_REPOSITORY_PATH", empty.root().to_str().unwrap())
        .refused()
        .stderr_has(&[
            &format!(
                "ZENML_REPOSITORY_PATH is `{}`, which holds no zenml repository",
                empty.root().display()
            ),
            "zenml init --path",
        ]);
}

#[test]
fn outside_a_repository_commands_say_to_run_zenml_init() {
    let zen = Zenml::new();
    let commands: &[&[&str]] = &[
        &["stack", "list"],
        &["stack", "get"],
        &["stack", "describe"],
        &["stack", "check"],
        &[
            "stack", "register", "s", "-o", "default", "-m", "default", "-a", "default",
        ],
        &["stack", "import", "stack.toml"],
        &["orchestrator", "list"],
        &["metadata-store", "get"],
        &[
            "artifact-store",
            "register",
            "a",
            "--flavor",
            "local",
            "--path",
            "x",
        ],
        &["config", "list"],
        &["config", "metadata", "get"],
        &["config", "artifacts", "set", "/tmp/x"],
    ];
    for args in commands {
        let run = zen.fails(args);
        run.stderr_has(&[
            &format!("no zenml repository found in `{}`", zen.root().display()),
            "run `zenml init`",
        ]);
    }
    assert!(
        !zen.path(".zen").exists(),
        "no command creates a repository but init"
    );

    // Commands that need no repository work anywhere.
    zen.ok(&["version"]);
    zen.ok(&["materializer", "list"]);
    zen.ok(&["metadata-store", "flavor", "list"]);
    zen.ok(&["artifact-store", "flavor", "describe", "local"]);
}

#[test]
fn zenml_stack_overrides_the_active_stack() {
    let zen = Zenml::init();
    zen.ok(&[
        "metadata-store",
        "register",
        "other-db",
        "--flavor",
        "sqlite",
        "--path",
        "other.db",
    ]);
    zen.ok(&[
        "stack", "register", "other", "-o", "default", "-m", "other-db", "-a", "default",
    ]);

    let env = |args: &[&str]| zen.cmd(args).env("ZENML_STACK", "other");
    env(&["stack", "get"])
        .ok()
        .stdout_has(&["The active stack is `other` (from ZENML_STACK)."]);
    assert_eq!(
        env(&["stack", "get"]).json(),
        json!({ "name": "other", "source": "ZENML_STACK" })
    );
    assert_eq!(
        zen.json(&["stack", "get"]),
        json!({ "name": "default", "source": "repository" })
    );

    let described = env(&["stack", "describe"]).json();
    assert_eq!(described["name"], "other");
    assert_eq!(described["active"], true);
    let listed = env(&["stack", "list"]).json();
    let active: Vec<&Value> = listed
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["active"] == true)
        .collect();
    assert_eq!(active.len(), 1);
    assert_eq!(active[0]["name"], "other");
    assert_eq!(env(&["metadata-store", "get"]).json()["name"], "other-db");
    assert_eq!(
        env(&["config", "metadata", "get"]).json()["config"]["path"],
        "other.db"
    );
    env(&["stack", "check"])
        .ok()
        .stdout_has(&["Stack `other` works", "other.db"]);

    // Shortcuts change the stack the environment selects.
    env(&["config", "artifacts", "set", "other-artifacts"]).ok();
    assert_eq!(
        zen.json(&["config", "artifacts", "get"])["config"]["path"],
        ".zen/artifacts",
        "the repository's active stack keeps its artifact store"
    );
    assert_eq!(
        env(&["config", "artifacts", "get"]).json()["config"]["path"],
        "other-artifacts"
    );

    // `stack set` changes the repository, and warns that the environment still overrides it.
    zen.cmd(&["stack", "set", "default"])
        .env("ZENML_STACK", "other")
        .ok()
        .stderr_has(&["warning: ZENML_STACK is set to `other`"]);
    assert_eq!(zen.config()["active_stack"].as_str(), Some("default"));

    // An empty ZENML_STACK is ignored.
    let empty = zen.cmd(&["stack", "get"]).env("ZENML_STACK", "").json();
    assert_eq!(empty["source"], "repository");
}

#[test]
fn an_unknown_zenml_stack_is_a_clear_error() {
    let zen = Zenml::init();
    for args in [
        &["stack", "get"][..],
        &["stack", "describe"],
        &["stack", "list"],
        &["config", "list"],
        &["orchestrator", "get"],
    ] {
        zen.cmd(args)
            .env("ZENML_STACK", "ghost")
            .refused()
            .stderr_has(&[
                "ZENML_STACK names stack `ghost`, which does not exist; registered stacks: default",
            ]);
    }
    zen.cmd(&["config", "metadata", "set", "sqlite", "--path", "x.db"])
        .env("ZENML_STACK", "../etc")
        .refused()
        .stderr_has(&["ZENML_STACK names stack `../etc`"]);
}

#[test]
fn version_names_the_version_and_the_linked_flavors() {
    let zen = Zenml::new();
    let version = env!("CARGO_PKG_VERSION");
    zen.ok(&["version"]).stdout_has(&[
        &format!("zenml {version}"),
        "orchestrator flavors: local, process, slurm",
        "metadata store flavors: mysql, postgres, sqlite",
        "artifact store flavors: azure, gcs, local, s3",
    ]);
    zen.ok(&["--version"])
        .stdout_has(&[&format!("zenml {version}")]);
    let json = zen.json(&["version"]);
    assert_eq!(json["version"], version);
    assert_eq!(
        json["flavors"],
        json!({
            "orchestrator": ["local", "process", "slurm"],
            "metadata_store": ["mysql", "postgres", "sqlite"],
            "artifact_store": ["azure", "gcs", "local", "s3"],
        })
    );
    let crates = strings(&json["flavor_crates"], None);
    for expected in [
        "zenml-artifact-store",
        "zenml-mysql",
        "zenml-object-store",
        "zenml-orchestrator",
        "zenml-postgres",
        "zenml-slurm",
        "zenml-sqlite",
    ] {
        assert!(crates.iter().any(|c| c == expected), "{crates:?}");
    }
}

#[test]
fn the_linked_flavors_are_exactly_these() {
    let zen = Zenml::new();
    for (kind, expected) in [
        ("orchestrator", &["local", "process", "slurm"][..]),
        ("metadata-store", &["mysql", "postgres", "sqlite"]),
        ("artifact-store", &["azure", "gcs", "local", "s3"]),
    ] {
        let flavors = zen.json(&[kind, "flavor", "list"]);
        assert_eq!(strings(&flavors, Some("name")), expected, "{kind}");
        for flavor in flavors.as_array().unwrap() {
            assert!(
                !flavor["description"].as_str().unwrap().is_empty(),
                "{flavor}"
            );
            assert!(
                flavor["source"].as_str().unwrap().starts_with("zenml-"),
                "{flavor}"
            );
        }
        let table = zen.ok(&[kind, "flavor", "list"]);
        table.stdout_has(&["FLAVOR", "DESCRIPTION", "SOURCE"]);
        table.stdout_has(expected);
    }
    assert_eq!(
        zen.json(&["metadata-store", "flavor", "list"])[0]["source"],
        "zenml-mysql"
    );
}

#[test]
fn materializer_list_maps_rust_types_to_materializers() {
    let zen = Zenml::new();
    let list = zen.json(&["materializer", "list"]);
    let pairs: Vec<(String, String)> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["rust_type"].as_str().unwrap().to_owned(),
                m["materializer"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let lookup = |ty: &str| {
        pairs
            .iter()
            .find(|(t, _)| t == ty)
            .map(|(_, m)| m.as_str())
            .unwrap_or_else(|| panic!("no materializer for {ty}: {pairs:?}"))
    };
    assert_eq!(lookup("f64"), "zenml.json");
    assert_eq!(lookup("Vec<u8>"), "zenml.bytes");
    assert_eq!(lookup("String"), "zenml.json");
    assert_eq!(lookup("bool"), "zenml.json");
    assert_eq!(lookup("i64"), "zenml.json");
    let types: Vec<&str> = pairs.iter().map(|(t, _)| t.as_str()).collect();
    let mut sorted = types.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(types, sorted, "sorted, one materializer per type");
    for m in list.as_array().unwrap() {
        assert!(m["version"].as_u64().unwrap() >= 1, "{m}");
        assert!(!m["description"].as_str().unwrap().is_empty(), "{m}");
    }

    zen.ok(&["materializer", "list"]).stdout_has(&[
        "RUST TYPE",
        "MATERIALIZER",
        "Vec<u8>",
        "zenml.bytes",
        "f64",
    ]);
}

#[test]
fn help_works_on_every_level() {
    let zen = Zenml::new();
    let commands: &[&[&str]] = &[
        &[],
        &["init"],
        &["version"],
        &["stack"],
        &["stack", "register"],
        &["stack", "import"],
        &["stack", "delete"],
        &["stack", "check"],
        &["orchestrator"],
        &["orchestrator", "register"],
        &["metadata-store", "remove-attribute"],
        &["metadata-store", "flavor"],
        &["metadata-store", "flavor", "describe"],
        &["artifact-store", "update"],
        &["materializer", "list"],
        &["config"],
        &["config", "metadata"],
        &["config", "metadata", "set"],
        &["config", "artifacts", "set"],
    ];
    for path in commands {
        let mut args = path.to_vec();
        args.push("--help");
        let run = zen.ok(&args);
        let usage = if path.is_empty() {
            "Usage: zenml".to_owned()
        } else {
            format!("Usage: zenml {}", path.join(" "))
        };
        run.stdout_has(&[&usage]);
        assert!(run.stderr.is_empty(), "{run}");
    }
    zen.ok(&["--help"]).stdout_has(&[
        "stack",
        "orchestrator",
        "metadata-store",
        "artifact-store",
        "materializer",
        "config",
    ]);
    zen.ok(&["stack", "register", "--help"]).stdout_has(&[
        "--orchestrator",
        "--metadata-store",
        "--artifact-store",
        "--set",
    ]);
    zen.ok(&["config", "metadata", "set", "--help"])
        .stdout_has(&["--password-env", "--password-file", "--database"]);
    zen.ok(&["help", "stack", "export"])
        .stdout_has(&["Usage: zenml stack export"]);
    zen.ok(&["stack", "-h"]).stdout_has(&["Usage: zenml stack"]);

    // A malformed command line is a usage error (exit code 2), not a failed command.
    let bare = zen.run(&[]);
    assert_eq!(bare.code, Some(2), "{bare}");
    bare.stderr_has(&["Usage: zenml", "Commands:"]);
    zen.run(&["stak", "list"])
        .assert_usage_error()
        .stderr_has(&["unrecognized subcommand 'stak'", "Usage: zenml"]);
    zen.run(&["stack", "register", "only-a-name"])
        .assert_usage_error()
        .stderr_has(&["--orchestrator", "Usage: zenml stack register"]);
    zen.run(&["stack", "list", "--output", "yaml"])
        .assert_usage_error()
        .stderr_has(&["table", "json"]);
}
