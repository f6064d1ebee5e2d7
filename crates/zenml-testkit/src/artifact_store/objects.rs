//! The objects group: the basic operations of the contract.

use std::fs;
use std::io::Read;

use zenml_artifact_store::{
    ArtifactStore, ArtifactStoreError, GetOptions, GetRange, ObjectPath, PutMode,
};

use super::helpers::{Scope, expect_not_found, list_keys, ok};

/// Objects read back exactly as written, the empty object included, and a put replaces an
/// object (also with shorter content).
pub fn put_and_get_round_trip(store: &dyn ArtifactStore) {
    let scope = Scope::new(store);
    let binary: Vec<u8> = (0..=255u8).cycle().take(10_000).collect();
    let (empty, data) = (scope.key("empty"), scope.key("step/output/data.bin"));
    ok(store.put(&empty, b""), "put of an empty object");
    ok(store.put(&data, &binary), "put");
    assert_eq!(ok(store.get(&empty), "get"), b"", "the empty object");
    assert!(
        ok(store.get(&data), "get") == binary,
        "get returns the bytes put"
    );
    ok(store.put(&data, b"short"), "put replacing an object");
    assert_eq!(
        ok(store.get(&data), "get"),
        b"short",
        "a put replaces the whole object"
    );
    assert!(ok(store.exists(&empty), "exists"), "an empty object exists");
}

/// A missing object is [`ArtifactStoreError::NotFound`] naming its key, for `get` and
/// `get_file` (which then leaves its destination alone), and does not exist.
pub fn missing_objects_are_not_found(store: &dyn ArtifactStore) {
    let scope = Scope::new(store);
    let missing = scope.key("no/such/object");
    expect_not_found(store.get(&missing), &missing);
    let destination = scope.scratch("destination");
    fs::write(&destination, b"untouched").expect("cannot write a scratch file");
    expect_not_found(store.get_file(&missing, &destination), &missing);
    assert_eq!(
        fs::read(&destination).ok().as_deref(),
        Some(&b"untouched"[..]),
        "a failed get_file leaves its destination alone"
    );
    assert!(!ok(store.exists(&missing), "exists"));
    // An object below the scope, and a sibling: still no such object.
    ok(store.put(&scope.key("no/such/other"), b"x"), "put");
    expect_not_found(store.get(&missing), &missing);
}

/// `head` reports an object's size without reading it, agrees with `list`, changes its
/// ETag (where the store has ETags) when the object is replaced, and is `NotFound` for a
/// missing key and for a prefix of objects.
pub fn head_describes_objects_without_reading_them(store: &dyn ArtifactStore) {
    let scope = Scope::new(store);
    let key = scope.key("meta/object");
    let written = ok(store.put(&key, &[7u8; 1000]), "put");
    assert_eq!(written.size, 1000, "put reports the bytes written");
    let head = ok(store.head(&key), "head");
    assert_eq!(head.path, key, "head names the key");
    assert_eq!(head.size, 1000, "head reports the size");
    let listed = ok(store.list(Some(&scope.root)), "list");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].size, 1000, "list reports the size");
    if let (Some(put_tag), Some(head_tag)) = (&written.e_tag, &head.e_tag) {
        assert_eq!(put_tag, head_tag, "put and head report the same ETag");
    }
    let replaced = ok(store.put(&key, b"other bytes"), "put");
    let after = ok(store.head(&key), "head");
    assert_eq!(after.size, 11);
    if let (Some(before), Some(now)) = (&head.e_tag, &after.e_tag) {
        assert_ne!(before, now, "replacing an object changes its ETag");
    }
    if let (Some(put_tag), Some(head_tag)) = (&replaced.e_tag, &after.e_tag) {
        assert_eq!(put_tag, head_tag);
    }
    expect_not_found(
        store.head(&scope.key("meta/missing")),
        &scope.key("meta/missing"),
    );
    expect_not_found(store.head(&scope.key("meta")), &scope.key("meta"));
}

/// Ranged reads return exactly the requested bytes: bounded (clamped at the end), from an
/// offset, and a suffix; the streamed reader of a range yields the same; a range starting
/// past the end is [`ArtifactStoreError::InvalidRange`] and a missing object `NotFound`.
pub fn ranged_reads_are_exact(store: &dyn ArtifactStore) {
    let scope = Scope::new(store);
    let key = scope.key("ranges/object");
    let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    ok(store.put(&key, &data), "put");
    assert_eq!(
        ok(store.get_range(&key, 10..20), "get_range"),
        &data[10..20]
    );
    assert_eq!(
        ok(
            store.get_range(&key, 99_990..200_000),
            "get_range past the end"
        ),
        &data[99_990..],
        "a range past the end is clamped"
    );
    let from = ok(
        store.get_opts(&key, GetOptions::range(GetRange::Offset(65_536))),
        "get_opts",
    );
    assert_eq!(from.range, 65_536..100_000, "the result names its range");
    assert_eq!(
        from.meta.size, 100_000,
        "the result carries the object's metadata"
    );
    assert_eq!(ok(from.bytes(), "read"), &data[65_536..]);
    let suffix = ok(
        store.get_opts(&key, GetOptions::range(GetRange::Suffix(7))),
        "get_opts",
    );
    assert_eq!(ok(suffix.bytes(), "read"), &data[100_000 - 7..]);
    let mut streamed = ok(store.get_opts(&key, GetOptions::default()), "get_opts");
    let mut first = vec![0u8; 3];
    streamed
        .reader
        .read_exact(&mut first)
        .expect("the reader streams the object");
    let mut rest = Vec::new();
    streamed
        .reader
        .read_to_end(&mut rest)
        .expect("the reader streams the object");
    assert_eq!(
        [first, rest].concat(),
        data,
        "a streamed read yields the whole object"
    );
    assert!(
        matches!(
            store.get_range(&key, 100_000..100_010),
            Err(ArtifactStoreError::InvalidRange { .. })
        ),
        "a range starting at the end is InvalidRange"
    );
    let missing = scope.key("ranges/missing");
    expect_not_found(store.get_range(&missing, 0..1), &missing);
    // A created object reads back like any other.
    let created = scope.key("ranges/created");
    ok(
        store.put_opts(&created, &data[..10], PutMode::Create),
        "put_opts(Create)",
    );
    assert_eq!(
        ok(store.get_range(&created, 2..4), "get_range"),
        &data[2..4]
    );
}

