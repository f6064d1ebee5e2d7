//! Named, versioned and tagged artifacts: the versions and tags a step run records with its
//! new outputs (part of [`record_step_run`](super::record_step_run)), tagging later, and
//! the reads by name.

use super::checks::*;
use super::rows::*;
use super::*;
use crate::model::{ArtifactLabels, ArtifactName, ArtifactVersion, NewArtifactLabels};

const BUMP_VERSION: &str =
    "UPDATE artifact_names SET latest_version = latest_version + 1, updated_at = ? WHERE name = ?";
const SELECT_LATEST_VERSION: &str = "SELECT latest_version FROM artifact_names WHERE name = ?";
const INSERT_VERSION: &str =
    "INSERT INTO artifact_versions (artifact_id, name, version, created_at) VALUES (?, ?, ?, ?)";
const DELETE_TAG: &str = "DELETE FROM artifact_tags WHERE artifact_id = ? AND tag = ?";
const LIST_NAMES: &str = "SELECT n.name, n.latest_version, \
     (SELECT COUNT(*) FROM artifact_versions v WHERE v.name = n.name), n.created_at, n.updated_at \
     FROM artifact_names n ORDER BY n.name";
const COUNT_NAMES: &str = "SELECT COUNT(*) FROM artifact_names WHERE name = ?";

/// The columns of a version with its artifact, from `artifact_versions v` joined with
/// `artifacts a`.
macro_rules! select_versions {
    () => {
        concat!(
            "SELECT v.name, v.version, ",
            artifact_columns!(),
            " FROM artifact_versions v JOIN artifacts a ON a.id = v.artifact_id WHERE v.name = ?"
        )
    };
}

const LIST_VERSIONS: &str = concat!(select_versions!(), " ORDER BY v.version");
const LATEST_VERSION: &str = concat!(select_versions!(), " ORDER BY v.version DESC LIMIT 1");
const ONE_VERSION: &str = concat!(select_versions!(), " AND v.version = ?");

/// Checks labels before anything is written: each names one of `new_outputs`, and names and
/// tags fit their columns.
pub(super) fn check_labels(
    labels: &[NewArtifactLabels],
    new_outputs: &[ArtifactRecord],
) -> Result<(), MetadataStoreError> {
    const WHAT: &str = "artifact labels";
    for label in labels {
        if !new_outputs.iter().any(|a| a.id == label.artifact_id) {
            return Err(MetadataStoreError::InvalidRecord {
                what: WHAT,
                message: format!(
                    "artifact `{}` is not a new output of the step run",
                    label.artifact_id
                ),
            });
        }
        if let Some(name) = &label.name {
            check_label(WHAT, "name", name)?;
        }
        for tag in &label.tags {
            check_label(WHAT, "tag", tag)?;
        }
    }
    Ok(())
}

/// A name or tag: not empty, and fits its column.
fn check_label(what: &'static str, field: &str, value: &str) -> Result<(), MetadataStoreError> {
    if value.is_empty() {
        return Err(MetadataStoreError::InvalidRecord {
            what,
            message: format!("the {field} is empty"),
        });
    }
    check_name(what, field, value)
}

/// Records the versions and tags of a step run's new outputs, in its transaction.
pub(super) fn record_labels(
    conn: &mut dyn SqlConnection,
    labels: &[NewArtifactLabels],
) -> Result<(), MetadataStoreError> {
    let now = now_millis();
    for label in labels {
        if let Some(name) = &label.name {
            let version = next_version(conn, name, now)?;
            conn.execute(
                INSERT_VERSION,
                &[
                    label.artifact_id.as_str().into(),
                    name.as_str().into(),
                    version.into(),
                    now.into(),
                ],
            )?;
        }
        let mut tags: Vec<&str> = label.tags.iter().map(String::as_str).collect();
        tags.sort_unstable();
        tags.dedup();
        for tag in tags {
            insert_tag(conn, &label.artifact_id, tag, now)?;
        }
    }
    Ok(())
}

