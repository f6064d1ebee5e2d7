//! The repository: discovery, components, stacks and the active stack.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use zenml_core::{ComponentKind, ConfigError, FlavorDescription, FlavorRegistry, Name};

use crate::RepositoryError;
use crate::export::{ExportedComponent, StackExport};
use crate::file::{WriteLock, read_text, read_toml_with_text, toml_text, write_toml};
use crate::secrets::Secrets;

/// The repository folder's name.
pub const ZEN_DIR: &str = ".zen";
/// Environment variable naming the repository root, instead of searching upwards.
pub const REPOSITORY_PATH_ENV: &str = "ZENML_REPOSITORY_PATH";
/// Environment variable naming the stack to use, instead of the repository's active stack.
pub const STACK_ENV: &str = "ZENML_STACK";
/// The version of the `config.toml` format this build writes.
const FORMAT_VERSION: u32 = 1;
const CONFIG_FILE: &str = "config.toml";
const HEADER: &str = "# zenml repository: components, stacks and the active stack.\n# Written by `zenml`; edit with care (the next command checks it). Secrets live in secrets.toml.\n\n";

/// The stack a repository's default stack is made of.
const DEFAULT_STACK: &str = "default";

/// A stack: one component of each stack kind, by name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StackDefinition {
    /// The orchestrator's name.
    pub orchestrator: Name,
    /// The metadata store's name.
    pub metadata_store: Name,
    /// The artifact store's name.
    pub artifact_store: Name,
}

impl StackDefinition {
    /// The component of `kind` (which must be a stack kind).
    pub fn component(&self, kind: ComponentKind) -> &Name {
        match kind {
            ComponentKind::Orchestrator => &self.orchestrator,
            ComponentKind::MetadataStore => &self.metadata_store,
            ComponentKind::ArtifactStore | ComponentKind::Materializer => &self.artifact_store,
        }
    }

    fn component_mut(&mut self, kind: ComponentKind) -> &mut Name {
        match kind {
            ComponentKind::Orchestrator => &mut self.orchestrator,
            ComponentKind::MetadataStore => &mut self.metadata_store,
            ComponentKind::ArtifactStore | ComponentKind::Materializer => &mut self.artifact_store,
        }
    }
}

/// A registered component: its flavor and its configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct ComponentDefinition {
    /// The kind.
    pub kind: ComponentKind,
    /// The name.
    pub name: Name,
    /// The flavor.
    pub flavor: String,
    /// The configuration without the `flavor` key and without secret values.
    pub config: toml::Table,
}

impl ComponentDefinition {
    /// The configuration as a TOML table with the `flavor` key, secrets excluded.
    pub fn to_table(&self) -> toml::Table {
        let mut table = toml::Table::new();
        table.insert(
            "flavor".to_owned(),
            toml::Value::String(self.flavor.clone()),
        );
        table.extend(self.config.clone());
        table
    }
}

/// Where the active stack came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActiveStackSource {
    /// The repository's `active_stack`.
    Repository,
    /// The `ZENML_STACK` environment variable.
    Environment,
}

/// What `import_stack` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportReport {
    /// The stack's name.
    pub stack: String,
    /// Components registered by the import: kind and name.
    pub registered: Vec<(ComponentKind, String)>,
    /// Existing identical components reused: kind and name.
    pub reused: Vec<(ComponentKind, String)>,
    /// Components registered under a new name because the file's name was taken by a
    /// different component: kind, the file's name, the new name.
    pub renamed: Vec<(ComponentKind, String, String)>,
}

/// The contents of `config.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RepositoryFile {
    /// Format version.
    version: u32,
    /// The active stack's name.
    active_stack: Name,
    #[serde(default)]
    stacks: BTreeMap<Name, StackDefinition>,
    #[serde(default)]
    orchestrators: BTreeMap<Name, toml::Table>,
    #[serde(default)]
    metadata_stores: BTreeMap<Name, toml::Table>,
    #[serde(default)]
    artifact_stores: BTreeMap<Name, toml::Table>,
}

impl RepositoryFile {
    fn components(&self, kind: ComponentKind) -> &BTreeMap<Name, toml::Table> {
        match kind {
            ComponentKind::Orchestrator => &self.orchestrators,
            ComponentKind::MetadataStore => &self.metadata_stores,
            ComponentKind::ArtifactStore | ComponentKind::Materializer => &self.artifact_stores,
        }
    }

