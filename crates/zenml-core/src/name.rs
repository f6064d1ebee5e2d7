//! Validated names of components, stacks, pipelines and steps.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize};

/// The longest name accepted.
pub const MAX_NAME_LEN: usize = 64;

/// A name a user gives to a stack, a component, a pipeline, a step or an output.
///
/// Names become parts of file paths and artifact-store keys, so they are restricted:
/// 1 to 64 characters from `A-Z a-z 0-9 _ - .`, starting with a letter or a digit. This
/// makes `..`, `/`, `\` and hidden names impossible, so no name can lead a path out of
/// its folder.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct Name(String);

/// Why a string is not a valid [`Name`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid name `{name}`: {reason}")]
pub struct NameError {
    /// The rejected string.
    pub name: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl Name {
    /// Validates `name`.
    pub fn new(name: &str) -> Result<Name, NameError> {
        let fail = |reason| {
            Err(NameError {
                name: name.to_owned(),
                reason,
            })
        };
        let Some(first) = name.chars().next() else {
            return fail("a name cannot be empty");
        };
        if name.len() > MAX_NAME_LEN {
            return fail("a name has at most 64 characters");
        }
        if !first.is_ascii_alphanumeric() {
            return fail("a name starts with a letter or a digit");
        }
        if !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        {
            return fail("a name may only contain letters, digits, `_`, `-` and `.`");
        }
        Ok(Name(name.to_owned()))
    }

    /// The name as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for Name {
    type Err = NameError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Name::new(s)
    }
}

impl AsRef<str> for Name {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for Name {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        Name::new(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_names() {
        for ok in ["default", "prod-mysql", "v1.2", "a", "S3_bucket"] {
            assert!(Name::new(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn rejects_names_that_could_escape_a_folder() {
        for bad in [
            "",
            "..",
            ".hidden",
            "a/b",
            "a\\b",
            "-x",
            "spa ce",
            "é",
            &"x".repeat(65),
        ] {
            assert!(Name::new(bad).is_err(), "{bad:?}");
        }
    }
}
