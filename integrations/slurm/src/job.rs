//! Step jobs: the batch script, `sbatch`, and following the job with `scontrol` until it ends.

use std::fmt::Write as _;
use std::fs;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use zenml_core::Dag;
use zenml_orchestrator::{
    DetachedDriver, Orchestrator, OrchestratorError, ProcessExit, RunReport, StepCommand,
    StepExecutor, StepOutcome, format_memory, panic_message, run_on_threads,
};

use crate::settings::SlurmJobSettings;

/// The flavor's name, for error messages.
const FLAVOR: &str = "slurm";

/// An orchestrator that runs each step as a Slurm batch job (see the crate's documentation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlurmOrchestrator {
    /// The job settings of every job (partition, time, account, qos, extra arguments),
    /// which a step's own settings replace key by key.
    pub(crate) defaults: SlurmJobSettings,
    /// How many jobs may be in flight at once.
    pub(crate) max_parallelism: NonZeroUsize,
    /// How often a job's state is read.
    pub(crate) poll_interval: Duration,
    /// `SLURM_CONF` for the Slurm commands, when configured.
    pub(crate) slurm_conf: Option<PathBuf>,
    /// Where job scripts and their output go.
    pub(crate) log_dir: PathBuf,
}

/// How a step's job ended, as `scontrol show job` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobEnd {
    /// The job's final state, e.g. `COMPLETED`, `FAILED`, `CANCELLED`, `TIMEOUT`.
    pub state: String,
    /// The exit code of the job's script.
    pub code: i32,
    /// The signal that ended it; 0 when none did.
    pub signal: i32,
    /// The node it ran on.
    pub node: Option<String>,
}

impl JobEnd {
    /// Reads the state of a job from one line of `scontrol show job -o`; `None` while the job
    /// has not ended.
    pub fn parse(line: &str) -> Option<JobEnd> {
        let field = |name: &str| {
            line.split_whitespace()
                .find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))
        };
        let state = field("JobState")?;
        if matches!(
            state,
            "PENDING"
                | "RUNNING"
                | "CONFIGURING"
                | "COMPLETING"
                | "SUSPENDED"
                | "REQUEUED"
                | "RESIZING"
                | "SIGNALING"
                | "STAGE_OUT"
        ) {
            return None;
        }
        let (code, signal) = field("ExitCode")
            .and_then(|pair| pair.split_once(':'))
            .and_then(|(c, s)| Some((c.parse().ok()?, s.parse().ok()?)))
            .unwrap_or((0, 0));
        Some(JobEnd {
            state: state.to_owned(),
            code,
            signal,
            node: field("NodeList")
                .filter(|n| !n.is_empty() && *n != "(null)")
                .map(str::to_owned),
        })
    }

    /// How the step's process ended, in the contract's terms.
    pub fn exit(&self) -> ProcessExit {
        match self.state.as_str() {
            "COMPLETED" => ProcessExit::Code(0),
            "FAILED" if self.signal != 0 => ProcessExit::Signal(self.signal),
            "FAILED" => ProcessExit::Code(self.code),
            other => ProcessExit::Lost(format!(
                "its Slurm job ended {other}{}",
                match other {
                    "TIMEOUT" => " (the time limit was reached)",
                    "OUT_OF_MEMORY" => " (the step used more memory than it asked for)",
                    "CANCELLED" => " (scancel, or an administrator)",
                    _ => "",
                }
            )),
        }
    }
}

