//! The server: binding, the router, the headers every response carries, and stopping
//! (Ctrl-C, SIGTERM, or `zenml down` through the record in `.zen/dashboard.json`).

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::get;
use serde::{Deserialize, Serialize};
use zenml_core::SecretString;
use zenml_pipeline::Client;
use zenml_stack::Repository;

use crate::auth::{self, Token};
use crate::backend::{self, Backend, Stores};
use crate::error::{DashboardError, RequestError};
use crate::{api, pages};

/// How `zenml up` serves.
#[derive(Debug, Clone)]
pub struct DashboardOptions {
    /// The address to listen on; a non-loopback one requires a token.
    pub host: IpAddr,
    /// The port; 0 picks a free one.
    pub port: u16,
    /// The stack whose stores are shown (default: the active stack).
    pub stack: Option<String>,
    /// The token every request must present, if any.
    pub token: Option<SecretString>,
}

/// What every handler shares.
#[derive(Debug, Clone)]
pub(crate) struct AppState {
    /// The store threads.
    pub(crate) backend: Backend,
    /// The token, when requests need one.
    pub(crate) token: Option<Arc<Token>>,
    /// The served stack's name.
    pub(crate) stack: Arc<str>,
    /// The pipelines' names as last read, and when.
    pipeline_names: Arc<Mutex<Option<PipelineNames>>>,
}

/// The pipelines' names, and when they were read.
type PipelineNames = (Instant, Vec<String>);

/// How long the pipelines' names for the run filter are reused before they are read again.
const PIPELINE_NAMES_TTL: Duration = Duration::from_secs(2);

impl AppState {
    /// The names of the pipelines, for the run filter: read again at most every
    /// [`PIPELINE_NAMES_TTL`] (the list of runs itself is always read afresh).
    pub(crate) async fn pipeline_names(&self) -> Result<Vec<String>, RequestError> {
        let cached = self.pipeline_names.lock().ok().and_then(|cache| {
            cache
                .as_ref()
                .filter(|(read_at, _)| read_at.elapsed() < PIPELINE_NAMES_TTL)
                .map(|(_, names)| names.clone())
        });
        if let Some(names) = cached {
            return Ok(names);
        }
        let names: Vec<String> = self
            .backend
            .call(|stores| {
                Ok(crate::api::load::pipelines(stores)?
                    .into_iter()
                    .map(|pipeline| pipeline.name)
                    .collect())
            })
            .await?;
        if let Ok(mut cache) = self.pipeline_names.lock() {
            *cache = Some((Instant::now(), names.clone()));
        }
        Ok(names)
    }
}

/// A bound dashboard, ready to serve.
#[derive(Debug)]
pub struct Dashboard {
    listener: std::net::TcpListener,
    address: SocketAddr,
    state: AppState,
    record: PathBuf,
}

/// What `.zen/dashboard.json` records about a running dashboard.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunningDashboard {
    /// The server's process.
    pub pid: u32,
    /// Where it serves.
    pub url: String,
}

/// The record of a running dashboard, in a repository's `.zen` folder.
const RECORD_FILE: &str = "dashboard.json";

impl Dashboard {
    /// Opens the stack of `repo` and binds the address of `options`.
    pub fn bind(repo: &Repository, options: DashboardOptions) -> Result<Dashboard, DashboardError> {
        if !options.host.is_loopback() && options.token.is_none() {
            return Err(DashboardError::TokenRequired {
                host: options.host.to_string(),
            });
        }
        let client = Client::open(repo, options.stack.as_deref())?;
        let stack: Arc<str> = Arc::from(client.stack().name.as_str());
        let address = SocketAddr::new(options.host, options.port);
        let bind_error = |source| DashboardError::Bind {
            address: address.to_string(),
            source,
        };
        let listener = std::net::TcpListener::bind(address).map_err(bind_error)?;
        listener.set_nonblocking(true).map_err(bind_error)?;
        let address = listener.local_addr().map_err(bind_error)?;
        let backend = Backend::new(
            Stores {
                client,
                repo: repo.clone(),
            },
            backend::THREADS,
            backend::QUEUE,
        )
        .map_err(DashboardError::Runtime)?;
        Ok(Dashboard {
            listener,
            address,
            state: AppState {
                backend,
                token: options.token.map(|token| Arc::new(Token::new(&token))),
                stack,
                pipeline_names: Arc::default(),
            },
            record: repo.zen_dir().join(RECORD_FILE),
        })
    }

