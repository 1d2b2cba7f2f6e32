//! `package_create`, `package_update`, `package_validate` and `package_delete`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

use super::diff::compare;
use super::{default_true, hash_prefix, limits, locate};
use crate::package::json::Json;
use crate::package::layout::LATEST;
use crate::package::links::{self, Revision};
use crate::package::manifest::{self, Manifest};
use crate::package::store::{
    self, Edit, InlineFile, ManifestLimits, PackageError, PackageLocation, Plan, Selector,
    delete_package, delete_revision, load_manifest, pointers, read_pointer,
};
use crate::package::workflow::{self, Candidate, Choice, WorkflowError};
use crate::s3::S3;
use crate::tools::{Env, ToolError};

/// What goes into a revision, for package_create, package_update and package_validate.
#[derive(Deserialize, JsonSchema)]
pub struct Contents {
    /// Objects as s3://bucket/key[?versionId=...]; a URI ending in / takes every object under it.
    #[serde(default)]
    s3_uris: Vec<String>,
    /// Files given here, as text or base64, written to <namespace>/<name>/<logical_key> in
    /// the registry: no object needs putting first.
    #[serde(default)]
    files: Vec<FileArg>,
    /// Package-level user metadata (a JSON object); replaces the package's metadata.
    metadata: Option<Map<String, Value>>,
    /// The commit message of this revision.
    message: Option<String>,
    /// Name entries by file name (objects) or by path below the given prefix (folders); when false, by full key.
    #[serde(default = "default_true")]
    flatten: bool,
    /// Copy the objects to <namespace>/<name>/<logical_key> in the registry instead of referencing them in place.
    #[serde(default)]
    copy: bool,
    /// The bucket's workflow to apply (its .quilt/workflows/config.yml). Omit for the
    /// bucket's default workflow; null for none, where the bucket does not require one.
    #[serde(default, deserialize_with = "present")]
    #[schemars(with = "Option<String>")]
    workflow: Option<Option<String>>,
}

/// A file given in the call.
#[derive(Deserialize, JsonSchema)]
pub struct FileArg {
    /// The entry's logical key, such as README.md or data/notes.txt.
    logical_key: String,
    /// The content as UTF-8 text.
    text: Option<String>,
    /// The content as standard base64, for binary files; give text or base64, not both.
    base64: Option<String>,
    /// The MIME type stored with the object; text/plain for text and application/octet-stream otherwise by default.
    content_type: Option<String>,
}

#[derive(Deserialize, JsonSchema)]
pub struct RenameArg {
    /// The logical key (or folder, ending in /) to rename.
    from: String,
    /// Its new logical key (or folder, ending in /).
    to: String,
}

#[derive(Deserialize, JsonSchema)]
pub struct CreateArgs {
    /// The package, as namespace/name.
    package_name: String,
    /// The registry bucket, as s3://bucket; optional on a connection held to one bucket
    /// (`/mcp/b/{bucket}`), which is then the default.
    #[serde(rename = "registry", default)]
    bucket: String,
    #[serde(flatten)]
    contents: Contents,
    /// Replace an existing package of this name with a revision holding only these entries
    /// (its old revisions stay). Without it, creating over an existing package is refused.
    #[serde(default)]
    overwrite: bool,
}

#[derive(Deserialize, JsonSchema)]
pub struct UpdateArgs {
    /// The package, as namespace/name.
    package_name: String,
    /// The registry bucket, as s3://bucket; optional on a connection held to one bucket
    /// (`/mcp/b/{bucket}`), which is then the default.
    #[serde(rename = "registry", default)]
    bucket: String,
    #[serde(flatten)]
    contents: Contents,
    /// Logical keys to remove; one ending in / removes a folder.
    #[serde(default)]
    remove: Vec<String>,
    /// Entries (or folders) to rename, applied after remove; the data stays where it is.
    #[serde(default)]
    rename: Vec<RenameArg>,
}

#[derive(Deserialize, JsonSchema)]
pub struct ValidateArgs {
    #[serde(flatten)]
    update: UpdateArgs,
    /// Check what package_create would write (ignoring any existing revision) rather than
    /// package_update; a package that does not exist yet is always checked as new.
    #[serde(default)]
    as_new: bool,
}

