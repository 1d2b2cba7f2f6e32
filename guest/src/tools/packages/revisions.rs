//! Reading and writing revisions: which top hash a tag or prefix names, manifests,
//! pointers, and pushing a new revision in quilt3's write order.

use super::*;

/// The full top hash a tool's `top_hash`/`tag` arguments name (default: `latest`).
pub(super) fn resolve(
    s3: &S3<'_>,
    target: &Target,
    top_hash: Option<&str>,
    tag: Option<&str>,
) -> Result<String, ToolError> {
    if let Some(prefix) = top_hash.filter(|h| !h.trim().is_empty()) {
        let prefix = layout::parse_hash_prefix(prefix).map_err(|e| ToolError::Argument {
            name: "top_hash",
            problem: e.to_string(),
        })?;
        let listed = list_under(
            s3,
            &target.bucket,
            &layout::manifest_key(&prefix),
            MAX_POINTERS,
        )?;
        let hashes = listed
            .iter()
            .filter_map(|o| o.key.strip_prefix(layout::MANIFESTS));
        return match layout::resolve_prefix(&prefix, hashes) {
            Resolution::Unique(hash) => Ok(hash),
            Resolution::None => Err(PackageError::NoSuchRevision {
                package: target.name.to_string(),
                hash: prefix,
            }
            .into()),
            Resolution::Ambiguous(candidates) => {
                Err(PackageError::AmbiguousHash { prefix, candidates }.into())
            }
        };
    }
    let tag = match tag.filter(|t| !t.trim().is_empty()) {
        Some(tag) => layout::parse_tag(tag).map_err(|e| ToolError::Argument {
            name: "tag",
            problem: e.to_string(),
        })?,
        None => LATEST,
    };
    read_pointer(s3, target, tag)
}

pub(super) fn read_pointer(
    s3: &S3<'_>,
    target: &Target,
    pointer: &str,
) -> Result<String, ToolError> {
    let uri = target.object(target.name.pointer_key(pointer));
    let body = match s3.get_prefix(&uri, POINTER_BYTES) {
        Ok(download) => download.bytes,
        Err(failure) if failure.kind == ErrorKind::NoSuchKey => {
            return Err(if pointer == LATEST {
                PackageError::NoSuchPackage {
                    package: target.name.to_string(),
                    registry: target.registry(),
                }
            } else {
                PackageError::NoSuchTag {
                    package: target.name.to_string(),
                    tag: pointer.to_owned(),
                }
            }
            .into());
        }
        Err(failure) => return Err(failure.into()),
    };
    layout::parse_pointer(&body).ok_or_else(|| {
        PackageError::BadPointer {
            key: uri.to_string(),
        }
        .into()
    })
}

pub(super) fn load_manifest(
    s3: &S3<'_>,
    target: &Target,
    hash: &str,
    limits: ManifestLimits,
) -> Result<Manifest, ToolError> {
    let uri = target.object(layout::manifest_key(hash));
    let download = s3
        .get_prefix(&uri, limits.bytes.saturating_add(1))
        .map_err(|failure| {
            if failure.kind == ErrorKind::NoSuchKey {
                PackageError::NoSuchRevision {
                    package: target.name.to_string(),
                    hash: hash.to_owned(),
                }
                .into()
            } else {
                ToolError::from(failure)
            }
        })?;
    if download.size > limits.bytes as u64 {
        return Err(PackageError::ManifestTooLarge {
            hash: hash.to_owned(),
            size: download.size,
            limit: limits.bytes,
        }
        .into());
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
        }
        .into());
    }
    if manifest.entries.len() > limits.entries {
        return Err(PackageError::TooManyEntries {
            count: manifest.entries.len(),
            limit: limits.entries,
        }
        .into());
    }
    Ok(manifest)
}

/// The package's pointers as (pointer name, key), refusing a package with none.
pub(super) fn pointers(s3: &S3<'_>, target: &Target) -> Result<Vec<(String, String)>, ToolError> {
    let prefix = target.name.pointer_prefix();
    let listed = list_under(s3, &target.bucket, &prefix, MAX_POINTERS)?;
    let found: Vec<(String, String)> = listed
        .into_iter()
        .filter_map(|o| Some((o.key.strip_prefix(&prefix)?.to_owned(), o.key)))
        // Keys that are no tag (`sub/x`, `..`) are not this package's pointers, and
        // could not be addressed as keys anyway.
        .filter(|(name, _)| layout::parse_tag(name).is_ok_and(|tag| tag == name))
        .collect();
    if found.is_empty() {
        return Err(PackageError::NoSuchPackage {
            package: target.name.to_string(),
            registry: target.registry(),
        }
        .into());
    }
    Ok(found)
}

/// Writes the manifest, then the timestamp pointer, then `latest` (quilt3's order), so a
/// failure never leaves a pointer naming a manifest that was not written.
pub(super) fn push(
    s3: &S3<'_>,
    target: &Target,
    manifest: &Manifest,
    limits: ManifestLimits,
) -> Result<Pushed, ToolError> {
    if manifest.entries.len() > limits.entries {
        return Err(PackageError::TooManyEntries {
            count: manifest.entries.len(),
            limit: limits.entries,
        }
        .into());
    }
    let top_hash = manifest.top_hash();
    let body = manifest.to_jsonl().into_bytes();
    if body.len() > limits.bytes {
        return Err(PackageError::ManifestTooLarge {
            hash: top_hash,
            size: body.len() as u64,
            limit: limits.bytes,
        }
        .into());
    }
    let existing = match pointers(s3, target) {
        Ok(found) => found,
        Err(ToolError::Package(PackageError::NoSuchPackage { .. })) => Vec::new(),
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
            &target.bucket,
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
        target.name.pointer_key(&timestamp.to_string()),
        top_hash.clone().into_bytes(),
        "text/plain",
    )?;
    put(
        target.name.pointer_key(LATEST),
        top_hash.clone().into_bytes(),
        "text/plain",
    )?;
    Ok(Pushed {
        uri: links::quilt_uri(
            &target.bucket,
            Some(&target.name),
            Revision::Hash(&top_hash),
            "",
        ),
        package_name: target.name.to_string(),
        registry: target.registry(),
        entries: manifest.entries.len(),
        total_size: manifest.entries.iter().map(|e| e.size).sum(),
        timestamp,
        top_hash,
    })
}

/// What a create or update wrote.
#[derive(Serialize, JsonSchema)]
pub struct Pushed {
    /// The package written.
    package_name: String,
    /// The registry written to.
    registry: String,
    /// The new revision's top hash.
    top_hash: String,
    /// The timestamp pointer (Unix seconds) naming the revision.
    timestamp: u64,
    /// Entries in the revision.
    entries: usize,
    /// Sum of the entries' sizes in bytes.
    total_size: u64,
    /// The revision as a quilt+s3 URI.
    uri: String,
}
