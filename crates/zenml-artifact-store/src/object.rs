//! The values the [`ArtifactStore`](crate::ArtifactStore) contract passes around: object
//! metadata, write modes and results, read options and results.

use std::fmt;
use std::io::Read;
use std::ops::Range;
use std::time::SystemTime;

use crate::{ArtifactStoreError, ObjectPath};

/// What a store knows about one object without reading it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectMeta {
    /// The object's key.
    pub path: ObjectPath,
    /// The object's size in bytes.
    pub size: u64,
    /// When the object was last written, when the store records it.
    pub last_modified: Option<SystemTime>,
    /// An opaque tag that changes whenever the object's content changes (an HTTP ETag), when
    /// the store has one.
    pub e_tag: Option<String>,
    /// The object's version or generation, when the store keeps versions.
    pub version: Option<String>,
}

/// How a write treats an object that already exists at its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PutMode {
    /// Replace any earlier object.
    #[default]
    Overwrite,
    /// Create the object only if no object exists at the key; otherwise fail with
    /// [`ArtifactStoreError::AlreadyExists`] and leave the existing object untouched. When two
    /// writers create the same key at once, exactly one succeeds. This is a single conditional
    /// request on stores that support one, never a check followed by a write.
    Create,
}

/// What a successful write reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutResult {
    /// The number of bytes written.
    pub size: u64,
    /// The new object's ETag, when the store has one.
    pub e_tag: Option<String>,
    /// The new object's version, when the store keeps versions.
    pub version: Option<String>,
}

/// A byte range of an object to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GetRange {
    /// The bytes `start..end`; `end` past the object's end is clamped to it.
    Bounded(Range<u64>),
    /// Every byte from this offset on.
    Offset(u64),
    /// The last `n` bytes (all of them when the object is shorter).
    Suffix(u64),
}

impl GetRange {
    /// The absolute range this selects in an object of `size` bytes. A range that selects no
    /// byte (empty, or starting at or past the end, or a suffix of zero bytes) is
    /// [`ArtifactStoreError::InvalidRange`], as HTTP's 416.
    pub fn resolve(&self, path: &ObjectPath, size: u64) -> Result<Range<u64>, ArtifactStoreError> {
        let range = match *self {
            GetRange::Bounded(ref r) => r.start..r.end.min(size),
            GetRange::Offset(start) => start..size,
            GetRange::Suffix(n) => size.saturating_sub(n)..size,
        };
        let valid = match self {
            GetRange::Bounded(r) => r.start < r.end && r.start < size,
            GetRange::Offset(start) => *start < size,
            GetRange::Suffix(n) => *n > 0,
        };
        if !valid {
            return Err(ArtifactStoreError::InvalidRange {
                path: path.to_string(),
                range: self.to_string(),
                size,
            });
        }
        Ok(range)
    }
}

impl fmt::Display for GetRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GetRange::Bounded(r) => write!(f, "bytes {}..{}", r.start, r.end),
            GetRange::Offset(start) => write!(f, "bytes {start}.."),
            GetRange::Suffix(n) => write!(f, "the last {n} bytes"),
        }
    }
}

/// Options of a read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GetOptions {
    /// Read only these bytes; `None` reads the whole object.
    pub range: Option<GetRange>,
}

impl GetOptions {
    /// Options that read `range`.
    pub fn range(range: GetRange) -> GetOptions {
        GetOptions { range: Some(range) }
    }
}

/// An object being read: its metadata, the range being read, and a reader that streams those
/// bytes as they arrive.
pub struct GetResult {
    /// The object's metadata, as of the read.
    pub meta: ObjectMeta,
    /// The absolute byte range the reader yields.
    pub range: Range<u64>,
    /// The bytes of `range`, streamed. Reading fails with an I/O error when the backend does;
    /// a reader that ends before `range` is complete reports
    /// [`std::io::ErrorKind::UnexpectedEof`], never a silent short read.
    pub reader: Box<dyn Read + Send>,
}

impl fmt::Debug for GetResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GetResult")
            .field("meta", &self.meta)
            .field("range", &self.range)
            .finish_non_exhaustive()
    }
}

impl GetResult {
    /// Reads the rest of the range into memory.
    pub fn bytes(mut self) -> Result<Vec<u8>, ArtifactStoreError> {
        let expected = self.range.end - self.range.start;
        let mut data = Vec::with_capacity(usize::try_from(expected).unwrap_or(0));
        self.reader
            .read_to_end(&mut data)
            .map_err(|source| ArtifactStoreError::Read {
                path: self.meta.path.to_string(),
                source,
            })?;
        if data.len() as u64 != expected {
            return Err(ArtifactStoreError::Read {
                path: self.meta.path.to_string(),
                source: std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    format!("expected {expected} bytes, got {}", data.len()),
                ),
            });
        }
        Ok(data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p() -> ObjectPath {
        ObjectPath::new("a").unwrap()
    }

    #[test]
    fn ranges_resolve_against_the_size() {
        assert_eq!(GetRange::Bounded(2..5).resolve(&p(), 10).unwrap(), 2..5);
        assert_eq!(GetRange::Bounded(8..50).resolve(&p(), 10).unwrap(), 8..10);
        assert_eq!(GetRange::Offset(3).resolve(&p(), 10).unwrap(), 3..10);
        assert_eq!(GetRange::Suffix(4).resolve(&p(), 10).unwrap(), 6..10);
        assert_eq!(GetRange::Suffix(40).resolve(&p(), 10).unwrap(), 0..10);
        assert!(GetRange::Bounded(4..4).resolve(&p(), 10).is_err());
        assert!(GetRange::Suffix(0).resolve(&p(), 10).is_err());
        assert!(GetRange::Bounded(10..12).resolve(&p(), 10).is_err());
        assert!(GetRange::Offset(11).resolve(&p(), 10).is_err());
    }
}
