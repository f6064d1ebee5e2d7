//! The flavor's configuration.

use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use zenml_core::{ComponentContext, ConfigError, ConfigFields, ValidateConfig, flavor};
use zenml_orchestrator::{Orchestrator, OrchestratorError, OrchestratorFlavor};

use crate::job::SlurmOrchestrator;

/// The `sbatch` options the orchestrator sets itself, which `extra_args` may not repeat.
const OWN_OPTIONS: [&str; 10] = [
    "--parsable",
    "--job-name",
    "--output",
    "--error",
    "--chdir",
    "--cpus-per-task",
    "--mem",
    "--gres",
    "--wrap",
    "--wait",
];

/// Configuration of the `slurm` orchestrator flavor.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ConfigFields)]
#[serde(deny_unknown_fields)]
pub struct SlurmOrchestratorConfig {
    /// The partition jobs are submitted to (`--partition`). Default: the cluster's default
    /// partition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition: Option<String>,
    /// The time limit of each step's job (`--time`), in Slurm's format, e.g. `1:00:00` or
    /// `2-00:00:00`. Default: the partition's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_limit: Option<String>,
    /// The account jobs are charged to (`--account`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// The quality of service (`--qos`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qos: Option<String>,
    /// More `sbatch` options, each one argument starting with `--`, e.g.
    /// `["--constraint=a100", "--exclusive"]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra_args: Vec<String>,
    /// How many step jobs may be submitted or running at once. Default: 64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_parallelism: Option<usize>,
    /// How often a running job's state is read, in milliseconds. Default: 200.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub poll_interval_ms: Option<u64>,
    /// The Slurm configuration file the commands use (`SLURM_CONF`). Default: Slurm's own
    /// default, or `SLURM_CONF` from the environment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slurm_conf: Option<String>,
    /// Where each step's job script and its standard output and error are kept (a folder
    /// every node sees). Default: `.zen/slurm` in the repository.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_dir: Option<String>,
}

impl SlurmOrchestratorConfig {
    /// How many jobs may be in flight at once.
    fn parallelism(&self) -> Result<NonZeroUsize, ConfigError> {
        NonZeroUsize::new(self.max_parallelism.unwrap_or(64)).ok_or_else(|| {
            ConfigError::InvalidValue {
                key: "max_parallelism".to_owned(),
                message: "0 would never submit a job; use at least 1".to_owned(),
            }
        })
    }
}

impl ValidateConfig for SlurmOrchestratorConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        self.parallelism()?;
        if let Some(limit) = &self.time_limit
            && (limit.is_empty()
                || !limit
                    .chars()
                    .all(|c| c.is_ascii_digit() || c == ':' || c == '-'))
        {
            return Err(ConfigError::InvalidValue {
                key: "time_limit".to_owned(),
                message: format!(
                    "`{limit}` is not a Slurm time limit; write minutes, `H:MM:SS` or `D-HH:MM:SS`"
                ),
            });
        }
        if self.poll_interval_ms == Some(0) {
            return Err(ConfigError::InvalidValue {
                key: "poll_interval_ms".to_owned(),
                message: "use at least 1 millisecond".to_owned(),
            });
        }
        for arg in &self.extra_args {
            let option = arg.split('=').next().unwrap_or(arg);
            if !arg.starts_with("--") {
                return Err(ConfigError::InvalidValue {
                    key: "extra_args".to_owned(),
                    message: format!(
                        "`{arg}`: each extra argument is one long option, e.g. `--exclusive` or \
                         `--constraint=a100`"
                    ),
                });
            }
            if OWN_OPTIONS.contains(&option) {
                return Err(ConfigError::InvalidValue {
                    key: "extra_args".to_owned(),
                    message: format!(
                        "`{option}` is set by the orchestrator itself (from the step's resources \
                         and the run); set resources with #[step(resources(…))] or \
                         [steps.NAME.resources]"
                    ),
                });
            }
        }
        Ok(())
    }
}

#[flavor(
    name = "slurm",
    description = "Runs every step as a Slurm batch job (sbatch), with the step's resources as job options, as its upstream steps succeed",
    example = "partition = \"debug\"\ntime_limit = \"1:00:00\""
)]
impl OrchestratorFlavor for SlurmOrchestratorConfig {
    fn open(&self, context: &ComponentContext) -> Result<Box<dyn Orchestrator>, OrchestratorError> {
        self.validate()
            .map_err(|e| OrchestratorError::Config(e.to_string()))?;
        let parallelism = self
            .parallelism()
            .map_err(|e| OrchestratorError::Config(e.to_string()))?;
        let mut options = Vec::new();
        for (flag, value) in [
            ("--partition", &self.partition),
            ("--time", &self.time_limit),
            ("--account", &self.account),
            ("--qos", &self.qos),
        ] {
            if let Some(value) = value {
                options.push(format!("{flag}={value}"));
            }
        }
        options.extend(self.extra_args.iter().cloned());
        Ok(Box::new(SlurmOrchestrator {
            options,
            max_parallelism: parallelism,
            poll_interval: Duration::from_millis(self.poll_interval_ms.unwrap_or(200)),
            slurm_conf: self
                .slurm_conf
                .as_deref()
                .map(|p| context.resolve(p.as_ref())),
            log_dir: context.resolve(&PathBuf::from(
                self.log_dir.as_deref().unwrap_or(".zen/slurm"),
            )),
        }))
    }
}
