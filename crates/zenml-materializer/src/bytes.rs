//! The `zenml.bytes` materializer: raw bytes in `data.bin`.

use std::any::type_name;
use std::path::Path;

use crate::files::{read_regular, write_new};
use crate::{Materializer, MaterializerError};

/// Stores a `Vec<u8>` unchanged in the file `data.bin`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BytesMaterializer;

impl BytesMaterializer {
    /// The materializer's id.
    pub const ID: &'static str = "zenml.bytes";
    /// The version of its file layout.
    pub const VERSION: u32 = 1;
    /// The file it writes.
    pub const FILE: &'static str = "data.bin";
}

impl Materializer for BytesMaterializer {
    type Value = Vec<u8>;

    fn id(&self) -> &'static str {
        Self::ID
    }

    fn version(&self) -> u32 {
        Self::VERSION
    }

    fn save(&self, value: &Vec<u8>, dir: &Path) -> Result<(), MaterializerError> {
        write_new(dir, Self::FILE, value)
    }

    fn load(&self, dir: &Path) -> Result<Vec<u8>, MaterializerError> {
        read_regular(dir, Self::FILE, Self::ID, type_name::<Vec<u8>>())
    }
}

crate::register_materializer! {
    Vec<u8> => BytesMaterializer {
        id: BytesMaterializer::ID,
        version: BytesMaterializer::VERSION,
        description: "The bytes unchanged in data.bin",
    }
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;
    use crate::{DefaultMaterializer, load, save};

    #[test]
    fn bytes_round_trip_unchanged() {
        let every_byte: Vec<u8> = (0..=255).collect();
        let big: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
        for value in [Vec::new(), every_byte, big] {
            let dir = tempfile::tempdir().unwrap();
            save(&value, dir.path()).unwrap();
            assert_eq!(fs::read(dir.path().join("data.bin")).unwrap(), value);
            assert_eq!(load::<Vec<u8>>(dir.path()).unwrap(), value);
        }
        let m = <Vec<u8> as DefaultMaterializer>::Materializer::default();
        assert_eq!((m.id(), m.version()), ("zenml.bytes", 1));
        let registered = crate::registered();
        let d = registered
            .iter()
            .find(|d| d.rust_type == "Vec<u8>")
            .unwrap();
        assert_eq!((d.id, d.version), (m.id(), m.version()));
    }

    #[test]
    fn a_folder_from_another_materializer_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        save(&"text".to_owned(), dir.path()).unwrap();
        let err = load::<Vec<u8>>(dir.path()).unwrap_err().to_string();
        assert!(
            err.starts_with(
                "materializer `zenml.bytes` cannot load a value of type `alloc::vec::Vec<u8>`"
            ) && err.contains("data.bin")
                && err.ends_with("the folder holds: data.json"),
            "{err}"
        );
    }
}