/// Whether a field was given: absent is `None`, `null` is `Some(None)`.
fn present<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(deserializer).map(Some)
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
    /// The bucket workflow the revision passed, recorded in its header.
    #[serde(skip_serializing_if = "Option::is_none")]
    workflow: Option<String>,
    /// How the revision differs from the one latest named before; none for a new package.
    #[serde(skip_serializing_if = "Option::is_none")]
    changes: Option<Changes>,
}

/// Entries added, removed and changed relative to the previous latest revision.
#[derive(Serialize, JsonSchema)]
pub struct Changes {
    /// The top hash latest named before.
    previous_top_hash: String,
    /// Logical keys added (at most 50 listed; the counts are complete).
    added: Vec<String>,
    /// Logical keys removed (at most 50 listed).
    removed: Vec<String>,
    /// Logical keys whose content changed (at most 50 listed).
    changed: Vec<String>,
    added_count: usize,
    removed_count: usize,
    changed_count: usize,
    unchanged_count: usize,
}

/// What package_validate found.
#[derive(Serialize, JsonSchema)]
pub struct Validated {
    /// The package checked.
    package_name: String,
    /// Its registry.
    #[serde(rename = "registry")]
    bucket: String,
    /// Whether package_create/package_update with these arguments would pass the bucket's rules.
    valid: bool,
    /// Every problem found; empty when valid.
    problems: Vec<String>,
    /// The workflow that would be applied, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    workflow: Option<String>,
    /// Entries the revision would hold.
    entries: usize,
    /// Sum of their sizes in bytes.
    total_size: u64,
}

pub(super) fn create(env: &Env<'_>, args: CreateArgs) -> Result<Pushed, ToolError> {
    let package = locate(env, &args.bucket, &args.package_name)?;
    let s3 = env.s3()?;
    let limits = limits(env);
    let previous = previous_revision(&s3, &package, limits)?;
    if let Some((hash, _)) = previous.as_ref().filter(|_| !args.overwrite) {
        let exists = PackageError::PackageExists {
            package: package.name.to_string(),
            top_hash: hash.clone(),
        };
        return Err(exists.into());
    }
    if args.contents.s3_uris.is_empty() && args.contents.files.is_empty() {
        return Err(ToolError::Argument {
            name: "s3_uris",
            problem: "it is empty and so is files; give at least one s3://bucket/key, s3://bucket/prefix/ or file".into(),
        });
    }
    let edit = args.contents.edit(Vec::new(), Vec::new())?;
    let plan = store::plan(&s3, &package, None, edit, limits)?;
    write(
        env,
        &s3,
        &package,
        plan,
        args.contents,
        Revised::Replaces,
        previous,
    )
}

pub(super) fn update(env: &Env<'_>, args: UpdateArgs) -> Result<Pushed, ToolError> {
    let package = locate(env, &args.bucket, &args.package_name)?;
    let s3 = env.s3()?;
    let limits = limits(env);
    if args.contents.changes_nothing() && args.remove.is_empty() && args.rename.is_empty() {
        return Err(PackageError::NothingToChange.into());
    }
    let previous_hash = read_pointer(&s3, &package, LATEST)?;
    let previous = load_manifest(&s3, &package, &previous_hash, limits)?;
    let edit = args.contents.edit(args.remove, args.rename)?;
    let plan = store::plan(&s3, &package, Some(&previous), edit, limits)?;
    let previous = Some((previous_hash, previous));
    write(
        env,
        &s3,
        &package,
        plan,
        args.contents,
        Revised::Edits,
        previous,
    )
}

