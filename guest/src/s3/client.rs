//! Signed S3 requests built with rusty-s3 and sent through the host's HTTP.
//!
//! Every request is presigned (query-string SigV4): the same code then serves both
//! requests sent now and links handed to people.

use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, SystemTime};

use jiff::Timestamp;
use rusty_s3::actions::{ListObjectsV2, S3Action};
use rusty_s3::{Bucket, Credentials, UrlStyle};
use url::Url;

use super::error::{ErrorKind, Failure, classify};
use super::uri::{S3Uri, UriError, validate_bucket, validate_key};
use crate::context::{Context, SqlSettings, credential_error_message};
use crate::http::{Client, MAX_ERROR_BODY, Method, Request, Response, send_idempotent};

/// Signatures of requests sent right away only need to outlive clock skew.
pub(super) const SEND_EXPIRY: Duration = Duration::from_secs(300);
const TRANSPORT_RETRIES: usize = 3;
const MAX_LISTING_BODY: usize = 16 * 1024 * 1024;

pub struct S3<'a> {
    pub(super) http: &'a dyn Client,
    pub(super) credentials: Credentials,
    endpoint: Url,
    style: UrlStyle,
    region: String,
    subject: String,
    source: String,
    /// The one bucket this request may address (`/mcp/b/{bucket}`).
    only_bucket: Option<String>,
    results: Option<ResultsPlaces>,
}

/// Where callers' query results lie, each caller's in a place of their own: the tools reach
/// only this caller's, since a role many callers share may read and write them all.
struct ResultsPlaces {
    bucket: String,
    /// Every caller's place lies under this prefix…
    callers: String,
    /// …and this is this caller's.
    own: String,
}

impl ResultsPlaces {
    fn of(settings: &SqlSettings) -> Option<Self> {
        let callers = S3Uri::parse(settings.callers_results.as_deref()?).ok()?;
        let own = S3Uri::parse(settings.output_location.as_deref()?).ok()?;
        (own.bucket == callers.bucket).then_some(Self {
            bucket: callers.bucket,
            callers: callers.key,
            own: own.key,
        })
    }

    /// Whether `key` (or, as a listing's prefix, the keys it begins) lies in another
    /// caller's place: under every caller's, and neither in nor above this caller's own.
    fn another_callers(&self, bucket: &str, key: &str) -> bool {
        bucket == self.bucket
            && key.starts_with(&self.callers)
            && !key.starts_with(&self.own)
            && !self.own.starts_with(key)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectError {
    Credentials(String),
    BadEndpoint(String),
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Credentials(message) => f.write_str(message),
            Self::BadEndpoint(endpoint) => write!(
                f,
                "The S3 endpoint '{endpoint}' configured for this deployment is not an http(s) URL; ask its operator to fix it"
            ),
        }
    }
}

pub struct ListedObject {
    pub key: String,
    pub size: Option<u64>,
    pub last_modified: Option<String>,
    pub etag: Option<String>,
}

pub struct Listing {
    pub objects: Vec<ListedObject>,
    pub common_prefixes: Vec<String>,
    pub next_continuation_token: Option<String>,
}

pub struct ListQuery<'q> {
    pub prefix: &'q str,
    pub delimiter: &'q str,
    pub max_keys: usize,
    pub continuation_token: &'q str,
}

pub struct Head {
    pub size: Option<u64>,
    pub content_type: Option<String>,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    pub version_id: Option<String>,
    pub metadata: BTreeMap<String, String>,
}

pub struct Download {
    pub bytes: Vec<u8>,
    /// The whole object's size, not just what was read.
    pub size: u64,
    pub content_type: Option<String>,
    /// The version read, on a versioned bucket.
    pub version_id: Option<String>,
}

pub struct Upload<'u> {
    pub key: &'u str,
    pub body: Vec<u8>,
    pub content_type: &'u str,
    /// Names without the `x-amz-meta-` prefix, already checked to be header-safe.
    pub metadata: &'u BTreeMap<String, String>,
}

pub struct Stored {
    pub etag: Option<String>,
    pub version_id: Option<String>,
}

