//! The pages: server-rendered HTML with maud, which escapes every string it interpolates.
//! Each page has a stable URL; runs, steps and artifacts link to each other both ways.

mod artifacts;
mod compare;
mod runs;
mod stacks;
mod steps;

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use maud::{DOCTYPE, Markup, html};
use serde_json::Value;
use zenml_core::time::{format_duration, format_timestamp};

use zenml_metadata_store::{MAX_OFFSET, Total};

use crate::api::model::RunItem;
use crate::error::RequestError;
use crate::server::AppState;

/// The pages' routes.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/",
            get(|| async { axum::response::Redirect::to("/pipelines") }),
        )
        .route("/pipelines", get(runs::pipelines))
        .route("/pipelines/{name}", get(runs::pipeline))
        .route("/pipelines/{name}/chart.svg", get(compare::chart))
        .route("/runs", get(runs::runs))
        .route("/runs/{id}", get(runs::run))
        .route("/runs/{id}/config.toml", get(runs::config_toml))
        .route("/steps/{id}", get(steps::step))
        .route("/artifacts", get(artifacts::artifacts))
        .route("/artifacts/{id}", get(artifacts::artifact))
        .route("/artifacts/{id}/lineage", get(artifacts::lineage))
        .route("/compare", get(compare::compare))
        .route("/stacks", get(stacks::stacks))
        .route("/flavors", get(stacks::flavors))
}

/// A page's answer: the page, or an error page.
type PageResult = Result<Markup, PageError>;

/// A [`RequestError`] shown as a page.
pub(crate) struct PageError(RequestError);

impl From<RequestError> for PageError {
    fn from(error: RequestError) -> Self {
        PageError(error)
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let title = match self.0.status() {
            StatusCode::NOT_FOUND => "Not found",
            StatusCode::BAD_REQUEST => "Bad request",
            StatusCode::SERVICE_UNAVAILABLE => "Busy",
            _ => "Error",
        };
        (
            self.0.status(),
            self.0.headers(),
            layout(title, html! { p.error { (self.0.message()) } }),
        )
            .into_response()
    }
}

/// The fallback: an unknown page.
pub(crate) async fn not_found(uri: axum::http::Uri) -> Response {
    if uri.path().starts_with("/api/") {
        return RequestError::NotFound("no such API endpoint".to_owned()).into_response();
    }
    PageError(RequestError::NotFound(format!(
        "there is no page at {}",
        uri.path()
    )))
    .into_response()
}

/// The frame of every page: the navigation and the title.
pub(crate) fn layout(title: &str, body: Markup) -> Markup {
    layout_with(title, None, body)
}

/// [`layout`], with the status of the run the page shows (which `app.js` watches).
fn layout_with(title: &str, run: Option<(&str, &str)>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · zenml" }
                link rel="stylesheet" href="/static/style.css";
                script src="/static/app.js" defer {}
            }
            body data-run-id=[run.map(|r| r.0)] data-run-status=[run.map(|r| r.1)] {
                header {
                    a.brand href="/pipelines" { "zenml" }
                    nav #nav {
                        a #nav-pipelines href="/pipelines" { "Pipelines" }
                        a #nav-runs href="/runs" { "Runs" }
                        a #nav-artifacts href="/artifacts" { "Artifacts" }
                        a #nav-compare href="/compare" { "Compare" }
                        a #nav-stacks href="/stacks" { "Stacks" }
                        a #nav-flavors href="/flavors" { "Flavors" }
                    }
                }
                main {
                    h1 { (title) }
                    (body)
                }
            }
        }
    }
}

/// The login form.
pub(crate) fn login_page(message: Option<&str>) -> Markup {
    layout(
        "Log in",
        html! {
            @if let Some(message) = message { p.error { (message) } }
            form #login method="post" action="/login" {
                label { "Token " input type="password" name="token" autocomplete="current-password" autofocus; }
                button type="submit" { "Log in" }
            }
        },
    )
}

/// A status as a coloured badge.
pub(crate) fn status(status: &str) -> Markup {
    html! { span class={ "status status-" (status) } { (status) } }
}

/// A time, or a dash.
pub(crate) fn time(millis: Option<i64>) -> String {
    millis.map_or_else(|| "–".to_owned(), format_timestamp)
}

/// A duration, or a dash.
pub(crate) fn duration(millis: Option<i64>) -> String {
    millis.map_or_else(|| "–".to_owned(), format_duration)
}

/// A JSON value as compact text (strings without quotes).
pub(crate) fn value_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// A JSON value, pretty.
pub(crate) fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
}

/// A URL query component.
pub(crate) fn encode(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// A table of runs with pickers for the comparison.
pub(crate) fn runs_table(runs: &[RunItem]) -> Markup {
    html! {
        form #compare-form method="get" action="/compare" {
            table #runs {
                thead { tr { th { "compare" } th { "run" } th { "pipeline" } th { "status" } th { "started" } th { "duration" } th { "steps" } } }
                tbody {
                    @for run in runs {
                        tr.run-row {
                            td { input.compare-pick type="checkbox" name="runs" value=(run.id) aria-label={ "compare " (run.name) }; }
                            td { a.run-link href={ "/runs/" (run.id) } { (run.name) } }
                            td { a href={ "/pipelines/" (encode(&run.pipeline)) } { (run.pipeline) } }
                            td { (status(&run.status)) }
                            td { (time(Some(run.started_at))) }
                            td { (duration(run.duration_ms)) }
                            td {
                                @if let Some(steps) = run.step_runs { (steps) }
                                @if let Some(cached) = run.cached_step_runs.filter(|c| *c > 0) { " (" (cached) " cached)" }
                            }
                        }
                    }
                }
            }
            button #compare-button type="submit" { "Compare selected runs" }
        }
    }
}

/// Links to the newer and older pages of a list, newest first; `base` ends with `?` or `&`.
pub(crate) fn pagination(base: &str, page: u64, per_page: u64, total: Total) -> Markup {
    pager(base, page, per_page, total, ("← newer", "older →"))
}

/// Links to the previous and next pages (labelled `labels`); `base` ends with `?` or `&`.
/// A total counted only up to a cap shows as "more than N pages".
pub(crate) fn pager(
    base: &str,
    page: u64,
    per_page: u64,
    total: Total,
    labels: (&str, &str),
) -> Markup {
    let pages = total.count.div_ceil(per_page).max(1);
    // Past a capped count the pages go on, up to the deepest offset a store serves.
    let more = !total.exact && page >= pages && page.saturating_mul(per_page) <= MAX_OFFSET;
    html! {
        nav.pagination {
            @if page > 1 { a.prev href={ (base) "page=" (page - 1) "&per_page=" (per_page) } { (labels.0) } }
            @if total.exact {
                span { "page " (page) " of " (pages) }
            } @else {
                span { "page " (page) " of more than " (pages) }
            }
            @if page < pages || more { a.next href={ (base) "page=" (page + 1) "&per_page=" (per_page) } { (labels.1) } }
        }
    }
}

/// A count that may stop at a cap: `10000+` when it did.
pub(crate) fn count_text(total: Total) -> String {
    if total.exact {
        total.count.to_string()
    } else {
        format!("{}+", total.count)
    }
}

/// `GET /static/style.css`.
pub(crate) async fn style_css() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        include_str!("../../static/style.css"),
    )
        .into_response()
}

/// `GET /static/app.js`.
pub(crate) async fn app_js() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        include_str!("../../static/app.js"),
    )
        .into_response()
}
