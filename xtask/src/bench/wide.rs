//! `cargo xtask bench wide`: the `wide` example (200 independent steps and a join) on the `local`,
//! `process` and `slurm` orchestrators: the run's wall time, and how many steps ran at once
//! at the peak, from the step runs' recorded start and end times.

use std::path::Path;
use std::time::Instant;

use anyhow::Context;

use super::{ms, orchestrator_repo, release_zenml_and_example, slurm_running, stdout_of};

/// How many independent steps the `wide` example has, before its join.
const WIDTH: usize = 200;

pub(super) fn wide(root: &Path) -> anyhow::Result<()> {
    let (zenml, example) = release_zenml_and_example(root, "wide")?;
    let slurm_up = slurm_running("wide on slurm");
    for (orchestrator, extra) in [
        ("local", &["--max-parallelism", "16"][..]),
        ("process", &["--max-parallelism", "16"][..]),
        ("slurm", &[][..]),
    ] {
        if orchestrator == "slurm" && !slurm_up {
            continue;
        }
        let repo = orchestrator_repo(&zenml, &format!("wide-{orchestrator}"), orchestrator, extra)?;
        let mut command = repo.command(&example);
        command.args(["--quiet", "--no-cache", "--run-name", "wide"]);
        let start = Instant::now();
        stdout_of(command, "the wide example")?;
        let wall = ms(start.elapsed());
        let mut describe = repo.command(&zenml);
        describe.args(["--output", "json", "run", "describe", "wide"]);
        let described: serde_json::Value =
            serde_json::from_str(&stdout_of(describe, "zenml run describe")?)
                .context("`zenml run describe` printed no JSON")?;
        let spans: Vec<(i64, i64)> = described["steps"]
            .as_array()
            .context("no steps described")?
            .iter()
            .filter_map(|s| {
                Some((
                    s["step"]["started_at"].as_i64()?,
                    s["step"]["ended_at"].as_i64()?,
                ))
            })
            .collect();
        anyhow::ensure!(
            spans.len() == WIDTH + 1,
            "{} step runs, not {WIDTH} and a join",
            spans.len()
        );
        let limit = match orchestrator {
            "slurm" => "the test cluster's 4 CPUs, 1 per job".to_owned(),
            _ => "max_parallelism 16".to_owned(),
        };
        println!(
            "wide DAG of {WIDTH} independent steps and a join, --no-cache, sqlite + local folder, \
             `{orchestrator}` orchestrator ({limit}; release, 1 run): wall {:.2} s, \
             at most {} steps at once",
            wall / 1000.0,
            peak(&spans)
        );
    }
    Ok(())
}

/// The most intervals `[start, end)` that overlap at one moment.
fn peak(spans: &[(i64, i64)]) -> usize {
    let mut edges: Vec<(i64, i32)> = spans
        .iter()
        .flat_map(|&(start, end)| [(start, 1), (end, -1)])
        .collect();
    // At equal times, ends before starts: touching intervals do not overlap.
    edges.sort();
    let (mut now, mut most) = (0i32, 0i32);
    for (_, change) in edges {
        now += change;
        most = most.max(now);
    }
    usize::try_from(most).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::peak;

    #[test]
    fn the_peak_counts_overlapping_spans_only() {
        assert_eq!(peak(&[]), 0);
        assert_eq!(peak(&[(0, 10), (10, 20)]), 1);
        assert_eq!(peak(&[(0, 10), (5, 20), (6, 7), (30, 40)]), 3);
    }
}
