//! Why an Athena or Glue call failed, worded for the person using the assistant, from AWS's
//! JSON 1.1 error bodies (`{"__type": "…Exception", "Message": "…"}`).

use std::fmt;

use serde_json::Value;

use super::Service;
use crate::http::Response;

/// The service's own reason is quoted up to this many characters.
const MAX_QUOTED: usize = 500;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AthenaError {
    /// No AWS credentials for this request (the host's message says why).
    NoCredentials(String),
    /// The deployment's endpoint is not an http(s) URL.
    BadEndpoint(String),
    Signing(String),
    Unreachable {
        service: Service,
        endpoint: String,
        detail: String,
    },
    /// The service refused the caller (their role, or their credentials).
    Denied {
        service: Service,
        message: String,
    },
    /// No such catalog, database, table or query.
    NotFound {
        service: Service,
        message: String,
    },
    /// The request or statement was refused as invalid; `code` is Athena's error code.
    Invalid {
        service: Service,
        code: String,
        message: String,
    },
    Throttled {
        service: Service,
        message: String,
    },
    /// A failure status or answer the API does not promise.
    Failed {
        service: Service,
        detail: String,
    },
    /// The query ran and failed; `reason` is Athena's.
    QueryFailed {
        query_id: String,
        reason: String,
    },
    /// The query was cancelled before it finished.
    QueryCancelled {
        query_id: String,
    },
}

impl fmt::Display for AthenaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoCredentials(message) => write!(f, "SQL needs AWS credentials: {message}"),
            Self::BadEndpoint(url) => write!(
                f,
                "The SQL endpoint '{url}' configured for this deployment is not an http(s) URL; ask its operator to fix --athena-endpoint or --glue-endpoint"
            ),
            Self::Signing(detail) => write!(f, "The request could not be signed ({detail})"),
            Self::Unreachable {
                service,
                endpoint,
                detail,
            } => write!(
                f,
                "{} at {endpoint} could not be reached ({detail}); it may be down. Try again later",
                service.title()
            ),
            Self::Denied { service, message } => write!(
                f,
                "{} refused you access: {message}. Your role may not allow it; ask for access",
                service.title()
            ),
            Self::NotFound { service, message } => write!(f, "{}: {message}", service.title()),
            Self::Invalid {
                service,
                code,
                message,
            } => write!(
                f,
                "{} refused the request ({code}): {message}",
                service.title()
            ),
            Self::Throttled { service, message } => write!(
                f,
                "{} is throttling requests ({message}); try again in a moment",
                service.title()
            ),
            Self::Failed { service, detail } => {
                write!(f, "{} failed: {detail}", service.title())
            }
            Self::QueryFailed { query_id, reason } => {
                write!(f, "The query {query_id} failed: {reason}")
            }
            Self::QueryCancelled { query_id } => {
                write!(f, "The query {query_id} was cancelled before it finished")
            }
        }
    }
}

/// The error a non-2xx response stands for.
pub fn from_response(service: Service, response: &Response) -> AthenaError {
    let body: Value = serde_json::from_slice(&response.body).unwrap_or(Value::Null);
    // `__type` may carry a namespace (`com.amazonaws…#Code`) and a suffix (`Code:http://…`).
    let kind = body["__type"].as_str().unwrap_or_default();
    let kind = kind.rsplit('#').next().unwrap_or_default();
    let kind = quoted(kind.split(':').next().unwrap_or_default());
    // AWS's signature errors may quote the canonical request, session token included.
    let message = body["Message"]
        .as_str()
        .or(body["message"].as_str())
        .map(|text| quoted(text.split("The Canonical String").next().unwrap_or(text)))
        .unwrap_or_else(|| format!("HTTP {} without a reason", response.status));
    match kind.as_str() {
        "AccessDeniedException"
        | "UnrecognizedClientException"
        | "InvalidSignatureException"
        | "ExpiredTokenException"
        | "IncompleteSignatureException" => AthenaError::Denied { service, message },
        "EntityNotFoundException" | "ResourceNotFoundException" => {
            AthenaError::NotFound { service, message }
        }
        // Athena's metadata calls report Glue's failures this way, naming Glue's error.
        "MetadataException" if message.contains("EntityNotFoundException") => {
            AthenaError::NotFound { service, message }
        }
        "ThrottlingException" | "TooManyRequestsException" => {
            AthenaError::Throttled { service, message }
        }
        "InvalidRequestException"
        | "ValidationException"
        | "InvalidInputException"
        | "MetadataException" => AthenaError::Invalid {
            service,
            code: body["AthenaErrorCode"]
                .as_str()
                .map_or_else(|| kind.clone(), quoted),
            message,
        },
        _ => AthenaError::Failed {
            service,
            detail: format!("HTTP {} {kind}: {message}", response.status),
        },
    }
}

/// One line, at most [`MAX_QUOTED`] characters.
pub fn quoted(text: &str) -> String {
    let mut line = String::new();
    for word in text.split_whitespace() {
        if line.len() >= MAX_QUOTED * 4 {
            break;
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    line.chars().take(MAX_QUOTED).collect()
}

#[cfg(test)]
mod tests {
    use super::{AthenaError, Service, from_response};
    use crate::http::Response;

    fn response(status: u16, body: &str) -> Response {
        Response {
            status,
            headers: Vec::new(),
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn aws_error_bodies_become_errors_a_person_can_act_on() {
        let denied = from_response(
            Service::Athena,
            &response(
                400,
                r#"{"__type":"com.amazonaws.athena#AccessDeniedException:x","Message":"no"}"#,
            ),
        );
        assert_eq!(
            denied,
            AthenaError::Denied {
                service: Service::Athena,
                message: "no".into()
            }
        );
        let invalid = from_response(
            Service::Athena,
            &response(
                400,
                r#"{"__type":"InvalidRequestException","Message":"line 1:1: bad","AthenaErrorCode":"MALFORMED_QUERY"}"#,
            ),
        );
        assert!(
            invalid
                .to_string()
                .contains("(MALFORMED_QUERY): line 1:1: bad"),
            "{invalid}"
        );
        let missing = from_response(
            Service::Athena,
            &response(
                400,
                r#"{"__type":"MetadataException","Message":"Table t not found. (Service: AmazonDataCatalog; Error Code: EntityNotFoundException)"}"#,
            ),
        );
        assert!(
            matches!(missing, AthenaError::NotFound { .. }),
            "{missing:?}"
        );
        // A hostile or broken body: no type, a huge message.
        let broken = from_response(Service::Glue, &response(502, &"x".repeat(100_000)));
        assert!(
            broken.to_string().starts_with("Glue failed: HTTP 502"),
            "{broken}"
        );
        let long = format!(r#"{{"__type":"X","Message":"{}"}}"#, "y ".repeat(10_000));
        assert!(
            from_response(Service::Glue, &response(500, &long))
                .to_string()
                .len()
                < 700
        );
    }
}
