//! Run configuration: overrides of a pipeline's defaults, from a TOML file, without
//! recompiling.
//!
//! ```toml
//! run_name = "nightly-{date}"     # template: {pipeline} {date} {time} {id}
//! enable_cache = true             # run level
//!
//! [steps.trainer]
//! enable_cache = false            # step level
//! retries = 2                     # tried again after a failure, at most twice…
//! retry_delay_secs = 1.0          # …after 1 s, then 2 s (doubling; default 1 s)
//! [steps.trainer.parameters]
//! lr = 0.05
//! [steps.trainer.resources]       # replaces what #[step(resources(…))] says, key by key
//! cpus = 8
//! memory = "32G"
//! gpus = 1
//! [steps.trainer.settings.slurm]  # for the orchestrator of this flavor; others ignore it
//! partition = "gpu"
//! time_limit = "2:00:00"
//! ```

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use zenml_core::ConfigError;
use zenml_orchestrator::{StepResources, format_memory, parse_memory};

use crate::builder::StepNode;

/// The default run name template.
pub const DEFAULT_RUN_NAME: &str = "{pipeline}-{date}-{time}-{id}";

/// A run configuration file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    /// Record the run under this pipeline name instead of the one in the code: how a copy of
    /// a pipeline (`zenml pipeline copy A B`) runs A's code as B.
    pub pipeline: Option<String>,
    /// The run's name, or a template with `{pipeline}`, `{date}`, `{time}` and `{id}`.
    pub run_name: Option<String>,
    /// Caching for the whole run; overrides the pipeline's and the steps' settings.
    pub enable_cache: Option<bool>,
    /// Per-step settings, by step name.
    #[serde(default)]
    pub steps: BTreeMap<String, StepConfig>,
}

/// One step's settings in a [`RunConfig`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepConfig {
    /// Caching for this step.
    pub enable_cache: Option<bool>,
    /// Parameter values, by parameter name.
    #[serde(default)]
    pub parameters: BTreeMap<String, toml::Value>,
    /// Resources, replacing those declared in code key by key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourcesConfig>,
    /// How many times the step is tried again after a failure; replaces
    /// `#[step(retries = N)]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<u32>,
    /// Seconds before the first retry; each later one waits twice as long. Default 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_delay_secs: Option<f64>,
    /// Orchestrator settings by flavor name (`[steps.NAME.settings.slurm]`): the stack's
    /// orchestrator checks and uses its own flavor's table and ignores the others, so that
    /// one configuration serves several stacks. A name that is no orchestrator flavor is
    /// refused.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub settings: BTreeMap<String, toml::Table>,
}

/// A step's resources in a run configuration: `[steps.NAME.resources]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourcesConfig {
    /// CPU cores, at least 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpus: Option<u32>,
    /// Memory: a whole number with a unit K, M, G or T (`"16G"`); a bare number is MiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<String>,
    /// GPUs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpus: Option<u32>,
}

impl RunConfig {
    /// Reads a run configuration file; errors name the file, line, column and key.
    pub fn read(path: &Path) -> Result<RunConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigError::Invalid(format!(
                "cannot read run configuration `{}`: {e}",
                path.display()
            ))
        })?;
        zenml_core::parse_toml_file(path, &text)
    }
}

/// A step's configuration after defaults and overrides are applied.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResolvedStep {
    /// The step function.
    pub function: String,
    /// The step's own `enable_cache`, if set in code or configuration.
    pub enable_cache: Option<bool>,
    /// Every parameter's value.
    pub parameters: Map<String, Value>,
    /// The resources the step asks for: from code, replaced by the run configuration.
    #[serde(default, skip_serializing_if = "StepResources::is_empty")]
    pub resources: StepResources,
    /// How many times the step is tried again after a failure.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub retries: u32,
    /// What the code declares (`#[step(retries = N)]`), if anything: an export writes
    /// `retries` also when the run's 0 differs from it, so that `retries = 0` in a run
    /// configuration survives an export where the code says otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub declared_retries: Option<u32>,
    /// Seconds before the first retry (each later one waits twice as long); `None`: 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_delay_secs: Option<f64>,
    /// Orchestrator settings by flavor name, as the run configuration gave them.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub settings: BTreeMap<String, Value>,
}

