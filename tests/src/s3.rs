//! A small native S3 client (rusty-s3 presigning + reqwest) for arranging and checking
//! test data behind the guest's back: buckets, objects, metadata, versioning.

use std::time::Duration;

use anyhow::{Context, Result, bail};
use rusty_s3::actions::{CreateBucket, GetObject, PutObject};
use rusty_s3::{Bucket, Credentials, S3Action, UrlStyle};
use url::Url;

/// SeaweedFS ignores the region, but SigV4 needs one; it matches the host's default.
pub const REGION: &str = "us-east-1";
const SIGNATURE_LIFETIME: Duration = Duration::from_secs(300);

/// An access key pair of a SeaweedFS identity.
#[derive(Debug, Clone, Copy)]
pub struct S3Credentials {
    pub access_key_id: &'static str,
    pub secret_access_key: &'static str,
}

impl S3Credentials {
    /// The `quilt-mcp serve` flags that hand these keys to every caller.
    pub fn static_source_flags(&self) -> Vec<String> {
        [
            "--credentials",
            "static",
            "--static-access-key-id",
            self.access_key_id,
            "--static-secret-access-key",
            self.secret_access_key,
        ]
        .map(String::from)
        .to_vec()
    }
}

pub struct S3Client {
    endpoint: Url,
    credentials: Credentials,
    http: reqwest::Client,
}

/// What S3 answered to a PUT.
#[derive(Debug, Clone)]
pub struct PutObjectOutput {
    pub etag: String,
    /// Set only in a bucket with versioning enabled.
    pub version_id: Option<String>,
}

impl S3Client {
    pub fn new(endpoint: Url, credentials: S3Credentials) -> Self {
        Self {
            endpoint,
            credentials: Credentials::new(credentials.access_key_id, credentials.secret_access_key),
            http: reqwest::Client::new(),
        }
    }

    /// A client with temporary (STS) credentials, e.g. ones a guest was handed.
    pub fn temporary(
        endpoint: Url,
        access_key_id: &str,
        secret: &str,
        session_token: &str,
    ) -> Self {
        Self {
            endpoint,
            credentials: Credentials::new_with_token(access_key_id, secret, session_token),
            http: reqwest::Client::new(),
        }
    }

    fn bucket(&self, name: &str) -> Result<Bucket> {
        Bucket::new(
            self.endpoint.clone(),
            UrlStyle::Path,
            name.to_string(),
            REGION,
        )
        .with_context(|| format!("bucket name {name:?}"))
    }

    /// Creates the bucket; one that already exists is fine (the dev stack keeps its data).
    pub async fn create_bucket(&self, name: &str) -> Result<()> {
        let bucket = self.bucket(name)?;
        let url = CreateBucket::new(&bucket, &self.credentials).sign(SIGNATURE_LIFETIME);
        let response = self.http.put(url).send().await?;
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        if status.is_success()
            || body.contains("BucketAlreadyOwnedByYou")
            || body.contains("BucketAlreadyExists")
        {
            return Ok(());
        }
        bail!("creating bucket {name}: HTTP {status}: {body}")
    }

    /// Turns versioning on (PutBucketVersioning, which rusty-s3 has no action for: a
    /// bucket-level PUT with the `versioning` sub-resource is signed the same way).
    pub async fn enable_versioning(&self, name: &str) -> Result<()> {
        let bucket = self.bucket(name)?;
        let mut action = CreateBucket::new(&bucket, &self.credentials);
        action.query_mut().insert("versioning", "");
        let body = r#"<VersioningConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Status>Enabled</Status></VersioningConfiguration>"#;
        let response = self
            .http
            .put(action.sign(SIGNATURE_LIFETIME))
            .body(body)
            .send()
            .await?;
        check(response, &format!("enabling versioning on {name}"))
            .await
            .map(|_| ())
    }

    pub fn put_object(
        &self,
        bucket: &str,
        key: &str,
        body: impl Into<Vec<u8>>,
    ) -> PutObjectRequest<'_> {
        PutObjectRequest {
            client: self,
            bucket: bucket.to_string(),
            key: key.to_string(),
            body: body.into(),
            headers: Vec::new(),
        }
    }

    pub async fn get_object(&self, bucket: &str, key: &str) -> Result<Vec<u8>> {
        let bucket_handle = self.bucket(bucket)?;
        let url =
            GetObject::new(&bucket_handle, Some(&self.credentials), key).sign(SIGNATURE_LIFETIME);
        let response = check(
            self.http.get(url).send().await?,
            &format!("GET s3://{bucket}/{key}"),
        )
        .await?;
        Ok(response.bytes().await?.to_vec())
    }
}

/// A PUT being assembled; headers set here are signed and sent.
pub struct PutObjectRequest<'a> {
    client: &'a S3Client,
    bucket: String,
    key: String,
    body: Vec<u8>,
    headers: Vec<(String, String)>,
}

impl PutObjectRequest<'_> {
    pub fn content_type(mut self, content_type: &str) -> Self {
        self.headers
            .push(("content-type".into(), content_type.into()));
        self
    }

    /// User metadata, sent as `x-amz-meta-<name>`.
    pub fn metadata(mut self, name: &str, value: &str) -> Self {
        self.headers
            .push((format!("x-amz-meta-{name}"), value.into()));
        self
    }

    pub async fn send(self) -> Result<PutObjectOutput> {
        let bucket = self.client.bucket(&self.bucket)?;
        let mut action = PutObject::new(&bucket, Some(&self.client.credentials), &self.key);
        for (name, value) in &self.headers {
            action.headers_mut().insert(name.clone(), value.clone());
        }
        let mut request = self
            .client
            .http
            .put(action.sign(SIGNATURE_LIFETIME))
            .body(self.body);
        for (name, value) in &self.headers {
            request = request.header(name, value);
        }
        let what = format!("PUT s3://{}/{}", self.bucket, self.key);
        let response = check(request.send().await?, &what).await?;
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        Ok(PutObjectOutput {
            etag: header("etag").unwrap_or_default(),
            version_id: header("x-amz-version-id").filter(|id| id != "null"),
        })
    }
}

async fn check(response: reqwest::Response, what: &str) -> Result<reqwest::Response> {
    if response.status().is_success() {
        return Ok(response);
    }
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    bail!("{what}: HTTP {status}: {body}")
}
