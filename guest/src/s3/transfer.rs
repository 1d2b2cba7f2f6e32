//! Requests packages need beyond reading and writing whole objects: byte ranges
//! pinned to one ETag, server-side copies, deletes, and listings across pages.

use rusty_s3::S3Action;

use super::client::{ListQuery, ListedObject, S3, SEND_EXPIRY, now, select_version};
use super::error::{ErrorKind, Failure};
use super::uri::S3Uri;
use crate::http::Method;
use crate::http::percent::{PYTHON_QUOTE_PATH, encode};

/// S3's limit for a single-request copy; larger objects need a multipart copy.
pub const MAX_COPY_BYTES: u64 = 5 * 1024 * 1024 * 1024;

/// The new object of a copy.
pub struct Copied {
    pub version_id: Option<String>,
}

impl S3<'_> {
    /// Bytes `start..start+length` of an object, refused with [`ErrorKind::Changed`] when its
    /// ETag is no longer `etag`, so all ranges of one hash come from the same object.
    pub fn get_range(
        &self,
        uri: &S3Uri,
        start: u64,
        length: u64,
        etag: &str,
    ) -> Result<Vec<u8>, Failure> {
        let fail = |kind| self.object_failure(kind, "s3:GetObject", uri);
        let bucket = self.object_bucket(&uri.bucket, &uri.key).map_err(&fail)?;
        let mut action = bucket.get_object(Some(&self.credentials), &uri.key);
        select_version(&mut action, uri);
        let url = action.sign_with_time(SEND_EXPIRY, &now());
        let headers = vec![
            (
                "range".to_owned(),
                format!("bytes={start}-{}", start + length - 1),
            ),
            ("if-match".to_owned(), format!("\"{etag}\"")),
        ];
        // One byte more than asked lets the read see the body's end, so the connection
        // is left clean for the next request instead of abandoned mid-body.
        let response = self
            .send(Method::Get, url, headers, Vec::new(), length as usize + 1)
            .map_err(&fail)?;
        if response.body.len() as u64 != length {
            return Err(fail(ErrorKind::Changed));
        }
        Ok(response.body)
    }

    /// Copies `source` (exactly the version with `etag`) to `bucket`/`key`.
    pub fn copy(
        &self,
        source: &S3Uri,
        etag: &str,
        bucket_name: &str,
        key: &str,
    ) -> Result<Copied, Failure> {
        let fail = |kind| self.failure(kind, "s3:PutObject", bucket_name, key, None);
        // The source goes in a header, not the URL, but S3 resolves it as a path too.
        self.object_bucket(&source.bucket, &source.key)
            .map_err(|kind| self.object_failure(kind, "s3:GetObject", source))?;
        let bucket = self.object_bucket(bucket_name, key).map_err(&fail)?;
        let mut action = bucket.put_object(Some(&self.credentials), key);
        let mut copy_source = format!(
            "/{}/{}",
            source.bucket,
            encode(&source.key, PYTHON_QUOTE_PATH)
        );
        if let Some(version) = &source.version_id {
            copy_source.push_str("?versionId=");
            copy_source.push_str(&encode(version, PYTHON_QUOTE_PATH));
        }
        let headers = vec![
            ("x-amz-copy-source".to_owned(), copy_source),
            (
                "x-amz-copy-source-if-match".to_owned(),
                format!("\"{etag}\""),
            ),
        ];
        // S3 rejects x-amz-* headers that a presigned request did not sign.
        for (name, value) in &headers {
            action.headers_mut().insert(name.clone(), value.clone());
        }
        let url = action.sign_with_time(SEND_EXPIRY, &now());
        let response = self
            .send(Method::Put, url, headers, Vec::new(), 0)
            .map_err(|kind| match kind {
                // The copy reads the source: its refusals are about the source object.
                ErrorKind::Changed | ErrorKind::NoSuchKey => {
                    self.object_failure(kind, "s3:GetObject", source)
                }
                kind => fail(kind),
            })?;
        // A copy can fail after S3 has sent 200, with the error in the body.
        let body = String::from_utf8_lossy(&response.body);
        if body.contains("<Error>") {
            return Err(fail(super::error::classify(500, body.as_bytes())));
        }
        Ok(Copied {
            version_id: response
                .header("x-amz-version-id")
                .filter(|v| !v.is_empty() && *v != "null")
                .map(str::to_owned),
        })
    }

    pub fn delete(&self, bucket_name: &str, key: &str) -> Result<(), Failure> {
        let fail = |kind| self.failure(kind, "s3:DeleteObject", bucket_name, key, None);
        let bucket = self.object_bucket(bucket_name, key).map_err(&fail)?;
        let url = bucket
            .delete_object(Some(&self.credentials), key)
            .sign_with_time(SEND_EXPIRY, &now());
        self.send(Method::Delete, url, Vec::new(), Vec::new(), 0)
            .map_err(&fail)?;
        Ok(())
    }

    /// Every object under `prefix`, page after page, refused past `limit` objects.
    pub fn list_all(
        &self,
        bucket: &str,
        prefix: &str,
        limit: usize,
    ) -> Result<Vec<ListedObject>, ListAllError> {
        let mut objects = Vec::new();
        let mut token = String::new();
        loop {
            let page = self
                .list(
                    bucket,
                    &ListQuery {
                        prefix,
                        delimiter: "",
                        max_keys: 1000,
                        continuation_token: &token,
                    },
                )
                .map_err(ListAllError::S3)?;
            objects.extend(page.objects);
            if objects.len() > limit {
                return Err(ListAllError::TooMany { limit });
            }
            match page.next_continuation_token {
                // A token that does not move would list the same page until the deadline.
                Some(next) if next.is_empty() || next == token => {
                    let stuck = ErrorKind::BadResponse(
                        "S3 repeated its continuation token, so the listing does not advance"
                            .into(),
                    );
                    let failure = self.failure(stuck, "s3:ListBucket", bucket, prefix, None);
                    return Err(ListAllError::S3(failure));
                }
                Some(next) => token = next,
                None => return Ok(objects),
            }
        }
    }
}

#[derive(Debug)]
pub enum ListAllError {
    S3(Failure),
    TooMany { limit: usize },
}
