//! Unit tests of the repository, with a test-only artifact store flavor that has a secret.

use serde::{Deserialize, Serialize};
// Links the default stack's `sqlite` flavor, which `init` and the stack checks look up.
use zenml_artifact_store::{
    ArtifactStore, ArtifactStoreError, ArtifactStoreFlavor, LocalArtifactStore,
};
use zenml_core::{
    ComponentContext, ComponentKind, ConfigError, ConfigFields, Name, SecretString, ValidateConfig,
    flavor,
};
use zenml_sqlite as _;

use crate::{
    ActiveStackSource, Repository, RepositoryError, StackDefinition, StackExport, open_stack,
};

/// A local folder guarded by a token: a flavor with a secret field, for these tests.
#[derive(Debug, Clone, Serialize, Deserialize, ConfigFields)]
struct TokenStoreConfig {
    /// The folder.
    path: std::path::PathBuf,
    /// The token.
    #[config(secret)]
    token: Option<SecretString>,
}

impl ValidateConfig for TokenStoreConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        Ok(())
    }
}

#[flavor(
    name = "test-token",
    description = "A test store with a secret token",
    example = "path = \"x\""
)]
impl ArtifactStoreFlavor for TokenStoreConfig {
    fn open(
        &self,
        context: &ComponentContext,
    ) -> Result<Box<dyn ArtifactStore>, ArtifactStoreError> {
        if self.token.as_ref().map(SecretString::expose) != Some("s3cret") {
            return Err(ArtifactStoreError::Config("wrong token".into()));
        }
        Ok(Box::new(LocalArtifactStore::open(
            &context.resolve(&self.path),
            false,
        )?))
    }
}

fn table(text: &str) -> toml::Table {
    toml::from_str(text).unwrap()
}

fn repo() -> (tempfile::TempDir, Repository) {
    let dir = tempfile::tempdir().unwrap();
    let repo = Repository::init(dir.path()).unwrap();
    (dir, repo)
}

fn stack(o: &str, m: &str, a: &str) -> StackDefinition {
    StackDefinition {
        orchestrator: Name::new(o).unwrap(),
        metadata_store: Name::new(m).unwrap(),
        artifact_store: Name::new(a).unwrap(),
    }
}

#[test]
fn init_writes_the_default_stack_and_refuses_twice() {
    let (dir, repo) = repo();
    assert_eq!(repo.active_stack_name().unwrap().0.as_str(), "default");
    let reopened = Repository::open(dir.path()).unwrap();
    assert_eq!(reopened.stacks(), repo.stacks());
    assert!(matches!(
        Repository::init(dir.path()),
        Err(RepositoryError::AlreadyInitialized { .. })
    ));
    let opened = open_stack(&reopened, "default").unwrap();
    assert!(opened.metadata_store.uri().ends_with("/.zen/metadata.db"));
}

#[test]
fn discovery_walks_up() {
    let (dir, _repo) = repo();
    let nested = dir.path().join("a/b");
    std::fs::create_dir_all(&nested).unwrap();
    let found = Repository::discover(&nested).unwrap();
    assert_eq!(found.root(), std::fs::canonicalize(dir.path()).unwrap());
    let outside = tempfile::tempdir().unwrap();
    if std::env::var_os(crate::REPOSITORY_PATH_ENV).is_none() {
        assert!(matches!(
            Repository::discover(outside.path()),
            Err(RepositoryError::NotARepository { .. })
        ));
    }
}

