//! Pruning: deleting what no record needs from the artifact store and the staging folder.
//!
//! A step publishes its outputs under `<pipeline>/<step>/<output>/<artifact id>/` and only
//! then records them, so a step that failed or a process that crashed in between leaves an
//! **orphan**: a folder whose artifact id no record names.
//! [`Client::prune_plan`](crate::Client::prune_plan) lists the artifact store, groups its
//! objects by that folder and keeps every folder whose id is recorded (in this store, or
//! under any other artifact store URI, in case the store was renamed); the rest are
//! orphans. It also finds leftover entries of the local staging folder (`.zen/staging`),
//! which a crash leaves behind too.
//!
//! Both are deleted only when they are older than [`PruneOptions::min_age`] (an hour by
//! default): a step that is running right now may have published a folder that it has not
//! recorded yet, and must not lose it. For a store that cannot tell when its objects were
//! written (no local files), a folder is kept while a run of its pipeline is `running`.
//! Objects outside the `<pipeline>/<step>/<output>/<uuid>/…` layout are never touched.
//!
//! [`Client::prune`](crate::Client::prune) deletes what a plan lists, checking each
//! folder again just before: a folder recorded since the plan was made is kept.
//!
//! An artifact store shared by stacks with *different* metadata stores must not be pruned
//! from one of them: the other's artifacts look like orphans from here.

use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use zenml_artifact_store::{ArtifactStore, ArtifactStoreError, ObjectMeta, ObjectPath};
use zenml_metadata_store::{MetadataStore, MetadataStoreError, Millis, RunStatus};

use crate::ClientError;
use crate::artifact_io::ArtifactIoError;

/// What a prune may delete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PruneOptions {
    /// Only orphan folders and staging entries not modified for this long: younger ones may
    /// belong to a step that is running. One hour by default.
    pub min_age: Duration,
}

impl Default for PruneOptions {
    fn default() -> Self {
        PruneOptions {
            min_age: Duration::from_secs(3600),
        }
    }
}

/// What [`Client::prune`](crate::Client::prune) would delete, and what it keeps and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PrunePlan {
    /// The artifact store's URI.
    pub artifact_store_uri: String,
    /// The local staging folder.
    pub staging_dir: PathBuf,
    /// The minimum age of what is deleted, in seconds.
    pub min_age_secs: u64,
    /// Artifact folders that no record names, old enough to delete.
    pub orphans: Vec<OrphanFolder>,
    /// Staging entries old enough to delete.
    pub staging: Vec<StagingEntry>,
    /// Folders that no record of this store names but that are kept, with the reason.
    pub kept: Vec<KeptFolder>,
    /// How many artifact folders hold a recorded artifact (all kept).
    pub recorded_folders: usize,
    /// How many objects lie outside the artifact folder layout (never touched).
    pub unrecognized_objects: usize,
}

/// An artifact folder that no record names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrphanFolder {
    /// The folder, `<pipeline>/<step>/<output>/<artifact id>`.
    pub path: String,
    /// Its artifact id segment.
    pub artifact_id: String,
    /// How many objects it holds.
    pub objects: usize,
    /// Their total size, from the objects' metadata.
    pub bytes: Option<u64>,
    /// When its newest object was written, when the store can tell.
    pub modified_at: Option<Millis>,
}

/// An entry (file or folder) of the staging folder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StagingEntry {
    /// The entry.
    pub path: PathBuf,
    /// Its total size.
    pub bytes: u64,
    /// When the newest thing in it was modified.
    pub modified_at: Millis,
}

/// An unrecorded-looking folder that is kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeptFolder {
    /// The folder.
    pub path: String,
    /// Why it is kept.
    pub reason: String,
}

impl PrunePlan {
    /// Whether there is nothing to delete.
    pub fn is_empty(&self) -> bool {
        self.orphans.is_empty() && self.staging.is_empty()
    }

    /// The bytes that would be freed.
    pub fn bytes(&self) -> u64 {
        self.orphans.iter().filter_map(|o| o.bytes).sum::<u64>()
            + self.staging.iter().map(|s| s.bytes).sum::<u64>()
    }
}

