//! Flavors: the registered implementations of each component kind.
//!
//! A flavor crate declares each flavor once with [`crate::flavor`] on the `impl` of its
//! kind's trait. That gives typetag the name that selects the config type in TOML
//! (`flavor = "sqlite"`) and submits a [`FlavorDescription`] to the link-time registry.
//! [`FlavorRegistry::global`] collects them, sorts them and rejects duplicates.
//!
//! The registry only sees flavor crates that the final binary references; see the facade
//! crate `zenml`, which keeps one explicit list.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::OnceLock;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{ComponentKind, ConfigError};

/// The description every flavor registers about itself.
#[derive(Debug)]
pub struct FlavorDescription {
    /// The kind of component this flavor implements.
    pub kind: ComponentKind,
    /// The flavor's name, the value of the `flavor` key in TOML. Unique per kind.
    pub name: &'static str,
    /// One line saying what the flavor is.
    pub description: &'static str,
    /// The crate that declares the flavor.
    pub source: &'static str,
    /// An example configuration: a TOML table body without the `flavor` key.
    pub example: &'static str,
    /// The configuration fields.
    pub fields: &'static [ConfigField],
    /// The URI schemes this flavor serves, e.g. `["s3"]`: `zenml config artifacts set
    /// s3://bucket/prefix` picks the flavor that declares `s3`. A scheme is served by at most
    /// one flavor of a kind. Empty for flavors not addressed by URI.
    pub schemes: &'static [&'static str],
    /// Checks a configuration table (without the `flavor` key): known keys, required keys,
    /// value types and the flavor's own validation.
    pub check: fn(&toml::Table) -> Result<(), ConfigError>,
}

inventory::collect!(FlavorDescription);

impl FlavorDescription {
    /// The field called `name`.
    pub fn field(&self, name: &str) -> Option<&'static ConfigField> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// The example, parsed.
    pub fn example_table(&self) -> Result<toml::Table, ConfigError> {
        toml::from_str(self.example).map_err(|e| {
            ConfigError::Invalid(format!(
                "the example config of {} flavor `{}` is not valid TOML: {}",
                self.kind.human_name(),
                self.name,
                e.message()
            ))
        })
    }

    /// Checks `table` against this flavor: see [`FlavorDescription::check`].
    pub fn check_table(&self, table: &toml::Table) -> Result<(), ConfigError> {
        (self.check)(table)
    }
}

/// One configuration field of a flavor, as `flavor describe` shows it.
#[derive(Debug)]
pub struct ConfigField {
    /// The key.
    pub name: &'static str,
    /// The Rust type as written in the config struct.
    pub rust_type: &'static str,
    /// How command-line values for this field are interpreted.
    pub kind: FieldKind,
    /// Whether the key must be given.
    pub required: bool,
    /// Renders the default value, for fields that have one.
    pub default: Option<fn() -> String>,
    /// The field's documentation, from its `///` comment.
    pub doc: &'static str,
    /// Whether the value is a secret: kept out of definition files and redacted in output.
    pub secret: bool,
}

impl ConfigField {
    /// The default value rendered as text, if the field has one.
    pub fn default_value(&self) -> Option<String> {
        self.default.map(|f| f())
    }

    /// Turns a command-line string into a TOML value of this field's kind.
    pub fn parse_cli_value(&self, raw: &str) -> Result<toml::Value, ConfigError> {
        let invalid = |what: &str| ConfigError::InvalidValue {
            key: self.name.to_owned(),
            message: format!("expected {what}, got `{raw}`"),
        };
        Ok(match self.kind {
            FieldKind::String | FieldKind::Path => toml::Value::String(raw.to_owned()),
            FieldKind::Integer => toml::Value::Integer(
                raw.trim()
                    .parse::<i64>()
                    .map_err(|_| invalid("an integer"))?,
            ),
            FieldKind::Float => {
                toml::Value::Float(raw.trim().parse::<f64>().map_err(|_| invalid("a number"))?)
            }
            FieldKind::Bool => toml::Value::Boolean(match raw.trim() {
                "true" | "yes" | "on" | "1" => true,
                "false" | "no" | "off" | "0" => false,
                _ => return Err(invalid("true or false")),
            }),
            FieldKind::List => toml::Value::Array(
                raw.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(|s| toml::Value::String(s.to_owned()))
                    .collect(),
            ),
            FieldKind::Table => {
                let table: toml::Table = toml::from_str(raw)
                    .map_err(|_| invalid("an inline TOML table body such as `a = 1`"))?;
                toml::Value::Table(table)
            }
        })
    }
}

