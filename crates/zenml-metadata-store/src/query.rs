//! Bounded reads: what a page of artifacts, runs or metrics asks for, and what it answers.
//!
//! Every query here reads a page, never the whole history, so that a listing costs the same
//! on a store of a hundred runs and on one of a million. A page is reached either by an
//! offset (at most [`MAX_OFFSET`] rows are skipped: skipping costs what it skips) or by a
//! *cursor*, the position of the last row of the page before, which costs the same on every
//! page (keyset pagination). Totals are counted in the database; where counting every row
//! would read a whole table, the count stops at [`COUNT_CAP`] and says so.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::MetadataStoreError;
use crate::model::{ArtifactRecord, Millis, RunOrder, RunOverview, RunQuery, StepRunRecord};

/// The most rows a query skips by its offset. A larger offset is refused with
/// [`MetadataStoreError::InvalidQuery`]: a page that deep is reached by a cursor (the CLI's
/// `--all`) or by narrowing the filters, since skipping rows costs as much as reading them.
pub const MAX_OFFSET: u64 = 10_000;

/// The most rows a page holds; a larger limit is refused with
/// [`MetadataStoreError::InvalidQuery`].
pub const MAX_LIMIT: u64 = 1_000;

/// How far a count of artifacts goes: a count that reaches it stops there and is reported
/// as "at least" ([`Total::exact`] is `false`), so that counting never reads a whole table.
pub const COUNT_CAP: u64 = 10_000;

/// How many rows pass a query's filters: exact, or at least [`Total::count`] when counting
/// stopped at [`COUNT_CAP`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Total {
    /// The rows counted.
    pub count: u64,
    /// Whether every row was counted (`false`: there are at least `count`).
    pub exact: bool,
}

impl Total {
    /// An exact count.
    pub fn exact(count: u64) -> Total {
        Total { count, exact: true }
    }

    /// A count of at most `cap` rows: exact below it, "at least `cap`" at it.
    pub fn capped(count: u64, cap: u64) -> Total {
        Total {
            count: count.min(cap),
            exact: count < cap,
        }
    }
}

/// The position of an artifact in [`ArtifactOrder`]: a page that starts
/// [`after`](ArtifactQuery::after) it holds the artifacts that follow it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArtifactCursor {
    /// The artifact's `created_at`.
    pub created_at: Millis,
    /// The artifact's id (ties of `created_at` are ordered by id).
    pub id: String,
}

impl ArtifactCursor {
    /// The position of `artifact`.
    pub fn of(artifact: &ArtifactRecord) -> ArtifactCursor {
        ArtifactCursor {
            created_at: artifact.created_at,
            id: artifact.id.clone(),
        }
    }

    /// The cursor as one token, for a command line or a URL: `<created_at>.<id>`.
    pub fn token(&self) -> String {
        format!("{}.{}", self.created_at, self.id)
    }

    /// Reads a [`token`](Self::token); `None` when `token` is not one.
    pub fn parse(token: &str) -> Option<ArtifactCursor> {
        let (created_at, id) = token.split_once('.')?;
        let valid_id = !id.is_empty()
            && id.len() <= 36
            && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        let created_at = created_at.parse().ok()?;
        valid_id.then(|| ArtifactCursor {
            created_at,
            id: id.to_owned(),
        })
    }
}

/// The order of an [`ArtifactQuery`]'s artifacts. Each is total: ties of `created_at` are
/// ordered by id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ArtifactOrder {
    /// The newest first (by `created_at`, descending, then id, descending).
    #[default]
    NewestFirst,
    /// The oldest first (by `created_at`, then id).
    OldestFirst,
}

/// Which artifacts [`MetadataStore::query_artifacts`](crate::MetadataStore::query_artifacts)
/// returns: a page of those that pass every filter given, in an order.
///
/// Start from [`ArtifactQuery::default`] (the 50 newest artifacts) and set what you need;
/// fields may be added, each with a default that does not narrow the query.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ArtifactQuery {
    /// Only the versions of this name.
    pub name: Option<String>,
    /// Only the artifacts with this tag.
    pub tag: Option<String>,
    /// Only the artifacts produced by runs of this pipeline (an unknown pipeline is
    /// [`MetadataStoreError::NotFound`]).
    pub pipeline: Option<String>,
    /// Only the artifacts produced by steps of this name.
    pub step: Option<String>,
    /// Only the artifacts written by this materializer (its id, e.g. `zenml.json`).
    pub materializer: Option<String>,
    /// Only the artifacts of this Rust type, exactly as recorded.
    pub rust_type: Option<String>,
    /// Only the artifacts recorded at or after this time.
    pub created_after: Option<Millis>,
    /// Only the artifacts recorded before this time.
    pub created_before: Option<Millis>,
    /// The order.
    pub order: ArtifactOrder,
    /// Where the page starts: after this artifact, in the order (keyset pagination; the
    /// offset, if any, counts from there).
    pub after: Option<ArtifactCursor>,
    /// How many artifacts, in that order, come before the page (at most [`MAX_OFFSET`]).
    pub offset: u64,
    /// How many artifacts the page holds at most (at most [`MAX_LIMIT`]).
    pub limit: u64,
}

