//! `s3://bucket/key[?versionId=...]` as users and the established Quilt tools write it.
//!
//! Keys are percent-decoded when parsed and only `%`, `?`, `#` and control characters are
//! encoded when written (`http::percent`), so a URI printed by a tool can be pasted back
//! into any tool unchanged.
//!
//! [`validate_bucket`] and [`validate_key`] are the one rule for what may be sent to S3:
//! parsing applies them for good errors, and the S3 client again before it builds any URL.

use std::fmt;

use crate::echo::bounded;
use crate::http::percent::{S3_URI_KEY, S3_URI_QUERY_VALUE, decode, encode_readable};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Uri {
    pub bucket: String,
    pub key: String,
    pub version_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UriError {
    NotS3(String),
    MissingBucket(String),
    InvalidBucket { name: String, problem: &'static str },
    MissingKey(String),
    InvalidKey { key: String, problem: &'static str },
    UnsupportedQuery(String),
}

impl fmt::Display for UriError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotS3(s) => write!(f, "'{s}' is not an S3 URI; write it as s3://bucket/key"),
            Self::MissingBucket(s) => {
                write!(f, "'{s}' names no bucket; write it as s3://bucket/key")
            }
            Self::InvalidBucket { name, problem } => {
                let name = bounded(name, MAX_ECHOED_CHARS);
                write!(f, "'{name}' is not a valid S3 bucket name: {problem}")
            }
            Self::MissingKey(s) => write!(
                f,
                "'{s}' names a bucket but no object; write it as s3://bucket/key"
            ),
            Self::InvalidKey { key, problem } => {
                let key = bounded(key, MAX_ECHOED_CHARS);
                write!(f, "'{key}' cannot be used as an S3 key: {problem}")
            }
            Self::UnsupportedQuery(s) => write!(
                f,
                "'{s}' has a query other than ?versionId=...; remove it or use only versionId"
            ),
        }
    }
}

impl S3Uri {
    pub fn parse(input: &str) -> Result<Self, UriError> {
        let trimmed = input.trim();
        let rest = strip_scheme(trimmed).ok_or_else(|| UriError::NotS3(input.to_owned()))?;
        let (location, query) = match rest.split_once('?') {
            Some((location, query)) => (location, Some(query)),
            None => (rest, None),
        };
        let (bucket, key) = location.split_once('/').unwrap_or((location, ""));
        let bucket = bucket_name(bucket, input)?;
        let key = decode(key);
        if key.is_empty() {
            return Err(UriError::MissingKey(input.to_owned()));
        }
        validate_key(&key)?;
        let version_id = match query {
            None => None,
            Some(query) => Some(
                parse_version(query).ok_or_else(|| UriError::UnsupportedQuery(input.to_owned()))?,
            ),
        };
        Ok(Self {
            bucket,
            key,
            version_id,
        })
    }
}

impl fmt::Display for S3Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", object_uri(&self.bucket, &self.key))?;
        if let Some(version) = &self.version_id {
            write!(
                f,
                "?versionId={}",
                encode_readable(version, S3_URI_QUERY_VALUE)
            )?;
        }
        Ok(())
    }
}

/// `name` or `s3://name` (a trailing `/` is tolerated) to the bare bucket name.
pub fn parse_bucket(input: &str) -> Result<String, UriError> {
    let trimmed = input.trim();
    let name = strip_scheme(trimmed).unwrap_or(trimmed);
    let name = name.strip_suffix('/').unwrap_or(name);
    bucket_name(name, input)
}

pub fn object_uri(bucket: &str, key: &str) -> String {
    format!("s3://{bucket}/{}", encode_readable(key, S3_URI_KEY))
}

fn strip_scheme(s: &str) -> Option<&str> {
    s.get(..5)
        .filter(|scheme| scheme.eq_ignore_ascii_case("s3://"))
        .map(|_| &s[5..])
}

fn bucket_name(name: &str, input: &str) -> Result<String, UriError> {
    if name.is_empty() {
        return Err(UriError::MissingBucket(input.to_owned()));
    }
    validate_bucket(name)?;
    Ok(name.to_owned())
}

/// S3's bucket naming rules, except the 3-character minimum: path-style URLs put the name
/// in the path (`..` there addresses the endpoint's root) and virtual-host URLs in the host
/// name, so anything else could address another bucket or host. Names shorter than three
/// characters address only themselves, and S3 answers them with its own error.
pub fn validate_bucket(name: &str) -> Result<(), UriError> {
    match quilt_mcp_policy::bucket::problem(name) {
        Some(problem) => Err(UriError::InvalidBucket {
            name: name.to_owned(),
            problem,
        }),
        None => Ok(()),
    }
}

/// S3 keys may hold any characters, but a `.` or `..` segment is removed when the request
/// URL is built (URL dot-segment rules), so the request would reach another object — or
/// another bucket. Empty segments (`a//b`) are kept by URLs and stored by S3 as they are.
/// S3's longest key, in bytes of UTF-8.
const MAX_KEY_BYTES: usize = 1024;
/// Most characters of a refused key or bucket name repeated in an error.
const MAX_ECHOED_CHARS: usize = 256;

pub fn validate_key(key: &str) -> Result<(), UriError> {
    let problem = if key.is_empty() {
        "the key is empty"
    } else if key.len() > MAX_KEY_BYTES {
        "it is longer than S3's limit of 1024 bytes"
    } else if key
        .split('/')
        .any(|segment| segment == "." || segment == "..")
    {
        "it has a '.' or '..' segment, which request URLs resolve away, so S3 would be asked for another object; rename the object without it"
    } else {
        return Ok(());
    };
    Err(UriError::InvalidKey {
        key: key.to_owned(),
        problem,
    })
}

