//! `zenml config …`: shortcuts that act on the active stack, as in the original zenml CLI.

use serde_json::json;
use zenml::core::{ComponentKind, ConfigError, FlavorRegistry, Name};
use zenml::stack::Repository;

use super::component::warn_literal_secrets;
use crate::args::{ArtifactsConfigCommand, ConfigCommand, MetadataConfigCommand, MetadataSetArgs};
use crate::output::{Output, value_json, value_text};
use crate::settings::{RawSetting, parse_settings, typed_settings};

pub(crate) fn run(out: Output, cmd: ConfigCommand) -> anyhow::Result<()> {
    let mut repo = super::repository()?;
    match cmd {
        ConfigCommand::Metadata(MetadataConfigCommand::Set(args)) => {
            set_metadata(out, &mut repo, args)
        }
        ConfigCommand::Metadata(MetadataConfigCommand::Get) => {
            get(out, &repo, ComponentKind::MetadataStore)
        }
        ConfigCommand::Artifacts(ArtifactsConfigCommand::Set {
            path_or_uri,
            settings,
        }) => set_artifacts(out, &mut repo, &path_or_uri, &parse_settings(&settings)?),
        ConfigCommand::Artifacts(ArtifactsConfigCommand::Get) => {
            get(out, &repo, ComponentKind::ArtifactStore)
        }
        ConfigCommand::List => {
            let (stack, _) = repo.active_stack_name()?;
            super::stack::describe(out, &repo, stack.as_str())
        }
    }
}

fn set_metadata(
    out: Output,
    repo: &mut Repository,
    args: Box<MetadataSetArgs>,
) -> anyhow::Result<()> {
    let description = FlavorRegistry::global()?.get(ComponentKind::MetadataStore, &args.flavor)?;
    let mut raw: Vec<RawSetting> = [
        ("path", args.path),
        ("host", args.host),
        ("port", args.port),
        ("username", args.username),
        ("database", args.database),
        ("password_env", args.password_env),
        ("password_file", args.password_file),
        ("password", args.password),
        ("schema", args.schema),
        ("sslmode", args.sslmode),
    ]
    .into_iter()
    .filter_map(|(key, value)| {
        value.map(|value| RawSetting {
            key: key.to_owned(),
            value,
        })
    })
    .collect();
    if description.name == "sqlite" && !raw.iter().any(|s| s.key == "path") {
        raw.push(RawSetting {
            key: "path".to_owned(),
            value: ".zen/metadata.db".to_owned(),
        });
    }
    let config = typed_settings(ComponentKind::MetadataStore, description, &raw)?;
    let (stack, component, secrets) =
        set_component(repo, ComponentKind::MetadataStore, description.name, config)?;
    warn_literal_secrets(repo, &secrets);
    repo.save()?;
    out.done(format!(
        "Metadata store of stack `{stack}` set to `{component}`: {}",
        summary(repo, ComponentKind::MetadataStore, &component)?
    ));
    Ok(())
}

fn set_artifacts(
    out: Output,
    repo: &mut Repository,
    target: &str,
    extra: &[RawSetting],
) -> anyhow::Result<()> {
    let registry = FlavorRegistry::global()?;
    let kind = ComponentKind::ArtifactStore;
    let (description, path) = match target.split_once("://") {
        Some(("file", path)) => (registry.get(kind, "local")?, path.to_owned()),
        Some((scheme, _)) => {
            let Some(description) = registry.flavor_for_scheme(kind, scheme) else {
                let known: Vec<String> = registry
                    .schemes(kind)
                    .map(|(s, d)| format!("{s}:// ({})", d.name))
                    .collect();
                return Err(ConfigError::Invalid(format!(
                    "no linked artifact store flavor serves `{scheme}://` URIs; give a local \
                     folder or a URI with one of: {} (a binary that links a crate providing \
                     another, e.g. through `zenml_cli::run()`, can use it)",
                    if known.is_empty() {
                        "none in this build".to_owned()
                    } else {
                        known.join(", ")
                    }
                ))
                .into());
            };
            (description, target.to_owned())
        }
        None => (registry.get(kind, "local")?, target.to_owned()),
    };
    if let Some(repeated) = extra.iter().find(|s| s.key == "path") {
        return Err(ConfigError::Invalid(format!(
            "`--path {}` repeats the folder or URI, which is the first argument",
            repeated.value
        ))
        .into());
    }
    let mut raw = vec![RawSetting {
        key: "path".to_owned(),
        value: path,
    }];
    raw.extend_from_slice(extra);
    let config = typed_settings(kind, description, &raw)?;
    let (stack, component, secrets) = set_component(repo, kind, description.name, config)?;
    warn_literal_secrets(repo, &secrets);
    repo.save()?;
    out.done(format!(
        "Artifact store of stack `{stack}` set to `{component}`: {}",
        summary(repo, kind, &component)?
    ));
    Ok(())
}

