//! Run configurations written from records: `zenml run export-config` and
//! `zenml pipeline copy`.

use std::path::{Path, PathBuf};

use anyhow::Context;
use zenml::pipeline::{Client, ResolvedConfig, RunConfig};

use crate::output::Output;

/// The resolved configuration a run recorded.
fn recorded_config(client: &Client, run: &str) -> anyhow::Result<(String, ResolvedConfig)> {
    let run = client.run(run)?;
    let config: ResolvedConfig =
        serde_json::from_value(run.record.config.clone()).with_context(|| {
            format!(
                "run `{}` recorded a configuration this zenml cannot read",
                run.record.name
            )
        })?;
    Ok((run.record.name, config))
}

/// Writes `config` as TOML after `header`.
fn write_config(path: &Path, header: &str, config: &RunConfig) -> anyhow::Result<()> {
    let body = toml::to_string_pretty(config).context("cannot write the configuration as TOML")?;
    write_text(path, &format!("{header}{body}"))
}

/// Writes `text` to `path`, atomically enough for a user file: a whole file or an error.
fn write_text(path: &Path, text: &str) -> anyhow::Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create `{}`", parent.display()))?;
    }
    std::fs::write(path, text).with_context(|| format!("cannot write `{}`", path.display()))
}

pub(crate) fn export_config(
    out: Output,
    client: &Client,
    run: &str,
    file: &Path,
) -> anyhow::Result<()> {
    let (name, config) = recorded_config(client, run)?;
    let text = config
        .export_toml(&name, &file.display().to_string())
        .context("cannot write the configuration as TOML")?;
    write_text(file, &text)?;
    out.done(format!(
        "Wrote the configuration of run `{name}` to `{}`.",
        file.display()
    ));
    Ok(())
}

pub(crate) fn copy_pipeline(
    out: Output,
    client: &Client,
    source: &str,
    target: &str,
    file: Option<PathBuf>,
) -> anyhow::Result<()> {
    zenml::core::Name::new(target)?;
    if client
        .pipelines()?
        .iter()
        .any(|p| p.pipeline.name == target)
    {
        anyhow::bail!("pipeline `{target}` already has runs; choose another name");
    }
    let latest = client.latest_run(source)?;
    let (_, config) = recorded_config(client, &latest.record.id)?;
    let mut copy = config.to_run_config();
    copy.pipeline = Some(target.to_owned());
    let file = file.unwrap_or_else(|| PathBuf::from(format!("{target}.toml")));
    let header = format!(
        "# Pipeline `{target}`: a copy of pipeline `{source}` (from its run `{}`).\n\
         # Change parameters below, then run `{source}`'s program with `--config {}`.\n\
         # Unchanged steps reuse `{source}`'s outputs from the cache.\n\n",
        latest.record.name,
        file.display()
    );
    write_config(&file, &header, &copy)?;
    out.done(format!(
        "Wrote pipeline `{target}`'s configuration to `{}`: edit it, then run `{source}`'s program with `--config {}`.",
        file.display(),
        file.display()
    ));
    Ok(())
}
