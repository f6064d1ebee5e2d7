//! One module per command group.

mod component;
mod config;
mod configs;
mod init;
mod materializer;
mod runs;
mod stack;

use std::path::PathBuf;

use anyhow::Context;
use zenml::stack::Repository;

use crate::args::{Cli, Command};
use crate::output::Output;

/// Runs the parsed command.
pub(crate) fn dispatch(cli: Cli) -> anyhow::Result<()> {
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
        Command::Artifact(cmd) => runs::artifact(out, cmd),
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
