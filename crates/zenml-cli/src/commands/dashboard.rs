//! `zenml up` and `zenml down`: the dashboard.

use std::io::Write;
use std::net::IpAddr;

use anyhow::Context;
use zenml::core::SecretString;
use zenml_dashboard::{Dashboard, DashboardOptions};

use crate::output::Output;

/// Serves the dashboard until Ctrl-C, SIGTERM or `zenml down`.
pub(crate) fn up(
    host: IpAddr,
    port: u16,
    stack: Option<String>,
    open: bool,
    token_env: Option<String>,
) -> anyhow::Result<()> {
    let repo = super::repository()?;
    let token = match &token_env {
        None => None,
        Some(var) => match std::env::var(var) {
            Ok(value) if !value.trim().is_empty() => Some(SecretString::new(value.trim())),
            _ => return Err(zenml_dashboard::DashboardError::TokenMissing(var.clone()).into()),
        },
    };
    let dashboard = Dashboard::bind(
        &repo,
        DashboardOptions {
            host,
            port,
            stack,
            token,
        },
    )?;
    let url = dashboard.url();
    // The first line is the URL, flushed at once: scripts wait for it.
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "dashboard: {url}")?;
    writeln!(stdout, "Stop it with Ctrl-C or `zenml down`.")?;
    stdout.flush()?;
    drop(stdout);
    if open {
        // A missing browser is not a reason to stop serving.
        if let Err(e) = open_browser(&url) {
            eprintln!("cannot open a browser ({e}); open {url} yourself");
        }
    }
    dashboard.serve().context("the dashboard stopped")
}

/// Opens `url` in the desktop's default browser.
fn open_browser(url: &str) -> std::io::Result<()> {
    let program = if cfg!(target_os = "macos") {
        "open"
    } else {
        "xdg-open"
    };
    std::process::Command::new(program)
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map(drop)
}

/// Stops the dashboard of this repository.
pub(crate) fn down(out: Output) -> anyhow::Result<()> {
    let repo = super::repository()?;
    let stopped = zenml_dashboard::stop_running_dashboard(&repo)?;
    out.done(format!(
        "Stopped the dashboard at {} (process {}).",
        stopped.url, stopped.pid
    ));
    Ok(())
}
