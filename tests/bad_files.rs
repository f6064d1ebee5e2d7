//! Bad files: malformed import files, import files without three valid components, and a
//! hand-corrupted `.zen/config.toml`. Each case must exit with code 1, name the file, line
//! and column or key, and leave `.zen/` byte-for-byte as it was (`Zenml::refused` checks
//! that).

use zenml_e2e::{Zenml, line_of, repository_with_team_stack};

fn repository() -> Zenml {
    repository_with_team_stack()
}

/// Asserts that `args` is refused with an error containing every one of `parts`.
fn refused_with(zen: &Zenml, args: &[&str], parts: &[&str]) {
    zen.refused(args).stderr_has(parts);
}

#[test]
fn malformed_import_files_name_the_file_line_and_column() {
    let zen = repository();

    // A syntax error: file, line and column.
    zen.write(
        "broken.toml",
        "zenml_version = \"0.1.0\"\nstack_name = \"x\"\n\n[components.orchestrator\nname = \"default\"\n",
    );
    refused_with(
        &zen,
        &["stack", "import", "broken.toml"],
        &["broken.toml:4:25:"],
    );

    // A type error: file, line, column and the key.
    zen.write("typed.toml", "zenml_version = \"0.1.0\"\nstack_name = 5\n");
    refused_with(
        &zen,
        &["stack", "import", "typed.toml"],
        &["typed.toml:2:14:", "(key `stack_name`)"],
    );
    zen.write(
        "name.toml",
        r#"zenml_version = "0.1.0"
stack_name = "x"

[components.orchestrator]
name = 7
flavor = "local"
"#,
    );
    refused_with(
        &zen,
        &["stack", "import", "name.toml"],
        &["name.toml:5:8:", "(key `name`)"],
    );
    // An unknown top-level key.
    zen.write(
        "extra.toml",
        "zenml_version = \"0.1.0\"\nstack_name = \"x\"\nactive = true\n",
    );
    refused_with(
        &zen,
        &["stack", "import", "extra.toml"],
        &["extra.toml:3:1:", "unknown field `active`"],
    );

    // The file must exist.
    refused_with(
        &zen,
        &["stack", "import", "nowhere.toml"],
        &["cannot read `nowhere.toml`"],
    );
}

/// A complete export file whose components are written by `components`.
fn export_file(components: &str) -> String {
    format!("zenml_version = \"0.1.0\"\nstack_name = \"imported\"\n{components}")
}

const ORCHESTRATOR: &str = "\n[components.orchestrator]\nname = \"default\"\nflavor = \"local\"\n";
const METADATA_STORE: &str =
    "\n[components.metadata_store]\nname = \"meta\"\nflavor = \"sqlite\"\npath = \"meta.db\"\n";
const ARTIFACT_STORE: &str =
    "\n[components.artifact_store]\nname = \"art\"\nflavor = \"local\"\npath = \"art\"\n";

#[test]
fn import_files_need_three_valid_components() {
    let zen = repository();
    for (missing, text) in [
        (
            "orchestrator",
            export_file(&[METADATA_STORE, ARTIFACT_STORE].concat()),
        ),
        (
            "metadata store",
            export_file(&[ORCHESTRATOR, ARTIFACT_STORE].concat()),
        ),
        (
            "artifact store",
            export_file(&[ORCHESTRATOR, METADATA_STORE].concat()),
        ),
    ] {
        zen.write("partial.toml", &text);
        refused_with(
            &zen,
            &["stack", "import", "partial.toml"],
            &[
                &format!("partial.toml: the stack has no {missing}"),
                "[components.orchestrator], [components.metadata_store] and [components.artifact_store]",
            ],
        );
    }
    zen.write(
        "kinds.toml",
        &export_file(
            &[
                ORCHESTRATOR,
                METADATA_STORE,
                ARTIFACT_STORE,
                "\n[components.scheduler]\nname = \"cron\"\nflavor = \"cron\"\n",
            ]
            .concat(),
        ),
    );
    refused_with(
        &zen,
        &["stack", "import", "kinds.toml"],
        &["kinds.toml: unknown component kind `scheduler`"],
    );

    // Components are checked against their flavors; nothing of the file is registered.
    let cases = [
        (
            ORCHESTRATOR.replace(
                "flavor = \"local\"",
                "flavor = \"local\"\nmax_parallelism = \"many\"",
            ),
            METADATA_STORE.to_owned(),
            ARTIFACT_STORE.to_owned(),
            &["invalid type: string \"many\""][..],
        ),
        (
            ORCHESTRATOR.to_owned(),
            METADATA_STORE.replace("path = \"meta.db\"", "path = \"meta.db\"\nwal = true"),
            ARTIFACT_STORE.to_owned(),
            &[
                "unknown config key `wal` for metadata store flavor `sqlite`",
                "valid keys: busy_timeout_ms, path",
            ],
        ),
        (
            ORCHESTRATOR.to_owned(),
            METADATA_STORE.to_owned(),
            ARTIFACT_STORE.replace("flavor = \"local\"", "flavor = \"acme.blob\""),
            &[
                "unknown artifact store flavor `acme.blob`",
                "known artifact store flavors: azure, gcs, local, s3",
            ],
        ),
        (
            ORCHESTRATOR.to_owned(),
            METADATA_STORE.to_owned(),
            ARTIFACT_STORE.replace("path = \"art\"\n", ""),
            &["missing required config key `path` for artifact store flavor `local`"],
        ),
        (
            ORCHESTRATOR.to_owned(),
            METADATA_STORE.to_owned(),
            ARTIFACT_STORE.replace("path = \"art\"", "path = 5"),
            &["invalid value for `path`: invalid type: integer `5`"],
        ),
    ];
    for (orchestrator, metadata_store, artifact_store, messages) in cases {
        zen.write(
            "checked.toml",
            &export_file(&[orchestrator, metadata_store, artifact_store].concat()),
        );
        zen.refused(&["stack", "import", "checked.toml"])
            .stderr_has(messages)
            .stderr_has(&["error: checked.toml: "]);
    }
    // The same components, valid, import fine.
    zen.write(
        "checked.toml",
        &export_file(&[ORCHESTRATOR, METADATA_STORE, ARTIFACT_STORE].concat()),
    );
    zen.ok(&["stack", "import", "checked.toml"]);
}