/// `exists` is true for an object, and false for a missing key and for a prefix of objects.
pub fn exists_is_true_for_objects_only(store: &dyn ArtifactStore) {
    let scope = Scope::new(store);
    let object = scope.key("pipeline/step/output/1/data.json");
    ok(store.put(&object, b"{}"), "put");
    assert!(ok(store.exists(&object), "exists"), "the object exists");
    assert!(
        !ok(store.exists(&scope.key("pipeline/step")), "exists"),
        "a prefix of objects is not an object"
    );
    assert!(!ok(
        store.exists(&scope.key("pipeline/step/output/2")),
        "exists"
    ));
}

/// `list` returns every object below a prefix at any depth, sorted by key, respecting
/// segment boundaries (`a` does not list `ab`); `list(None)` includes them and is sorted too.
pub fn list_is_complete_sorted_and_bounded(store: &dyn ArtifactStore) {
    let scope = Scope::new(store);
    let names = ["b/2", "a/x/y/z", "a/x1", "ab", "a-b", "A", "a/x/w"];
    let mut keys: Vec<ObjectPath> = names.iter().map(|n| scope.key(n)).collect();
    for key in &keys {
        ok(store.put(key, key.as_str().as_bytes()), "put");
    }
    keys.sort();
    assert_eq!(
        list_keys(store, Some(&scope.root)),
        keys,
        "every object below the prefix, sorted"
    );
    assert_eq!(
        list_keys(store, Some(&scope.key("a"))),
        vec![scope.key("a/x/w"), scope.key("a/x/y/z"), scope.key("a/x1")],
        "a prefix is a whole segment: `a` lists neither `ab` nor `a-b`"
    );
    assert_eq!(
        list_keys(store, Some(&scope.key("a/x"))),
        vec![scope.key("a/x/w"), scope.key("a/x/y/z")]
    );
    assert_eq!(
        list_keys(store, Some(&scope.key("none"))),
        Vec::<ObjectPath>::new(),
        "an unknown prefix lists nothing"
    );
    let everything = list_keys(store, None);
    let ours: Vec<ObjectPath> = everything
        .iter()
        .filter(|k| k.starts_with(&scope.root))
        .cloned()
        .collect();
    assert_eq!(ours, keys, "list(None) lists every object");
    assert!(
        everything.windows(2).all(|w| w[0] < w[1]),
        "list(None) is sorted, without duplicates"
    );
}

/// Deleting removes one object and nothing else; deleting a missing object succeeds.
pub fn deleting_is_idempotent(store: &dyn ArtifactStore) {
    let scope = Scope::new(store);
    let (gone, kept) = (scope.key("d/gone"), scope.key("d/kept"));
    ok(store.put(&gone, b"1"), "put");
    ok(store.put(&kept, b"2"), "put");
    ok(store.delete(&gone), "delete");
    expect_not_found(store.get(&gone), &gone);
    assert!(!ok(store.exists(&gone), "exists"));
    ok(store.delete(&gone), "delete of a deleted object");
    ok(
        store.delete(&scope.key("never/there")),
        "delete of a missing object",
    );
    assert_eq!(
        ok(store.get(&kept), "get"),
        b"2",
        "the other object is kept"
    );
    assert_eq!(list_keys(store, Some(&scope.root)), vec![kept]);
}

/// `delete_prefix` deletes every object below the prefix (and says how many), and nothing
/// that only shares its first characters.
pub fn delete_prefix_deletes_below_the_prefix_only(store: &dyn ArtifactStore) {
    let scope = Scope::new(store);
    for name in ["a/1", "a/2/3", "a/2/4/5", "ab", "a-b/1"] {
        ok(store.put(&scope.key(name), name.as_bytes()), "put");
    }
    assert_eq!(
        ok(store.delete_prefix(&scope.key("a")), "delete_prefix"),
        3,
        "the number of objects deleted"
    );
    assert_eq!(
        list_keys(store, Some(&scope.root)),
        vec![scope.key("a-b/1"), scope.key("ab")],
        "objects outside the prefix are kept"
    );
    assert_eq!(
        ok(store.delete_prefix(&scope.key("a")), "delete_prefix again"),
        0
    );
    assert_eq!(
        ok(store.delete_prefix(&scope.key("none")), "delete_prefix"),
        0
    );
    assert_eq!(ok(store.get(&scope.key("ab")), "get"), b"ab");
}

/// The URI has a scheme and does not change.
pub fn the_uri_is_stable(store: &dyn ArtifactStore) {
    let uri = store.uri();
    assert!(uri.contains("://"), "the URI `{uri}` has a scheme");
    assert_eq!(store.uri(), uri, "the URI does not change");
}
