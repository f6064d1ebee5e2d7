//! The token a dashboard bound beyond loopback requires: as `Authorization: Bearer TOKEN`
//! for the API, or as a session cookie set by the login form. A request without it gets
//! 401 and nothing else: a JSON error under `/api/`, the login form elsewhere.

use axum::Form;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use zenml_core::SecretString;

use crate::pages;
use crate::server::AppState;

/// The session cookie's name.
const COOKIE: &str = "zenml_session";

/// The token, kept as hashes only: comparing two blake3 hashes takes the same time
/// wherever they differ, so a wrong token reveals nothing of the right one.
#[derive(Debug)]
pub(crate) struct Token {
    /// The hash a presented bearer token must have.
    bearer: blake3::Hash,
    /// The cookie's value: derived from the token, so the cookie does not hold it.
    session: String,
}

impl Token {
    /// The token `secret`.
    pub(crate) fn new(secret: &SecretString) -> Token {
        let bearer = blake3::hash(secret.expose().as_bytes());
        let session =
            blake3::derive_key("zenml-rs dashboard session 1", secret.expose().as_bytes());
        Token {
            bearer,
            session: blake3::Hash::from(session).to_hex().to_string(),
        }
    }

    /// Whether `presented` is the token.
    fn is(&self, presented: &str) -> bool {
        blake3::hash(presented.as_bytes()) == self.bearer
    }

    /// Whether `value` is the session cookie's value.
    fn is_session(&self, value: &str) -> bool {
        blake3::hash(value.as_bytes()) == blake3::hash(self.session.as_bytes())
    }

    /// Whether the request's headers carry the token or the session cookie.
    fn admits(&self, headers: &HeaderMap) -> bool {
        let bearer = headers
            .get_all(header::AUTHORIZATION)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .filter_map(|value| value.strip_prefix("Bearer "))
            .any(|token| self.is(token.trim()));
        bearer
            || headers
                .get_all(header::COOKIE)
                .iter()
                .filter_map(|value| value.to_str().ok())
                .flat_map(|cookies| cookies.split(';'))
                .filter_map(|cookie| cookie.trim().split_once('='))
                .any(|(name, value)| name == COOKIE && self.is_session(value))
    }
}

/// Lets a request through when no token is needed or it carries the token.
pub(crate) async fn require_token(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let Some(token) = &state.token else {
        return next.run(request).await;
    };
    if token.admits(request.headers()) {
        return next.run(request).await;
    }
    if request.uri().path().starts_with("/api/") {
        (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            axum::Json(serde_json::json!({"error": "unauthorized"})),
        )
            .into_response()
    } else {
        (StatusCode::UNAUTHORIZED, pages::login_page(None)).into_response()
    }
}

/// `GET /login`.
pub(crate) async fn login_form(State(state): State<AppState>) -> Response {
    if state.token.is_none() {
        return axum::response::Redirect::to("/pipelines").into_response();
    }
    pages::login_page(None).into_response()
}

/// The login form's fields.
#[derive(Deserialize)]
pub(crate) struct LoginForm {
    token: String,
}

/// `POST /login`: sets the session cookie when the token is right.
pub(crate) async fn login(State(state): State<AppState>, Form(form): Form<LoginForm>) -> Response {
    let Some(token) = &state.token else {
        return axum::response::Redirect::to("/pipelines").into_response();
    };
    if !token.is(form.token.trim()) {
        return (
            StatusCode::UNAUTHORIZED,
            pages::login_page(Some("That is not the token.")),
        )
            .into_response();
    }
    (
        StatusCode::SEE_OTHER,
        [
            (header::LOCATION, "/pipelines".to_owned()),
            (
                header::SET_COOKIE,
                format!(
                    "{COOKIE}={}; HttpOnly; SameSite=Strict; Path=/",
                    token.session
                ),
            ),
        ],
    )
        .into_response()
}