impl<'a> S3<'a> {
    pub fn connect(context: &dyn Context, http: &'a dyn Client) -> Result<Self, ConnectError> {
        let aws = context
            .aws_credentials()
            .map_err(|e| ConnectError::Credentials(credential_error_message(&e).to_owned()))?;
        let settings = context.settings();
        let endpoint = Url::parse(&settings.s3_endpoint)
            .ok()
            .filter(|url| matches!(url.scheme(), "http" | "https") && url.host_str().is_some())
            .ok_or_else(|| ConnectError::BadEndpoint(settings.s3_endpoint.clone()))?;
        let credentials = match aws.session_token {
            Some(token) => {
                Credentials::new_with_token(aws.access_key_id, aws.secret_access_key, token)
            }
            None => Credentials::new(aws.access_key_id, aws.secret_access_key),
        };
        let subject = context
            .caller()
            .map_or_else(|| "an anonymous caller".to_owned(), |caller| caller.subject);
        Ok(Self {
            http,
            credentials,
            endpoint,
            style: if settings.path_style {
                UrlStyle::Path
            } else {
                UrlStyle::VirtualHost
            },
            region: settings.region,
            subject,
            source: aws.source,
            only_bucket: context.grant().bucket,
            results: ResultsPlaces::of(&settings.sql),
        })
    }

    pub fn list(&self, bucket: &str, query: &ListQuery<'_>) -> Result<Listing, Failure> {
        let fail = |kind| self.failure(kind, "s3:ListBucket", bucket, query.prefix, None);
        self.check_results_place(bucket, query.prefix)
            .map_err(&fail)?;
        let handle = self.bucket(bucket).map_err(&fail)?;
        let mut action = handle.list_objects_v2(Some(&self.credentials));
        if !query.prefix.is_empty() {
            action.with_prefix(query.prefix);
        }
        if !query.delimiter.is_empty() {
            action.with_delimiter(query.delimiter);
        }
        if !query.continuation_token.is_empty() {
            action.with_continuation_token(query.continuation_token);
        }
        action.with_max_keys(query.max_keys);
        let url = action.sign_with_time(SEND_EXPIRY, &now());
        let response = self
            .send(Method::Get, url, Vec::new(), Vec::new(), MAX_LISTING_BODY)
            .map_err(&fail)?;
        let text = String::from_utf8_lossy(&response.body);
        super::complete_xml::check(&text).map_err(|e| fail(ErrorKind::BadResponse(e)))?;
        let parsed = ListObjectsV2::parse_response(&text)
            .map_err(|e| fail(ErrorKind::BadResponse(e.to_string())))?;
        // A listing above the results places shows this caller's own, and no other's.
        let shown = |key: &str| self.check_results_place(bucket, key).is_ok();
        Ok(Listing {
            objects: parsed
                .contents
                .into_iter()
                .filter(|object| shown(&object.key))
                .map(|object| ListedObject {
                    key: object.key,
                    size: object.size,
                    last_modified: object.last_modified.map(|t| normalise_time(&t)),
                    etag: object.etag.map(|e| unquote(&e)),
                })
                .collect(),
            common_prefixes: parsed
                .common_prefixes
                .into_iter()
                .map(|p| p.prefix)
                .filter(|prefix| shown(prefix))
                .collect(),
            next_continuation_token: parsed.next_continuation_token,
        })
    }

    pub fn head(&self, uri: &S3Uri) -> Result<Head, Failure> {
        let fail = |kind| self.object_failure(kind, "s3:GetObject", uri);
        let bucket = self.object_bucket(&uri.bucket, &uri.key).map_err(&fail)?;
        let mut action = bucket.head_object(Some(&self.credentials), &uri.key);
        select_version(&mut action, uri);
        let url = action.sign_with_time(SEND_EXPIRY, &now());
        let response = self
            .send(Method::Head, url, Vec::new(), Vec::new(), 0)
            .map_err(&fail)?;
        let metadata = response
            .headers
            .iter()
            .filter_map(|(name, value)| {
                name.strip_prefix("x-amz-meta-")
                    .map(|name| (name.to_owned(), value.clone()))
            })
            .collect();
        Ok(Head {
            size: response
                .header("content-length")
                .and_then(|v| v.parse().ok()),
            content_type: response.header("content-type").map(str::to_owned),
            etag: response.header("etag").map(unquote),
            last_modified: response.header("last-modified").map(normalise_time),
            version_id: version_header(&response),
            metadata,
        })
    }