pub(super) fn validate(env: &Env<'_>, args: ValidateArgs) -> Result<Validated, ToolError> {
    let update = args.update;
    let package = locate(env, &update.bucket, &update.package_name)?;
    let s3 = env.s3()?;
    let limits = limits(env);
    let previous = previous_revision(&s3, &package, limits)?;
    // What package_create would refuse before any workflow is asked.
    let mut refusals = Vec::new();
    let base = match (args.as_new, previous) {
        (false, Some((_, manifest))) => Some(manifest),
        (true, Some((hash, _))) => {
            refusals.push(format!(
                "the package exists (latest {hash}): package_create replaces it only with overwrite true"
            ));
            None
        }
        (_, None) => None,
    };
    if base.is_none() && update.contents.s3_uris.is_empty() && update.contents.files.is_empty() {
        refusals.push("a new package needs s3_uris or files".into());
    }
    let edit = update.contents.edit(update.remove, update.rename)?;
    let plan = store::plan(&s3, &package, base.as_ref(), edit, limits)?;
    let facts = plan.facts();
    let user_meta = revised_meta(base.as_ref(), update.contents.metadata.clone());
    let name = package.name.to_string();
    let candidate = Candidate {
        name: &name,
        message: update.contents.message.as_deref(),
        user_meta: user_meta.as_ref(),
        entries: &facts,
    };
    let checked = workflow::check(&s3, &package.bucket, &update.contents.choice(), &candidate);
    let (workflow, mut problems) = match checked {
        Ok(verdict) => (verdict.workflow, Vec::new()),
        Err(WorkflowError::Violations {
            workflow, found, ..
        }) => (Some(workflow), found),
        Err(WorkflowError::S3(failure)) => return Err(failure.into()),
        Err(refused) => (None, vec![refused.to_string()]),
    };
    refusals.append(&mut problems);
    let problems = refusals;
    Ok(Validated {
        package_name: name,
        bucket: package.bucket_uri(),
        valid: problems.is_empty(),
        problems,
        workflow,
        entries: facts.len(),
        total_size: facts.iter().map(|f| f.size).sum(),
    })
}

/// The package's latest revision, or none when it does not exist yet.
fn previous_revision(
    s3: &S3<'_>,
    package: &PackageLocation,
    limits: ManifestLimits,
) -> Result<Option<(String, Manifest)>, ToolError> {
    match read_pointer(s3, package, LATEST) {
        Ok(hash) => {
            let manifest = load_manifest(s3, package, &hash, limits)?;
            Ok(Some((hash, manifest)))
        }
        Err(PackageError::NoSuchPackage { .. }) => Ok(None),
        Err(other) => Err(other.into()),
    }
}

/// Whether a new revision edits the previous one (keeping its metadata unless given) or
/// replaces it.
#[derive(Clone, Copy, PartialEq)]
enum Revised {
    Edits,
    Replaces,
}

/// Checks the plan against the bucket's workflow, then hashes, copies and writes it as the
/// package's new revision: nothing is written unless the workflow passes. `previous` is the
/// revision latest named (edited, or replaced), for the report of what changed.
fn write(
    env: &Env<'_>,
    s3: &S3<'_>,
    package: &PackageLocation,
    plan: Plan,
    contents: Contents,
    revised: Revised,
    previous: Option<(String, Manifest)>,
) -> Result<Pushed, ToolError> {
    let base = previous
        .as_ref()
        .filter(|_| revised == Revised::Edits)
        .map(|(_, manifest)| manifest);
    let user_meta = revised_meta(base, contents.metadata.clone());
    let name = package.name.to_string();
    let facts = plan.facts();
    let candidate = Candidate {
        name: &name,
        message: contents.message.as_deref(),
        user_meta: user_meta.as_ref(),
        entries: &facts,
    };
    let verdict = workflow::check(s3, &package.bucket, &contents.choice(), &candidate)
        .map_err(ToolError::Workflow)?;
    drop(facts);
    let (folders, entries) = plan.write(s3, package)?;
    let header = Manifest::new_header(user_meta, verdict.header, contents.message);
    let base_hash = previous.as_ref().map(|(hash, _)| hash.as_str());
    let manifest = store::revision(header, folders, entries, base_hash)?;
    let written = store::push(s3, package, &manifest, limits(env))?;
    let changes = previous
        .as_ref()
        .map(|(hash, before)| changes(hash, before, &manifest));
    Ok(Pushed {
        uri: links::quilt_uri(
            &package.bucket,
            Some(&package.name),
            Revision::Hash(&written.top_hash),
            "",
        ),
        package_name: name,
        bucket: package.bucket_uri(),
        entries: manifest.entries.len(),
        total_size: manifest.entries.iter().map(|e| e.size).sum(),
        timestamp: written.timestamp,
        top_hash: written.top_hash,
        workflow: verdict.workflow,
        changes,
    })
}

