//! The package tools: list, browse, diff, create, update and delete Quilt packages in
//! their bucket, byte-compatible with quilt3, plus quilt+s3 URIs and catalog links. Each
//! parses its arguments, calls `package::store` and shapes the result; this module holds
//! the argument parsing they share.
//!
//! `registry`, in the tools' arguments and results, is quilt3's word for the bucket a
//! package lives in; the code calls it `bucket` (`#[serde(rename = "registry")]`).

mod addresses;
mod browse;
mod diff;
mod listing;
mod write;

use super::{Effect, Entry, Env, ToolError, entry};
use crate::package::layout::{self, LATEST, PackageName};
use crate::package::store::{ManifestLimits, PackageLocation, Selector};

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
            "Creates a Quilt package revision from S3 objects (a URI ending in / takes every object under it, each hashed) and files given inline as text or base64; objects are referenced in place, or copied to <namespace>/<name>/ in the registry when copy is true. The bucket's workflow (.quilt/workflows/config.yml) is applied and recorded as quilt3 does; nothing is written if it refuses. An existing package is replaced only with overwrite true, and the result says what changed.",
            Effect::NewRevision,
            write::create,
        ),
        entry(
            "package_update",
            "Update a package",
            "Creates a new revision of an existing Quilt package from its latest one, in one step: remove entries or folders, rename them, add S3 objects or inline files (replacing entries of the same logical key), and set metadata or a message. The bucket's workflow is applied as in package_create; the result lists what changed.",
            Effect::NewRevision,
            write::update,
        ),
        entry(
            "package_validate",
            "Check a package against its bucket's workflow",
            "Dry run of package_update (or, with as_new, package_create): applies the same edits and the bucket's workflow rules (name pattern, required message, metadata and entries JSON Schemas) and lists every problem, writing nothing and hashing nothing.",
            Effect::Read,
            write::validate,
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

/// The package named by a tool's `registry` and `package_name` arguments.
fn locate(env: &Env<'_>, bucket: &str, package_name: &str) -> Result<PackageLocation, ToolError> {
    Ok(PackageLocation {
        bucket: env.bucket_argument(bucket, "registry")?,
        name: parse_name("package_name", package_name)?,
    })
}

fn parse_name(argument: &'static str, value: &str) -> Result<PackageName, ToolError> {
    PackageName::parse(value).map_err(|e| ToolError::Argument {
        name: argument,
        problem: e.to_string(),
    })
}

/// A `top_hash` argument: a full top hash or a prefix of one.
fn hash_prefix(value: &str) -> Result<String, ToolError> {
    layout::parse_hash_prefix(value).map_err(|e| ToolError::Argument {
        name: "top_hash",
        problem: e.to_string(),
    })
}

/// The revision `top_hash` (preferred) or `tag` names; `latest` when both are blank.
fn selector<'a>(top_hash: Option<&str>, tag: Option<&'a str>) -> Result<Selector<'a>, ToolError> {
    if let Some(prefix) = top_hash.filter(|h| !h.trim().is_empty()) {
        return Ok(Selector::HashPrefix(hash_prefix(prefix)?));
    }
    let tag = match tag.filter(|t| !t.trim().is_empty()) {
        Some(tag) => layout::parse_tag(tag).map_err(|e| ToolError::Argument {
            name: "tag",
            problem: e.to_string(),
        })?,
        None => LATEST,
    };
    Ok(Selector::Tag(tag))
}

fn limits(env: &Env<'_>) -> ManifestLimits {
    ManifestLimits::of(&env.context.settings())
}

fn default_true() -> bool {
    true
}

fn default_limit() -> usize {
    100
}