#[test]
fn components_are_checked_against_their_flavor() {
    let (_dir, mut repo) = repo();
    let err = repo
        .register_component(ComponentKind::ArtifactStore, "x", "gcs", toml::Table::new())
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("known artifact store flavors: local"),
        "{err}"
    );
    let err = repo
        .register_component(
            ComponentKind::ArtifactStore,
            "x",
            "local",
            table("path = \"a\"\nroot = \"b\""),
        )
        .unwrap_err();
    assert!(
        err.to_string().contains("unknown config key `root`"),
        "{err}"
    );
    let err = repo
        .register_component(
            ComponentKind::ArtifactStore,
            "x",
            "local",
            toml::Table::new(),
        )
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("missing required config key `path`"),
        "{err}"
    );
    let err = repo
        .register_component(
            ComponentKind::ArtifactStore,
            "default",
            "local",
            table("path = \"a\""),
        )
        .unwrap_err();
    assert!(
        matches!(err, RepositoryError::AlreadyExists { .. }),
        "{err}"
    );
    assert!(
        repo.register_component(
            ComponentKind::ArtifactStore,
            "../x",
            "local",
            table("path = \"a\"")
        )
        .is_err()
    );
}

#[test]
fn secrets_stay_out_of_the_definitions_and_exports() {
    let (dir, mut repo) = repo();
    let stored = repo
        .register_component(
            ComponentKind::ArtifactStore,
            "guarded",
            "test-token",
            table("path = \"g\"\ntoken = \"s3cret\""),
        )
        .unwrap();
    assert_eq!(stored, ["token"]);
    repo.register_stack("guarded", stack("default", "default", "guarded"))
        .unwrap();
    repo.save().unwrap();

    let config = std::fs::read_to_string(dir.path().join(".zen/config.toml")).unwrap();
    assert!(!config.contains("s3cret"), "{config}");
    let secrets_path = dir.path().join(".zen/secrets.toml");
    assert!(
        std::fs::read_to_string(&secrets_path)
            .unwrap()
            .contains("s3cret")
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&secrets_path)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    let reopened = Repository::open(dir.path()).unwrap();
    let component = reopened
        .component(ComponentKind::ArtifactStore, "guarded")
        .unwrap();
    assert!(!component.config.contains_key("token"));
    open_stack(&reopened, "guarded").unwrap();

    let (export, left_out) = reopened.export_stack("guarded").unwrap();
    assert_eq!(left_out, ["artifact_store.guarded.token"]);
    let file = dir.path().join("guarded.toml");
    export.write(&file).unwrap();
    assert!(!std::fs::read_to_string(&file).unwrap().contains("s3cret"));

    // Updating another key keeps the secret; renaming moves it; deleting removes it.
    let mut repo = reopened;
    repo.update_component(
        ComponentKind::ArtifactStore,
        "guarded",
        table("path = \"h\""),
    )
    .unwrap();
    repo.rename_component(ComponentKind::ArtifactStore, "guarded", "vault")
        .unwrap();
    assert_eq!(
        repo.component_secret_keys(ComponentKind::ArtifactStore, "vault"),
        ["token"]
    );
    assert_eq!(
        repo.stack("guarded").unwrap().artifact_store.as_str(),
        "vault"
    );
    repo.delete_stack("guarded").unwrap();
    repo.delete_component(ComponentKind::ArtifactStore, "vault")
        .unwrap();
    repo.save().unwrap();
    assert!(
        !std::fs::read_to_string(&secrets_path)
            .unwrap()
            .contains("s3cret")
    );
}

#[test]
fn deleting_used_components_and_the_active_stack_is_refused() {
    let (_dir, mut repo) = repo();
    repo.register_stack("second", stack("default", "default", "default"))
        .unwrap();
    let err = repo
        .delete_component(ComponentKind::MetadataStore, "default")
        .unwrap_err();
    assert!(err.to_string().contains("`default`, `second`"), "{err}");
    assert!(matches!(
        repo.delete_stack("default"),
        Err(RepositoryError::ActiveStack(_))
    ));
    repo.delete_stack("second").unwrap();
    let err = repo
        .register_stack("broken", stack("default", "nope", "default"))
        .unwrap_err();
    assert!(
        err.to_string().contains("no metadata store named `nope`"),
        "{err}"
    );
}

