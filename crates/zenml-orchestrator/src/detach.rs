//! What the flavors that run steps on this machine (`local`, `process`) share beyond the
//! scheduler: starting a run's driver in the background (`--detach`), and finding and
//! stopping the step processes of a cancelled run.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use crate::{OrchestratorError, StepCommand};

/// Where the `local` and `process` flavors write the output of detached drivers, relative
/// to the repository.
pub(crate) const DRIVER_LOGS: &str = ".zen/drivers";

/// Where [`Orchestrator::submit_driver`](crate::Orchestrator::submit_driver) started a
/// run's driver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DetachedDriver {
    /// What runs the driver, worded for the user: `process 4242`, `Slurm job 17`.
    pub job: String,
    /// The file its output goes to, when it is a file the user can read.
    pub log: Option<PathBuf>,
}

/// [`Orchestrator::submit_driver`](crate::Orchestrator::submit_driver) of the flavors that
/// run drivers on this machine: `driver` in the background, its output in
/// `<folder>/<run id>.log`.
pub(crate) fn submit_in_background(
    flavor: &'static str,
    driver: &StepCommand,
    folder: &Path,
) -> Result<DetachedDriver, OrchestratorError> {
    let log = folder.join(format!("{}.log", driver.run_id));
    let pid = spawn_detached(driver, &log).map_err(|e| OrchestratorError::Backend {
        orchestrator: flavor,
        source: format!(
            "cannot start the run's driver `{}` in the background: {e}",
            driver.program.display()
        )
        .into(),
    })?;
    Ok(DetachedDriver {
        job: format!("process {pid}"),
        log: Some(log),
    })
}

/// Starts `command` as a background process of its own process group (so that Ctrl-C in
/// the terminal that started it does not reach it), its output appended to `log`, its input
/// closed; returns its process id. It keeps running when this process exits; while this
/// process lives, a thread reaps it when it ends.
pub(crate) fn spawn_detached(command: &StepCommand, log: &Path) -> io::Result<u32> {
    if let Some(folder) = log.parent() {
        std::fs::create_dir_all(folder)?;
    }
    let out = File::options().create(true).append(true).open(log)?;
    let err = out.try_clone()?;
    let mut process = command.to_command();
    process.stdin(Stdio::null()).stdout(out).stderr(err);
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        process.process_group(0);
    }
    let mut child = process.spawn()?;
    let pid = child.id();
    // Without a waiter, the ended driver would stay a zombie for as long as this process
    // lives; the thread dies with this process otherwise.
    let _ = std::thread::Builder::new()
        .name("zenml-detached-driver".to_owned())
        .spawn(move || child.wait());
    Ok(pid)
}

/// The process ids of this machine's step processes of run `run_id`: processes whose
/// command line holds `--zenml-run <run_id>` and `--zenml-step` (read from `/proc`, so
/// none on systems without it).
pub(crate) fn step_processes_of_run(run_id: &str) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut pids: Vec<u32> = entries
        .filter_map(Result::ok)
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|cmdline| is_step_of_run(&cmdline, run_id))
        })
        .collect();
    pids.sort_unstable();
    pids
}

/// Whether a NUL-separated command line runs a step of run `run_id`.
fn is_step_of_run(cmdline: &[u8], run_id: &str) -> bool {
    let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
    let names_run = args
        .windows(2)
        .any(|pair| pair[0] == b"--zenml-run" && pair[1] == run_id.as_bytes());
    names_run && args.contains(&b"--zenml-step".as_slice())
}

/// Sends `SIGTERM` to process `pid`; `Ok(false)` when it is already gone.
pub fn terminate_process(pid: u32) -> io::Result<bool> {
    // The shell's `kill` is there on every Unix; no `unsafe` call to `kill(2)` needed.
    let status = std::process::Command::new("/bin/sh")
        .args([
            "-c",
            "kill -TERM \"$1\" 2>/dev/null",
            "sh",
            &pid.to_string(),
        ])
        .status()?;
    Ok(status.success())
}

/// Stops the step processes of run `run_id` on this machine; returns how many it stopped.
pub(crate) fn terminate_steps_of_run(run_id: &str) -> io::Result<usize> {
    let mut stopped = 0;
    for pid in step_processes_of_run(run_id) {
        if terminate_process(pid)? {
            stopped += 1;
        }
    }
    Ok(stopped)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_command_lines_are_recognized_by_run() {
        let line = b"/bin/pipe\0--zenml-run\0abc\0--zenml-step\0train\0--quiet\0";
        assert!(is_step_of_run(line, "abc"));
        assert!(!is_step_of_run(line, "abd"));
        assert!(!is_step_of_run(
            b"/bin/pipe\0--zenml-run\0abc\0--zenml-drive\0",
            "abc"
        ));
        assert!(!is_step_of_run(b"/bin/pipe\0abc\0--zenml-step\0x\0", "abc"));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_running_step_process_is_found_and_stopped() {
        let run = uuid_like();
        // `exec -a` is not portable; a shell script whose arguments are the step's.
        let mut child = std::process::Command::new("/bin/sh")
            .args([
                "-c",
                "echo ready; read _",
                "sh",
                "--zenml-run",
                &run,
                "--zenml-step",
                "s",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{e}"));
        // Once the script speaks, the shell runs with its arguments.
        let mut ready = String::new();
        if let Some(out) = child.stdout.as_mut() {
            let _ = std::io::BufRead::read_line(&mut std::io::BufReader::new(out), &mut ready);
        }
        assert_eq!(ready, "ready\n");
        assert_eq!(step_processes_of_run(&run), vec![child.id()]);
        assert_eq!(
            terminate_steps_of_run(&run).unwrap_or_else(|e| panic!("{e}")),
            1
        );
        let status = child.wait().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            crate::ProcessExit::from(status),
            crate::ProcessExit::Signal(15)
        );
        assert!(step_processes_of_run(&run).is_empty());
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_detached_process_writes_its_log() {
        let folder = tempfile_dir();
        let log = folder.join("driver.log");
        let command = StepCommand {
            program: "/bin/sh".into(),
            args: vec!["-c".to_owned(), "echo driven; echo oops >&2".to_owned()],
            env: Vec::new(),
            current_dir: folder.clone(),
            run_id: "r".to_owned(),
            step: "driver".to_owned(),
            resources: Default::default(),
            settings: Default::default(),
        };
        let pid = spawn_detached(&command, &log).unwrap_or_else(|e| panic!("{e}"));
        assert!(pid > 0);
        // The process ends on its own; wait for its log through the file, not a sleep.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            if text.contains("driven") && text.contains("oops") {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "log: {text:?}");
            std::thread::yield_now();
        }
        let _ = std::fs::remove_dir_all(&folder);
    }

    fn uuid_like() -> String {
        format!(
            "test-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0)
        )
    }

    fn tempfile_dir() -> PathBuf {
        let dir = std::env::temp_dir().join(uuid_like());
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
        dir
    }
}
