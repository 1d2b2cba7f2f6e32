//! What one request's guest reached, as its egress saw it: the targets (S3 objects and
//! prefixes as `s3://` URIs, Athena and Glue operations, registry paths) and the bytes sent and
//! received. Recorded by the host at the egress hook, so the audit shows what was done, not
//! what the guest says it did.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use url::Url;

/// Targets kept per request; past this, only their number.
const MAX_TARGETS: usize = 100;
/// A target's length in the audit event, at most.
const MAX_TARGET_CHARS: usize = 512;

pub struct Touched {
    namer: Namer,
    targets: Mutex<Vec<String>>,
    /// Requests to targets past [`MAX_TARGETS`] (those are not kept, so one reached twice
    /// counts twice).
    more: AtomicU64,
    pub bytes_read: AtomicU64,
    pub bytes_written: AtomicU64,
}

/// How to name what a URL reaches: S3's endpoint and addressing style.
pub struct Namer {
    pub s3_endpoint: String,
    pub path_style: bool,
}

impl Touched {
    pub fn new(namer: Namer) -> Self {
        Self {
            namer,
            targets: Mutex::default(),
            more: AtomicU64::default(),
            bytes_read: AtomicU64::default(),
            bytes_written: AtomicU64::default(),
        }
    }

    /// Records one outgoing request (its `x-amz-target` names Athena's and Glue's
    /// operations).
    pub fn record(&self, uri: &http::Uri, amz_target: Option<&str>) {
        let target = self.namer.name(uri, amz_target);
        let mut targets = self.targets.lock().expect("not poisoned");
        if targets.contains(&target) {
            return;
        }
        if targets.len() < MAX_TARGETS {
            targets.push(target);
        } else {
            self.more.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn add_read(&self, bytes: usize) {
        self.bytes_read.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    pub fn add_written(&self, bytes: usize) {
        self.bytes_written
            .fetch_add(bytes as u64, Ordering::Relaxed);
    }

    /// The targets, and how many more were left out.
    pub fn targets(&self) -> (Vec<String>, u64) {
        let targets = self.targets.lock().expect("not poisoned").clone();
        (targets, self.more.load(Ordering::Relaxed))
    }
}

impl Namer {
    /// `s3://bucket/key` (or the listed prefix) for S3, `Service.Operation` for Athena and
    /// Glue, else the origin and path: never the query, which holds presigned signatures.
    fn name(&self, uri: &http::Uri, amz_target: Option<&str>) -> String {
        let url = Url::parse(&uri.to_string()).ok();
        let name = match (amz_target, &url) {
            (Some(operation), _) => operation.to_owned(),
            (None, Some(url)) => self
                .s3_uri(url)
                .unwrap_or_else(|| format!("{}{}", url.origin().ascii_serialization(), url.path())),
            (None, None) => "-".to_owned(),
        };
        crate::untrusted::cut(&name, MAX_TARGET_CHARS)
    }

    fn s3_uri(&self, url: &Url) -> Option<String> {
        let endpoint = Url::parse(&self.s3_endpoint).ok()?;
        let endpoint_host = endpoint.host_str()?;
        let host = url.host_str()?;
        let same_port = url.port_or_known_default() == endpoint.port_or_known_default();
        let decoded = |text: &str| {
            percent_encoding::percent_decode_str(text)
                .decode_utf8_lossy()
                .into_owned()
        };
        let path = url.path().trim_start_matches('/');
        let (bucket, key) = if self.path_style && host == endpoint_host && same_port {
            let (bucket, key) = path.split_once('/').unwrap_or((path, ""));
            (bucket.to_owned(), decoded(key))
        } else {
            let bucket = host.strip_suffix(endpoint_host)?.strip_suffix('.')?;
            (bucket.to_owned(), decoded(path))
        };
        if bucket.is_empty() {
            return None;
        }
        // A listing names its prefix in the query.
        let key = match url.query_pairs().find(|(name, _)| name == "prefix") {
            Some((_, prefix)) if key.is_empty() => prefix.into_owned(),
            _ => key,
        };
        Some(format!("s3://{bucket}/{key}"))
    }
}

#[cfg(test)]
mod tests {
    use super::{MAX_TARGETS, Namer, Touched};

    fn named(namer: &Namer, uri: &str, target: Option<&str>) -> String {
        namer.name(&uri.parse().unwrap(), target)
    }

    fn local() -> Namer {
        Namer {
            s3_endpoint: "http://127.0.0.1:8333".into(),
            path_style: true,
        }
    }

    #[test]
    fn targets_are_named_as_users_know_them_and_never_carry_signatures() {
        let path_style = local();
        assert_eq!(
            named(
                &path_style,
                "http://127.0.0.1:8333/b/dir/a%20b.csv?X-Amz-Signature=secret",
                None
            ),
            "s3://b/dir/a b.csv"
        );
        assert_eq!(
            named(
                &path_style,
                "http://127.0.0.1:8333/b?list-type=2&prefix=runs%2F&X-Amz-Signature=s",
                None
            ),
            "s3://b/runs/"
        );
        assert_eq!(
            named(
                &path_style,
                "http://127.0.0.1:9400/",
                Some("AmazonAthena.StartQueryExecution")
            ),
            "AmazonAthena.StartQueryExecution"
        );
        let registry = named(
            &path_style,
            "http://127.0.0.1:9000/graphql?token=secret",
            None,
        );
        assert_eq!(registry, "http://127.0.0.1:9000/graphql");
        let virtual_host = Namer {
            s3_endpoint: "https://s3.us-east-1.amazonaws.com".into(),
            path_style: false,
        };
        assert_eq!(
            named(
                &virtual_host,
                "https://data.s3.us-east-1.amazonaws.com/k.csv?X-Amz-Credential=x",
                None
            ),
            "s3://data/k.csv"
        );
    }

    #[test]
    fn a_request_touching_many_objects_keeps_a_bounded_list() {
        let touched = Touched::new(local());
        for n in 0..MAX_TARGETS + 5 {
            let uri = format!("http://127.0.0.1:8333/b/k{n}").parse().unwrap();
            touched.record(&uri, None);
            touched.record(&uri, None);
        }
        let (targets, more) = touched.targets();
        assert_eq!(
            (targets.len(), more),
            (MAX_TARGETS, 10),
            "5 left out, each reached twice"
        );
    }
}
