//! The stores, called off the runtime: a few plain threads own the open stack and run the
//! handlers' store calls, one at a time each.
//!
//! A store call may block (SQLite, a file) or block on the process's shared Tokio runtime
//! (the server flavors, the bucket flavors), which a flavor refuses from inside a runtime,
//! blocking pool threads included. So the calls run here, on threads that belong to no
//! runtime, and the handler awaits the answer.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex, mpsc};

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

type Job = Box<dyn FnOnce(&Stores) + Send>;

/// The threads that call the stores.
#[derive(Debug, Clone)]
pub(crate) struct Backend {
    jobs: mpsc::Sender<Job>,
}

/// How many store calls run at once: enough for a page's reads to overlap with another's,
/// few enough to keep the server's memory and a database's connections small.
const THREADS: usize = 4;

impl Backend {
    /// Starts the threads, sharing `stores`.
    pub(crate) fn start(stores: Stores) -> std::io::Result<Backend> {
        let (jobs, receiver) = mpsc::channel::<Job>();
        let receiver = Arc::new(Mutex::new(receiver));
        let stores = Arc::new(stores);
        for i in 0..THREADS {
            let receiver = Arc::clone(&receiver);
            let stores = Arc::clone(&stores);
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
                        let _ = catch_unwind(AssertUnwindSafe(|| job(&stores)));
                    }
                })?;
        }
        Ok(Backend { jobs })
    }

    /// Runs `call` on a store thread and returns its answer.
    pub(crate) async fn call<T: Send + 'static>(
        &self,
        call: impl FnOnce(&Stores) -> Result<T, RequestError> + Send + 'static,
    ) -> Result<T, RequestError> {
        let (answer, answered) = tokio::sync::oneshot::channel();
        self.jobs
            .send(Box::new(move |stores| {
                let _ = answer.send(call(stores));
            }))
            .map_err(|_| RequestError::Internal("the store threads have stopped".to_owned()))?;
        answered.await.map_err(|_| {
            RequestError::Internal("reading the stores failed unexpectedly (a panic)".to_owned())
        })?
    }
}
