//! S3 failures, typed from the XML error body (or the status, for HEAD, which has
//! none), and worded so a person knows which object and what to do.

use std::fmt;

use serde::Deserialize;

use super::uri::object_uri;
use crate::echo::bounded;
use crate::http::HttpError;

/// Enough for any message S3 itself writes; a server's longer text is cut, not echoed.
const MAX_MESSAGE_CHARS: usize = 300;
/// S3's codes are short identifiers.
const MAX_CODE_CHARS: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorKind {
    NoSuchKey,
    NoSuchBucket,
    AccessDenied,
    /// A conditional request found a different ETag: the object changed since it was listed.
    Changed,
    Other {
        code: String,
        message: String,
        status: u16,
    },
    /// S3 could not be reached at all.
    Transport(HttpError),
    /// S3 answered with success but a body this client cannot read.
    BadResponse(String),
    /// Refused here, before anything was sent: the address is one S3 must not be asked for.
    NotSent(String),
}

/// An S3 error with what was attempted, on what, by whom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub kind: ErrorKind,
    /// The IAM action name, e.g. `s3:GetObject`.
    pub action: &'static str,
    pub bucket: String,
    /// The key, or the listed prefix.
    pub key: String,
    pub version_id: Option<String>,
    pub subject: String,
    pub source: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct XmlError {
    code: Option<String>,
    message: Option<String>,
}

/// Types an S3 error response from its status and (possibly empty) XML body.
pub fn classify(status: u16, body: &[u8]) -> ErrorKind {
    let parsed = std::str::from_utf8(body)
        .ok()
        .filter(|text| !text.trim().is_empty())
        .and_then(|text| quick_xml::de::from_str::<XmlError>(text).ok());
    let (code, message) = match parsed {
        Some(XmlError { code, message }) => (code, message),
        None => (None, None),
    };
    let message = bounded(message.as_deref().unwrap_or_default(), MAX_MESSAGE_CHARS);
    match code.as_deref() {
        Some("NoSuchKey") | Some("NoSuchVersion") => ErrorKind::NoSuchKey,
        Some("NoSuchBucket") => ErrorKind::NoSuchBucket,
        Some("AccessDenied") => ErrorKind::AccessDenied,
        Some("PreconditionFailed") => ErrorKind::Changed,
        Some(code) => ErrorKind::Other {
            code: bounded(code, MAX_CODE_CHARS),
            message,
            status,
        },
        None => match status {
            404 => ErrorKind::NoSuchKey,
            403 => ErrorKind::AccessDenied,
            412 => ErrorKind::Changed,
            _ => ErrorKind::Other {
                code: status_code_name(status).to_owned(),
                message,
                status,
            },
        },
    }
}

fn status_code_name(status: u16) -> &'static str {
    match status {
        400 => "BadRequest",
        401 => "Unauthorized",
        405 => "MethodNotAllowed",
        409 => "Conflict",
        412 => "PreconditionFailed",
        500 => "InternalError",
        503 => "ServiceUnavailable",
        _ => "UnknownError",
    }
}

