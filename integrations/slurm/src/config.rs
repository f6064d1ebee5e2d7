//! The flavor's configuration.

use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use zenml_core::{ComponentContext, ConfigError, ConfigFields, ValidateConfig, flavor};
use zenml_orchestrator::{Orchestrator, OrchestratorError, OrchestratorFlavor};

use crate::job::SlurmOrchestrator;
use crate::settings::SlurmJobSettings;

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

impl SlurmOrchestratorConfig {
    /// The job settings every job gets.
    fn job_settings(&self) -> SlurmJobSettings {
        SlurmJobSettings {
            partition: self.partition.clone(),
            time_limit: self.time_limit.clone(),
            account: self.account.clone(),
            qos: self.qos.clone(),
            extra_args: self.extra_args.clone(),
        }
    }
}

impl ValidateConfig for SlurmOrchestratorConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        self.parallelism()?;
        self.job_settings()
            .check()
            .map_err(|(key, message)| ConfigError::InvalidValue {
                key: key.to_owned(),
                message,
            })?;
        if self.poll_interval_ms == Some(0) {
            return Err(ConfigError::InvalidValue {
                key: "poll_interval_ms".to_owned(),
                message: "use at least 1 millisecond".to_owned(),
            });
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
        Ok(Box::new(SlurmOrchestrator {
            defaults: self.job_settings(),
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
