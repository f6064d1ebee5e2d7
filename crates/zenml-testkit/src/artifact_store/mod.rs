//! The artifact store suite: the [`ArtifactStore`] contract on one store.
//!
//! Groups (the columns of the flavor matrix):
//!
//! - **objects**: put, get, head, ranged reads, exists, list, delete and delete_prefix
//!   ([`put_and_get_round_trip`], [`missing_objects_are_not_found`],
//!   [`head_describes_objects_without_reading_them`], [`ranged_reads_are_exact`],
//!   [`exists_is_true_for_objects_only`], [`list_is_complete_sorted_and_bounded`],
//!   [`deleting_is_idempotent`], [`delete_prefix_deletes_below_the_prefix_only`],
//!   [`the_uri_is_stable`]);
//! - **names**: keys are validated and stay inside the store
//!   ([`object_paths_reject_escapes`], [`unusual_valid_keys_are_distinct_objects`],
//!   [`links_inside_the_store_are_not_followed`]);
//! - **atomic-publish**: a failed write leaves no object, a write whose source fails part way
//!   leaves no partial object, readers never see a partial one, and conditional creates never
//!   overwrite ([`a_failed_put_file_leaves_no_object`],
//!   [`a_stream_that_fails_part_way_leaves_no_object`],
//!   [`readers_never_see_partial_objects`], [`create_never_overwrites`],
//!   [`concurrent_creates_have_one_winner`]);
//! - **large-objects**: 64 MiB streamed in and out, created conditionally, and the optional
//!   local-files capability ([`large_objects_stream_through_files`],
//!   [`large_streams_are_created_conditionally`], [`put_file_moving_publishes_the_file`],
//!   [`local_path_points_at_the_object`]).
//!
//! Every check works below a fresh prefix `zenml-testkit-<random>/` and deletes it at the
//! end, so the suite runs on a store that holds other objects (e.g. a shared bucket). Checks
//! that need local files (sources for `put_file`, destinations for `get_file`) make them in
//! a temporary folder of their own. Checks about links planted inside the store need to know
//! the store's folder: they run on stores whose [`uri`](ArtifactStore::uri) is a `file://`
//! URI and are skipped on others; checks of the [`LocalFiles`](zenml_artifact_store::LocalFiles)
//! capability are skipped on stores without it.
//!
//! ```no_run
//! # use zenml_artifact_store::LocalArtifactStore;
//! let dir = tempfile::tempdir().unwrap();
//! let store = LocalArtifactStore::open(&dir.path().join("artifacts"), true).unwrap();
//! zenml_testkit::artifact_store::run_all(&store).assert_passed();
//! ```

mod helpers;
mod large;
mod names;
mod objects;
mod publish;

use zenml_artifact_store::ArtifactStore;

use crate::{GroupReport, SuiteReport};

pub use large::{
    large_objects_stream_through_files, large_streams_are_created_conditionally,
    local_path_points_at_the_object, put_file_moving_publishes_the_file,
};
pub use names::{
    links_inside_the_store_are_not_followed, object_paths_reject_escapes,
    unusual_valid_keys_are_distinct_objects,
};
pub use objects::{
    delete_prefix_deletes_below_the_prefix_only, deleting_is_idempotent,
    exists_is_true_for_objects_only, head_describes_objects_without_reading_them,
    list_is_complete_sorted_and_bounded, missing_objects_are_not_found, put_and_get_round_trip,
    ranged_reads_are_exact, the_uri_is_stable,
};
pub use publish::{
    a_failed_put_file_leaves_no_object, a_stream_that_fails_part_way_leaves_no_object,
    concurrent_creates_have_one_winner, create_never_overwrites, readers_never_see_partial_objects,
};

/// The suite's name in reports.
pub const SUITE: &str = "artifact-store";

/// The groups of [`run_all`], in order.
pub const GROUPS: [&str; 4] = ["objects", "names", "atomic-publish", "large-objects"];

/// The size of the large objects, 64 MiB.
pub const LARGE: u64 = 64 << 20;

/// A check: its name and the function that runs it on a store.
type Check = (&'static str, fn(&dyn ArtifactStore));

/// The checks of each group, in order.
const CHECKS: [(&str, &[Check]); 4] = [
    (
        "objects",
        &[
            ("put_and_get_round_trip", put_and_get_round_trip),
            (
                "missing_objects_are_not_found",
                missing_objects_are_not_found,
            ),
            (
                "head_describes_objects_without_reading_them",
                head_describes_objects_without_reading_them,
            ),
            ("ranged_reads_are_exact", ranged_reads_are_exact),
            (
                "exists_is_true_for_objects_only",
                exists_is_true_for_objects_only,
            ),
            (
                "list_is_complete_sorted_and_bounded",
                list_is_complete_sorted_and_bounded,
            ),
            ("deleting_is_idempotent", deleting_is_idempotent),
            (
                "delete_prefix_deletes_below_the_prefix_only",
                delete_prefix_deletes_below_the_prefix_only,
            ),
            ("the_uri_is_stable", the_uri_is_stable),
        ],
    ),
    (
        "names",
        &[
            ("object_paths_reject_escapes", |_| {
                object_paths_reject_escapes()
            }),
            (
                "unusual_valid_keys_are_distinct_objects",
                unusual_valid_keys_are_distinct_objects,
            ),
            (
                "links_inside_the_store_are_not_followed",
                links_inside_the_store_are_not_followed,
            ),
        ],
    ),
    (
        "atomic-publish",
        &[
            (
                "a_failed_put_file_leaves_no_object",
                a_failed_put_file_leaves_no_object,
            ),
            (
                "a_stream_that_fails_part_way_leaves_no_object",
                a_stream_that_fails_part_way_leaves_no_object,
            ),
            (
                "readers_never_see_partial_objects",
                readers_never_see_partial_objects,
            ),
            ("create_never_overwrites", create_never_overwrites),
            (
                "concurrent_creates_have_one_winner",
                concurrent_creates_have_one_winner,
            ),
        ],
    ),
    (
        "large-objects",
        &[
            (
                "large_objects_stream_through_files",
                large_objects_stream_through_files,
            ),
            (
                "large_streams_are_created_conditionally",
                large_streams_are_created_conditionally,
            ),
            (
                "put_file_moving_publishes_the_file",
                put_file_moving_publishes_the_file,
            ),
            (
                "local_path_points_at_the_object",
                local_path_points_at_the_object,
            ),
        ],
    ),
];

/// Runs every check on `store` and reports them by group.
pub fn run_all(store: &dyn ArtifactStore) -> SuiteReport {
    let mut suite = SuiteReport::new(SUITE);
    for (group, checks) in CHECKS {
        let mut report = GroupReport::new(group);
        for &(name, check) in checks {
            report.run(name, || check(store));
        }
        suite = suite.with(report);
    }
    suite
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_groups_are_the_checks_groups() {
        assert_eq!(CHECKS.map(|(group, _)| group), GROUPS);
    }
}
