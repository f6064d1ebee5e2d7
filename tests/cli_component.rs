//! `zenml orchestrator|metadata-store|artifact-store …`: register (every spelling of
//! settings), list, describe, get, update, remove-attribute, rename, delete, and the flavor
//! commands that document every config field.

use serde_json::{Value, json};
use zenml_e2e::{Zenml, strings};

/// One component kind as the CLI and `config.toml` name it.
struct Kind {
    cli: &'static str,
    human: &'static str,
    section: &'static str,
    stack_key: &'static str,
}

const ORCHESTRATOR: Kind = Kind {
    cli: "orchestrator",
    human: "orchestrator",
    section: "orchestrators",
    stack_key: "orchestrator",
};
const METADATA_STORE: Kind = Kind {
    cli: "metadata-store",
    human: "metadata store",
    section: "metadata_stores",
    stack_key: "metadata_store",
};
const ARTIFACT_STORE: Kind = Kind {
    cli: "artifact-store",
    human: "artifact store",
    section: "artifact_stores",
    stack_key: "artifact_store",
};

/// What one pass through a kind's commands uses and expects.
struct Lifecycle<'a> {
    kind: &'a Kind,
    flavor: &'a str,
    register: &'a [&'a str],
    registered: Value,
    update: &'a [&'a str],
    updated: Value,
    optional_key: &'a str,
    removed: Value,
}

/// The component's table in `config.toml` as JSON (for comparing with `--output json`).
fn stored(zen: &Zenml, kind: &Kind, name: &str) -> Value {
    let config = zen.config();
    let table = config[kind.section]
        .get(name)
        .unwrap_or_else(|| panic!("no {} `{name}` in config.toml:\n{config}", kind.human));
    serde_json::to_value(table).expect("TOML values convert to JSON")
}

fn with_flavor(flavor: &str, config: &Value) -> Value {
    let mut table = config.as_object().expect("a JSON object").clone();
    table.insert("flavor".to_owned(), json!(flavor));
    Value::Object(table)
}

fn run_lifecycle(zen: &Zenml, l: &Lifecycle<'_>) {
    let Lifecycle { kind, flavor, .. } = *l;
    let cli = kind.cli;

    // register
    let mut args = vec![cli, "register", "comp", "--flavor", flavor];
    args.extend_from_slice(l.register);
    zen.ok(&args).stdout_has(&[&format!(
        "Registered {} `comp` (flavor `{flavor}`).",
        kind.human
    )]);
    assert_eq!(
        stored(zen, kind, "comp"),
        with_flavor(flavor, &l.registered)
    );

    // list
    let list = zen.json(&[cli, "list"]);
    assert_eq!(strings(&list, Some("name")), ["comp", "default"]);
    assert_eq!(
        list[0],
        json!({ "name": "comp", "flavor": flavor, "active": false, "stacks": [], "config": l.registered })
    );
    assert_eq!(list[1]["active"], true);
    assert_eq!(list[1]["stacks"], json!(["default"]));
    zen.ok(&[cli, "list"])
        .stdout_has(&["ACTIVE", "NAME", "FLAVOR", "STACKS", "CONFIG", "👉", "comp"]);

    // describe: named, and (default) the active stack's
    assert_eq!(
        zen.json(&[cli, "describe", "comp"]),
        json!({ "kind": cli, "name": "comp", "flavor": flavor, "stacks": [], "config": l.registered })
    );
    let active = zen.json(&[cli, "describe"]);
    assert_eq!(active["name"], "default");
    assert_eq!(active["stacks"], json!(["default"]));
    let capitalized = format!("{}{}", kind.human[..1].to_uppercase(), &kind.human[1..]);
    zen.ok(&[cli, "describe", "comp"]).stdout_has(&[
        &format!("{capitalized} `comp`"),
        "PROPERTY",
        "VALUE",
        "used by stacks",
        flavor,
    ]);

    // get
    assert_eq!(
        zen.json(&[cli, "get"]),
        json!({ "name": "default", "stack": "default" })
    );
    zen.ok(&[cli, "get"]).stdout_has(&[&format!(
        "Active {}: `default` (stack `default`)",
        kind.human
    )]);

    // update
    let mut args = vec![cli, "update", "comp"];
    args.extend_from_slice(l.update);
    zen.ok(&args)
        .stdout_has(&[&format!("Updated {} `comp`.", kind.human)]);
    assert_eq!(stored(zen, kind, "comp"), with_flavor(flavor, &l.updated));
    assert_eq!(zen.json(&[cli, "describe", "comp"])["config"], l.updated);

    // remove-attribute
    let flag = format!("--{}", l.optional_key);
    zen.ok(&[cli, "remove-attribute", "comp", &flag])
        .stdout_has(&[&format!(
            "Removed {} from {} `comp`.",
            l.optional_key.replace('-', "_"),
            kind.human
        )]);
    assert_eq!(stored(zen, kind, "comp"), with_flavor(flavor, &l.removed));

    // rename: the stacks that use it follow
    let mut stack = vec!["stack", "register", "uses-comp"];
    for other in [&ORCHESTRATOR, &METADATA_STORE, &ARTIFACT_STORE] {
        let flag = match other.cli {
            "orchestrator" => "-o",
            "metadata-store" => "-m",
            _ => "-a",
        };
        stack.push(flag);
        stack.push(if other.cli == cli { "comp" } else { "default" });
    }
    stack.push("--set");
    zen.ok(&stack);
    assert_eq!(zen.json(&[cli, "get"])["name"], "comp");
    zen.ok(&[cli, "rename", "comp", "renamed"])
        .stdout_has(&[&format!("Renamed {} `comp` to `renamed`.", kind.human)]);
    let config = zen.config();
    assert!(config[kind.section].get("comp").is_none());
    assert_eq!(
        config["stacks"]["uses-comp"][kind.stack_key].as_str(),
        Some("renamed")
    );
    assert_eq!(
        stored(zen, kind, "renamed"),
        with_flavor(flavor, &l.removed)
    );
    assert_eq!(zen.json(&[cli, "get"])["name"], "renamed");
    assert_eq!(
        zen.json(&[cli, "describe", "renamed"])["stacks"],
        json!(["uses-comp"])
    );

    // delete: refused while a stack uses it, then fine
    zen.refused(&[cli, "delete", "renamed"])
        .stderr_has(&["used by stack(s) `uses-comp`"]);
    zen.ok(&["stack", "set", "default"]);
    zen.ok(&["stack", "delete", "uses-comp", "-y"]);
    zen.ok(&[cli, "delete", "renamed"])
        .stdout_has(&[&format!("Deleted {} `renamed`.", kind.human)]);
    assert!(zen.config()[kind.section].get("renamed").is_none());
    assert_eq!(
        strings(&zen.json(&[cli, "list"]), Some("name")),
        ["default"]
    );
}

