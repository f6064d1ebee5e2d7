//! One module per command group.

mod artifacts;
mod cache;
mod compare;
mod component;
mod config;
mod configs;
mod dashboard;
mod data;
mod init;
mod lineage;
mod materializer;
pub(crate) mod paging;
mod prune;
mod runs;
mod stack;
mod verify;

use std::path::PathBuf;

use anyhow::{Context, bail};
use zenml::stack::Repository;

use crate::args::{ArtifactCommand, Cli, Command, OutputFormat, PipelineCommand, RunCommand};
use crate::output::Output;

/// Runs the parsed command.
pub(crate) fn dispatch(cli: Cli) -> anyhow::Result<()> {
    check_output_format(cli.output, &cli.command)?;
    let out = Output { format: cli.output };
    match cli.command {
        Command::Init { path } => init::init(out, path),
        Command::Version => init::version(out),
        Command::Stack(cmd) => stack::run(out, cmd),
        Command::Orchestrator(cmd) => {
            component::run(out, zenml::core::ComponentKind::Orchestrator, cmd)
        }
        Command::MetadataStore(cmd) => {
            component::run(out, zenml::core::ComponentKind::MetadataStore, cmd)
        }
        Command::ArtifactStore(cmd) => {
            component::run(out, zenml::core::ComponentKind::ArtifactStore, cmd)
        }
        Command::Materializer(cmd) => materializer::run(out, cmd),
        Command::Config(cmd) => config::run(out, cmd),
        Command::Pipeline(cmd) => runs::pipeline(out, cmd),
        Command::Run(cmd) => runs::run(out, cmd),
        Command::Step(cmd) => runs::step(out, cmd),
        Command::Artifact(cmd) => artifacts::artifact(out, cmd),
        Command::Cache(cmd) => cache::run(out, cmd),
        Command::Up {
            host,
            port,
            stack,
            open,
            token_env,
        } => dashboard::up(host, port, stack, open, token_env),
        Command::Down => dashboard::down(out),
    }
}

/// Refuses `--output dot` for commands that print no graph and `--output csv` for commands
/// that print no comparison table, before anything runs.
fn check_output_format(format: OutputFormat, command: &Command) -> anyhow::Result<()> {
    let graph = matches!(
        command,
        Command::Artifact(ArtifactCommand::Lineage { .. }) | Command::Run(RunCommand::Dag { .. })
    );
    let csv = matches!(command, Command::Pipeline(PipelineCommand::Compare { .. }));
    let formats = if csv {
        "`table`, `json` or `csv`"
    } else {
        "`table` or `json`"
    };
    match format {
        OutputFormat::Dot if !graph => bail!(
            "`--output dot` is only for the graph commands `zenml artifact lineage` and `zenml run dag`; \
             this command prints {formats}"
        ),
        OutputFormat::Csv if !csv => bail!(
            "`--output csv` is only for `zenml pipeline compare`; this command prints `table` or `json`"
        ),
        _ => Ok(()),
    }
}

/// The working directory.
pub(crate) fn current_dir() -> anyhow::Result<PathBuf> {
    std::env::current_dir().context("cannot determine the current folder")
}

/// The repository around the working directory.
pub(crate) fn repository() -> anyhow::Result<Repository> {
    Ok(Repository::discover(&current_dir()?)?)
}