impl Orchestrator for SlurmOrchestrator {
    fn run(&self, dag: &Dag, executor: &dyn StepExecutor) -> Result<RunReport, OrchestratorError> {
        fs::create_dir_all(&self.log_dir).map_err(|e| OrchestratorError::Backend {
            orchestrator: FLAVOR,
            source: format!("cannot create `{}`: {e}", self.log_dir.display()).into(),
        })?;
        run_on_threads(
            FLAVOR,
            dag,
            executor,
            self.max_parallelism,
            &|node, _name| {
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    self.run_step(executor, node)
                }))
                .unwrap_or_else(|payload| {
                    StepOutcome::Failed(format!(
                        "the step's job could not be followed: {}",
                        panic_message(&*payload)
                    ))
                })
            },
        )
    }

    fn submit_driver(&self, driver: &StepCommand) -> Result<DetachedDriver, OrchestratorError> {
        // The driver waits for the whole run: the steps' time limit is not its own.
        let settings = SlurmJobSettings {
            time_limit: None,
            ..self.defaults.clone()
        };
        let backend = |message: String| OrchestratorError::Backend {
            orchestrator: FLAVOR,
            source: message.into(),
        };
        let (job, log) = self
            .submit_script(
                driver,
                "driver",
                &settings,
                &["--cpus-per-task=1".to_owned()],
            )
            .map_err(backend)?;
        Ok(DetachedDriver {
            job: format!("Slurm job {job}"),
            log: Some(log),
        })
    }

    fn cancel_steps(&self, _run_id: &str, jobs: &[String]) -> Result<usize, OrchestratorError> {
        let backend = |message: String| OrchestratorError::Backend {
            orchestrator: FLAVOR,
            source: message.into(),
        };
        let mut active = Vec::new();
        for job in jobs {
            if !job.chars().all(|c| c.is_ascii_digit()) || job.is_empty() {
                continue;
            }
            // A job Slurm no longer knows, or that has ended, needs no scancel.
            let output = self
                .slurm("scontrol")
                .args(["show", "job", "-o", job])
                .output()
                .map_err(|e| backend(format!("`scontrol` could not be started: {e}")))?;
            if output.status.success()
                && JobEnd::parse(&String::from_utf8_lossy(&output.stdout)).is_none()
            {
                active.push(job.clone());
            }
        }
        if active.is_empty() {
            return Ok(0);
        }
        let output = self
            .slurm("scancel")
            .args(&active)
            .output()
            .map_err(|e| backend(format!("`scancel` could not be started: {e}")))?;
        if !output.status.success() {
            return Err(backend(format!(
                "`scancel {}` failed: {}",
                active.join(" "),
                String::from_utf8_lossy(&output.stderr).trim()
            )));
        }
        Ok(active.len())
    }

    fn check_step_settings(&self, _step: &str, settings: &serde_json::Value) -> Result<(), String> {
        SlurmJobSettings::from_json(settings).map(drop)
    }
}

impl SlurmOrchestrator {
    /// Submits node `node`'s job, follows it to its end and returns the outcome the executor
    /// reads; submits it again, after the delay, while the executor asks for another attempt.
    fn run_step(&self, executor: &dyn StepExecutor, node: usize) -> StepOutcome {
        let mut attempt = 1;
        loop {
            let command = match executor.step_command(node) {
                Ok(command) => command,
                Err(failure) => return StepOutcome::Failed(failure.message),
            };
            let exit = match self.submit(&command, attempt).and_then(|(job, log)| {
                executor.step_job_started(node, &job);
                let end = self.follow(&job);
                // The job's output, in the shared log folder once the job has ended.
                if let Ok(mut file) = fs::File::open(&log) {
                    executor.step_output(node, &mut file);
                }
                end
            }) {
                Ok(end) => end.exit(),
                Err(lost) => ProcessExit::Lost(lost),
            };
            match executor.step_process_ended(node, &exit) {
                Ok(()) => return StepOutcome::Succeeded,
                Err(failure) => match failure.retry_after {
                    Some(delay) => std::thread::sleep(delay),
                    None => return StepOutcome::Failed(failure.message),
                },
            }
            attempt += 1;
        }
    }

    /// A Slurm command with this orchestrator's `SLURM_CONF`.
    fn slurm(&self, program: &str) -> Command {
        let mut command = Command::new(program);
        if let Some(conf) = &self.slurm_conf {
            command.env("SLURM_CONF", conf);
        }
        command
    }

    /// Writes the step's job script and submits it with the step's resources and
    /// settings; returns the job id and the file its output goes to.
    fn submit(&self, step: &StepCommand, attempt: u32) -> Result<(String, PathBuf), String> {
        let settings = match step.settings.get(FLAVOR) {
            Some(own) => self.defaults.with(&SlurmJobSettings::from_json(own)?),
            None => self.defaults.clone(),
        };
        let mut resources = Vec::new();
        if let Some(cpus) = step.resources.cpus {
            resources.push(format!("--cpus-per-task={cpus}"));
        }
        if let Some(memory) = step.resources.memory_mib {
            resources.push(format!("--mem={}", format_memory(memory)));
        }
        if let Some(gpus) = step.resources.gpus {
            resources.push(format!("--gres=gpu:{gpus}"));
        }
        self.submit_script(
            step,
            &format!("{}-{attempt}", step.step),
            &settings,
            &resources,
        )
    }

