//! `--key=value` settings of component commands.

use std::path::Path;

use anyhow::{Context, bail};
use zenml::core::{ComponentKind, ConfigError, FlavorDescription};

/// A raw setting from the command line: the key with `-` turned into `_`, and the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RawSetting {
    pub(crate) key: String,
    pub(crate) value: String,
}

/// Parses `--key=value`, `--key value` and `@file` values.
pub(crate) fn parse_settings(args: &[String]) -> anyhow::Result<Vec<RawSetting>> {
    let mut settings = Vec::new();
    let mut iter = args.iter().peekable();
    while let Some(arg) = iter.next() {
        let Some(body) = arg.strip_prefix("--") else {
            bail!(
                "unexpected argument `{arg}`: settings are written `--key=value` or `--key value`"
            );
        };
        let (key, value) = match body.split_once('=') {
            Some((k, v)) => (k.to_owned(), v.to_owned()),
            None => match iter.next_if(|next| !next.starts_with("--")) {
                Some(v) => (body.to_owned(), v.clone()),
                None => bail!("setting `--{body}` needs a value: `--{body}=VALUE`"),
            },
        };
        if key.is_empty() {
            bail!("empty setting name in `{arg}`");
        }
        let value = match value.strip_prefix('@') {
            Some(file) => read_value_file(Path::new(file))?,
            None => value,
        };
        settings.push(RawSetting {
            key: key.replace('-', "_"),
            value,
        });
    }
    Ok(settings)
}

/// Parses `--key` names (for `remove-attribute`).
pub(crate) fn parse_keys(args: &[String]) -> anyhow::Result<Vec<String>> {
    args.iter()
        .map(|arg| match arg.strip_prefix("--") {
            Some(key) if !key.is_empty() && !key.contains('=') => Ok(key.replace('-', "_")),
            _ => bail!("unexpected argument `{arg}`: name the settings to remove as `--key`"),
        })
        .collect()
}

fn read_value_file(path: &Path) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the value file `{}`", path.display()))?;
    Ok(text
        .strip_suffix('\n')
        .map(|t| t.strip_suffix('\r').unwrap_or(t))
        .unwrap_or(&text)
        .to_owned())
}

/// Turns raw settings into a config table typed by the flavor's fields.
pub(crate) fn typed_settings(
    kind: ComponentKind,
    flavor: &FlavorDescription,
    settings: &[RawSetting],
) -> Result<toml::Table, ConfigError> {
    let mut table = toml::Table::new();
    for setting in settings {
        let Some(field) = flavor.field(&setting.key) else {
            let mut valid: Vec<String> = flavor.fields.iter().map(|f| f.name.to_owned()).collect();
            valid.sort();
            return Err(ConfigError::UnknownKey {
                kind,
                flavor: flavor.name.to_owned(),
                key: setting.key.clone(),
                valid,
            });
        };
        table.insert(
            field.name.to_owned(),
            field.parse_cli_value(&setting.value)?,
        );
    }
    Ok(table)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn both_spellings_and_dashes() {
        let parsed = parse_settings(&args(&["--host=db", "--password-env", "PWD_VAR"])).unwrap();
        assert_eq!(
            parsed,
            vec![
                RawSetting {
                    key: "host".into(),
                    value: "db".into()
                },
                RawSetting {
                    key: "password_env".into(),
                    value: "PWD_VAR".into()
                },
            ]
        );
    }

    #[test]
    fn values_from_files() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("v.txt");
        std::fs::write(&file, "from-file\n").unwrap();
        let parsed = parse_settings(&args(&[&format!("--path=@{}", file.display())])).unwrap();
        assert_eq!(parsed[0].value, "from-file");
    }

    #[test]
    fn malformed_settings_are_explained() {
        assert!(
            parse_settings(&args(&["host=db"]))
                .unwrap_err()
                .to_string()
                .contains("--key=value")
        );
        assert!(
            parse_settings(&args(&["--host"]))
                .unwrap_err()
                .to_string()
                .contains("needs a value")
        );
        assert_eq!(
            parse_keys(&args(&["--max-parallelism"])).unwrap(),
            vec!["max_parallelism"]
        );
        assert!(parse_keys(&args(&["x"])).is_err());
    }
}
