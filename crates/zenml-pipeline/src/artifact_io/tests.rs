//! Tests of writing and reading artifacts: round trips, hashes, corruption, stores without
//! local files, links and failures.

use std::sync::atomic::{AtomicUsize, Ordering};

use zenml_artifact_store::{GetResult, LocalArtifactStore, LocalFiles, PutMode, PutResult};
use zenml_materializer::{BytesMaterializer, JsonMaterializer};

use super::*;

/// A local store and a staging folder in a fresh temporary folder.
struct Fixture {
    dir: TempDir,
    store: LocalArtifactStore,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalArtifactStore::open(&dir.path().join("artifacts"), false).unwrap();
        Fixture { dir, store }
    }

    fn staging(&self) -> PathBuf {
        self.dir.path().join("staging")
    }

    /// What the staging folder holds.
    fn staged(&self) -> Vec<PathBuf> {
        fs::read_dir(self.staging())
            .map(|entries| entries.map(|e| e.unwrap().path()).collect())
            .unwrap_or_default()
    }

    fn write<M: Materializer + ?Sized>(
        &self,
        folder: &str,
        m: &M,
        value: &M::Value,
    ) -> Result<WrittenArtifact, ArtifactIoError> {
        write_artifact(&self.store, &self.staging(), &p(folder), m, value)
    }

    fn read<M: Materializer + ?Sized>(
        &self,
        folder: &str,
        hash: &str,
        m: &M,
    ) -> Result<M::Value, ArtifactIoError> {
        read_artifact(&self.store, &self.staging(), &p(folder), hash, m)
    }

    /// The object's file in the store.
    fn file(&self, key: &str) -> PathBuf {
        LocalFiles::local_path(&self.store, &p(key)).unwrap()
    }
}

fn p(s: &str) -> ObjectPath {
    ObjectPath::new(s).unwrap()
}

const FOLDER: &str = "pipe/step/output/0b9f4c1e";

/// Writes the given files, in the given order, then optionally fails.
#[derive(Debug)]
struct FilesMaterializer {
    files: Vec<(&'static str, &'static [u8])>,
    fail_after: Option<usize>,
}

impl FilesMaterializer {
    fn new(files: &[(&'static str, &'static [u8])]) -> FilesMaterializer {
        FilesMaterializer {
            files: files.to_vec(),
            fail_after: None,
        }
    }
}

impl Materializer for FilesMaterializer {
    type Value = ();

    fn id(&self) -> &'static str {
        "test.files"
    }

    fn version(&self) -> u32 {
        1
    }

    fn save(&self, (): &(), dir: &Path) -> Result<(), MaterializerError> {
        for (i, (name, data)) in self.files.iter().enumerate() {
            if self.fail_after == Some(i) {
                return Err(MaterializerError::Backend {
                    id: self.id(),
                    source: "the disk is on fire".into(),
                });
            }
            let path = dir.join(name);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, data).unwrap();
        }
        Ok(())
    }

    fn load(&self, _dir: &Path) -> Result<(), MaterializerError> {
        Ok(())
    }
}

/// Bytes, counting the loads.
#[derive(Debug, Default)]
struct CountingLoads {
    loads: AtomicUsize,
}

impl Materializer for CountingLoads {
    type Value = Vec<u8>;

    fn id(&self) -> &'static str {
        BytesMaterializer.id()
    }

    fn version(&self) -> u32 {
        BytesMaterializer.version()
    }

    fn save(&self, value: &Vec<u8>, dir: &Path) -> Result<(), MaterializerError> {
        BytesMaterializer.save(value, dir)
    }

    fn load(&self, dir: &Path) -> Result<Vec<u8>, MaterializerError> {
        self.loads.fetch_add(1, Ordering::SeqCst);
        BytesMaterializer.load(dir)
    }
}

