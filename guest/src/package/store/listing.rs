//! The packages a bucket holds, from the pointers under `.quilt/named_packages/`.

use std::collections::HashMap;

use super::{MAX_POINTERS, PackageError, PackageLocation, list_under, read_pointer};
use crate::package::layout::{LATEST, NAMED_PACKAGES, PackageName};
use crate::s3::S3;

/// The first packages of a listing, and how many matched.
pub struct PackageListing {
    /// Packages whose name starts with the prefix, before the limit.
    pub total: usize,
    /// At most the limit of them, most recently updated first.
    pub packages: Vec<Listed>,
}

pub struct Listed {
    pub name: String,
    /// What `latest` names.
    pub top_hash: String,
    /// When `latest` was last written (RFC 3339).
    pub modified: Option<String>,
    /// Timestamp pointers.
    pub revisions: usize,
}

/// The packages in `bucket` whose `namespace/name` starts with `prefix`, newest first; only
/// the first `limit` have their `latest` read.
pub fn list_packages(
    s3: &S3<'_>,
    bucket: &str,
    prefix: &str,
    limit: usize,
) -> Result<PackageListing, PackageError> {
    let listed = list_under(
        s3,
        bucket,
        &format!("{NAMED_PACKAGES}{prefix}"),
        MAX_POINTERS,
    )?;
    struct Found {
        modified: Option<String>,
        has_latest: bool,
        revisions: usize,
    }
    let mut found = HashMap::<String, Found>::new();
    for object in listed {
        let Some(rest) = object.key.strip_prefix(NAMED_PACKAGES) else {
            continue;
        };
        let Some((name, pointer)) = rest.rsplit_once('/') else {
            continue;
        };
        if PackageName::parse(name).is_err() {
            continue;
        }
        let package = found.entry(name.to_owned()).or_insert(Found {
            modified: None,
            has_latest: false,
            revisions: 0,
        });
        if pointer == LATEST {
            package.has_latest = true;
            package.modified = object.last_modified;
        } else if pointer.parse::<u64>().is_ok() {
            package.revisions += 1;
        }
    }
    let mut packages: Vec<(String, Found)> =
        found.into_iter().filter(|(_, f)| f.has_latest).collect();
    // RFC 3339 UTC times sort as text.
    packages.sort_by(|a, b| b.1.modified.cmp(&a.1.modified).then_with(|| a.0.cmp(&b.0)));
    let total = packages.len();
    let packages = packages
        .into_iter()
        .take(limit)
        .map(|(name, found)| {
            let package = PackageLocation {
                bucket: bucket.to_owned(),
                name: PackageName::parse(&name).expect("checked above"),
            };
            Ok(Listed {
                top_hash: read_pointer(s3, &package, LATEST)?,
                name,
                modified: found.modified,
                revisions: found.revisions,
            })
        })
        .collect::<Result<Vec<_>, PackageError>>()?;
    Ok(PackageListing { total, packages })
}