#[test]
fn a_hand_corrupted_config_names_file_line_and_column() {
    let zen = repository();
    let config_path = zen.path(".zen/config.toml");
    let text = zen.config_text();

    // A syntax error: every command that reads the repository stops at it.
    let corrupted = text.replace("active_stack = \"default\"", "active_stack = default\"");
    assert_ne!(corrupted, text);
    std::fs::write(&config_path, &corrupted).unwrap();
    let line = line_of(&corrupted, "active_stack");
    let location = format!("{}:{line}:16:", config_path.display());
    for args in [
        &["stack", "list"][..],
        &["stack", "describe"],
        &[
            "stack", "register", "s", "-o", "default", "-m", "default", "-a", "default",
        ],
        &["artifact-store", "update", "default", "--path", "x"],
        &["config", "metadata", "set", "sqlite"],
    ] {
        refused_with(&zen, args, &[&location, "(key `active_stack`)"]);
    }

    // A stack missing one of its three components is refused when read.
    let team = "[stacks.team]\norchestrator = \"default\"\nmetadata_store = \"shared\"\nartifact_store = \"default\"\n";
    assert!(text.contains(team), "{text}");
    for key in ["orchestrator", "metadata_store", "artifact_store"] {
        let partial: String = team
            .lines()
            .filter(|l| !l.starts_with(key))
            .map(|l| format!("{l}\n"))
            .collect();
        let removed = text.replace(team, &partial);
        std::fs::write(&config_path, &removed).unwrap();
        let header_line = line_of(&removed, "[stacks.team]");
        refused_with(
            &zen,
            &["stack", "list"],
            &[
                &format!("{}:{header_line}:1:", config_path.display()),
                &format!("missing field `{key}`"),
            ],
        );
        refused_with(
            &zen,
            &["stack", "set", "default"],
            &[&format!("missing field `{key}`")],
        );
    }

    // References to things that do not exist: stopped before any command acts on them.
    let dangling = text.replace("metadata_store = \"shared\"", "metadata_store = \"ghost\"");
    std::fs::write(&config_path, &dangling).unwrap();
    for args in [
        &["stack", "list"][..],
        &[
            "stack", "register", "s", "-o", "default", "-m", "default", "-a", "default",
        ],
    ] {
        refused_with(
            &zen,
            args,
            &[
                &format!(
                    "{}:{}:1: stack `team` uses metadata store `ghost`, which is not registered",
                    config_path.display(),
                    line_of(&dangling, "[stacks.team]")
                ),
                "registered metadata stores: default, shared",
            ],
        );
    }
    let no_active = text.replace("active_stack = \"default\"", "active_stack = \"gone\"");
    std::fs::write(&config_path, &no_active).unwrap();
    for args in [&["stack", "get"][..], &["stack", "set", "team"]] {
        refused_with(
            &zen,
            args,
            &[
                &format!(
                    "{}:{}:1: the active stack `gone` does not exist",
                    config_path.display(),
                    line_of(&no_active, "active_stack")
                ),
                "registered stacks: default, team",
            ],
        );
    }

    // A component kind that does not exist, and a value of the wrong type.
    let extra = format!("{text}\n[schedulers.cron]\nflavor = \"cron\"\n");
    std::fs::write(&config_path, &extra).unwrap();
    refused_with(
        &zen,
        &["stack", "list"],
        &[
            &format!("{}:", config_path.display()),
            "unknown field `schedulers`",
        ],
    );
    let typed = text.replace("version = 1", "version = \"one\"");
    std::fs::write(&config_path, &typed).unwrap();
    refused_with(
        &zen,
        &["stack", "list"],
        &[
            &format!(
                "{}:{}:11:",
                config_path.display(),
                line_of(&typed, "version")
            ),
            "(key `version`)",
        ],
    );
    // A repository written by a newer zenml.
    std::fs::write(&config_path, text.replace("version = 1", "version = 99")).unwrap();
    refused_with(
        &zen,
        &["stack", "list"],
        &["written by a newer zenml", "upgrade zenml"],
    );

    // Restored, everything works again.
    std::fs::write(&config_path, &text).unwrap();
    zen.ok(&["stack", "list"]);
}
