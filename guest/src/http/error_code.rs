//! What a wasi:http `error-code` means to the guest: the one place that decides which
//! failures a request is sent again for, by the code's type rather than by its text.

use super::HttpError;
use crate::bindings::wasi::http::types::ErrorCode;

/// The failure of a request to `origin` that the runtime reported as `code`.
pub fn http_error(origin: &str, code: &ErrorCode) -> HttpError {
    let origin = origin.to_owned();
    match code {
        ErrorCode::HttpRequestDenied => HttpError::Denied { origin },
        // A request on a pooled connection the server had already closed: our host reports
        // connection-terminated, `wasmtime serve` reports hyper's errors as HTTP-protocol-error.
        ErrorCode::ConnectionTerminated | ErrorCode::HttpProtocolError => {
            HttpError::ConnectionLost {
                origin,
                detail: describe(code),
            }
        }
        _ => HttpError::Transport {
            origin,
            detail: describe(code),
        },
    }
}

/// Words for the codes a person is likely to meet; the rest by name.
fn describe(code: &ErrorCode) -> String {
    match code {
        ErrorCode::ConnectionRefused => "connection refused".into(),
        ErrorCode::ConnectionTerminated => "connection closed".into(),
        ErrorCode::ConnectionTimeout => "connecting timed out".into(),
        ErrorCode::DnsError(_) | ErrorCode::DnsTimeout => "its name could not be resolved".into(),
        ErrorCode::TlsCertificateError => "its TLS certificate was not accepted".into(),
        ErrorCode::HttpProtocolError => "HTTP protocol error".into(),
        ErrorCode::InternalError(Some(detail)) => detail.clone(),
        other => format!("{other:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::{ErrorCode, HttpError, http_error};

    const ORIGIN: &str = "http://s3.example:8333";

    #[test]
    fn a_denial_is_typed_as_such() {
        assert_eq!(
            http_error(ORIGIN, &ErrorCode::HttpRequestDenied),
            HttpError::Denied {
                origin: ORIGIN.into()
            }
        );
    }

    #[test]
    fn only_a_closed_connection_counts_as_lost() {
        let lost = |code| matches!(http_error(ORIGIN, &code), HttpError::ConnectionLost { .. });
        assert!(lost(ErrorCode::ConnectionTerminated));
        assert!(lost(ErrorCode::HttpProtocolError));
        assert!(!lost(ErrorCode::ConnectionRefused));
        assert!(!lost(ErrorCode::HttpRequestDenied));
        assert!(!lost(ErrorCode::ConnectionTimeout));
        // The text of a catch-all error decides nothing, whatever it says.
        assert!(!lost(ErrorCode::InternalError(Some(
            "client error (SendRequest): connection closed".into()
        ))));
    }

    #[test]
    fn transport_failures_say_what_happened() {
        assert_eq!(
            http_error(ORIGIN, &ErrorCode::ConnectionRefused).to_string(),
            "could not reach http://s3.example:8333 (connection refused); check that the S3 endpoint of this deployment is up"
        );
        assert!(
            http_error(ORIGIN, &ErrorCode::HttpRequestDenied)
                .to_string()
                .contains("egress allow-list refused http://s3.example:8333")
        );
    }
}
