//! The package tools: list, browse, diff, create, update and delete Quilt packages in
//! a registry bucket, byte-compatible with quilt3, plus quilt+s3 URIs and catalog links.
//! This module holds what they share: limits, errors, and the parsed registry target.

mod addresses;
mod browse;
mod diff;
mod listing;
mod revisions;
mod sources;
mod write;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::time::{Duration, SystemTime};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{Effect, Entry, Env, ToolError, entry};
use crate::package::content_hash::{HashType, Hasher};
use crate::package::json::Json;
use crate::package::layout::{self, LATEST, NAMED_PACKAGES, PackageName, Resolution};
use crate::package::links::{self, Revision};
use crate::package::manifest::{self, ContentHash, Manifest};
use crate::s3::client::{ListedObject, Upload};
use crate::s3::error::ErrorKind;
use crate::s3::transfer::{ListAllError, MAX_COPY_BYTES};
use crate::s3::uri::{UriError, parse_bucket, validate_key};
use crate::s3::{S3, S3Uri};

/// Manifests past the deployment's limits (`--max-manifest-bytes`, `--max-manifest-entries`)
/// are refused rather than exhausting the guest's memory.
#[derive(Clone, Copy)]
pub(super) struct ManifestLimits {
    bytes: usize,
    entries: usize,
}

impl ManifestLimits {
    fn of(env: &Env<'_>) -> Self {
        let settings = env.context.settings();
        Self {
            bytes: usize::try_from(settings.max_manifest_bytes).unwrap_or(usize::MAX),
            entries: settings.max_manifest_entries as usize,
        }
    }
}
/// Pointers read when listing a registry's packages.
const MAX_POINTERS: usize = 100_000;
/// Bytes fetched per ranged GET while hashing: bounds memory whatever the object size.
const HASH_PIECE_BYTES: u64 = 8 * 1024 * 1024;
const POINTER_BYTES: usize = 256;
const LINK_SECONDS: u64 = 3600;

pub fn entries() -> Vec<Entry> {
    vec![
        entry(
            "packages_list",
            "List packages",
            "Lists the Quilt packages in a registry bucket, newest first, with each one's latest top hash, modification time and number of revisions.",
            Effect::Read,
            listing::list,
        ),
        entry(
            "package_browse",
            "Browse a package",
            "Shows a Quilt package revision (latest, a tag, or a top hash or its prefix): message, user metadata, top hash, and its entries with size, hash, physical key, metadata and optional download links; filter by path and depth, page with top and offset.",
            Effect::Read,
            browse::browse,
        ),
        entry(
            "package_diff",
            "Compare packages",
            "Compares two Quilt packages or two revisions of one: entries added, removed and changed (by content hash), with sizes.",
            Effect::Read,
            diff::diff,
        ),
        entry(
            "package_create",
            "Create a package",
            "Creates a Quilt package revision from S3 objects (a URI ending in / takes every object under it), hashing each object; objects are referenced in place, or copied to <namespace>/<name>/ in the registry when copy is true.",
            Effect::NewRevision,
            write::create,
        ),
        entry(
            "package_update",
            "Update a package",
            "Creates a new revision of an existing Quilt package: its latest entries plus the given S3 objects, which replace entries with the same logical key.",
            Effect::NewRevision,
            write::update,
        ),
        entry(
            "package_delete",
            "Delete a package",
            "Deletes a Quilt package (all its named revisions) or, with top_hash, one revision, repointing latest to the newest remaining revision as quilt3 does. Manifests and data stay.",
            Effect::Delete,
            write::delete,
        ),
        entry(
            "catalog_uri",
            "Quilt URI",
            "Builds the quilt+s3:// URI of a bucket, a package, a revision or a path inside one.",
            Effect::Introspect,
            addresses::catalog_uri,
        ),
        entry(
            "catalog_url",
            "Catalog link",
            "Builds the Quilt web catalog URL of a bucket, a package or a path inside one.",
            Effect::Introspect,
            addresses::catalog_url,
        ),
    ]
}

/// Why a package operation failed, beyond S3's own errors.
#[derive(Debug)]
pub enum PackageError {
    NoSuchPackage {
        package: String,
        registry: String,
    },
    NoSuchTag {
        package: String,
        tag: String,
    },
    NoSuchRevision {
        package: String,
        hash: String,
    },
    AmbiguousHash {
        prefix: String,
        candidates: Vec<String>,
    },
    ManifestTooLarge {
        hash: String,
        size: u64,
        limit: usize,
    },
    TooManyEntries {
        count: usize,
        limit: usize,
    },
    TooManyObjects {
        uri: String,
        limit: usize,
    },
    BadManifest {
        hash: String,
        problem: String,
    },
    BadPointer {
        key: String,
    },
    TamperedManifest {
        uri: String,
        hash: String,
        actual: String,
    },
    BadSource {
        uri: String,
        problem: String,
    },
    DuplicateLogicalKeys(Vec<String>),
    NothingToPackage(String),
    PathNotFound {
        path: String,
    },
    TooLargeToCopy {
        uri: String,
        size: u64,
    },
    NoCatalog,
}