/// What [`Client::prune`](crate::Client::prune) deleted.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PruneReport {
    /// The orphan folders deleted.
    pub deleted_folders: Vec<String>,
    /// How many objects they held.
    pub deleted_objects: usize,
    /// The staging entries deleted.
    pub deleted_staging: Vec<PathBuf>,
    /// The bytes freed (as far as known).
    pub bytes: u64,
    /// Folders and entries of the plan that were kept after all, with the reason.
    pub kept: Vec<KeptFolder>,
}

fn store_error(error: ArtifactStoreError) -> ClientError {
    ClientError::Artifact(ArtifactIoError::Store(error))
}

fn io_error(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> ClientError {
    let path = path.to_path_buf();
    move |source| {
        ClientError::Artifact(ArtifactIoError::Io {
            action,
            path,
            source,
        })
    }
}

fn millis(time: SystemTime) -> Millis {
    time.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as Millis)
        .unwrap_or(0)
}

/// The artifact folder of an object and its artifact id: the first four segments when the
/// object lies below them and the fourth is a hyphenated UUID.
fn artifact_folder(object: &ObjectPath) -> Option<(String, String)> {
    let segments: Vec<&str> = object.segments().collect();
    if segments.len() < 5 {
        return None;
    }
    let id = segments[3];
    if id.len() != 36 || uuid::Uuid::try_parse(id).is_err() {
        return None;
    }
    Some((segments[..4].join("/"), id.to_owned()))
}

/// Whether `id` is recorded as an artifact of any store; the store URI when it is.
fn recorded_anywhere(
    metadata: &dyn MetadataStore,
    id: &str,
) -> Result<Option<String>, ClientError> {
    match metadata.get_artifact(id) {
        Ok(artifact) => Ok(Some(artifact.artifact_store_uri)),
        Err(MetadataStoreError::NotFound { .. }) => Ok(None),
        Err(other) => Err(other.into()),
    }
}

/// The size and newest modification time of a local file or folder tree, links not followed.
fn tree_stats(path: &Path) -> Result<(u64, SystemTime), ClientError> {
    let meta = fs::symlink_metadata(path).map_err(io_error("cannot inspect", path))?;
    let mut bytes = if meta.is_file() { meta.len() } else { 0 };
    let mut newest = meta.modified().map_err(io_error("cannot inspect", path))?;
    if meta.is_dir() {
        for entry in fs::read_dir(path).map_err(io_error("cannot list", path))? {
            let entry = entry.map_err(io_error("cannot list", path))?;
            let (b, m) = tree_stats(&entry.path())?;
            bytes += b;
            newest = newest.max(m);
        }
    }
    Ok((bytes, newest))
}