    /// The first `max_bytes` of an object, with a ranged GET so S3 sends no more.
    pub fn get_prefix(&self, uri: &S3Uri, max_bytes: usize) -> Result<Download, Failure> {
        let fail = |kind| self.object_failure(kind, "s3:GetObject", uri);
        let bucket = self.object_bucket(&uri.bucket, &uri.key).map_err(&fail)?;
        let mut action = bucket.get_object(Some(&self.credentials), &uri.key);
        select_version(&mut action, uri);
        let url = action.sign_with_time(SEND_EXPIRY, &now());
        let range = format!("bytes=0-{}", max_bytes.saturating_sub(1));
        let request = Request {
            method: Method::Get,
            url,
            headers: vec![("range".into(), range)],
            body: Vec::new(),
        };
        // Error bodies must be read whole to be typed, even when few bytes were asked for.
        let cap = max_bytes.max(MAX_ERROR_BODY);
        let mut response = send_idempotent(self.http, &request, cap, TRANSPORT_RETRIES)
            .map_err(|e| fail(ErrorKind::Transport(e)))?;
        let content_type = response.header("content-type").map(str::to_owned);
        let version_id = version_header(&response);
        let size = match response.status {
            206 | 416 => response
                .header("content-range")
                .and_then(total_from_content_range),
            200 => response
                .header("content-length")
                .and_then(|v| v.parse().ok()),
            status => return Err(fail(classify(status, &response.body))),
        };
        // 416: S3 refuses any range of an empty object.
        if response.status == 416 {
            response.body.clear();
        }
        response.body.truncate(max_bytes);
        Ok(Download {
            size: size.unwrap_or(response.body.len() as u64),
            bytes: response.body,
            content_type,
            version_id,
        })
    }

    pub fn put(&self, bucket_name: &str, upload: Upload<'_>) -> Result<Stored, Failure> {
        let fail = |kind| self.failure(kind, "s3:PutObject", bucket_name, upload.key, None);
        let bucket = self.object_bucket(bucket_name, upload.key).map_err(&fail)?;
        let mut action = bucket.put_object(Some(&self.credentials), upload.key);
        let mut headers = vec![(
            "content-type".to_owned(),
            upload.content_type.trim().to_owned(),
        )];
        headers.extend(
            upload
                .metadata
                .iter()
                .map(|(name, value)| (format!("x-amz-meta-{name}"), value.trim().to_owned())),
        );
        // S3 rejects x-amz-* headers that a presigned request did not sign.
        for (name, value) in &headers {
            action.headers_mut().insert(name.clone(), value.clone());
        }
        let url = action.sign_with_time(SEND_EXPIRY, &now());
        let response = self
            .send(Method::Put, url, headers, upload.body, 0)
            .map_err(&fail)?;
        Ok(Stored {
            etag: response.header("etag").map(unquote),
            version_id: version_header(&response),
        })
    }

    /// A GET link for people, valid `expires_in` from `signed_at`.
    pub fn presign_get(
        &self,
        uri: &S3Uri,
        expires_in: Duration,
        signed_at: SystemTime,
    ) -> Result<Url, Failure> {
        let bucket = self
            .object_bucket(&uri.bucket, &uri.key)
            .map_err(|kind| self.object_failure(kind, "s3:GetObject", uri))?;
        let mut action = bucket.get_object(Some(&self.credentials), &uri.key);
        select_version(&mut action, uri);
        Ok(action.sign_with_time(expires_in, &timestamp(signed_at)))
    }

    /// Whether this request may address `bucket`: a connection held to one bucket
    /// (`/mcp/b/{bucket}`) may address no other.
    pub fn may_address(&self, bucket: &str) -> bool {
        self.only_bucket
            .as_deref()
            .is_none_or(|only| only == bucket)
    }

    /// The bucket of an object request, refused (nothing is sent) for a key the rule in
    /// `uri` refuses: rusty-s3 would resolve its dot segments and address another object.
    pub(super) fn object_bucket(&self, name: &str, key: &str) -> Result<Bucket, ErrorKind> {
        check_object(name, key)?;
        self.check_results_place(name, key)?;
        self.bucket(name)
    }

    /// Refuses, unsent, a key (or a listing's prefix) in another caller's results place.
    fn check_results_place(&self, bucket: &str, key: &str) -> Result<(), ErrorKind> {
        match &self.results {
            Some(places) if places.another_callers(bucket, key) => {
                Err(ErrorKind::NotSent(format!(
                    "s3://{bucket}/{} holds another caller's query results; yours are under s3://{bucket}/{}",
                    places.callers, places.own
                )))
            }
            _ => Ok(()),
        }
    }

    /// Every URL this client builds starts here, so a bucket name the rule in `uri` refuses
    /// (`..`, a host-name trick) never reaches rusty-s3.
    pub(super) fn bucket(&self, name: &str) -> Result<Bucket, ErrorKind> {
        validate_bucket(name).map_err(not_sent)?;
        if let Some(only) = self
            .only_bucket
            .as_deref()
            .filter(|_| !self.may_address(name))
        {
            return Err(ErrorKind::NotSent(format!(
                "this connection is held to the bucket {only} (/mcp/b/{only}), and {name} is another"
            )));
        }
        Bucket::new(
            self.endpoint.clone(),
            self.style,
            name.to_owned(),
            self.region.clone(),
        )
        .map_err(|e| ErrorKind::Other {
            code: "InvalidBucketName".into(),
            message: format!("'{name}' cannot be addressed at this endpoint ({e:?})"),
            status: 400,
        })
    }

