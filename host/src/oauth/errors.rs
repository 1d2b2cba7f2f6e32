//! OAuth errors (RFC 6749 §4.1.2.1 and §5.2, RFC 7591 §3.2.2, RFC 8707 §2): a code a client
//! acts on, and a description a developer reads. Descriptions never repeat more than a bounded
//! part of what the client sent.

use http::StatusCode;
use serde_json::json;

use crate::server::responses::{self, HttpResponse};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    InvalidRequest,
    InvalidClient,
    InvalidGrant,
    UnsupportedGrantType,
    UnsupportedResponseType,
    InvalidScope,
    InvalidTarget,
    AccessDenied,
    InvalidRedirectUri,
    InvalidClientMetadata,
    ServerError,
    TemporarilyUnavailable,
}

impl ErrorCode {
    /// The code as an authorization response may carry it (RFC 6749 §4.1.2.1, RFC 8707 §2):
    /// a failure at the token endpoint of the upstream, say, is this server's `server_error`.
    pub fn in_authorization_response(self) -> Self {
        match self {
            ErrorCode::InvalidRequest
            | ErrorCode::AccessDenied
            | ErrorCode::UnsupportedResponseType
            | ErrorCode::InvalidScope
            | ErrorCode::InvalidTarget
            | ErrorCode::ServerError
            | ErrorCode::TemporarilyUnavailable => self,
            _ => ErrorCode::ServerError,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::InvalidClient => "invalid_client",
            ErrorCode::InvalidGrant => "invalid_grant",
            ErrorCode::UnsupportedGrantType => "unsupported_grant_type",
            ErrorCode::UnsupportedResponseType => "unsupported_response_type",
            ErrorCode::InvalidScope => "invalid_scope",
            ErrorCode::InvalidTarget => "invalid_target",
            ErrorCode::AccessDenied => "access_denied",
            ErrorCode::InvalidRedirectUri => "invalid_redirect_uri",
            ErrorCode::InvalidClientMetadata => "invalid_client_metadata",
            ErrorCode::ServerError => "server_error",
            ErrorCode::TemporarilyUnavailable => "temporarily_unavailable",
        }
    }
}

#[derive(Debug, Clone, thiserror::Error)]
#[error("{}: {description}", code.as_str())]
pub struct OAuthError {
    pub code: ErrorCode,
    pub description: String,
}

impl OAuthError {
    pub fn new(code: ErrorCode, description: impl Into<String>) -> Self {
        Self {
            code,
            description: description.into(),
        }
    }

    /// The JSON answer of the token, registration and revocation endpoints.
    pub fn response(&self) -> HttpResponse {
        let status = match self.code {
            ErrorCode::InvalidClient => StatusCode::UNAUTHORIZED,
            ErrorCode::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::BAD_REQUEST,
        };
        let mut response = responses::json(
            status,
            &json!({"error": self.code.as_str(), "error_description": self.description}),
        );
        responses::no_store(&mut response);
        response
    }
}

pub fn invalid_request(description: impl Into<String>) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidRequest, description)
}

#[cfg(test)]
mod tests {
    use super::ErrorCode;

    #[test]
    fn token_endpoint_codes_become_server_error_in_a_redirect() {
        assert_eq!(
            ErrorCode::InvalidGrant.in_authorization_response(),
            ErrorCode::ServerError
        );
        assert_eq!(
            ErrorCode::InvalidClient.in_authorization_response(),
            ErrorCode::ServerError
        );
        assert_eq!(
            ErrorCode::InvalidTarget.in_authorization_response(),
            ErrorCode::InvalidTarget
        );
        assert_eq!(
            ErrorCode::AccessDenied.in_authorization_response(),
            ErrorCode::AccessDenied
        );
    }
}
