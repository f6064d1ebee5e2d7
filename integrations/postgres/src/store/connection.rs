//! One connection to the server, driven by the thread that uses it.
//!
//! tokio-postgres splits a connection into a `Client`, which sends requests, and a
//! `Connection` future, which does the socket's I/O and is usually spawned as a task of its
//! own. Every request then crosses threads twice more (to the task and back). Here the
//! `Connection` is polled by the caller, in the same `block_on` as its request, as
//! mysql_async does: a statement costs one wake-up after the server's answer, and an idle
//! connection costs nothing. Messages the server sends an idle connection (its termination,
//! say) are read when the connection is next checked out or used.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use tokio::runtime::Runtime;
use tokio_postgres::{Client, Statement};
use tokio_postgres_rustls::MakeRustlsConnect;
use zenml_metadata_store::MetadataStoreError;

use super::errors::{PostgresError, backend};

/// The I/O half of a connection, until it ends.
type Driver = Pin<Box<dyn Future<Output = Result<(), tokio_postgres::Error>> + Send>>;

/// A connection: its client, its I/O, and the statements prepared on it.
pub(crate) struct Connection {
    client: Client,
    /// `None` once the connection has ended (closed by either side, or broken).
    driver: Option<Driver>,
    /// Prepared statements by their SQL text (with `$n` parameters).
    statements: HashMap<String, Statement>,
}

impl Connection {
    /// Connects and logs in, waiting at most `timeout`.
    pub(crate) fn open(
        runtime: &Runtime,
        config: &tokio_postgres::Config,
        tls: MakeRustlsConnect,
        uri: &str,
        timeout: Duration,
    ) -> Result<Connection, MetadataStoreError> {
        let connect_error =
            |source: Box<dyn std::error::Error + Send + Sync>| MetadataStoreError::Connect {
                uri: uri.to_owned(),
                source,
            };
        // The timer needs the runtime: it is made inside `block_on`.
        let connected =
            runtime.block_on(async { tokio::time::timeout(timeout, config.connect(tls)).await });
        match connected {
            Ok(Ok((client, driver))) => Ok(Connection {
                client,
                driver: Some(Box::pin(driver)),
                statements: HashMap::new(),
            }),
            Ok(Err(e)) => Err(connect_error(Box::new(PostgresError(e)))),
            Err(_) => Err(connect_error(
                format!(
                    "the server did not answer within {} seconds",
                    timeout.as_secs()
                )
                .into(),
            )),
        }
    }

    /// Runs the request that `request` makes of the client to completion, driving the
    /// connection meanwhile.
    pub(crate) fn run<'c, T, F>(
        &'c mut self,
        runtime: &Runtime,
        request: impl FnOnce(&'c Client) -> F,
    ) -> Result<T, MetadataStoreError>
    where
        F: Future<Output = Result<T, tokio_postgres::Error>> + 'c,
    {
        let Connection { client, driver, .. } = self;
        let mut request = Box::pin(request(client));
        runtime
            .block_on(std::future::poll_fn(|cx| {
                if let Poll::Ready(result) = request.as_mut().poll(cx) {
                    return Poll::Ready(result);
                }
                if poll_driver(driver, cx) {
                    // The connection ended: the request's answer will never come, and the
                    // client says so (its channel to the connection is closed).
                    return request.as_mut().poll(cx);
                }
                Poll::Pending
            }))
            .map_err(backend)
    }

    /// The statement `sql` (with `$n` parameters), prepared on this connection once.
    pub(crate) fn statement(
        &mut self,
        runtime: &Runtime,
        sql: &str,
    ) -> Result<Statement, MetadataStoreError> {
        if let Some(statement) = self.statements.get(sql) {
            return Ok(statement.clone());
        }
        let statement = self.run(runtime, |client| client.prepare(sql))?;
        self.statements.insert(sql.to_owned(), statement.clone());
        Ok(statement)
    }

    /// Whether the connection can still be used: it reads what the server sent meanwhile
    /// (without waiting), and is unusable once it has ended.
    pub(crate) fn is_usable(&mut self, runtime: &Runtime) -> bool {
        let _context = runtime.enter();
        let mut cx = Context::from_waker(Waker::noop());
        !poll_driver(&mut self.driver, &mut cx) && !self.client.is_closed()
    }

    /// Says goodbye to the server (`Terminate`) and closes the socket, waiting at most
    /// `timeout`.
    pub(crate) fn close(self, runtime: &Runtime, timeout: Duration) {
        let Connection { client, driver, .. } = self;
        // Without a client, the connection sends `Terminate` and ends.
        drop(client);
        if let Some(driver) = driver {
            let _ended = runtime.block_on(async { tokio::time::timeout(timeout, driver).await });
        }
    }
}

/// Polls the connection's I/O; `true` when it has ended (it is then dropped, so that the
/// client's requests fail instead of waiting).
fn poll_driver(driver: &mut Option<Driver>, cx: &mut Context<'_>) -> bool {
    let Some(future) = driver else {
        return true;
    };
    match future.as_mut().poll(cx) {
        Poll::Ready(_ended) => {
            *driver = None;
            true
        }
        Poll::Pending => false,
    }
}