/// Points the active stack's component of `kind` at a new configuration: the component is
/// changed in place when only this stack uses it, otherwise a new component
/// `<stack>-<kind>` is registered and the stack switched to it. Returns the stack, the
/// component and the secret keys stored.
fn set_component(
    repo: &mut Repository,
    kind: ComponentKind,
    flavor: &str,
    config: toml::Table,
) -> anyhow::Result<(Name, String, Vec<String>)> {
    let (stack_name, _) = repo.active_stack_name()?;
    let stack = repo.stack(stack_name.as_str())?;
    let current = stack.component(kind).clone();
    let users = repo.stacks_using(kind, &current);
    if users.len() == 1 && users[0] == stack_name.as_str() {
        let secrets = repo.replace_component(kind, current.as_str(), flavor, config)?;
        return Ok((stack_name, current.to_string(), secrets));
    }
    let short = match kind {
        ComponentKind::MetadataStore => "metadata",
        _ => "artifacts",
    };
    let base = format!("{stack_name}-{short}");
    let name = (1..)
        .map(|i| {
            if i == 1 {
                base.clone()
            } else {
                format!("{base}-{i}")
            }
        })
        .find(|candidate| repo.component(kind, candidate).is_err())
        .unwrap_or(base);
    let secrets = repo.register_component(kind, &name, flavor, config)?;
    repo.update_stack(stack_name.as_str(), &[(kind, name.clone())])?;
    Ok((stack_name, name, secrets))
}

fn summary(repo: &Repository, kind: ComponentKind, name: &str) -> anyhow::Result<String> {
    let def = repo.component(kind, name)?;
    let config = super::component::display_config(repo, &def);
    let settings: Vec<String> = config
        .iter()
        .map(|(k, v)| format!("{k}={}", value_text(v)))
        .collect();
    Ok(format!("{} ({})", def.flavor, settings.join(", ")))
}

fn get(out: Output, repo: &Repository, kind: ComponentKind) -> anyhow::Result<()> {
    let (stack_name, _) = repo.active_stack_name()?;
    let stack = repo.stack(stack_name.as_str())?;
    let def = repo.component(kind, stack.component(kind).as_str())?;
    let config = super::component::display_config(repo, &def);
    let json = json!({
        "stack": stack_name.as_str(),
        "name": def.name.as_str(),
        "flavor": def.flavor,
        "config": serde_json::Value::Object(config.iter().map(|(k, v)| (k.clone(), value_json(v))).collect()),
    });
    let line = summary(repo, kind, def.name.as_str())?;
    out.show(json, || {
        format!(
            "{} of stack `{stack_name}`: `{}` {line}",
            capitalized(kind),
            def.name
        )
    });
    Ok(())
}

fn capitalized(kind: ComponentKind) -> &'static str {
    match kind {
        ComponentKind::MetadataStore => "Metadata store",
        ComponentKind::ArtifactStore => "Artifact store",
        ComponentKind::Orchestrator => "Orchestrator",
        ComponentKind::Materializer => "Materializer",
    }
}
