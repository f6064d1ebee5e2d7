//! Query parameters, read by hand so that a malformed one is a 400 naming it.

use zenml_metadata_store::{MAX_OFFSET, RunOrder, RunQuery, RunStatus};

use crate::error::RequestError;

/// The query parameters of a request, in order (a key may repeat).
#[derive(Debug, Default)]
pub(crate) struct Params(Vec<(String, String)>);

/// How many items a page holds unless asked otherwise, and at most.
pub(crate) const PER_PAGE: u64 = 50;
const MAX_PER_PAGE: u64 = 500;

impl Params {
    /// The parameters of a raw query string.
    pub(crate) fn parse(query: Option<&str>) -> Params {
        Params(
            form_urlencoded::parse(query.unwrap_or("").as_bytes())
                .into_owned()
                .collect(),
        )
    }

    /// The last value of `name`; an empty value counts as absent (an empty form field).
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(key, value)| key == name && !value.is_empty())
            .map(|(_, value)| value.as_str())
    }

    /// Every non-empty value of `name`, in order.
    pub(crate) fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(key, value)| key == name && !value.is_empty())
            .map(|(_, value)| value.clone())
            .collect()
    }

    /// `name` as a whole number between `min` and `max`, `default` when absent.
    pub(crate) fn number(
        &self,
        name: &'static str,
        default: u64,
        min: u64,
        max: u64,
    ) -> Result<u64, RequestError> {
        let Some(text) = self.get(name) else {
            return Ok(default);
        };
        match text.parse::<u64>() {
            Ok(n) if (min..=max).contains(&n) => Ok(n),
            _ => Err(RequestError::bad(
                name,
                format!("`{text}` is not a whole number from {min} to {max}"),
            )),
        }
    }

    /// `page` and `per_page`: (page, per page, offset).
    pub(crate) fn page(&self) -> Result<(u64, u64, u64), RequestError> {
        let page = self.number("page", 1, 1, u64::from(u32::MAX))?;
        let per_page = self.number("per_page", PER_PAGE, 1, MAX_PER_PAGE)?;
        let offset = (page - 1).saturating_mul(per_page);
        if offset > MAX_OFFSET {
            return Err(RequestError::bad(
                "page",
                format!(
                    "page {page} of {per_page} starts past the first {MAX_OFFSET} items; \
                     narrow the list with its filters"
                ),
            ));
        }
        Ok((page, per_page, offset))
    }

    /// `depth` (0 to 50, default 3) and `max_nodes` (1 to 1000, default 200) of a lineage.
    pub(crate) fn lineage_bounds(&self) -> Result<(usize, usize), RequestError> {
        let depth = self.number("depth", 3, 0, 50)?;
        let max_nodes = self.number("max_nodes", 200, 1, 1_000)?;
        Ok((depth as usize, max_nodes as usize))
    }

    /// `runs`: how many of a pipeline's newest runs a metric chart draws.
    pub(crate) fn chart_runs(&self) -> Result<u64, RequestError> {
        use crate::api::load::{CHART_RUNS, MAX_CHART_RUNS};
        self.number("runs", CHART_RUNS, 1, MAX_CHART_RUNS)
    }

    /// The runs to compare: every `runs` value, from 2 to 20 of them.
    pub(crate) fn compared_runs(&self) -> Result<Vec<String>, RequestError> {
        let runs = self.all("runs");
        if (2..=20).contains(&runs.len()) {
            Ok(runs)
        } else {
            Err(RequestError::bad(
                "runs",
                "give from 2 to 20 runs to compare",
            ))
        }
    }

    /// The run query of `pipeline`, `status`, `sort`, `page` and `per_page`.
    pub(crate) fn run_query(&self) -> Result<(RunQuery, u64), RequestError> {
        let (page, per_page, offset) = self.page()?;
        let status = match self.get("status") {
            None => None,
            Some(text) => Some(RunStatus::parse(text).ok_or_else(|| {
                RequestError::bad(
                    "status",
                    format!(
                        "`{text}` is not a run status (running, completed, failed, interrupted, \
                         cancelled)"
                    ),
                )
            })?),
        };
        let order = match self.get("sort").unwrap_or("-started") {
            "-started" => RunOrder::NewestFirst,
            "started" => RunOrder::OldestFirst,
            "name" => RunOrder::NameAscending,
            "-name" => RunOrder::NameDescending,
            other => {
                return Err(RequestError::bad(
                    "sort",
                    format!("`{other}` is not one of -started, started, name, -name"),
                ));
            }
        };
        Ok((
            RunQuery {
                pipeline: self.get("pipeline").map(str::to_owned),
                status,
                order,
                offset,
                limit: per_page,
            },
            page,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_parameters_are_named() {
        let params = Params::parse(Some("page=0&per_page=9999&status=done&sort=size"));
        let page = params.page().unwrap_err();
        assert_eq!(page.parameter(), Some("page"));
        let params = Params::parse(Some("page=2&per_page=9999"));
        assert_eq!(params.page().unwrap_err().parameter(), Some("per_page"));
        let params = Params::parse(Some("page=202&per_page=50"));
        assert_eq!(params.page().unwrap_err().parameter(), Some("page"));
        let params = Params::parse(Some("page=201&per_page=50"));
        assert_eq!(params.page().unwrap().2, 10_000);
        let params = Params::parse(Some("status=done"));
        assert_eq!(params.run_query().unwrap_err().parameter(), Some("status"));
        let params = Params::parse(Some("sort=size"));
        assert_eq!(params.run_query().unwrap_err().parameter(), Some("sort"));
    }

    #[test]
    fn pages_and_filters_are_read() {
        let params = Params::parse(Some(
            "pipeline=a%20b&status=failed&sort=name&page=3&per_page=20&runs=x&runs=&runs=y",
        ));
        let (query, page) = params.run_query().unwrap();
        assert_eq!(page, 3);
        assert_eq!(query.pipeline.as_deref(), Some("a b"));
        assert_eq!(query.status, Some(RunStatus::Failed));
        assert_eq!(query.order, RunOrder::NameAscending);
        assert_eq!((query.offset, query.limit), (40, 20));
        assert_eq!(params.all("runs"), vec!["x", "y"]);
        let (default, page) = Params::parse(None).run_query().unwrap();
        assert_eq!((default, page), (RunQuery::default(), 1));
    }
}
