//! Names and paths: the strings that become file names, object keys and SQL values.

use std::path::{Component, Path};
use std::str::FromStr;

use zenml::artifact_store::ObjectPath;
use zenml::core::{ComponentKind, Name};
use zenml::orchestrator::{format_memory, parse_memory};

/// Validates the input (as text, lossily) as a component [`Name`], an [`ObjectPath`] (also
/// joined below a fixed prefix), a [`ComponentKind`] and a memory size, and checks what is
/// accepted: a name stays one plain file name, a path stays below any root it is joined to,
/// and a memory size prints back to the same size.
pub fn names(data: &[u8]) -> bool {
    let text = String::from_utf8_lossy(data);
    let mut accepted = false;
    for line in std::iter::once(text.as_ref()).chain(text.lines()) {
        accepted |= one(line);
    }
    accepted
}

/// Checks `text` every way; `true` when something accepted it.
fn one(text: &str) -> bool {
    let mut accepted = false;
    if let Ok(name) = Name::new(text) {
        accepted = true;
        assert_eq!(name.as_str(), text);
        assert_plain_below_root(name.as_str(), 1);
        assert_eq!(Name::from_str(text).ok(), Some(name));
    }
    if let Ok(path) = ObjectPath::new(text) {
        accepted = true;
        assert_eq!(path.as_str(), text);
        let segments = path.segments().count();
        assert_plain_below_root(path.as_str(), segments);
        assert_eq!(ObjectPath::from_str(text).ok(), Some(path.clone()));
    }
    let prefix = ObjectPath::new("artifacts/step").expect("a valid prefix");
    if let Ok(joined) = prefix.join(text) {
        assert!(joined.starts_with(&prefix), "{joined} left {prefix}");
        assert_plain_below_root(joined.as_str(), joined.segments().count());
    }
    if let Ok(kind) = ComponentKind::from_str(text) {
        accepted = true;
        assert_eq!(ComponentKind::from_str(kind.config_key()).ok(), Some(kind));
    }
    if let Ok(mib) = parse_memory(text) {
        accepted = true;
        assert_eq!(
            parse_memory(&format_memory(mib)),
            Ok(mib),
            "memory `{text}`"
        );
    }
    accepted
}

/// `relative` joined to a root is `depth` plain names below it: no root, prefix, `.`, `..`.
fn assert_plain_below_root(relative: &str, depth: usize) {
    let joined = Path::new("/root-of-the-store").join(relative);
    let below: Vec<Component<'_>> = joined.components().skip(2).collect();
    assert_eq!(below.len(), depth, "`{relative}` is not {depth} names deep");
    assert!(
        below.iter().all(|c| matches!(c, Component::Normal(_))),
        "`{relative}` has a component that is not a plain name"
    );
}