/// New metadata replaces the old; without it a revision keeps its base's.
fn revised_meta(base: Option<&Manifest>, metadata: Option<Map<String, Value>>) -> Option<Json> {
    metadata
        .map(|map| Json::from(Value::Object(map)))
        .or_else(|| base.and_then(|m| m.user_meta().cloned()))
}

/// Most keys listed per kind of change.
const MAX_LISTED_CHANGES: usize = 50;

fn changes(previous_hash: &str, before: &Manifest, after: &Manifest) -> Changes {
    let comparison = compare(&before.entries, &after.entries);
    let keys = |entries: Vec<&manifest::Entry>| -> Vec<String> {
        entries
            .into_iter()
            .take(MAX_LISTED_CHANGES)
            .map(|e| e.logical_key.clone())
            .collect()
    };
    Changes {
        previous_top_hash: previous_hash.to_owned(),
        added_count: comparison.added.len(),
        removed_count: comparison.removed.len(),
        changed_count: comparison.changed.len(),
        unchanged_count: comparison.unchanged,
        added: keys(comparison.added),
        removed: keys(comparison.removed),
        changed: keys(
            comparison
                .changed
                .into_iter()
                .map(|(_, after)| after)
                .collect(),
        ),
    }
}

/// The most bytes of files given in one call, decoded.
const MAX_INLINE_BYTES: usize = 8 << 20;

fn too_much(bad: &dyn Fn(String) -> ToolError) -> ToolError {
    bad(format!(
        "the files given add up to over {} MiB; put large content with bucket_objects_put and package it by URI",
        MAX_INLINE_BYTES >> 20
    ))
}

impl Contents {
    fn choice(&self) -> Choice {
        match &self.workflow {
            None => Choice::Default,
            Some(None) => Choice::None,
            Some(Some(id)) => Choice::Named(id.clone()),
        }
    }

    fn changes_nothing(&self) -> bool {
        self.s3_uris.is_empty()
            && self.files.is_empty()
            && self.metadata.is_none()
            && self.message.is_none()
    }

    /// The edit these contents and the given removals and renames describe, with the files
    /// decoded.
    fn edit(&self, remove: Vec<String>, rename: Vec<RenameArg>) -> Result<Edit, ToolError> {
        Ok(Edit {
            s3_uris: self.s3_uris.clone(),
            flatten: self.flatten,
            copy: self.copy,
            files: self.decoded_files()?,
            remove,
            rename: rename.into_iter().map(|r| (r.from, r.to)).collect(),
        })
    }

    fn decoded_files(&self) -> Result<Vec<InlineFile>, ToolError> {
        let mut files = Vec::new();
        let mut total = 0;
        for file in &self.files {
            let bad = |problem: String| ToolError::Argument {
                name: "files",
                problem: format!("'{}': {problem}", file.logical_key),
            };
            // Measured before anything is copied or decoded.
            let claimed = file.text.as_ref().map_or(0, String::len)
                + file.base64.as_ref().map_or(0, |b| b.len() / 4 * 3);
            if total + claimed > MAX_INLINE_BYTES {
                return Err(too_much(&bad));
            }
            let (bytes, default_type) = match (&file.text, &file.base64) {
                (Some(text), None) => (text.clone().into_bytes(), "text/plain; charset=utf-8"),
                (None, Some(encoded)) => (
                    BASE64
                        .decode(encoded.trim())
                        .map_err(|e| bad(format!("base64 is not valid ({e})")))?,
                    "application/octet-stream",
                ),
                _ => return Err(bad("give exactly one of text and base64".into())),
            };
            total += bytes.len();
            let content_type = file.content_type.as_deref().unwrap_or(default_type);
            if content_type.chars().any(char::is_control) {
                return Err(bad("content_type has control characters".into()));
            }
            files.push(InlineFile {
                logical_key: file.logical_key.clone(),
                bytes,
                content_type: content_type.to_owned(),
            });
        }
        Ok(files)
    }
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