impl Default for ArtifactQuery {
    /// The 50 newest artifacts.
    fn default() -> Self {
        ArtifactQuery {
            name: None,
            tag: None,
            pipeline: None,
            step: None,
            materializer: None,
            rust_type: None,
            created_after: None,
            created_before: None,
            order: ArtifactOrder::NewestFirst,
            after: None,
            offset: 0,
            limit: 50,
        }
    }
}

impl ArtifactQuery {
    /// Whether `artifact` passes the filters that need nothing but its record (time,
    /// materializer, type): the rest need the store.
    pub fn admits_record(&self, artifact: &ArtifactRecord) -> bool {
        self.materializer
            .as_ref()
            .is_none_or(|m| *m == artifact.materializer_id)
            && self
                .rust_type
                .as_ref()
                .is_none_or(|t| *t == artifact.rust_type)
            && self.created_after.is_none_or(|t| artifact.created_at >= t)
            && self.created_before.is_none_or(|t| artifact.created_at < t)
    }

    /// Whether `artifact` comes after the query's cursor (every artifact when it has none).
    pub fn is_after_cursor(&self, artifact: &ArtifactRecord) -> bool {
        let Some(cursor) = &self.after else {
            return true;
        };
        let position = (artifact.created_at, artifact.id.as_str());
        let cursor = (cursor.created_at, cursor.id.as_str());
        match self.order {
            ArtifactOrder::NewestFirst => position < cursor,
            ArtifactOrder::OldestFirst => position > cursor,
        }
    }

    /// Refuses an offset past [`MAX_OFFSET`] or a limit past [`MAX_LIMIT`].
    pub fn check_bounds(&self) -> Result<(), MetadataStoreError> {
        check_page_bounds("artifacts", self.offset, self.limit)
    }
}

/// A page of artifacts: the answer to an [`ArtifactQuery`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArtifactPage {
    /// The artifacts of the page, in the query's order.
    pub artifacts: Vec<ArtifactRecord>,
    /// How many artifacts pass the query's filters (the cursor and offset aside), on every
    /// page.
    pub total: Total,
    /// Where the next page starts, when this page is full (it may then be empty).
    pub next: Option<ArtifactCursor>,
}

impl ArtifactPage {
    /// A page of `artifacts` for a query with `limit`: its next page starts after its last
    /// artifact when it is full.
    pub fn new(artifacts: Vec<ArtifactRecord>, total: Total, limit: u64) -> ArtifactPage {
        let full = limit > 0 && artifacts.len() as u64 >= limit;
        let next = if full {
            artifacts.last().map(ArtifactCursor::of)
        } else {
            None
        };
        ArtifactPage {
            artifacts,
            total,
            next,
        }
    }
}

/// The position of a run in a [`RunOrder`]: a page of
/// [`query_runs_after`](crate::MetadataStore::query_runs_after) holds the runs that follow it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunCursor {
    /// The run's start.
    pub started_at: Millis,
    /// The run's name (names are unique, so ties of the start are ordered by name).
    pub name: String,
}

impl RunCursor {
    /// The position of `run`.
    pub fn of(run: &RunOverview) -> RunCursor {
        RunCursor {
            started_at: run.started_at,
            name: run.name.clone(),
        }
    }

    /// Whether a run that started at `started_at` and is named `name` follows the cursor in
    /// `order`.
    pub fn precedes(&self, order: RunOrder, started_at: Millis, name: &str) -> bool {
        let by_start = (started_at, name).cmp(&(self.started_at, self.name.as_str()));
        let by_name = name.cmp(self.name.as_str());
        match order {
            RunOrder::NewestFirst => by_start.is_lt(),
            RunOrder::OldestFirst => by_start.is_gt(),
            RunOrder::NameAscending => by_name.is_gt(),
            RunOrder::NameDescending => by_name.is_lt(),
        }
    }
}

impl RunQuery {
    /// Refuses an offset past [`MAX_OFFSET`] or a limit past [`MAX_LIMIT`].
    pub fn check_bounds(&self) -> Result<(), MetadataStoreError> {
        check_page_bounds("runs", self.offset, self.limit)
    }
}

/// Refuses an offset past [`MAX_OFFSET`] or a limit past [`MAX_LIMIT`], naming `what` is
/// listed.
pub fn check_page_bounds(what: &str, offset: u64, limit: u64) -> Result<(), MetadataStoreError> {
    if offset > MAX_OFFSET {
        return Err(MetadataStoreError::InvalidQuery {
            message: format!(
                "a page of {what} starts at most {MAX_OFFSET} rows in (asked: {offset}); \
                 narrow the filters, or follow the pages from the first (a cursor)"
            ),
        });
    }
    if limit > MAX_LIMIT {
        return Err(MetadataStoreError::InvalidQuery {
            message: format!("a page holds at most {MAX_LIMIT} {what} (asked: {limit})"),
        });
    }
    Ok(())
}

