//! The metadata store: where zenml records what ran.
//!
//! [`MetadataStore`] is the contract every flavor implements; [`MetadataStoreFlavor`] is the
//! trait a flavor's configuration implements to open one. The SQL flavors share one schema,
//! kept in [`schema`] as an ordered list of migrations that every SQL dialect accepts. This
//! crate ships the `sqlite` flavor ([`SqliteMetadataStore`]), a database file on this
//! machine; the `mysql` flavor lives in the `zenml-mysql` integration crate.

mod error;
pub mod schema;
mod sqlite;

use std::fmt;

use zenml_core::{ComponentContext, ComponentKind, FlavorKind};

pub use error::MetadataStoreError;
pub use sqlite::{SqliteMetadataStore, SqliteMetadataStoreConfig};

/// A database that records pipelines, runs, steps and their artifacts.
///
/// # Contract
///
/// Implementations are used from many threads, and often from several processes, at once,
/// and must uphold:
///
/// - **Open means ready.** A store returned by [`MetadataStoreFlavor::open`] has a database
///   at [`schema::SCHEMA_VERSION`]: opening creates the database if needed and applies the
///   pending migrations, each exactly once even when several processes open the store at the
///   same time.
/// - **Newer databases are left alone.** A database whose recorded version is newer than
///   [`schema::SCHEMA_VERSION`] is refused with [`MetadataStoreError::SchemaTooNew`] and not
///   modified: an older program must not write a schema it does not know.
/// - **Concurrent writers wait.** A write that meets another process's write waits for it
///   (up to the flavor's configured timeout) instead of failing at once.
/// - **No secrets in identity.** [`uri`](MetadataStore::uri) never contains a password or
///   other credential; it is printed, logged and stored.
/// - **Errors are typed.** A failure is a [`MetadataStoreError`]; the backend's own error is
///   the source of [`MetadataStoreError::Backend`].
pub trait MetadataStore: fmt::Debug + Send + Sync {
    /// A URI naming this store's database, e.g. `sqlite:///home/me/project/.zen/metadata.db`
    /// or `mysql://zenml@db.example.com:3306/zenml`. Two stores with the same URI hold the
    /// same records. Never contains a password.
    fn uri(&self) -> String;

    /// The schema version recorded in the database; [`schema::SCHEMA_VERSION`] for a store
    /// opened by this program, unless a newer one has migrated it since.
    fn schema_version(&self) -> Result<u32, MetadataStoreError>;
}

/// The configuration of a metadata store flavor: deserialized from a TOML table whose
/// `flavor` key selects the implementation, it opens the store.
///
/// Declare an implementation with [`macro@zenml_core::flavor`].
#[typetag::serde(tag = "flavor")]
pub trait MetadataStoreFlavor: fmt::Debug + Send + Sync {
    /// Opens (and if needed creates and migrates) the store this configuration describes.
    fn open(
        &self,
        context: &ComponentContext,
    ) -> Result<Box<dyn MetadataStore>, MetadataStoreError>;
}

impl FlavorKind for dyn MetadataStoreFlavor {
    const KIND: ComponentKind = ComponentKind::MetadataStore;
}