/// The shape of a configuration value, derived from the field's Rust type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    /// Text.
    String,
    /// A file system path; relative paths are resolved against the repository root.
    Path,
    /// A whole number.
    Integer,
    /// A floating-point number.
    Float,
    /// `true` or `false`.
    Bool,
    /// A list of strings; comma-separated on the command line.
    List,
    /// A nested table.
    Table,
}

impl fmt::Display for FieldKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FieldKind::String => "string",
            FieldKind::Path => "path",
            FieldKind::Integer => "integer",
            FieldKind::Float => "float",
            FieldKind::Bool => "bool",
            FieldKind::List => "list",
            FieldKind::Table => "table",
        })
    }
}

/// The configuration fields of a config struct; derive it with [`derive@crate::ConfigFields`].
pub trait ConfigFields {
    /// The fields, in declaration order.
    const FIELDS: &'static [ConfigField];
}

/// A flavor's own validation of its configuration, beyond what deserialization checks.
pub trait ValidateConfig {
    /// Returns an error that says what is wrong and how to fix it.
    fn validate(&self) -> Result<(), ConfigError>;
}

/// Links a kind's flavor trait object (e.g. `dyn ArtifactStoreFlavor`) to its
/// [`ComponentKind`]. Implemented once by each kind crate.
pub trait FlavorKind {
    /// The kind.
    const KIND: ComponentKind;
}

/// The check function that [`crate::flavor`] registers for config type `T`.
#[doc(hidden)]
pub fn check_table<T>(
    kind: ComponentKind,
    flavor: &str,
    table: &toml::Table,
) -> Result<(), ConfigError>
where
    T: ConfigFields + DeserializeOwned + ValidateConfig,
{
    check_keys(kind, flavor, T::FIELDS, table)?;
    // Deserialize from text, so that an error's span leads back to the key it is about.
    let text = toml::to_string(table).map_err(|e| ConfigError::Invalid(e.to_string()))?;
    let config: T = toml::from_str(&text).map_err(|e| {
        let message = e.message().trim().to_owned();
        let line = e
            .span()
            .map(|span| crate::TomlLocation::of_offset(&text, span.start).line);
        match line.and_then(|line| crate::toml_error::key_on_line(&text, line)) {
            Some(key) => ConfigError::InvalidValue { key, message },
            None => ConfigError::Invalid(format!(
                "invalid {} config for flavor `{flavor}`: {message}",
                kind.human_name()
            )),
        }
    })?;
    config.validate()
}

/// Rejects unknown keys and reports missing required ones.
fn check_keys(
    kind: ComponentKind,
    flavor: &str,
    fields: &[ConfigField],
    table: &toml::Table,
) -> Result<(), ConfigError> {
    for key in table.keys() {
        if !fields.iter().any(|f| f.name == key) {
            let mut valid: Vec<String> = fields.iter().map(|f| f.name.to_owned()).collect();
            valid.sort();
            return Err(ConfigError::UnknownKey {
                kind,
                flavor: flavor.to_owned(),
                key: key.clone(),
                valid,
            });
        }
    }
    if let Some(missing) = fields
        .iter()
        .find(|f| f.required && !table.contains_key(f.name))
    {
        return Err(ConfigError::MissingKey {
            kind,
            flavor: flavor.to_owned(),
            key: missing.name.to_owned(),
        });
    }
    Ok(())
}

/// Renders a default value for `flavor describe`.
#[doc(hidden)]
pub fn render_default<T: Serialize>(value: &T) -> String {
    match toml::Value::try_from(value) {
        Ok(toml::Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => "(none)".to_owned(),
    }
}

/// Why the registry could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// Two crates declare a flavor with the same kind and name.
    #[error(
        "{} flavor `{name}` is declared twice: by crate `{first}` and by crate `{second}`; \
         remove one of the two crates from the build",
        kind.human_name()
    )]
    DuplicateFlavor {
        /// The kind.
        kind: ComponentKind,
        /// The duplicated name.
        name: &'static str,
        /// The crate of the first declaration.
        first: &'static str,
        /// The crate of the second declaration.
        second: &'static str,
    },
    /// Two flavors of one kind declare that they serve the same URI scheme.
    #[error(
        "URI scheme `{scheme}://` is declared by two {} flavors: `{first}` and `{second}`; \
         remove one of their crates from the build",
        kind.human_name()
    )]
    DuplicateScheme {
        /// The kind.
        kind: ComponentKind,
        /// The scheme.
        scheme: &'static str,
        /// The first flavor, by name.
        first: &'static str,
        /// The second flavor.
        second: &'static str,
    },
}