/// The longest wait before a retry.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(600);

impl ResolvedStep {
    /// Whether an export writes `retries`: when there are any, and when there are none
    /// although the code declares some.
    fn exports_retries(&self) -> bool {
        self.retries > 0
            || self
                .declared_retries
                .is_some_and(|declared| declared != self.retries)
    }

    /// How long to wait before attempt `next` (2 or more): the retry delay, doubled for
    /// each retry before, at most ten minutes.
    pub fn retry_delay(&self, next: u32) -> Duration {
        let base = self.retry_delay_secs.unwrap_or(1.0);
        let factor = 2f64.powi(
            i32::try_from(next.saturating_sub(2))
                .unwrap_or(i32::MAX)
                .min(30),
        );
        Duration::try_from_secs_f64(base * factor)
            .unwrap_or(MAX_RETRY_DELAY)
            .min(MAX_RETRY_DELAY)
    }
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// A run's fully resolved configuration: what is recorded with the run and can be written
/// back to a file to repeat it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResolvedConfig {
    /// The pipeline.
    pub pipeline: String,
    /// The run's name.
    pub run_name: String,
    /// Run-level caching, if set.
    pub enable_cache: Option<bool>,
    /// The pipeline's own `enable_cache`, if set.
    pub pipeline_enable_cache: Option<bool>,
    /// Every step, by name.
    pub steps: BTreeMap<String, ResolvedStep>,
}