/// Takes the next version of `name`: creates the name if it is new, then increments its
/// latest version. The `UPDATE` locks the name's row until the transaction ends, so two
/// writers of one name get two numbers, one after the other.
fn next_version(
    conn: &mut dyn SqlConnection,
    name: &str,
    now: Millis,
) -> Result<i64, MetadataStoreError> {
    let insert = format!(
        "INSERT INTO artifact_names (name, latest_version, created_at, updated_at) \
         VALUES (?, 0, ?, ?){}",
        conn.dialect().on_conflict_do_nothing("name")
    );
    conn.execute(&insert, &[name.into(), now.into(), now.into()])?;
    conn.execute(BUMP_VERSION, &[now.into(), name.into()])?;
    let row = conn
        .query(SELECT_LATEST_VERSION, &[name.into()])?
        .into_iter()
        .next();
    let row = row.ok_or_else(|| MetadataStoreError::Corrupt {
        what: "artifact name",
        message: format!("the name `{name}` vanished while a version was recorded"),
    })?;
    Columns::new(row, "artifact name").int()
}

/// Tags an artifact unless it has the tag; whether it was added.
fn insert_tag(
    conn: &mut dyn SqlConnection,
    artifact_id: &str,
    tag: &str,
    now: Millis,
) -> Result<bool, MetadataStoreError> {
    let insert = format!(
        "INSERT INTO artifact_tags (artifact_id, tag, created_at) VALUES (?, ?, ?){}",
        conn.dialect().on_conflict_do_nothing("artifact_id, tag")
    );
    Ok(conn.execute(&insert, &[artifact_id.into(), tag.into(), now.into()])? > 0)
}

/// [`MetadataStore::tag_artifact`](crate::MetadataStore::tag_artifact). A write function.
pub fn tag_artifact(
    conn: &mut dyn SqlConnection,
    artifact_id: &str,
    tag: &str,
) -> Result<bool, MetadataStoreError> {
    check_id("artifact", "id", artifact_id)?;
    check_label("artifact", "tag", tag)?;
    if count(conn, COUNT_ARTIFACTS_WITH_ID, artifact_id)? == 0 {
        return Err(not_found("artifact", artifact_id));
    }
    insert_tag(conn, artifact_id, tag, now_millis())
}

/// [`MetadataStore::untag_artifact`](crate::MetadataStore::untag_artifact). A write
/// function.
pub fn untag_artifact(
    conn: &mut dyn SqlConnection,
    artifact_id: &str,
    tag: &str,
) -> Result<bool, MetadataStoreError> {
    if count(conn, COUNT_ARTIFACTS_WITH_ID, artifact_id)? == 0 {
        return Err(not_found("artifact", artifact_id));
    }
    Ok(conn.execute(DELETE_TAG, &[artifact_id.into(), tag.into()])? > 0)
}

/// [`MetadataStore::artifact_names`](crate::MetadataStore::artifact_names).
pub fn artifact_names(
    conn: &mut dyn SqlConnection,
) -> Result<Vec<ArtifactName>, MetadataStoreError> {
    map_rows(conn, LIST_NAMES, &[], "artifact name", |columns| {
        Ok(ArtifactName {
            name: columns.text()?,
            latest_version: version_number(columns)?,
            versions: columns.count()?,
            created_at: columns.int()?,
            updated_at: columns.int()?,
        })
    })
}

/// [`MetadataStore::artifact_versions`](crate::MetadataStore::artifact_versions).
pub fn artifact_versions(
    conn: &mut dyn SqlConnection,
    name: &str,
) -> Result<Vec<ArtifactVersion>, MetadataStoreError> {
    let versions = map_rows(
        conn,
        LIST_VERSIONS,
        &[name.into()],
        "artifact version",
        version_row,
    )?;
    if versions.is_empty() && count(conn, COUNT_NAMES, name)? == 0 {
        return Err(not_found("artifact name", name));
    }
    with_tags(conn, versions)
}

