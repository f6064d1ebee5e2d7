//! The link-time registry of default materializers.

use std::collections::BTreeMap;

use crate::MaterializerRegistryError;

/// The description [`register_materializer!`](crate::register_materializer) submits for
/// each Rust type it gives a default materializer.
#[derive(Debug)]
pub struct MaterializerDescription {
    /// The materializer's id, e.g. `zenml.json`.
    pub id: &'static str,
    /// The version of the materializer's file layout.
    pub version: u32,
    /// The Rust type, as written in the registration, e.g. `Vec<u8>`.
    pub rust_type: &'static str,
    /// One line saying how values are stored.
    pub description: &'static str,
    /// The crate that registers it.
    pub source: &'static str,
}

inventory::collect!(MaterializerDescription);

/// Every registration linked into this program, sorted by Rust type, then id. Check it with
/// [`check_unique`].
pub fn registered() -> Vec<&'static MaterializerDescription> {
    let mut all: Vec<_> = inventory::iter::<MaterializerDescription>
        .into_iter()
        .collect();
    all.sort_by(|a, b| (a.rust_type, a.id).cmp(&(b.rust_type, b.id)));
    all
}

/// Rejects two registrations of the same Rust type, naming both crates.
pub fn check_unique(
    descriptions: &[&MaterializerDescription],
) -> Result<(), MaterializerRegistryError> {
    let mut seen: BTreeMap<&str, &MaterializerDescription> = BTreeMap::new();
    for &d in descriptions {
        if let Some(previous) = seen.insert(d.rust_type, d) {
            // Name the crates in a stable order, whatever the link order was.
            let (first, second) = if (previous.source, previous.id) <= (d.source, d.id) {
                (previous, d)
            } else {
                (d, previous)
            };
            return Err(MaterializerRegistryError::DuplicateType {
                rust_type: d.rust_type,
                first_id: first.id,
                first_source: first.source,
                second_id: second.id,
                second_source: second.source,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leak(
        rust_type: &'static str,
        id: &'static str,
        source: &'static str,
    ) -> &'static MaterializerDescription {
        Box::leak(Box::new(MaterializerDescription {
            id,
            version: 1,
            rust_type,
            description: "test",
            source,
        }))
    }

    #[test]
    fn the_registry_is_sorted_and_has_no_duplicates() {
        let all = registered();
        check_unique(&all).unwrap();
        let keys: Vec<_> = all.iter().map(|d| (d.rust_type, d.id)).collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted);
        let types: Vec<_> = all
            .iter()
            .filter(|d| {
                d.source == "zenml-materializer" && !matches!(d.id, "zenml.npy" | "zenml.parquet")
            })
            .map(|d| d.rust_type)
            .collect();
        assert_eq!(
            types,
            [
                "String", "Vec<u8>", "bool", "f32", "f64", "i128", "i16", "i32", "i64", "i8",
                "u128", "u16", "u32", "u64", "u8",
            ]
        );
    }

    #[test]
    fn duplicates_are_rejected_naming_both_crates() {
        let err = check_unique(&[
            leak("Model", "z.model", "crate-b"),
            leak("Other", "z.other", "crate-c"),
            leak("Model", "a.model", "crate-a"),
        ])
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "Rust type `Model` has two registered materializers: `a.model` from crate `crate-a` \
             and `z.model` from crate `crate-b`; remove one of the two registrations"
        );
    }
}