/// Every flavor linked into the program, by kind and name.
#[derive(Debug)]
pub struct FlavorRegistry {
    flavors: BTreeMap<(ComponentKind, &'static str), &'static FlavorDescription>,
    schemes: BTreeMap<(ComponentKind, &'static str), &'static FlavorDescription>,
}

impl FlavorRegistry {
    /// The registry of every flavor linked into this program, built once.
    pub fn global() -> Result<&'static FlavorRegistry, RegistryError> {
        static GLOBAL: OnceLock<Result<FlavorRegistry, RegistryError>> = OnceLock::new();
        GLOBAL
            .get_or_init(|| FlavorRegistry::from_descriptions(inventory::iter::<FlavorDescription>))
            .as_ref()
            .map_err(Clone::clone)
    }

    /// Builds a registry from `descriptions`, rejecting duplicate names within a kind.
    pub fn from_descriptions(
        descriptions: impl IntoIterator<Item = &'static FlavorDescription>,
    ) -> Result<FlavorRegistry, RegistryError> {
        let mut flavors = BTreeMap::new();
        for d in descriptions {
            if let Some(previous) = flavors.insert((d.kind, d.name), d) {
                // Name the crates in a stable order, whatever the link order was.
                let (first, second) = if previous.source <= d.source {
                    (previous.source, d.source)
                } else {
                    (d.source, previous.source)
                };
                return Err(RegistryError::DuplicateFlavor {
                    kind: d.kind,
                    name: d.name,
                    first,
                    second,
                });
            }
        }
        let mut schemes = BTreeMap::new();
        for d in flavors.values() {
            for &scheme in d.schemes {
                if let Some(previous) = schemes.insert((d.kind, scheme), *d) {
                    return Err(RegistryError::DuplicateScheme {
                        kind: d.kind,
                        scheme,
                        first: previous.name,
                        second: d.name,
                    });
                }
            }
        }
        Ok(FlavorRegistry { flavors, schemes })
    }

    /// The flavor of `kind` that serves URIs with `scheme` (e.g. `s3`), if one is linked.
    pub fn flavor_for_scheme(
        &self,
        kind: ComponentKind,
        scheme: &str,
    ) -> Option<&'static FlavorDescription> {
        self.schemes
            .iter()
            .find(|((k, s), _)| *k == kind && *s == scheme)
            .map(|(_, d)| *d)
    }

    /// Every URI scheme served by a flavor of `kind`, sorted, with its flavor.
    pub fn schemes(
        &self,
        kind: ComponentKind,
    ) -> impl Iterator<Item = (&'static str, &'static FlavorDescription)> {
        self.schemes
            .range((kind, "")..)
            .take_while(move |((k, _), _)| *k == kind)
            .map(|((_, s), d)| (*s, *d))
    }

