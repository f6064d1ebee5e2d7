//! What an orchestrator needs to run a step outside this process: the command that runs it
//! ([`StepCommand`]) and how that command ended ([`ProcessExit`]).

use std::fmt;
use std::path::PathBuf;
use std::process::ExitStatus;

use crate::StepResources;

/// The command that runs one step of a recorded run in a process of its own: the
/// pipeline's program in its step mode. An orchestrator starts it wherever it runs steps (a
/// child process, a cluster job, a container) with `env` added to the environment and
/// `current_dir` as the working folder.
///
/// Nothing secret is on the command line or in `env`: the step process reads credentials
/// from its environment or from the repository's secrets file, as the process that started
/// the run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepCommand {
    /// The program to start (an absolute path on the machine that started the run).
    pub program: PathBuf,
    /// Its arguments.
    pub args: Vec<String>,
    /// Environment variables to set for it, on top of those it inherits: which repository
    /// and which stack to use.
    pub env: Vec<(String, String)>,
    /// The folder to start it in.
    pub current_dir: PathBuf,
    /// The id of the run the step belongs to, for naming jobs.
    pub run_id: String,
    /// The step's name.
    pub step: String,
    /// What the step asks of the machine that runs it.
    pub resources: StepResources,
    /// The step's orchestrator settings from the run configuration
    /// (`[steps.NAME.settings.FLAVOR]`), by flavor name; an orchestrator reads its own
    /// flavor's entry, which [`Orchestrator::check_step_settings`](crate::Orchestrator::check_step_settings)
    /// accepted.
    pub settings: std::collections::BTreeMap<String, serde_json::Value>,
}

impl StepCommand {
    /// A [`std::process::Command`] that runs this step on this machine.
    pub fn to_command(&self) -> std::process::Command {
        let mut command = std::process::Command::new(&self.program);
        command
            .args(&self.args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .current_dir(&self.current_dir);
        command
    }
}

/// How the process (or job) that ran a step ended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProcessExit {
    /// It exited with this code; 0 is success.
    Code(i32),
    /// A signal ended it (Unix), e.g. 9 for `SIGKILL`.
    Signal(i32),
    /// It did not end in a way the orchestrator could observe: it could not be started, or
    /// its job vanished. The text says what is known.
    Lost(String),
}

impl ProcessExit {
    /// Whether the process exited with code 0.
    pub fn success(&self) -> bool {
        matches!(self, ProcessExit::Code(0))
    }
}

impl From<ExitStatus> for ProcessExit {
    fn from(status: ExitStatus) -> ProcessExit {
        #[cfg(unix)]
        {
            use std::os::unix::process::ExitStatusExt;
            if let Some(signal) = status.signal() {
                return ProcessExit::Signal(signal);
            }
        }
        match status.code() {
            Some(code) => ProcessExit::Code(code),
            None => ProcessExit::Lost(format!("it ended without an exit code ({status})")),
        }
    }
}

impl fmt::Display for ProcessExit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProcessExit::Code(code) => write!(f, "exited with code {code}"),
            ProcessExit::Signal(signal) => match signal_name(*signal) {
                Some(name) => write!(f, "was killed by signal {signal} ({name})"),
                None => write!(f, "was killed by signal {signal}"),
            },
            ProcessExit::Lost(what) => write!(f, "was lost: {what}"),
        }
    }
}

/// The name of a common Linux signal.
fn signal_name(signal: i32) -> Option<&'static str> {
    Some(match signal {
        1 => "SIGHUP",
        2 => "SIGINT",
        3 => "SIGQUIT",
        4 => "SIGILL",
        5 => "SIGTRAP",
        6 => "SIGABRT",
        7 => "SIGBUS",
        8 => "SIGFPE",
        9 => "SIGKILL",
        10 => "SIGUSR1",
        11 => "SIGSEGV",
        12 => "SIGUSR2",
        13 => "SIGPIPE",
        14 => "SIGALRM",
        15 => "SIGTERM",
        24 => "SIGXCPU",
        25 => "SIGXFSZ",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exits_say_what_ended_the_process() {
        assert_eq!(ProcessExit::Code(3).to_string(), "exited with code 3");
        assert_eq!(
            ProcessExit::Signal(9).to_string(),
            "was killed by signal 9 (SIGKILL)"
        );
        assert_eq!(
            ProcessExit::Signal(63).to_string(),
            "was killed by signal 63"
        );
        assert!(ProcessExit::Code(0).success());
        assert!(!ProcessExit::Signal(15).success() && !ProcessExit::Code(1).success());
    }

    #[cfg(unix)]
    #[test]
    fn exit_statuses_of_real_processes_are_told_apart() {
        let run = |script: &str| -> ProcessExit {
            std::process::Command::new("/bin/sh")
                .args(["-c", script])
                .status()
                .map(ProcessExit::from)
                .unwrap_or_else(|e| ProcessExit::Lost(e.to_string()))
        };
        assert_eq!(run("exit 0"), ProcessExit::Code(0));
        assert_eq!(run("exit 7"), ProcessExit::Code(7));
        assert_eq!(run("kill -9 $$"), ProcessExit::Signal(9));
        assert_eq!(run("kill -ABRT $$"), ProcessExit::Signal(6));
    }
}
