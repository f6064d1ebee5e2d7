//! The pipeline spec: what a run records about the program that started it, so that another
//! process can check that it runs the same pipeline before it runs one of its steps.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::builder::StepNode;

/// The version of the spec's layout.
const SPEC_FORMAT: u32 = 1;

/// A pipeline's steps as its program declares them: names, code hashes, parameters, the
/// wiring of inputs to upstream outputs, and each output's type and materializer. Recorded
/// with every run ([`zenml_metadata_store::RunRecord::spec`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PipelineSpec {
    /// The layout's version.
    pub format: u32,
    /// The steps, in the order the pipeline declares them.
    pub steps: Vec<StepSpec>,
}

/// One step of a [`PipelineSpec`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepSpec {
    /// The step's name in the pipeline.
    pub name: String,
    /// The step function's name.
    pub function: String,
    /// The hash of its code and `version`.
    pub code_hash: String,
    /// Its parameters' names, in declaration order.
    pub parameters: Vec<String>,
    /// Its inputs.
    pub inputs: Vec<InputWiring>,
    /// Its outputs.
    pub outputs: Vec<OutputDeclaration>,
}

/// Which upstream output feeds an input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputWiring {
    /// The input's name.
    pub name: String,
    /// The upstream step's name.
    pub step: String,
    /// The upstream output's name.
    pub output: String,
}

/// A step output's type and materializer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutputDeclaration {
    /// The output's name.
    pub name: String,
    /// The Rust type of its value.
    pub rust_type: String,
    /// The materializer that writes it.
    pub materializer: String,
    /// That materializer's version.
    pub materializer_version: u32,
    /// The name its artifacts are versioned under, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_name: Option<String>,
    /// The tags its artifacts get.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
}

impl PipelineSpec {
    /// The spec of a pipeline with these steps.
    pub(crate) fn of(nodes: &[StepNode]) -> PipelineSpec {
        PipelineSpec {
            format: SPEC_FORMAT,
            steps: nodes
                .iter()
                .map(|node| StepSpec {
                    name: node.name.clone(),
                    function: node.function.to_owned(),
                    code_hash: node.code_hash.clone(),
                    parameters: node.params.iter().map(|p| p.name.to_owned()).collect(),
                    inputs: node
                        .inputs
                        .iter()
                        .map(|input| InputWiring {
                            name: input.recorded_name(),
                            step: nodes[input.node].name.clone(),
                            output: input.output.to_owned(),
                        })
                        .collect(),
                    outputs: node
                        .outputs
                        .iter()
                        .map(|output| OutputDeclaration {
                            name: output.name.to_owned(),
                            rust_type: output.rust_type.to_owned(),
                            materializer: output.materializer_id.to_owned(),
                            materializer_version: output.materializer_version,
                            artifact_name: output.options.artifact_name.map(str::to_owned),
                            tags: output
                                .options
                                .tags
                                .iter()
                                .map(|t| (*t).to_owned())
                                .collect(),
                        })
                        .collect(),
                })
                .collect(),
        }
    }

    /// The spec as JSON, as runs record it.
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// How `recorded`, the spec a run recorded, differs from this one (this program's), in
    /// words; `None` when they are the same.
    pub(crate) fn difference(&self, recorded: &Value) -> Option<String> {
        let recorded: PipelineSpec = match PipelineSpec::deserialize(recorded) {
            Ok(spec) => spec,
            Err(_) if recorded.is_null() => {
                return Some(
                    "the run recorded no pipeline spec (it was started by an older version)"
                        .to_owned(),
                );
            }
            Err(e) => return Some(format!("the run's recorded spec cannot be read: {e}")),
        };
        let names = |spec: &PipelineSpec| -> Vec<String> {
            spec.steps.iter().map(|s| s.name.clone()).collect()
        };
        if names(&recorded) != names(self) {
            return Some(format!(
                "the run's steps are {}, this program's are {}",
                names(&recorded).join(", "),
                names(self).join(", ")
            ));
        }
        for (theirs, ours) in recorded.steps.iter().zip(&self.steps) {
            let step = &ours.name;
            if theirs.code_hash != ours.code_hash {
                return Some(format!(
                    "step `{step}` has other code (code hash {} in the run, {} here)",
                    short(&theirs.code_hash),
                    short(&ours.code_hash)
                ));
            }
            if theirs.inputs != ours.inputs {
                return Some(format!("step `{step}` has other inputs or wiring"));
            }
            if theirs.outputs != ours.outputs {
                return Some(format!(
                    "step `{step}` has other outputs, types or materializers"
                ));
            }
            if theirs != ours {
                return Some(format!(
                    "step `{step}` has another function or other parameters"
                ));
            }
        }
        None
    }
}

/// The first 12 hex digits of a hash, for messages.
fn short(hash: &str) -> &str {
    hash.get(..12).unwrap_or(hash)
}
