//! `zenml orchestrator|metadata-store|artifact-store …`.

use anyhow::bail;
use serde_json::json;
use zenml::core::{ComponentKind, FlavorRegistry};
use zenml::stack::{ComponentDefinition, Repository};

use crate::args::{ComponentCommand, FlavorCommand};
use crate::output::{Output, active_mark, table, value_json, value_text, warn};
use crate::settings::{parse_keys, parse_settings, typed_settings};

pub(crate) fn run(out: Output, kind: ComponentKind, cmd: ComponentCommand) -> anyhow::Result<()> {
    match cmd {
        ComponentCommand::Flavor(FlavorCommand::List) => return flavor_list(out, kind),
        ComponentCommand::Flavor(FlavorCommand::Describe { name }) => {
            return flavor_describe(out, kind, &name);
        }
        _ => {}
    }
    let mut repo = super::repository()?;
    match cmd {
        ComponentCommand::Register {
            name,
            flavor,
            settings,
        } => {
            let mut raw = parse_settings(&settings)?;
            let flavor = match (flavor, raw.iter().position(|s| s.key == "flavor")) {
                (Some(f), None) => f,
                (None, Some(i)) => raw.remove(i).value,
                (Some(_), Some(_)) => bail!("`--flavor` is given twice"),
                (None, None) => bail!(
                    "missing `--flavor`; see `zenml {} flavor list` for the flavors",
                    kind.cli_name()
                ),
            };
            let description = FlavorRegistry::global()?.get(kind, &flavor)?;
            let config = typed_settings(kind, description, &raw)?;
            let secrets = repo.register_component(kind, &name, &flavor, config)?;
            warn_literal_secrets(&repo, &secrets);
            repo.save()?;
            out.done(format!(
                "Registered {} `{name}` (flavor `{flavor}`).",
                kind.human_name()
            ));
        }
        ComponentCommand::List => list(out, kind, &repo)?,
        ComponentCommand::Describe { name } => {
            let name = match name {
                Some(n) => n,
                None => active_component(&repo, kind)?,
            };
            describe(out, &repo, kind, &name)?;
        }
        ComponentCommand::Get => {
            let name = active_component(&repo, kind)?;
            let (stack, _) = repo.active_stack_name()?;
            out.show(json!({ "name": name, "stack": stack.as_str() }), || {
                format!("Active {}: `{name}` (stack `{stack}`)", kind.human_name())
            });
        }
        ComponentCommand::Update { name, settings } => {
            let raw = parse_settings(&settings)?;
            if raw.is_empty() {
                bail!("nothing to update: give settings as `--key=value`");
            }
            let current = repo.component(kind, &name)?;
            let description = FlavorRegistry::global()?.get(kind, &current.flavor)?;
            let changes = typed_settings(kind, description, &raw)?;
            let secrets = repo.update_component(kind, &name, changes)?;
            warn_literal_secrets(&repo, &secrets);
            repo.save()?;
            out.done(format!("Updated {} `{name}`.", kind.human_name()));
        }
        ComponentCommand::RemoveAttribute { name, keys } => {
            let keys = parse_keys(&keys)?;
            repo.remove_component_attributes(kind, &name, &keys)?;
            repo.save()?;
            out.done(format!(
                "Removed {} from {} `{name}`.",
                keys.join(", "),
                kind.human_name()
            ));
        }
        ComponentCommand::Rename { old, new } => {
            repo.rename_component(kind, &old, &new)?;
            repo.save()?;
            out.done(format!("Renamed {} `{old}` to `{new}`.", kind.human_name()));
        }
        ComponentCommand::Delete { name } => {
            repo.delete_component(kind, &name)?;
            repo.save()?;
            out.done(format!("Deleted {} `{name}`.", kind.human_name()));
        }
        ComponentCommand::Flavor(_) => {}
    }
    Ok(())
}

/// Warns that a secret given literally was stored in the secrets file.
pub(crate) fn warn_literal_secrets(repo: &Repository, keys: &[String]) {
    if keys.is_empty() {
        return;
    }
    warn(format!(
        "{} given on the command line can be seen by other users of this machine (process list, shell history); \
         prefer `--password-env VAR` or `--password-file FILE`. The value is kept out of the definitions, in {} (mode 0600).",
        keys.join(", "),
        repo.zen_dir().join("secrets.toml").display()
    ));
}

fn active_component(repo: &Repository, kind: ComponentKind) -> anyhow::Result<String> {
    let (stack, _) = repo.active_stack_name()?;
    Ok(repo.stack(stack.as_str())?.component(kind).to_string())
}

/// A component's configuration for display: secrets shown as `********`.
pub(crate) fn display_config(repo: &Repository, def: &ComponentDefinition) -> toml::Table {
    let mut config = def.config.clone();
    for key in repo.component_secret_keys(def.kind, def.name.as_str()) {
        config.insert(key, toml::Value::String("********".to_owned()));
    }
    config
}

