//! `package_diff`.

use std::collections::{BTreeSet, HashMap};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{limits, parse_name, selector};
use crate::package::manifest;
use crate::package::store::{PackageLocation, load_manifest, resolve};
use crate::tools::{Env, ToolError};

#[derive(Deserialize, JsonSchema)]
pub struct DiffArgs {
    /// The first (older) package, as namespace/name.
    package1_name: String,
    /// The second (newer) package, as namespace/name; may be the same as the first.
    package2_name: String,
    /// The registry bucket, as s3://bucket; optional on a connection held to one bucket
    /// (`/mcp/b/{bucket}`), which is then the default.
    #[serde(rename = "registry", default)]
    bucket: String,
    /// Top hash (or prefix) of the first package's revision; default its latest.
    package1_hash: Option<String>,
    /// Top hash (or prefix) of the second package's revision; default its latest.
    package2_hash: Option<String>,
}

#[derive(Serialize, JsonSchema)]
pub struct Diff {
    /// The first revision's top hash.
    package1_hash: String,
    /// The second revision's top hash.
    package2_hash: String,
    /// Entries only in the second.
    added: Vec<SizedEntry>,
    /// Entries only in the first.
    removed: Vec<SizedEntry>,
    /// Entries in both whose content hash differs.
    changed: Vec<Changed>,
    /// Entries in both with the same hash.
    unchanged: usize,
}

#[derive(Serialize, JsonSchema)]
pub struct SizedEntry {
    /// The entry's path inside the package.
    logical_key: String,
    /// Size in bytes.
    size: u64,
}

#[derive(Serialize, JsonSchema)]
pub struct Changed {
    /// The entry's path inside the package.
    logical_key: String,
    /// Size in the first revision.
    size1: u64,
    /// Size in the second revision.
    size2: u64,
    /// Hash value in the first revision.
    hash1: String,
    /// Hash value in the second revision.
    hash2: String,
}

pub(super) fn diff(env: &Env<'_>, args: DiffArgs) -> Result<Diff, ToolError> {
    let bucket = env.bucket_argument(&args.bucket, "registry")?;
    let first = PackageLocation {
        bucket: bucket.clone(),
        name: parse_name("package1_name", &args.package1_name)?,
    };
    let second = PackageLocation {
        bucket,
        name: parse_name("package2_name", &args.package2_name)?,
    };
    let s3 = env.s3()?;
    let hash1 = resolve(&s3, &first, selector(args.package1_hash.as_deref(), None)?)?;
    let hash2 = resolve(&s3, &second, selector(args.package2_hash.as_deref(), None)?)?;
    let limits = limits(env);
    let old = load_manifest(&s3, &first, &hash1, limits)?;
    let new = load_manifest(&s3, &second, &hash2, limits)?;
    let comparison = compare(&old.entries, &new.entries);
    let sized = |e: &manifest::Entry| SizedEntry {
        logical_key: e.logical_key.clone(),
        size: e.size,
    };
    let added = comparison.added.into_iter().map(sized).collect();
    let removed = comparison.removed.into_iter().map(sized).collect();
    let changed = comparison
        .changed
        .into_iter()
        .map(|(before, entry)| Changed {
            logical_key: entry.logical_key.clone(),
            size1: before.size,
            size2: entry.size,
            hash1: before.hash.value.clone(),
            hash2: entry.hash.value.clone(),
        })
        .collect();
    let unchanged = comparison.unchanged;
    Ok(Diff {
        package1_hash: hash1,
        package2_hash: hash2,
        added,
        removed,
        changed,
        unchanged,
    })
}

/// How the entries of one revision differ from another's, by logical key and content hash.
pub(super) struct Comparison<'m> {
    pub added: Vec<&'m manifest::Entry>,
    pub removed: Vec<&'m manifest::Entry>,
    /// (before, after).
    pub changed: Vec<(&'m manifest::Entry, &'m manifest::Entry)>,
    pub unchanged: usize,
}

pub(super) fn compare<'m>(
    old: &'m [manifest::Entry],
    new: &'m [manifest::Entry],
) -> Comparison<'m> {
    let old_by_key: HashMap<&str, &manifest::Entry> =
        old.iter().map(|e| (e.logical_key.as_str(), e)).collect();
    let new_keys: BTreeSet<&str> = new.iter().map(|e| e.logical_key.as_str()).collect();
    let mut comparison = Comparison {
        added: Vec::new(),
        removed: old
            .iter()
            .filter(|e| !new_keys.contains(e.logical_key.as_str()))
            .collect(),
        changed: Vec::new(),
        unchanged: 0,
    };
    for entry in new {
        match old_by_key.get(entry.logical_key.as_str()) {
            None => comparison.added.push(entry),
            Some(before) if before.hash == entry.hash => comparison.unchanged += 1,
            Some(before) => comparison.changed.push((before, entry)),
        }
    }
    comparison
}
