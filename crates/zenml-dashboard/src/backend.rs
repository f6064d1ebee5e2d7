//! The stores, called off the runtime: a few plain threads own the open stack and run the
//! handlers' store calls, one at a time each.
//!
//! A store call may block (SQLite, a file) or block on the process's shared Tokio runtime
//! (the server flavors, the bucket flavors), which a flavor refuses from inside a runtime,
//! blocking pool threads included. So the calls run here, on threads that belong to no
//! runtime, and the handler awaits the answer.
//!
//! The queue in front of the threads is bounded: when [`QUEUE`] calls wait already, a
//! request is answered at once with [`RequestError::Busy`] (503 with `Retry-After`) rather
//! than queued behind them; and a call whose request went away while it waited (the client
//! closed the connection) is dropped, not run.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc::TrySendError;
use std::sync::{Arc, Mutex, mpsc};

use tokio::sync::oneshot;
use zenml_pipeline::Client;
use zenml_stack::Repository;

use crate::error::RequestError;

/// What a store call sees.
#[derive(Debug)]
pub(crate) struct Stores {
    /// The client of the served stack.
    pub(crate) client: Client,
    /// The repository the stack belongs to.
    pub(crate) repo: Repository,
}

/// The threads that call the stores.
pub(crate) type Backend = Pool<Stores>;

/// How many store calls run at once: enough for a page's reads to overlap with another's,
/// few enough to keep the server's memory and a database's connections small.
pub(crate) const THREADS: usize = 4;

/// How many store calls may wait for a thread: a few pages' worth of reads. More would
/// only make every waiting request slower and hold their memory; a client told to retry
/// later loses less.
pub(crate) const QUEUE: usize = 64;

type Job<S> = Box<dyn FnOnce(&S) + Send>;

/// Threads sharing a state `S`, fed by a bounded queue of calls.
#[derive(Debug)]
pub(crate) struct Pool<S> {
    jobs: mpsc::SyncSender<Job<S>>,
}

impl<S> Clone for Pool<S> {
    fn clone(&self) -> Self {
        Pool {
            jobs: self.jobs.clone(),
        }
    }
}

/// The answer to a call, once a thread has made it.
type Answer<T> = oneshot::Receiver<Result<T, RequestError>>;

impl<S: Send + Sync + 'static> Pool<S> {
    /// Starts `threads` threads sharing `state`, with room for `queue` waiting calls.
    pub(crate) fn new(state: S, threads: usize, queue: usize) -> std::io::Result<Pool<S>> {
        let (jobs, receiver) = mpsc::sync_channel::<Job<S>>(queue);
        let receiver = Arc::new(Mutex::new(receiver));
        let state = Arc::new(state);
        for i in 0..threads {
            let receiver = Arc::clone(&receiver);
            let state = Arc::clone(&state);
            std::thread::Builder::new()
                .name(format!("dashboard-store-{i}"))
                .spawn(move || {
                    loop {
                        let job = match receiver.lock() {
                            Ok(receiver) => receiver.recv(),
                            Err(_) => return,
                        };
                        let Ok(job) = job else { return };
                        // A panicking call answers nothing (its handler reports it); the
                        // thread goes on serving.
                        let _ = catch_unwind(AssertUnwindSafe(|| job(&state)));
                    }
                })?;
        }
        Ok(Pool { jobs })
    }

    /// Queues `call`, or refuses it with [`RequestError::Busy`] when the queue is full.
    fn submit<T: Send + 'static>(
        &self,
        call: impl FnOnce(&S) -> Result<T, RequestError> + Send + 'static,
    ) -> Result<Answer<T>, RequestError> {
        let (answer, answered) = oneshot::channel();
        let job: Job<S> = Box::new(move |state| {
            // The request went away while this waited: nobody would read the answer.
            if answer.is_closed() {
                return;
            }
            let _ = answer.send(call(state));
        });
        self.jobs.try_send(job).map_err(|error| match error {
            TrySendError::Full(_) => RequestError::Busy,
            TrySendError::Disconnected(_) => {
                RequestError::Internal("the store threads have stopped".to_owned())
            }
        })?;
        Ok(answered)
    }

    /// Runs `call` on a thread and returns its answer.
    pub(crate) async fn call<T: Send + 'static>(
        &self,
        call: impl FnOnce(&S) -> Result<T, RequestError> + Send + 'static,
    ) -> Result<T, RequestError> {
        self.submit(call)?.await.map_err(|_| {
            RequestError::Internal("reading the stores failed unexpectedly (a panic)".to_owned())
        })?
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::*;

    /// Blocks the pool's only thread until the returned sender is dropped; returns once the
    /// thread has taken the blocking call.
    fn occupy(pool: &Pool<()>) -> mpsc::Sender<()> {
        let (release, released) = mpsc::channel::<()>();
        let (started, has_started) = mpsc::channel::<()>();
        let _answer = pool
            .submit(move |()| {
                let _ = started.send(());
                let _ = released.recv();
                Ok(())
            })
            .unwrap();
        has_started.recv().unwrap();
        release
    }

    #[test]
    fn a_full_queue_refuses_calls_as_busy() {
        let pool = Pool::new((), 1, 2).unwrap();
        let release = occupy(&pool);
        let first = pool.submit(|()| Ok(1)).unwrap();
        let second = pool.submit(|()| Ok(2)).unwrap();
        let refused = pool.submit(|()| Ok(3)).unwrap_err();
        assert!(matches!(refused, RequestError::Busy), "{refused:?}");
        assert_eq!(
            refused.status(),
            axum::http::StatusCode::SERVICE_UNAVAILABLE
        );
        assert!(
            refused
                .headers()
                .contains_key(axum::http::header::RETRY_AFTER)
        );
        drop(release);
        assert_eq!(first.blocking_recv().unwrap().unwrap(), 1);
        assert_eq!(second.blocking_recv().unwrap().unwrap(), 2);
        // Room again.
        let again = pool.submit(|()| Ok(4)).unwrap();
        assert_eq!(again.blocking_recv().unwrap().unwrap(), 4);
    }

    #[test]
    fn calls_of_requests_that_went_away_are_not_run() {
        let pool = Pool::new((), 1, 4).unwrap();
        let release = occupy(&pool);
        let ran = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&ran);
        let abandoned = pool
            .submit(move |()| {
                flag.store(true, Ordering::SeqCst);
                Ok(())
            })
            .unwrap();
        drop(abandoned);
        let after = pool.submit(|()| Ok("after")).unwrap();
        drop(release);
        // One thread, calls in order: once `after` is answered, the abandoned call was
        // taken off the queue before it.
        assert_eq!(after.blocking_recv().unwrap().unwrap(), "after");
        assert!(!ran.load(Ordering::SeqCst), "the abandoned call ran");
    }

    #[test]
    fn a_call_is_answered_through_the_runtime() {
        let pool = Pool::new(21_u32, 2, 2).unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let answer = runtime.block_on(pool.call(|n| Ok(n * 2))).unwrap();
        assert_eq!(answer, 42);
    }
}
