//! The repository error type.

use std::path::PathBuf;

use zenml_core::{ComponentKind, ConfigError, NameError, RegistryError};

/// What can go wrong while reading or changing a repository.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RepositoryError {
    /// No `.zen/` folder in the start folder or above it.
    #[error(
        "no zenml repository found in `{}` or any folder above it; run `zenml init` first \
         (or set ZENML_REPOSITORY_PATH)",
        start.display()
    )]
    NotARepository {
        /// Where the search started.
        start: PathBuf,
    },
    /// `ZENML_REPOSITORY_PATH` names a folder without `.zen/`.
    #[error(
        "ZENML_REPOSITORY_PATH is `{}`, which holds no zenml repository (no `.zen/` folder); \
         run `zenml init --path {}` or point the variable at a repository's root",
        path.display(),
        path.display()
    )]
    RepositoryPathNotARepository {
        /// The variable's value.
        path: PathBuf,
    },
    /// `zenml init` in a folder that already has one.
    #[error("a zenml repository already exists at `{}`", path.display())]
    AlreadyInitialized {
        /// The existing `.zen/` folder.
        path: PathBuf,
    },
    /// Invalid configuration.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// An invalid name.
    #[error(transparent)]
    Name(#[from] NameError),
    /// The flavor registry is inconsistent.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// No component of this kind and name.
    #[error("no {} named `{name}`; registered {}s: {}", kind.human_name(), kind.human_name(), list(known))]
    UnknownComponent {
        /// The kind.
        kind: ComponentKind,
        /// The missing name.
        name: String,
        /// The registered names, sorted.
        known: Vec<String>,
    },
    /// No stack of this name.
    #[error("no stack named `{name}`; registered stacks: {}", list(known))]
    UnknownStack {
        /// The missing name.
        name: String,
        /// The registered names, sorted.
        known: Vec<String>,
    },
    /// The name is taken.
    #[error("{what} `{name}` already exists")]
    AlreadyExists {
        /// What kind of thing, e.g. `stack` or `metadata store`.
        what: &'static str,
        /// The name.
        name: String,
    },
    /// The component is used by stacks and cannot be deleted.
    #[error(
        "cannot delete {} `{name}`: it is used by stack(s) {}; delete or update those stacks first",
        kind.human_name(), stacks.iter().map(|s| format!("`{s}`")).collect::<Vec<_>>().join(", ")
    )]
    ComponentInUse {
        /// The kind.
        kind: ComponentKind,
        /// The component.
        name: String,
        /// The stacks that use it.
        stacks: Vec<String>,
    },
    /// The active stack cannot be deleted.
    #[error(
        "cannot delete stack `{0}`: it is the active stack; `zenml stack set` another stack first"
    )]
    ActiveStack(String),
    /// The attribute cannot be removed.
    #[error("{0}")]
    Attribute(String),
    /// Another process changed the repository while this one was working.
    #[error("`{}` was changed by another zenml command while this one ran; nothing was written, run the command again", path.display())]
    ConcurrentChange {
        /// The file.
        path: PathBuf,
    },
    /// A component could not be opened.
    #[error("cannot open {} `{name}`: {source}", kind.human_name())]
    Open {
        /// The kind.
        kind: ComponentKind,
        /// The component.
        name: String,
        /// Why.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A file operation failed.
    #[error("{action} `{}`: {source}", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file or folder.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
}

fn list(items: &[String]) -> String {
    if items.is_empty() {
        "(none)".to_owned()
    } else {
        items.join(", ")
    }
}
