//! New revisions from entries, and deleting a package or one of its revisions as quilt3
//! does: pointers go, manifests and data stay.

use std::collections::BTreeMap;

use super::{PackageError, PackageLocation, Selector, read_pointer, resolve};
use crate::package::json::Json;
use crate::package::layout::{self, LATEST};
use crate::package::manifest::{self, Manifest};
use crate::s3::S3;
use crate::s3::client::Upload;

/// A revision from its header, folder lines and entries; `base` names the revision it
/// follows, for the error message.
pub fn revision(
    header: Json,
    folders: Vec<(String, Json)>,
    entries: Vec<manifest::Entry>,
    base: Option<&str>,
) -> Result<Manifest, PackageError> {
    Manifest::new(header, folders, entries).map_err(|e| PackageError::BadManifest {
        hash: base.unwrap_or("(new)").to_owned(),
        problem: e.to_string(),
    })
}

/// Deletes every pointer in `pointers` (the package's, as [`super::pointers`] lists
/// them), which deletes the package; answers the keys deleted.
pub fn delete_package(
    s3: &S3<'_>,
    package: &PackageLocation,
    pointers: Vec<(String, String)>,
) -> Result<Vec<String>, PackageError> {
    for (_, key) in &pointers {
        s3.delete(&package.bucket, key)?;
    }
    Ok(pointers.into_iter().map(|(_, key)| key).collect())
}

/// What deleting one revision did.
pub struct Deletion {
    /// The revision deleted.
    pub top_hash: String,
    /// Pointer keys deleted.
    pub deleted_pointers: Vec<String>,
    /// What `latest` names now; none when no revision is left.
    pub latest: Option<String>,
}

/// Deletes the pointers naming the revision `revision` selects; when `latest` named it,
/// repoints `latest` to the newest remaining revision (or deletes it when none is left).
pub fn delete_revision(
    s3: &S3<'_>,
    package: &PackageLocation,
    pointers: &[(String, String)],
    revision: Selector<'_>,
) -> Result<Deletion, PackageError> {
    let hash = resolve(s3, package, revision)?;
    let mut named = Vec::new();
    for (name, key) in pointers {
        named.push((name.clone(), key.clone(), read_pointer(s3, package, name)?));
    }
    let doomed: Vec<&(String, String, String)> =
        named.iter().filter(|(_, _, h)| *h == hash).collect();
    if doomed.is_empty() {
        return Err(PackageError::NoSuchRevision {
            package: package.name.to_string(),
            hash,
        });
    }
    let mut deleted_pointers = Vec::new();
    for (_, key, _) in doomed.iter().filter(|(name, _, _)| name != LATEST) {
        s3.delete(&package.bucket, key)?;
        deleted_pointers.push(key.clone());
    }
    let survivors = layout::revisions(
        named
            .iter()
            .filter(|(name, _, h)| *h != hash && name != LATEST)
            .map(|(name, _, _)| name.as_str()),
    );
    let newest = survivors
        .first()
        .and_then(|(_, name)| named.iter().find(|(n, _, _)| n == name))
        .map(|(_, _, h)| h.clone());
    let latest_named_it = doomed.iter().any(|(name, _, _)| name == LATEST);
    let latest = match (latest_named_it, newest) {
        (false, _) => named
            .iter()
            .find(|(n, _, _)| n == LATEST)
            .map(|(_, _, h)| h.clone()),
        (true, Some(newest)) => {
            let no_metadata = BTreeMap::new();
            s3.put(
                &package.bucket,
                Upload {
                    key: &package.name.pointer_key(LATEST),
                    body: newest.clone().into_bytes(),
                    content_type: "text/plain",
                    metadata: &no_metadata,
                },
            )?;
            Some(newest)
        }
        (true, None) => {
            let key = package.name.pointer_key(LATEST);
            s3.delete(&package.bucket, &key)?;
            deleted_pointers.push(key);
            None
        }
    };
    Ok(Deletion {
        top_hash: hash,
        deleted_pointers,
        latest,
    })
}
