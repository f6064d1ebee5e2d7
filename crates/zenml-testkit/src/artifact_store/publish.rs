//! The atomic-publish group: no write ever exposes a partial object, and a conditional create
//! never overwrites.

use std::fs;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Barrier, Mutex, PoisonError};

use zenml_artifact_store::{ArtifactStore, ArtifactStoreError, ObjectPath, PutMode};

use super::LARGE;
use super::helpers::{FailingReader, Scope, is_fill, list_keys, ok};

/// A `put_file` (or, on stores with local files, `put_file_moving`) that fails (a missing
/// source, a folder as source) leaves no object behind, and an existing object keeps its
/// earlier bytes.
pub fn a_failed_put_file_leaves_no_object(store: &dyn ArtifactStore) {
    let scope = Scope::new(store);
    let key = scope.key("failed/object");
    let missing = scope.scratch("no-such-file");
    let folder = scope.scratch("a-folder");
    fs::create_dir(&folder).expect("cannot create a scratch folder");
    fs::write(folder.join("inside"), b"x").expect("cannot write a scratch file");

    for mode in [PutMode::Overwrite, PutMode::Create] {
        assert!(
            store.put_file(&key, &missing, mode).is_err(),
            "put_file of a missing file succeeded"
        );
        assert!(
            !ok(store.exists(&key), "exists"),
            "a failed put_file left an object"
        );
        assert!(
            store.put_file(&key, &folder, mode).is_err(),
            "put_file of a folder succeeded"
        );
        assert!(
            !ok(store.exists(&key), "exists"),
            "a failed put_file left an object"
        );
        if let Some(local) = store.local_files() {
            assert!(
                local.put_file_moving(&key, &missing, mode).is_err(),
                "put_file_moving of a missing file succeeded"
            );
            assert!(
                local.put_file_moving(&key, &folder, mode).is_err(),
                "put_file_moving of a folder succeeded"
            );
            assert!(
                !ok(store.exists(&key), "exists"),
                "a failed put_file_moving left an object"
            );
        }
    }
    assert_eq!(
        list_keys(store, Some(&scope.root)),
        Vec::<ObjectPath>::new(),
        "failed writes list nothing"
    );

    ok(store.put(&key, b"earlier"), "put");
    assert!(store.put_file(&key, &folder, PutMode::Overwrite).is_err());
    if let Some(local) = store.local_files() {
        assert!(
            local
                .put_file_moving(&key, &missing, PutMode::Overwrite)
                .is_err()
        );
    }
    assert_eq!(
        ok(store.get(&key), "get"),
        b"earlier",
        "a failed replace keeps the earlier bytes"
    );
}

/// While one thread writes a 16 MiB object and then replaces it several times (with `put`,
/// `put_file` and, on stores with local files, `put_file_moving`, alternating two contents of
/// different sizes), another
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
                    store.put_file(&key, &file_a, PutMode::Overwrite)?;
                    store.put(&key, &bytes_b)?;
                    let Some(local) = store.local_files() else {
                        continue;
                    };
                    let moved = scope.scratch(&format!("moved-{round}.bin"));
                    fs::copy(&file_a, &moved).map_err(|source| ArtifactStoreError::Io {
                        action: "cannot copy a scratch file to",
                        path: moved.clone(),
                        source,
                    })?;
                    local.put_file_moving(&key, &moved, PutMode::Overwrite)?;
                }
                store.put(&key, &bytes_b).map(drop)
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

/// A `put_stream` whose source fails part way through a large object (after more than one
/// upload part) fails, leaves no object at its key (for both modes), and leaves an existing
/// object with its earlier bytes.
pub fn a_stream_that_fails_part_way_leaves_no_object(store: &dyn ArtifactStore) {
    let scope = Scope::new(store);
    let key = scope.key("failing/stream");
    for mode in [PutMode::Overwrite, PutMode::Create] {
        let mut source = FailingReader {
            offset: 0,
            fail_at: LARGE / 2,
        };
        assert!(
            store.put_stream(&key, &mut source, mode).is_err(),
            "put_stream succeeded although its source failed"
        );
        assert!(
            !ok(store.exists(&key), "exists"),
            "a put_stream whose source failed left an object"
        );
    }
    assert_eq!(
        list_keys(store, Some(&scope.root)),
        Vec::<ObjectPath>::new(),
        "a failed stream lists nothing"
    );
    ok(store.put(&key, b"earlier"), "put");
    let mut source = FailingReader {
        offset: 0,
        fail_at: 1 << 20,
    };
    assert!(
        store
            .put_stream(&key, &mut source, PutMode::Overwrite)
            .is_err()
    );
    assert_eq!(
        ok(store.get(&key), "get"),
        b"earlier",
        "a failed replace keeps the earlier bytes"
    );
}