/// The position of a step run among step runs ordered newest first (by end, then start,
/// then id), as cache entries are: a page of
/// [`cache_entries_page`](crate::MetadataStore::cache_entries_page) after it holds the
/// entries that follow it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepRunCursor {
    /// The step run's end.
    pub ended_at: Millis,
    /// The step run's start.
    pub started_at: Millis,
    /// The step run's id.
    pub id: String,
}

impl StepRunCursor {
    /// The position of `step`.
    pub fn of(step: &StepRunRecord) -> StepRunCursor {
        StepRunCursor {
            ended_at: step.ended_at,
            started_at: step.started_at,
            id: step.id.clone(),
        }
    }

    /// Whether `step` follows the cursor, newest first.
    pub fn precedes_newer_first(&self, step: &StepRunRecord) -> bool {
        (step.ended_at, step.started_at, step.id.as_str())
            < (self.ended_at, self.started_at, self.id.as_str())
    }
}

/// A page of records with how many there are in all.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Page<T> {
    /// The records of the page, in the query's order.
    pub items: Vec<T>,
    /// How many records there are, on every page.
    pub total: Total,
}

impl<T> Page<T> {
    /// The page of `all` that skips `offset` records and holds at most `limit`.
    pub fn of_all(all: Vec<T>, offset: u64, limit: u64) -> Page<T> {
        let total = Total::exact(all.len() as u64);
        let items = all
            .into_iter()
            .skip(usize::try_from(offset).unwrap_or(usize::MAX))
            .take(usize::try_from(limit).unwrap_or(usize::MAX))
            .collect();
        Page { items, total }
    }
}

/// Which metrics [`MetadataStore::pipeline_metrics`](crate::MetadataStore::pipeline_metrics)
/// returns: the step metadata of the newest runs of one pipeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct MetricQuery {
    /// The pipeline.
    pub pipeline: String,
    /// Only the metrics of steps of this name.
    pub step: Option<String>,
    /// Only the metrics of this key.
    pub key: Option<String>,
    /// How many of the pipeline's newest runs (by start, as
    /// [`list_runs`](crate::MetadataStore::list_runs) orders them) are read; at most
    /// [`MAX_LIMIT`].
    pub runs: u64,
}

impl MetricQuery {
    /// The metrics of the 200 newest runs of `pipeline`.
    pub fn new(pipeline: impl Into<String>) -> MetricQuery {
        MetricQuery {
            pipeline: pipeline.into(),
            step: None,
            key: None,
            runs: 200,
        }
    }
}

/// One metric of one step run: a point of a metric's series across runs. A cached step
/// run's metrics are those its original recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricPoint {
    /// The run's id.
    pub run_id: String,
    /// The run's name.
    pub run_name: String,
    /// When the run started.
    pub started_at: Millis,
    /// The step's name.
    pub step: String,
    /// The metric's key.
    pub key: String,
    /// Its value.
    pub value: Value,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn artifact_cursor_tokens_round_trip_and_refuse_garbage() {
        let cursor = ArtifactCursor {
            created_at: 1_700_000_000_123,
            id: "0b4f6d5e-3c1a-4b9a-9e0f-2f8a7c6d5e4b".to_owned(),
        };
        assert_eq!(ArtifactCursor::parse(&cursor.token()), Some(cursor));
        for bad in [
            "",
            "12",
            "x.abc",
            "12.",
            "12.a b",
            "12.a'b",
            &format!("1.{}", "a".repeat(37)),
        ] {
            assert_eq!(ArtifactCursor::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn counts_stop_at_the_cap() {
        assert_eq!(
            Total::capped(3, 10),
            Total {
                count: 3,
                exact: true
            }
        );
        assert_eq!(
            Total::capped(10, 10),
            Total {
                count: 10,
                exact: false
            }
        );
    }

    #[test]
    fn run_cursors_follow_every_order() {
        let cursor = RunCursor {
            started_at: 10,
            name: "m".to_owned(),
        };
        assert!(cursor.precedes(RunOrder::NewestFirst, 9, "z"));
        assert!(cursor.precedes(RunOrder::NewestFirst, 10, "a"));
        assert!(!cursor.precedes(RunOrder::NewestFirst, 10, "m"));
        assert!(cursor.precedes(RunOrder::OldestFirst, 10, "n"));
        assert!(cursor.precedes(RunOrder::NameAscending, 0, "n"));
        assert!(cursor.precedes(RunOrder::NameDescending, 99, "l"));
    }

    #[test]
    fn deep_offsets_and_huge_pages_are_refused() {
        assert!(check_page_bounds("runs", MAX_OFFSET, MAX_LIMIT).is_ok());
        let deep = check_page_bounds("runs", MAX_OFFSET + 1, 1).unwrap_err();
        assert!(deep.to_string().contains("narrow the filters"), "{deep}");
        assert!(check_page_bounds("runs", 0, MAX_LIMIT + 1).is_err());
    }
}
