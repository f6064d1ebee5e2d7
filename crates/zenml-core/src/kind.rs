//! The kinds of stack component.

use std::fmt;
use std::str::FromStr;

/// One kind of stack component. A stack holds exactly one component of each configurable
/// kind ([`ComponentKind::STACK_KINDS`]); materializers are chosen per Rust type instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ComponentKind {
    /// Decides where and in what order steps run.
    Orchestrator,
    /// Records pipelines, runs, steps, parameters, artifacts and lineage.
    MetadataStore,
    /// Holds artifact bytes.
    ArtifactStore,
    /// Turns Rust values into files and back.
    Materializer,
}

impl ComponentKind {
    /// The kinds a stack is composed of, in display order.
    pub const STACK_KINDS: [ComponentKind; 3] = [
        ComponentKind::Orchestrator,
        ComponentKind::MetadataStore,
        ComponentKind::ArtifactStore,
    ];

    /// The name used on the command line, e.g. `metadata-store`.
    pub fn cli_name(self) -> &'static str {
        match self {
            ComponentKind::Orchestrator => "orchestrator",
            ComponentKind::MetadataStore => "metadata-store",
            ComponentKind::ArtifactStore => "artifact-store",
            ComponentKind::Materializer => "materializer",
        }
    }

    /// The key used in TOML files, e.g. `metadata_store`.
    pub fn config_key(self) -> &'static str {
        match self {
            ComponentKind::Orchestrator => "orchestrator",
            ComponentKind::MetadataStore => "metadata_store",
            ComponentKind::ArtifactStore => "artifact_store",
            ComponentKind::Materializer => "materializer",
        }
    }

    /// Words for messages, e.g. `metadata store`.
    pub fn human_name(self) -> &'static str {
        match self {
            ComponentKind::Orchestrator => "orchestrator",
            ComponentKind::MetadataStore => "metadata store",
            ComponentKind::ArtifactStore => "artifact store",
            ComponentKind::Materializer => "materializer",
        }
    }
}

impl fmt::Display for ComponentKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.cli_name())
    }
}

impl FromStr for ComponentKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let all = [
            ComponentKind::Orchestrator,
            ComponentKind::MetadataStore,
            ComponentKind::ArtifactStore,
            ComponentKind::Materializer,
        ];
        all.into_iter()
            .find(|k| k.cli_name() == s || k.config_key() == s)
            .ok_or_else(|| {
                format!(
                    "unknown component kind `{s}`; expected one of: orchestrator, metadata-store, artifact-store, materializer"
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_back() {
        for kind in ComponentKind::STACK_KINDS {
            assert_eq!(kind.cli_name().parse::<ComponentKind>(), Ok(kind));
            assert_eq!(kind.config_key().parse::<ComponentKind>(), Ok(kind));
        }
        assert!("scheduler".parse::<ComponentKind>().is_err());
    }
}
