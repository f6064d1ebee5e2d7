//! The names group: keys are validated and never leave the store.

use std::fs;

use zenml_artifact_store::{ArtifactStore, ObjectPath, PutMode};

use super::helpers::{Scope, list_keys, local_root, ok, plant_link};
use crate::{not_applicable, skip};

/// [`ObjectPath`] refuses every key that could leave a store's root or clash with its staging
/// data, directly and through `join`. Needs no store.
pub fn object_paths_reject_escapes() {
    for bad in [
        "",
        "/etc/passwd",
        "..",
        "../x",
        "a/../../x",
        "a/..",
        "./a",
        "a/./b",
        "a//b",
        "a/",
        "a\\..\\b",
        "..\\x",
        "c:/x",
        "C:\\x",
        "a/\0b",
        "a/\nb",
        ".zenml-staging",
        ".zenml-staging/x",
    ] {
        assert!(
            ObjectPath::new(bad).is_err(),
            "ObjectPath accepts the escaping key {bad:?}"
        );
    }
    assert!(
        ObjectPath::new(&"x".repeat(256)).is_err(),
        "a 256-byte segment"
    );
    let base = ObjectPath::new("base").expect("`base` is a valid key");
    for bad in ["..", "../x", "x/../..", "/x", ""] {
        assert!(base.join(bad).is_err(), "ObjectPath::join accepts {bad:?}");
    }
}

/// Keys that are valid but unusual (dots, spaces, non-ASCII, a 255-byte segment, a nested
/// `.zenml-staging`) are distinct objects that round-trip and list exactly.
pub fn unusual_valid_keys_are_distinct_objects(store: &dyn ArtifactStore) {
    let scope = Scope::new(store);
    let long = "s".repeat(255);
    let names = [
        "..a",
        "a..",
        "...",
        ".hidden/x",
        "with space",
        "ünïcödé/日本語",
        "emoji 🦀",
        "a-b_c.d~e",
        "x/.zenml-staging/y",
        long.as_str(),
    ];
    let mut keys = Vec::new();
    for name in names {
        let key = scope.key(name);
        ok(store.put(&key, name.as_bytes()), "put");
        keys.push(key);
    }
    for (key, name) in keys.iter().zip(names) {
        assert_eq!(
            ok(store.get(key), "get"),
            name.as_bytes(),
            "the object at {key}"
        );
    }
    keys.sort();
    assert_eq!(list_keys(store, Some(&scope.root)), keys);
}

/// A store that keeps objects in a local folder (a `file://` URI) does not follow symbolic
/// links placed inside that folder: `put`, `put_file`, `put_file_moving`, `delete` and
/// `delete_prefix` never change a file outside the root, and `get`, `get_file`, `head`,
/// `exists` and `list` never read one. Unix only; skipped on stores without a `file://` URI.
pub fn links_inside_the_store_are_not_followed(store: &dyn ArtifactStore) {
    let Some(root) = local_root(store) else {
        not_applicable("the store has no `file://` URI, so no folder to plant links in")
    };
    if !cfg!(unix) {
        skip("symbolic links are only planted on Unix");
    }
    let scope = Scope::new(store);
    let outside = tempfile::tempdir().expect("cannot create a temporary folder");
    fs::write(outside.path().join("secret"), b"outside").expect("cannot write a scratch file");
    // A link to a folder outside the store, where a prefix would be.
    ok(store.put(&scope.key("placeholder"), b"p"), "put");
    let link = root.join(scope.root.as_str()).join("escape");
    plant_link(outside.path(), &link);
    let through = scope.key("escape/secret");
    let written = scope.key("escape/written");

    let mut escapes = Vec::new();
    if matches!(store.get(&through), Ok(ref bytes) if bytes == b"outside") {
        escapes.push("get read a file outside the store");
    }
    let copy = scope.scratch("copy");
    if store.get_file(&through, &copy).is_ok() {
        escapes.push("get_file read a file outside the store");
    }
    if matches!(store.exists(&through), Ok(true)) {
        escapes.push("exists saw a file outside the store");
    }
    if list_keys(store, Some(&scope.root)).contains(&through)
        || list_keys(store, Some(&scope.key("escape"))).contains(&through)
    {
        escapes.push("list listed a file outside the store");
    }
    let _ignored = store.put(&written, b"escaped");
    if outside.path().join("written").exists() {
        escapes.push("put wrote a file outside the store");
    }
    let moved = scope.scratch("moved");
    fs::write(&moved, b"escaped").expect("cannot write a scratch file");
    if let Some(local) = store.local_files() {
        let _ignored = local.put_file_moving(&scope.key("escape/moved"), &moved, PutMode::Create);
        if outside.path().join("moved").exists() {
            escapes.push("put_file_moving wrote a file outside the store");
        }
    }
    let _ignored = store.put_file(&scope.key("escape/streamed"), &moved, PutMode::Create);
    if outside.path().join("streamed").exists() {
        escapes.push("put_file wrote a file outside the store");
    }
    if store.head(&through).is_ok() {
        escapes.push("head described a file outside the store");
    }
    let _ignored = store.delete(&through);
    if !outside.path().join("secret").exists() {
        escapes.push("delete removed a file outside the store");
        fs::write(outside.path().join("secret"), b"outside").expect("cannot write a scratch file");
    }
    let _ignored = store.delete_prefix(&scope.key("escape"));
    if !outside.path().join("secret").exists() {
        escapes.push("delete_prefix removed a file outside the store");
    }
    // The link itself is the store's business now; remove it so that cleaning up is plain.
    let _ignored = fs::remove_file(&link);
    assert!(
        escapes.is_empty(),
        "through a symbolic link planted inside the store at {}: {}",
        link.display(),
        escapes.join("; ")
    );
}
