//! The `sbatch` options a job gets beyond its resources: from the orchestrator's
//! configuration for every job, replaced key by key by a step's own settings
//! (`[steps.NAME.settings.slurm]` in a run configuration).

use serde::Deserialize;

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

/// A job's placement and limits. In a run configuration:
///
/// ```toml
/// [steps.trainer.settings.slurm]
/// partition = "gpu"
/// time_limit = "4:00:00"
/// account = "ml-team"
/// qos = "high"
/// extra_args = ["--constraint=a100"]
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlurmJobSettings {
    /// The partition (`--partition`).
    #[serde(default)]
    pub partition: Option<String>,
    /// The time limit (`--time`), in Slurm's format: minutes, `H:MM:SS`, `D-HH:MM:SS`.
    #[serde(default)]
    pub time_limit: Option<String>,
    /// The account charged (`--account`).
    #[serde(default)]
    pub account: Option<String>,
    /// The quality of service (`--qos`).
    #[serde(default)]
    pub qos: Option<String>,
    /// More `sbatch` options, each one argument starting with `--`. A step's list is added
    /// after the orchestrator's.
    #[serde(default)]
    pub extra_args: Vec<String>,
}

impl SlurmJobSettings {
    /// Reads a step's settings table; unknown keys and invalid values are refused, naming
    /// the key.
    pub fn from_json(value: &serde_json::Value) -> Result<SlurmJobSettings, String> {
        let settings = SlurmJobSettings::deserialize(value).map_err(|e| {
            format!(
                "{e}; the slurm settings of a step are partition, time_limit, account, qos \
                 and extra_args"
            )
        })?;
        settings
            .check()
            .map_err(|(key, message)| format!("{key}: {message}"))?;
        Ok(settings)
    }

    /// Checks every value; `Err((key, message))` names the first bad one.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        for (key, value) in [
            ("partition", &self.partition),
            ("account", &self.account),
            ("qos", &self.qos),
        ] {
            if let Some(value) = value
                && (value.is_empty() || value.chars().any(|c| c.is_whitespace() || c.is_control()))
            {
                return Err((key, format!("`{value}` is not a Slurm name")));
            }
        }
        if let Some(limit) = &self.time_limit
            && !is_time_limit(limit)
        {
            return Err((
                "time_limit",
                format!(
                    "`{limit}` is not a Slurm time limit; write minutes, `MM:SS`, `H:MM:SS`, \
                     `D-HH` or `D-HH:MM:SS`"
                ),
            ));
        }
        for arg in &self.extra_args {
            let option = arg.split('=').next().unwrap_or(arg);
            if !arg.starts_with("--") || arg.chars().any(char::is_control) {
                return Err((
                    "extra_args",
                    format!(
                        "`{arg}`: each extra argument is one long option, e.g. `--exclusive` \
                         or `--constraint=a100`"
                    ),
                ));
            }
            if OWN_OPTIONS.contains(&option) {
                return Err((
                    "extra_args",
                    format!(
                        "`{option}` is set by the orchestrator itself (from the step's \
                         resources and the run); set resources with #[step(resources(…))] or \
                         [steps.NAME.resources]"
                    ),
                ));
            }
        }
        Ok(())
    }

    /// These settings with `step`'s put over them: a step's value replaces the
    /// orchestrator's, key by key; extra arguments add up.
    pub fn with(&self, step: &SlurmJobSettings) -> SlurmJobSettings {
        SlurmJobSettings {
            partition: step.partition.clone().or_else(|| self.partition.clone()),
            time_limit: step.time_limit.clone().or_else(|| self.time_limit.clone()),
            account: step.account.clone().or_else(|| self.account.clone()),
            qos: step.qos.clone().or_else(|| self.qos.clone()),
            extra_args: self
                .extra_args
                .iter()
                .chain(&step.extra_args)
                .cloned()
                .collect(),
        }
    }

    /// The `sbatch` arguments these settings stand for.
    pub fn sbatch_args(&self) -> Vec<String> {
        let mut args = Vec::new();
        for (flag, value) in [
            ("--partition", &self.partition),
            ("--time", &self.time_limit),
            ("--account", &self.account),
            ("--qos", &self.qos),
        ] {
            if let Some(value) = value {
                args.push(format!("{flag}={value}"));
            }
        }
        args.extend(self.extra_args.iter().cloned());
        args
    }
}

/// Whether `text` is one of Slurm's time formats: `M`, `M:S`, `H:M:S`, `D-H`, `D-H:M`,
/// `D-H:M:S` (numbers), or `UNLIMITED`/`INFINITE`.
fn is_time_limit(text: &str) -> bool {
    if matches!(text, "UNLIMITED" | "INFINITE") {
        return true;
    }
    let numbers = |part: &str, most: usize| {
        let fields: Vec<&str> = part.split(':').collect();
        fields.len() <= most
            && fields
                .iter()
                .all(|f| !f.is_empty() && f.len() <= 9 && f.chars().all(|c| c.is_ascii_digit()))
    };
    match text.split_once('-') {
        Some((days, rest)) => numbers(days, 1) && numbers(rest, 3),
        None => numbers(text, 3),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn step_settings_are_read_checked_and_merged() {
        let step = SlurmJobSettings::from_json(&json!({
            "partition": "gpu", "time_limit": "2-00:00:00", "extra_args": ["--exclusive"]
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        let defaults = SlurmJobSettings {
            partition: Some("debug".to_owned()),
            account: Some("ml".to_owned()),
            extra_args: vec!["--constraint=x".to_owned()],
            ..Default::default()
        };
        assert_eq!(
            defaults.with(&step).sbatch_args(),
            [
                "--partition=gpu",
                "--time=2-00:00:00",
                "--account=ml",
                "--constraint=x",
                "--exclusive"
            ]
        );
        for (bad, says) in [
            (json!({ "partiton": "gpu" }), "unknown field `partiton`"),
            (json!({ "time_limit": "an hour" }), "time_limit: `an hour`"),
            (json!({ "time_limit": "1:2:3:4" }), "time_limit"),
            (json!({ "extra_args": ["-x"] }), "extra_args: `-x`"),
            (
                json!({ "extra_args": ["--mem=1G"] }),
                "set by the orchestrator",
            ),
            (json!({ "qos": "a b" }), "qos: `a b`"),
            (json!({ "partition": 3 }), "invalid type"),
        ] {
            let error = SlurmJobSettings::from_json(&bad).err().unwrap_or_default();
            assert!(error.contains(says), "{bad}: {error}");
        }
        for good in [
            "30",
            "1:00",
            "1:00:00",
            "2-0",
            "2-12:30",
            "2-12:30:00",
            "UNLIMITED",
        ] {
            assert!(is_time_limit(good), "{good}");
        }
    }
}
