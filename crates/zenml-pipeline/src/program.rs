//! A pipeline's program: the command line of a binary whose `main` calls
//! [`Pipeline::run_from_args`].

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::ExitCode;

use zenml_core::ConfigError;
use zenml_metadata_store::StepStatus;

use crate::config::RunConfig;
use crate::drive::DRIVE_OPTION;
use crate::entrypoint::{ATTEMPT_OPTION, RUN_OPTION, STEP_OPTION};
use crate::pipeline::{Pipeline, RunError, RunOptions, RunOutcome};

/// What a pipeline's command line asks for.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Invocation {
    /// Run the pipeline.
    Run(RunOptions),
    /// Run one step of a recorded run (`--zenml-run RUN --zenml-step STEP`).
    Step {
        /// The run's name or id.
        run: String,
        /// The step's name.
        step: String,
        /// Which attempt of the step (`--zenml-attempt N`, default 1).
        attempt: u32,
        /// The stack and repository to use.
        options: RunOptions,
    },
    /// Drive a recorded run to its end (`--zenml-run RUN --zenml-drive`): what a detached
    /// run's driver does.
    Drive {
        /// The run's name or id.
        run: String,
        /// The stack and repository to use.
        options: RunOptions,
    },
    /// Print the options (`--help`, `-h`).
    Help,
    /// Print the version (`--version`, `-V`).
    Version,
}

/// The options of a pipeline's program, for `--help` and for errors.
const OPTIONS: &str = "\
Options:
  -c, --config FILE      run configuration (TOML): parameters, caching, the run's name
      --run-name NAME    the run's name (default: from the configuration, or generated)
      --stack NAME       the stack to run on (default: ZENML_STACK, or the active stack)
      --no-cache         run every step; reuse no earlier results
      --detach           record the run, hand its driver to the orchestrator and return;
                         the run completes without this process (`zenml run describe RUN`
                         follows it, `zenml run cancel RUN` stops it)
  -q, --quiet            no progress output
      --zenml-run RUN --zenml-step STEP
                         run only step STEP of the recorded run RUN (its name or id) and
                         record it, as an orchestrator does for each step on a worker; the
                         run's upstream steps must have completed, and this program's
                         pipeline must be the one the run was started with
      --zenml-attempt N  with --zenml-step: which attempt of the step this is (default 1)
      --zenml-run RUN --zenml-drive
                         drive the recorded run RUN to its end, as the driver of a
                         detached run does
  -h, --help             print this help
  -V, --version          print the version";

