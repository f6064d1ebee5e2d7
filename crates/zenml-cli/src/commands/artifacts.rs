//! `zenml artifact …`: artifacts, their names, versions and tags, schemas and statistics,
//! lineage, verification and pruning.

use serde_json::json;
use zenml::metadata_store::{
    ArtifactLabels, ArtifactOrder, ArtifactQuery, ArtifactRecord, MAX_LIMIT, Resource,
};
use zenml::pipeline::time::format_timestamp;
use zenml::pipeline::{ArtifactSelection, ArtifactView, Client};

use super::paging::{Listing, PageArgs, Row, refused};
use super::runs::client;
use crate::args::{ArtifactCommand, ArtifactFilterArgs};
use crate::output::{Output, table};

pub(crate) fn artifact(out: Output, cmd: ArtifactCommand) -> anyhow::Result<()> {
    let client = client()?;
    match cmd {
        ArtifactCommand::List { filter, page } => list(out, &client, filter, &page)?,
        ArtifactCommand::Describe { id } => describe(out, &client, &id)?,
        ArtifactCommand::Versions { name, page } => versions(out, &client, &name, &page)?,
        ArtifactCommand::Tag { artifact, tag } => {
            let added = client.tag_artifact(&artifact, &tag)?;
            let id = client.artifact(&artifact)?.id.clone();
            if out.is_json() {
                out.show(
                    json!({ "artifact": id, "tag": tag, "added": added }),
                    String::new,
                );
            }
            out.done(if added {
                format!("Tagged artifact {id} `{tag}`.")
            } else {
                format!("Artifact {id} already has the tag `{tag}`.")
            });
        }
        ArtifactCommand::Untag { artifact, tag } => {
            let removed = client.untag_artifact(&artifact, &tag)?;
            let id = client.artifact(&artifact)?.id.clone();
            if out.is_json() {
                out.show(
                    json!({ "artifact": id, "tag": tag, "removed": removed }),
                    String::new,
                );
            }
            out.done(if removed {
                format!("Removed the tag `{tag}` from artifact {id}.")
            } else {
                format!("Artifact {id} has no tag `{tag}`; nothing changed.")
            });
        }
        ArtifactCommand::Schema { id } => super::data::schema(out, &client.artifact(&id)?)?,
        ArtifactCommand::Statistics {
            id,
            compare,
            threshold,
        } => {
            let first = client.artifact(&id)?;
            match compare {
                None => super::data::statistics(out, &first)?,
                Some(other) => {
                    let second = client.artifact(&other)?;
                    super::data::compare(out, &first, &second, threshold)?
                }
            }
        }
        ArtifactCommand::Lineage {
            id,
            depth,
            max_nodes,
        } => {
            let id = client.artifact(&id)?.id.clone();
            let max_nodes = usize::try_from(max_nodes).unwrap_or(usize::MAX);
            super::lineage::artifact_lineage(out, &client, &id, depth, max_nodes)?
        }
        ArtifactCommand::Prune { yes, min_age } => super::prune::prune(out, &client, yes, min_age)?,
        ArtifactCommand::Verify { ids, run, all } => {
            let selection = match (run, all) {
                (Some(run), _) => ArtifactSelection::Run(run),
                (None, true) => ArtifactSelection::All,
                (None, false) if ids.is_empty() => anyhow::bail!(
                    "name the artifacts to verify by id, or use `--run RUN` or `--all`"
                ),
                (None, false) => ArtifactSelection::Ids(ids),
            };
            super::verify::verify(out, &client, &selection)?
        }
    }
    Ok(())
}

/// `NAME:VERSION`, or empty for an artifact without a name.
fn name_version(labels: &ArtifactLabels) -> String {
    match (&labels.name, labels.version) {
        (Some(name), Some(version)) => format!("{name}:{version}"),
        _ => String::new(),
    }
}

fn record_json(record: &ArtifactRecord, labels: &ArtifactLabels) -> serde_json::Value {
    let mut value = serde_json::to_value(record).unwrap_or_default();
    if let Some(object) = value.as_object_mut() {
        object.insert("name".to_owned(), json!(labels.name));
        object.insert("version".to_owned(), json!(labels.version));
        object.insert("tags".to_owned(), json!(labels.tags));
    }
    value
}

fn view_json(view: &ArtifactView<'_>) -> serde_json::Value {
    record_json(
        view.record(),
        &ArtifactLabels {
            name: view.name().map(str::to_owned),
            version: view.version_number(),
            tags: view.tags().to_vec(),
        },
    )
}

/// The rows of a page of artifacts, with their names, versions and tags (read for the page
/// only).
fn artifact_rows(client: &Client, artifacts: Vec<ArtifactRecord>) -> anyhow::Result<Vec<Row>> {
    let labels = client.artifact_labels(&artifacts)?;
    Ok(artifacts
        .into_iter()
        .zip(labels)
        .map(|(a, l)| Row {
            json: record_json(&a, &l),
            cells: vec![
                a.id.clone(),
                name_version(&l),
                l.tags.join(", "),
                a.rust_type.clone(),
                a.size.to_string(),
                a.output_name.clone(),
                format_timestamp(a.created_at),
            ],
        })
        .collect())
}

