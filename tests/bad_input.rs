//! Bad input of every kind. Each case must exit with code 1, say clearly what was wrong
//! (and, where it applies, what is valid), and leave `.zen/` byte-for-byte as it was: every
//! case here goes through `Zenml::refused`, which checks that.

use zenml_e2e::Zenml;

/// A repository with a second stack `team` and a mysql metadata store `shared`, so that
/// the refusals below have something to clash with.
fn repository() -> Zenml {
    let zen = Zenml::init();
    zen.ok(&[
        "metadata-store",
        "register",
        "shared",
        "--flavor",
        "mysql",
        "--host",
        "127.0.0.1",
        "--database",
        "zenml",
        "--password-env",
        "ZENML_MYSQL_PASSWORD",
    ]);
    zen.ok(&[
        "stack", "register", "team", "-o", "default", "-m", "shared", "-a", "default",
    ]);
    zen
}

/// Asserts that `args` is refused with an error containing every one of `parts`.
fn refused_with(zen: &Zenml, args: &[&str], parts: &[&str]) {
    zen.refused(args).stderr_has(parts);
}

/// The 1-based line of the first line of `text` that starts with `prefix`.
fn line_of(text: &str, prefix: &str) -> usize {
    text.lines()
        .position(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no line starts with {prefix:?} in:\n{text}"))
        + 1
}

#[test]
fn unknown_flavors_list_the_known_ones() {
    let zen = repository();
    refused_with(
        &zen,
        &["orchestrator", "register", "k", "--flavor", "kubernetes"],
        &[
            "unknown orchestrator flavor `kubernetes`",
            "known orchestrator flavors: local",
        ],
    );
    refused_with(
        &zen,
        &[
            "metadata-store",
            "register",
            "ora",
            "--flavor",
            "oracle",
            "--host",
            "h",
        ],
        &[
            "unknown metadata store flavor `oracle`",
            "known metadata store flavors: mysql, postgres, sqlite",
        ],
    );
    refused_with(
        &zen,
        &[
            "artifact-store",
            "register",
            "b",
            "--flavor",
            "acme.r2",
            "--path",
            "r2://b/x",
        ],
        &[
            "unknown artifact store flavor `acme.r2`",
            "known artifact store flavors: azure, gcs, local, s3",
        ],
    );
    refused_with(
        &zen,
        &["config", "metadata", "set", "oracle", "--host", "h"],
        &[
            "unknown metadata store flavor `oracle`",
            "known metadata store flavors: mysql, postgres, sqlite",
        ],
    );
    refused_with(
        &zen,
        &["artifact-store", "flavor", "describe", "acme.gcs"],
        &[
            "unknown artifact store flavor `acme.gcs`",
            "known artifact store flavors: azure, gcs, local, s3",
        ],
    );
    refused_with(
        &zen,
        &["artifact-store", "register", "nameless", "--path", "x"],
        &["missing `--flavor`", "zenml artifact-store flavor list"],
    );
    refused_with(
        &zen,
        &[
            "artifact-store",
            "register",
            "twice",
            "--flavor",
            "local",
            "--path",
            "x",
            "--flavor=local",
        ],
        &["`--flavor` is given twice"],
    );
}

#[test]
fn unknown_config_keys_name_the_key_and_the_valid_ones() {
    let zen = repository();
    refused_with(
        &zen,
        &[
            "artifact-store",
            "register",
            "a",
            "--flavor",
            "local",
            "--path",
            "x",
            "--bucket",
            "b",
        ],
        &[
            "unknown config key `bucket` for artifact store flavor `local`",
            "valid keys: path, sync",
        ],
    );
    refused_with(
        &zen,
        &["metadata-store", "update", "shared", "--hostname=db"],
        &[
            "unknown config key `hostname` for metadata store flavor `mysql`",
            "valid keys: connect_timeout_secs, database, host, password, password_env, password_file, pool_size, port, tls, tls_ca, tls_cert, tls_key, tls_verify, username",
        ],
    );
    refused_with(
        &zen,
        &[
            "orchestrator",
            "register",
            "o",
            "--flavor",
            "local",
            "--workers=2",
        ],
        &[
            "unknown config key `workers` for orchestrator flavor `local`",
            "valid keys: max_parallelism",
        ],
    );
    refused_with(
        &zen,
        &["metadata-store", "remove-attribute", "default", "--timeout"],
        &[
            "unknown config key `timeout` for metadata store flavor `sqlite`",
            "valid keys: busy_timeout_ms, path",
        ],
    );
    refused_with(
        &zen,
        &[
            "config",
            "metadata",
            "set",
            "sqlite",
            "--host",
            "db.example.com",
        ],
        &[
            "unknown config key `host` for metadata store flavor `sqlite`",
            "valid keys: busy_timeout_ms, path",
        ],
    );
}

#[test]
fn wrong_value_types_name_the_key() {
    let zen = repository();
    let mysql = [
        "metadata-store",
        "register",
        "m",
        "--flavor",
        "mysql",
        "--host",
        "h",
        "--database",
        "d",
    ];
    let with =
        |extra: &[&'static str]| -> Vec<&str> { mysql.iter().chain(extra).copied().collect() };
    refused_with(
        &zen,
        &with(&["--port=high"]),
        &["invalid value for `port`: expected an integer, got `high`"],
    );
    refused_with(
        &zen,
        &with(&["--pool-size", "1.5"]),
        &["invalid value for `pool_size`: expected an integer, got `1.5`"],
    );
    refused_with(
        &zen,
        &with(&["--port=70000"]),
        &["invalid value for `port`:", "integer `70000`"],
    );
    refused_with(
        &zen,
        &["artifact-store", "update", "default", "--sync=maybe"],
        &["invalid value for `sync`: expected true or false, got `maybe`"],
    );
    refused_with(
        &zen,
        &["orchestrator", "update", "default", "--max-parallelism=0"],
        &["invalid value for `max_parallelism`", "use at least 1"],
    );
    refused_with(
        &zen,
        &["orchestrator", "update", "default", "--max-parallelism=-2"],
        &["invalid value for `max_parallelism`:", "integer `-2`"],
    );
    refused_with(
        &zen,
        &[
            "config",
            "metadata",
            "set",
            "mysql",
            "--host",
            "h",
            "--database",
            "d",
            "--port",
            "high",
        ],
        &["invalid value for `port`: expected an integer, got `high`"],
    );
    refused_with(
        &zen,
        &with(&["--port=0"]),
        &["the port must be between 1 and 65535"],
    );
    refused_with(
        &zen,
        &["metadata-store", "update", "shared", "--database=zen-ml"],
        &[
            "invalid value for `database`",
            "`zen-ml` is not a valid database name",
        ],
    );
    refused_with(
        &zen,
        &["metadata-store", "update", "shared", "--host=mysql://db"],
        &["invalid value for `host`", "is not a host name"],
    );
    refused_with(
        &zen,
        &[
            "metadata-store",
            "update",
            "shared",
            "--password-file",
            "pw.txt",
        ],
        &[
            "both `password_env` and `password_file` are set",
            "give the password in one way only",
        ],
    );
}

#[test]
fn missing_required_fields_are_named() {
    let zen = repository();
    refused_with(
        &zen,
        &[
            "metadata-store",
            "register",
            "m",
            "--flavor",
            "mysql",
            "--database",
            "zenml",
        ],
        &["missing required config key `host` for metadata store flavor `mysql`"],
    );
    refused_with(
        &zen,
        &[
            "metadata-store",
            "register",
            "m",
            "--flavor",
            "mysql",
            "--host",
            "127.0.0.1",
        ],
        &["missing required config key `database` for metadata store flavor `mysql`"],
    );
    refused_with(
        &zen,
        &["config", "metadata", "set", "mysql", "--database", "zenml"],
        &["missing required config key `host` for metadata store flavor `mysql`"],
    );
    refused_with(
        &zen,
        &["artifact-store", "register", "a", "--flavor", "local"],
        &["missing required config key `path` for artifact store flavor `local`"],
    );
    refused_with(
        &zen,
        &["metadata-store", "remove-attribute", "shared", "--host"],
        &["cannot remove `host` from metadata store `shared`: flavor `mysql` requires it"],
    );
    refused_with(
        &zen,
        &["artifact-store", "remove-attribute", "default", "--path"],
        &["cannot remove `path` from artifact store `default`: flavor `local` requires it"],
    );
    refused_with(
        &zen,
        &["metadata-store", "remove-attribute", "shared", "--port"],
        &["metadata store `shared` has no `port` set"],
    );
}

#[test]
fn names_cannot_be_registered_twice() {
    let zen = repository();
    refused_with(
        &zen,
        &[
            "metadata-store",
            "register",
            "shared",
            "--flavor",
            "sqlite",
            "--path",
            "x.db",
        ],
        &["metadata store `shared` already exists"],
    );
    refused_with(
        &zen,
        &["orchestrator", "register", "default", "--flavor", "local"],
        &["orchestrator `default` already exists"],
    );
    refused_with(
        &zen,
        &[
            "stack", "register", "team", "-o", "default", "-m", "default", "-a", "default",
        ],
        &["stack `team` already exists"],
    );
    refused_with(
        &zen,
        &["stack", "copy", "default", "team"],
        &["stack `team` already exists"],
    );
    refused_with(
        &zen,
        &["stack", "rename", "default", "team"],
        &["stack `team` already exists"],
    );
    refused_with(
        &zen,
        &["metadata-store", "rename", "shared", "default"],
        &["metadata store `default` already exists"],
    );
    zen.ok(&["stack", "export", "team", "team.toml"]);
    refused_with(
        &zen,
        &["stack", "import", "team.toml"],
        &["stack `team` already exists"],
    );
}

#[test]
fn components_in_use_and_the_active_stack_cannot_be_deleted() {
    let zen = repository();
    zen.ok(&["stack", "copy", "team", "team-b"]);
    refused_with(
        &zen,
        &["metadata-store", "delete", "shared"],
        &[
            "cannot delete metadata store `shared`: it is used by stack(s) `team`, `team-b`; delete or update those stacks first",
        ],
    );
    refused_with(
        &zen,
        &["artifact-store", "delete", "default"],
        &["used by stack(s) `default`, `team`, `team-b`"],
    );
    refused_with(
        &zen,
        &["stack", "delete", "default", "-y"],
        &[
            "cannot delete stack `default`: it is the active stack; `zenml stack set` another stack first",
        ],
    );
    refused_with(
        &zen,
        &["stack", "delete", "default"],
        &["cannot delete stack `default`: it is the active stack"],
    );
    refused_with(
        &zen,
        &["stack", "delete", "ghost", "-y"],
        &["no stack named `ghost`; registered stacks: default, team, team-b"],
    );
    refused_with(
        &zen,
        &["orchestrator", "delete", "ghost"],
        &["no orchestrator named `ghost`; registered orchestrators: default"],
    );
}

#[test]
fn stacks_must_reference_registered_components() {
    let zen = repository();
    refused_with(
        &zen,
        &[
            "stack", "register", "s", "-o", "default", "-m", "nope", "-a", "default",
        ],
        &["no metadata store named `nope`; registered metadata stores: default, shared"],
    );
    refused_with(
        &zen,
        &[
            "stack", "register", "s", "-o", "gpu", "-m", "default", "-a", "default", "--set",
        ],
        &["no orchestrator named `gpu`; registered orchestrators: default"],
    );
    refused_with(
        &zen,
        &["stack", "update", "team", "-a", "bucket"],
        &["no artifact store named `bucket`; registered artifact stores: default"],
    );
    refused_with(
        &zen,
        &["stack", "update", "ghost", "-a", "default"],
        &["no stack named `ghost`"],
    );
    refused_with(
        &zen,
        &["stack", "set", "ghost"],
        &["no stack named `ghost`; registered stacks: default, team"],
    );
    refused_with(
        &zen,
        &["stack", "describe", "ghost"],
        &["no stack named `ghost`"],
    );
    refused_with(
        &zen,
        &["stack", "copy", "ghost", "g2"],
        &["no stack named `ghost`"],
    );
    refused_with(
        &zen,
        &["stack", "export", "ghost"],
        &["no stack named `ghost`"],
    );
    assert!(!zen.path("ghost.toml").exists());
    refused_with(
        &zen,
        &["metadata-store", "describe", "ghost"],
        &["no metadata store named `ghost`; registered metadata stores: default, shared"],
    );
    refused_with(
        &zen,
        &["artifact-store", "update", "ghost", "--path", "x"],
        &["no artifact store named `ghost`"],
    );
    refused_with(
        &zen,
        &["orchestrator", "rename", "ghost", "g2"],
        &["no orchestrator named `ghost`"],
    );
}

#[test]
fn invalid_names_are_refused() {
    let zen = repository();
    let long = "x".repeat(65);
    for (name, reason) in [
        ("../x", "a name starts with a letter or a digit"),
        (
            "a/b",
            "a name may only contain letters, digits, `_`, `-` and `.`",
        ),
        (".hidden", "a name starts with a letter or a digit"),
        ("with space", "a name may only contain"),
        ("", "a name cannot be empty"),
        (long.as_str(), "a name has at most 64 characters"),
    ] {
        let message = format!("invalid name `{name}`: {reason}");
        refused_with(
            &zen,
            &[
                "stack", "register", name, "-o", "default", "-m", "default", "-a", "default",
            ],
            &[&message],
        );
        refused_with(
            &zen,
            &[
                "artifact-store",
                "register",
                name,
                "--flavor",
                "local",
                "--path",
                "x",
            ],
            &[&message],
        );
        refused_with(&zen, &["stack", "rename", "team", name], &[&message]);
        refused_with(&zen, &["stack", "copy", "team", name], &[&message]);
        refused_with(
            &zen,
            &["metadata-store", "rename", "shared", name],
            &[&message],
        );
    }
    zen.ok(&["stack", "export", "team", "team.toml"]);
    refused_with(
        &zen,
        &["stack", "import", "team.toml", "--name", "../evil"],
        &["invalid name `../evil`"],
    );
    // Looking up an invalid name is simply "not found".
    refused_with(&zen, &["stack", "set", "../x"], &["no stack named `../x`"]);
}

#[test]
fn malformed_settings_are_explained() {
    let zen = repository();
    refused_with(
        &zen,
        &[
            "artifact-store",
            "register",
            "a",
            "--flavor",
            "local",
            "path=x",
        ],
        &["unexpected argument `path=x`: settings are written `--key=value` or `--key value`"],
    );
    refused_with(
        &zen,
        &[
            "artifact-store",
            "register",
            "a",
            "--flavor",
            "local",
            "--path",
        ],
        &["setting `--path` needs a value: `--path=VALUE`"],
    );
    refused_with(
        &zen,
        &[
            "artifact-store",
            "register",
            "a",
            "--flavor",
            "local",
            "--=x",
        ],
        &["empty setting name in `--=x`"],
    );
    refused_with(
        &zen,
        &[
            "artifact-store",
            "register",
            "a",
            "--flavor",
            "local",
            "--path=@missing.txt",
        ],
        &["cannot read the value file `missing.txt`"],
    );
    refused_with(
        &zen,
        &["artifact-store", "remove-attribute", "default", "sync"],
        &["name the settings to remove as `--key`"],
    );
    refused_with(
        &zen,
        &["artifact-store", "update", "default"],
        &["nothing to update: give settings as `--key=value`"],
    );
    refused_with(
        &zen,
        &["stack", "update", "team"],
        &["nothing to update: give -o, -m or -a"],
    );
    // clap's own errors: exit code 2, nothing changed
    let before = zen.snapshot();
    zen.run(&["artifact-store", "remove-attribute", "default"])
        .assert_usage_error();
    zen.run(&["stack", "register", "s", "-o", "default"])
        .assert_usage_error();
    assert_eq!(zen.snapshot(), before);
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