impl Failure {
    fn target(&self) -> String {
        let mut uri = object_uri(&self.bucket, &self.key);
        if let Some(version) = &self.version_id {
            uri.push_str("?versionId=");
            uri.push_str(version);
        }
        uri
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let target = self.target();
        match &self.kind {
            ErrorKind::NoSuchKey => write!(f, "No object at {target}"),
            ErrorKind::NoSuchBucket => write!(f, "Bucket '{}' does not exist", self.bucket),
            ErrorKind::AccessDenied => write!(
                f,
                "Access denied: {} on {target} is not allowed for {} with credentials from {}",
                self.action, self.subject, self.source
            ),
            ErrorKind::Changed => write!(
                f,
                "{target} changed while it was being read (its ETag no longer matches what was listed); run the tool again"
            ),
            ErrorKind::Other {
                code,
                message,
                status,
            } => {
                write!(f, "S3 refused {} on {target}: {code}", self.action)?;
                if !message.is_empty() {
                    write!(f, " ({message})")?;
                }
                write!(f, ", HTTP status {status}")
            }
            ErrorKind::Transport(error) => write!(f, "{} on {target} failed: {error}", self.action),
            ErrorKind::BadResponse(detail) => write!(
                f,
                "{} on {target} returned a response that could not be read: {detail}",
                self.action
            ),
            ErrorKind::NotSent(reason) => {
                write!(f, "{} on {target} was not sent: {reason}", self.action)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{ErrorKind, Failure, MAX_CODE_CHARS, MAX_MESSAGE_CHARS, classify};

    const NO_SUCH_KEY: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message><Key>a.txt</Key><RequestId>1</RequestId></Error>"#;

    #[test]
    fn parses_known_codes() {
        assert_eq!(classify(404, NO_SUCH_KEY.as_bytes()), ErrorKind::NoSuchKey);
        assert_eq!(
            classify(
                404,
                b"<Error><Code>NoSuchBucket</Code><Message>m</Message></Error>"
            ),
            ErrorKind::NoSuchBucket
        );
        assert_eq!(
            classify(
                403,
                b"<Error><Code>AccessDenied</Code><Message>m</Message></Error>"
            ),
            ErrorKind::AccessDenied
        );
    }

    #[test]
    fn keeps_code_message_and_status_of_others() {
        assert_eq!(
            classify(
                400,
                b"<Error><Code>InvalidArgument</Code><Message>Bad max-keys</Message></Error>"
            ),
            ErrorKind::Other {
                code: "InvalidArgument".into(),
                message: "Bad max-keys".into(),
                status: 400
            }
        );
    }

    #[test]
    fn maps_bodyless_head_responses_by_status() {
        assert_eq!(classify(404, b""), ErrorKind::NoSuchKey);
        assert_eq!(classify(403, b""), ErrorKind::AccessDenied);
        assert_eq!(classify(412, b""), ErrorKind::Changed);
        assert!(matches!(
            classify(500, b"not xml"),
            ErrorKind::Other { status: 500, .. }
        ));
    }

    #[test]
    fn a_huge_error_is_echoed_in_short() {
        let body = format!(
            "<Error><Code>{}</Code><Message>{}</Message></Error>",
            "C".repeat(10_000),
            "é".repeat(100_000)
        );
        let ErrorKind::Other { code, message, .. } = classify(500, body.as_bytes()) else {
            panic!("not typed as another error");
        };
        assert_eq!(message.chars().count(), MAX_MESSAGE_CHARS + 1);
        assert!(message.ends_with("é…"), "{message}");
        assert_eq!(code.chars().count(), MAX_CODE_CHARS + 1);
        let shown = failure(classify(500, body.as_bytes())).to_string();
        assert!(shown.len() < 1_000, "{} bytes echoed", shown.len());
    }

    fn failure(kind: ErrorKind) -> Failure {
        Failure {
            kind,
            action: "s3:GetObject",
            bucket: "b".into(),
            key: "dir/k.txt".into(),
            version_id: None,
            subject: "alice".into(),
            source: "static".into(),
        }
    }

    #[test]
    fn messages_name_the_object() {
        assert_eq!(
            failure(ErrorKind::NoSuchKey).to_string(),
            "No object at s3://b/dir/k.txt"
        );
        assert_eq!(
            failure(ErrorKind::NoSuchBucket).to_string(),
            "Bucket 'b' does not exist"
        );
        assert_eq!(
            failure(ErrorKind::AccessDenied).to_string(),
            "Access denied: s3:GetObject on s3://b/dir/k.txt is not allowed for alice with credentials from static"
        );
        let other = failure(ErrorKind::Other {
            code: "SlowDown".into(),
            message: "Reduce your rate".into(),
            status: 503,
        })
        .to_string();
        assert!(
            other.contains("SlowDown")
                && other.contains("Reduce your rate")
                && other.contains("503")
        );
    }
}
