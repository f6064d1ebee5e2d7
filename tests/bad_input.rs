//! Bad input of every kind. Each case must exit with code 1, say clearly what was wrong
//! (and, where it applies, what is valid), and leave `.zen/` byte-for-byte as it was: every
//! case here goes through `Zenml::refused`, which checks that.

use zenml_e2e::{Zenml, repository_with_team_stack};

fn repository() -> Zenml {
    repository_with_team_stack()
}

/// Asserts that `args` is refused with an error containing every one of `parts`.
fn refused_with(zen: &Zenml, args: &[&str], parts: &[&str]) {
    zen.refused(args).stderr_has(parts);
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