    fn components_mut(&mut self, kind: ComponentKind) -> &mut BTreeMap<Name, toml::Table> {
        match kind {
            ComponentKind::Orchestrator => &mut self.orchestrators,
            ComponentKind::MetadataStore => &mut self.metadata_stores,
            ComponentKind::ArtifactStore | ComponentKind::Materializer => &mut self.artifact_stores,
        }
    }
}

/// An opened repository. Changes are made on the in-memory copy and written with
/// [`Repository::save`] only after every check passed.
#[derive(Debug, Clone)]
pub struct Repository {
    root: PathBuf,
    zen_dir: PathBuf,
    file: RepositoryFile,
    secrets: Secrets,
    secrets_changed: bool,
    /// The text of `config.toml` as read (or last written) by this process.
    loaded_text: String,
}

impl Repository {
    /// Creates `.zen/` in `root` with the default stack (local orchestrator, SQLite metadata
    /// in `.zen/metadata.db`, local artifacts in `.zen/artifacts`), active.
    pub fn init(root: &Path) -> Result<Repository, RepositoryError> {
        let zen_dir = root.join(ZEN_DIR);
        if zen_dir.exists() {
            return Err(RepositoryError::AlreadyInitialized { path: zen_dir });
        }
        let registry = FlavorRegistry::global()?;
        let default = Name::new(DEFAULT_STACK)?;
        let mut file = RepositoryFile {
            version: FORMAT_VERSION,
            active_stack: default.clone(),
            stacks: BTreeMap::new(),
            orchestrators: BTreeMap::new(),
            metadata_stores: BTreeMap::new(),
            artifact_stores: BTreeMap::new(),
        };
        for (kind, flavor, config) in default_components() {
            let mut table = toml::Table::new();
            table.insert("flavor".to_owned(), toml::Value::String(flavor.to_owned()));
            let body: toml::Table =
                toml::from_str(config).map_err(|e| ConfigError::Invalid(e.to_string()))?;
            registry.check_component(kind, flavor, &body)?;
            table.extend(body);
            file.components_mut(kind).insert(default.clone(), table);
        }
        file.stacks.insert(
            default.clone(),
            StackDefinition {
                orchestrator: default.clone(),
                metadata_store: default.clone(),
                artifact_store: default,
            },
        );
        fs::create_dir_all(root).map_err(|source| RepositoryError::Io {
            action: "cannot create",
            path: root.to_path_buf(),
            source,
        })?;
        let root = canonical(root)?;
        let zen_dir = root.join(ZEN_DIR);
        // Build `.zen/` complete in a temporary folder and rename it into place, so that
        // nobody ever sees a `.zen/` without its config.toml, and two processes initializing
        // the same folder at once end with one repository and a clear error for the other.
        let staged = tempfile::Builder::new()
            .prefix(".zen-init-")
            .tempdir_in(&root)
            .map_err(|source| RepositoryError::Io {
                action: "cannot create a temporary folder in",
                path: root.clone(),
                source,
            })?;
        let loaded_text = toml_text(&zen_dir.join(CONFIG_FILE), HEADER, &file)?;
        write_toml(&staged.path().join(CONFIG_FILE), HEADER, &file, false)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            // tempfile creates the folder private; a repository folder is ordinary.
            let _ = fs::set_permissions(staged.path(), fs::Permissions::from_mode(0o755));
        }
        let staged = staged.keep();
        if let Err(source) = fs::rename(&staged, &zen_dir) {
            let _ = fs::remove_dir_all(&staged);
            if zen_dir.exists() {
                return Err(RepositoryError::AlreadyInitialized { path: zen_dir });
            }
            return Err(RepositoryError::Io {
                action: "cannot create",
                path: zen_dir,
                source,
            });
        }
        Ok(Repository {
            zen_dir,
            root,
            file,
            secrets: Secrets::default(),
            secrets_changed: false,
            loaded_text,
        })
    }

    /// Finds the repository: `ZENML_REPOSITORY_PATH` when set, otherwise the nearest folder at
    /// or above `start` that contains `.zen/`.
    pub fn discover(start: &Path) -> Result<Repository, RepositoryError> {
        if let Some(root) = std::env::var_os(REPOSITORY_PATH_ENV).filter(|v| !v.is_empty()) {
            let root = PathBuf::from(root);
            if !root.join(ZEN_DIR).is_dir() {
                return Err(RepositoryError::RepositoryPathNotARepository { path: root });
            }
            return Repository::open(&root);
        }
        let mut dir = Some(start);
        while let Some(d) = dir {
            if d.join(ZEN_DIR).is_dir() {
                return Repository::open(d);
            }
            dir = d.parent();
        }
        Err(RepositoryError::NotARepository {
            start: start.to_path_buf(),
        })
    }

    /// Opens the repository whose root (the folder holding `.zen/`) is `root`. The file's
    /// shape is checked here; each component's configuration is checked against its flavor
    /// when it is changed or opened, so that a component of a flavor this binary does not
    /// link gets in the way only of the stacks that use it.
    pub fn open(root: &Path) -> Result<Repository, RepositoryError> {
        let root = canonical(root)?;
        let zen_dir = root.join(ZEN_DIR);
        let path = zen_dir.join(CONFIG_FILE);
        let (file, loaded_text): (RepositoryFile, String) = read_toml_with_text(&path)?;
        if file.version > FORMAT_VERSION {
            return Err(ConfigError::Invalid(format!(
                "{} was written by a newer zenml (format {}; this build reads up to {FORMAT_VERSION}); upgrade zenml",
                path.display(),
                file.version
            ))
            .into());
        }
        check_references(&file, &path, &loaded_text)?;
        let secrets = Secrets::load(&zen_dir)?;
        Ok(Repository {
            root,
            zen_dir,
            file,
            secrets,
            secrets_changed: false,
            loaded_text,
        })
    }

    /// Writes the repository's files, each replaced atomically. Another process that
    /// changed `config.toml` since this one read it makes the save fail (nothing is
    /// written): the command is to be run again on the new state, rather than silently
    /// undoing the other change.
    pub fn save(&mut self) -> Result<(), RepositoryError> {
        let path = self.zen_dir.join(CONFIG_FILE);
        let _lock = WriteLock::acquire(&self.zen_dir)?;
        if read_text(&path)? != self.loaded_text {
            return Err(RepositoryError::ConcurrentChange { path });
        }
        let text = toml_text(&path, HEADER, &self.file)?;
        if self.secrets_changed {
            self.secrets.save(&self.zen_dir)?;
            self.secrets_changed = false;
        }
        write_toml(&path, HEADER, &self.file, false)?;
        self.loaded_text = text;
        Ok(())
    }

    /// The folder that holds `.zen/`.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The `.zen/` folder.
    pub fn zen_dir(&self) -> &Path {
        &self.zen_dir
    }

    // ----- components -------------------------------------------------------------------

    /// Every component of `kind`, sorted by name.
    pub fn components(
        &self,
        kind: ComponentKind,
    ) -> Result<Vec<ComponentDefinition>, RepositoryError> {
        self.file
            .components(kind)
            .keys()
            .map(|name| self.component(kind, name.as_str()))
            .collect()
    }

    /// The component `name` of `kind`, without secret values.
    pub fn component(
        &self,
        kind: ComponentKind,
        name: &str,
    ) -> Result<ComponentDefinition, RepositoryError> {
        let (name, table) = self
            .file
            .components(kind)
            .get_key_value(&Name::new(name).map_err(|_| self.unknown_component(kind, name))?)
            .ok_or_else(|| self.unknown_component(kind, name))?;
        let mut config = table.clone();
        let flavor = match config.remove("flavor") {
            Some(toml::Value::String(f)) => f,
            _ => {
                return Err(ConfigError::Invalid(format!(
                    "{}: {} `{name}` has no `flavor` key",
                    self.zen_dir.join(CONFIG_FILE).display(),
                    kind.human_name()
                ))
                .into());
            }
        };
        Ok(ComponentDefinition {
            kind,
            name: name.clone(),
            flavor,
            config,
        })
    }

    /// The component's full configuration, secrets included, with the `flavor` key: what a
    /// flavor's trait object is deserialized from. Never print it.
    pub fn component_config_with_secrets(
        &self,
        kind: ComponentKind,
        name: &str,
    ) -> Result<toml::Table, RepositoryError> {
        let mut table = self.component(kind, name)?.to_table();
        if let Some(secrets) = self.secrets.get(kind, name) {
            table.extend(secrets.clone());
        }
        Ok(table)
    }

    /// The names of the secret values stored for a component.
    pub fn component_secret_keys(&self, kind: ComponentKind, name: &str) -> Vec<String> {
        self.secrets
            .get(kind, name)
            .map(|t| t.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// Registers a new component. `config` holds the flavor's keys (no `flavor` key); secret
    /// fields go to the secrets file. Returns the names of the secret fields stored.
    pub fn register_component(
        &mut self,
        kind: ComponentKind,
        name: &str,
        flavor: &str,
        config: toml::Table,
    ) -> Result<Vec<String>, RepositoryError> {
        let name = Name::new(name)?;
        if self.file.components(kind).contains_key(&name) {
            return Err(RepositoryError::AlreadyExists {
                what: kind.human_name(),
                name: name.to_string(),
            });
        }
        let description = FlavorRegistry::global()?.check_component(kind, flavor, &config)?;
        Ok(self.store_component(kind, &name, description, config))
    }

    /// Sets keys of an existing component's configuration, checking the result.
    pub fn update_component(
        &mut self,
        kind: ComponentKind,
        name: &str,
        changes: toml::Table,
    ) -> Result<Vec<String>, RepositoryError> {
        let current = self.component(kind, name)?;
        let mut config = self.component_config_with_secrets(kind, name)?;
        config.remove("flavor");
        config.extend(changes);
        let description =
            FlavorRegistry::global()?.check_component(kind, &current.flavor, &config)?;
        Ok(self.store_component(kind, &current.name, description, config))
    }

    /// Replaces a component's flavor and whole configuration, checking the result.
    pub fn replace_component(
        &mut self,
        kind: ComponentKind,
        name: &str,
        flavor: &str,
        config: toml::Table,
    ) -> Result<Vec<String>, RepositoryError> {
        let current = self.component(kind, name)?;
        let description = FlavorRegistry::global()?.check_component(kind, flavor, &config)?;
        Ok(self.store_component(kind, &current.name, description, config))
    }

    /// Removes optional keys from a component's configuration.
    pub fn remove_component_attributes(
        &mut self,
        kind: ComponentKind,
        name: &str,
        keys: &[String],
    ) -> Result<(), RepositoryError> {
        let current = self.component(kind, name)?;
        let registry = FlavorRegistry::global()?;
        let description = registry.get(kind, &current.flavor)?;
        let mut config = self.component_config_with_secrets(kind, name)?;
        config.remove("flavor");
        for key in keys {
            let Some(field) = description.field(key) else {
                let mut valid: Vec<String> = description
                    .fields
                    .iter()
                    .map(|f| f.name.to_owned())
                    .collect();
                valid.sort();
                return Err(ConfigError::UnknownKey {
                    kind,
                    flavor: current.flavor.clone(),
                    key: key.clone(),
                    valid,
                }
                .into());
            };
            if field.required {
                return Err(RepositoryError::Attribute(format!(
                    "cannot remove `{key}` from {} `{name}`: flavor `{}` requires it; use `update` to change it",
                    kind.human_name(),
                    current.flavor
                )));
            }
            if config.remove(key).is_none() {
                return Err(RepositoryError::Attribute(format!(
                    "{} `{name}` has no `{key}` set",
                    kind.human_name()
                )));
            }
        }
        description.check_table(&config)?;
        self.store_component(kind, &current.name, description, config);
        Ok(())
    }

    /// Renames a component and every stack's reference to it.
    pub fn rename_component(
        &mut self,
        kind: ComponentKind,
        old: &str,
        new: &str,
    ) -> Result<(), RepositoryError> {
        let current = self.component(kind, old)?;
        let new = Name::new(new)?;
        if self.file.components(kind).contains_key(&new) {
            return Err(RepositoryError::AlreadyExists {
                what: kind.human_name(),
                name: new.to_string(),
            });
        }
        let table = self
            .file
            .components_mut(kind)
            .remove(&current.name)
            .unwrap_or_default();
        self.file.components_mut(kind).insert(new.clone(), table);
        let secrets = self.secrets.take(kind, current.name.as_str());
        if !secrets.is_empty() {
            self.secrets.set(kind, new.as_str(), secrets);
            self.secrets_changed = true;
        }
        for stack in self.file.stacks.values_mut() {
            if *stack.component(kind) == current.name {
                *stack.component_mut(kind) = new.clone();
            }
        }
        Ok(())
    }

    /// Deletes a component that no stack uses.
    pub fn delete_component(
        &mut self,
        kind: ComponentKind,
        name: &str,
    ) -> Result<(), RepositoryError> {
        let current = self.component(kind, name)?;
        let users = self.stacks_using(kind, &current.name);
        if !users.is_empty() {
            return Err(RepositoryError::ComponentInUse {
                kind,
                name: name.to_owned(),
                stacks: users,
            });
        }
        self.file.components_mut(kind).remove(&current.name);
        if !self.secrets.take(kind, name).is_empty() {
            self.secrets_changed = true;
        }
        Ok(())
    }

    /// The stacks that use component `name` of `kind`, sorted.
    pub fn stacks_using(&self, kind: ComponentKind, name: &Name) -> Vec<String> {
        self.file
            .stacks
            .iter()
            .filter(|(_, s)| s.component(kind) == name)
            .map(|(n, _)| n.to_string())
            .collect()
    }

    fn store_component(
        &mut self,
        kind: ComponentKind,
        name: &Name,
        description: &FlavorDescription,
        mut config: toml::Table,
    ) -> Vec<String> {
        let mut secret = toml::Table::new();
        for field in description.fields.iter().filter(|f| f.secret) {
            if let Some(value) = config.remove(field.name) {
                secret.insert(field.name.to_owned(), value);
            }
        }
        let secret_keys: Vec<String> = secret.keys().cloned().collect();
        if self.secrets.get(kind, name.as_str()) != Some(&secret)
            && !(secret.is_empty() && self.secrets.get(kind, name.as_str()).is_none())
        {
            self.secrets.set(kind, name.as_str(), secret);
            self.secrets_changed = true;
        }
        let mut table = toml::Table::new();
        table.insert(
            "flavor".to_owned(),
            toml::Value::String(description.name.to_owned()),
        );
        table.extend(config);
        self.file.components_mut(kind).insert(name.clone(), table);
        secret_keys
    }

    fn unknown_component(&self, kind: ComponentKind, name: &str) -> RepositoryError {
        RepositoryError::UnknownComponent {
            kind,
            name: name.to_owned(),
            known: self
                .file
                .components(kind)
                .keys()
                .map(Name::to_string)
                .collect(),
        }
    }

    // ----- stacks -----------------------------------------------------------------------

    /// Every stack, sorted by name.
    pub fn stacks(&self) -> Vec<(Name, StackDefinition)> {
        self.file
            .stacks
            .iter()
            .map(|(n, s)| (n.clone(), s.clone()))
            .collect()
    }

    /// The stack `name`.
    pub fn stack(&self, name: &str) -> Result<StackDefinition, RepositoryError> {
        Name::new(name)
            .ok()
            .and_then(|n| self.file.stacks.get(&n).cloned())
            .ok_or_else(|| self.unknown_stack(name))
    }

    /// The active stack's name and where that choice came from: `ZENML_STACK` when set,
    /// otherwise the repository's active stack.
    pub fn active_stack_name(&self) -> Result<(Name, ActiveStackSource), RepositoryError> {
        if let Ok(name) = std::env::var(STACK_ENV)
            && !name.is_empty()
        {
            self.stack(&name).map_err(|e| match e {
                RepositoryError::UnknownStack { name, known } => RepositoryError::Config(ConfigError::Invalid(format!(
                    "{STACK_ENV} names stack `{name}`, which does not exist; registered stacks: {}",
                    known.join(", ")
                ))),
                other => other,
            })?;
            return Ok((Name::new(&name)?, ActiveStackSource::Environment));
        }
        Ok((
            self.file.active_stack.clone(),
            ActiveStackSource::Repository,
        ))
    }

    /// The repository's own active stack, ignoring `ZENML_STACK`.
    pub fn repository_active_stack(&self) -> &Name {
        &self.file.active_stack
    }

    /// Makes `name` the repository's active stack.
    pub fn set_active_stack(&mut self, name: &str) -> Result<(), RepositoryError> {
        self.stack(name)?;
        self.file.active_stack = Name::new(name)?;
        Ok(())
    }

    /// Registers a stack made of existing components.
    pub fn register_stack(
        &mut self,
        name: &str,
        stack: StackDefinition,
    ) -> Result<(), RepositoryError> {
        let name = Name::new(name)?;
        if self.file.stacks.contains_key(&name) {
            return Err(RepositoryError::AlreadyExists {
                what: "stack",
                name: name.to_string(),
            });
        }
        self.check_stack_components(&stack)?;
        self.file.stacks.insert(name, stack);
        Ok(())
    }

    /// Replaces some components of a stack.
    pub fn update_stack(
        &mut self,
        name: &str,
        changes: &[(ComponentKind, String)],
    ) -> Result<StackDefinition, RepositoryError> {
        let mut stack = self.stack(name)?;
        for (kind, component) in changes {
            *stack.component_mut(*kind) = Name::new(component)?;
        }
        self.check_stack_components(&stack)?;
        self.file.stacks.insert(Name::new(name)?, stack.clone());
        Ok(stack)
    }

    /// Renames a stack (and the active stack, if it was the active one).
    pub fn rename_stack(&mut self, old: &str, new: &str) -> Result<(), RepositoryError> {
        let stack = self.stack(old)?;
        let new = Name::new(new)?;
        if self.file.stacks.contains_key(&new) {
            return Err(RepositoryError::AlreadyExists {
                what: "stack",
                name: new.to_string(),
            });
        }
        let old = Name::new(old)?;
        self.file.stacks.remove(&old);
        self.file.stacks.insert(new.clone(), stack);
        if self.file.active_stack == old {
            self.file.active_stack = new;
        }
        Ok(())
    }

    /// Registers a copy of stack `source` under the name `target`.
    pub fn copy_stack(&mut self, source: &str, target: &str) -> Result<(), RepositoryError> {
        let stack = self.stack(source)?;
        self.register_stack(target, stack)
    }

    /// Deletes a stack that is not the active one. Its components stay registered.
    pub fn delete_stack(&mut self, name: &str) -> Result<(), RepositoryError> {
        self.stack(name)?;
        let name = Name::new(name)?;
        if self.file.active_stack == name {
            return Err(RepositoryError::ActiveStack(name.to_string()));
        }
        self.file.stacks.remove(&name);
        Ok(())
    }

    fn check_stack_components(&self, stack: &StackDefinition) -> Result<(), RepositoryError> {
        for kind in ComponentKind::STACK_KINDS {
            self.component(kind, stack.component(kind).as_str())?;
        }
        Ok(())
    }

    fn unknown_stack(&self, name: &str) -> RepositoryError {
        RepositoryError::UnknownStack {
            name: name.to_owned(),
            known: self.file.stacks.keys().map(Name::to_string).collect(),
        }
    }

    // ----- export and import ------------------------------------------------------------

    /// The stack `name` with its components' configurations, secrets left out. Returns the
    /// export and the `kind.name.key`s of the secret values that were left out.
    pub fn export_stack(&self, name: &str) -> Result<(StackExport, Vec<String>), RepositoryError> {
        let stack = self.stack(name)?;
        let mut components = BTreeMap::new();
        let mut left_out = Vec::new();
        for kind in ComponentKind::STACK_KINDS {
            let component = self.component(kind, stack.component(kind).as_str())?;
            for key in self.component_secret_keys(kind, component.name.as_str()) {
                left_out.push(format!("{}.{}.{key}", kind.config_key(), component.name));
            }
            components.insert(
                kind.config_key().to_owned(),
                ExportedComponent {
                    name: component.name.clone(),
                    flavor: component.flavor.clone(),
                    config: component.config.clone(),
                },
            );
        }
        Ok((StackExport::new(Name::new(name)?, components), left_out))
    }

    /// Registers an exported stack under `name` (default: the file's stack name). Identical
    /// existing components are reused; a different component holding a file's component
    /// name leads to registering it as `<stack>-<name>`.
    pub fn import_stack(
        &mut self,
        export: &StackExport,
        name: Option<&str>,
    ) -> Result<ImportReport, RepositoryError> {
        let stack_name = Name::new(name.unwrap_or(export.stack_name.as_str()))?;
        if self.file.stacks.contains_key(&stack_name) {
            return Err(RepositoryError::AlreadyExists {
                what: "stack",
                name: stack_name.to_string(),
            });
        }
        let registry = FlavorRegistry::global()?;
        let mut report = ImportReport {
            stack: stack_name.to_string(),
            registered: Vec::new(),
            reused: Vec::new(),
            renamed: Vec::new(),
        };
        let mut chosen = Vec::new();
        for kind in ComponentKind::STACK_KINDS {
            let component = export.component(kind)?;
            registry.check_component(kind, &component.flavor, &component.config)?;
            let wanted = component.name.to_string();
            let same = |def: &ComponentDefinition| {
                def.flavor == component.flavor && def.config == component.config
            };
            let name = match self.component(kind, &wanted) {
                Ok(existing) if same(&existing) => {
                    report.reused.push((kind, wanted.clone()));
                    wanted
                }
                Ok(_) => {
                    let alternative = format!("{stack_name}-{wanted}");
                    match self.component(kind, &alternative) {
                        Ok(existing) if same(&existing) => {
                            report.reused.push((kind, alternative.clone()))
                        }
                        Ok(_) => {
                            return Err(RepositoryError::AlreadyExists {
                                what: kind.human_name(),
                                name: format!(
                                    "{wanted}` (and `{alternative}`), with a different configuration than the file's; \
                                     rename one of them first (`zenml {} rename`)",
                                    kind.cli_name()
                                ),
                            });
                        }
                        Err(_) => {
                            self.register_component(
                                kind,
                                &alternative,
                                &component.flavor,
                                component.config.clone(),
                            )?;
                            report.renamed.push((kind, wanted, alternative.clone()));
                        }
                    }
                    alternative
                }
                Err(_) => {
                    self.register_component(
                        kind,
                        &wanted,
                        &component.flavor,
                        component.config.clone(),
                    )?;
                    report.registered.push((kind, wanted.clone()));
                    wanted
                }
            };
            chosen.push(Name::new(&name)?);
        }
        let [orchestrator, metadata_store, artifact_store]: [Name; 3] =
            chosen.try_into().map_err(|_| {
                ConfigError::Invalid("an exported stack has three components".to_owned())
            })?;
        self.register_stack(
            stack_name.as_str(),
            StackDefinition {
                orchestrator,
                metadata_store,
                artifact_store,
            },
        )?;
        Ok(report)
    }
}

/// Checks the references that parsing cannot: every stack names registered components and
/// the active stack exists. A hand edit that breaks one is reported with the file and line
/// here, before any command could act on it or write it back.
fn check_references(file: &RepositoryFile, path: &Path, text: &str) -> Result<(), RepositoryError> {
    let at = |line: Option<usize>, key: Option<&str>, message: String| -> RepositoryError {
        match line {
            Some(line) => ConfigError::Toml {
                file: path.to_path_buf(),
                line,
                column: 1,
                key: key.map(str::to_owned),
                message,
            },
            None => ConfigError::Invalid(format!("{}: {message}", path.display())),
        }
        .into()
    };
    let line_where = |matches: &dyn Fn(&str) -> bool| {
        text.lines().position(|l| matches(l.trim())).map(|i| i + 1)
    };
    for (name, stack) in &file.stacks {
        for kind in ComponentKind::STACK_KINDS {
            let component = stack.component(kind);
            let registered = file.components(kind);
            if registered.contains_key(component) {
                continue;
            }
            let known: Vec<String> = registered.keys().map(Name::to_string).collect();
            let plain = format!("[stacks.{name}]");
            let quoted = format!("[stacks.\"{name}\"]");
            return Err(at(
                line_where(&|l| l == plain || l == quoted),
                None,
                format!(
                    "stack `{name}` uses {} `{component}`, which is not registered; registered {}s: {}",
                    kind.human_name(),
                    kind.human_name(),
                    if known.is_empty() {
                        "(none)".to_owned()
                    } else {
                        known.join(", ")
                    }
                ),
            ));
        }
    }
    if !file.stacks.contains_key(&file.active_stack) {
        let known: Vec<String> = file.stacks.keys().map(Name::to_string).collect();
        return Err(at(
            line_where(&|l| l.starts_with("active_stack")),
            Some("active_stack"),
            format!(
                "the active stack `{}` does not exist; registered stacks: {}",
                file.active_stack,
                if known.is_empty() {
                    "(none)".to_owned()
                } else {
                    known.join(", ")
                }
            ),
        ));
    }
    Ok(())
}

/// The absolute, symlink-free form of `path`.
fn canonical(path: &Path) -> Result<PathBuf, RepositoryError> {
    fs::canonicalize(path).map_err(|source| RepositoryError::Io {
        action: "cannot resolve",
        path: path.to_path_buf(),
        source,
    })
}

/// The default stack's components: kind, flavor, config.
fn default_components() -> [(ComponentKind, &'static str, &'static str); 3] {
    [
        (ComponentKind::Orchestrator, "local", ""),
        (
            ComponentKind::MetadataStore,
            "sqlite",
            "path = \".zen/metadata.db\"",
        ),
        (
            ComponentKind::ArtifactStore,
            "local",
            "path = \".zen/artifacts\"",
        ),
    ]
}
