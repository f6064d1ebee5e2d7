//! Whole-registry tests: every flavor linked through the facade behaves.

// Test helpers outside `#[test]` functions may unwrap: a failure is a test failure.
#![allow(clippy::unwrap_used)]

use serde::Serialize;
use serde::de::DeserializeOwned;
use zenml::artifact_store::ArtifactStoreFlavor;
use zenml::core::{ComponentKind, FlavorDescription, FlavorRegistry};
use zenml::metadata_store::MetadataStoreFlavor;
use zenml::orchestrator::OrchestratorFlavor;

fn registry() -> &'static FlavorRegistry {
    zenml::linked_flavor_crates();
    FlavorRegistry::global().expect("no duplicate flavors")
}

fn names(kind: ComponentKind) -> Vec<&'static str> {
    registry().flavors(kind).map(|f| f.name).collect()
}

#[test]
fn exactly_the_expected_flavors_are_linked() {
    let mut orchestrators = vec!["local", "process"];
    if cfg!(feature = "slurm") {
        orchestrators.push("slurm");
    }
    assert_eq!(names(ComponentKind::Orchestrator), orchestrators);
    let mut artifact_stores = vec!["local"];
    for (linked, name) in [
        (cfg!(feature = "azure"), "azure"),
        (cfg!(feature = "gcs"), "gcs"),
        (cfg!(feature = "s3"), "s3"),
    ] {
        if linked {
            artifact_stores.push(name);
        }
    }
    artifact_stores.sort_unstable();
    assert_eq!(names(ComponentKind::ArtifactStore), artifact_stores);
    let metadata_stores: Vec<&str> = [
        (cfg!(feature = "mysql"), "mysql"),
        (cfg!(feature = "postgres"), "postgres"),
        (cfg!(feature = "sqlite"), "sqlite"),
    ]
    .into_iter()
    .filter_map(|(linked, name)| linked.then_some(name))
    .collect();
    assert_eq!(names(ComponentKind::MetadataStore), metadata_stores);
    let mut crates: Vec<_> = registry().all().map(|f| f.source).collect();
    crates.sort();
    crates.dedup();
    assert_eq!(crates, zenml::linked_flavor_crates());
}

/// The example parsed into the flavor's config type through typetag, serialized, and
/// parsed again: the second serialization equals the first, and both pass the check.
fn round_trip<T: ?Sized>(flavor: &FlavorDescription)
where
    Box<T>: Serialize + DeserializeOwned,
{
    let mut table = flavor.example_table().expect("example is TOML");
    flavor
        .check_table(&table)
        .unwrap_or_else(|e| panic!("example of `{}` does not validate: {e}", flavor.name));
    table.insert("flavor".into(), toml::Value::String(flavor.name.into()));
    let text = toml::to_string(&table).unwrap();
    let config: Box<T> = toml::from_str(&text)
        .unwrap_or_else(|e| panic!("example of `{}` does not deserialize: {e}", flavor.name));
    let first = toml::to_string(&config).unwrap();
    let again: Box<T> = toml::from_str(&first).unwrap();
    let second = toml::to_string(&again).unwrap();
    assert_eq!(first, second, "`{}` does not round-trip", flavor.name);
    let mut reparsed: toml::Table = toml::from_str(&first).unwrap();
    assert_eq!(
        reparsed.remove("flavor"),
        Some(toml::Value::String(flavor.name.into()))
    );
    flavor
        .check_table(&reparsed)
        .unwrap_or_else(|e| panic!("serialized `{}` does not validate: {e}", flavor.name));
}

#[test]
fn every_flavor_example_round_trips_through_toml_and_validates() {
    let mut seen = 0;
    for flavor in registry().all() {
        match flavor.kind {
            ComponentKind::Orchestrator => round_trip::<dyn OrchestratorFlavor>(flavor),
            ComponentKind::MetadataStore => round_trip::<dyn MetadataStoreFlavor>(flavor),
            ComponentKind::ArtifactStore => round_trip::<dyn ArtifactStoreFlavor>(flavor),
            ComponentKind::Materializer => panic!("materializers are not TOML flavors"),
        }
        seen += 1;
    }
    assert!(seen >= 3, "only {seen} flavors registered");
}

#[test]
fn every_flavor_is_documented() {
    for flavor in registry().all() {
        assert!(!flavor.description.trim().is_empty(), "{}", flavor.name);
        assert!(flavor.source.starts_with("zenml"), "{}", flavor.source);
        for field in flavor.fields {
            assert!(
                !field.doc.trim().is_empty(),
                "{}.{}",
                flavor.name,
                field.name
            );
            assert!(
                !(field.required && field.default.is_some()),
                "{}.{} is required but has a default",
                flavor.name,
                field.name
            );
        }
    }
}

#[test]
fn unknown_keys_and_flavors_are_explained() {
    let sqlite = registry()
        .get(ComponentKind::MetadataStore, "sqlite")
        .unwrap();
    let mut table = sqlite.example_table().unwrap();
    table.insert("hots".into(), toml::Value::String("x".into()));
    let err = sqlite.check_table(&table).unwrap_err().to_string();
    assert!(
        err.contains("`hots`") && err.contains("busy_timeout_ms, path"),
        "{err}"
    );

    let err = registry()
        .get(ComponentKind::ArtifactStore, "acme.r2")
        .unwrap_err()
        .to_string();
    let known = names(ComponentKind::ArtifactStore).join(", ");
    assert!(
        err.contains(&format!("known artifact store flavors: {known}")),
        "{err}"
    );
}

#[test]
fn every_declared_scheme_leads_back_to_its_flavor() {
    let registry = registry();
    for kind in ComponentKind::STACK_KINDS {
        for flavor in registry.flavors(kind) {
            for scheme in flavor.schemes {
                assert_eq!(
                    registry.flavor_for_scheme(kind, scheme).map(|f| f.name),
                    Some(flavor.name),
                    "{scheme}://"
                );
            }
        }
    }
    let schemes: Vec<&str> = registry
        .schemes(ComponentKind::ArtifactStore)
        .map(|(scheme, _)| scheme)
        .collect();
    let mut expected = Vec::new();
    if cfg!(feature = "azure") {
        expected.extend(["abfs", "abfss", "az"]);
    }
    if cfg!(feature = "gcs") {
        expected.extend(["gcs", "gs"]);
    }
    if cfg!(feature = "s3") {
        expected.push("s3");
    }
    expected.sort_unstable();
    assert_eq!(schemes, expected);
}
