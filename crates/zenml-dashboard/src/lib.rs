//! The zenml-rs dashboard: `zenml up` serves pages and a JSON API over the metadata and
//! artifact stores of one stack.
//!
//! The server is axum on a Tokio runtime of its own. Handlers never call a store on the
//! runtime: every store call goes to [`backend::Backend`], a few plain threads that own
//! the open stack (a store may block, or run async code on the process's shared runtime,
//! which it refuses to do from a runtime thread). Pages are server-rendered HTML (maud,
//! which escapes every interpolated string); graphs are laid out by `layout-rs` and charts
//! drawn by `plotters`, both as inline SVG; the one script, `static/app.js`, refreshes the
//! page of a running run. The server only reads: no route writes to a store, and none
//! takes a file path from a request.
//!
//! Nothing depends on this crate but the `zenml` binary.

mod api;
mod auth;
mod backend;
mod chart;
mod error;
mod graph;
mod pages;
mod preview;
mod server;

pub use error::DashboardError;
pub use server::{Dashboard, DashboardOptions, running_dashboard, stop_running_dashboard};

/// The port `zenml up` listens on unless told otherwise (ZenML's).
pub const DEFAULT_PORT: u16 = 8237;
