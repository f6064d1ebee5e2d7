//! Step logs: what a step wrote while it ran, kept in the artifact store with its run.
//!
//! Out of process, a step's logs are everything its process wrote to standard output and
//! error, which the orchestrator captures and hands over
//! ([`StepExecutor::step_output`](zenml_orchestrator::StepExecutor::step_output)). In the
//! driver's own process, standard output is shared by every thread, so a step's logs are the
//! records it emits through the [`log`] crate's macros (`log::info!` …) on its thread while
//! it runs; they are also printed on standard error. Either way the logs of attempt `N` of
//! step `S` go to `.zenml-logs/<run id>/<S>.<N>.log` in the run's artifact store, named by
//! the run metadata `logs.<S>.<N>`. A step that wrote nothing has no logs.

use std::cell::RefCell;
use std::io::{Cursor, Read, Write};
use std::sync::OnceLock;

use serde_json::json;
use zenml_artifact_store::{ArtifactStore, ArtifactStoreError, GetOptions, ObjectPath, PutMode};
use zenml_metadata_store::{MetadataEntry, MetadataStore, Resource};

use crate::artifact_io::ArtifactIoError;
use crate::client::{Client, ClientError};

/// The environment variable that sets which `log` records are kept and printed: `error`,
/// `warn`, `info` (the default), `debug`, `trace` or `off`.
pub const LOG_LEVEL_ENV: &str = "ZENML_LOG_LEVEL";

/// The run metadata key that names the logs of attempt `attempt` of step `step`.
pub fn logs_key(step: &str, attempt: u32) -> String {
    format!("logs.{step}.{attempt}")
}

/// Where the logs of attempt `attempt` of step `step` of run `run_id` are kept in the
/// artifact store.
pub fn logs_path(run_id: &str, step: &str, attempt: u32) -> String {
    format!(".zenml-logs/{run_id}/{step}.{attempt}.log")
}

/// Stores `logs` as the logs of attempt `attempt` of step `step` of run `run_id` and names
/// them in the run's metadata. Nothing is stored for empty logs. A failure is reported on
/// standard error and does not fail the step: its outputs and record matter more.
pub(crate) fn keep_logs(
    artifacts: &dyn ArtifactStore,
    metadata: &dyn MetadataStore,
    run_id: &str,
    step: &str,
    attempt: u32,
    logs: &mut dyn Read,
) {
    let result = (|| -> Result<(), String> {
        // Peek one byte: empty logs are not stored.
        let mut first = [0u8; 1];
        let read = logs.read(&mut first).map_err(|e| e.to_string())?;
        if read == 0 {
            return Ok(());
        }
        let path = ObjectPath::new(&logs_path(run_id, step, attempt)).map_err(|e| e.to_string())?;
        let mut whole = Cursor::new(first).chain(logs);
        let written = artifacts
            .put_stream(&path, &mut whole, PutMode::Overwrite)
            .map_err(|e| e.to_string())?;
        metadata
            .log_metadata(&[MetadataEntry {
                resource: Resource::Run(run_id.to_owned()),
                key: logs_key(step, attempt),
                value: json!({ "path": path.to_string(), "bytes": written.size }),
            }])
            .map_err(|e| e.to_string())
    })();
    if let Err(e) = result {
        eprintln!(
            "warning: cannot keep the logs of step `{step}` (attempt {attempt}) of run {run_id}: {e}"
        );
    }
}

/// Where the logs of one attempt of a step are kept: what [`Client::step_logs`] finds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepLogs {
    /// The attempt whose logs these are.
    pub attempt: u32,
    /// Every attempt of the step that kept logs, ascending.
    pub attempts: Vec<u32>,
    /// Their path in the artifact store.
    pub path: String,
    /// Their size in bytes.
    pub bytes: u64,
}