/// Plans a prune of `store` and `staging_dir` against the records of `metadata`; see the
/// module documentation.
pub(crate) fn prune_plan(
    store: &dyn ArtifactStore,
    metadata: &dyn MetadataStore,
    staging_dir: &Path,
    options: &PruneOptions,
) -> Result<PrunePlan, ClientError> {
    let now = SystemTime::now();
    let young = |modified: SystemTime| {
        now.duration_since(modified)
            .map(|age| age < options.min_age)
            .unwrap_or(true)
    };
    let uri = store.uri();
    let recorded: HashSet<String> = metadata.artifact_ids_in_store(&uri)?.into_iter().collect();
    let mut plan = PrunePlan {
        artifact_store_uri: uri,
        staging_dir: staging_dir.to_path_buf(),
        min_age_secs: options.min_age.as_secs(),
        orphans: Vec::new(),
        staging: Vec::new(),
        kept: Vec::new(),
        recorded_folders: 0,
        unrecognized_objects: 0,
    };

    let mut folders: BTreeMap<String, (String, Vec<ObjectMeta>)> = BTreeMap::new();
    for object in store.list(None).map_err(store_error)? {
        match artifact_folder(&object.path) {
            Some((folder, id)) => folders
                .entry(folder)
                .or_insert((id, Vec::new()))
                .1
                .push(object),
            None => plan.unrecognized_objects += 1,
        }
    }
    let mut running_pipelines: BTreeMap<String, bool> = BTreeMap::new();
    for (folder, (id, objects)) in folders {
        if recorded.contains(&id) {
            plan.recorded_folders += 1;
            continue;
        }
        if let Some(other) = recorded_anywhere(metadata, &id)? {
            plan.kept.push(KeptFolder {
                path: folder,
                reason: format!("its artifact is recorded, in artifact store `{other}`"),
            });
            continue;
        }
        // Size and age from the objects' metadata; the age is unknown when the store does not
        // record modification times.
        let bytes = Some(objects.iter().map(|o| o.size).sum::<u64>());
        let newest: Option<SystemTime> = objects
            .iter()
            .map(|o| o.last_modified)
            .collect::<Option<Vec<_>>>()
            .and_then(|times| times.into_iter().max());
        match newest {
            Some(modified) if young(modified) => {
                plan.kept.push(KeptFolder {
                    path: folder,
                    reason: format!(
                        "written less than {} ago: a running step may still record it",
                        format_age(options.min_age)
                    ),
                });
                continue;
            }
            Some(_) => {}
            None => {
                let pipeline = folder.split('/').next().unwrap_or_default().to_owned();
                let running = match running_pipelines.get(&pipeline) {
                    Some(running) => *running,
                    None => {
                        let running = match metadata.list_runs(Some(&pipeline)) {
                            Ok(runs) => runs.iter().any(|r| r.status == RunStatus::Running),
                            Err(MetadataStoreError::NotFound { .. }) => false,
                            Err(other) => return Err(other.into()),
                        };
                        running_pipelines.insert(pipeline.clone(), running);
                        running
                    }
                };
                if running {
                    plan.kept.push(KeptFolder {
                        path: folder,
                        reason: format!(
                            "pipeline `{pipeline}` has a running run, which may still record it"
                        ),
                    });
                    continue;
                }
            }
        }
        plan.orphans.push(OrphanFolder {
            path: folder,
            artifact_id: id,
            objects: objects.len(),
            bytes,
            modified_at: newest.map(millis),
        });
    }

    match fs::read_dir(staging_dir) {
        Ok(entries) => {
            let mut found = Vec::new();
            for entry in entries {
                let path = entry.map_err(io_error("cannot list", staging_dir))?.path();
                let (bytes, modified) = tree_stats(&path)?;
                if !young(modified) {
                    found.push(StagingEntry {
                        path,
                        bytes,
                        modified_at: millis(modified),
                    });
                }
            }
            found.sort_by(|a, b| a.path.cmp(&b.path));
            plan.staging = found;
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_error("cannot list", staging_dir)(e)),
    }
    Ok(plan)
}

/// A minimum age for people: `1 h`, `15 min`, `30 s`.
pub fn format_age(age: Duration) -> String {
    let secs = age.as_secs();
    if secs >= 3600 && secs.is_multiple_of(3600) {
        format!("{} h", secs / 3600)
    } else if secs >= 60 && secs.is_multiple_of(60) {
        format!("{} min", secs / 60)
    } else {
        format!("{secs} s")
    }
}

