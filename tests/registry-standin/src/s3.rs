//! The indexer's view of S3: listing, HEAD and GET with its own keys (rusty-s3 presigned
//! requests sent with reqwest, as the test harness does).

use std::time::Duration;

use rusty_s3::actions::{GetObject, HeadObject, ListObjectsV2, ListObjectsV2Response};
use rusty_s3::{Bucket, Credentials, S3Action, UrlStyle};
use url::Url;

use crate::config::AccessKeys;

const SIGNATURE_LIFETIME: Duration = Duration::from_secs(300);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum S3Error {
    #[error("S3 at {endpoint} is unreachable while {what} ({reason}); check that it is running")]
    Unreachable {
        endpoint: String,
        what: String,
        reason: String,
    },
    #[error(
        "S3 refused {what}: HTTP {status}: {body}; the bucket must exist and the indexer keys need list and read on it"
    )]
    Refused {
        what: String,
        status: u16,
        body: String,
    },
    #[error("S3 answered {what} with a listing that does not parse: {reason}")]
    Malformed { what: String, reason: String },
    #[error("{0:?} is not a bucket name S3 accepts")]
    BadBucket(String),
}

/// One object of a listing.
#[derive(Debug, Clone)]
pub struct Listed {
    pub key: String,
    pub size: u64,
    pub last_modified: String,
    pub etag: String,
}

/// What HEAD adds to a listing.
#[derive(Debug, Clone)]
pub struct Head {
    pub content_type: Option<String>,
    pub version_id: Option<String>,
}

pub struct BucketReader {
    endpoint: Url,
    region: String,
    credentials: Credentials,
    http: reqwest::Client,
}

impl BucketReader {
    pub fn new(endpoint: Url, region: &str, keys: &AccessKeys) -> Result<Self, reqwest::Error> {
        Ok(Self {
            endpoint,
            region: region.to_owned(),
            credentials: Credentials::new(&keys.access_key_id, &keys.secret_access_key),
            http: reqwest::Client::builder()
                .timeout(REQUEST_TIMEOUT)
                .build()?,
        })
    }

    fn bucket(&self, name: &str) -> Result<Bucket, S3Error> {
        Bucket::new(
            self.endpoint.clone(),
            UrlStyle::Path,
            name.to_owned(),
            self.region.clone(),
        )
        .map_err(|_| S3Error::BadBucket(name.to_owned()))
    }

    /// Every object of `bucket`, all pages.
    pub async fn list(&self, bucket: &str) -> Result<Vec<Listed>, S3Error> {
        let handle = self.bucket(bucket)?;
        let what = format!("listing s3://{bucket}");
        let mut objects = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut action = ListObjectsV2::new(&handle, Some(&self.credentials));
            if let Some(token) = &token {
                action.with_continuation_token(token.clone());
            }
            let body = self
                .send(self.http.get(action.sign(SIGNATURE_LIFETIME)), &what)
                .await?
                .text()
                .await
                .map_err(|e| self.unreachable(&what, e))?;
            let page: ListObjectsV2Response =
                ListObjectsV2::parse_response(&body).map_err(|e| S3Error::Malformed {
                    what: what.clone(),
                    reason: e.to_string(),
                })?;
            objects.extend(page.contents.into_iter().map(|object| Listed {
                key: object.key,
                size: object.size.unwrap_or_default(),
                last_modified: object.last_modified.unwrap_or_default(),
                etag: object.etag.unwrap_or_default(),
            }));
            match page.next_continuation_token {
                Some(next) => token = Some(next),
                None => return Ok(objects),
            }
        }
    }

    /// HEAD of an object; `None` when it is gone (deleted since it was listed).
    pub async fn head(&self, bucket: &str, key: &str) -> Result<Option<Head>, S3Error> {
        let handle = self.bucket(bucket)?;
        let url = HeadObject::new(&handle, Some(&self.credentials), key).sign(SIGNATURE_LIFETIME);
        let what = format!("HEAD s3://{bucket}/{key}");
        let Some(response) = self.send_unless_missing(self.http.head(url), &what).await? else {
            return Ok(None);
        };
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|value| value.to_str().ok())
                .map(str::to_owned)
        };
        Ok(Some(Head {
            content_type: header("content-type"),
            version_id: header("x-amz-version-id").filter(|id| id != "null"),
        }))
    }

    /// An object's bytes; `None` when it is gone.
    pub async fn get(&self, bucket: &str, key: &str) -> Result<Option<Vec<u8>>, S3Error> {
        let handle = self.bucket(bucket)?;
        let url = GetObject::new(&handle, Some(&self.credentials), key).sign(SIGNATURE_LIFETIME);
        let what = format!("GET s3://{bucket}/{key}");
        let Some(response) = self.send_unless_missing(self.http.get(url), &what).await? else {
            return Ok(None);
        };
        let bytes = response
            .bytes()
            .await
            .map_err(|e| self.unreachable(&what, e))?;
        Ok(Some(bytes.to_vec()))
    }

    async fn send_unless_missing(
        &self,
        request: reqwest::RequestBuilder,
        what: &str,
    ) -> Result<Option<reqwest::Response>, S3Error> {
        match self.send(request, what).await {
            Err(S3Error::Refused { status: 404, .. }) => Ok(None),
            other => other.map(Some),
        }
    }

    async fn send(
        &self,
        request: reqwest::RequestBuilder,
        what: &str,
    ) -> Result<reqwest::Response, S3Error> {
        let response = request
            .send()
            .await
            .map_err(|e| self.unreachable(what, e))?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        Err(S3Error::Refused {
            what: what.to_owned(),
            status: status.as_u16(),
            body: response.text().await.unwrap_or_default(),
        })
    }

    /// The error without its URL: a presigned URL carries a signature.
    fn unreachable(&self, what: &str, error: reqwest::Error) -> S3Error {
        S3Error::Unreachable {
            endpoint: self.endpoint.to_string(),
            what: what.to_owned(),
            reason: error.without_url().to_string(),
        }
    }
}
