//! `package_create`, `package_update` and `package_delete`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{default_true, hash_prefix, limits, locate};
use crate::package::json::Json;
use crate::package::layout::LATEST;
use crate::package::links::{self, Revision};
use crate::package::manifest::{self, Manifest};
use crate::package::store::{
    self, ManifestLimits, PackageLocation, Selector, delete_package, delete_revision,
    load_manifest, new_entries, new_manifest, pointers, read_pointer, revise,
};
use crate::s3::S3;
use crate::tools::{Env, ToolError};

#[derive(Deserialize, JsonSchema)]
pub struct CreateArgs {
    /// The package, as namespace/name.
    package_name: String,
    /// Objects as s3://bucket/key[?versionId=...]; a URI ending in / takes every object under it.
    s3_uris: Vec<String>,
    /// The registry bucket, as s3://bucket; optional on a connection held to one bucket
    /// (`/mcp/b/{bucket}`), which is then the default.
    #[serde(rename = "registry", default)]
    bucket: String,
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

/// What a create or update wrote.
#[derive(Serialize, JsonSchema)]
pub struct Pushed {
    /// The package written.
    package_name: String,
    /// The registry written to.
    #[serde(rename = "registry")]
    bucket: String,
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

pub(super) fn create(env: &Env<'_>, args: CreateArgs) -> Result<Pushed, ToolError> {
    let package = locate(env, &args.bucket, &args.package_name)?;
    let s3 = env.s3()?;
    let limits = limits(env);
    let entries = entries_of(&s3, &package, &args, limits)?;
    let manifest = new_manifest(user_meta(args.metadata), args.message, entries)?;
    push(&s3, &package, &manifest, limits)
}

pub(super) fn update(env: &Env<'_>, args: CreateArgs) -> Result<Pushed, ToolError> {
    let package = locate(env, &args.bucket, &args.package_name)?;
    let s3 = env.s3()?;
    let limits = limits(env);
    let previous_hash = read_pointer(&s3, &package, LATEST)?;
    let previous = load_manifest(&s3, &package, &previous_hash, limits)?;
    let added = entries_of(&s3, &package, &args, limits)?;
    let manifest = revise(
        &previous,
        previous_hash,
        added,
        user_meta(args.metadata),
        args.message,
    )?;
    push(&s3, &package, &manifest, limits)
}

/// The entries `s3_uris` name, refusing an empty list before anything is read.
fn entries_of(
    s3: &S3<'_>,
    package: &PackageLocation,
    args: &CreateArgs,
    limits: ManifestLimits,
) -> Result<Vec<manifest::Entry>, ToolError> {
    if args.s3_uris.is_empty() {
        return Err(ToolError::Argument {
            name: "s3_uris",
            problem: "it is empty; give at least one s3://bucket/key or s3://bucket/prefix/".into(),
        });
    }
    Ok(new_entries(
        s3,
        package,
        &args.s3_uris,
        args.flatten,
        args.copy,
        limits,
    )?)
}

/// Pushes `manifest` as the package's new revision.
fn push(
    s3: &S3<'_>,
    package: &PackageLocation,
    manifest: &Manifest,
    limits: ManifestLimits,
) -> Result<Pushed, ToolError> {
    let written = store::push(s3, package, manifest, limits)?;
    Ok(Pushed {
        uri: links::quilt_uri(
            &package.bucket,
            Some(&package.name),
            Revision::Hash(&written.top_hash),
            "",
        ),
        package_name: package.name.to_string(),
        bucket: package.bucket_uri(),
        entries: manifest.entries.len(),
        total_size: manifest.entries.iter().map(|e| e.size).sum(),
        timestamp: written.timestamp,
        top_hash: written.top_hash,
    })
}

fn user_meta(metadata: Option<Map<String, Value>>) -> Option<Json> {
    metadata.map(|map| Json::from(Value::Object(map)))
}

#[derive(Deserialize, JsonSchema)]
pub struct DeleteArgs {
    /// The package, as namespace/name.
    package_name: String,
    /// The registry bucket, as s3://bucket; optional on a connection held to one bucket
    /// (`/mcp/b/{bucket}`), which is then the default.
    #[serde(rename = "registry", default)]
    bucket: String,
    /// Delete only this revision (top hash or a unique prefix); without it, the whole package.
    top_hash: Option<String>,
}

#[derive(Serialize, JsonSchema)]
pub struct Deleted {
    /// The package.
    package_name: String,
    /// The registry.
    #[serde(rename = "registry")]
    bucket: String,
    /// The revision deleted, or none when the whole package was.
    top_hash: Option<String>,
    /// Pointer keys deleted.
    deleted_pointers: Vec<String>,
    /// The top hash latest names now; none when the package no longer exists.
    latest: Option<String>,
}

pub(super) fn delete(env: &Env<'_>, args: DeleteArgs) -> Result<Deleted, ToolError> {
    let package = locate(env, &args.bucket, &args.package_name)?;
    let s3 = env.s3()?;
    let found = pointers(&s3, &package)?;
    let Some(prefix) = args.top_hash.as_deref().filter(|h| !h.trim().is_empty()) else {
        return Ok(Deleted {
            package_name: package.name.to_string(),
            bucket: package.bucket_uri(),
            top_hash: None,
            deleted_pointers: delete_package(&s3, &package, found)?,
            latest: None,
        });
    };
    let revision = Selector::HashPrefix(hash_prefix(prefix)?);
    let deletion = delete_revision(&s3, &package, &found, revision)?;
    Ok(Deleted {
        package_name: package.name.to_string(),
        bucket: package.bucket_uri(),
        top_hash: Some(deletion.top_hash),
        deleted_pointers: deletion.deleted_pointers,
        latest: deletion.latest,
    })
}
