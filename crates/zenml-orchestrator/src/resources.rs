//! What a step asks of the machine that runs it: CPUs, memory and GPUs.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The resources one step needs, declared in code (`#[step(resources(cpus = 4, memory =
/// "16G", gpus = 1))]`) or in a run configuration (`[steps.NAME.resources]`). Orchestrators
/// that place steps on machines (a cluster scheduler) reserve them for the step; the
/// `local` and `process` orchestrators run every step on this machine and do not.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepResources {
    /// CPU cores, at least 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpus: Option<u32>,
    /// Memory in MiB, at least 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_mib: Option<u64>,
    /// GPUs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpus: Option<u32>,
}

impl StepResources {
    /// Whether nothing is asked for.
    pub fn is_empty(&self) -> bool {
        *self == StepResources::default()
    }

    /// `self`, with each resource that `overrides` names replaced.
    pub fn with(self, overrides: StepResources) -> StepResources {
        StepResources {
            cpus: overrides.cpus.or(self.cpus),
            memory_mib: overrides.memory_mib.or(self.memory_mib),
            gpus: overrides.gpus.or(self.gpus),
        }
    }

    /// Checks the values: CPUs and memory, when given, are at least 1.
    pub fn check(&self) -> Result<(), String> {
        if self.cpus == Some(0) {
            return Err("`cpus` must be at least 1".to_owned());
        }
        if self.memory_mib == Some(0) {
            return Err("`memory` must be at least 1M".to_owned());
        }
        Ok(())
    }
}

impl fmt::Display for StepResources {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if let Some(cpus) = self.cpus {
            parts.push(format!("cpus={cpus}"));
        }
        if let Some(memory) = self.memory_mib {
            parts.push(format!("memory={}", format_memory(memory)));
        }
        if let Some(gpus) = self.gpus {
            parts.push(format!("gpus={gpus}"));
        }
        if parts.is_empty() {
            f.write_str("(none)")
        } else {
            f.write_str(&parts.join(", "))
        }
    }
}

/// Parses an amount of memory as Slurm writes it: a whole number with an optional unit `K`,
/// `M`, `G` or `T` (powers of 1024; `KiB`, `MB`, `GiB`… are accepted too, in any case); a
/// bare number is MiB. Returns MiB, rounding kibibytes up.
pub fn parse_memory(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let digits = text.chars().take_while(char::is_ascii_digit).count();
    let (number, unit) = text.split_at(digits);
    let invalid = || {
        format!(
            "`{text}` is not an amount of memory; write a whole number with an optional unit \
             K, M, G or T, e.g. `512M` or `16G` (a bare number is MiB)"
        )
    };
    let number: u64 = number.parse().map_err(|_| invalid())?;
    let unit = unit.trim().to_ascii_uppercase();
    let unit = unit
        .strip_suffix("IB")
        .or_else(|| unit.strip_suffix('B'))
        .unwrap_or(&unit);
    let mib = match unit {
        "K" => Some(number.div_ceil(1024)),
        "" | "M" => Some(number),
        "G" => number.checked_mul(1024),
        "T" => number.checked_mul(1024 * 1024),
        _ => None,
    };
    mib.ok_or_else(invalid)
}

/// MiB as the largest whole unit: `16G`, `1536M`.
pub fn format_memory(mib: u64) -> String {
    if mib > 0 && mib.is_multiple_of(1024 * 1024) {
        format!("{}T", mib / (1024 * 1024))
    } else if mib > 0 && mib.is_multiple_of(1024) {
        format!("{}G", mib / 1024)
    } else {
        format!("{mib}M")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_is_read_as_slurm_writes_it() {
        for (text, mib) in [
            ("16G", 16 * 1024),
            ("16g", 16 * 1024),
            ("16GiB", 16 * 1024),
            ("16 GB", 16 * 1024),
            ("512M", 512),
            ("512", 512),
            ("1T", 1024 * 1024),
            ("1500K", 2),
        ] {
            assert_eq!(parse_memory(text), Ok(mib), "{text}");
        }
        for bad in ["", "G", "16Q", "1.5G", "-1G", "99999999999999999999T"] {
            let err = parse_memory(bad).unwrap_err();
            assert!(err.contains("not an amount of memory"), "{bad}: {err}");
        }
        assert_eq!(format_memory(16 * 1024), "16G");
        assert_eq!(format_memory(1536), "1536M");
        assert_eq!(format_memory(2 * 1024 * 1024), "2T");
    }

    #[test]
    fn overrides_replace_what_they_name() {
        let code = StepResources {
            cpus: Some(4),
            memory_mib: Some(16 * 1024),
            gpus: None,
        };
        let run = StepResources {
            gpus: Some(1),
            memory_mib: Some(1024),
            ..StepResources::default()
        };
        assert_eq!(
            code.with(run),
            StepResources {
                cpus: Some(4),
                memory_mib: Some(1024),
                gpus: Some(1)
            }
        );
        assert_eq!(code.with(run).to_string(), "cpus=4, memory=1G, gpus=1");
        assert_eq!(StepResources::default().to_string(), "(none)");
        assert!(
            StepResources {
                cpus: Some(0),
                ..StepResources::default()
            }
            .check()
            .is_err()
        );
    }
}
