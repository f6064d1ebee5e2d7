//! Validated object keys.

use std::fmt;
use std::str::FromStr;

/// The longest accepted segment, in bytes (the usual file-name limit).
const MAX_SEGMENT_LEN: usize = 255;

/// The folder name stores may use for their own staging data. No key may start with it.
pub(crate) const STAGING_DIR: &str = ".zenml-staging";

/// A key in an artifact store: one or more `/`-separated segments.
///
/// A valid path cannot leave the store's root: it is relative, and no segment is empty,
/// `.`, `..`, longer than 255 bytes, or contains `/`, `\`, `:` or a control character. The
/// first segment may not be the stores' staging folder `.zenml-staging`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectPath(String);

/// Why a string is not a valid [`ObjectPath`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid artifact store path `{path}`: {reason}")]
pub struct ObjectPathError {
    /// The rejected string.
    pub path: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl ObjectPath {
    /// Validates `path`.
    pub fn new(path: &str) -> Result<ObjectPath, ObjectPathError> {
        let fail = |reason| {
            Err(ObjectPathError {
                path: path.to_owned(),
                reason,
            })
        };
        if path.is_empty() {
            return fail("a path cannot be empty");
        }
        if path.starts_with('/') {
            return fail("a path is relative to the store's root and cannot start with `/`");
        }
        for (i, segment) in path.split('/').enumerate() {
            if segment.is_empty() {
                return fail("a path cannot contain empty segments (`//` or a trailing `/`)");
            }
            if segment == "." || segment == ".." {
                return fail("a path cannot contain `.` or `..` segments");
            }
            if segment.len() > MAX_SEGMENT_LEN {
                return fail("a path segment has at most 255 bytes");
            }
            if segment
                .chars()
                .any(|c| c == '\\' || c == ':' || c.is_control())
            {
                return fail("a path cannot contain `\\`, `:` or control characters");
            }
            if i == 0 && segment == STAGING_DIR {
                return fail("`.zenml-staging` is reserved for the store's own use");
            }
        }
        Ok(ObjectPath(path.to_owned()))
    }

    /// `self/segment`, validating `segment` (which may itself contain `/`).
    pub fn join(&self, segment: &str) -> Result<ObjectPath, ObjectPathError> {
        ObjectPath::new(&format!("{}/{segment}", self.0))
    }

    /// The path as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The segments of the path.
    pub fn segments(&self) -> impl Iterator<Item = &str> {
        self.0.split('/')
    }

    /// Whether `self` equals `prefix` or lies below it.
    pub fn starts_with(&self, prefix: &ObjectPath) -> bool {
        self.0 == prefix.0
            || (self.0.starts_with(&prefix.0)
                && self.0.as_bytes().get(prefix.0.len()) == Some(&b'/'))
    }
}

impl fmt::Display for ObjectPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for ObjectPath {
    type Err = ObjectPathError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ObjectPath::new(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_nested_keys() {
        for ok in [
            "a",
            "pipe/step/out/0a1b/data.json",
            "x.y-z_1/é",
            ".hidden/ok",
        ] {
            assert!(ObjectPath::new(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn rejects_keys_that_could_escape_the_root() {
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a/../../x",
            "a/./b",
            "a//b",
            "a/",
            "a\\..\\b",
            "c:/x",
            "a/\0",
            ".zenml-staging/x",
        ] {
            assert!(ObjectPath::new(bad).is_err(), "{bad:?}");
        }
        assert!(ObjectPath::new(&"x".repeat(256)).is_err());
    }

    #[test]
    fn prefixes_respect_segment_boundaries() {
        let p = ObjectPath::new("a/bc/d").unwrap();
        assert!(p.starts_with(&ObjectPath::new("a/bc").unwrap()));
        assert!(!p.starts_with(&ObjectPath::new("a/b").unwrap()));
        assert!(ObjectPath::new("a").unwrap().join("../b").is_err());
    }
}
