//! The artifact store suite: the [`ArtifactStore`] contract on one store.
//!
//! Groups (the columns of the flavor matrix):
//!
//! - **objects**: put, get, exists, list, delete and delete_prefix
//!   ([`put_and_get_round_trip`], [`missing_objects_are_not_found`],
//!   [`exists_is_true_for_objects_only`], [`list_is_complete_sorted_and_bounded`],
//!   [`deleting_is_idempotent`], [`delete_prefix_deletes_below_the_prefix_only`],
//!   [`the_uri_is_stable`]);
//! - **names**: keys are validated and stay inside the store
//!   ([`object_paths_reject_escapes`], [`unusual_valid_keys_are_distinct_objects`],
//!   [`links_inside_the_store_are_not_followed`]);
//! - **atomic-publish**: a failed write leaves no object, and readers never see a partial one
//!   ([`a_failed_put_file_leaves_no_object`], [`readers_never_see_partial_objects`]);
//! - **large-objects**: 64 MiB through files, moving a file in, and reading in place
//!   ([`large_objects_stream_through_files`], [`put_file_moving_publishes_the_file`],
//!   [`local_path_points_at_the_object`]).
//!
//! Every check works below a fresh prefix `zenml-testkit-<random>/` and deletes it at the
//! end, so the suite runs on a store that holds other objects (e.g. a shared bucket). Checks
//! that need local files (sources for `put_file`, destinations for `get_file`) make them in
//! a temporary folder of their own. Checks about links planted inside the store need to know
//! the store's folder: they run on stores whose [`uri`](ArtifactStore::uri) is a `file://`
//! URI and are skipped on others.
//!
//! ```no_run
//! # use zenml_artifact_store::LocalArtifactStore;
//! let dir = tempfile::tempdir().unwrap();
//! let store = LocalArtifactStore::open(&dir.path().join("artifacts"), true).unwrap();
//! zenml_testkit::artifact_store::run_all(&store).assert_passed();
//! ```

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Barrier, Mutex, PoisonError};

use zenml_artifact_store::{ArtifactStore, ArtifactStoreError, ObjectPath};

use crate::{GroupReport, SuiteReport, skip};

/// The suite's name in reports.
pub const SUITE: &str = "artifact-store";

/// The groups of [`run_all`], in order.
pub const GROUPS: [&str; 4] = ["objects", "names", "atomic-publish", "large-objects"];

/// The size of the large objects, 64 MiB.
pub const LARGE: u64 = 64 << 20;

/// Runs every check on `store` and reports them by group.
pub fn run_all(store: &dyn ArtifactStore) -> SuiteReport {
    let mut objects = GroupReport::new("objects");
    objects
        .run("put_and_get_round_trip", || put_and_get_round_trip(store))
        .run("missing_objects_are_not_found", || {
            missing_objects_are_not_found(store)
        })
        .run("exists_is_true_for_objects_only", || {
            exists_is_true_for_objects_only(store)
        })
        .run("list_is_complete_sorted_and_bounded", || {
            list_is_complete_sorted_and_bounded(store)
        })
        .run("deleting_is_idempotent", || deleting_is_idempotent(store))
        .run("delete_prefix_deletes_below_the_prefix_only", || {
            delete_prefix_deletes_below_the_prefix_only(store)
        })
        .run("the_uri_is_stable", || the_uri_is_stable(store));
    let mut names = GroupReport::new("names");
    names
        .run("object_paths_reject_escapes", object_paths_reject_escapes)
        .run("unusual_valid_keys_are_distinct_objects", || {
            unusual_valid_keys_are_distinct_objects(store)
        })
        .run("links_inside_the_store_are_not_followed", || {
            links_inside_the_store_are_not_followed(store)
        });
    let mut atomic = GroupReport::new("atomic-publish");
    atomic
        .run("a_failed_put_file_leaves_no_object", || {
            a_failed_put_file_leaves_no_object(store)
        })
        .run("readers_never_see_partial_objects", || {
            readers_never_see_partial_objects(store)
        });
    let mut large = GroupReport::new("large-objects");
    large
        .run("large_objects_stream_through_files", || {
            large_objects_stream_through_files(store)
        })
        .run("put_file_moving_publishes_the_file", || {
            put_file_moving_publishes_the_file(store)
        })
        .run("local_path_points_at_the_object", || {
            local_path_points_at_the_object(store)
        });
    SuiteReport::new(SUITE)
        .with(objects)
        .with(names)
        .with(atomic)
        .with(large)
}