/// [`MetadataStore::artifact_version`](crate::MetadataStore::artifact_version).
pub fn artifact_version(
    conn: &mut dyn SqlConnection,
    name: &str,
    version: Option<u32>,
) -> Result<ArtifactVersion, MetadataStoreError> {
    let found = match version {
        None => map_rows(
            conn,
            LATEST_VERSION,
            &[name.into()],
            "artifact version",
            version_row,
        )?,
        Some(v) => map_rows(
            conn,
            ONE_VERSION,
            &[name.into(), i64::from(v).into()],
            "artifact version",
            version_row,
        )?,
    };
    let Some(found) = found.into_iter().next() else {
        let key = match version {
            Some(v) if count(conn, COUNT_NAMES, name)? > 0 => format!("{name}:{v}"),
            _ => name.to_owned(),
        };
        let what = if key.contains(':') {
            "artifact version"
        } else {
            "artifact name"
        };
        return Err(not_found(what, &key));
    };
    with_tags(conn, vec![found])?
        .pop()
        .ok_or_else(|| not_found("artifact version", name))
}

/// [`MetadataStore::artifact_labels`](crate::MetadataStore::artifact_labels): one query per
/// [`IN_LIST_CHUNK`] ids for names and one for tags.
pub fn artifact_labels(
    conn: &mut dyn SqlConnection,
    artifact_ids: &[&str],
) -> Result<Vec<(String, ArtifactLabels)>, MetadataStoreError> {
    let mut labels: HashMap<String, ArtifactLabels> = HashMap::new();
    for chunk in artifact_ids.chunks(IN_LIST_CHUNK) {
        let params: Vec<SqlValue> = chunk.iter().map(|id| (*id).into()).collect();
        let list = super::read::in_list(chunk.len());
        let names = format!(
            "SELECT artifact_id, name, version FROM artifact_versions WHERE artifact_id IN {list}"
        );
        for row in conn.query(&names, &params)? {
            let mut columns = Columns::new(row, "artifact version");
            let id = columns.text()?;
            let entry = labels.entry(id).or_default();
            entry.name = Some(columns.text()?);
            entry.version = Some(version_number(&mut columns)?);
        }
        let tags = format!(
            "SELECT artifact_id, tag FROM artifact_tags WHERE artifact_id IN {list} ORDER BY artifact_id, tag"
        );
        for row in conn.query(&tags, &params)? {
            let mut columns = Columns::new(row, "artifact tag");
            let id = columns.text()?;
            labels.entry(id).or_default().tags.push(columns.text()?);
        }
    }
    let mut labels: Vec<(String, ArtifactLabels)> = labels.into_iter().collect();
    labels.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(labels)
}

fn version_row(columns: &mut Columns) -> Result<ArtifactVersion, MetadataStoreError> {
    Ok(ArtifactVersion {
        name: columns.text()?,
        version: version_number(columns)?,
        artifact: artifact_record(columns)?,
        tags: Vec::new(),
    })
}

fn version_number(columns: &mut Columns) -> Result<u32, MetadataStoreError> {
    let value = columns.int()?;
    u32::try_from(value).map_err(|_| columns.corrupt(format!("version {value} is out of range")))
}

/// `versions` with their artifacts' tags.
fn with_tags(
    conn: &mut dyn SqlConnection,
    mut versions: Vec<ArtifactVersion>,
) -> Result<Vec<ArtifactVersion>, MetadataStoreError> {
    let ids: Vec<&str> = versions.iter().map(|v| v.artifact.id.as_str()).collect();
    let labels: HashMap<String, ArtifactLabels> =
        artifact_labels(conn, &ids)?.into_iter().collect();
    for version in &mut versions {
        if let Some(found) = labels.get(&version.artifact.id) {
            version.tags = found.tags.clone();
        }
    }
    Ok(versions)
}
