//! Choosing a materializer by type, in code that `#[step]` generates.
//!
//! A type with a registered default materializer ([`DefaultMaterializer`]) uses it; any
//! other `Serialize + DeserializeOwned` type falls back to [`JsonMaterializer`], a
//! self-describing format whose loading never runs code. Rust has no specialization, so
//! the choice uses auto-ref method resolution: `#[step]` expands
//! `(&&Select::<T>::new()).materializer()` where `T` is concrete. `ViaDefault` is
//! implemented for `&Select<T>` (its `&self` is the expression's own type, tried first) and
//! `ViaSerde` for `Select<T>` (reached only after one dereference), so the registered
//! materializer wins whenever `T` has one. A type with neither is a compile error that names
//! the missing bounds.

use std::marker::PhantomData;

use serde::Serialize;
use serde::de::DeserializeOwned;
use zenml_materializer::{DefaultMaterializer, JsonMaterializer, Materializer};

/// A boxed materializer for values of `T`.
pub type BoxedMaterializer<T> = Box<dyn Materializer<Value = T>>;

/// The type-level selector; see the module documentation.
#[doc(hidden)]
pub struct Select<T>(PhantomData<fn() -> T>);

impl<T> Select<T> {
    /// The selector for `T`.
    pub fn new() -> Self {
        Select(PhantomData)
    }
}

impl<T> Default for Select<T> {
    fn default() -> Self {
        Select::new()
    }
}

/// First choice: the type's registered default materializer.
#[doc(hidden)]
pub trait ViaDefault {
    /// The value type.
    type Value;
    /// The materializer.
    fn materializer(&self) -> BoxedMaterializer<Self::Value>;
}

impl<T: DefaultMaterializer + 'static> ViaDefault for &Select<T>
where
    T::Materializer: 'static,
{
    type Value = T;
    fn materializer(&self) -> BoxedMaterializer<T> {
        Box::new(T::Materializer::default())
    }
}

/// Fallback: JSON for any serde type.
#[doc(hidden)]
pub trait ViaSerde {
    /// The value type.
    type Value;
    /// The materializer.
    fn materializer(&self) -> BoxedMaterializer<Self::Value>;
}

impl<T: Serialize + DeserializeOwned + 'static> ViaSerde for Select<T> {
    type Value = T;
    fn materializer(&self) -> BoxedMaterializer<T> {
        Box::new(JsonMaterializer::<T>::new())
    }
}

/// An explicitly named materializer, boxed.
#[doc(hidden)]
pub fn explicit<M: Materializer + Default + 'static>() -> BoxedMaterializer<M::Value> {
    Box::new(M::default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Serialize, serde::Deserialize)]
    struct Model {
        weights: Vec<f64>,
    }

    #[test]
    #[allow(clippy::needless_borrow)] // the borrows are the mechanism under test
    fn registered_types_use_their_materializer_and_others_fall_back_to_json() {
        assert_eq!(
            (&&Select::<Vec<u8>>::new()).materializer().id(),
            "zenml.bytes"
        );
        assert_eq!((&&Select::<f64>::new()).materializer().id(), "zenml.json");
        assert_eq!((&&Select::<Model>::new()).materializer().id(), "zenml.json");
        assert_eq!(
            (&&Select::<Vec<f64>>::new()).materializer().id(),
            "zenml.json"
        );
    }
}
