//! `#[derive(ConfigFields)]` reads names, types, defaults, docs and secrets correctly.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use zenml_core::{ConfigField, ConfigFields, FieldKind, SecretString};

fn default_port() -> u16 {
    5432
}

/// A config exercising every attribute the derive understands.
#[derive(Debug, Serialize, Deserialize, ConfigFields)]
#[allow(dead_code)]
struct Everything {
    /// The host.
    host: String,
    /// The port.
    #[serde(default = "default_port")]
    port: u16,
    /// Verbose
    /// logging.
    #[serde(default)]
    verbose: bool,
    /// A folder.
    folder: Option<PathBuf>,
    /// Tags.
    #[serde(default)]
    tags: Vec<String>,
    /// Renamed.
    #[serde(rename = "ratio-limit", default)]
    ratio: f64,
    /// Never configured.
    #[serde(skip)]
    internal: u8,
    /// The password.
    #[config(secret)]
    password: Option<SecretString>,
}

/// A config whose defaults come from its `Default` impl.
#[derive(Debug, Serialize, Deserialize, ConfigFields)]
#[serde(default)]
struct WithContainerDefault {
    /// How many.
    count: u32,
}

impl Default for WithContainerDefault {
    fn default() -> Self {
        WithContainerDefault { count: 7 }
    }
}

fn field(fields: &'static [ConfigField], name: &str) -> &'static ConfigField {
    fields.iter().find(|f| f.name == name).expect(name)
}

#[test]
fn fields_are_described() {
    let fields = Everything::FIELDS;
    let names: Vec<_> = fields.iter().map(|f| f.name).collect();
    assert_eq!(
        names,
        [
            "host",
            "port",
            "verbose",
            "folder",
            "tags",
            "ratio-limit",
            "password"
        ]
    );

    let host = field(fields, "host");
    assert!(host.required && host.default.is_none());
    assert_eq!(
        (host.kind, host.doc, host.rust_type),
        (FieldKind::String, "The host.", "String")
    );

    let port = field(fields, "port");
    assert!(!port.required);
    assert_eq!(port.default_value().as_deref(), Some("5432"));
    assert_eq!(port.kind, FieldKind::Integer);

    let verbose = field(fields, "verbose");
    assert_eq!(verbose.default_value().as_deref(), Some("false"));
    assert_eq!(verbose.doc, "Verbose logging.");

    let folder = field(fields, "folder");
    assert!(!folder.required && folder.default.is_none());
    assert_eq!(folder.kind, FieldKind::Path);

    assert_eq!(field(fields, "tags").kind, FieldKind::List);
    assert_eq!(field(fields, "ratio-limit").kind, FieldKind::Float);
    assert!(field(fields, "password").secret);
    assert!(!host.secret);

    let count = field(WithContainerDefault::FIELDS, "count");
    assert!(!count.required);
    assert_eq!(count.default_value().as_deref(), Some("7"));
}

impl zenml_core::ValidateConfig for Everything {
    fn validate(&self) -> Result<(), zenml_core::ConfigError> {
        Ok(())
    }
}

#[test]
fn value_errors_name_the_key() {
    let check = |text: &str| {
        let table: toml::Table = toml::from_str(text).unwrap();
        zenml_core::flavor::check_table::<Everything>(
            zenml_core::ComponentKind::MetadataStore,
            "test",
            &table,
        )
    };
    check("host = \"h\"\nport = 80").unwrap();
    let err = check("host = \"h\"\nport = 70000").unwrap_err().to_string();
    assert!(
        err.starts_with("invalid value for `port`:") && err.contains("70000"),
        "{err}"
    );
    let err = check("host = \"h\"\nverbose = \"yes\"")
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("invalid value for `verbose`:"), "{err}");
}
