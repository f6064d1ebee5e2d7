//! Checks for the flavors whose database is a server: the store's connections broken by an
//! administrator (between operations, and while it records), and the server stopped and
//! started again. The flavor's test supplies what only it can do: break its connections,
//! stop and start its server, and say how often its store retried.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::helpers::*;
use super::*;

/// Records a new run of pipeline `faults` and returns its id.
fn fault_run(store: &dyn MetadataStore) -> String {
    let run = ok(
        store.create_run(&new_run("faults", &unique("run"), now())),
        "create_run",
    );
    run.id
}

/// A completed step run of `run_id` with three new output artifacts.
fn step_with_three_outputs(run_id: &str, n: usize) -> StepRunWrite {
    let mut write = step_write(run_id, &format!("step_{n}"), now());
    write.new_outputs = (0..3)
        .map(|i| artifact(&write.step, &format!("output_{i}"), now()))
        .collect();
    write
}

/// Asserts that every step run recorded for `run_id` has its three outputs, and returns
/// the ids of the recorded step runs.
fn whole_step_runs(store: &dyn MetadataStore, run_id: &str) -> BTreeSet<String> {
    let mut recorded = BTreeSet::new();
    for step in ok(store.step_runs(run_id), "step_runs") {
        let outputs = ok(store.step_outputs(&step.id), "step_outputs");
        assert_eq!(outputs.len(), 3, "step run {} is recorded in part", step.id);
        for (name, artifact) in outputs {
            assert_eq!(artifact.producer_step_run_id, step.id);
            assert_eq!(artifact.output_name, name);
        }
        recorded.insert(step.id);
    }
    recorded
}

/// Writes and reads after `break_connections` (which ends the store's connections on the
/// server and returns how many it ended) succeed on fresh connections.
pub fn operations_after_broken_connections_succeed(
    store: &dyn MetadataStore,
    break_connections: &dyn Fn() -> usize,
) {
    let run_id = fault_run(store);
    assert!(
        break_connections() > 0,
        "no connection of the store to break"
    );
    // A write on a broken connection is run again on a fresh one.
    ok(
        store.record_step_run(&step_with_three_outputs(&run_id, 0)),
        "record_step_run after the break",
    );
    assert!(break_connections() > 0);
    // So is a read.
    assert_eq!(
        ok(store.step_runs(&run_id), "step_runs after the break").len(),
        1
    );
    assert!(break_connections() > 0);
    ok(
        store.record_step_run(&step_with_three_outputs(&run_id, 1)),
        "record_step_run after the break",
    );
    assert_eq!(whole_step_runs(store, &run_id).len(), 2);
}

/// `calls` step runs recorded while another thread keeps calling `break_connections` (every
/// `pause`): every call succeeds, and every step run is recorded whole, once. Returns how
/// many connections were broken.
pub fn recording_survives_connections_broken_meanwhile(
    store: &dyn MetadataStore,
    break_connections: &(dyn Fn() -> usize + Sync),
    calls: usize,
    pause: Duration,
) -> usize {
    let run_id = fault_run(store);
    let stop = AtomicBool::new(false);
    let broken = AtomicUsize::new(0);
    let (succeeded, failed) = std::thread::scope(|scope| {
        scope.spawn(|| {
            while !stop.load(Ordering::Relaxed) {
                broken.fetch_add(break_connections(), Ordering::Relaxed);
                // The pace of the breaking, not a synchronization: the writes go on all the
                // while.
                std::thread::sleep(pause);
            }
        });
        let mut succeeded = BTreeSet::new();
        let mut failed = Vec::new();
        for n in 0..calls {
            let write = step_with_three_outputs(&run_id, n);
            match store.record_step_run(&write) {
                Ok(()) => {
                    succeeded.insert(write.step.id);
                }
                Err(e) => failed.push((write.step.id, e.to_string())),
            }
        }
        stop.store(true, Ordering::Relaxed);
        (succeeded, failed)
    });
    let broken = broken.into_inner();
    assert!(broken > 0, "the breaker broke nothing");
    let recorded = whole_step_runs(store, &run_id);
    assert!(
        succeeded.is_subset(&recorded),
        "a step run reported as recorded is missing"
    );
    // The retries keep the breaking from reaching the caller.
    assert!(failed.is_empty(), "calls failed: {failed:?}");
    assert_eq!(recorded.len(), calls, "each step run is recorded once");
    broken
}

