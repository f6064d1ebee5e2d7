//! The `acme.mirror` store's own behaviour: two copies, healing, validation, registration.

// Helpers outside `#[test]` functions unwrap too: a panic is a test failure.
#![allow(clippy::unwrap_used)]

use std::fs;
use std::path::{Path, PathBuf};

use acme_zenml_flavors::{MirrorArtifactStore, MirrorArtifactStoreConfig};
use zenml_artifact_store::{
    ArtifactStore, ArtifactStoreError, ArtifactStoreFlavor, LocalFiles, ObjectMeta, ObjectPath,
    PutMode,
};
use zenml_core::{ComponentContext, ComponentKind, FlavorRegistry, ValidateConfig};

fn p(s: &str) -> ObjectPath {
    ObjectPath::new(s).unwrap()
}

/// A store in a fresh temporary folder, with its primary and mirror folders.
struct Fixture {
    dir: tempfile::TempDir,
    store: MirrorArtifactStore,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let store = MirrorArtifactStore::open(
            &dir.path().join("primary"),
            &dir.path().join("mirror"),
            false,
        )
        .unwrap();
        Fixture { dir, store }
    }

    fn primary(&self, key: &str) -> PathBuf {
        self.store.primary().root().join(key)
    }

    fn mirror(&self, key: &str) -> PathBuf {
        self.store.mirror().root().join(key)
    }
}

#[test]
fn every_write_lands_in_both_folders_and_deletes_remove_both() {
    let f = Fixture::new();
    f.store.put(&p("run/a/data.json"), b"[1,2]").unwrap();
    let src = f.dir.path().join("big.bin");
    fs::write(&src, vec![7u8; 50_000]).unwrap();
    assert_eq!(
        f.store
            .put_file(&p("run/b/blob"), &src, PutMode::Create)
            .unwrap()
            .size,
        50_000
    );
    assert!(src.exists(), "put_file copies");
    assert_eq!(
        f.store
            .put_file_moving(&p("run/c/moved"), &src, PutMode::Create)
            .unwrap()
            .size,
        50_000
    );
    assert!(!src.exists(), "put_file_moving renames into the primary");

    for key in ["run/a/data.json", "run/b/blob", "run/c/moved"] {
        assert!(f.primary(key).is_file(), "{key} in the primary");
        assert!(f.mirror(key).is_file(), "{key} in the mirror");
        assert_eq!(
            fs::read(f.primary(key)).unwrap(),
            fs::read(f.mirror(key)).unwrap()
        );
    }
    assert_eq!(
        keys(f.store.list(Some(&p("run"))).unwrap()),
        [p("run/a/data.json"), p("run/b/blob"), p("run/c/moved")]
    );

    assert_eq!(f.store.delete_prefix(&p("run/b")).unwrap(), 1);
    f.store.delete(&p("run/a/data.json")).unwrap();
    f.store.delete(&p("run/a/data.json")).unwrap();
    assert_eq!(keys(f.store.list(None).unwrap()), [p("run/c/moved")]);
    assert!(!f.mirror("run/a/data.json").exists());
    assert!(!f.primary("run/b/blob").exists() && !f.mirror("run/b/blob").exists());
    assert!(matches!(
        f.store.get(&p("run/a/data.json")),
        Err(ArtifactStoreError::NotFound { .. })
    ));
    assert_eq!(
        f.store.uri(),
        format!("file://{}", f.store.primary().root().display())
    );
}

#[test]
fn reading_an_object_lost_from_the_primary_heals_it() {
    let f = Fixture::new();
    f.store.put(&p("a/x"), b"x bytes").unwrap();
    f.store.put(&p("a/y"), b"y bytes").unwrap();
    f.store.put(&p("b/z"), b"z bytes").unwrap();
    fs::remove_dir_all(f.store.primary().root().join("a")).unwrap();
    fs::remove_file(f.primary("b/z")).unwrap();

    // Still complete: listings and `exists` see the mirror's copies.
    assert_eq!(
        keys(f.store.list(None).unwrap()),
        [p("a/x"), p("a/y"), p("b/z")]
    );
    assert!(f.store.exists(&p("a/x")).unwrap());

    // `get` reads the mirror and copies the object back.
    assert_eq!(f.store.get(&p("a/x")).unwrap(), b"x bytes");
    assert_eq!(fs::read(f.primary("a/x")).unwrap(), b"x bytes");

    // So does `get_file`.
    let out = f.dir.path().join("z.out");
    assert_eq!(f.store.get_file(&p("b/z"), &out).unwrap(), 7);
    assert_eq!(fs::read(&out).unwrap(), b"z bytes");
    assert_eq!(fs::read(f.primary("b/z")).unwrap(), b"z bytes");

    // `local_path` of a folder heals everything below it before readers walk it.
    assert!(!f.primary("a/y").exists());
    let folder = LocalFiles::local_path(&f.store, &p("a")).unwrap();
    assert_eq!(folder, f.store.primary().root().join("a"));
    assert_eq!(fs::read(folder.join("y")).unwrap(), b"y bytes");

    // `heal` repairs a whole primary at once.
    fs::remove_dir_all(f.store.primary().root().join("a")).unwrap();
    assert_eq!(f.store.heal(None).unwrap(), 2);
    assert_eq!(f.store.heal(None).unwrap(), 0);
    assert_eq!(fs::read(f.primary("a/y")).unwrap(), b"y bytes");
}

