//! The Client's bounded reads: pages of runs and artifacts, and a pipeline's metrics, as
//! the metadata store selects them in its database.

use zenml_metadata_store::{
    ArtifactPage, ArtifactQuery, CacheEntry, CacheFilter, MetadataStoreError, MetricPoint,
    MetricQuery, Page, RunCursor, RunPage, RunQuery, StepRunCursor,
};

use super::{Client, ClientError};
use crate::compare::PipelineComparison;

impl Client {
    /// A page of runs (see
    /// [`MetadataStore::query_runs`](zenml_metadata_store::MetadataStore::query_runs)). An
    /// unknown pipeline is [`ClientError::NotFound`] naming the recorded ones.
    pub fn query_runs(&self, query: &RunQuery) -> Result<RunPage, ClientError> {
        let found = self.stack.metadata_store.query_runs(query);
        self.pipeline_known(found, query.pipeline.as_deref())
    }

    /// The page of runs after `after` (see
    /// [`MetadataStore::query_runs_after`](zenml_metadata_store::MetadataStore::query_runs_after)).
    pub fn query_runs_after(
        &self,
        query: &RunQuery,
        after: &RunCursor,
    ) -> Result<RunPage, ClientError> {
        let found = self.stack.metadata_store.query_runs_after(query, after);
        self.pipeline_known(found, query.pipeline.as_deref())
    }

    /// A page of artifacts (see
    /// [`MetadataStore::query_artifacts`](zenml_metadata_store::MetadataStore::query_artifacts)).
    /// An unknown pipeline is [`ClientError::NotFound`] naming the recorded ones.
    pub fn query_artifacts(&self, query: &ArtifactQuery) -> Result<ArtifactPage, ClientError> {
        let found = self.stack.metadata_store.query_artifacts(query);
        self.pipeline_known(found, query.pipeline.as_deref())
    }

    /// The metrics of a pipeline's newest runs (see
    /// [`MetadataStore::pipeline_metrics`](zenml_metadata_store::MetadataStore::pipeline_metrics)).
    pub fn pipeline_metrics(&self, query: &MetricQuery) -> Result<Vec<MetricPoint>, ClientError> {
        let found = self.stack.metadata_store.pipeline_metrics(query);
        self.pipeline_known(found, Some(&query.pipeline))
    }

    /// A page of the cache entries that `filter` selects, after `after` (see
    /// [`MetadataStore::cache_entries_page`](zenml_metadata_store::MetadataStore::cache_entries_page)).
    /// A pipeline that was never run is [`ClientError::NotFound`].
    pub fn cache_entries_page(
        &self,
        filter: &CacheFilter,
        after: Option<&StepRunCursor>,
        offset: u64,
        limit: u64,
    ) -> Result<Page<CacheEntry>, ClientError> {
        if let Some(pipeline) = &filter.pipeline {
            self.require_pipeline(pipeline)?;
        }
        Ok(self
            .stack
            .metadata_store
            .cache_entries_page(filter, after, offset, limit)?)
    }

    /// The newest `limit` runs of `pipelines` (of every pipeline when empty) compared as
    /// [`Client::compare_pipelines`] compares every run, and how many runs they have in all:
    /// what a comparison reads is bounded by `limit`, not by the history. An unknown
    /// pipeline is [`ClientError::NotFound`].
    pub fn compare_newest_runs(
        &self,
        pipelines: &[&str],
        limit: u64,
    ) -> Result<(PipelineComparison, u64), ClientError> {
        let mut names: Vec<String> = pipelines.iter().map(|p| (*p).to_owned()).collect();
        names.sort();
        names.dedup();
        let mut overviews = Vec::new();
        let mut total = 0;
        let mut query = RunQuery {
            limit,
            ..RunQuery::default()
        };
        if names.is_empty() {
            let page = self.query_runs(&query)?;
            total = page.total;
            overviews = page.runs;
            names = self
                .pipelines()?
                .into_iter()
                .map(|p| p.pipeline.name)
                .collect();
        } else {
            for name in &names {
                query.pipeline = Some(name.clone());
                let page = self.query_runs(&query)?;
                total += page.total;
                overviews.extend(page.runs);
            }
            overviews.sort_by(|x, y| {
                y.started_at
                    .cmp(&x.started_at)
                    .then_with(|| y.name.cmp(&x.name))
            });
            overviews.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        }
        let runs = overviews
            .iter()
            .map(|run| self.stack.metadata_store.get_run(&run.id))
            .collect::<Result<Vec<_>, _>>()?;
        let comparison =
            crate::compare::compare_pipelines(self.stack.metadata_store.as_ref(), names, &runs)?;
        Ok((comparison, total))
    }

    /// `found`, with a store's "no pipeline" turned into the Client's error that lists the
    /// recorded pipelines.
    fn pipeline_known<T>(
        &self,
        found: Result<T, MetadataStoreError>,
        pipeline: Option<&str>,
    ) -> Result<T, ClientError> {
        match (found, pipeline) {
            (
                Err(MetadataStoreError::NotFound {
                    what: "pipeline", ..
                }),
                Some(name),
            ) => {
                self.require_pipeline(name)?;
                Err(ClientError::NotFound {
                    what: "pipeline",
                    key: name.to_owned(),
                    hint: String::new(),
                })
            }
            (found, _) => Ok(found?),
        }
    }
}
