//! Passwords: referenced by variable name or by file, or given literally and then kept in
//! `.zen/secrets.toml` (mode 0600) and nowhere else — not in `config.toml`, not in any
//! output, not in an export.

use zenml_e2e::{Run, Zenml, mode, set_mode};

const SECRET: &str = "Hunter2-literal-Secret";

/// Every command that shows components, in table and JSON form.
const SHOWING: &[&[&str]] = &[
    &["metadata-store", "describe", "vault"],
    &["metadata-store", "describe"],
    &["metadata-store", "list"],
    &["metadata-store", "get"],
    &["stack", "describe"],
    &["stack", "describe", "vaulted"],
    &["stack", "list"],
    &["stack", "get"],
    &["config", "list"],
    &["config", "metadata", "get"],
];

/// Runs every showing command, in both formats, and asserts that `secret` never appears.
fn assert_never_shown(zen: &Zenml, secret: &str) -> Vec<Run> {
    let mut runs = Vec::new();
    for args in SHOWING {
        let table = zen.ok(args);
        table.never_shows(secret);
        let mut json_args = vec!["--output", "json"];
        json_args.extend_from_slice(args);
        let json = zen.ok(&json_args);
        json.never_shows(secret);
        json.json();
        runs.push(table);
        runs.push(json);
    }
    runs
}

fn register_vault(zen: &Zenml, password_args: &[&str]) -> Run {
    let mut args = vec![
        "metadata-store",
        "register",
        "vault",
        "--flavor",
        "mysql",
        "--host",
        "127.0.0.1",
        "--port",
        "1",
        "--database",
        "zenml",
        "--connect-timeout-secs",
        "2",
    ];
    args.extend_from_slice(password_args);
    let run = zen.ok(&args);
    zen.ok(&[
        "stack", "register", "vaulted", "-o", "default", "-m", "vault", "-a", "default", "--set",
    ]);
    run
}

#[test]
fn password_env_stores_only_the_variable_name() {
    let zen = Zenml::init();
    let run = zen
        .cmd(&[
            "metadata-store",
            "register",
            "vault",
            "--flavor",
            "mysql",
            "--host",
            "127.0.0.1",
            "--database",
            "zenml",
            "--password-env",
            "ZENML_E2E_PASSWORD",
        ])
        .env("ZENML_E2E_PASSWORD", SECRET)
        .ok();
    assert!(run.stderr.is_empty(), "no warning for a variable\n{run}");
    run.never_shows(SECRET);
    let config = zen.config_text();
    assert!(!config.contains(SECRET));
    assert_eq!(
        zen.config()["metadata_stores"]["vault"]["password_env"].as_str(),
        Some("ZENML_E2E_PASSWORD")
    );
    assert!(!zen.path(".zen/secrets.toml").exists());
    zen.ok(&[
        "stack", "register", "vaulted", "-o", "default", "-m", "vault", "-a", "default", "--set",
    ]);
    let described = zen.json(&["metadata-store", "describe", "vault"]);
    assert_eq!(described["config"]["password_env"], "ZENML_E2E_PASSWORD");
    assert!(described["config"].get("password").is_none());

    // The shortcut does the same.
    zen.ok(&[
        "config",
        "metadata",
        "set",
        "mysql",
        "--host",
        "db",
        "--database",
        "zenml",
        "--password-env",
        "OTHER_VAR",
    ]);
    assert_eq!(
        zen.config()["metadata_stores"]["vault"]["password_env"].as_str(),
        Some("OTHER_VAR")
    );
    assert!(!zen.path(".zen/secrets.toml").exists());
}