    /// The flavors of `kind`, sorted by name.
    pub fn flavors(&self, kind: ComponentKind) -> impl Iterator<Item = &'static FlavorDescription> {
        self.flavors
            .range((kind, "")..)
            .take_while(move |((k, _), _)| *k == kind)
            .map(|(_, d)| *d)
    }

    /// Every flavor, sorted by kind and name.
    pub fn all(&self) -> impl Iterator<Item = &'static FlavorDescription> {
        self.flavors.values().copied()
    }

    /// The flavor `name` of `kind`, or an error listing the known flavors of that kind.
    pub fn get(
        &self,
        kind: ComponentKind,
        name: &str,
    ) -> Result<&'static FlavorDescription, ConfigError> {
        self.flavors
            .iter()
            .find(|((k, n), _)| *k == kind && *n == name)
            .map(|(_, d)| *d)
            .ok_or_else(|| ConfigError::UnknownFlavor {
                kind,
                name: name.to_owned(),
                known: self.flavors(kind).map(|d| d.name.to_owned()).collect(),
                hint: String::new(),
            })
    }

    /// Checks a component's configuration table: the `flavor` key selects the flavor, the
    /// rest is checked by it.
    pub fn check_component(
        &self,
        kind: ComponentKind,
        flavor: &str,
        config: &toml::Table,
    ) -> Result<&'static FlavorDescription, ConfigError> {
        let description = self.get(kind, flavor)?;
        description.check_table(config)?;
        Ok(description)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(_: &toml::Table) -> Result<(), ConfigError> {
        Ok(())
    }

    fn leak(
        kind: ComponentKind,
        name: &'static str,
        source: &'static str,
    ) -> &'static FlavorDescription {
        Box::leak(Box::new(FlavorDescription {
            kind,
            name,
            description: "test flavor",
            source,
            example: "",
            fields: &[],
            schemes: &[],
            check: accept,
        }))
    }

    fn leak_with_schemes(
        kind: ComponentKind,
        name: &'static str,
        schemes: &'static [&'static str],
    ) -> &'static FlavorDescription {
        Box::leak(Box::new(FlavorDescription {
            kind,
            name,
            description: "test flavor",
            source: "x",
            example: "",
            fields: &[],
            schemes,
            check: accept,
        }))
    }

    #[test]
    fn schemes_map_to_their_flavor_and_are_unique_per_kind() {
        let registry = FlavorRegistry::from_descriptions([
            leak_with_schemes(ComponentKind::ArtifactStore, "s3", &["s3"]),
            leak_with_schemes(ComponentKind::ArtifactStore, "acme.r2", &["r2"]),
            leak_with_schemes(ComponentKind::ArtifactStore, "azure", &["az", "abfs"]),
            leak_with_schemes(ComponentKind::MetadataStore, "x.s3", &["s3"]),
        ])
        .unwrap();
        let kind = ComponentKind::ArtifactStore;
        assert_eq!(
            registry.flavor_for_scheme(kind, "r2").unwrap().name,
            "acme.r2"
        );
        assert_eq!(
            registry.flavor_for_scheme(kind, "abfs").unwrap().name,
            "azure"
        );
        assert!(registry.flavor_for_scheme(kind, "gs").is_none());
        let schemes: Vec<_> = registry.schemes(kind).map(|(s, d)| (s, d.name)).collect();
        assert_eq!(
            schemes,
            [
                ("abfs", "azure"),
                ("az", "azure"),
                ("r2", "acme.r2"),
                ("s3", "s3")
            ]
        );
        let err = FlavorRegistry::from_descriptions([
            leak_with_schemes(kind, "s3", &["s3"]),
            leak_with_schemes(kind, "other", &["s3"]),
        ])
        .unwrap_err();
        assert!(
            err.to_string().contains("`s3://` is declared by two"),
            "{err}"
        );
    }

    #[test]
    fn duplicates_are_rejected_naming_both_crates() {
        let a = leak(ComponentKind::ArtifactStore, "local", "crate-b");
        let b = leak(ComponentKind::ArtifactStore, "local", "crate-a");
        let err = FlavorRegistry::from_descriptions([a, b]).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("crate-a") && text.contains("crate-b"),
            "{text}"
        );
        assert!(text.contains("artifact store flavor `local`"), "{text}");
    }

    #[test]
    fn same_name_in_different_kinds_is_fine_and_listings_are_sorted() {
        let registry = FlavorRegistry::from_descriptions([
            leak(ComponentKind::Orchestrator, "zeta", "x"),
            leak(ComponentKind::Orchestrator, "local", "x"),
            leak(ComponentKind::ArtifactStore, "local", "x"),
            leak(ComponentKind::Orchestrator, "alpha", "x"),
        ])
        .unwrap();
        let names: Vec<_> = registry
            .flavors(ComponentKind::Orchestrator)
            .map(|d| d.name)
            .collect();
        assert_eq!(names, ["alpha", "local", "zeta"]);
    }

    #[test]
    fn unknown_flavor_lists_the_known_ones() {
        let registry = FlavorRegistry::from_descriptions([
            leak(ComponentKind::MetadataStore, "sqlite", "x"),
            leak(ComponentKind::MetadataStore, "mysql", "x"),
        ])
        .unwrap();
        let err = registry
            .get(ComponentKind::MetadataStore, "postgres")
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown metadata store flavor `postgres`; known metadata store flavors: mysql, sqlite"
        );
    }

    #[test]
    fn cli_values_follow_the_field_kind() {
        let field = ConfigField {
            name: "port",
            rust_type: "u16",
            kind: FieldKind::Integer,
            required: false,
            default: None,
            doc: "",
            secret: false,
        };
        assert_eq!(
            field.parse_cli_value("3306"),
            Ok(toml::Value::Integer(3306))
        );
        assert!(
            field
                .parse_cli_value("high")
                .unwrap_err()
                .to_string()
                .contains("`port`")
        );
    }
}
