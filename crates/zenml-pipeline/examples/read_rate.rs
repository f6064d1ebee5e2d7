//! Reads while a pipeline writes, for `cargo xtask bench read-rate`: one SQLite store (the
//! default stack's) holding 200 runs of a 10-step chain; 8 threads read through one
//! `Client` — alternately the pipeline's run list and the lineage of an artifact 10 steps
//! deep — for 3 seconds while another thread of the same process keeps recording runs.
//!
//! ```sh
//! cargo run --release -p zenml-pipeline --example read_rate
//! ```

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use zenml_pipeline::Client;
use zenml_stack::Repository;

mod support;

use support::{CHAIN, record_chain};

const SEEDED_RUNS: usize = 200;
const READERS: usize = 8;
const DURATION: Duration = Duration::from_secs(3);

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let repo = Repository::init(dir.path())?;
    let client = Client::open(&repo, None)?;
    let store = client.stack().metadata_store.as_ref();
    let mut probe = String::new();
    for run in 0..SEEDED_RUNS {
        probe = record_chain(store, run)?;
    }
    let stop = AtomicBool::new(false);
    let reads = AtomicUsize::new(0);
    let written = AtomicUsize::new(0);
    let started = Instant::now();
    std::thread::scope(|scope| -> Result<(), String> {
        let writer = scope.spawn(|| -> Result<(), String> {
            let mut run = SEEDED_RUNS;
            while !stop.load(Ordering::Relaxed) {
                record_chain(store, run).map_err(|e| e.to_string())?;
                run += 1;
                written.fetch_add(CHAIN, Ordering::Relaxed);
            }
            Ok(())
        });
        let readers: Vec<_> = (0..READERS)
            .map(|reader| {
                let (client, probe, stop, reads) = (&client, &probe, &stop, &reads);
                scope.spawn(move || -> Result<(), String> {
                    let mut turn = reader;
                    while !stop.load(Ordering::Relaxed) {
                        if turn % 2 == 0 {
                            client.runs(Some("chain")).map_err(|e| e.to_string())?;
                        } else {
                            let lineage = client
                                .artifact_lineage(probe, None)
                                .map_err(|e| e.to_string())?;
                            if lineage.step_runs().count() != CHAIN {
                                return Err("the lineage lost steps".to_owned());
                            }
                        }
                        turn += 1;
                        reads.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(())
                })
            })
            .collect();
        std::thread::sleep(DURATION);
        stop.store(true, Ordering::Relaxed);
        for reader in readers {
            reader
                .join()
                .map_err(|_| "a reader panicked".to_owned())??;
        }
        writer
            .join()
            .map_err(|_| "the writer panicked".to_owned())?
    })?;
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "reads from {READERS} threads of one process on one SQLite store while it writes: \
         {:.0} queries/s (run lists and 10-step lineages, alternately); meanwhile {:.0} step \
         runs/s recorded",
        reads.load(Ordering::Relaxed) as f64 / seconds,
        written.load(Ordering::Relaxed) as f64 / seconds
    );
    Ok(())
}
