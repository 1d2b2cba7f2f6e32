//! Errors a caller sees, each mapped to the status the real registry answers with. The
//! registry's own refusals carry `{"message": ...}`; a query the search engine cannot run
//! carries Elasticsearch's error shape, as the real proxy passes those through.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No token, or one that does not verify.
    #[error("{0}")]
    Unauthorized(String),
    /// A valid token without the access asked for.
    #[error("{0}")]
    Forbidden(String),
    /// No such endpoint.
    #[error("{0}")]
    NotFound(String),
    /// A request the registry refuses to pass on (bad index list, missing parameter).
    #[error("{0}")]
    BadRequest(String),
    /// A search the engine refuses, in Elasticsearch's terms (`kind` is its error type).
    #[error("{reason}")]
    Search {
        status: StatusCode,
        kind: &'static str,
        reason: String,
    },
    /// A service behind the registry (JWKS, STS, S3) failed.
    #[error("{0}")]
    BadGateway(String),
    /// The stand-in itself failed (its search engine).
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    /// A search body Elasticsearch would not parse.
    pub fn parsing(reason: impl Into<String>) -> Self {
        Self::Search {
            status: StatusCode::BAD_REQUEST,
            kind: "parsing_exception",
            reason: reason.into(),
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Search { status, .. } => *status,
            Self::BadGateway(_) => StatusCode::BAD_GATEWAY,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = match &self {
            Self::Search { kind, reason, .. } => json!({
                "error": {
                    "root_cause": [{"type": kind, "reason": reason}],
                    "type": kind,
                    "reason": reason,
                },
                "status": status.as_u16(),
            }),
            other => json!({"message": other.to_string()}),
        };
        (status, Json(body)).into_response()
    }
}

/// Why a stand-in did not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot listen on {addr}: {source}; pick a free address (port 0 chooses one)")]
    Bind {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot build an HTTP client: {0}")]
    HttpClient(#[from] reqwest::Error),
}