fn parse_version(query: &str) -> Option<String> {
    let value = query.strip_prefix("versionId=")?;
    if value.is_empty() || value.contains('&') {
        return None;
    }
    Some(decode(value))
}

#[cfg(test)]
mod tests {
    use super::{S3Uri, UriError, parse_bucket};

    fn uri(bucket: &str, key: &str, version: Option<&str>) -> S3Uri {
        S3Uri {
            bucket: bucket.into(),
            key: key.into(),
            version_id: version.map(Into::into),
        }
    }

    #[test]
    fn parses_bucket_and_nested_key() {
        assert_eq!(
            S3Uri::parse("s3://b/a/b/c.txt"),
            Ok(uri("b", "a/b/c.txt", None))
        );
    }

    #[test]
    fn parses_version_id() {
        assert_eq!(
            S3Uri::parse("s3://b/k.csv?versionId=abc%2F1"),
            Ok(uri("b", "k.csv", Some("abc/1")))
        );
    }

    #[test]
    fn decodes_percent_escapes_but_keeps_plus() {
        assert_eq!(
            S3Uri::parse("s3://b/a%20b+c%3F"),
            Ok(uri("b", "a b+c?", None))
        );
    }

    #[test]
    fn keeps_literal_spaces_and_unicode() {
        assert_eq!(
            S3Uri::parse("s3://b/dir/été 1.txt"),
            Ok(uri("b", "dir/été 1.txt", None))
        );
    }

    #[test]
    fn round_trips_through_display() {
        for key in ["a/b", "50%/x?y#z", "plain key.txt", "a+b"] {
            let original = uri("bkt", key, Some("v&1"));
            assert_eq!(
                S3Uri::parse(&original.to_string()),
                Ok(original.clone()),
                "{key}"
            );
        }
    }

    #[test]
    fn rejects_other_schemes_and_missing_parts() {
        assert!(matches!(
            S3Uri::parse("https://b/k"),
            Err(UriError::NotS3(_))
        ));
        assert!(matches!(
            S3Uri::parse("s3:///k"),
            Err(UriError::MissingBucket(_))
        ));
        assert!(matches!(
            S3Uri::parse("s3://b"),
            Err(UriError::MissingKey(_))
        ));
        assert!(matches!(
            S3Uri::parse("s3://b/"),
            Err(UriError::MissingKey(_))
        ));
        assert!(matches!(
            S3Uri::parse("s3://b/k?foo=1"),
            Err(UriError::UnsupportedQuery(_))
        ));
        assert!(matches!(
            S3Uri::parse("s3://b/k?versionId="),
            Err(UriError::UnsupportedQuery(_))
        ));
    }

    #[test]
    fn scheme_is_case_insensitive() {
        assert_eq!(S3Uri::parse("S3://b/k"), Ok(uri("b", "k", None)));
    }

    #[test]
    fn bucket_accepts_name_or_uri() {
        assert_eq!(parse_bucket("my-bucket"), Ok("my-bucket".into()));
        assert_eq!(parse_bucket("s3://my-bucket"), Ok("my-bucket".into()));
        assert_eq!(parse_bucket("s3://my-bucket/"), Ok("my-bucket".into()));
        assert!(parse_bucket("s3://a/b").is_err());
        assert!(parse_bucket("").is_err());
        assert!(parse_bucket("my bucket").is_err());
    }

    #[test]
    fn keys_with_dot_segments_are_refused_naming_the_key() {
        for (input, key) in [
            ("s3://b/dir/../hello.txt", "dir/../hello.txt"),
            ("s3://b/a/../../victim/x", "a/../../victim/x"),
            ("s3://b/.", "."),
            ("s3://b/..", ".."),
            ("s3://b/a/./b", "a/./b"),
            ("s3://b/%2E%2e/x", "../x"),
            ("s3://b/dir/..?versionId=v1", "dir/.."),
        ] {
            let error = S3Uri::parse(input).expect_err(input);
            assert!(
                error.to_string().contains(&format!("'{key}'")),
                "{input}: {error}"
            );
        }
    }

    #[test]
    fn keys_past_s3s_limit_are_refused_and_echoed_short() {
        let error = S3Uri::parse(&format!("s3://b/{}", "k".repeat(65_000))).unwrap_err();
        let message = error.to_string();
        assert!(message.contains("1024 bytes"), "{message}");
        assert!(message.len() < 600, "{} bytes", message.len());
        assert!(S3Uri::parse(&format!("s3://b/{}", "k".repeat(1024))).is_ok());
    }

    #[test]
    fn keys_may_have_empty_segments_and_dots_inside_names() {
        for key in [
            "a//b", "dir/", "/lead", "..hidden", "a/.x/b..", "...", "a.b/c",
        ] {
            assert_eq!(
                S3Uri::parse(&format!("s3://b/{key}")).map(|u| u.key),
                Ok(key.to_owned())
            );
        }
    }

    #[test]
    fn buckets_follow_s3_naming_rules() {
        for good in [
            "b",
            "my-bucket",
            "my.bucket.2",
            "e2e-pkg-12",
            &"a".repeat(63),
        ] {
            assert_eq!(parse_bucket(good), Ok(good.to_owned()));
        }
        for bad in [
            "..",
            ".",
            "../newbucket",
            "a..b",
            "My-Bucket",
            "under_score",
            "-lead",
            "trail-",
            ".lead",
            "192.168.0.1",
            "x@evil.example",
            "b%2e",
            &"a".repeat(64),
        ] {
            let error = parse_bucket(bad).expect_err(bad);
            assert!(error.to_string().contains(bad), "{bad}: {error}");
            assert!(S3Uri::parse(&format!("s3://{bad}/k")).is_err(), "{bad}");
        }
    }
}
