//! The store's connections: at most `pool_size`, opened when needed, lent to one operation
//! at a time and kept for the next while they work.

use std::ops::{Deref, DerefMut};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::runtime::Runtime;
use tokio_postgres_rustls::MakeRustlsConnect;
use zenml_metadata_store::MetadataStoreError;

use super::connection::Connection;

/// How long dropping the pool waits for each idle connection's goodbye.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

/// A pool of [`Connection`]s to one database.
pub(crate) struct Pool {
    config: tokio_postgres::Config,
    tls: MakeRustlsConnect,
    uri: String,
    max: usize,
    timeout: Duration,
    state: Mutex<State>,
    /// Signalled when a connection is returned or closed.
    returned: Condvar,
}

/// The idle connections, and how many are open in all (idle or lent).
struct State {
    idle: Vec<Connection>,
    open: usize,
}

impl Pool {
    /// A pool of at most `max` connections made from `config`, starting with `first`; a
    /// connection, or a free place for one, is waited for at most `timeout`.
    pub(crate) fn new(
        config: tokio_postgres::Config,
        tls: MakeRustlsConnect,
        uri: &str,
        max: usize,
        timeout: Duration,
        first: Connection,
    ) -> Pool {
        Pool {
            config,
            tls,
            uri: uri.to_owned(),
            max: max.max(1),
            timeout,
            state: Mutex::new(State {
                idle: vec![first],
                open: 1,
            }),
            returned: Condvar::new(),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // The state stays consistent however a holder panicked: every change is one step.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A connection: the most recently returned idle one that still works, or a new one
    /// while fewer than `max` are open, or the next one returned.
    pub(crate) fn get(&self, runtime: &Runtime) -> Result<Pooled<'_>, MetadataStoreError> {
        let deadline = Instant::now() + self.timeout;
        let mut state = self.state();
        loop {
            while let Some(mut connection) = state.idle.pop() {
                if connection.is_usable(runtime) {
                    return Ok(Pooled {
                        pool: self,
                        connection: Some(connection),
                    });
                }
                state.open -= 1;
            }
            if state.open < self.max {
                state.open += 1;
                drop(state);
                let opened = Connection::open(
                    runtime,
                    &self.config,
                    self.tls.clone(),
                    &self.uri,
                    self.timeout,
                );
                return match opened {
                    Ok(connection) => Ok(Pooled {
                        pool: self,
                        connection: Some(connection),
                    }),
                    Err(e) => {
                        self.state().open -= 1;
                        self.returned.notify_one();
                        Err(e)
                    }
                };
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(MetadataStoreError::Connect {
                    uri: self.uri.clone(),
                    source: format!(
                        "all {} connections of the pool stayed in use for {} seconds; raise \
                         `pool_size`",
                        self.max,
                        self.timeout.as_secs()
                    )
                    .into(),
                });
            }
            state = self
                .returned
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .0;
        }
    }

    /// Closes the idle connections, each with a goodbye to the server.
    pub(crate) fn close(&self, runtime: &Runtime) {
        let idle = std::mem::take(&mut self.state().idle);
        for connection in idle {
            self.state().open -= 1;
            connection.close(runtime, CLOSE_TIMEOUT);
        }
    }
}

/// A connection lent by the [`Pool`]; it goes back when dropped, unless
/// [discarded](Pooled::discard).
pub(crate) struct Pooled<'p> {
    pool: &'p Pool,
    connection: Option<Connection>,
}

impl Pooled<'_> {
    /// Closes the connection instead of returning it: its state is no longer known (a
    /// failed rollback).
    pub(crate) fn discard(mut self) {
        drop(self.connection.take());
        self.pool.state().open -= 1;
        self.pool.returned.notify_one();
    }
}

impl Deref for Pooled<'_> {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        self.connection
            .as_ref()
            .unwrap_or_else(|| unreachable!("a lent connection is present until dropped"))
    }
}

impl DerefMut for Pooled<'_> {
    fn deref_mut(&mut self) -> &mut Connection {
        self.connection
            .as_mut()
            .unwrap_or_else(|| unreachable!("a lent connection is present until dropped"))
    }
}

impl Drop for Pooled<'_> {
    fn drop(&mut self) {
        if let Some(connection) = self.connection.take() {
            self.pool.state().idle.push(connection);
            self.pool.returned.notify_one();
        }
    }
}