#[test]
fn a_failed_write_to_the_primary_leaves_no_copy_in_the_mirror() {
    let f = Fixture::new();
    // A file where the primary needs a folder: writing `blocked/object` there fails.
    fs::write(f.primary("blocked"), b"in the way").unwrap();
    assert!(f.store.put(&p("blocked/object"), b"new").is_err());
    assert!(!f.mirror("blocked/object").exists());
    assert!(!f.store.mirror().exists(&p("blocked/object")).unwrap());
}

#[cfg(unix)]
#[test]
fn moving_refuses_a_link_before_writing_anything() {
    let f = Fixture::new();
    let target = f.dir.path().join("target.bin");
    fs::write(&target, b"data").unwrap();
    let link = f.dir.path().join("link");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let err = f
        .store
        .put_file_moving(&p("linked"), &link, PutMode::Create)
        .unwrap_err();
    assert!(err.to_string().contains("not a regular file"), "{err}");
    assert!(!f.mirror("linked").exists() && !f.primary("linked").exists());
    assert!(link.exists());
}

fn keys(list: Vec<ObjectMeta>) -> Vec<ObjectPath> {
    list.into_iter().map(|meta| meta.path).collect()
}

#[test]
fn a_create_is_decided_once_for_both_folders() {
    let f = Fixture::new();
    f.store
        .put_opts(&p("c"), b"first", PutMode::Create)
        .unwrap();
    let err = f
        .store
        .put_opts(&p("c"), b"second", PutMode::Create)
        .unwrap_err();
    assert!(
        matches!(err, ArtifactStoreError::AlreadyExists { .. }),
        "{err}"
    );
    assert_eq!(fs::read(f.primary("c")).unwrap(), b"first");
    assert_eq!(fs::read(f.mirror("c")).unwrap(), b"first");
}

fn config(primary: &str, mirror: &str) -> MirrorArtifactStoreConfig {
    MirrorArtifactStoreConfig {
        primary: primary.into(),
        mirror: mirror.into(),
        sync: true,
    }
}

fn invalid(primary: &str, mirror: &str) -> String {
    config(primary, mirror).validate().unwrap_err().to_string()
}

#[test]
fn the_two_folders_must_be_given_distinct_and_apart() {
    assert!(
        config("artifacts", "/mnt/backup/artifacts")
            .validate()
            .is_ok()
    );
    assert!(invalid("", "m").contains("`primary`: the folder cannot be empty"));
    assert!(invalid("p", " ").contains("`mirror`: the folder cannot be empty"));
    assert!(invalid("p", "s3://bucket/x").contains("`s3://` URI"));
    assert!(invalid("data/", "data").contains("is also the primary folder"));
    assert!(invalid("data", "data/copy").contains("is inside the primary folder"));
    assert!(invalid("data/main", "data").contains("contains the primary folder"));
}

#[test]
fn opening_checks_the_real_folders() {
    let dir = tempfile::tempdir().unwrap();
    let context = ComponentContext::new(dir.path());
    // Two spellings of one folder pass validation; opening sees through them.
    let same = config("store", &dir.path().join("store").display().to_string());
    assert!(same.validate().is_ok());
    let err = same.open(&context).unwrap_err();
    assert!(
        err.to_string().contains("is also the primary folder"),
        "{err}"
    );

    let opened = config("store", "copy").open(&context).unwrap();
    let primary = fs::canonicalize(dir.path().join("store")).unwrap();
    assert_eq!(opened.uri(), format!("file://{}", primary.display()));
    assert!(dir.path().join("copy").is_dir());
}

#[test]
fn the_flavor_is_registered_with_its_documentation() {
    let registry = FlavorRegistry::global().unwrap();
    let flavor = registry
        .get(ComponentKind::ArtifactStore, "acme.mirror")
        .unwrap();
    assert_eq!(flavor.source, "acme-zenml-flavors");
    let fields: Vec<_> = flavor.fields.iter().map(|f| f.name).collect();
    assert_eq!(fields, ["primary", "mirror", "sync"]);
    assert!(flavor.fields.iter().all(|f| !f.doc.is_empty()));
    assert_eq!(
        flavor.field("sync").unwrap().default_value().as_deref(),
        Some("true")
    );
    // The example passes the same check as a registration.
    flavor
        .check_table(&flavor.example_table().unwrap())
        .unwrap();

    // The `flavor` key selects the config type through typetag.
    let parsed: Box<dyn ArtifactStoreFlavor> =
        serde_json::from_str(r#"{ "flavor": "acme.mirror", "primary": "p", "mirror": "m" }"#)
            .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = parsed.open(&ComponentContext::new(dir.path())).unwrap();
    store.put(&p("k"), b"v").unwrap();
    assert_eq!(fs::read(dir.path().join("m/k")).unwrap(), b"v");
    assert!(Path::new(&dir.path().join("p/k")).is_file());
}
