//! What a component needs to know about where it is opened.

use std::path::{Path, PathBuf};

/// The environment a component is built in. Relative paths in a component's configuration
/// are resolved against [`ComponentContext::repository_root`], the folder that holds `.zen/`,
/// so that a stack definition means the same thing from every subdirectory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComponentContext {
    /// The folder that contains the `.zen/` directory.
    pub repository_root: PathBuf,
}

impl ComponentContext {
    /// A context rooted at `repository_root`.
    pub fn new(repository_root: impl Into<PathBuf>) -> Self {
        ComponentContext {
            repository_root: repository_root.into(),
        }
    }

    /// `path` itself when absolute, otherwise `path` below the repository root.
    pub fn resolve(&self, path: &Path) -> PathBuf {
        if path.is_absolute() {
            path.to_path_buf()
        } else {
            self.repository_root.join(path)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_resolve_against_the_root() {
        let ctx = ComponentContext::new("/repo");
        assert_eq!(
            ctx.resolve(Path::new(".zen/db")),
            Path::new("/repo/.zen/db")
        );
        assert_eq!(ctx.resolve(Path::new("/abs/db")), Path::new("/abs/db"));
    }
}