/// A store without local files: the local store behind the trait, minus the local-files
/// capability, as an object store would be. Uploads of objects whose key ends with the
/// second field fail, as a server that goes away would make them.
#[derive(Debug)]
struct RemoteLike(LocalArtifactStore, Option<&'static str>);

impl RemoteLike {
    fn failing_uploads_of(&self, path: &ObjectPath) -> Result<(), ArtifactStoreError> {
        match self.1 {
            Some(name) if path.as_str().ends_with(name) => Err(ArtifactStoreError::Backend {
                store: "remote-like",
                source: "connection reset by peer".into(),
            }),
            _ => Ok(()),
        }
    }
}

impl ArtifactStore for RemoteLike {
    fn uri(&self) -> String {
        self.0.uri().replace("file://", "remote://")
    }
    fn put_opts(
        &self,
        path: &ObjectPath,
        data: &[u8],
        mode: PutMode,
    ) -> Result<PutResult, ArtifactStoreError> {
        self.failing_uploads_of(path)?;
        self.0.put_opts(path, data, mode)
    }
    fn put_stream(
        &self,
        path: &ObjectPath,
        source: &mut dyn std::io::Read,
        mode: PutMode,
    ) -> Result<PutResult, ArtifactStoreError> {
        self.failing_uploads_of(path)?;
        self.0.put_stream(path, source, mode)
    }
    fn get_opts(
        &self,
        path: &ObjectPath,
        options: GetOptions,
    ) -> Result<GetResult, ArtifactStoreError> {
        self.0.get_opts(path, options)
    }
    fn head(&self, path: &ObjectPath) -> Result<ObjectMeta, ArtifactStoreError> {
        self.0.head(path)
    }
    fn list(&self, prefix: Option<&ObjectPath>) -> Result<Vec<ObjectMeta>, ArtifactStoreError> {
        self.0.list(prefix)
    }
    fn delete(&self, path: &ObjectPath) -> Result<(), ArtifactStoreError> {
        self.0.delete(path)
    }
}

fn keys(list: Vec<ObjectMeta>) -> Vec<ObjectPath> {
    list.into_iter().map(|meta| meta.path).collect()
}

#[test]
fn values_round_trip_and_record_hash_size_and_uri() {
    let f = Fixture::new();
    let floats = vec![0.1, -0.0, f64::MAX, 1e-300];
    let json = JsonMaterializer::<Vec<f64>>::new();
    let written = f.write(FOLDER, &json, &floats).unwrap();
    assert_eq!(written.path, p(FOLDER));
    assert_eq!(written.uri, format!("{}/{FOLDER}", f.store.uri()));
    assert_eq!(written.content_hash.len(), 64);
    let on_disk = fs::metadata(f.file(&format!("{FOLDER}/data.json")))
        .unwrap()
        .len();
    assert_eq!(written.size, on_disk);
    let back = f.read(FOLDER, &written.content_hash, &json).unwrap();
    assert_eq!(
        back.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
        floats.iter().map(|x| x.to_bits()).collect::<Vec<_>>()
    );

    let bytes: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    let written = f.write("p/s/o/2", &BytesMaterializer, &bytes).unwrap();
    assert_eq!(written.size, 3_000_000);
    let back = f
        .read("p/s/o/2", &written.content_hash, &BytesMaterializer)
        .unwrap();
    assert_eq!(back, bytes);

    // Materializers chosen at run time work too.
    let dynamic: &dyn Materializer<Value = Vec<u8>> = &BytesMaterializer;
    let written = f.write("p/s/o/3", dynamic, &vec![4, 2]).unwrap();
    assert_eq!(
        f.read("p/s/o/3", &written.content_hash, dynamic).unwrap(),
        vec![4, 2]
    );
    assert!(f.staged().is_empty(), "{:?}", f.staged());
}

#[test]
fn a_store_without_local_files_is_read_through_a_copy() {
    let f = Fixture::new();
    let remote = RemoteLike(f.store.clone(), None);
    let m = FilesMaterializer::new(&[("a.txt", b"a"), ("sub/b.txt", b"bb")]);
    let written = write_artifact(&remote, &f.staging(), &p(FOLDER), &m, &()).unwrap();
    assert!(written.uri.starts_with("remote://"), "{}", written.uri);
    read_artifact(&remote, &f.staging(), &p(FOLDER), &written.content_hash, &m).unwrap();

    let value = b"remote bytes".to_vec();
    let written =
        write_artifact(&remote, &f.staging(), &p("x/y"), &BytesMaterializer, &value).unwrap();
    let back = read_artifact(
        &remote,
        &f.staging(),
        &p("x/y"),
        &written.content_hash,
        &BytesMaterializer,
    )
    .unwrap();
    assert_eq!(back, value);
    // Both ways give the same hash.
    assert_eq!(
        f.read("x/y", &written.content_hash, &BytesMaterializer)
            .unwrap(),
        value
    );

    fs::write(f.file("x/y/data.bin"), b"remote bytez").unwrap();
    let err = read_artifact(
        &remote,
        &f.staging(),
        &p("x/y"),
        &written.content_hash,
        &BytesMaterializer,
    )
    .unwrap_err();
    assert!(matches!(err, ArtifactIoError::HashMismatch { .. }), "{err}");
    assert!(f.staged().is_empty(), "{:?}", f.staged());
}

#[test]
fn a_store_without_local_files_is_claimed_before_the_files_are_uploaded() {
    let f = Fixture::new();
    let remote = RemoteLike(f.store.clone(), None);
    let m = FilesMaterializer::new(&[("a.txt", b"a"), ("sub/b.txt", b"bb")]);
    let written = write_artifact(&remote, &f.staging(), &p(FOLDER), &m, &()).unwrap();
    let claim = p(&format!("{FOLDER}/{CLAIM_FILE}"));
    assert_eq!(
        keys(remote.list(Some(&p(FOLDER))).unwrap()),
        vec![
            claim.clone(),
            p(&format!("{FOLDER}/a.txt")),
            p(&format!("{FOLDER}/sub/b.txt")),
        ]
    );
    let manifest: publish::ClaimManifest =
        serde_json::from_slice(&remote.get(&claim).unwrap()).unwrap();
    assert_eq!(
        manifest,
        publish::ClaimManifest {
            format: 1,
            content_hash: written.content_hash.clone(),
            size: 3,
            files: 2,
        }
    );
    // The claim is not a file of the artifact: not hashed, not counted, not downloaded.
    assert_eq!(written.size, 3);
    verify_artifact(&remote, &p(FOLDER), &written.content_hash, 3).unwrap();
    read_artifact(&remote, &f.staging(), &p(FOLDER), &written.content_hash, &m).unwrap();
    f.read(FOLDER, &written.content_hash, &m).unwrap();

    // A second writer of the folder fails at the claim and writes nothing.
    let other = FilesMaterializer::new(&[("a.txt", b"A"), ("c.txt", b"c")]);
    let err = write_artifact(&remote, &f.staging(), &p(FOLDER), &other, &()).unwrap_err();
    assert!(
        matches!(err, ArtifactIoError::AlreadyExists { .. }),
        "{err}"
    );
    assert_eq!(remote.get(&p(&format!("{FOLDER}/a.txt"))).unwrap(), b"a");
    assert!(!remote.exists(&p(&format!("{FOLDER}/c.txt"))).unwrap());
    verify_artifact(&remote, &p(FOLDER), &written.content_hash, 3).unwrap();

    // A cache hit's check compares the claim with the record, without downloading files.
    let mut replaced = manifest.clone();
    replaced.content_hash = "0".repeat(64);
    remote
        .put(&claim, &serde_json::to_vec(&replaced).unwrap())
        .unwrap();
    let err = verify_artifact(&remote, &p(FOLDER), &written.content_hash, 3).unwrap_err();
    assert!(
        matches!(err, ArtifactIoError::HashMismatch { .. })
            && err.to_string().contains("claimed by another artifact"),
        "{err}"
    );
    remote.put(&claim, b"not json").unwrap();
    let err = verify_artifact(&remote, &p(FOLDER), &written.content_hash, 3).unwrap_err();
    assert!(
        matches!(err, ArtifactIoError::HashMismatch { .. })
            && err.to_string().contains("is not a claim manifest"),
        "{err}"
    );
    remote
        .put(&claim, &serde_json::to_vec(&manifest).unwrap())
        .unwrap();
    remote.put(&p(&format!("{FOLDER}/a.txt")), b"aa").unwrap();
    let err = verify_artifact(&remote, &p(FOLDER), &written.content_hash, 3).unwrap_err();
    assert!(
        matches!(err, ArtifactIoError::HashMismatch { .. }) && err.to_string().contains("4 bytes"),
        "{err}"
    );
    remote
        .delete_prefix(&p(&format!("{FOLDER}/a.txt")))
        .unwrap();
    remote.delete(&p(&format!("{FOLDER}/sub/b.txt"))).unwrap();
    let err = verify_artifact(&remote, &p(FOLDER), &written.content_hash, 3).unwrap_err();
    assert!(matches!(err, ArtifactIoError::Missing { .. }), "{err}");

    // An artifact written without a claim (by a store with local files) reads the same.
    let local = f
        .write("old/layout", &BytesMaterializer, &vec![7; 10])
        .unwrap();
    assert_eq!(
        keys(remote.list(Some(&p("old/layout"))).unwrap()),
        vec![p("old/layout/data.bin")]
    );
    let back = read_artifact(
        &remote,
        &f.staging(),
        &p("old/layout"),
        &local.content_hash,
        &BytesMaterializer,
    )
    .unwrap();
    assert_eq!(back, vec![7; 10]);
    assert!(f.staged().is_empty(), "{:?}", f.staged());
}

#[test]
fn a_failed_upload_leaves_neither_files_nor_claim() {
    let f = Fixture::new();
    let remote = RemoteLike(f.store.clone(), Some("sub/b.txt"));
    let m = FilesMaterializer::new(&[("a.txt", b"a"), ("sub/b.txt", b"bb"), ("z.txt", b"z")]);
    let err = write_artifact(&remote, &f.staging(), &p(FOLDER), &m, &()).unwrap_err();
    assert!(
        matches!(err, ArtifactIoError::Store(_)) && err.to_string().contains("connection reset"),
        "{err}"
    );
    assert!(remote.list(None).unwrap().is_empty());
    assert!(f.staged().is_empty(), "{:?}", f.staged());
    // The claim itself failing is the same.
    let remote = RemoteLike(f.store.clone(), Some(CLAIM_FILE));
    let err = write_artifact(&remote, &f.staging(), &p(FOLDER), &m, &()).unwrap_err();
    assert!(matches!(err, ArtifactIoError::Store(_)), "{err}");
    assert!(remote.list(None).unwrap().is_empty());
    // Once the store works again, so does the write.
    let remote = RemoteLike(f.store.clone(), None);
    write_artifact(&remote, &f.staging(), &p(FOLDER), &m, &()).unwrap();
}

#[test]
fn the_claim_name_is_reserved_at_the_top_of_an_artifact() {
    let f = Fixture::new();
    let m = FilesMaterializer::new(&[(CLAIM_FILE, b"{}")]);
    for store in [
        &f.store as &dyn ArtifactStore,
        &RemoteLike(f.store.clone(), None),
    ] {
        let err = write_artifact(store, &f.staging(), &p(FOLDER), &m, &()).unwrap_err();
        assert!(
            matches!(err, ArtifactIoError::NotStorable { .. })
                && err.to_string().contains("reserved"),
            "{err}"
        );
        assert!(f.store.list(None).unwrap().is_empty());
    }
    // Below the top it is an ordinary name.
    let m = FilesMaterializer::new(&[("nested/.zenml-artifact.json", b"{}")]);
    let written = f.write(FOLDER, &m, &()).unwrap();
    f.read(FOLDER, &written.content_hash, &m).unwrap();
}

#[test]
fn the_store_holds_exactly_the_folder_and_its_files() {
    let f = Fixture::new();
    let m = FilesMaterializer::new(&[
        ("z.txt", b"z"),
        ("nested/deeper/c.bin", b"c"),
        ("a.txt", b"a"),
    ]);
    f.write(FOLDER, &m, &()).unwrap();
    assert_eq!(
        keys(f.store.list(None).unwrap()),
        vec![
            p(&format!("{FOLDER}/a.txt")),
            p(&format!("{FOLDER}/nested/deeper/c.bin")),
            p(&format!("{FOLDER}/z.txt")),
        ]
    );
    f.write("pipe/step/output/other", &BytesMaterializer, &vec![1, 2])
        .unwrap();
    assert_eq!(
        keys(f.store.list(Some(&p("pipe/step/output/other"))).unwrap()),
        vec![p("pipe/step/output/other/data.bin")]
    );
}

#[test]
fn the_hash_is_deterministic_and_independent_of_write_order() {
    let f = Fixture::new();
    let files: [(&str, &[u8]); 4] = [
        ("b.txt", b"bee"),
        ("a/x", b"x"),
        ("a.txt", b""),
        ("a/y/z", b"zed"),
    ];
    let forward = f
        .write("f/1", &FilesMaterializer::new(&files), &())
        .unwrap();
    let mut reversed = files;
    reversed.reverse();
    let backward = f
        .write("f/2", &FilesMaterializer::new(&reversed), &())
        .unwrap();
    assert_eq!(forward.content_hash, backward.content_hash);
    assert_eq!((forward.size, backward.size), (7, 7));
    let again = f
        .write("f/3", &FilesMaterializer::new(&files), &())
        .unwrap();
    assert_eq!(forward.content_hash, again.content_hash);

    // The hash of a folder is the recorded one, and a fixed function of its files.
    let dir = tempfile::tempdir().unwrap();
    FilesMaterializer::new(&files)
        .save(&(), dir.path())
        .unwrap();
    assert_eq!(
        content_hash_of_dir(dir.path()).unwrap(),
        (forward.content_hash.clone(), 7)
    );
    let mut expected = blake3::Hasher::new();
    for (path, data) in [
        ("a.txt", ""),
        ("a/x", "x"),
        ("a/y/z", "zed"),
        ("b.txt", "bee"),
    ] {
        expected.update(&(path.len() as u64).to_le_bytes());
        expected.update(path.as_bytes());
        expected.update(&(data.len() as u64).to_le_bytes());
        expected.update(data.as_bytes());
    }
    assert_eq!(forward.content_hash, expected.finalize().to_hex().as_str());
}

#[test]
fn the_hash_covers_names_contents_and_their_boundaries() {
    let hash = |files: &[(&'static str, &'static [u8])]| {
        let dir = tempfile::tempdir().unwrap();
        FilesMaterializer::new(files).save(&(), dir.path()).unwrap();
        content_hash_of_dir(dir.path()).unwrap().0
    };
    let base = hash(&[("ab", b"c")]);
    for other in [
        hash(&[("a", b"bc")]),
        hash(&[("ab", b"d")]),
        hash(&[("ac", b"c")]),
        hash(&[("ab", b"c"), ("empty", b"")]),
        hash(&[("sub/ab", b"c")]),
        hash(&[]),
    ] {
        assert_ne!(base, other);
    }
    assert_eq!(base, hash(&[("ab", b"c")]));
}

#[test]
fn a_corrupted_file_is_a_hash_mismatch_and_is_never_loaded() {
    let f = Fixture::new();
    let m = CountingLoads::default();
    let written = f.write(FOLDER, &m, &b"precious".to_vec()).unwrap();
    fs::write(f.file(&format!("{FOLDER}/data.bin")), b"precioux").unwrap();
    let err = f.read(FOLDER, &written.content_hash, &m).unwrap_err();
    let ArtifactIoError::HashMismatch {
        uri,
        expected,
        actual,
    } = &err
    else {
        panic!("{err}");
    };
    assert_eq!(uri, &written.uri);
    assert_eq!(expected, &written.content_hash);
    assert_ne!(actual, expected);
    let message = err.to_string();
    assert!(
        message.contains(&written.uri)
            && message.contains(expected.as_str())
            && message.contains(actual.as_str()),
        "{message}"
    );
    assert_eq!(m.loads.load(Ordering::SeqCst), 0);

    // An added file is a change too.
    fs::write(f.file(&format!("{FOLDER}/data.bin")), b"precious").unwrap();
    assert_eq!(
        f.read(FOLDER, &written.content_hash, &m).unwrap(),
        b"precious"
    );
    fs::write(f.file(&format!("{FOLDER}/extra")), b"").unwrap();
    assert!(matches!(
        f.read(FOLDER, &written.content_hash, &m),
        Err(ArtifactIoError::HashMismatch { .. })
    ));
    assert_eq!(m.loads.load(Ordering::SeqCst), 1);
}

#[test]
fn missing_files_are_clear_errors() {
    let f = Fixture::new();
    let written = f.write(FOLDER, &BytesMaterializer, &vec![1, 2, 3]).unwrap();
    f.store.delete(&p(&format!("{FOLDER}/data.bin"))).unwrap();
    let err = f
        .read(FOLDER, &written.content_hash, &BytesMaterializer)
        .unwrap_err();
    assert!(matches!(err, ArtifactIoError::Missing { .. }), "{err}");
    assert!(
        err.to_string()
            .starts_with(&format!("artifact `{}` has no files", written.uri)),
        "{err}"
    );
    let err = f
        .read("never/written", &written.content_hash, &BytesMaterializer)
        .unwrap_err();
    assert!(matches!(err, ArtifactIoError::Missing { .. }), "{err}");

    // One file of two missing: the hash no longer matches.
    let m = FilesMaterializer::new(&[("a", b"1"), ("b", b"2")]);
    let written = f.write("two/files", &m, &()).unwrap();
    f.store.delete(&p("two/files/b")).unwrap();
    let err = f.read("two/files", &written.content_hash, &m).unwrap_err();
    assert!(matches!(err, ArtifactIoError::HashMismatch { .. }), "{err}");
    assert!(f.staged().is_empty(), "{:?}", f.staged());
}

#[test]
fn a_failing_materializer_leaves_nothing_behind() {
    let f = Fixture::new();
    let m = FilesMaterializer {
        files: vec![("first", b"written"), ("second", b"never")],
        fail_after: Some(1),
    };
    let err = f.write(FOLDER, &m, &()).unwrap_err();
    assert!(
        matches!(err, ArtifactIoError::Materializer(_))
            && err.to_string().contains("the disk is on fire"),
        "{err}"
    );
    assert!(f.store.list(None).unwrap().is_empty());
    assert!(f.staging().is_dir());
    assert!(f.staged().is_empty(), "{:?}", f.staged());
}

#[test]
fn an_existing_artifact_is_never_overwritten() {
    let f = Fixture::new();
    let written = f.write(FOLDER, &BytesMaterializer, &vec![1]).unwrap();
    let err = f.write(FOLDER, &BytesMaterializer, &vec![2]).unwrap_err();
    assert!(
        matches!(err, ArtifactIoError::AlreadyExists { .. }),
        "{err}"
    );
    assert_eq!(
        f.read(FOLDER, &written.content_hash, &BytesMaterializer)
            .unwrap(),
        vec![1]
    );
}

#[cfg(unix)]
#[test]
fn links_are_refused_not_followed() {
    #[derive(Debug)]
    struct Linking(PathBuf);
    impl Materializer for Linking {
        type Value = ();
        fn id(&self) -> &'static str {
            "test.link"
        }
        fn version(&self) -> u32 {
            1
        }
        fn save(&self, (): &(), dir: &Path) -> Result<(), MaterializerError> {
            fs::write(dir.join("plain"), b"ok").unwrap();
            std::os::unix::fs::symlink(&self.0, dir.join("link")).unwrap();
            Ok(())
        }
        fn load(&self, _dir: &Path) -> Result<(), MaterializerError> {
            Ok(())
        }
    }
    let f = Fixture::new();
    let secret = f.dir.path().join("secret");
    fs::write(&secret, b"do not publish").unwrap();
    for target in [secret.clone(), f.dir.path().to_path_buf()] {
        let err = f.write(FOLDER, &Linking(target), &()).unwrap_err();
        assert!(
            matches!(err, ArtifactIoError::NotStorable { .. })
                && err.to_string().contains("symbolic link"),
            "{err}"
        );
        assert!(f.store.list(None).unwrap().is_empty());
        assert!(f.staged().is_empty(), "{:?}", f.staged());
    }

    // A link placed in an artifact's folder in the store is refused on reading too.
    let written = f.write(FOLDER, &BytesMaterializer, &vec![7]).unwrap();
    std::os::unix::fs::symlink(&secret, f.file(&format!("{FOLDER}/link"))).unwrap();
    let err = f
        .read(FOLDER, &written.content_hash, &BytesMaterializer)
        .unwrap_err();
    assert!(matches!(err, ArtifactIoError::NotStorable { .. }), "{err}");
    assert!(content_hash_of_dir(&f.file(FOLDER)).is_err());
}

