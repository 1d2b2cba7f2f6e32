//! Reading and writing revisions: which top hash a tag or prefix names, manifests,
//! pointers, and pushing a new revision in quilt3's write order.

use std::collections::BTreeMap;
use std::time::SystemTime;

use super::{MAX_POINTERS, ManifestLimits, PackageError, PackageLocation, list_under};
use crate::package::layout::{self, LATEST, Resolution};
use crate::package::manifest::Manifest;
use crate::s3::S3;
use crate::s3::client::Upload;
use crate::s3::error::ErrorKind;

/// The most of a pointer object read: a top hash and a newline.
const POINTER_BYTES: usize = 256;

/// Which revision to read, as parsed from a tool's `top_hash`/`tag` arguments.
pub enum Selector<'a> {
    /// A top hash or a prefix of one, as [`layout::parse_hash_prefix`] gives it.
    HashPrefix(String),
    /// A pointer name, as [`layout::parse_tag`] gives it (`latest` by default).
    Tag(&'a str),
}

/// The full top hash `selector` names.
pub fn resolve(
    s3: &S3<'_>,
    package: &PackageLocation,
    selector: Selector<'_>,
) -> Result<String, PackageError> {
    let prefix = match selector {
        Selector::Tag(tag) => return read_pointer(s3, package, tag),
        Selector::HashPrefix(prefix) => prefix,
    };
    let listed = list_under(
        s3,
        &package.bucket,
        &layout::manifest_key(&prefix),
        MAX_POINTERS,
    )?;
    let hashes = listed
        .iter()
        .filter_map(|o| o.key.strip_prefix(layout::MANIFESTS));
    match layout::resolve_prefix(&prefix, hashes) {
        Resolution::Unique(hash) => Ok(hash),
        Resolution::None => Err(PackageError::NoSuchRevision {
            package: package.name.to_string(),
            hash: prefix,
        }),
        Resolution::Ambiguous(candidates) => {
            Err(PackageError::AmbiguousHash { prefix, candidates })
        }
    }
}

/// The top hash the package's pointer `pointer` names.
pub fn read_pointer(
    s3: &S3<'_>,
    package: &PackageLocation,
    pointer: &str,
) -> Result<String, PackageError> {
    let uri = package.object(package.name.pointer_key(pointer));
    let body = match s3.get_prefix(&uri, POINTER_BYTES) {
        Ok(download) => download.bytes,
        Err(failure) if failure.kind == ErrorKind::NoSuchKey => {
            return Err(if pointer == LATEST {
                PackageError::NoSuchPackage {
                    package: package.name.to_string(),
                    bucket_uri: package.bucket_uri(),
                }
            } else {
                PackageError::NoSuchTag {
                    package: package.name.to_string(),
                    tag: pointer.to_owned(),
                }
            });
        }
        Err(failure) => return Err(failure.into()),
    };
    layout::parse_pointer(&body).ok_or_else(|| PackageError::BadPointer {
        key: uri.to_string(),
    })
}

/// The manifest named `hash`, refused past `limits` or when it does not hash to its name.
pub fn load_manifest(
    s3: &S3<'_>,
    package: &PackageLocation,
    hash: &str,
    limits: ManifestLimits,
) -> Result<Manifest, PackageError> {
    let uri = package.object(layout::manifest_key(hash));
    let download = s3
        .get_prefix(&uri, limits.bytes.saturating_add(1))
        .map_err(|failure| {
            if failure.kind == ErrorKind::NoSuchKey {
                PackageError::NoSuchRevision {
                    package: package.name.to_string(),
                    hash: hash.to_owned(),
                }
            } else {
                PackageError::S3(failure)
            }
        })?;
    if download.size > limits.bytes as u64 {
        return Err(PackageError::ManifestTooLarge {
            hash: hash.to_owned(),
            size: download.size,
            limit: limits.bytes,
        });
    }
    let manifest = Manifest::parse(&download.bytes).map_err(|e| PackageError::BadManifest {
        hash: hash.to_owned(),
        problem: e.to_string(),
    })?;
    // A manifest is named by its top hash: one that hashes otherwise was changed after it
    // was written, and its name no longer says what it holds.
    let actual = manifest.top_hash();
    if actual != hash {
        return Err(PackageError::TamperedManifest {
            uri: uri.to_string(),
            hash: hash.to_owned(),
            actual,
        });
    }
    if manifest.entries.len() > limits.entries {
        return Err(PackageError::TooManyEntries {
            count: manifest.entries.len(),
            limit: limits.entries,
        });
    }
    Ok(manifest)
}

/// The package's pointers as (pointer name, key), refusing a package with none.
pub fn pointers(
    s3: &S3<'_>,
    package: &PackageLocation,
) -> Result<Vec<(String, String)>, PackageError> {
    let prefix = package.name.pointer_prefix();
    let listed = list_under(s3, &package.bucket, &prefix, MAX_POINTERS)?;
    let found: Vec<(String, String)> = listed
        .into_iter()
        .filter_map(|o| Some((o.key.strip_prefix(&prefix)?.to_owned(), o.key)))
        // Keys that are no tag (`sub/x`, `..`) are not this package's pointers, and
        // could not be addressed as keys anyway.
        .filter(|(name, _)| layout::parse_tag(name).is_ok_and(|tag| tag == name))
        .collect();
    if found.is_empty() {
        return Err(PackageError::NoSuchPackage {
            package: package.name.to_string(),
            bucket_uri: package.bucket_uri(),
        });
    }
    Ok(found)
}

/// Writes the manifest, then the timestamp pointer, then `latest` (quilt3's order), so a
/// failure never leaves a pointer naming a manifest that was not written.
pub fn push(
    s3: &S3<'_>,
    package: &PackageLocation,
    manifest: &Manifest,
    limits: ManifestLimits,
) -> Result<Written, PackageError> {
    if manifest.entries.len() > limits.entries {
        return Err(PackageError::TooManyEntries {
            count: manifest.entries.len(),
            limit: limits.entries,
        });
    }
    let top_hash = manifest.top_hash();
    let body = manifest.to_jsonl().into_bytes();
    if body.len() > limits.bytes {
        return Err(PackageError::ManifestTooLarge {
            hash: top_hash,
            size: body.len() as u64,
            limit: limits.bytes,
        });
    }
    let existing = match pointers(s3, package) {
        Ok(found) => found,
        Err(PackageError::NoSuchPackage { .. }) => Vec::new(),
        Err(error) => return Err(error),
    };
    let taken = layout::revisions(existing.iter().map(|(name, _)| name.as_str()));
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let timestamp = layout::fresh_timestamp(now, &taken);
    let no_metadata = BTreeMap::new();
    let put = |key: String, body: Vec<u8>, content_type: &str| {
        s3.put(
            &package.bucket,
            Upload {
                key: &key,
                body,
                content_type,
                metadata: &no_metadata,
            },
        )
    };
    put(layout::manifest_key(&top_hash), body, "application/jsonl")?;
    put(
        package.name.pointer_key(&timestamp.to_string()),
        top_hash.clone().into_bytes(),
        "text/plain",
    )?;
    put(
        package.name.pointer_key(LATEST),
        top_hash.clone().into_bytes(),
        "text/plain",
    )?;
    Ok(Written {
        top_hash,
        timestamp,
    })
}

/// The revision a push wrote.
pub struct Written {
    pub top_hash: String,
    /// The timestamp pointer (Unix seconds) naming the revision.
    pub timestamp: u64,
}