/// The store across a restart of its server: `stop` and `start` it between two writes,
/// then `stop` it and start a write, which retries (as `lost_connections` shows) until
/// `start` has brought the server back, and succeeds.
pub fn operations_survive_a_server_restart(
    store: &dyn MetadataStore,
    stop: &mut dyn FnMut(),
    start: &mut dyn FnMut(),
    lost_connections: &(dyn Fn() -> u64 + Sync),
) {
    let run_id = fault_run(store);
    ok(
        store.record_step_run(&step_with_three_outputs(&run_id, 0)),
        "record_step_run",
    );
    // Down and up again between two operations.
    stop();
    start();
    ok(
        store.record_step_run(&step_with_three_outputs(&run_id, 1)),
        "record_step_run after a restart",
    );
    assert_eq!(whole_step_runs(store, &run_id).len(), 2);

    // Down while an operation starts: it is refused, retried, and succeeds once the server
    // is back (within the connect timeout). The server comes back only once the store has
    // seen it gone and is retrying.
    stop();
    let before = lost_connections();
    std::thread::scope(|scope| {
        let writer = scope.spawn(|| store.record_step_run(&step_with_three_outputs(&run_id, 2)));
        let deadline = Instant::now() + Duration::from_secs(60);
        while lost_connections() == before {
            assert!(!writer.is_finished(), "the write ended without retrying");
            assert!(Instant::now() < deadline, "the write never retried");
            std::thread::yield_now();
        }
        start();
        match writer.join() {
            Ok(result) => ok(result, "record_step_run while the server restarts"),
            Err(panic) => std::panic::resume_unwind(panic),
        }
    });
    assert!(lost_connections() > before);
    assert_eq!(whole_step_runs(store, &run_id).len(), 3);
}

/// The store when its server stays down: `stop` the server, and a write fails, with
/// [`MetadataStoreError::Connect`] or [`MetadataStoreError::Backend`], after retrying (as
/// `lost_connections` shows) for a good part of `budget`, the store's connect timeout,
/// rather than at once or never.
pub fn an_operation_fails_when_the_server_stays_down(
    store: &dyn MetadataStore,
    stop: &mut dyn FnMut(),
    lost_connections: &dyn Fn() -> u64,
    budget: Duration,
) {
    let run_id = fault_run(store);
    stop();
    let started = Instant::now();
    // On a thread, so that a write that never gives up fails the check instead of stalling
    // it.
    let (done, result) = std::sync::mpsc::channel();
    let outcome = std::thread::scope(|scope| {
        scope.spawn(|| {
            let _ = done.send(store.record_step_run(&step_with_three_outputs(&run_id, 0)));
        });
        result.recv_timeout(budget * 10 + Duration::from_secs(60))
    });
    let Ok(outcome) = outcome else {
        panic!("the write never gives up on a server that stays down");
    };
    let Err(err) = outcome else {
        panic!("a write succeeded while the server was down");
    };
    assert!(
        matches!(
            err,
            MetadataStoreError::Connect { .. } | MetadataStoreError::Backend { .. }
        ),
        "{err:?}"
    );
    assert!(lost_connections() >= 1, "it tried again before giving up");
    // Sleeps last at least as long as asked: a lower bound, never an upper one.
    assert!(
        started.elapsed() >= budget / 2,
        "it gave up after {:?} of a {budget:?} budget",
        started.elapsed()
    );
}