// ----- objects ----------------------------------------------------------------------------------

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
        ok(store.list(Some(&scope.root)), "list"),
        keys,
        "every object below the prefix, sorted"
    );
    assert_eq!(
        ok(store.list(Some(&scope.key("a"))), "list"),
        vec![scope.key("a/x/w"), scope.key("a/x/y/z"), scope.key("a/x1")],
        "a prefix is a whole segment: `a` lists neither `ab` nor `a-b`"
    );
    assert_eq!(
        ok(store.list(Some(&scope.key("a/x"))), "list"),
        vec![scope.key("a/x/w"), scope.key("a/x/y/z")]
    );
    assert_eq!(
        ok(store.list(Some(&scope.key("none"))), "list"),
        Vec::<ObjectPath>::new(),
        "an unknown prefix lists nothing"
    );
    let everything = ok(store.list(None), "list(None)");
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
    assert_eq!(ok(store.list(Some(&scope.root)), "list"), vec![kept]);
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
        ok(store.list(Some(&scope.root)), "list"),
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

// ----- names ------------------------------------------------------------------------------------

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
    assert_eq!(ok(store.list(Some(&scope.root)), "list"), keys);
}

/// A store that keeps objects in a local folder (a `file://` URI) does not follow symbolic
/// links placed inside that folder: `put`, `put_file_moving`, `delete` and `delete_prefix`
/// never change a file outside the root, and `get`, `get_file`, `exists` and `list` never
/// read one. Unix only; skipped on stores without a `file://` URI.
pub fn links_inside_the_store_are_not_followed(store: &dyn ArtifactStore) {
    let Some(root) = local_root(store) else {
        skip("the store has no `file://` URI, so no folder to plant links in")
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
    if ok(store.list(Some(&scope.root)), "list").contains(&through)
        || ok(store.list(Some(&scope.key("escape"))), "list").contains(&through)
    {
        escapes.push("list listed a file outside the store");
    }
    let _ignored = store.put(&written, b"escaped");
    if outside.path().join("written").exists() {
        escapes.push("put wrote a file outside the store");
    }
    let moved = scope.scratch("moved");
    fs::write(&moved, b"escaped").expect("cannot write a scratch file");
    let _ignored = store.put_file_moving(&scope.key("escape/moved"), &moved);
    if outside.path().join("moved").exists() {
        escapes.push("put_file_moving wrote a file outside the store");
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

// ----- atomic publish ---------------------------------------------------------------------------

/// A `put_file` or `put_file_moving` that fails (a missing source, a folder as source) leaves
/// no object behind, and an existing object keeps its earlier bytes.
pub fn a_failed_put_file_leaves_no_object(store: &dyn ArtifactStore) {
    let scope = Scope::new(store);
    let key = scope.key("failed/object");
    let missing = scope.scratch("no-such-file");
    let folder = scope.scratch("a-folder");
    fs::create_dir(&folder).expect("cannot create a scratch folder");
    fs::write(folder.join("inside"), b"x").expect("cannot write a scratch file");

    assert!(
        store.put_file(&key, &missing).is_err(),
        "put_file of a missing file succeeded"
    );
    assert!(
        !ok(store.exists(&key), "exists"),
        "a failed put_file left an object"
    );
    assert!(
        store.put_file(&key, &folder).is_err(),
        "put_file of a folder succeeded"
    );
    assert!(
        !ok(store.exists(&key), "exists"),
        "a failed put_file left an object"
    );
    assert!(
        store.put_file_moving(&key, &missing).is_err(),
        "put_file_moving of a missing file succeeded"
    );
    assert!(
        store.put_file_moving(&key, &folder).is_err(),
        "put_file_moving of a folder succeeded"
    );
    assert!(
        !ok(store.exists(&key), "exists"),
        "a failed put_file_moving left an object"
    );
    assert_eq!(
        ok(store.list(Some(&scope.root)), "list"),
        Vec::<ObjectPath>::new(),
        "failed writes list nothing"
    );

    ok(store.put(&key, b"earlier"), "put");
    assert!(store.put_file(&key, &folder).is_err());
    assert!(store.put_file_moving(&key, &missing).is_err());
    assert_eq!(
        ok(store.get(&key), "get"),
        b"earlier",
        "a failed replace keeps the earlier bytes"
    );
}

/// While one thread writes a 16 MiB object and then replaces it several times (with `put`,
/// `put_file` and `put_file_moving`, alternating two contents of different sizes), another
/// reads it in a loop: every read finds no object (before the first write) or exactly one of
/// the two contents, never a part, and never no object once there was one.
pub fn readers_never_see_partial_objects(store: &dyn ArtifactStore) {
    const A: (u8, usize) = (0xA5, 16 << 20);
    const B: (u8, usize) = (0x5A, 12 << 20);
    let scope = Scope::new(store);
    let key = scope.key("contended/object");
    let bytes_b = vec![B.0; B.1];
    let file_a = scope.scratch("a.bin");
    fs::write(&file_a, vec![A.0; A.1]).expect("cannot write a scratch file");

    let start = Barrier::new(2);
    let done = AtomicBool::new(false);
    let problems: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let problem = |p: String| {
        problems
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(p)
    };
    let reads = std::thread::scope(|threads| {
        let reader = threads.spawn(|| {
            start.wait();
            let (mut reads, mut seen) = (0usize, false);
            loop {
                let finished = done.load(Ordering::SeqCst);
                reads += 1;
                match store.get(&key) {
                    Ok(bytes) => {
                        seen = true;
                        if !(is_fill(&bytes, A) || is_fill(&bytes, B)) {
                            problem(format!(
                                "a reader saw a partial object: {} bytes, first {:?}, last {:?}",
                                bytes.len(),
                                bytes.first(),
                                bytes.last()
                            ));
                            break;
                        }
                    }
                    Err(ArtifactStoreError::NotFound { .. }) if !seen => {}
                    Err(ArtifactStoreError::NotFound { .. }) => {
                        problem("the object vanished while it was being replaced".to_owned());
                        break;
                    }
                    Err(e) => {
                        problem(format!("a concurrent get failed: {e}"));
                        break;
                    }
                }
                if finished {
                    break;
                }
            }
            reads
        });
        let writer = threads.spawn(|| {
            start.wait();
            let result = (|| {
                for round in 0..3 {
                    store.put_file(&key, &file_a)?;
                    store.put(&key, &bytes_b)?;
                    let moved = scope.scratch(&format!("moved-{round}.bin"));
                    fs::copy(&file_a, &moved).map_err(|source| ArtifactStoreError::Io {
                        action: "cannot copy a scratch file to",
                        path: moved.clone(),
                        source,
                    })?;
                    store.put_file_moving(&key, &moved)?;
                }
                store.put(&key, &bytes_b)
            })();
            done.store(true, Ordering::SeqCst);
            if let Err(e) = result {
                problem(format!("a write failed: {e}"));
            }
        });
        writer.join().expect("the writer panicked");
        reader.join().expect("the reader panicked")
    });
    let problems = problems
        .into_inner()
        .unwrap_or_else(PoisonError::into_inner);
    assert!(
        problems.is_empty(),
        "{} (after {reads} reads)",
        problems.join("; ")
    );
    assert!(
        is_fill(&ok(store.get(&key), "get"), B),
        "the last write wins"
    );
}

// ----- large objects ----------------------------------------------------------------------------

/// A 64 MiB object goes in with `put_file` (which says how many bytes it wrote) and comes
/// back identical through `get_file` (replacing an existing destination) and `get`.
pub fn large_objects_stream_through_files(store: &dyn ArtifactStore) {
    let scope = Scope::new(store);
    let key = scope.key("large/object.bin");
    let source = scope.scratch("source.bin");
    write_pattern(&source, LARGE);
    assert_eq!(ok(store.put_file(&key, &source), "put_file"), LARGE);
    let destination = scope.scratch("destination.bin");
    fs::write(&destination, b"to be replaced").expect("cannot write a scratch file");
    assert_eq!(ok(store.get_file(&key, &destination), "get_file"), LARGE);
    assert_pattern_file(&destination, LARGE, "get_file");
    let bytes = ok(store.get(&key), "get");
    assert_eq!(bytes.len() as u64, LARGE, "get returns every byte");
    assert!(
        bytes
            .iter()
            .enumerate()
            .all(|(i, &b)| b == pattern(i as u64)),
        "get returns the bytes in order"
    );
    assert_eq!(ok(store.list(Some(&scope.root)), "list"), vec![key]);
}

/// `put_file_moving` publishes a 64 MiB file and says how many bytes it wrote; a file with
/// another hard link is stored as it was (writing through the other name later does not
/// change the object); a symbolic link as source is refused (Unix).
pub fn put_file_moving_publishes_the_file(store: &dyn ArtifactStore) {
    let scope = Scope::new(store);
    let key = scope.key("moved/object.bin");
    let source = scope.scratch("moved.bin");
    write_pattern(&source, LARGE);
    assert_eq!(
        ok(store.put_file_moving(&key, &source), "put_file_moving"),
        LARGE
    );
    let destination = scope.scratch("back.bin");
    assert_eq!(ok(store.get_file(&key, &destination), "get_file"), LARGE);
    assert_pattern_file(&destination, LARGE, "get_file after put_file_moving");

    // Replacing through a move is a replace like any other.
    let small = scope.scratch("small.bin");
    fs::write(&small, b"replaced").expect("cannot write a scratch file");
    assert_eq!(
        ok(store.put_file_moving(&key, &small), "put_file_moving"),
        8
    );
    assert_eq!(ok(store.get(&key), "get"), b"replaced");

    // A file with a second name: a later write through that name must not reach the object.
    let linked = scope.scratch("linked.bin");
    let other_name = scope.scratch("other-name.bin");
    fs::write(&linked, b"original").expect("cannot write a scratch file");
    fs::hard_link(&linked, &other_name).expect("cannot make a hard link");
    let shared = scope.key("moved/hard-linked");
    ok(store.put_file_moving(&shared, &linked), "put_file_moving");
    fs::write(&other_name, b"changed!").expect("cannot write a scratch file");
    assert_eq!(
        ok(store.get(&shared), "get"),
        b"original",
        "writing through another hard link changed the stored object"
    );

    #[cfg(unix)]
    {
        let link = scope.scratch("symlink.bin");
        std::os::unix::fs::symlink(&other_name, &link).expect("cannot make a symbolic link");
        let refused = scope.key("moved/symlinked");
        assert!(
            store.put_file_moving(&refused, &link).is_err(),
            "put_file_moving followed a symbolic link"
        );
        assert!(!ok(store.exists(&refused), "exists"));
        assert!(other_name.exists(), "the link's target is left alone");
    }
}

/// Where `local_path` is `Some`, the file there holds the object's bytes, and the path of a
/// prefix is a folder above it. Skipped for stores without local files (`None`).
pub fn local_path_points_at_the_object(store: &dyn ArtifactStore) {
    let scope = Scope::new(store);
    let key = scope.key("in/place/object.bin");
    ok(store.put(&key, b"read me in place"), "put");
    let Some(file) = store.local_path(&key) else {
        skip("the store keeps no local files (local_path is None)")
    };
    assert_eq!(
        fs::read(&file).ok().as_deref(),
        Some(&b"read me in place"[..]),
        "local_path {} holds the object",
        file.display()
    );
    if let Some(folder) = store.local_path(&scope.key("in")) {
        assert!(
            file.starts_with(&folder) && folder.is_dir(),
            "the local_path of a prefix ({}) is the folder above its objects ({})",
            folder.display(),
            file.display()
        );
    }
    if let Some(root) = local_root(store) {
        assert!(
            file.starts_with(&root),
            "local_path {} is inside the store's root {}",
            file.display(),
            root.display()
        );
    }
}

// ----- helpers ----------------------------------------------------------------------------------

/// A check's own prefix in the store and scratch folder, cleaned up when dropped.
struct Scope<'a> {
    store: &'a dyn ArtifactStore,
    root: ObjectPath,
    scratch: tempfile::TempDir,
}

impl<'a> Scope<'a> {
    fn new(store: &'a dyn ArtifactStore) -> Scope<'a> {
        let id = uuid::Uuid::new_v4().simple().to_string();
        Scope {
            store,
            root: ObjectPath::new(&format!("zenml-testkit-{}", &id[..12]))
                .expect("the scope's key is valid"),
            scratch: tempfile::tempdir().expect("cannot create a temporary folder"),
        }
    }

    /// `<scope>/<name>`.
    fn key(&self, name: &str) -> ObjectPath {
        self.root
            .join(name)
            .unwrap_or_else(|e| panic!("the testkit's key is invalid: {e}"))
    }

    /// A path in the scratch folder.
    fn scratch(&self, name: &str) -> PathBuf {
        self.scratch.path().join(name)
    }
}

impl Drop for Scope<'_> {
    fn drop(&mut self) {
        let _ignored = self.store.delete_prefix(&self.root);
    }
}

/// The folder of a store with a `file://` URI.
fn local_root(store: &dyn ArtifactStore) -> Option<PathBuf> {
    store
        .uri()
        .strip_prefix("file://")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
}

#[cfg(unix)]
fn plant_link(target: &Path, link: &Path) {
    std::os::unix::fs::symlink(target, link)
        .unwrap_or_else(|e| panic!("cannot plant a link at {}: {e}", link.display()));
}

#[cfg(not(unix))]
fn plant_link(_target: &Path, _link: &Path) {
    skip("symbolic links are only planted on Unix")
}

/// The byte at `offset` of a large test object: varies within and across blocks, so that
/// missing, repeated or reordered blocks show.
fn pattern(offset: u64) -> u8 {
    ((offset >> 12) as u8).wrapping_mul(31) ^ (offset as u8)
}

/// Writes `len` bytes of [`pattern`] to `path`.
fn write_pattern(path: &Path, len: u64) {
    let mut file = fs::File::create(path).expect("cannot create a scratch file");
    let mut block = vec![0u8; 1 << 20];
    let mut offset = 0u64;
    while offset < len {
        let n = block.len().min((len - offset) as usize);
        for (i, byte) in block[..n].iter_mut().enumerate() {
            *byte = pattern(offset + i as u64);
        }
        file.write_all(&block[..n])
            .expect("cannot write a scratch file");
        offset += n as u64;
    }
}

/// Asserts that the file at `path` holds exactly `len` bytes of [`pattern`].
fn assert_pattern_file(path: &Path, len: u64, what: &str) {
    let mut file = fs::File::open(path)
        .unwrap_or_else(|e| panic!("{what}: cannot open {}: {e}", path.display()));
    let mut block = vec![0u8; 1 << 20];
    let mut offset = 0u64;
    loop {
        let n = file
            .read(&mut block)
            .unwrap_or_else(|e| panic!("{what}: cannot read {}: {e}", path.display()));
        if n == 0 {
            break;
        }
        if let Some(i) = (0..n).find(|&i| block[i] != pattern(offset + i as u64)) {
            panic!("{what}: the byte at offset {} differs", offset + i as u64);
        }
        offset += n as u64;
    }
    assert_eq!(offset, len, "{what}: the file's length");
}

/// Whether `bytes` are `len` copies of `byte`.
fn is_fill(bytes: &[u8], (byte, len): (u8, usize)) -> bool {
    bytes.len() == len && bytes.iter().all(|&b| b == byte)
}

#[track_caller]
fn ok<T>(result: Result<T, ArtifactStoreError>, what: &str) -> T {
    result.unwrap_or_else(|e| panic!("{what} failed: {e} ({e:?})"))
}

#[track_caller]
fn expect_not_found<T: std::fmt::Debug>(result: Result<T, ArtifactStoreError>, key: &ObjectPath) {
    match result {
        Err(ArtifactStoreError::NotFound { path }) => {
            assert_eq!(path, key.as_str(), "NotFound names the key")
        }
        other => panic!("expected NotFound for `{key}`, got {other:?}"),
    }
}