#[test]
fn an_empty_artifact_round_trips() {
    let f = Fixture::new();
    let m = FilesMaterializer::new(&[]);
    let written = f.write(FOLDER, &m, &()).unwrap();
    assert_eq!(written.size, 0);
    assert!(f.store.list(None).unwrap().is_empty());
    f.read(FOLDER, &written.content_hash, &m).unwrap();
}

#[test]
fn a_full_check_tells_intact_modified_truncated_and_missing_apart_on_every_store() {
    let f = Fixture::new();
    let remote = RemoteLike(f.store.clone(), None);
    let stores: [(&str, &dyn ArtifactStore); 2] = [("local", &f.store), ("remote", &remote)];
    for (name, store) in stores {
        let folder = format!("pipe/{name}/output/0b9f4c1e");
        let m = FilesMaterializer::new(&[("a.txt", b"alpha"), ("sub/b.txt", b"beta!")]);
        let written = write_artifact(store, &f.staging(), &p(&folder), &m, &()).unwrap();
        let check = |progress: &mut u64| {
            check_artifact(
                store,
                &p(&folder),
                &written.content_hash,
                written.size,
                &mut |bytes| *progress += bytes,
            )
            .unwrap()
        };
        let mut read = 0;
        assert_eq!(
            check(&mut read),
            ArtifactCheck::Intact { bytes: 10 },
            "{name}"
        );
        assert_eq!(read, 10, "{name}: every byte is read");

        let a = f.file(&format!("{folder}/a.txt"));
        fs::write(&a, b"alphA").unwrap();
        assert!(
            matches!(check(&mut 0), ArtifactCheck::Modified { bytes: 10, .. }),
            "{name}"
        );
        fs::write(&a, b"al").unwrap();
        assert_eq!(
            check(&mut 0),
            ArtifactCheck::Truncated {
                bytes: 7,
                recorded: 10
            },
            "{name}"
        );
        fs::write(&a, b"alpha").unwrap();
        assert!(check(&mut 0).is_intact(), "{name}: restored");
        fs::remove_dir_all(f.file(&folder)).unwrap();
        assert_eq!(check(&mut 0), ArtifactCheck::Missing, "{name}");
    }
}