impl Pipeline {
    /// Runs the pipeline's program with the process's command line: the pipeline (with
    /// `--config FILE`, `--run-name NAME`, `--stack NAME`, `--no-cache`, `--quiet`), one
    /// step of a recorded run (`--zenml-run RUN --zenml-step STEP`, see
    /// [`Pipeline::run_step`]), `--help` or `--version`. Prints the outcome and returns the
    /// process's exit code.
    pub fn run_from_args(&self) -> ExitCode {
        let mut args = std::env::args();
        let program = args
            .next()
            .map(PathBuf::from)
            .and_then(|path| path.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_else(|| self.name().to_owned());
        let invocation = match self.parse_args(args) {
            Ok(invocation) => invocation,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        };
        match invocation {
            Invocation::Help => {
                println!(
                    "Runs pipeline `{}` on a stack of the zenml repository around the current \
                     folder.\n\nUsage: {program} [OPTIONS]\n\n{OPTIONS}",
                    self.name()
                );
                ExitCode::SUCCESS
            }
            Invocation::Version => {
                println!(
                    "{program} (pipeline `{}`), zenml {}",
                    self.name(),
                    env!("CARGO_PKG_VERSION")
                );
                ExitCode::SUCCESS
            }
            Invocation::Run(options) => report_run(self.run(&options)),
            Invocation::Drive { run, options } => report_run(self.drive_run(&run, &options)),
            Invocation::Step {
                run,
                step,
                attempt,
                options,
            } => report_step(
                self.run_step_attempt(&run, &step, attempt, &options),
                options.quiet,
            ),
        }
    }

    /// Parses and carries out a command line (without the program's name) as
    /// [`Pipeline::run_from_args`] does, returning the outcome instead of printing it: a
    /// run's, or for `--zenml-run RUN --zenml-step STEP` the run and that one step. `--help`
    /// and `--version` are refused, since they print instead of running.
    pub fn run_with_args(
        &self,
        args: impl IntoIterator<Item = String>,
    ) -> Result<RunOutcome, RunError> {
        match self.parse_args(args)? {
            Invocation::Run(options) => self.run(&options),
            Invocation::Step {
                run,
                step,
                attempt,
                options,
            } => self.run_step_attempt(&run, &step, attempt, &options),
            Invocation::Drive { run, options } => self.drive_run(&run, &options),
            Invocation::Help | Invocation::Version => Err(ConfigError::Invalid(
                "`--help` and `--version` print instead of running; the program's `main` \
                 handles them through `run_from_args`"
                    .to_owned(),
            )
            .into()),
        }
    }

    /// Parses a pipeline program's command line (without the program's name). Unknown
    /// options, missing values, a configuration file that does not fit the pipeline, and
    /// only one of `--zenml-run` and `--zenml-step`, are errors that list what is valid.
    pub fn parse_args(
        &self,
        args: impl IntoIterator<Item = String>,
    ) -> Result<Invocation, RunError> {
        let mut options = RunOptions::default();
        let mut config_file = None;
        let (mut run_name, mut run, mut step, mut attempt) = (None, None, None, None);
        let (mut no_cache, mut drive) = (false, false);
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            let (flag, inline) = match arg.split_once('=') {
                Some((f, v)) if f.starts_with("--") => (f.to_owned(), Some(v.to_owned())),
                _ => (arg.clone(), None),
            };
            let mut value = |what: &str| {
                inline
                    .clone()
                    .or_else(|| args.next())
                    .ok_or_else(|| ConfigError::Invalid(format!("`{flag}` needs a {what}")))
            };
            match flag.as_str() {
                "--config" | "-c" => config_file = Some(PathBuf::from(value("file")?)),
                "--run-name" => run_name = Some(value("name")?),
                "--stack" => options.stack = Some(value("stack name")?),
                "--no-cache" => no_cache = true,
                "--quiet" | "-q" => options.quiet = true,
                "--detach" => options.detach = true,
                DRIVE_OPTION => drive = true,
                RUN_OPTION => run = Some(value("run name or id")?),
                STEP_OPTION => step = Some(value("step name")?),
                ATTEMPT_OPTION => {
                    let text = value("attempt number")?;
                    attempt =
                        Some(text.parse::<u32>().ok().filter(|n| *n > 0).ok_or_else(|| {
                            ConfigError::Invalid(format!(
                                "`{ATTEMPT_OPTION} {text}`: an attempt is a number from 1"
                            ))
                        })?);
                }
                "--help" | "-h" => return Ok(Invocation::Help),
                "--version" | "-V" => return Ok(Invocation::Version),
                other => {
                    return Err(ConfigError::Invalid(format!(
                        "unknown option `{other}`\n\n{OPTIONS}"
                    ))
                    .into());
                }
            }
        }
        let recorded_run = run.is_some();
        if recorded_run
            && (config_file.is_some() || run_name.is_some() || no_cache || options.detach)
        {
            return Err(ConfigError::Invalid(format!(
                "`{RUN_OPTION}` goes on with a recorded run, with the configuration it \
                 recorded; `--config`, `--run-name`, `--no-cache` and `--detach` cannot \
                 change it"
            ))
            .into());
        }
        match (run, step, drive) {
            (Some(_), Some(_), true) => {
                return Err(ConfigError::Invalid(format!(
                    "`{STEP_OPTION}` runs one step and `{DRIVE_OPTION}` a whole run: give one"
                ))
                .into());
            }
            (Some(run), None, true) if attempt.is_none() => {
                options.program = std::env::current_exe().ok();
                return Ok(Invocation::Drive { run, options });
            }
            (None, _, true) => {
                return Err(ConfigError::Invalid(format!(
                    "`{DRIVE_OPTION}` goes with `{RUN_OPTION} RUN`"
                ))
                .into());
            }
            (Some(run), Some(step), false) => {
                return Ok(Invocation::Step {
                    run,
                    step,
                    attempt: attempt.unwrap_or(1),
                    options,
                });
            }
            (None, None, false) if attempt.is_some() => {
                return Err(ConfigError::Invalid(format!(
                    "`{ATTEMPT_OPTION}` goes with `{RUN_OPTION} RUN {STEP_OPTION} STEP`"
                ))
                .into());
            }
            (None, None, false) => {}
            _ => {
                return Err(ConfigError::Invalid(format!(
                    "`{RUN_OPTION} RUN` goes with `{STEP_OPTION} STEP` (and \
                     `{ATTEMPT_OPTION} N`) or with `{DRIVE_OPTION}`, and `{STEP_OPTION}` with \
                     `{RUN_OPTION}`"
                ))
                .into());
            }
        }
        if let Some(file) = config_file {
            options.config = RunConfig::read(&file)?;
            // Resolved here too, before the command line's overrides, so that an error in
            // the file names the file.
            self.resolve(&options.config).map_err(|e| {
                ConfigError::Invalid(format!("run configuration `{}`: {e}", file.display()))
            })?;
        }
        if run_name.is_some() {
            options.config.run_name = run_name;
        }
        if no_cache {
            options.config.enable_cache = Some(false);
        }
        options.program = std::env::current_exe().ok();
        Ok(Invocation::Run(options))
    }
}