#[test]
fn orchestrator_commands() {
    let zen = Zenml::init();
    run_lifecycle(
        &zen,
        &Lifecycle {
            kind: &ORCHESTRATOR,
            flavor: "local",
            register: &["--max-parallelism=4"],
            registered: json!({ "max_parallelism": 4 }),
            update: &["--max-parallelism", "8"],
            updated: json!({ "max_parallelism": 8 }),
            optional_key: "max-parallelism",
            removed: json!({}),
        },
    );
}

#[test]
fn metadata_store_commands() {
    let zen = Zenml::init();
    run_lifecycle(
        &zen,
        &Lifecycle {
            kind: &METADATA_STORE,
            flavor: "sqlite",
            register: &["--path", "runs/meta.db", "--busy-timeout-ms=250"],
            registered: json!({ "path": "runs/meta.db", "busy_timeout_ms": 250 }),
            update: &["--busy_timeout_ms", "500", "--path=runs/other.db"],
            updated: json!({ "path": "runs/other.db", "busy_timeout_ms": 500 }),
            optional_key: "busy-timeout-ms",
            removed: json!({ "path": "runs/other.db" }),
        },
    );
}

#[test]
fn artifact_store_commands() {
    let zen = Zenml::init();
    let value_file = zen.write("settings/path.txt", "shared/artifacts\n");
    let from_file = format!("--path=@{}", value_file.display());
    run_lifecycle(
        &zen,
        &Lifecycle {
            kind: &ARTIFACT_STORE,
            flavor: "local",
            register: &[&from_file, "--sync", "false"],
            registered: json!({ "path": "shared/artifacts", "sync": false }),
            update: &["--sync=true"],
            updated: json!({ "path": "shared/artifacts", "sync": true }),
            optional_key: "sync",
            removed: json!({ "path": "shared/artifacts" }),
        },
    );
}

#[test]
fn settings_can_be_spelled_several_ways() {
    let zen = Zenml::init();
    let value_file = zen.write("db-path.txt", "a.db\n");
    let from_file = format!("--path=@{}", value_file.display());
    let spellings: &[&[&str]] = &[
        &["--flavor", "sqlite", "--path=a.db", "--busy-timeout-ms=7"],
        &[
            "--flavor=sqlite",
            "--path",
            "a.db",
            "--busy-timeout-ms",
            "7",
        ],
        &["-f", "sqlite", "--path", "a.db", "--busy_timeout_ms", "7"],
        &[
            "--path",
            "a.db",
            "--flavor",
            "sqlite",
            "--busy-timeout-ms=7",
        ],
        &["--flavor", "sqlite", &from_file, "--busy-timeout-ms= 7"],
    ];
    for (i, settings) in spellings.iter().enumerate() {
        let name = format!("m{i}");
        let mut args = vec!["metadata-store", "register", name.as_str()];
        args.extend_from_slice(settings);
        zen.ok(&args);
        assert_eq!(
            zen.json(&["metadata-store", "describe", &name])["config"],
            json!({ "path": "a.db", "busy_timeout_ms": 7 }),
            "{settings:?}"
        );
    }
    // A value may contain `=` and spaces; a file value keeps everything but one newline.
    zen.write("odd.txt", "with spaces = and equals\n\n");
    zen.ok(&[
        "artifact-store",
        "register",
        "odd",
        "--flavor",
        "local",
        "--path=@odd.txt",
    ]);
    assert_eq!(
        zen.config()["artifact_stores"]["odd"]["path"].as_str(),
        Some("with spaces = and equals\n")
    );
    zen.ok(&["artifact-store", "update", "odd", "--path=a=b c"]);
    assert_eq!(
        zen.config()["artifact_stores"]["odd"]["path"].as_str(),
        Some("a=b c")
    );
    // Booleans take the usual spellings.
    for (text, value) in [("yes", true), ("off", false), ("1", true), ("false", false)] {
        zen.ok(&["artifact-store", "update", "odd", &format!("--sync={text}")]);
        assert_eq!(
            zen.config()["artifact_stores"]["odd"]["sync"].as_bool(),
            Some(value),
            "{text}"
        );
    }
}

