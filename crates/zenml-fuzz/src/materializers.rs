//! Every built-in materializer's `load` on arbitrary files.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::path::Path;

use zenml::materializer::{BytesMaterializer, DefaultMaterializer, JsonMaterializer, Materializer};

use crate::scratch::{with_scratch, write};

/// Writes the input as the file of every built-in materializer (`data.json`, `data.bin`) and
/// loads it as each Rust type they are the default for, and as a few compound serde types
/// through `zenml.json`. A value that loads is saved again and must load back equal (NaN as
/// NaN): loading never yields a value that the same materializer cannot store.
pub fn materializers(data: &[u8]) -> bool {
    with_scratch(|dir| {
        let input = dir.join("input");
        let again = dir.join("again");
        for folder in [&input, &again] {
            let _ = std::fs::remove_dir_all(folder);
            std::fs::create_dir_all(folder).unwrap_or_else(|e| {
                panic!("fuzz harness: cannot create {}: {e}", folder.display())
            });
        }
        write(&input.join(JsonMaterializer::<()>::FILE), data);
        write(&input.join("data.bin"), data);
        let files = Files {
            input: &input,
            again: &again,
            accepted: std::cell::Cell::new(false),
        };
        files.default::<bool>(PartialEq::eq);
        files.default::<i8>(PartialEq::eq);
        files.default::<i16>(PartialEq::eq);
        files.default::<i32>(PartialEq::eq);
        files.default::<i64>(PartialEq::eq);
        files.default::<i128>(PartialEq::eq);
        files.default::<u8>(PartialEq::eq);
        files.default::<u16>(PartialEq::eq);
        files.default::<u32>(PartialEq::eq);
        files.default::<u64>(PartialEq::eq);
        files.default::<u128>(PartialEq::eq);
        files.default::<f32>(|a, b| a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()));
        files.default::<f64>(|a, b| a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()));
        files.default::<String>(PartialEq::eq);
        files.default::<Vec<u8>>(PartialEq::eq);
        files.with(BytesMaterializer, PartialEq::eq);
        files.with(JsonMaterializer::<Vec<f64>>::new(), PartialEq::eq);
        files.with(
            JsonMaterializer::<BTreeMap<String, Vec<i64>>>::new(),
            PartialEq::eq,
        );
        files.with(
            JsonMaterializer::<(String, Option<u32>, bool)>::new(),
            PartialEq::eq,
        );
        files.with(JsonMaterializer::<serde_json::Value>::new(), PartialEq::eq);
        files.accepted.get()
    })
}

/// The folder holding the input, and an empty one to save a loaded value into.
struct Files<'a> {
    input: &'a Path,
    again: &'a Path,
    /// Whether some materializer loaded the input.
    accepted: std::cell::Cell<bool>,
}

impl Files<'_> {
    fn default<T: DefaultMaterializer + Debug>(&self, same: fn(&T, &T) -> bool) {
        self.with(T::Materializer::default(), same);
    }

    fn with<M: Materializer>(&self, materializer: M, same: fn(&M::Value, &M::Value) -> bool)
    where
        M::Value: Debug,
    {
        let Ok(value) = materializer.load(self.input) else {
            return;
        };
        self.accepted.set(true);
        let saved = self.again.join("value");
        let _ = std::fs::remove_dir_all(&saved);
        std::fs::create_dir(&saved)
            .unwrap_or_else(|e| panic!("fuzz harness: cannot create {}: {e}", saved.display()));
        materializer.save(&value, &saved).unwrap_or_else(|e| {
            panic!(
                "{} loaded {value:?} but cannot save it: {e}",
                materializer.id()
            )
        });
        let loaded = materializer.load(&saved).unwrap_or_else(|e| {
            panic!(
                "{} saved {value:?} but cannot load it: {e}",
                materializer.id()
            )
        });
        assert!(
            same(&loaded, &value),
            "{} loaded {value:?}, saved it, and loaded {loaded:?}",
            materializer.id()
        );
    }
}