    /// The URL it serves at, e.g. `http://127.0.0.1:8237/`.
    pub fn url(&self) -> String {
        match self.address {
            SocketAddr::V6(v6) => format!("http://[{}]:{}/", v6.ip(), v6.port()),
            SocketAddr::V4(v4) => format!("http://{}:{}/", v4.ip(), v4.port()),
        }
    }

    /// Serves until Ctrl-C or SIGTERM; records itself in `.zen/dashboard.json` meanwhile.
    pub fn serve(self) -> Result<(), DashboardError> {
        self.serve_until(stop_signal())
    }

    /// Serves until `stop` resolves (then finishes the requests it is serving).
    pub fn serve_until(
        self,
        stop: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), DashboardError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("dashboard")
            .enable_all()
            .build()
            .map_err(DashboardError::Runtime)?;
        let record = RunningDashboard {
            pid: std::process::id(),
            url: self.url(),
        };
        write_record(&self.record, &record)?;
        let router = router(self.state);
        let served = runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(self.listener)?;
            axum::serve(listener, router)
                .with_graceful_shutdown(stop)
                .await
        });
        // Only our own record is removed: a later `zenml up` may have replaced it.
        if read_record(&self.record).is_ok_and(|found| found == record) {
            let _ = std::fs::remove_file(&self.record);
        }
        served.map_err(DashboardError::Serve)
    }
}

/// Resolves on Ctrl-C or SIGTERM.
async fn stop_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
}

/// The routes: pages, the API, the static files, and the headers of every response.
fn router(state: AppState) -> Router {
    let routes = Router::new()
        .merge(pages::routes())
        .nest("/api/v1", api::routes())
        .route("/static/style.css", get(pages::style_css))
        .route("/static/app.js", get(pages::app_js))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            auth::require_token,
        ))
        .route("/login", get(auth::login_form).post(auth::login))
        .fallback(pages::not_found);
    routes
        .layer(middleware::from_fn(common_headers))
        .with_state(state)
}

/// The content security policy: scripts and styles only from this server, no inline
/// script or style, no frames, forms only to this server.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; \
     base-uri 'none'";

/// Adds the security headers and `Server-Timing` (the time spent serving, server side).
async fn common_headers(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let mut response = next.run(request).await;
    let elapsed = started.elapsed().as_secs_f64() * 1000.0;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    if let Ok(timing) = HeaderValue::from_str(&format!("app;dur={elapsed:.3}")) {
        headers.insert("server-timing", timing);
    }
    response
}

// ----- the record of a running dashboard ------------------------------------------------------

fn write_record(path: &Path, record: &RunningDashboard) -> Result<(), DashboardError> {
    let text = serde_json::to_string(record).unwrap_or_default();
    let staged = path.with_extension("json.tmp");
    std::fs::write(&staged, text)
        .and_then(|()| std::fs::rename(&staged, path))
        .map_err(|source| DashboardError::State {
            action: "cannot write",
            path: path.to_owned(),
            source,
        })
}

fn read_record(path: &Path) -> Result<RunningDashboard, DashboardError> {
    let text = std::fs::read_to_string(path).map_err(|source| match source.kind() {
        std::io::ErrorKind::NotFound => DashboardError::NotRunning,
        _ => DashboardError::State {
            action: "cannot read",
            path: path.to_owned(),
            source,
        },
    })?;
    serde_json::from_str(&text).map_err(|e| DashboardError::State {
        action: "cannot read",
        path: path.to_owned(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
    })
}

/// The dashboard `zenml up` runs for `repo`, if its process is still alive.
pub fn running_dashboard(repo: &Repository) -> Result<RunningDashboard, DashboardError> {
    let record = read_record(&repo.zen_dir().join(RECORD_FILE))?;
    if is_dashboard_process(record.pid) {
        Ok(record)
    } else {
        Err(DashboardError::NotRunning)
    }
}

/// Stops the dashboard running for `repo` (SIGTERM: it finishes the requests it is
/// serving) and returns what it was.
pub fn stop_running_dashboard(repo: &Repository) -> Result<RunningDashboard, DashboardError> {
    let record = running_dashboard(repo)?;
    let stopped = zenml_orchestrator::terminate_process(record.pid).map_err(|source| {
        DashboardError::State {
            action: "cannot run `kill` for the dashboard recorded in",
            path: repo.zen_dir().join(RECORD_FILE),
            source,
        }
    })?;
    if stopped {
        Ok(record)
    } else {
        Err(DashboardError::NotRunning)
    }
}

/// Whether process `pid` is a `zenml up` (not another process that took its number).
fn is_dashboard_process(pid: u32) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|cmdline| {
        cmdline
            .split(|b| *b == 0)
            .any(|arg| arg == b"up".as_slice())
    })
}