/// Prints the outcome of one step of a run (unless `quiet`, or on failure) and returns the
/// exit code.
fn report_step(result: Result<RunOutcome, RunError>, quiet: bool) -> ExitCode {
    match result {
        Ok(outcome) => {
            if !quiet {
                for step in &outcome.steps {
                    println!(
                        "Step `{}` of run `{}`: {}.",
                        step.name,
                        outcome.run.name,
                        step.status.as_str()
                    );
                }
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Prints a run's outcome and returns the exit code.
fn report_run(result: Result<RunOutcome, RunError>) -> ExitCode {
    match result {
        Ok(RunOutcome {
            run,
            detached: Some(driver),
            ..
        }) => {
            println!(
                "Run `{}` of pipeline `{}` submitted: its driver runs as {}{}.",
                run.name,
                run.pipeline_name,
                driver.job,
                driver
                    .log
                    .map(|log| format!(", writing to {}", log.display()))
                    .unwrap_or_default()
            );
            let zenml = cli_command();
            println!(
                "Next: `{zenml} run describe {0}` follows it; `{zenml} run cancel {0}` stops it.",
                run.name
            );
            print_install_hint();
            ExitCode::SUCCESS
        }
        Ok(outcome) => {
            let cached = outcome
                .steps
                .iter()
                .filter(|s| s.status == StepStatus::Cached)
                .count();
            println!(
                "Run `{}` of pipeline `{}` completed: {} steps{}.",
                outcome.run.name,
                outcome.run.pipeline_name,
                outcome.steps.len(),
                if cached > 0 {
                    format!(", {cached} cached")
                } else {
                    String::new()
                }
            );
            let zenml = cli_command();
            println!(
                "Next: `{zenml} run describe {}` shows its steps and artifacts;",
                outcome.run.name
            );
            println!("      `{zenml} up` shows every run in a browser (the dashboard).");
            print_install_hint();
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// How the closing hint runs the `zenml` CLI, so that it works as written: `zenml` when it
/// is installed (on `PATH`), `cargo run -q -p zenml-cli --` in a zenml-rs checkout (where
/// `cargo run --example quickstart` runs), and `zenml` otherwise, with how to install it.
fn cli_command() -> &'static str {
    if cli_installed() || !in_zenml_checkout() {
        "zenml"
    } else {
        "cargo run -q -p zenml-cli --"
    }
}

/// Whether an executable `zenml` is on `PATH`.
fn cli_installed() -> bool {
    std::env::var_os("PATH").is_some_and(|path| {
        std::env::split_paths(&path).any(|dir| {
            std::fs::metadata(dir.join("zenml"))
                .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
        })
    })
}

/// Whether the working folder is a zenml-rs checkout (where `cargo run -p zenml-cli` works).
fn in_zenml_checkout() -> bool {
    std::path::Path::new("crates/zenml-cli/Cargo.toml").is_file()
}

/// When `zenml` is neither installed nor runnable with cargo here, says how to install it.
fn print_install_hint() {
    if !cli_installed() && !in_zenml_checkout() {
        println!(
            "      (install the `zenml` CLI first: `cargo install --path crates/zenml-cli` in a zenml-rs checkout)"
        );
    }
}
