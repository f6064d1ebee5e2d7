//! `zenml stack …`.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;

use anyhow::{Context, bail};
use serde_json::json;
use zenml::core::{ComponentKind, Name};
use zenml::stack::{ActiveStackSource, Repository, StackDefinition, StackExport};

use super::component::display_config;
use crate::args::StackCommand;
use crate::output::{Output, active_mark, table, value_json, value_text, warn};

pub(crate) fn run(out: Output, cmd: StackCommand) -> anyhow::Result<()> {
    let mut repo = super::repository()?;
    match cmd {
        StackCommand::Register {
            name,
            orchestrator,
            metadata_store,
            artifact_store,
            set,
        } => {
            let stack = StackDefinition {
                orchestrator: Name::new(&orchestrator)?,
                metadata_store: Name::new(&metadata_store)?,
                artifact_store: Name::new(&artifact_store)?,
            };
            repo.register_stack(&name, stack)?;
            if set {
                repo.set_active_stack(&name)?;
            }
            repo.save()?;
            out.done(format!("Registered stack `{name}`."));
            if set {
                out.done(format!("Active stack set to `{name}`."));
            }
        }
        StackCommand::List => list(out, &repo)?,
        StackCommand::Describe { name } => {
            let name = match name {
                Some(n) => n,
                None => repo.active_stack_name()?.0.to_string(),
            };
            describe(out, &repo, &name)?;
        }
        StackCommand::Get => {
            let (name, source) = repo.active_stack_name()?;
            let from = match source {
                ActiveStackSource::Repository => "repository",
                ActiveStackSource::Environment => "ZENML_STACK",
            };
            out.show(
                json!({ "name": name.as_str(), "source": from }),
                || match source {
                    ActiveStackSource::Repository => format!("The active stack is `{name}`."),
                    ActiveStackSource::Environment => {
                        format!("The active stack is `{name}` (from ZENML_STACK).")
                    }
                },
            );
        }
        StackCommand::Check { name } => {
            let name = match name {
                Some(n) => n,
                None => repo.active_stack_name()?.0.to_string(),
            };
            let stack = zenml::stack::open_stack(&repo, &name)?;
            let schema = stack.metadata_store.schema_version()?;
            let artifacts = stack.artifact_store.uri();
            probe_artifact_store(stack.artifact_store.as_ref()).with_context(|| {
                format!("the artifact store `{artifacts}` of stack `{name}` does not work")
            })?;
            let json = json!({
                "name": name,
                "orchestrator": format!("{:?}", stack.orchestrator),
                "metadata_store": { "uri": stack.metadata_store.uri(), "schema_version": schema },
                "artifact_store": { "uri": artifacts, "reachable": true },
            });
            out.show(json, || {
                format!(
                    "Stack `{name}` works:\n  metadata store  {} (schema version {schema})\n  artifact store  {artifacts} (reachable)",
                    stack.metadata_store.uri(),
                )
            });
        }
        StackCommand::Set { name } => {
            repo.set_active_stack(&name)?;
            repo.save()?;
            out.done(format!("Active stack set to `{name}`."));
            if let Ok(env) = std::env::var(zenml::stack::STACK_ENV)
                && !env.is_empty()
                && env != name
            {
                warn(format!(
                    "ZENML_STACK is set to `{env}` and overrides the repository's active stack"
                ));
            }
        }
        StackCommand::Update {
            name,
            orchestrator,
            metadata_store,
            artifact_store,
        } => {
            let name = match name {
                Some(n) => n,
                None => repo.active_stack_name()?.0.to_string(),
            };
            let changes: Vec<(ComponentKind, String)> = [
                (ComponentKind::Orchestrator, orchestrator),
                (ComponentKind::MetadataStore, metadata_store),
                (ComponentKind::ArtifactStore, artifact_store),
            ]
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k, v)))
            .collect();
            if changes.is_empty() {
                bail!("nothing to update: give -o, -m or -a");
            }
            repo.update_stack(&name, &changes)?;
            repo.save()?;
            out.done(format!("Updated stack `{name}`."));
        }
        StackCommand::Rename { old, new } => {
            repo.rename_stack(&old, &new)?;
            repo.save()?;
            out.done(format!("Renamed stack `{old}` to `{new}`."));
        }
        StackCommand::Copy { source, target } => {
            repo.copy_stack(&source, &target)?;
            repo.save()?;
            out.done(format!("Copied stack `{source}` to `{target}`."));
        }
        StackCommand::Delete { name, yes } => {
            repo.delete_stack(&name)?;
            if !yes
                && !confirm(&format!(
                    "Delete stack `{name}`? Its components stay registered."
                ))?
            {
                bail!("stack `{name}` not deleted");
            }
            repo.save()?;
            out.done(format!("Deleted stack `{name}`."));
        }
        StackCommand::Export { name, file } => {
            let (export, left_out) = repo.export_stack(&name)?;
            let file = file.unwrap_or_else(|| PathBuf::from(format!("{name}.toml")));
            if let Some(folder) = file.parent().filter(|f| !f.as_os_str().is_empty()) {
                std::fs::create_dir_all(folder)
                    .with_context(|| format!("cannot create the folder `{}`", folder.display()))?;
            }
            export.write(&file)?;
            out.done(format!("Exported stack `{name}` to `{}`.", file.display()));
            if !left_out.is_empty() {
                warn(format!(
                    "secret values were left out of the export: {}; set them again after importing",
                    left_out.join(", ")
                ));
            }
        }
        StackCommand::Import { file, name } => {
            let export = StackExport::read(&file)?;
            // Reading names the file in its errors; checking the definitions must too, or
            // a bad component in a file of several stacks' worth of settings is hard to find.
            let report = repo.import_stack(&export, name.as_deref()).map_err(|err| {
                let message = format!("{}: {err}", file.display());
                anyhow::Error::new(err).context(message)
            })?;
            repo.save()?;
            for (kind, component) in &report.registered {
                out.done(format!("Registered {} `{component}`.", kind.human_name()));
            }
            for (kind, component) in &report.reused {
                out.done(format!(
                    "Reusing the identical {} `{component}`.",
                    kind.human_name()
                ));
            }
            for (kind, wanted, chosen) in &report.renamed {
                out.done(format!(
                    "Registered {} `{wanted}` as `{chosen}`: `{wanted}` is a different {} here.",
                    kind.human_name(),
                    kind.human_name()
                ));
            }
            out.done(format!(
                "Imported stack `{}` from `{}`.",
                report.stack,
                file.display()
            ));
        }
    }
    Ok(())
}

