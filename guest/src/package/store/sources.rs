//! Objects going into a revision: expanded from URIs, pinned by HEAD, hashed in ranged
//! pieces, and referenced in place or copied into the package's bucket.

use std::collections::BTreeMap;

use super::{ManifestLimits, PackageError, PackageLocation, list_under};
use crate::package::content_hash::{HashType, Hasher};
use crate::package::json::Json;
use crate::package::links;
use crate::package::manifest::{self, ContentHash};
use crate::s3::error::ErrorKind;
use crate::s3::transfer::MAX_COPY_BYTES;
use crate::s3::uri::{UriError, parse_bucket, validate_key};
use crate::s3::{S3, S3Uri};

/// Bytes fetched per ranged GET while hashing: bounds memory whatever the object size.
const HASH_PIECE_BYTES: u64 = 8 * 1024 * 1024;

/// An object to package, pinned to what HEAD saw.
pub struct Source {
    uri: S3Uri,
    pub logical_key: String,
    pub size: u64,
    etag: String,
}

/// The objects `s3_uris` name (a trailing `/` takes everything under it), each pinned by
/// HEAD — nothing is hashed or copied yet, so a plan can be checked before any cost.
pub fn pin_sources(
    s3: &S3<'_>,
    s3_uris: &[String],
    flatten: bool,
    limits: ManifestLimits,
) -> Result<Vec<Source>, PackageError> {
    let mut sources = Vec::new();
    for input in s3_uris {
        let (bucket, prefix) = match S3Uri::parse(input) {
            Ok(uri) if !uri.key.ends_with('/') => {
                let logical_key = if flatten {
                    uri.key.rsplit('/').next().unwrap_or(&uri.key).to_owned()
                } else {
                    uri.key.clone()
                };
                check_source(input, &uri.key, &logical_key)?;
                sources.push(pin(s3, uri, logical_key, None)?);
                continue;
            }
            Ok(uri) => (uri.bucket, uri.key),
            Err(UriError::MissingKey(_)) => (parse_bucket(input)?, String::new()),
            Err(error) => return Err(error.into()),
        };
        let listed = list_under(s3, &bucket, &prefix, limits.entries)?;
        let before = sources.len();
        // Every listed key is checked before any of them is asked for.
        let named = listed
            .into_iter()
            .filter(|o| !o.key.ends_with('/'))
            .map(|object| {
                // A listing holds only keys under its prefix; a server that says otherwise
                // gets its key kept whole rather than cut at a byte that may not be a boundary.
                let logical_key = if flatten {
                    object
                        .key
                        .strip_prefix(prefix.as_str())
                        .unwrap_or(&object.key)
                        .to_owned()
                } else {
                    object.key.clone()
                };
                check_source(input, &object.key, &logical_key)?;
                Ok((object, logical_key))
            })
            .collect::<Result<Vec<_>, PackageError>>()?;
        for (object, logical_key) in named {
            let uri = S3Uri {
                bucket: bucket.clone(),
                key: object.key,
                version_id: None,
            };
            sources.push(pin(s3, uri, logical_key, object.etag)?);
        }
        if sources.len() == before {
            return Err(PackageError::NothingToPackage(input.clone()));
        }
        if sources.len() > limits.entries {
            return Err(PackageError::TooManyEntries {
                count: sources.len(),
                limit: limits.entries,
            });
        }
    }
    Ok(sources)
}

/// Refuses a source before anything is asked of S3 about it: a listing may hold keys in any
/// form (AWS stores `a/../b` as it is), and its logical key decides where a copy is written.
fn check_source(input: &str, key: &str, logical_key: &str) -> Result<(), PackageError> {
    let problem = match (
        validate_key(key),
        manifest::validate_logical_key(logical_key),
    ) {
        (Err(error), _) => error.to_string(),
        (Ok(()), Err(error)) => error.to_string(),
        (Ok(()), Ok(())) => return Ok(()),
    };
    Err(PackageError::BadSource {
        uri: input.to_owned(),
        problem,
    })
}

/// HEADs the object for its size, ETag and version; a listed ETag that no longer
/// matches means the object changed since it was listed.
fn pin(
    s3: &S3<'_>,
    mut uri: S3Uri,
    logical_key: String,
    listed_etag: Option<String>,
) -> Result<Source, PackageError> {
    let head = s3.head(&uri)?;
    let etag = head.etag.unwrap_or_default();
    if listed_etag.is_some_and(|listed| listed != etag) {
        return Err(PackageError::S3(s3.object_failure(
            ErrorKind::Changed,
            "s3:GetObject",
            &uri,
        )));
    }
    if uri.version_id.is_none() {
        uri.version_id = head.version_id;
    }
    Ok(Source {
        uri,
        logical_key,
        size: head.size.unwrap_or(0),
        etag,
    })
}

/// The `sha2-256-chunked` hash of a pinned object, read in ranged pieces.
fn hash_object(s3: &S3<'_>, source: &Source) -> Result<String, PackageError> {
    let mut hasher =
        Hasher::new(&HashType::Chunked, source.size).expect("sha2-256-chunked is computed here");
    let mut start = 0;
    while start < source.size {
        let length = HASH_PIECE_BYTES.min(source.size - start);
        let bytes = s3.get_range(&source.uri, start, length, &source.etag)?;
        hasher.update(&bytes);
        start += length;
    }
    Ok(hasher.finish())
}

/// Refuses two new entries with one logical key.
pub fn check_duplicates<'k>(keys: impl Iterator<Item = &'k str>) -> Result<(), PackageError> {
    let mut seen = BTreeMap::<&str, usize>::new();
    for key in keys {
        *seen.entry(key).or_default() += 1;
    }
    let duplicates: Vec<String> = seen
        .into_iter()
        .filter(|(_, n)| *n > 1)
        .map(|(k, _)| k.to_owned())
        .collect();
    if duplicates.is_empty() {
        Ok(())
    } else {
        Err(PackageError::DuplicateLogicalKeys(duplicates))
    }
}

/// Hashes each source and, with `copy`, copies it into the package's bucket.
pub fn package_entries(
    s3: &S3<'_>,
    package: &PackageLocation,
    sources: Vec<Source>,
    copy: bool,
) -> Result<Vec<manifest::Entry>, PackageError> {
    sources
        .into_iter()
        .map(|source| {
            if copy && source.size > MAX_COPY_BYTES {
                return Err(PackageError::TooLargeToCopy {
                    uri: source.uri.to_string(),
                    size: source.size,
                });
            }
            let hash = hash_object(s3, &source)?;
            let physical_key = if copy {
                let key = package.name.data_key(&source.logical_key);
                let copied = s3.copy(&source.uri, &source.etag, &package.bucket, &key)?;
                links::physical_key(&package.bucket, &key, copied.version_id.as_deref())
            } else {
                links::physical_key(
                    &source.uri.bucket,
                    &source.uri.key,
                    source.uri.version_id.as_deref(),
                )
            };
            Ok(manifest::Entry {
                logical_key: source.logical_key,
                physical_key,
                size: source.size,
                hash: ContentHash {
                    kind: HashType::Chunked,
                    value: hash,
                },
                meta: Json::Object(Vec::new()),
            })
        })
        .collect()
}