/// Prints a page of the artifacts `query` selects, or every one streamed.
fn list_artifacts(
    out: Output,
    client: &Client,
    mut query: ArtifactQuery,
    page: &PageArgs,
    listing: &Listing<'_>,
) -> anyhow::Result<()> {
    query.limit = page.limit;
    if !page.all {
        query.offset = page.offset(listing.noun)?;
        let found = client.query_artifacts(&query).map_err(refused)?;
        let rows = artifact_rows(client, found.artifacts)?;
        listing.show_page(out, page, rows, found.total);
        return Ok(());
    }
    query.limit = MAX_LIMIT;
    let first = client.query_artifacts(&query).map_err(refused)?;
    let total = first.total;
    let mut pending = Some(first);
    listing.stream_all(out, total, || {
        let Some(found) = pending.take() else {
            return Ok(None);
        };
        if let Some(next) = found.next {
            query.after = Some(next);
            pending = Some(client.query_artifacts(&query).map_err(refused)?);
        }
        if found.artifacts.is_empty() {
            return Ok(None);
        }
        Ok(Some(artifact_rows(client, found.artifacts)?))
    })
}

const ARTIFACT_COLUMNS: &[&str] = &["ID", "NAME", "TAGS", "TYPE", "SIZE", "OUTPUT", "CREATED"];

/// `zenml artifact list [filters] [--limit N] [--page N | --all]`.
fn list(
    out: Output,
    client: &Client,
    filter: ArtifactFilterArgs,
    page: &PageArgs,
) -> anyhow::Result<()> {
    let filtered = filter.name.is_some()
        || filter.tag.is_some()
        || filter.pipeline.is_some()
        || filter.step.is_some()
        || filter.materializer.is_some()
        || filter.since.is_some();
    let mut query = ArtifactQuery::default();
    query.name = filter.name;
    query.tag = filter.tag;
    query.pipeline = filter.pipeline;
    query.step = filter.step;
    query.materializer = filter.materializer;
    query.created_after = filter.since;
    let listing = Listing {
        noun: "artifacts",
        header: ARTIFACT_COLUMNS,
        empty: if filtered {
            "No artifacts match these filters."
        } else {
            "No artifacts recorded yet."
        },
    };
    list_artifacts(out, client, query, page, &listing)
}

/// `zenml artifact versions NAME`: the versions of a name, oldest first, a page at a time.
fn versions(out: Output, client: &Client, name: &str, page: &PageArgs) -> anyhow::Result<()> {
    // An unknown name is an error naming the recorded ones, not an empty list.
    client.artifact_version(name, None)?;
    let mut query = ArtifactQuery::default();
    query.name = Some(name.to_owned());
    query.order = ArtifactOrder::OldestFirst;
    let listing = Listing {
        noun: "versions",
        header: &["VERSION", "ID", "TAGS", "TYPE", "SIZE", "OUTPUT", "CREATED"],
        empty: "No versions.",
    };
    list_artifacts(out, client, query, page, &listing)
}

/// `zenml artifact describe ARTIFACT`.
fn describe(out: Output, client: &Client, key: &str) -> anyhow::Result<()> {
    let view = client.artifact(key)?;
    let a = view.record();
    let metadata = client
        .stack()
        .metadata_store
        .metadata(&Resource::Artifact(a.id.clone()))?;
    let json = json!({
        "artifact": view_json(&view),
        "metadata": metadata.iter().map(|(k, v)| (k.clone(), v.clone())).collect::<serde_json::Map<_, _>>(),
    });
    out.show(json, || {
        let mut rows = vec![
            ["uri".to_owned(), a.uri.clone()],
            ["type".to_owned(), a.rust_type.clone()],
            [
                "materializer".to_owned(),
                format!("{} v{}", a.materializer_id, a.materializer_version),
            ],
            [
                "content hash".to_owned(),
                format!("blake3:{}", a.content_hash),
            ],
            ["size".to_owned(), format!("{} bytes", a.size)],
            [
                "producer step run".to_owned(),
                a.producer_step_run_id.clone(),
            ],
            ["output".to_owned(), a.output_name.clone()],
            ["created".to_owned(), format_timestamp(a.created_at)],
        ];
        if let (Some(name), Some(version)) = (view.name(), view.version_number()) {
            rows.push(["name".to_owned(), format!("{name} (version {version})")]);
        }
        if !view.tags().is_empty() {
            rows.push(["tags".to_owned(), view.tags().join(", ")]);
        }
        // Schemas and statistics have commands of their own.
        rows.extend(
            metadata
                .iter()
                .filter(|(k, _)| !k.starts_with("zenml."))
                .map(|(k, v)| [format!("metadata {k}"), v.to_string()]),
        );
        let described = metadata.iter().any(|(k, _)| k.starts_with("zenml."));
        let hint = if described {
            format!(
                "\n`zenml artifact schema {0}` and `zenml artifact statistics {0}` describe its data.",
                a.id
            )
        } else {
            String::new()
        };
        format!("Artifact {}\n{}{hint}", a.id, table(["PROPERTY", "VALUE"], rows))
    });
    Ok(())
}