/// Asks a yes/no question on the terminal; without one, the answer is no.
pub(super) fn confirm(question: &str) -> anyhow::Result<bool> {
    if !std::io::stdin().is_terminal() {
        bail!("{question} Pass -y to confirm (no terminal to ask on)");
    }
    eprint!("{question} [y/N] ");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}

fn list(out: Output, repo: &Repository) -> anyhow::Result<()> {
    let (active, _) = repo.active_stack_name()?;
    let stacks = repo.stacks();
    let json = stacks
        .iter()
        .map(|(name, s)| {
            json!({
                "name": name.as_str(),
                "active": *name == active,
                "orchestrator": s.orchestrator.as_str(),
                "metadata_store": s.metadata_store.as_str(),
                "artifact_store": s.artifact_store.as_str(),
            })
        })
        .collect();
    out.show(serde_json::Value::Array(json), || {
        table(
            [
                "ACTIVE",
                "STACK",
                "ORCHESTRATOR",
                "METADATA STORE",
                "ARTIFACT STORE",
            ],
            stacks.iter().map(|(name, s)| {
                [
                    active_mark(*name == active),
                    name.to_string(),
                    s.orchestrator.to_string(),
                    s.metadata_store.to_string(),
                    s.artifact_store.to_string(),
                ]
            }),
        )
    });
    Ok(())
}

/// Shows a stack with its components' configurations (secrets redacted).
pub(crate) fn describe(out: Output, repo: &Repository, name: &str) -> anyhow::Result<()> {
    let stack = repo.stack(name)?;
    let (active, _) = repo.active_stack_name()?;
    let mut components = Vec::new();
    for kind in ComponentKind::STACK_KINDS {
        let def = repo.component(kind, stack.component(kind).as_str())?;
        let config = display_config(repo, &def);
        components.push((kind, def, config));
    }
    let json = json!({
        "name": name,
        "active": active.as_str() == name,
        "components": components.iter().map(|(kind, def, config)| (kind.config_key().to_owned(), json!({
            "name": def.name.as_str(),
            "flavor": def.flavor,
            "config": serde_json::Value::Object(config.iter().map(|(k, v)| (k.clone(), value_json(v))).collect()),
        }))).collect::<serde_json::Map<_, _>>(),
    });
    out.show(json, || {
        let caption = if active.as_str() == name {
            format!("Stack `{name}` (active)")
        } else {
            format!("Stack `{name}`")
        };
        let rows = components.iter().map(|(kind, def, config)| {
            [
                kind.cli_name().to_owned(),
                def.name.to_string(),
                def.flavor.clone(),
                config
                    .iter()
                    .map(|(k, v)| format!("{k}={}", value_text(v)))
                    .collect::<Vec<_>>()
                    .join("\n"),
            ]
        });
        format!(
            "{caption}\n{}",
            table(["COMPONENT", "NAME", "FLAVOR", "CONFIG"], rows)
        )
    });
    Ok(())
}

/// Proves that the artifact store answers with the configured location and credentials: a
/// listing of a prefix that holds nothing, one request on a bucket (a missing bucket, a
/// wrong key or a refused permission fail it), nothing written.
fn probe_artifact_store(store: &dyn zenml::artifact_store::ArtifactStore) -> anyhow::Result<()> {
    let probe = zenml::artifact_store::ObjectPath::new("zenml-stack-check")?;
    store.list(Some(&probe))?;
    Ok(())
}
