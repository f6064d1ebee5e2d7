//! The one Tokio runtime of a zenml-rs process.
//!
//! Component traits are synchronous, but the clients of databases and buckets are async.
//! Flavors that need a runtime (the `mysql` metadata store, the bucket artifact stores) block
//! on this one instead of building their own, so a process that opens a MySQL store and an
//! S3 store runs one set of I/O threads, however many components it opens.
//!
//! [`block_on`] runs a future to completion from an ordinary thread. It refuses to run on a
//! thread that is already inside a Tokio runtime (blocking there could stall that runtime, or
//! panic): async callers use `spawn_blocking` around component calls.
//!
//! **Architecture Invariant:** no flavor of this repository builds a Tokio runtime of its
//! own; they all use [`runtime`].

use std::future::Future;
use std::sync::OnceLock;

use tokio::runtime::{Handle, Runtime};

/// The most I/O threads the runtime runs.
const MAX_WORKERS: usize = 4;

/// Why the runtime cannot run a future.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RuntimeError {
    /// The calling thread is inside a Tokio runtime already.
    #[error(
        "a zenml component was called from async code; call it through \
         `tokio::task::spawn_blocking` (component calls block)"
    )]
    InsideRuntime,
    /// The runtime could not be built (the operating system refused threads).
    #[error("cannot start the I/O runtime: {0}")]
    Build(String),
}

/// The process's runtime, built on first use: a multi-threaded Tokio runtime with as many
/// I/O threads as cores (at least 2, at most 4), named `zenml-io`, with I/O and timers.
pub fn runtime() -> Result<&'static Runtime, RuntimeError> {
    static RUNTIME: OnceLock<Result<Runtime, String>> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            let workers = std::thread::available_parallelism()
                .map_or(2, std::num::NonZero::get)
                .clamp(2, MAX_WORKERS);
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(workers)
                .thread_name("zenml-io")
                .enable_all()
                .build()
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| RuntimeError::Build(e.clone()))
}

/// Fails with [`RuntimeError::InsideRuntime`] when the calling thread is inside a Tokio
/// runtime, where blocking on a future is not allowed.
pub fn refuse_async_context() -> Result<(), RuntimeError> {
    if Handle::try_current().is_ok() {
        Err(RuntimeError::InsideRuntime)
    } else {
        Ok(())
    }
}

/// Runs `future` to completion on the process's runtime, blocking the calling thread.
///
/// Tasks the future spawns run on the runtime's threads; the future itself runs on the
/// calling thread, so it may do short blocking work (reading a local file) without taking
/// an I/O thread away.
pub fn block_on<F: Future>(future: F) -> Result<F::Output, RuntimeError> {
    refuse_async_context()?;
    Ok(runtime()?.block_on(future))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_runtime_runs_futures_and_refuses_nested_blocking() {
        let first = runtime().unwrap() as *const Runtime;
        assert_eq!(first, runtime().unwrap() as *const Runtime, "one runtime");
        assert_eq!(block_on(async { 40 + 2 }).unwrap(), 42);
        let spawned = block_on(async { tokio::spawn(async { 7 }).await }).unwrap();
        assert_eq!(spawned.unwrap(), 7);
        let nested = block_on(async { block_on(async {}) }).unwrap();
        assert!(
            matches!(nested, Err(RuntimeError::InsideRuntime)),
            "{nested:?}"
        );
    }
}