#[test]
fn flavor_describe_documents_every_config_field() {
    let zen = Zenml::new();
    let types = [
        "string", "path", "integer", "float", "bool", "list", "table",
    ];
    for kind in [&ORCHESTRATOR, &METADATA_STORE, &ARTIFACT_STORE] {
        for flavor in strings(&zen.json(&[kind.cli, "flavor", "list"]), Some("name")) {
            let described = zen.json(&[kind.cli, "flavor", "describe", &flavor]);
            assert_eq!(described["kind"], kind.cli);
            assert_eq!(described["name"], flavor.as_str());
            assert!(!described["description"].as_str().unwrap().is_empty());
            // The example is a valid configuration body.
            let example: toml::Table = toml::from_str(described["example"].as_str().unwrap())
                .unwrap_or_else(|e| panic!("{flavor}'s example: {e}"));
            let fields = described["fields"].as_array().unwrap();
            assert!(!fields.is_empty(), "{described}");
            let table = zen.ok(&[kind.cli, "flavor", "describe", &flavor]);
            table.stdout_has(&[
                &format!("flavor `{flavor}`"),
                "FIELD",
                "TYPE",
                "REQUIRED",
                "DEFAULT",
                "DESCRIPTION",
                "Example:",
                &format!("flavor = \"{flavor}\""),
            ]);
            for field in fields {
                let name = field["name"].as_str().unwrap();
                assert!(types.contains(&field["type"].as_str().unwrap()), "{field}");
                assert!(!field["rust_type"].as_str().unwrap().is_empty(), "{field}");
                assert!(field["required"].is_boolean(), "{field}");
                assert!(field["secret"].is_boolean(), "{field}");
                assert!(
                    field["default"].is_null() || field["default"].is_string(),
                    "{field}"
                );
                if field["required"] == true {
                    assert!(field["default"].is_null(), "{field}");
                }
                assert!(
                    field["doc"].as_str().unwrap().len() > 10,
                    "every field is documented: {field}"
                );
                table.stdout_has(&[name]);
                assert!(
                    example
                        .keys()
                        .all(|k| fields.iter().any(|f| f["name"] == k.as_str())),
                    "the example uses declared fields only: {described}"
                );
            }
        }
    }

    let field = |kind: &str, flavor: &str, name: &str| -> Value {
        let described = zen.json(&[kind, "flavor", "describe", flavor]);
        described["fields"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("{kind} {flavor} has no field {name}"))
    };
    let mysql_names: Vec<String> =
        zen.json(&["metadata-store", "flavor", "describe", "mysql"])["fields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["name"].as_str().unwrap().to_owned())
            .collect();
    assert_eq!(
        mysql_names,
        [
            "host",
            "port",
            "username",
            "database",
            "password_env",
            "password_file",
            "password",
            "pool_size",
            "connect_timeout_secs",
            "tls",
            "tls_ca",
            "tls_cert",
            "tls_key",
            "tls_verify"
        ]
    );
    let port = field("metadata-store", "mysql", "port");
    assert_eq!(
        (&port["type"], &port["required"], &port["default"]),
        (&json!("integer"), &json!(false), &json!("3306"))
    );
    let host = field("metadata-store", "mysql", "host");
    assert_eq!(
        (&host["type"], &host["required"]),
        (&json!("string"), &json!(true))
    );
    let password = field("metadata-store", "mysql", "password");
    assert_eq!(password["secret"], true);
    assert_eq!(
        field("metadata-store", "mysql", "username")["default"],
        "root"
    );
    let path = field("metadata-store", "sqlite", "path");
    assert_eq!(
        (&path["type"], &path["required"]),
        (&json!("path"), &json!(true))
    );
    assert_eq!(
        field("metadata-store", "sqlite", "busy_timeout_ms")["default"],
        "60000"
    );
    let sync = field("artifact-store", "local", "sync");
    assert_eq!(
        (&sync["type"], &sync["default"]),
        (&json!("bool"), &json!("true"))
    );
    let parallelism = field("orchestrator", "local", "max_parallelism");
    assert_eq!(
        (
            &parallelism["type"],
            &parallelism["required"],
            &parallelism["default"]
        ),
        (&json!("integer"), &json!(false), &Value::Null)
    );
    zen.ok(&["metadata-store", "flavor", "describe", "mysql"])
        .stdout_has(&["string (secret)", "3306", "password_env"]);
}