fn config_line(config: &toml::Table) -> String {
    config
        .iter()
        .map(|(k, v)| format!("{k}={}", value_text(v)))
        .collect::<Vec<_>>()
        .join(", ")
}

fn config_json(config: &toml::Table) -> serde_json::Value {
    serde_json::Value::Object(
        config
            .iter()
            .map(|(k, v)| (k.clone(), value_json(v)))
            .collect(),
    )
}

fn list(out: Output, kind: ComponentKind, repo: &Repository) -> anyhow::Result<()> {
    let active = active_component(repo, kind)?;
    let components = repo.components(kind)?;
    let rows: Vec<_> = components
        .iter()
        .map(|c| {
            let config = display_config(repo, c);
            let stacks = repo.stacks_using(kind, &c.name);
            (c, config, stacks)
        })
        .collect();
    let json = rows
        .iter()
        .map(|(c, config, stacks)| {
            json!({
                "name": c.name.as_str(),
                "flavor": c.flavor,
                "active": c.name.as_str() == active,
                "stacks": stacks,
                "config": config_json(config),
            })
        })
        .collect();
    out.show(serde_json::Value::Array(json), || {
        table(
            ["ACTIVE", "NAME", "FLAVOR", "STACKS", "CONFIG"],
            rows.iter().map(|(c, config, stacks)| {
                [
                    active_mark(c.name.as_str() == active),
                    c.name.to_string(),
                    c.flavor.clone(),
                    stacks.join(", "),
                    config_line(config),
                ]
            }),
        )
    });
    Ok(())
}

fn describe(out: Output, repo: &Repository, kind: ComponentKind, name: &str) -> anyhow::Result<()> {
    let def = repo.component(kind, name)?;
    let config = display_config(repo, &def);
    let stacks = repo.stacks_using(kind, &def.name);
    let json = json!({
        "kind": kind.cli_name(),
        "name": def.name.as_str(),
        "flavor": def.flavor,
        "stacks": stacks,
        "config": config_json(&config),
    });
    out.show(json, || {
        let mut rows = vec![["flavor".to_owned(), def.flavor.clone()]];
        rows.extend(config.iter().map(|(k, v)| [k.clone(), value_text(v)]));
        rows.push(["used by stacks".to_owned(), stacks.join(", ")]);
        format!(
            "{} `{}`\n{}",
            capitalized(kind.human_name()),
            def.name,
            table(["PROPERTY", "VALUE"], rows)
        )
    });
    Ok(())
}

fn flavor_list(out: Output, kind: ComponentKind) -> anyhow::Result<()> {
    let flavors: Vec<_> = FlavorRegistry::global()?.flavors(kind).collect();
    let json = flavors
        .iter()
        .map(|f| json!({ "name": f.name, "description": f.description, "source": f.source }))
        .collect();
    out.show(serde_json::Value::Array(json), || {
        table(
            ["FLAVOR", "DESCRIPTION", "SOURCE"],
            flavors.iter().map(|f| {
                [
                    f.name.to_owned(),
                    f.description.to_owned(),
                    f.source.to_owned(),
                ]
            }),
        )
    });
    Ok(())
}

fn flavor_describe(out: Output, kind: ComponentKind, name: &str) -> anyhow::Result<()> {
    let flavor = FlavorRegistry::global()?.get(kind, name)?;
    let json = json!({
        "kind": kind.cli_name(),
        "name": flavor.name,
        "description": flavor.description,
        "source": flavor.source,
        "example": flavor.example,
        "fields": flavor.fields.iter().map(|f| json!({
            "name": f.name,
            "type": f.kind.to_string(),
            "rust_type": f.rust_type,
            "required": f.required,
            "default": f.default_value(),
            "secret": f.secret,
            "doc": f.doc,
        })).collect::<Vec<_>>(),
    });
    out.show(json, || {
        let fields = table(
            ["FIELD", "TYPE", "REQUIRED", "DEFAULT", "DESCRIPTION"],
            flavor.fields.iter().map(|f| {
                [
                    f.name.to_owned(),
                    if f.secret {
                        format!("{} (secret)", f.kind)
                    } else {
                        f.kind.to_string()
                    },
                    if f.required { "yes" } else { "no" }.to_owned(),
                    f.default_value().unwrap_or_default(),
                    f.doc.to_owned(),
                ]
            }),
        );
        let example = if flavor.example.trim().is_empty() {
            "(no settings needed)".to_owned()
        } else {
            flavor.example.to_owned()
        };
        format!(
            "{} flavor `{}` (from {})\n{}\n\n{fields}\n\nExample:\n  flavor = \"{}\"\n  {}",
            capitalized(kind.human_name()),
            flavor.name,
            flavor.source,
            flavor.description,
            flavor.name,
            example.replace('\n', "\n  ")
        )
    });
    Ok(())
}

fn capitalized(s: &str) -> String {
    let mut chars = s.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}