    /// Writes `command` as the job script `<run>/<stem>.sh` and submits it with `settings`
    /// and `resources`; its output (standard output and error) goes to
    /// `<run>/<stem>-<job id>.log`. Returns the job id and that file.
    fn submit_script(
        &self,
        command: &StepCommand,
        stem: &str,
        settings: &SlurmJobSettings,
        resources: &[String],
    ) -> Result<(String, PathBuf), String> {
        let folder = self.log_dir.join(&command.run_id);
        fs::create_dir_all(&folder)
            .map_err(|e| format!("cannot create `{}`: {e}", folder.display()))?;
        let script = folder.join(format!("{stem}.sh"));
        fs::write(&script, job_script(command))
            .map_err(|e| format!("cannot write `{}`: {e}", script.display()))?;
        let mut sbatch = self.slurm("sbatch");
        sbatch
            .arg("--parsable")
            .arg(format!("--job-name=zenml-{}", command.step))
            .arg(format!(
                "--output={}",
                folder.join(format!("{stem}-%j.log")).display()
            ))
            .arg(format!("--chdir={}", command.current_dir.display()))
            .args(resources)
            .args(settings.sbatch_args())
            .arg(&script);
        let output = sbatch
            .output()
            .map_err(|e| format!("`sbatch` could not be started (is Slurm installed?): {e}"))?;
        if !output.status.success() {
            return Err(format!(
                "`sbatch` refused the job: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            ));
        }
        let text = String::from_utf8_lossy(&output.stdout);
        // `--parsable` prints `id` or `id;cluster`.
        let job = text
            .trim()
            .split(';')
            .next()
            .filter(|id| !id.is_empty() && id.chars().all(|c| c.is_ascii_digit()))
            .map(str::to_owned)
            .ok_or_else(|| format!("`sbatch` printed no job id: `{}`", text.trim()))?;
        let log = folder.join(format!("{stem}-{job}.log"));
        Ok((job, log))
    }

    /// Reads the job's state every poll interval until it has ended.
    fn follow(&self, job: &str) -> Result<JobEnd, String> {
        loop {
            let output = self
                .slurm("scontrol")
                .args(["show", "job", "-o", job])
                .output()
                .map_err(|e| format!("`scontrol` could not be started: {e}"))?;
            let text = String::from_utf8_lossy(&output.stdout);
            if !output.status.success() {
                return Err(format!(
                    "job {job} is no longer known to Slurm: {}",
                    String::from_utf8_lossy(&output.stderr).trim()
                ));
            }
            if let Some(end) = JobEnd::parse(&text) {
                return Ok(end);
            }
            std::thread::sleep(self.poll_interval);
        }
    }
}

/// The batch script of a step: its environment, then its command, replacing the shell.
fn job_script(step: &StepCommand) -> String {
    let mut script = String::from(
        "#!/bin/sh\n# A step of a zenml-rs run, submitted by the slurm orchestrator.\n",
    );
    for (key, value) in &step.env {
        let _ = writeln!(script, "export {key}={}", quote(value));
    }
    let _ = write!(
        script,
        "exec {}",
        quote(&step.program.display().to_string())
    );
    for arg in &step.args {
        let _ = write!(script, " {}", quote(arg));
    }
    script.push('\n');
    script
}

/// `text` in single quotes for `/bin/sh`.
fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "'\\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_states_are_read_from_scontrol() {
        let line = "JobId=7 JobName=zenml-left JobState=FAILED Reason=NonZeroExitCode \
                    ExitCode=0:9 NodeList=n2 BatchHost=n2";
        let end = JobEnd::parse(line).unwrap_or_else(|| panic!("ended"));
        assert_eq!(end.node.as_deref(), Some("n2"));
        assert_eq!(end.exit(), ProcessExit::Signal(9));
        let failed = JobEnd::parse("JobState=FAILED ExitCode=3:0 NodeList=n1")
            .unwrap_or_else(|| panic!("ended"));
        assert_eq!(failed.exit(), ProcessExit::Code(3));
        let done =
            JobEnd::parse("JobState=COMPLETED ExitCode=0:0").unwrap_or_else(|| panic!("ended"));
        assert_eq!(done.exit(), ProcessExit::Code(0));
        assert!(JobEnd::parse("JobState=RUNNING ExitCode=0:0").is_none());
        assert!(JobEnd::parse("JobState=PENDING Reason=Resources").is_none());
        let timeout =
            JobEnd::parse("JobState=TIMEOUT ExitCode=0:15").unwrap_or_else(|| panic!("ended"));
        assert!(
            timeout.exit().to_string().contains("time limit"),
            "{}",
            timeout.exit()
        );
    }

    #[test]
    fn job_scripts_quote_everything() {
        let step = StepCommand {
            program: "/opt/my pipeline".into(),
            args: vec!["--zenml-step".to_owned(), "it's".to_owned()],
            env: vec![("ZENML_STACK".to_owned(), "a b".to_owned())],
            current_dir: "/tmp".into(),
            run_id: "r".to_owned(),
            step: "s".to_owned(),
            resources: Default::default(),
            settings: Default::default(),
        };
        let script = job_script(&step);
        assert!(script.contains("export ZENML_STACK='a b'\n"), "{script}");
        assert!(
            script.ends_with("exec '/opt/my pipeline' '--zenml-step' 'it'\\''s'\n"),
            "{script}"
        );
    }
}
