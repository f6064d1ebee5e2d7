//! Lineage at scale, for `cargo xtask bench lineage`: a SQLite store holding 100,000 step
//! runs (10,000 runs of a 10-step chain, each step with one input and one output
//! artifact), then the lineage of the last artifact of one chain — 10 steps deep — timed.
//!
//! ```sh
//! cargo run --release -p zenml-pipeline --example lineage_scale
//! ```

use std::time::Instant;

use zenml_pipeline::Client;
use zenml_stack::{Repository, open_stack};

mod support;

use support::{CHAIN, record_chain};

const RUNS: usize = 10_000;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let repo = Repository::init(dir.path())?;
    let stack = open_stack(&repo, "default")?;
    let store = stack.metadata_store.as_ref();
    let started = Instant::now();
    let mut probe = String::new();
    for run in 0..RUNS {
        probe = record_chain(store, run)?;
    }
    eprintln!(
        "recorded {} step runs in {:.1} s",
        RUNS * CHAIN,
        started.elapsed().as_secs_f64()
    );
    drop(stack);

    let client = Client::open(&repo, None)?;
    // Warm up, then time.
    let lineage = client.artifact_lineage(&probe, None)?;
    let steps = lineage.step_runs().count();
    assert_eq!(steps, CHAIN, "the lineage holds the whole chain");
    let mut times = Vec::new();
    for _ in 0..100 {
        let start = Instant::now();
        let lineage = client.artifact_lineage(&probe, None)?;
        times.push(start.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(lineage.step_runs().count(), CHAIN);
    }
    times.sort_by(f64::total_cmp);
    println!(
        "lineage of an artifact {CHAIN} steps deep among {} step runs: median {:.3} ms, min {:.3} ms, max {:.3} ms",
        RUNS * CHAIN,
        times[times.len() / 2],
        times[0],
        times[times.len() - 1]
    );
    Ok(())
}
