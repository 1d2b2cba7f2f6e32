//! The package store: Quilt packages in their bucket, read and written through S3 as
//! quilt3 does — revisions and pointers, manifests checked against their top hash, the
//! objects going into a new revision, and the packages a bucket holds.
//!
//! The tools in `tools/packages/` parse arguments, call this and shape the result.

mod edit;
mod listing;
mod revisions;
mod sources;
mod write;

use std::fmt;

pub use edit::{Edit, Facts, InlineFile, Plan, plan};
pub use listing::list_packages;
pub use revisions::{Selector, load_manifest, pointers, push, read_pointer, resolve};
pub use write::{delete_package, delete_revision, revision};

use super::layout::PackageName;
use crate::context::Settings;
use crate::s3::client::ListedObject;
use crate::s3::error::Failure;
use crate::s3::transfer::{ListAllError, MAX_COPY_BYTES};
use crate::s3::uri::UriError;
use crate::s3::{S3, S3Uri};

/// Pointers read when listing a bucket's packages or one package's revisions.
const MAX_POINTERS: usize = 100_000;

/// A package in its bucket.
#[derive(Debug, Clone)]
pub struct PackageLocation {
    /// The bare bucket name.
    pub bucket: String,
    pub name: PackageName,
}

impl PackageLocation {
    /// The bucket the package lives in, as `s3://bucket`.
    pub fn bucket_uri(&self) -> String {
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

/// Manifests past the deployment's limits (`--max-manifest-bytes`, `--max-manifest-entries`)
/// are refused rather than exhausting the guest's memory.
#[derive(Clone, Copy)]
pub struct ManifestLimits {
    bytes: usize,
    entries: usize,
}

impl ManifestLimits {
    pub fn of(settings: &Settings) -> Self {
        Self {
            bytes: usize::try_from(settings.max_manifest_bytes).unwrap_or(usize::MAX),
            entries: settings.max_manifest_entries as usize,
        }
    }
}

/// Why a package operation failed, worded for the person using the assistant.
#[derive(Debug)]
pub enum PackageError {
    S3(Failure),
    /// A source given to package is not an S3 URI.
    Uri(UriError),
    NoSuchPackage {
        package: String,
        /// `s3://bucket`.
        bucket_uri: String,
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
    /// A remove, rename or inline file that cannot apply.
    BadEdit(String),
    /// package_create over a package that exists, without `overwrite`.
    PackageExists {
        package: String,
        top_hash: String,
    },
    /// package_update with nothing to change.
    NothingToChange,
    NothingToPackage(String),
    PathNotFound {
        path: String,
    },
    TooLargeToCopy {
        uri: String,
        size: u64,
    },
}

impl fmt::Display for PackageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::S3(failure) => failure.fmt(f),
            Self::Uri(error) => error.fmt(f),
            Self::NoSuchPackage {
                package,
                bucket_uri,
            } => write!(
                f,
                "There is no package '{package}' in {bucket_uri}; packages_list shows the packages there"
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
                write!(
                    f,
                    "The manifest of revision {hash} cannot be read: {problem}"
                )
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
            Self::BadEdit(problem) => write!(f, "{problem}; nothing was written"),
            Self::PackageExists { package, top_hash } => write!(
                f,
                "The package '{package}' already exists (latest {top_hash}); pass overwrite true to replace its entries with these, or use package_update to change it"
            ),
            Self::NothingToChange => f.write_str(
                "Nothing to change: give s3_uris, files, remove, rename, metadata or message",
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
        }
    }
}

impl From<Failure> for PackageError {
    fn from(failure: Failure) -> Self {
        Self::S3(failure)
    }
}

impl From<UriError> for PackageError {
    fn from(error: UriError) -> Self {
        Self::Uri(error)
    }
}

/// Every object under `prefix`, refused with a clear message past `limit`.
fn list_under(
    s3: &S3<'_>,
    bucket: &str,
    prefix: &str,
    limit: usize,
) -> Result<Vec<ListedObject>, PackageError> {
    s3.list_all(bucket, prefix, limit).map_err(|e| match e {
        ListAllError::S3(failure) => PackageError::S3(failure),
        ListAllError::TooMany { limit } => PackageError::TooManyObjects {
            uri: format!("s3://{bucket}/{prefix}"),
            limit,
        },
    })
}