/// Applies `config` to the pipeline's defaults. Unknown steps and parameters, and values of
/// the wrong type, are errors that name them and list what is valid.
pub(crate) fn resolve(
    pipeline: &str,
    pipeline_enable_cache: Option<bool>,
    nodes: &[StepNode],
    config: &RunConfig,
) -> Result<ResolvedConfig, ConfigError> {
    for step in config.steps.keys() {
        if !nodes.iter().any(|n| &n.name == step) {
            return Err(ConfigError::Invalid(format!(
                "the run configuration names step `{step}`, which pipeline `{pipeline}` does not have; its steps: {}",
                nodes
                    .iter()
                    .map(|n| n.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
    }
    let mut steps = BTreeMap::new();
    for node in nodes {
        let overrides = config.steps.get(&node.name);
        let mut parameters = Map::new();
        for param in &node.params {
            parameters.insert(param.name.to_owned(), param.default.clone());
        }
        if let Some(overrides) = overrides {
            for (name, value) in &overrides.parameters {
                let Some(param) = node.params.iter().find(|p| p.name == name) else {
                    return Err(ConfigError::Invalid(format!(
                        "step `{}` has no parameter `{name}`; its parameters: {}",
                        node.name,
                        if node.params.is_empty() {
                            "(none)".to_owned()
                        } else {
                            node.params
                                .iter()
                                .map(|p| p.name)
                                .collect::<Vec<_>>()
                                .join(", ")
                        }
                    )));
                };
                if let Some(path) = crate::finite::non_finite_path(value) {
                    return Err(ConfigError::InvalidValue {
                        key: format!("steps.{}.parameters.{name}{path}", node.name),
                        message: "NaN and infinity cannot be recorded: a run's parameters \
                                  are kept as JSON, which holds neither"
                            .to_owned(),
                    });
                }
                let value = serde_json::to_value(value).map_err(|e| ConfigError::InvalidValue {
                    key: format!("steps.{}.parameters.{name}", node.name),
                    message: e.to_string(),
                })?;
                let value =
                    (param.normalize)(&value).map_err(|message| ConfigError::InvalidValue {
                        key: format!("steps.{}.parameters.{name}", node.name),
                        message: format!("{message} (the parameter is a `{}`)", param.rust_type),
                    })?;
                parameters.insert(name.clone(), value);
            }
        }
        for param in &node.params {
            let overridden = overrides.is_some_and(|o| o.parameters.contains_key(param.name));
            if let (Some(error), false) = (&param.default_error, overridden) {
                return Err(ConfigError::InvalidValue {
                    key: format!("steps.{}.parameters.{}", node.name, param.name),
                    message: format!(
                        "the default in the pipeline's code cannot be recorded: {error}; give \
                         the parameter a value the run configuration can hold"
                    ),
                });
            }
        }
        let resources = resolve_resources(node, overrides.and_then(|o| o.resources.as_ref()))?;
        let retry_delay_secs = overrides.and_then(|o| o.retry_delay_secs);
        if let Some(delay) = retry_delay_secs
            && !(delay.is_finite() && (0.0..=600.0).contains(&delay))
        {
            return Err(ConfigError::InvalidValue {
                key: format!("steps.{}.retry_delay_secs", node.name),
                message: format!("{delay} is not a number of seconds from 0 to 600"),
            });
        }
        steps.insert(
            node.name.clone(),
            ResolvedStep {
                function: node.function.to_owned(),
                enable_cache: overrides.and_then(|o| o.enable_cache).or(node.enable_cache),
                parameters,
                resources,
                retries: overrides
                    .and_then(|o| o.retries)
                    .or(node.retries)
                    .unwrap_or(0),
                declared_retries: node.retries,
                retry_delay_secs,
                settings: resolve_settings(node, overrides)?,
            },
        );
    }
    let pipeline = match &config.pipeline {
        Some(name) => zenml_core::Name::new(name)
            .map_err(|e| ConfigError::InvalidValue {
                key: "pipeline".to_owned(),
                message: e.to_string(),
            })?
            .to_string(),
        None => pipeline.to_owned(),
    };
    let run_name = expand_run_name(
        config.run_name.as_deref().unwrap_or(DEFAULT_RUN_NAME),
        &pipeline,
    );
    check_run_name(&run_name)?;
    Ok(ResolvedConfig {
        pipeline,
        run_name,
        enable_cache: config.enable_cache,
        pipeline_enable_cache,
        steps,
    })
}

/// The orchestrator settings of `node` from its overrides, as JSON; a flavor name that no
/// registered orchestrator has is refused, listing those there are.
fn resolve_settings(
    node: &StepNode,
    overrides: Option<&StepConfig>,
) -> Result<BTreeMap<String, Value>, ConfigError> {
    let mut settings = BTreeMap::new();
    let Some(overrides) = overrides else {
        return Ok(settings);
    };
    for (flavor, table) in &overrides.settings {
        let registry = zenml_core::FlavorRegistry::global()
            .map_err(|e| ConfigError::Invalid(e.to_string()))?;
        registry
            .get(zenml_core::ComponentKind::Orchestrator, flavor)
            .map_err(|e| ConfigError::InvalidValue {
                key: format!("steps.{}.settings.{flavor}", node.name),
                message: e.to_string(),
            })?;
        let value = serde_json::to_value(table).map_err(|e| ConfigError::InvalidValue {
            key: format!("steps.{}.settings.{flavor}", node.name),
            message: e.to_string(),
        })?;
        settings.insert(flavor.clone(), value);
    }
    Ok(settings)
}

/// The resources of `node`: declared in code, replaced key by key by `overrides`; invalid
/// values are errors naming the step and where the value was written.
fn resolve_resources(
    node: &StepNode,
    overrides: Option<&ResourcesConfig>,
) -> Result<StepResources, ConfigError> {
    let declared = node.resources;
    let memory = |text: &str, key: String| {
        parse_memory(text).map_err(|message| ConfigError::InvalidValue { key, message })
    };
    let code = StepResources {
        cpus: declared.cpus,
        memory_mib: declared
            .memory
            .map(|m| {
                memory(
                    m,
                    format!("#[step(resources(memory))] of step `{}`", node.name),
                )
            })
            .transpose()?,
        gpus: declared.gpus,
    };
    code.check().map_err(|message| ConfigError::InvalidValue {
        key: format!("#[step(resources)] of step `{}`", node.name),
        message,
    })?;
    let Some(overrides) = overrides else {
        return Ok(code);
    };
    let key = format!("steps.{}.resources", node.name);
    let run = StepResources {
        cpus: overrides.cpus,
        memory_mib: overrides
            .memory
            .as_deref()
            .map(|m| memory(m, format!("{key}.memory")))
            .transpose()?,
        gpus: overrides.gpus,
    };
    run.check()
        .map_err(|message| ConfigError::InvalidValue { key, message })?;
    Ok(code.with(run))
}

impl ResolvedConfig {
    /// The text of the run configuration file that repeats run `run_name` when written to
    /// `file`, as `zenml run export-config` writes it (and the dashboard offers it): a header
    /// saying what it is, then [`to_run_config`](Self::to_run_config) as TOML.
    pub fn export_toml(&self, run_name: &str, file: &str) -> Result<String, toml::ser::Error> {
        let body = toml::to_string_pretty(&self.to_run_config())?;
        Ok(format!(
            "# The resolved configuration of run `{run_name}` of pipeline `{}`.\n\
             # Run the pipeline program with `--config {file}` to repeat it (a new run name is chosen).\n\n{body}",
            self.pipeline
        ))
    }

    /// This configuration as a run configuration file that repeats it.
    pub fn to_run_config(&self) -> RunConfig {
        RunConfig {
            pipeline: Some(self.pipeline.clone()),
            run_name: None,
            enable_cache: self.enable_cache,
            steps: self
                .steps
                .iter()
                .filter(|(_, step)| {
                    !step.parameters.is_empty()
                        || step.enable_cache.is_some()
                        || !step.resources.is_empty()
                        || step.exports_retries()
                        || step.retry_delay_secs.is_some()
                        || !step.settings.is_empty()
                })
                .map(|(name, step)| {
                    let parameters = step
                        .parameters
                        .iter()
                        .filter_map(|(k, v)| toml::Value::try_from(v).ok().map(|v| (k.clone(), v)))
                        .collect();
                    (
                        name.clone(),
                        StepConfig {
                            enable_cache: step.enable_cache,
                            parameters,
                            resources: (!step.resources.is_empty()).then(|| ResourcesConfig {
                                cpus: step.resources.cpus,
                                memory: step.resources.memory_mib.map(format_memory),
                                gpus: step.resources.gpus,
                            }),
                            retries: step.exports_retries().then_some(step.retries),
                            retry_delay_secs: step.retry_delay_secs,
                            settings: step
                                .settings
                                .iter()
                                .filter_map(|(flavor, value)| {
                                    toml::Table::try_from(value)
                                        .ok()
                                        .map(|table| (flavor.clone(), table))
                                })
                                .collect(),
                        },
                    )
                })
                .collect(),
        }
    }
}

/// A run name is shown and typed on command lines: it must not be empty, start or end with
/// white space, or hold control characters.
fn check_run_name(name: &str) -> Result<(), ConfigError> {
    let problem = if name.is_empty() {
        "a run name cannot be empty"
    } else if name.trim() != name {
        "a run name cannot start or end with white space"
    } else if name.chars().any(char::is_control) {
        "a run name cannot hold control characters"
    } else {
        return Ok(());
    };
    Err(ConfigError::InvalidValue {
        key: "run_name".to_owned(),
        message: format!("{problem}, got {name:?}"),
    })
}

/// Fills a run name template.
fn expand_run_name(template: &str, pipeline: &str) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let (date, time) = zenml_core::time::date_and_time(now.as_secs() as i64);
    let id = uuid::Uuid::new_v4().simple().to_string();
    template
        .replace("{pipeline}", pipeline)
        .replace("{date}", &date)
        .replace("{time}", &time.replace(':', ""))
        .replace("{id}", &id[..8])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_name_templates_expand() {
        let name = expand_run_name(DEFAULT_RUN_NAME, "training");
        assert!(name.starts_with("training-20"), "{name}");
        assert_eq!(
            name.len(),
            "training-2026-11-22-074012-".len() + 8,
            "{name}"
        );
        assert_eq!(expand_run_name("fixed", "p"), "fixed");
    }

    #[test]
    fn blank_run_names_are_errors() {
        for bad in ["", "   ", " x", "x\n", "a\tb"] {
            let err = check_run_name(bad).unwrap_err().to_string();
            assert!(err.contains("run_name"), "{bad:?}: {err}");
        }
        check_run_name("my run/1").unwrap();
    }

    #[test]
    fn unknown_keys_in_run_files_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("run.toml");
        std::fs::write(&file, "run_name = \"x\"\n[steps.a]\nparams = {}\n").unwrap();
        let err = RunConfig::read(&file).unwrap_err().to_string();
        assert!(
            err.contains("run.toml:3:") && err.contains("params"),
            "{err}"
        );
    }
}
