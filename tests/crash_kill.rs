//! Crash safety, tested by killing: pipeline runs, `zenml stack import`, `artifact prune`
//! and `cache invalidate` are sent `SIGKILL` at seeded random moments, and what they leave
//! behind is checked. Set `ZENML_KILL_SEED` to replay a sequence of moments.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::Value;
use zenml_e2e::{Zenml, eventually};

/// A small, seeded pseudo-random sequence (xorshift64*): the same seed, the same moments.
struct Moments(u64);

impl Moments {
    fn new() -> Moments {
        let seed = std::env::var("ZENML_KILL_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0x5eed_2026_u64);
        eprintln!("kill moments from seed {seed} (ZENML_KILL_SEED replays them)");
        Moments(seed.max(1))
    }

    /// A moment from 0 to `most`.
    fn up_to(&mut self, most: Duration) -> Duration {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let unit = (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64;
        most.mul_f64(unit)
    }
}

/// A step as recorded: name, status, number of outputs.
type StepSeen = (String, String, usize);

/// Every run's status and its steps, by run name.
fn recorded(zen: &Zenml) -> BTreeMap<String, (String, Vec<StepSeen>)> {
    let mut found = BTreeMap::new();
    for run in zen.json(&["run", "list"])["items"]
        .clone()
        .as_array()
        .cloned()
        .unwrap_or_default()
    {
        let name = run["name"].as_str().unwrap_or_default().to_owned();
        let described = zen.json(&["run", "describe", &name]);
        let steps = described["steps"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|s| {
                (
                    s["step"]["name"].as_str().unwrap_or_default().to_owned(),
                    s["step"]["status"].as_str().unwrap_or_default().to_owned(),
                    s["outputs"].as_array().map_or(0, Vec::len),
                )
            })
            .collect();
        found.insert(
            name,
            (
                described["run"]["status"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                steps,
            ),
        );
    }
    found
}

#[test]
fn runs_killed_at_random_moments_leave_no_partial_record() {
    const TRIALS: usize = 50;
    let zen = Zenml::init();
    let mut moments = Moments::new();
    // How long a whole run takes here (once the example is built), so that the kills fall
    // from its start to its end.
    zen.example("diamond", &["--run-name", "warm", "--no-cache"])
        .ok();
    let started = Instant::now();
    zen.example("diamond", &["--run-name", "measure", "--no-cache"])
        .ok();
    let whole = started.elapsed();
    let mut killed_mid_run = 0;
    for trial in 0..TRIALS {
        let run = zen
            .example(
                "diamond",
                &["--run-name", &format!("trial-{trial}"), "--no-cache"],
            )
            .env("ZENML_RUN_LEASE_SECS", "1")
            .spawn();
        // The moment of the kill is the experiment; a run that ends sooner is not killed.
        if run
            .kill_after(moments.up_to(whole.mul_f64(1.2)))
            .code
            .is_none()
        {
            killed_mid_run += 1;
        }
    }
    eprintln!("{TRIALS} runs, {killed_mid_run} killed before they ended (a run takes {whole:?})");
    assert!(
        killed_mid_run > TRIALS / 4,
        "the kills fell after the runs: {killed_mid_run}"
    );

    // No run stays `running` once its lease has expired.
    let runs = eventually(
        Duration::from_secs(60),
        "every killed run read as ended",
        || {
            let runs = recorded(&zen);
            runs.values()
                .all(|(status, _)| status != "running")
                .then_some(runs)
        },
    );
    let mut violations = Vec::new();
    for (name, (status, steps)) in &runs {
        if !matches!(status.as_str(), "completed" | "interrupted") {
            violations.push(format!("run {name} is {status}"));
        }
        for (step, step_status, outputs) in steps {
            // Every diamond step has one output: a completed step without it is half
            // recorded.
            if matches!(step_status.as_str(), "completed" | "cached") && *outputs != 1 {
                violations.push(format!(
                    "{name}/{step} is {step_status} with {outputs} outputs"
                ));
            }
        }
    }
    // Every recorded artifact is whole.
    let verify = zen.run(&["artifact", "verify", "--all"]);
    if verify.code != Some(0) {
        violations.push(format!("artifact verify: {}", verify.stdout));
    }
    assert!(violations.is_empty(), "{}", violations.join("\n"));
    let interrupted = runs.values().filter(|(s, _)| s == "interrupted").count();
    eprintln!("{interrupted} runs read as interrupted, 0 invariant violations");

    // The next run completes, reusing what the killed runs completed.
    zen.example("diamond", &["--run-name", "after"]).ok();
    let after = &recorded(&zen)["after"];
    assert_eq!(after.0, "completed");
    assert!(after.1.iter().all(|(_, s, _)| s == "cached"), "{after:?}");
}

#[test]
fn commands_killed_at_random_moments_leave_a_usable_repository() {
    const TRIALS: usize = 12;
    let zen = Zenml::init();
    let mut moments = Moments::new();
    zen.example("diamond", &["--run-name", "base"]).ok();
    zen.ok(&["stack", "export", "default", "stack.toml"]);
    let text = zen.read("stack.toml").replace("default", "imported");
    zen.write("import.toml", &text);
    for trial in 0..TRIALS {
        for args in [
            &[
                "stack",
                "import",
                "import.toml",
                "--name",
                &format!("imported-{trial}"),
            ][..],
            &["artifact", "prune", "--yes"][..],
            &["cache", "invalidate", "--step", "left"][..],
        ] {
            let _ = zen
                .cmd(args)
                .spawn()
                .kill_after(moments.up_to(Duration::from_millis(40)));
        }
        // After each round the repository still works and its records are whole.
        zen.ok(&["stack", "list"]);
        zen.ok(&["cache", "list"]);
        zen.ok(&["artifact", "verify", "--all"]);
    }
    // Imported stacks are whole or absent: each one listed can be described.
    for stack in zen
        .json(&["stack", "list"])
        .as_array()
        .cloned()
        .unwrap_or_default()
    {
        let name = stack["name"].as_str().unwrap_or_default().to_owned();
        zen.ok(&["stack", "describe", &name]);
    }
    zen.example("diamond", &["--run-name", "still"]).ok();
    let _: Value = zen.json(&["run", "describe", "still"]);
}