#[test]
fn renaming_the_active_stack_keeps_it_active() {
    let (_dir, mut repo) = repo();
    repo.rename_stack("default", "main").unwrap();
    assert_eq!(
        repo.active_stack_name().unwrap(),
        (Name::new("main").unwrap(), ActiveStackSource::Repository)
    );
    repo.copy_stack("main", "copy").unwrap();
    repo.set_active_stack("copy").unwrap();
    assert!(repo.set_active_stack("missing").is_err());
}

#[test]
fn removing_attributes_respects_required_keys() {
    let (_dir, mut repo) = repo();
    repo.update_component(
        ComponentKind::ArtifactStore,
        "default",
        table("sync = false"),
    )
    .unwrap();
    repo.remove_component_attributes(ComponentKind::ArtifactStore, "default", &["sync".into()])
        .unwrap();
    let err = repo
        .remove_component_attributes(ComponentKind::ArtifactStore, "default", &["path".into()])
        .unwrap_err();
    assert!(err.to_string().contains("requires it"), "{err}");
    let err = repo
        .remove_component_attributes(ComponentKind::ArtifactStore, "default", &["sync".into()])
        .unwrap_err();
    assert!(err.to_string().contains("has no `sync` set"), "{err}");
}

#[test]
fn import_reuses_identical_components_and_renames_clashing_ones() {
    let (dir, mut repo) = repo();
    let (export, _) = repo.export_stack("default").unwrap();
    let report = repo.import_stack(&export, Some("again")).unwrap();
    assert_eq!(report.reused.len(), 3);
    assert!(report.registered.is_empty());

    repo.update_component(
        ComponentKind::ArtifactStore,
        "default",
        table("path = \"elsewhere\""),
    )
    .unwrap();
    let report = repo.import_stack(&export, Some("third")).unwrap();
    assert_eq!(
        report.renamed,
        [(
            ComponentKind::ArtifactStore,
            "default".to_owned(),
            "third-default".to_owned()
        )]
    );
    assert_eq!(
        repo.stack("third").unwrap().artifact_store.as_str(),
        "third-default"
    );

    let file = dir.path().join("stack.toml");
    export.write(&file).unwrap();
    assert_eq!(StackExport::read(&file).unwrap(), export);
    assert!(matches!(
        repo.import_stack(&export, Some("third")),
        Err(RepositoryError::AlreadyExists { .. })
    ));
}

#[test]
fn malformed_files_name_the_file_and_line() {
    let (dir, _repo) = repo();
    let config = dir.path().join(".zen/config.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, text.replace("metadata_store = \"default\"\n", "")).unwrap();
    let err = Repository::open(dir.path()).unwrap_err().to_string();
    assert!(
        err.contains("config.toml:") && err.contains("metadata_store"),
        "{err}"
    );

    let file = dir.path().join("bad.toml");
    std::fs::write(
        &file,
        "zenml_version = \"0.1.0\"\nstack_name = \"x\"\n[components.orchestrator\n",
    )
    .unwrap();
    let err = StackExport::read(&file).unwrap_err().to_string();
    assert!(err.contains("bad.toml:3:"), "{err}");
}

#[test]
fn a_concurrent_change_is_detected_not_overwritten() {
    let (dir, _repo) = repo();
    let mut first = Repository::open(dir.path()).unwrap();
    let mut second = Repository::open(dir.path()).unwrap();
    first.copy_stack("default", "from-first").unwrap();
    first.save().unwrap();
    second.copy_stack("default", "from-second").unwrap();
    let err = second.save().unwrap_err();
    assert!(
        matches!(err, RepositoryError::ConcurrentChange { .. }),
        "{err}"
    );
    let reread = Repository::open(dir.path()).unwrap();
    assert!(reread.stack("from-first").is_ok() && reread.stack("from-second").is_err());
    // The same process may save twice.
    first.copy_stack("default", "again").unwrap();
    first.save().unwrap();
}