    /// Sends and turns any non-2xx answer into a typed error.
    pub(super) fn send(
        &self,
        method: Method,
        url: Url,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
        max_body: usize,
    ) -> Result<Response, ErrorKind> {
        let request = Request {
            method,
            url,
            headers,
            body,
        };
        let cap = max_body.max(MAX_ERROR_BODY);
        // A pooled connection the server closed after its last response fails the request
        // that reuses it (seen with SeaweedFS after large ranged GETs); every request here is
        // idempotent, so it is sent again.
        let response = send_idempotent(self.http, &request, cap, TRANSPORT_RETRIES)
            .map_err(ErrorKind::Transport)?;
        if (200..300).contains(&response.status) {
            Ok(response)
        } else {
            Err(classify(response.status, &response.body))
        }
    }

    pub(crate) fn object_failure(
        &self,
        kind: ErrorKind,
        action: &'static str,
        uri: &S3Uri,
    ) -> Failure {
        self.failure(kind, action, &uri.bucket, &uri.key, uri.version_id.clone())
    }

    pub(super) fn failure(
        &self,
        kind: ErrorKind,
        action: &'static str,
        bucket: &str,
        key: &str,
        version_id: Option<String>,
    ) -> Failure {
        Failure {
            kind,
            action,
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            version_id,
            subject: self.subject.clone(),
            source: self.source.clone(),
        }
    }
}

/// Refuses (nothing is sent) an object address the rule in `uri` refuses.
fn check_object(bucket: &str, key: &str) -> Result<(), ErrorKind> {
    validate_bucket(bucket).map_err(not_sent)?;
    validate_key(key).map_err(not_sent)
}

/// An address refused before anything was sent.
fn not_sent(error: UriError) -> ErrorKind {
    ErrorKind::NotSent(error.to_string())
}

/// Addresses the version `uri` names, if any (`?versionId=` on the signed request).
pub(super) fn select_version<'a>(action: &mut impl S3Action<'a>, uri: &'a S3Uri) {
    if let Some(version) = &uri.version_id {
        action.query_mut().insert("versionId", version.as_str());
    }
}

pub(super) fn now() -> Timestamp {
    timestamp(SystemTime::now())
}

fn timestamp(time: SystemTime) -> Timestamp {
    Timestamp::try_from(time).unwrap_or(Timestamp::UNIX_EPOCH)
}

/// S3 quotes ETags; the quotes are HTTP syntax, not part of the value people compare.
fn unquote(etag: &str) -> String {
    etag.trim().trim_matches('"').to_owned()
}

/// The version S3 says it read or wrote; an unversioned bucket sends none or `null`.
fn version_header(response: &Response) -> Option<String> {
    response
        .header("x-amz-version-id")
        .filter(|v| !v.is_empty() && *v != "null")
        .map(str::to_owned)
}

/// Listings give ISO 8601 and HEAD gives an HTTP date; tools report RFC 3339 for both.
pub fn normalise_time(raw: &str) -> String {
    raw.parse::<Timestamp>()
        .ok()
        .or_else(|| {
            jiff::fmt::rfc2822::DateTimeParser::new()
                .parse_timestamp(raw)
                .ok()
        })
        .map_or_else(|| raw.to_owned(), |t| t.to_string())
}

/// `bytes 0-99/1234` or `bytes */1234` to 1234.
fn total_from_content_range(value: &str) -> Option<u64> {
    value.rsplit_once('/')?.1.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::{normalise_time, total_from_content_range, unquote};

    #[test]
    fn normalises_both_s3_time_formats() {
        assert_eq!(
            normalise_time("2024-03-01T12:00:05.000Z"),
            "2024-03-01T12:00:05Z"
        );
        assert_eq!(
            normalise_time("Fri, 01 Mar 2024 12:00:05 GMT"),
            "2024-03-01T12:00:05Z"
        );
        assert_eq!(normalise_time("garbage"), "garbage");
    }

    #[test]
    fn reads_total_size_from_content_range() {
        assert_eq!(total_from_content_range("bytes 0-99/1234"), Some(1234));
        assert_eq!(total_from_content_range("bytes */0"), Some(0));
        assert_eq!(total_from_content_range("bytes 0-99/*"), None);
    }

    #[test]
    fn strips_etag_quotes() {
        assert_eq!(unquote("\"abc\""), "abc");
    }
}