impl fmt::Display for PackageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoSuchPackage { package, registry } => write!(
                f,
                "There is no package '{package}' in {registry}; packages_list shows the packages there"
            ),
            Self::NoSuchTag { package, tag } => write!(
                f,
                "Package '{package}' has no tag '{tag}'; use 'latest', a timestamp tag, or a top_hash"
            ),
            Self::NoSuchRevision { package, hash } => write!(
                f,
                "No revision of '{package}' has a top hash starting with '{hash}'; package_browse without top_hash shows the latest"
            ),
            Self::AmbiguousHash { prefix, candidates } => write!(
                f,
                "The hash prefix '{prefix}' matches {} revisions ({}); give more characters",
                candidates.len(),
                candidates.join(", ")
            ),
            Self::ManifestTooLarge { hash, size, limit } => write!(
                f,
                "The manifest of revision {hash} is {size} bytes, over the {limit} bytes this server reads; browse it with quilt3 instead"
            ),
            Self::TooManyEntries { count, limit } => write!(
                f,
                "The package would have {count} entries, over the {limit} this server handles; split it into several packages"
            ),
            Self::TooManyObjects { uri, limit } => write!(
                f,
                "{uri} holds more than {limit} objects, more than this server reads at once; give a narrower prefix"
            ),
            Self::BadManifest { hash, problem } => {
                write!(f, "The manifest of revision {hash} cannot be read: {problem}")
            }
            Self::BadPointer { key } => write!(
                f,
                "The pointer {key} does not hold a top hash; repair or delete it"
            ),
            Self::TamperedManifest { uri, hash, actual } => write!(
                f,
                "The manifest at {uri} does not hash to {hash} (it hashes to {actual}): it was tampered with; nothing was read from it"
            ),
            Self::BadSource { uri, problem } => write!(
                f,
                "{uri} cannot be packaged: {problem}; nothing was written"
            ),
            Self::DuplicateLogicalKeys(keys) => write!(
                f,
                "Several objects would get the same logical key: {}; pass flatten false or package them separately",
                keys.join(", ")
            ),
            Self::NothingToPackage(uri) => write!(f, "{uri} holds no objects to package"),
            Self::PathNotFound { path } => write!(
                f,
                "The package has no entry or folder '{path}'; browse without path to see its entries"
            ),
            Self::TooLargeToCopy { uri, size } => write!(
                f,
                "{uri} is {size} bytes, over the {MAX_COPY_BYTES} bytes S3 copies in one request; reference it in place (copy false)"
            ),
            Self::NoCatalog => f.write_str(
                "This deployment has no web catalog configured; use catalog_uri for a quilt+s3 URI instead",
            ),
        }
    }
}

impl From<PackageError> for ToolError {
    fn from(error: PackageError) -> Self {
        Self::Package(error)
    }
}

/// Every object under `prefix`, refused with a clear message past `limit`.
pub(super) fn list_under(
    s3: &S3<'_>,
    bucket: &str,
    prefix: &str,
    limit: usize,
) -> Result<Vec<ListedObject>, ToolError> {
    s3.list_all(bucket, prefix, limit).map_err(|e| match e {
        ListAllError::S3(failure) => ToolError::S3(failure),
        ListAllError::TooMany { limit } => ToolError::Package(PackageError::TooManyObjects {
            uri: format!("s3://{bucket}/{prefix}"),
            limit,
        }),
    })
}

pub(super) fn default_true() -> bool {
    true
}
pub(super) fn default_limit() -> usize {
    100
}

/// A registry bucket and a package in it, parsed from tool arguments.
pub(super) struct Target {
    bucket: String,
    name: PackageName,
}

impl Target {
    fn parse(registry: &str, package_name: &str) -> Result<Self, ToolError> {
        Ok(Self {
            bucket: parse_bucket(registry)?,
            name: parse_name("package_name", package_name)?,
        })
    }

    fn registry(&self) -> String {
        format!("s3://{}", self.bucket)
    }

    fn object(&self, key: String) -> S3Uri {
        S3Uri {
            bucket: self.bucket.clone(),
            key,
            version_id: None,
        }
    }
}

pub(super) fn parse_name(argument: &'static str, value: &str) -> Result<PackageName, ToolError> {
    PackageName::parse(value).map_err(|e| ToolError::Argument {
        name: argument,
        problem: e.to_string(),
    })
}