impl Client {
    /// Finds the logs of step `step` of run `run` (its name or id): of attempt `attempt`, or
    /// of the step's last attempt that kept logs.
    ///
    /// # Errors
    ///
    /// [`ClientError::NotFound`] when the run or step does not exist, or the step (that
    /// attempt) kept no logs: it wrote nothing, or it did not run.
    pub fn step_logs(
        &self,
        run: &str,
        step: &str,
        attempt: Option<u32>,
    ) -> Result<StepLogs, ClientError> {
        let view = self.run(run)?;
        let prefix = format!("logs.{step}.");
        let mut kept: Vec<(u32, String, u64)> = view
            .metadata()?
            .into_iter()
            .filter_map(|(key, value)| {
                let n = key.strip_prefix(&prefix)?.parse::<u32>().ok()?;
                let path = value["path"].as_str()?.to_owned();
                Some((n, path, value["bytes"].as_u64().unwrap_or(0)))
            })
            .collect();
        kept.sort_by_key(|(n, _, _)| *n);
        let attempts: Vec<u32> = kept.iter().map(|(n, _, _)| *n).collect();
        let chosen = match attempt {
            Some(wanted) => kept.iter().find(|(n, _, _)| *n == wanted),
            None => kept.last(),
        };
        let Some((attempt, path, bytes)) = chosen.cloned() else {
            if view.record.status != zenml_metadata_store::RunStatus::Running {
                // An unknown step is named as such, with the steps there are.
                view.step(step)?;
            }
            return Err(ClientError::NotFound {
                what: "logs of step",
                key: step.to_owned(),
                hint: match (attempt, attempts.is_empty()) {
                    (Some(n), false) => format!(
                        "; attempt {n} kept none; attempts with logs: {}",
                        attempts
                            .iter()
                            .map(u32::to_string)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    _ => format!(
                        "; step `{step}` of run `{}` wrote nothing, or has not run",
                        view.record.name
                    ),
                },
            });
        };
        Ok(StepLogs {
            attempt,
            attempts,
            path,
            bytes,
        })
    }

    /// Copies the logs that `logs` names from the artifact store to `out`; returns how many
    /// bytes were copied.
    pub fn read_logs(&self, logs: &StepLogs, out: &mut dyn Write) -> Result<u64, ClientError> {
        let store_error = |e: ArtifactStoreError| ClientError::Artifact(ArtifactIoError::Store(e));
        let path = ObjectPath::new(&logs.path).map_err(|e| store_error(e.into()))?;
        let mut object = self
            .stack()
            .artifact_store
            .get_opts(&path, GetOptions::default())
            .map_err(store_error)?;
        std::io::copy(&mut object.reader, out).map_err(|source| {
            ClientError::Artifact(ArtifactIoError::Io {
                action: "cannot copy the logs at",
                path: logs.path.clone().into(),
                source,
            })
        })
    }
}

thread_local! {
    /// The log records of the step running on this thread, while one is captured.
    static CAPTURED: RefCell<Option<Vec<u8>>> = const { RefCell::new(None) };
}

/// The `log` logger of pipeline programs: prints every record on standard error and adds
/// it to the logs of the step running on the same thread, if any.
struct StepLogger;

impl log::Log for StepLogger {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &log::Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let line = format!(
            "{} {:<5} {}: {}\n",
            zenml_core::time::format_timestamp(crate::runner::now_millis()),
            record.level(),
            record.target(),
            record.args()
        );
        CAPTURED.with(|captured| {
            if let Some(buffer) = captured.borrow_mut().as_mut() {
                buffer.extend_from_slice(line.as_bytes());
            }
        });
        eprint!("{line}");
    }

    fn flush(&self) {}
}

/// Installs the step logger as the `log` crate's logger, once per process, at the level
/// `ZENML_LOG_LEVEL` says (default `info`). Returns whether it is the logger: when the
/// program installed another one first, in-process steps keep no logs (that logger still
/// gets the records).
pub(crate) fn install_logger() -> bool {
    static INSTALLED: OnceLock<bool> = OnceLock::new();
    *INSTALLED.get_or_init(|| {
        let level = std::env::var(LOG_LEVEL_ENV)
            .ok()
            .and_then(|text| text.trim().parse::<log::LevelFilter>().ok())
            .unwrap_or(log::LevelFilter::Info);
        let installed = log::set_logger(&StepLogger).is_ok();
        if installed {
            log::set_max_level(level);
        }
        installed
    })
}

/// Runs `f`, capturing the `log` records emitted on this thread meanwhile; returns its
/// result and the captured text.
pub(crate) fn capture<R>(f: impl FnOnce() -> R) -> (R, Vec<u8>) {
    let outer = CAPTURED.with(|captured| captured.borrow_mut().replace(Vec::new()));
    let result = f();
    let logs = CAPTURED.with(|captured| {
        let mut captured = captured.borrow_mut();
        let logs = captured.take().unwrap_or_default();
        *captured = outer;
        logs
    });
    (result, logs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_captured_per_thread() {
        assert!(install_logger(), "no other logger in this test binary");
        let ((), logs) = capture(|| {
            log::info!(target: "train", "epoch 1 loss 0.5");
            let other = std::thread::spawn(|| capture(|| log::info!("elsewhere")).1);
            let elsewhere = other.join().unwrap_or_default();
            assert!(String::from_utf8_lossy(&elsewhere).contains("elsewhere"));
            log::debug!("below the level");
        });
        let text = String::from_utf8_lossy(&logs);
        assert!(text.contains("INFO  train: epoch 1 loss 0.5"), "{text}");
        assert!(
            !text.contains("elsewhere") && !text.contains("below the level"),
            "{text}"
        );
        let ((), nothing) = capture(|| {});
        assert!(nothing.is_empty());
    }

    #[test]
    fn logs_have_a_key_and_a_path_per_attempt() {
        assert_eq!(logs_key("train", 2), "logs.train.2");
        assert_eq!(
            logs_path("0b6f", "train", 2),
            ".zenml-logs/0b6f/train.2.log"
        );
        assert!(ObjectPath::new(&logs_path("0b6f", "train", 2)).is_ok());
    }
}
