//! What goes wrong: [`DashboardError`] for starting and stopping the server, and
//! [`RequestError`] for one request, answered as JSON under `/api/` and as a page elsewhere.

use std::path::PathBuf;

use axum::http::StatusCode;
use zenml_metadata_store::MetadataStoreError;
use zenml_pipeline::ClientError;
use zenml_stack::RepositoryError;

/// Why the dashboard could not start, run or stop.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DashboardError {
    /// The repository or its stack could not be opened.
    #[error(transparent)]
    Repository(#[from] RepositoryError),
    /// The stack's stores could not be opened.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The address could not be bound.
    #[error("cannot listen on {address}: {source}")]
    Bind {
        /// The address asked for.
        address: String,
        /// Why.
        source: std::io::Error,
    },
    /// Serving failed.
    #[error("the dashboard server failed: {0}")]
    Serve(std::io::Error),
    /// A non-loopback address without a token.
    #[error(
        "binding {host}, which is not a loopback address, needs a token: pass --token-env VAR \
         with the token in the environment variable VAR"
    )]
    TokenRequired {
        /// The host asked for.
        host: String,
    },
    /// The token's environment variable is unset or empty.
    #[error("the environment variable `{0}` named by --token-env is unset or empty")]
    TokenMissing(String),
    /// The record of the running dashboard could not be read or written.
    #[error("{action} `{path}`: {source}")]
    State {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// `zenml down` found no dashboard running for this repository.
    #[error("no dashboard is running for this repository (started with `zenml up`)")]
    NotRunning,
    /// The runtime could not be built.
    #[error("cannot start the server's runtime: {0}")]
    Runtime(std::io::Error),
}

/// Why one request failed.
#[derive(Debug)]
pub(crate) enum RequestError {
    /// No such record (404).
    NotFound(String),
    /// A malformed query parameter (400), naming it.
    BadParameter {
        /// The parameter.
        parameter: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// The stores failed (500); the message is shown, it never holds a secret.
    Internal(String),
    /// Every store thread is busy and the queue in front of them is full (503, with
    /// `Retry-After`).
    Busy,
}

/// How many seconds a client told [`RequestError::Busy`] should wait before it retries.
pub(crate) const RETRY_AFTER_SECONDS: u64 = 1;

impl RequestError {
    /// A parameter that could not be read.
    pub(crate) fn bad(parameter: &'static str, message: impl Into<String>) -> RequestError {
        RequestError::BadParameter {
            parameter,
            message: message.into(),
        }
    }

    /// The HTTP status of the error.
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            RequestError::NotFound(_) => StatusCode::NOT_FOUND,
            RequestError::BadParameter { .. } => StatusCode::BAD_REQUEST,
            RequestError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            RequestError::Busy => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The message shown to the user.
    pub(crate) fn message(&self) -> String {
        match self {
            RequestError::NotFound(message) | RequestError::Internal(message) => message.clone(),
            RequestError::BadParameter { parameter, message } => {
                format!("query parameter `{parameter}`: {message}")
            }
            RequestError::Busy => format!(
                "the dashboard is answering as many requests as it can; try again in \
                 {RETRY_AFTER_SECONDS} s"
            ),
        }
    }

    /// The headers the answer carries beside its body: `Retry-After` when busy.
    pub(crate) fn headers(&self) -> axum::http::HeaderMap {
        let mut headers = axum::http::HeaderMap::new();
        if matches!(self, RequestError::Busy) {
            headers.insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from(RETRY_AFTER_SECONDS),
            );
        }
        headers
    }

    /// The parameter at fault, for a bad parameter.
    pub(crate) fn parameter(&self) -> Option<&'static str> {
        match self {
            RequestError::BadParameter { parameter, .. } => Some(parameter),
            _ => None,
        }
    }
}

impl From<MetadataStoreError> for RequestError {
    fn from(error: MetadataStoreError) -> Self {
        match error {
            MetadataStoreError::NotFound { .. } => RequestError::NotFound(error.to_string()),
            MetadataStoreError::InvalidQuery { message } => RequestError::bad("page", message),
            other => RequestError::Internal(other.to_string()),
        }
    }
}

impl From<ClientError> for RequestError {
    fn from(error: ClientError) -> Self {
        match error {
            ClientError::NotFound { .. } => RequestError::NotFound(error.to_string()),
            ClientError::MetadataStore(inner) => inner.into(),
            other => RequestError::Internal(other.to_string()),
        }
    }
}
