//! Errors in user-supplied configuration.

use std::path::PathBuf;

use crate::ComponentKind;

/// Something wrong with configuration a user wrote: on the command line, in a TOML file,
/// or in a stack definition. Every variant says what to do about it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// No flavor of this name is linked into the program.
    #[error(
        "unknown {} flavor `{name}`{}; known {} flavors: {}{hint}",
        kind.human_name(), did_you_mean(name, known), kind.human_name(), list_or_none(known)
    )]
    UnknownFlavor {
        /// The kind asked for.
        kind: ComponentKind,
        /// The flavor asked for.
        name: String,
        /// The flavors of `kind` that are linked, sorted.
        known: Vec<String>,
        /// Extra advice, e.g. which cargo feature links the flavor; empty or starting with `; `.
        hint: String,
    },
    /// A key that the flavor's configuration does not have.
    #[error(
        "unknown config key `{key}` for {} flavor `{flavor}`{}; valid keys: {}",
        kind.human_name(), did_you_mean(key, valid), list_or_none(valid)
    )]
    UnknownKey {
        /// The component kind.
        kind: ComponentKind,
        /// The flavor.
        flavor: String,
        /// The unknown key.
        key: String,
        /// The keys the flavor accepts, sorted.
        valid: Vec<String>,
    },
    /// A required key is missing.
    #[error(
        "missing required config key `{key}` for {} flavor `{flavor}`",
        kind.human_name()
    )]
    MissingKey {
        /// The component kind.
        kind: ComponentKind,
        /// The flavor.
        flavor: String,
        /// The missing key.
        key: String,
    },
    /// A value has the wrong type or is out of range.
    #[error("invalid value for `{key}`: {message}")]
    InvalidValue {
        /// The key whose value is wrong (dotted for nested keys).
        key: String,
        /// What is wrong.
        message: String,
    },
    /// A TOML file that does not parse or does not have the expected shape.
    #[error("{}:{line}:{column}: {message}{}", file.display(), key.as_ref().map(|k| format!(" (key `{k}`)")).unwrap_or_default())]
    Toml {
        /// The file.
        file: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// The key on that line, when there is one.
        key: Option<String>,
        /// The parser's message.
        message: String,
    },
    /// Any other invalid configuration, with its explanation.
    #[error("{0}")]
    Invalid(String),
}

/// An error and its chain of sources as one line, joined with `: `. A cause whose text the
/// message already contains (many errors print their source) is not repeated.
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = cause.source();
    }
    message
}

fn list_or_none(items: &[String]) -> String {
    if items.is_empty() {
        "(none)".to_owned()
    } else {
        items.join(", ")
    }
}

/// ` (did you mean `x`?)` when one of `candidates` is close to `given`, else nothing.
fn did_you_mean(given: &str, candidates: &[String]) -> String {
    candidates
        .iter()
        .map(|c| (strsim::jaro_winkler(given, c), c))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| format!(" (did you mean `{c}`?)"))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_names_are_suggested() {
        let valid = vec!["host".to_owned(), "port".to_owned(), "database".to_owned()];
        assert_eq!(did_you_mean("prot", &valid), " (did you mean `port`?)");
        assert_eq!(
            did_you_mean("databse", &valid),
            " (did you mean `database`?)"
        );
        assert_eq!(did_you_mean("zzz", &valid), "");
    }
}
