//! Keeps each bucket's search index as fresh as the configured `refresh` asks, reading the
//! bucket with the indexer's keys as the real registry's indexer does (there from S3 events,
//! here by listing before a search).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use tokio::sync::Mutex;

use crate::documents::{
    QUILT_PREFIX, SearchDoc, latest_pointer_package, manifest_key, object_doc, package_docs,
};
use crate::error::ApiError;
use crate::index::{BucketIndex, SearchSchema};
use crate::manifest::{self, Manifest};
use crate::s3::{BucketReader, Head, Listed, S3Error};

pub struct Catalog {
    pub schema: SearchSchema,
    s3: BucketReader,
    refresh: Duration,
    buckets: Mutex<HashMap<String, Indexed>>,
}

struct Indexed {
    index: Arc<BucketIndex>,
    at: Instant,
    learnt: Learnt,
}

/// What building a bucket's index read, reused while the objects are unchanged.
#[derive(Default)]
struct Learnt {
    /// HEAD answers by (key, ETag, last modified): an object rewritten differs in one of them.
    heads: HashMap<(String, String, String), Head>,
    /// Manifests by top hash: their content is their name.
    manifests: HashMap<String, Arc<Manifest>>,
}

impl Catalog {
    pub fn new(s3: BucketReader, refresh: Duration) -> Self {
        Self {
            schema: SearchSchema::new(),
            s3,
            refresh,
            buckets: Mutex::default(),
        }
    }

    /// The index of `bucket`, rebuilt from S3 unless built less than `refresh` ago.
    pub async fn index(&self, bucket: &str) -> Result<Arc<BucketIndex>, ApiError> {
        // One rebuild at a time: concurrent searches of a bucket would otherwise read it twice.
        let mut buckets = self.buckets.lock().await;
        if let Some(indexed) = buckets.get(bucket)
            && indexed.at.elapsed() < self.refresh
        {
            return Ok(indexed.index.clone());
        }
        let known = buckets
            .remove(bucket)
            .map(|indexed| indexed.learnt)
            .unwrap_or_default();
        let indexed = self.build(bucket, known).await?;
        let index = indexed.index.clone();
        buckets.insert(bucket.to_owned(), indexed);
        Ok(index)
    }

    async fn build(&self, bucket: &str, mut known: Learnt) -> Result<Indexed, ApiError> {
        let at = Instant::now();
        let listing = self.s3.list(bucket).await.map_err(|error| match error {
            S3Error::Refused { status: 404, .. } => ApiError::Search {
                status: StatusCode::NOT_FOUND,
                kind: "index_not_found_exception",
                reason: format!("no such index [{bucket}]"),
            },
            other => ApiError::BadGateway(other.to_string()),
        })?;
        let mut docs = Vec::new();
        let mut fresh = Learnt::default();
        for object in &listing {
            if let Some(name) = latest_pointer_package(&object.key) {
                docs.extend(
                    self.package(bucket, &name, object, &mut known, &mut fresh)
                        .await?,
                );
            } else if !object.key.starts_with(QUILT_PREFIX) {
                docs.extend(self.object(bucket, object, &mut known, &mut fresh).await?);
            }
        }
        let index = self
            .schema
            .build(&docs)
            .map_err(|e| ApiError::Internal(format!("indexing {bucket} failed: {e}")))?;
        Ok(Indexed {
            index: Arc::new(index),
            at,
            learnt: fresh,
        })
    }

    async fn object(
        &self,
        bucket: &str,
        object: &Listed,
        known: &mut Learnt,
        fresh: &mut Learnt,
    ) -> Result<Option<SearchDoc>, ApiError> {
        let version = (
            object.key.clone(),
            object.etag.clone(),
            object.last_modified.clone(),
        );
        let head = match known.heads.remove(&version) {
            Some(head) => head,
            // Deleted since it was listed: as if it had not been listed.
            None => match self.s3.head(bucket, &object.key).await.map_err(gateway)? {
                Some(head) => head,
                None => return Ok(None),
            },
        };
        let doc = object_doc(bucket, object, &head);
        fresh.heads.insert(version, head);
        Ok(Some(doc))
    }

    /// A package's documents; none when its pointer or manifest is gone or unreadable, as
    /// the real indexer skips those.
    async fn package(
        &self,
        bucket: &str,
        name: &str,
        pointer: &Listed,
        known: &mut Learnt,
        fresh: &mut Learnt,
    ) -> Result<Vec<SearchDoc>, ApiError> {
        let Some(body) = self.s3.get(bucket, &pointer.key).await.map_err(gateway)? else {
            return Ok(Vec::new());
        };
        let top_hash = String::from_utf8_lossy(&body).trim().to_owned();
        let manifest = match known.manifests.remove(&top_hash) {
            Some(manifest) => manifest,
            None => {
                let key = manifest_key(&top_hash);
                let Some(bytes) = self.s3.get(bucket, &key).await.map_err(gateway)? else {
                    return Ok(Vec::new());
                };
                match manifest::parse(&bytes) {
                    Ok(manifest) => Arc::new(manifest),
                    Err(_) => return Ok(Vec::new()),
                }
            }
        };
        let docs = package_docs(bucket, name, pointer, &top_hash, &manifest);
        fresh.manifests.insert(top_hash, manifest);
        Ok(docs)
    }
}

fn gateway(error: S3Error) -> ApiError {
    ApiError::BadGateway(error.to_string())
}