#[test]
fn a_literal_password_lives_only_in_the_secrets_file() {
    let zen = Zenml::init();
    let run = register_vault(&zen, &["--password", SECRET]);
    run.stderr_has(&[
        "warning: password given on the command line can be seen by other users",
        "--password-env",
        "secrets.toml",
        "0600",
    ]);
    run.never_shows(SECRET);

    let config = zen.config_text();
    assert!(!config.contains(SECRET), "{config}");
    assert!(
        zen.config()["metadata_stores"]["vault"]
            .get("password")
            .is_none(),
        "{config}"
    );
    let secrets_path = zen.path(".zen/secrets.toml");
    assert_eq!(mode(&secrets_path), 0o600);
    let secrets: toml::Table = toml::from_str(&zen.read(".zen/secrets.toml")).unwrap();
    assert_eq!(
        secrets["metadata_store"]["vault"]["password"].as_str(),
        Some(SECRET)
    );

    // Shown as ******** everywhere, never as itself.
    let runs = assert_never_shown(&zen, SECRET);
    assert!(runs.iter().any(|r| r.stdout.contains("********")));
    assert_eq!(
        zen.json(&["metadata-store", "describe", "vault"])["config"]["password"],
        "********"
    );

    // Exports leave it out, and say so.
    let export = zen.ok(&["stack", "export", "vaulted", "vaulted.toml"]);
    export.never_shows(SECRET);
    export.stderr_has(&[
        "warning: secret values were left out of the export: metadata_store.vault.password",
    ]);
    let exported = zen.read("vaulted.toml");
    assert!(!exported.contains(SECRET), "{exported}");
    let exported: toml::Table = toml::from_str(&exported).unwrap();
    assert!(
        exported["components"]["metadata_store"]
            .get("password")
            .is_none()
    );

    // A failure to connect does not show it either.
    zen.fails(&["stack", "check"])
        .stderr_has(&["cannot open metadata store `vault`"])
        .never_shows(SECRET);

    // Updating other keys keeps it; renaming moves it; deleting removes it.
    zen.ok(&["metadata-store", "update", "vault", "--pool-size=3"])
        .never_shows(SECRET);
    let secrets: toml::Table = toml::from_str(&zen.read(".zen/secrets.toml")).unwrap();
    assert_eq!(
        secrets["metadata_store"]["vault"]["password"].as_str(),
        Some(SECRET)
    );
    zen.ok(&["metadata-store", "rename", "vault", "safe"]);
    let secrets: toml::Table = toml::from_str(&zen.read(".zen/secrets.toml")).unwrap();
    assert!(secrets["metadata_store"].get("vault").is_none());
    assert_eq!(
        secrets["metadata_store"]["safe"]["password"].as_str(),
        Some(SECRET)
    );
    assert_eq!(mode(&secrets_path), 0o600);
    assert!(!zen.config_text().contains(SECRET));
    zen.ok(&["stack", "set", "default"]);
    zen.ok(&["stack", "delete", "vaulted", "-y"]);
    zen.ok(&["metadata-store", "delete", "safe"]);
    assert!(!zen.read(".zen/secrets.toml").contains(SECRET));
}

#[test]
fn a_literal_password_through_the_shortcut_and_remove_attribute() {
    let zen = Zenml::init();
    let run = zen.ok(&[
        "config",
        "metadata",
        "set",
        "mysql",
        "--host",
        "127.0.0.1",
        "--database",
        "zenml",
        "--password",
        SECRET,
    ]);
    run.stderr_has(&["warning: password given on the command line"]);
    run.never_shows(SECRET);
    assert!(!zen.config_text().contains(SECRET));
    assert!(zen.read(".zen/secrets.toml").contains(SECRET));
    assert_eq!(mode(&zen.path(".zen/secrets.toml")), 0o600);
    zen.ok(&["config", "list"]).never_shows(SECRET);
    zen.ok(&["--output", "json", "config", "metadata", "get"])
        .never_shows(SECRET);

    // Switching to a variable means removing the literal first: one source only.
    zen.refused(&[
        "metadata-store",
        "update",
        "default",
        "--password-env",
        "PW",
    ])
    .stderr_has(&["both `password` and `password_env` are set"])
    .never_shows(SECRET);
    zen.ok(&[
        "metadata-store",
        "remove-attribute",
        "default",
        "--password",
    ]);
    assert!(!zen.read(".zen/secrets.toml").contains(SECRET));
    zen.ok(&[
        "metadata-store",
        "update",
        "default",
        "--password-env",
        "PW",
    ]);
    assert_eq!(
        zen.config()["metadata_stores"]["default"]["password_env"].as_str(),
        Some("PW")
    );
}

#[test]
fn a_password_file_must_be_private_to_be_used() {
    let zen = Zenml::init();
    let file = zen.write("secrets/db-password", "\n");
    set_mode(&file, 0o644);
    let file_arg = file.to_str().unwrap();
    // Registration only records the path; the file is read when the store is opened.
    let run = register_vault(&zen, &["--password-file", file_arg]);
    assert!(run.stderr.is_empty(), "{run}");
    assert_eq!(
        zen.config()["metadata_stores"]["vault"]["password_file"].as_str(),
        Some(file_arg)
    );
    assert!(!zen.path(".zen/secrets.toml").exists());

    zen.fails(&["stack", "check"]).stderr_has(&[
        &format!("the password file `{file_arg}` can be accessed by other users (mode 0644)"),
        &format!("chmod 600 {file_arg}"),
    ]);

    // Private, the file is accepted: what remains is reaching the server (nothing listens
    // on port 1).
    set_mode(&file, 0o600);
    let run = zen.fails(&["stack", "check"]);
    assert!(!run.stderr.contains("chmod"), "{run}");
    run.stderr_has(&["cannot open metadata store `vault`", "127.0.0.1:1"]);
}

#[test]
fn a_secrets_file_others_can_read_is_refused() {
    let zen = Zenml::init();
    register_vault(&zen, &["--password", SECRET]);
    let secrets = zen.path(".zen/secrets.toml");
    set_mode(&secrets, 0o644);
    for args in [
        &["stack", "list"][..],
        &["metadata-store", "describe", "vault"],
    ] {
        zen.refused(args)
            .stderr_has(&["refusing to use the secrets file", "chmod 600"])
            .never_shows(SECRET);
    }
    set_mode(&secrets, 0o600);
    zen.ok(&["stack", "list"]);
}
