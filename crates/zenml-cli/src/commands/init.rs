//! `zenml init` and `zenml version`.

use std::path::PathBuf;

use serde_json::json;
use zenml::core::{ComponentKind, FlavorRegistry};
use zenml::stack::Repository;

use crate::output::Output;

pub(crate) fn init(out: Output, path: Option<PathBuf>) -> anyhow::Result<()> {
    let root = match path {
        Some(p) => {
            std::fs::create_dir_all(&p)
                .map_err(|e| anyhow::anyhow!("cannot create `{}`: {e}", p.display()))?;
            p
        }
        None => super::current_dir()?,
    };
    let repo = Repository::init(&root)?;
    let stack = zenml::stack::open_stack(&repo, "default")?;
    out.done(format!(
        "Initialized a zenml repository in `{}`.",
        repo.root().display()
    ));
    out.done(format!(
        "The active stack is `default`: local orchestrator, SQLite metadata in {}, artifacts in {}.",
        stack.metadata_store.uri(),
        stack.artifact_store.uri()
    ));
    Ok(())
}

pub(crate) fn version(out: Output) -> anyhow::Result<()> {
    let registry = FlavorRegistry::global()?;
    let flavors = |kind| registry.flavors(kind).map(|f| f.name).collect::<Vec<_>>();
    let json = json!({
        "version": env!("CARGO_PKG_VERSION"),
        "flavor_crates": zenml::linked_flavor_crates(),
        "flavors": ComponentKind::STACK_KINDS.iter().map(|k| (k.config_key().to_owned(), json!(flavors(*k)))).collect::<serde_json::Map<_, _>>(),
    });
    out.show(json, || {
        let mut text = format!("zenml {}", env!("CARGO_PKG_VERSION"));
        for kind in ComponentKind::STACK_KINDS {
            text.push_str(&format!(
                "\n  {} flavors: {}",
                kind.human_name(),
                flavors(kind).join(", ")
            ));
        }
        text
    });
    Ok(())
}
