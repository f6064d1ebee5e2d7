//! Run configurations, resolved on a pipeline whose parameters have many types.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use zenml::pipeline::{Pipeline, ResolvedConfig, RunConfig};
use zenml::prelude::*;

/// A parameter of a user's own type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Schedule {
    warmup: u32,
    decay: f64,
    kind: String,
}

/// Makes data.
#[step(resources(cpus = 2, memory = "4G"))]
fn load(rows: Param<u32>, noise: Param<f64>, name: Param<String>) -> Vec<f64> {
    vec![f64::from(*rows) * *noise; name.len()]
}

/// Uses data.
#[step(retries = 1)]
#[allow(clippy::too_many_arguments)]
fn train(
    data: Vec<f64>,
    shuffle: Param<bool>,
    layers: Param<Vec<u16>>,
    seed: Param<Option<i64>>,
    schedule: Param<Schedule>,
    weights: Param<BTreeMap<String, f32>>,
    offset: Param<i8>,
) -> f64 {
    let _ = (&shuffle, &layers, &seed, &schedule, &weights, &offset);
    data.iter().sum()
}

#[pipeline]
fn fuzzed() {
    let data = load(100, 0.5, "iris".to_owned());
    let schedule = Schedule {
        warmup: 3,
        decay: 0.9,
        kind: "cosine".to_owned(),
    };
    train(data, true, vec![8, 4], None, schedule, BTreeMap::new(), -1);
}

/// Parses the input as a run configuration file and resolves it on a pipeline with
/// parameters of many types; a configuration that resolves is written back as the file
/// `zenml run export-config` writes, which must parse and resolve to the same configuration.
pub fn run_config(data: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(data) else {
        return false;
    };
    let path = Path::new("run.toml");
    let Ok(config) = zenml::core::parse_toml_file::<RunConfig>(path, text) else {
        return false;
    };
    let pipeline = pipeline();
    let Ok(resolved) = pipeline.resolve(&config) else {
        return false;
    };
    let exported = toml::to_string(&resolved.to_run_config())
        .unwrap_or_else(|e| panic!("a resolved configuration cannot be written: {e}"));
    let read: RunConfig = zenml::core::parse_toml_file(path, &exported)
        .unwrap_or_else(|e| panic!("an exported configuration cannot be read: {e}\n{exported}"));
    let again = pipeline
        .resolve(&read)
        .unwrap_or_else(|e| panic!("an exported configuration does not resolve: {e}\n{exported}"));
    assert_eq!(
        comparable(again),
        comparable(resolved),
        "an exported configuration resolves differently:\n{exported}"
    );
    true
}

/// The configuration without its run name: an export leaves the name to the next run.
fn comparable(mut resolved: ResolvedConfig) -> ResolvedConfig {
    resolved.run_name.clear();
    resolved
}

fn pipeline() -> &'static Pipeline {
    static PIPELINE: std::sync::OnceLock<Pipeline> = std::sync::OnceLock::new();
    PIPELINE.get_or_init(fuzzed)
}
