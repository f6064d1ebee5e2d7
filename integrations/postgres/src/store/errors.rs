//! The server's errors: which ones are worth another attempt, and how they become
//! [`MetadataStoreError`]s.

use std::fmt;

use tokio_postgres::error::SqlState;
use zenml_metadata_store::MetadataStoreError;
use zenml_metadata_store::server::Transient;
use zenml_runtime::RuntimeError;

/// The flavor's name in errors.
pub(crate) const STORE: &str = "postgres";

/// The client library's error, shown with its causes: the library's own message is only
/// the kind of failure (`db error`), and the server's message is its source.
#[derive(Debug)]
pub(crate) struct PostgresError(pub(crate) tokio_postgres::Error);

impl fmt::Display for PostgresError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut cause = std::error::Error::source(&self.0);
        while let Some(error) = cause {
            write!(f, ": {error}")?;
            cause = error.source();
        }
        Ok(())
    }
}

/// No source: the message holds the causes already.
impl std::error::Error for PostgresError {}

/// The client library's error behind an error of this flavor, if any.
fn postgres_error(error: &MetadataStoreError) -> Option<&tokio_postgres::Error> {
    match error {
        MetadataStoreError::Backend {
            store: STORE,
            source,
        }
        | MetadataStoreError::Connect { source, .. } => {
            source.downcast_ref::<PostgresError>().map(|e| &e.0)
        }
        _ => None,
    }
}

/// The SQLSTATE of the server's error behind `error`, if any.
pub(crate) fn sql_state(error: &MetadataStoreError) -> Option<&SqlState> {
    postgres_error(error)?.code()
}

/// Whether `error` is the violation of a `UNIQUE` or `PRIMARY KEY` constraint.
pub(crate) fn is_unique_violation(error: &MetadataStoreError) -> bool {
    sql_state(error) == Some(&SqlState::UNIQUE_VIOLATION)
}

/// Whether `error` means that the connection broke, or a new one could not be made (the
/// server refuses connections while it starts or shuts down, or has too many): worth
/// running the operation again on a fresh connection. A connect timeout is not: it has
/// already waited as long as the configuration allows.
pub(crate) fn is_connection_loss(error: &MetadataStoreError) -> bool {
    let Some(e) = postgres_error(error) else {
        return false;
    };
    if e.is_closed() {
        return true;
    }
    match e.code() {
        Some(state) => {
            state.code().starts_with("08")
                || [
                    SqlState::ADMIN_SHUTDOWN,
                    SqlState::CRASH_SHUTDOWN,
                    SqlState::CANNOT_CONNECT_NOW,
                    SqlState::TOO_MANY_CONNECTIONS,
                ]
                .contains(state)
        }
        // No server error: an I/O error on the socket (reset, refused, end of stream), or
        // a broken TLS session.
        None => std::error::Error::source(e).is_some_and(|source| {
            source.is::<std::io::Error>() || source.to_string().contains("connection")
        }),
    }
}

/// Whether `error` is a conflict with another transaction: a deadlock, a serialization
/// failure or a lock that could not be had in time.
fn is_conflict(error: &MetadataStoreError) -> bool {
    matches!(
        sql_state(error),
        Some(
            &SqlState::T_R_DEADLOCK_DETECTED
                | &SqlState::T_R_SERIALIZATION_FAILURE
                | &SqlState::LOCK_NOT_AVAILABLE
        )
    )
}

/// Whether a failure is worth another attempt.
pub(crate) fn classify(error: &MetadataStoreError) -> Transient {
    if is_conflict(error) {
        Transient::Conflict
    } else if is_connection_loss(error) {
        Transient::ConnectionLost
    } else {
        Transient::No
    }
}

/// A statement's failure.
pub(crate) fn backend(source: tokio_postgres::Error) -> MetadataStoreError {
    MetadataStoreError::Backend {
        store: STORE,
        source: Box::new(PostgresError(source)),
    }
}

/// The shared runtime's refusal.
pub(crate) fn runtime_error(error: RuntimeError) -> MetadataStoreError {
    MetadataStoreError::Backend {
        store: STORE,
        source: Box::new(error),
    }
}
