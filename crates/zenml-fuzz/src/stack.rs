//! Component and stack TOML: a repository's `.zen/config.toml` and stack export files.

use std::path::Path;

use zenml::core::{ComponentKind, FlavorRegistry};
use zenml::stack::{Repository, StackExport};

use crate::scratch::{with_scratch, write};

/// The component kinds a repository holds.
const KINDS: [ComponentKind; 3] = [
    ComponentKind::Orchestrator,
    ComponentKind::MetadataStore,
    ComponentKind::ArtifactStore,
];

/// Opens a repository whose `.zen/config.toml` is the input, then reads every component
/// and checks its configuration against its flavor (as `zenml stack up` and every
/// component command do), and reads every stack and the active one. Nothing is
/// instantiated: a component's configuration may name any folder or host.
pub fn repository(data: &[u8]) -> bool {
    with_scratch(|dir| {
        let zen = dir.join("repository").join(".zen");
        std::fs::create_dir_all(&zen)
            .unwrap_or_else(|e| panic!("fuzz harness: cannot create {}: {e}", zen.display()));
        let _ = std::fs::remove_file(zen.join("secrets.toml"));
        write(&zen.join("config.toml"), data);
        let Ok(repo) = Repository::open(&dir.join("repository")) else {
            return false;
        };
        let registry = registry();
        for kind in KINDS {
            let Ok(components) = repo.components(kind) else {
                continue;
            };
            for component in components {
                let _ = registry.check_component(kind, &component.flavor, &component.config);
                let _ = repo.component_config_with_secrets(kind, component.name.as_str());
            }
        }
        for (name, stack) in repo.stacks() {
            assert_eq!(repo.stack(name.as_str()).ok(), Some(stack.clone()));
            for kind in KINDS {
                let _ = repo.component(kind, stack.component(kind).as_str());
            }
        }
        repo.active_stack_name().is_ok()
    })
}

/// Reads the input as a stack export file (`zenml stack import FILE`) and checks each
/// component as the import does; an accepted file is written back and must read back the
/// same.
pub fn stack_export(data: &[u8]) -> bool {
    with_scratch(|dir| {
        let path = dir.join("stack.toml");
        write(&path, data);
        let Ok(export) = StackExport::read(&path) else {
            return false;
        };
        round_trip(&export, &dir.join("written.toml"));
        let registry = registry();
        KINDS.into_iter().all(|kind| {
            export.component(kind).is_ok_and(|component| {
                registry
                    .check_component(kind, &component.flavor, &component.config)
                    .is_ok()
            })
        })
    })
}

/// An export that was read is written and read again unchanged.
fn round_trip(export: &StackExport, path: &Path) {
    export
        .write(path)
        .unwrap_or_else(|e| panic!("an export that was read cannot be written: {e}"));
    let again = StackExport::read(path).unwrap_or_else(|e| {
        panic!("an export that was read and written cannot be read again: {e}")
    });
    assert_eq!(
        &again, export,
        "an export changed through a write and a read"
    );
}

fn registry() -> &'static FlavorRegistry {
    FlavorRegistry::global().expect("the linked flavors are registered once each")
}