/// Deletes what `plan` lists, checking again just before each deletion that the folder is
/// still unrecorded and that the staging entry is still old enough.
pub(crate) fn prune(
    store: &dyn ArtifactStore,
    metadata: &dyn MetadataStore,
    plan: &PrunePlan,
) -> Result<PruneReport, ClientError> {
    let uri = store.uri();
    if uri != plan.artifact_store_uri {
        return Err(ClientError::NotFound {
            what: "artifact store",
            key: plan.artifact_store_uri.clone(),
            hint: format!("; the plan was made for another artifact store than `{uri}`"),
        });
    }
    let recorded: HashSet<String> = metadata.artifact_ids_in_store(&uri)?.into_iter().collect();
    let mut report = PruneReport::default();
    for orphan in &plan.orphans {
        if recorded.contains(&orphan.artifact_id)
            || recorded_anywhere(metadata, &orphan.artifact_id)?.is_some()
        {
            report.kept.push(KeptFolder {
                path: orphan.path.clone(),
                reason: "its artifact was recorded after the plan was made".to_owned(),
            });
            continue;
        }
        let folder =
            ObjectPath::new(&orphan.path).map_err(|e| store_error(ArtifactStoreError::from(e)))?;
        report.deleted_objects += store.delete_prefix(&folder).map_err(store_error)?;
        report.bytes += orphan.bytes.unwrap_or(0);
        report.deleted_folders.push(orphan.path.clone());
    }
    let min_age = Duration::from_secs(plan.min_age_secs);
    for entry in &plan.staging {
        let meta = match fs::symlink_metadata(&entry.path) {
            Ok(meta) => meta,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(io_error("cannot inspect", &entry.path)(e)),
        };
        let (_, modified) = tree_stats(&entry.path)?;
        let old = SystemTime::now()
            .duration_since(modified)
            .is_ok_and(|age| age >= min_age);
        if !old {
            report.kept.push(KeptFolder {
                path: entry.path.display().to_string(),
                reason: "it was modified after the plan was made".to_owned(),
            });
            continue;
        }
        if meta.is_dir() {
            fs::remove_dir_all(&entry.path).map_err(io_error("cannot delete", &entry.path))?;
        } else {
            fs::remove_file(&entry.path).map_err(io_error("cannot delete", &entry.path))?;
        }
        report.bytes += entry.bytes;
        report.deleted_staging.push(entry.path.clone());
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use std::fs::File;

    use zenml_artifact_store::LocalArtifactStore;

    use super::*;
    use crate::lineage::tests::{StepSpec, open_store, run, step};

    fn backdate(path: &Path, by: Duration) {
        let time = SystemTime::now() - by;
        if path.is_dir() {
            for entry in fs::read_dir(path).unwrap() {
                backdate(&entry.unwrap().path(), by);
            }
        }
        File::open(path).unwrap().set_modified(time).unwrap();
    }

    #[test]
    fn folders_group_by_their_first_four_segments() {
        let id = uuid::Uuid::new_v4().to_string();
        let object = ObjectPath::new(&format!("p/s/o/{id}/data/file.json")).unwrap();
        assert_eq!(
            artifact_folder(&object),
            Some((format!("p/s/o/{id}"), id.clone()))
        );
        for other in [
            format!("p/s/o/{id}"),
            "p/s/o/not-a-uuid/x".to_owned(),
            format!("p/s/{id}/x"),
        ] {
            assert_eq!(
                artifact_folder(&ObjectPath::new(&other).unwrap()),
                None,
                "{other}"
            );
        }
    }

    #[test]
    fn only_old_unrecorded_folders_and_staging_entries_are_pruned() {
        let dir = tempfile::tempdir().unwrap();
        let metadata = open_store(dir.path());
        let store = LocalArtifactStore::open(&dir.path().join("artifacts"), false).unwrap();
        let staging = dir.path().join("staging");
        fs::create_dir_all(&staging).unwrap();
        let hour = Duration::from_secs(3700);

        // A recorded artifact (with the store's URI), its files old.
        let uri = store.uri();
        let r = run(&metadata, "p", "r", 1);
        let (_, outputs) = step(
            &metadata,
            StepSpec {
                outputs: vec!["output"],
                store_uri: &uri,
                ..StepSpec::new(&r, "load", 1)
            },
        );
        let recorded = outputs["output"].clone();
        // One recorded under another store URI (a renamed store).
        let (_, others) = step(
            &metadata,
            StepSpec {
                outputs: vec!["output"],
                ..StepSpec::new(&r, "other", 2)
            },
        );
        let put = |folder: &str| {
            store
                .put(
                    &ObjectPath::new(&format!("{folder}/data.json")).unwrap(),
                    b"[1,2,3]",
                )
                .unwrap();
        };
        put(&recorded.path);
        // Recorded, but under another store URI (a renamed store): kept.
        let elsewhere = others["output"].path.clone();
        put(&elsewhere);
        // Orphans: an old one and a fresh one.
        let old = format!("p/trainer/output/{}", uuid::Uuid::new_v4());
        let fresh = format!("p/trainer/output/{}", uuid::Uuid::new_v4());
        put(&old);
        put(&fresh);
        // Not in the layout: never touched.
        store
            .put(&ObjectPath::new("notes/readme.txt").unwrap(), b"hi")
            .unwrap();
        for folder in [&recorded.path, &elsewhere, &old] {
            backdate(&store.root().join(folder), hour);
        }
        backdate(&store.root().join("notes"), hour);
        // Staging: an old leftover folder and a fresh one.
        fs::create_dir_all(staging.join("old-tmp/sub")).unwrap();
        fs::write(staging.join("old-tmp/sub/f"), b"12345").unwrap();
        backdate(&staging.join("old-tmp"), hour);
        fs::create_dir_all(staging.join("new-tmp")).unwrap();

        let plan = prune_plan(&store, &metadata, &staging, &PruneOptions::default()).unwrap();
        let orphans: Vec<&str> = plan.orphans.iter().map(|o| o.path.as_str()).collect();
        assert_eq!(orphans, [old.as_str()]);
        assert_eq!(plan.orphans[0].bytes, Some(7));
        assert_eq!(plan.recorded_folders, 1);
        assert_eq!(plan.unrecognized_objects, 1);
        let kept: Vec<&str> = plan.kept.iter().map(|k| k.path.as_str()).collect();
        assert_eq!(kept.len(), 2);
        assert!(kept.contains(&elsewhere.as_str()) && kept.contains(&fresh.as_str()));
        assert_eq!(plan.staging.len(), 1);
        assert_eq!(plan.staging[0].path, staging.join("old-tmp"));
        assert_eq!(plan.staging[0].bytes, 5);
        assert_eq!(plan.bytes(), 12);

        let report = prune(&store, &metadata, &plan).unwrap();
        assert_eq!(report.deleted_folders, std::slice::from_ref(&old));
        assert_eq!(report.deleted_objects, 1);
        assert_eq!(report.bytes, 12);
        let left: Vec<String> = store
            .list(None)
            .unwrap()
            .iter()
            .map(|o| o.path.as_str().to_owned())
            .collect();
        assert_eq!(left, {
            let mut expected = vec![
                format!("{}/data.json", recorded.path),
                format!("{elsewhere}/data.json"),
                format!("{fresh}/data.json"),
                "notes/readme.txt".to_owned(),
            ];
            expected.sort();
            expected
        });
        assert!(!staging.join("old-tmp").exists() && staging.join("new-tmp").exists());

        // Nothing left to do.
        let again = prune_plan(&store, &metadata, &staging, &PruneOptions::default()).unwrap();
        assert!(again.is_empty());
    }

    #[test]
    fn a_folder_recorded_after_the_plan_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let metadata = open_store(dir.path());
        let store = LocalArtifactStore::open(&dir.path().join("artifacts"), false).unwrap();
        let r = run(&metadata, "p", "r", 1);
        let (_, outputs) = step(
            &metadata,
            StepSpec {
                outputs: vec!["output"],
                ..StepSpec::new(&r, "load", 1)
            },
        );
        let recorded = &outputs["output"];
        let plan = PrunePlan {
            artifact_store_uri: store.uri(),
            staging_dir: dir.path().join("staging"),
            min_age_secs: 3600,
            orphans: vec![OrphanFolder {
                path: format!("p/load/output/{}", recorded.id),
                artifact_id: recorded.id.clone(),
                objects: 1,
                bytes: Some(1),
                modified_at: None,
            }],
            staging: Vec::new(),
            kept: Vec::new(),
            recorded_folders: 0,
            unrecognized_objects: 0,
        };
        store
            .put(
                &ObjectPath::new(&format!("{}/f", plan.orphans[0].path)).unwrap(),
                b"x",
            )
            .unwrap();
        let report = prune(&store, &metadata, &plan).unwrap();
        assert!(report.deleted_folders.is_empty());
        assert_eq!(report.kept.len(), 1);
        assert_eq!(store.list(None).unwrap().len(), 1);
    }
}
