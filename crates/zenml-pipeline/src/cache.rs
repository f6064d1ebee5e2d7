//! Step caching: the cache key and the rule that decides whether caching applies.
//!
//! A step run can reuse the outputs of an earlier one when both have the same **cache key**,
//! a blake3 hash of:
//!
//! 1. the step's code hash (its function's tokens and its `version`);
//! 2. its parameters, as canonical JSON (object keys sorted);
//! 3. for each input, by name: the content hash of the artifact it consumes — so an upstream
//!    step that ran again and produced identical bytes still gives its dependants hits;
//! 4. for each output, in order: its name, its materializer's id and version;
//! 5. the artifact store's identity (its URI).
//!
//! The pipeline's name is not part of it, so hits work across pipelines that share the
//! stores. A hit also needs the earlier step run to be completed, not invalidated, and every
//! one of its outputs to still exist in the artifact store and verify against its hash.
//!
//! **Precedence of `enable_cache`:** the run's setting (run configuration or `--no-cache`)
//! wins when set; otherwise the step's (run configuration, then `#[step(enable_cache)]`);
//! otherwise the pipeline's (`#[pipeline(enable_cache)]`); otherwise caching is on.

use serde_json::Value;
use zenml_metadata_store::ArtifactRecord;

use crate::builder::{InputSpec, StepNode};
use crate::config::ResolvedConfig;

/// Whether caching applies to `step` in a run with `config`; see the module documentation.
pub(crate) fn cache_enabled(config: &ResolvedConfig, step: &str) -> bool {
    let step_setting = config.steps.get(step).and_then(|s| s.enable_cache);
    config
        .enable_cache
        .or(step_setting)
        .or(config.pipeline_enable_cache)
        .unwrap_or(true)
}

/// The cache key of a step run; see the module documentation.
pub(crate) fn cache_key(
    node: &StepNode,
    parameters: &Value,
    inputs: &[(InputSpec, ArtifactRecord)],
    artifact_store_uri: &str,
) -> String {
    let mut hasher = blake3::Hasher::new();
    let mut field = |label: &str, value: &str| {
        for part in [label, value] {
            hasher.update(&(part.len() as u64).to_le_bytes());
            hasher.update(part.as_bytes());
        }
    };
    field("zenml-cache-key", "1");
    field("code", &node.code_hash);
    field("parameters", &canonical_json(parameters));
    let mut inputs: Vec<_> = inputs.iter().collect();
    inputs.sort_by_key(|(spec, _)| (spec.name, spec.index));
    for (spec, artifact) in inputs {
        field("input", &spec.recorded_name());
        field("content", &artifact.content_hash);
    }
    for output in &node.outputs {
        field("output", output.name);
        field("materializer", output.materializer_id);
        field(
            "materializer-version",
            &output.materializer_version.to_string(),
        );
    }
    field("artifact-store", artifact_store_uri);
    hasher.finalize().to_hex().to_string()
}

/// JSON text with object keys sorted at every level, whatever the map type's order.
pub(crate) fn canonical_json(value: &Value) -> String {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by_key(|(k, _)| *k);
            let body: Vec<String> = entries
                .into_iter()
                .map(|(k, v)| format!("{}:{}", Value::String(k.clone()), canonical_json(v)))
                .collect();
            format!("{{{}}}", body.join(","))
        }
        Value::Array(items) => format!(
            "[{}]",
            items
                .iter()
                .map(canonical_json)
                .collect::<Vec<_>>()
                .join(",")
        ),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde_json::json;

    use super::*;
    use crate::config::ResolvedStep;

    #[test]
    fn canonical_json_sorts_keys_at_every_level() {
        let a = json!({"b": 1, "a": {"y": [1, {"d": 2, "c": 3}], "x": "s"}});
        assert_eq!(
            canonical_json(&a),
            r#"{"a":{"x":"s","y":[1,{"c":3,"d":2}]},"b":1}"#
        );
    }

    fn config(run: Option<bool>, step: Option<bool>, pipeline: Option<bool>) -> ResolvedConfig {
        let mut steps = BTreeMap::new();
        steps.insert(
            "s".to_owned(),
            ResolvedStep {
                function: "s".to_owned(),
                enable_cache: step,
                parameters: Default::default(),
                resources: Default::default(),
                retries: 0,
                declared_retries: None,
                retry_delay_secs: None,
                settings: Default::default(),
            },
        );
        ResolvedConfig {
            pipeline: "p".to_owned(),
            run_name: "r".to_owned(),
            enable_cache: run,
            pipeline_enable_cache: pipeline,
            steps,
        }
    }

    #[test]
    fn run_beats_step_beats_pipeline_beats_default() {
        assert!(cache_enabled(&config(None, None, None), "s"));
        assert!(!cache_enabled(&config(None, None, Some(false)), "s"));
        assert!(cache_enabled(&config(None, Some(true), Some(false)), "s"));
        assert!(!cache_enabled(&config(None, Some(false), Some(true)), "s"));
        assert!(!cache_enabled(
            &config(Some(false), Some(true), Some(true)),
            "s"
        ));
        assert!(cache_enabled(
            &config(Some(true), Some(false), Some(false)),
            "s"
        ));
    }
}
