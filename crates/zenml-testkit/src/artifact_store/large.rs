//! The large-objects group: 64 MiB objects stream in and out, and the local-files capability.

use std::fs;

use zenml_artifact_store::{ArtifactStore, ArtifactStoreError, GetOptions, GetRange, PutMode};

use super::LARGE;
use super::helpers::{
    Scope, assert_pattern_file, list_keys, local_root, ok, pattern, write_pattern,
};
use crate::not_applicable;

/// A 64 MiB object goes in with `put_file` (which says how many bytes it wrote) and comes
/// back identical through `get_file` (replacing an existing destination), `get` and a ranged
/// read across the middle; `head` reports its size.
pub fn large_objects_stream_through_files(store: &dyn ArtifactStore) {
    let scope = Scope::new(store);
    let key = scope.key("large/object.bin");
    let source = scope.scratch("source.bin");
    write_pattern(&source, LARGE);
    assert_eq!(
        ok(
            store.put_file(&key, &source, PutMode::Overwrite),
            "put_file"
        )
        .size,
        LARGE
    );
    assert_eq!(
        ok(store.head(&key), "head").size,
        LARGE,
        "head reports the size"
    );
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
    drop(bytes);
    let middle = LARGE / 2 - 10..LARGE / 2 + 10;
    let ranged = ok(store.get_range(&key, middle.clone()), "get_range");
    assert!(
        ranged
            .iter()
            .zip(middle)
            .all(|(&b, offset)| b == pattern(offset)),
        "a range across the middle of a large object"
    );
    let tail = ok(
        store.get_opts(&key, GetOptions::range(GetRange::Suffix(5))),
        "get_opts",
    );
    assert_eq!(tail.range, LARGE - 5..LARGE);
    assert_eq!(list_keys(store, Some(&scope.root)), vec![key]);
}

/// A 64 MiB `put_stream` with [`PutMode::Create`] publishes the object, and a second one onto
/// the same key fails with [`ArtifactStoreError::AlreadyExists`] and leaves the first intact.
pub fn large_streams_are_created_conditionally(store: &dyn ArtifactStore) {
    let scope = Scope::new(store);
    let key = scope.key("large/created.bin");
    let source = scope.scratch("source.bin");
    write_pattern(&source, LARGE);
    let mut file = fs::File::open(&source).expect("cannot open a scratch file");
    assert_eq!(
        ok(
            store.put_stream(&key, &mut file, PutMode::Create),
            "put_stream(Create)"
        )
        .size,
        LARGE
    );
    let mut again = fs::File::open(&source).expect("cannot open a scratch file");
    let second = store.put_stream(&key, &mut again, PutMode::Create);
    assert!(
        matches!(second, Err(ArtifactStoreError::AlreadyExists { .. })),
        "a second large create gave {second:?}, not AlreadyExists"
    );
    let back = scope.scratch("back.bin");
    assert_eq!(ok(store.get_file(&key, &back), "get_file"), LARGE);
    assert_pattern_file(&back, LARGE, "get_file after a large create");
    assert_eq!(
        list_keys(store, Some(&scope.root)),
        vec![key],
        "no staging object of the upload is listed"
    );
}

/// On stores with the local-files capability, `put_file_moving` publishes a 64 MiB file and
/// says how many bytes it wrote; a file with another hard link is stored as it was (writing
/// through the other name later does not change the object); a symbolic link as source is
/// refused (Unix). Skipped on stores without the capability.
pub fn put_file_moving_publishes_the_file(store: &dyn ArtifactStore) {
    let Some(local) = store.local_files() else {
        not_applicable("the store has no local-files capability (local_files is None)")
    };
    let scope = Scope::new(store);
    let key = scope.key("moved/object.bin");
    let source = scope.scratch("moved.bin");
    write_pattern(&source, LARGE);
    assert_eq!(
        ok(
            local.put_file_moving(&key, &source, PutMode::Create),
            "put_file_moving"
        )
        .size,
        LARGE
    );
    let destination = scope.scratch("back.bin");
    assert_eq!(ok(store.get_file(&key, &destination), "get_file"), LARGE);
    assert_pattern_file(&destination, LARGE, "get_file after put_file_moving");

    // Replacing through a move is a replace like any other.
    let small = scope.scratch("small.bin");
    fs::write(&small, b"replaced").expect("cannot write a scratch file");
    assert_eq!(
        ok(
            local.put_file_moving(&key, &small, PutMode::Overwrite),
            "put_file_moving"
        )
        .size,
        8
    );
    assert_eq!(ok(store.get(&key), "get"), b"replaced");

    // A file with a second name: a later write through that name must not reach the object.
    let linked = scope.scratch("linked.bin");
    let other_name = scope.scratch("other-name.bin");
    fs::write(&linked, b"original").expect("cannot write a scratch file");
    fs::hard_link(&linked, &other_name).expect("cannot make a hard link");
    let shared = scope.key("moved/hard-linked");
    ok(
        local.put_file_moving(&shared, &linked, PutMode::Create),
        "put_file_moving",
    );
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
            local
                .put_file_moving(&refused, &link, PutMode::Create)
                .is_err(),
            "put_file_moving followed a symbolic link"
        );
        assert!(!ok(store.exists(&refused), "exists"));
        assert!(other_name.exists(), "the link's target is left alone");
    }
}

/// On stores with the local-files capability, `local_path` of an object is the file that
/// holds its bytes, and the path of a prefix is a folder above it. Skipped on stores without
/// the capability.
pub fn local_path_points_at_the_object(store: &dyn ArtifactStore) {
    let scope = Scope::new(store);
    let key = scope.key("in/place/object.bin");
    let Some(local) = store.local_files() else {
        not_applicable("the store has no local-files capability (local_files is None)")
    };
    ok(store.put(&key, b"read me in place"), "put");
    let Some(file) = local.local_path(&key) else {
        panic!("local_path of a freshly written object with no link on the way is None")
    };
    assert_eq!(
        fs::read(&file).ok().as_deref(),
        Some(&b"read me in place"[..]),
        "local_path {} holds the object",
        file.display()
    );
    if let Some(folder) = local.local_path(&scope.key("in")) {
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
