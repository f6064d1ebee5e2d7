//! Parsing TOML files with errors that name the file, the line, the column and the key.

use std::path::Path;

use serde::de::DeserializeOwned;

use crate::ConfigError;

/// A 1-based position in a text file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TomlLocation {
    /// 1-based line.
    pub line: usize,
    /// 1-based column, counted in characters.
    pub column: usize,
}

impl TomlLocation {
    /// The position of byte `offset` in `text`.
    pub fn of_offset(text: &str, offset: usize) -> TomlLocation {
        let offset = offset.min(text.len());
        let before = text.get(..offset).unwrap_or(text);
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = before.get(line_start..).map_or(0, |s| s.chars().count()) + 1;
        TomlLocation { line, column }
    }
}

/// Parses `text`, read from `file`, into `T`. A failure becomes [`ConfigError::Toml`] with
/// the file, the line and column of the problem and the key written on that line.
pub fn parse_toml_file<T: DeserializeOwned>(file: &Path, text: &str) -> Result<T, ConfigError> {
    toml::from_str(text).map_err(|err| {
        let span = err.span().unwrap_or(0..0);
        let at = TomlLocation::of_offset(text, span.start);
        let key = key_on_line(text, at.line);
        ConfigError::Toml {
            file: file.to_path_buf(),
            line: at.line,
            column: at.column,
            key,
            message: err.message().trim().to_owned(),
        }
    })
}

/// The key of a `key = value` line, if the line is one.
pub(crate) fn key_on_line(text: &str, line: usize) -> Option<String> {
    let content = text.lines().nth(line.checked_sub(1)?)?;
    let (key, _) = content.split_once('=')?;
    let key = key.trim().trim_matches('"');
    (!key.is_empty() && !key.starts_with('[')).then(|| key.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Cfg {
        name: String,
        port: u16,
    }

    #[test]
    fn syntax_errors_name_file_line_and_column() {
        let text = "name = \"x\"\nport = = 3\n";
        let err = parse_toml_file::<Cfg>(Path::new("stack.toml"), text).unwrap_err();
        let ConfigError::Toml { line, file, .. } = &err else {
            panic!("{err:?}")
        };
        assert_eq!(*line, 2);
        assert_eq!(file, Path::new("stack.toml"));
        assert!(err.to_string().starts_with("stack.toml:2:"), "{err}");
    }

    #[test]
    fn type_errors_name_the_key() {
        let text = "name = \"x\"\nport = \"high\"\n";
        let err = parse_toml_file::<Cfg>(Path::new("a.toml"), text).unwrap_err();
        let ConfigError::Toml { line, key, .. } = &err else {
            panic!("{err:?}")
        };
        assert_eq!((*line, key.as_deref()), (2, Some("port")));
    }

    #[test]
    fn offsets_map_to_lines_and_columns() {
        let text = "ab\ncdé\nx";
        assert_eq!(
            TomlLocation::of_offset(text, 0),
            TomlLocation { line: 1, column: 1 }
        );
        assert_eq!(
            TomlLocation::of_offset(text, 5),
            TomlLocation { line: 2, column: 3 }
        );
        assert_eq!(
            TomlLocation::of_offset(text, 8),
            TomlLocation { line: 3, column: 1 }
        );
    }
}
