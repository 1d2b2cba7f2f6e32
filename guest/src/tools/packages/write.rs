//! `package_create`, `package_update` and `package_delete`.

use super::revisions::{Pushed, load_manifest, pointers, push, read_pointer, resolve};
use super::sources::{check_duplicates, collect_sources, package_entries};
use super::*;

#[derive(Deserialize, JsonSchema)]
pub struct CreateArgs {
    /// The package, as namespace/name.
    package_name: String,
    /// Objects as s3://bucket/key[?versionId=...]; a URI ending in / takes every object under it.
    s3_uris: Vec<String>,
    /// The registry bucket, as s3://bucket.
    registry: String,
    /// Package-level user metadata (a JSON object).
    metadata: Option<Map<String, Value>>,
    /// The commit message of this revision.
    message: Option<String>,
    /// Name entries by file name (objects) or by path below the given prefix (folders); when false, by full key.
    #[serde(default = "default_true")]
    flatten: bool,
    /// Copy the objects to <namespace>/<name>/<logical_key> in the registry instead of referencing them in place.
    #[serde(default)]
    copy: bool,
}

pub(super) fn create(env: &Env<'_>, args: CreateArgs) -> Result<Pushed, ToolError> {
    let target = Target::parse(&args.registry, &args.package_name)?;
    let s3 = env.s3()?;
    let limits = ManifestLimits::of(env);
    let sources = collect_sources(&s3, &args.s3_uris, args.flatten, limits)?;
    check_duplicates(&sources)?;
    let entries = package_entries(&s3, &target, sources, args.copy)?;
    let header = Manifest::new_header(user_meta(args.metadata), args.message);
    let manifest =
        Manifest::new(header, Vec::new(), entries).map_err(|e| PackageError::BadManifest {
            hash: "(new)".into(),
            problem: e.to_string(),
        })?;
    push(&s3, &target, &manifest, limits)
}

pub(super) fn update(env: &Env<'_>, args: CreateArgs) -> Result<Pushed, ToolError> {
    let target = Target::parse(&args.registry, &args.package_name)?;
    let s3 = env.s3()?;
    let limits = ManifestLimits::of(env);
    let previous_hash = read_pointer(&s3, &target, LATEST)?;
    let previous = load_manifest(&s3, &target, &previous_hash, limits)?;
    let sources = collect_sources(&s3, &args.s3_uris, args.flatten, limits)?;
    check_duplicates(&sources)?;
    let added = package_entries(&s3, &target, sources, args.copy)?;
    let replaced: BTreeSet<&str> = added.iter().map(|e| e.logical_key.as_str()).collect();
    let mut entries: Vec<manifest::Entry> = previous
        .entries
        .iter()
        .filter(|e| !replaced.contains(e.logical_key.as_str()))
        .cloned()
        .collect();
    entries.extend(added);
    // New metadata replaces the old; without it the package keeps its user metadata.
    let meta = user_meta(args.metadata).or_else(|| previous.user_meta().cloned());
    let header = Manifest::new_header(meta, args.message);
    let manifest = Manifest::new(header, previous.folders.clone(), entries).map_err(|e| {
        PackageError::BadManifest {
            hash: previous_hash,
            problem: e.to_string(),
        }
    })?;
    push(&s3, &target, &manifest, limits)
}

pub(super) fn user_meta(metadata: Option<Map<String, Value>>) -> Option<Json> {
    metadata.map(|map| Json::from(Value::Object(map)))
}

#[derive(Deserialize, JsonSchema)]
pub struct DeleteArgs {
    /// The package, as namespace/name.
    package_name: String,
    /// The registry bucket, as s3://bucket.
    registry: String,
    /// Delete only this revision (top hash or a unique prefix); without it, the whole package.
    top_hash: Option<String>,
}

#[derive(Serialize, JsonSchema)]
pub struct Deleted {
    /// The package.
    package_name: String,
    /// The registry.
    registry: String,
    /// The revision deleted, or none when the whole package was.
    top_hash: Option<String>,
    /// Pointer keys deleted.
    deleted_pointers: Vec<String>,
    /// The top hash latest names now; none when the package no longer exists.
    latest: Option<String>,
}

pub(super) fn delete(env: &Env<'_>, args: DeleteArgs) -> Result<Deleted, ToolError> {
    let target = Target::parse(&args.registry, &args.package_name)?;
    let s3 = env.s3()?;
    let found = pointers(&s3, &target)?;
    let Some(prefix) = args.top_hash.as_deref().filter(|h| !h.trim().is_empty()) else {
        for (_, key) in &found {
            s3.delete(&target.bucket, key)?;
        }
        return Ok(Deleted {
            package_name: target.name.to_string(),
            registry: target.registry(),
            top_hash: None,
            deleted_pointers: found.into_iter().map(|(_, key)| key).collect(),
            latest: None,
        });
    };
    let hash = resolve(&s3, &target, Some(prefix), None)?;
    let mut named = Vec::new();
    for (name, key) in &found {
        named.push((name.clone(), key.clone(), read_pointer(&s3, &target, name)?));
    }
    let doomed: Vec<&(String, String, String)> =
        named.iter().filter(|(_, _, h)| *h == hash).collect();
    if doomed.is_empty() {
        return Err(PackageError::NoSuchRevision {
            package: target.name.to_string(),
            hash,
        }
        .into());
    }
    let mut deleted_pointers = Vec::new();
    for (_, key, _) in doomed.iter().filter(|(name, _, _)| name != LATEST) {
        s3.delete(&target.bucket, key)?;
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
                &target.bucket,
                Upload {
                    key: &target.name.pointer_key(LATEST),
                    body: newest.clone().into_bytes(),
                    content_type: "text/plain",
                    metadata: &no_metadata,
                },
            )?;
            Some(newest)
        }
        (true, None) => {
            let key = target.name.pointer_key(LATEST);
            s3.delete(&target.bucket, &key)?;
            deleted_pointers.push(key);
            None
        }
    };
    Ok(Deleted {
        package_name: target.name.to_string(),
        registry: target.registry(),
        top_hash: Some(hash),
        deleted_pointers,
        latest,
    })
}