/// A [`PutMode::Create`] write succeeds on a new key, and on an existing one fails with
/// [`ArtifactStoreError::AlreadyExists`] (through `put_opts`, `put_stream` and `put_file`)
/// leaving the object as it was; `Overwrite` still replaces it.
pub fn create_never_overwrites(store: &dyn ArtifactStore) {
    let scope = Scope::new(store);
    let key = scope.key("created/object");
    let first = ok(
        store.put_opts(&key, b"first", PutMode::Create),
        "put_opts(Create)",
    );
    assert_eq!(first.size, 5);
    let again = store.put_opts(&key, b"second", PutMode::Create);
    assert!(
        matches!(again, Err(ArtifactStoreError::AlreadyExists { .. })),
        "a second create of `{key}` gave {again:?}, not AlreadyExists"
    );
    let mut reader: &[u8] = b"streamed";
    let streamed = store.put_stream(&key, &mut reader, PutMode::Create);
    assert!(
        matches!(streamed, Err(ArtifactStoreError::AlreadyExists { .. })),
        "put_stream(Create) over `{key}` gave {streamed:?}"
    );
    let file = scope.scratch("file.bin");
    fs::write(&file, b"from a file").expect("cannot write a scratch file");
    let from_file = store.put_file(&key, &file, PutMode::Create);
    assert!(
        matches!(from_file, Err(ArtifactStoreError::AlreadyExists { .. })),
        "put_file(Create) over `{key}` gave {from_file:?}"
    );
    if let Some(local) = store.local_files() {
        let moved = local.put_file_moving(&key, &file, PutMode::Create);
        assert!(
            matches!(moved, Err(ArtifactStoreError::AlreadyExists { .. })),
            "put_file_moving(Create) over `{key}` gave {moved:?}"
        );
    }
    assert_eq!(
        ok(store.get(&key), "get"),
        b"first",
        "a refused create changes nothing"
    );
    ok(
        store.put_opts(&key, b"replaced", PutMode::Overwrite),
        "put_opts(Overwrite)",
    );
    assert_eq!(ok(store.get(&key), "get"), b"replaced");
    ok(store.delete(&key), "delete");
    ok(
        store.put_opts(&key, b"again", PutMode::Create),
        "create after delete",
    );
}

/// Eight threads create the same key at once, each with its own bytes: exactly one succeeds,
/// every other gets [`ArtifactStoreError::AlreadyExists`], and the object holds the winner's
/// bytes.
pub fn concurrent_creates_have_one_winner(store: &dyn ArtifactStore) {
    const WRITERS: usize = 8;
    let scope = Scope::new(store);
    let key = scope.key("raced/object");
    let start = Barrier::new(WRITERS);
    let results: Vec<(usize, Result<(), ArtifactStoreError>)> = std::thread::scope(|threads| {
        let handles: Vec<_> = (0..WRITERS)
            .map(|i| {
                let (start, key) = (&start, &key);
                threads.spawn(move || {
                    let body = vec![i as u8; 4096 + i];
                    start.wait();
                    (i, store.put_opts(key, &body, PutMode::Create).map(drop))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a writer panicked"))
            .collect()
    });
    let winners: Vec<usize> = results
        .iter()
        .filter(|(_, r)| r.is_ok())
        .map(|(i, _)| *i)
        .collect();
    assert_eq!(winners.len(), 1, "exactly one create wins, not {winners:?}");
    for (i, result) in &results {
        if let Err(e) = result {
            assert!(
                matches!(e, ArtifactStoreError::AlreadyExists { .. }),
                "writer {i} lost with {e:?}, not AlreadyExists"
            );
        }
    }
    let winner = winners[0];
    assert_eq!(
        ok(store.get(&key), "get"),
        vec![winner as u8; 4096 + winner],
        "the object holds the winner's bytes"
    );
}
