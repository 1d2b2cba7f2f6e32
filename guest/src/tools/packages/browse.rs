//! `package_browse`.

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{default_true, limits, locate, selector};
use crate::package::links::{self, Revision};
use crate::package::manifest::ContentHash;
use crate::package::store::{PackageError, load_manifest, resolve};
use crate::s3::S3Uri;
use crate::tools::{Env, ToolError};

/// How long a presigned download link in a listing stays valid.
const LINK_SECONDS: u64 = 3600;

#[derive(Deserialize, JsonSchema)]
pub struct BrowseArgs {
    /// The package, as namespace/name.
    package_name: String,
    /// The registry bucket, as s3://bucket; optional on a connection held to one bucket
    /// (`/mcp/b/{bucket}`), which is then the default.
    #[serde(rename = "registry", default)]
    bucket: String,
    /// A revision's top hash, or a unique prefix of at least 7 characters.
    top_hash: Option<String>,
    /// A pointer name ('latest' or a timestamp); used when top_hash is not given.
    tag: Option<String>,
    /// Only this entry, or the entries under this folder.
    #[serde(default)]
    path: String,
    /// Whether to include entries in subfolders; when false, only the folder's direct entries.
    #[serde(default = "default_true")]
    recursive: bool,
    /// Deepest folder level to list below path (0 = all); deeper entries are summarised as folders.
    #[serde(default)]
    max_depth: usize,
    /// Most entries to return (0 = all).
    #[serde(default)]
    top: usize,
    /// Entries to skip, for paging (pass next_offset of the previous call).
    #[serde(default)]
    offset: usize,
    /// Whether to add a presigned download URL (valid one hour) to each entry.
    #[serde(default = "default_true")]
    include_signed_urls: bool,
}

#[derive(Serialize, JsonSchema)]
pub struct Browse {
    /// namespace/name.
    package_name: String,
    /// The registry.
    #[serde(rename = "registry")]
    bucket: String,
    /// The revision shown.
    top_hash: String,
    /// The revision as a quilt+s3 URI.
    uri: String,
    /// The revision's commit message.
    message: Option<String>,
    /// The package-level user metadata.
    user_meta: Option<Value>,
    /// Entries matching path and depth, before paging.
    total_entries: usize,
    /// Sum of the matching entries' sizes in bytes.
    total_size: u64,
    /// Folders below max_depth, summarised instead of listed.
    folders: Vec<String>,
    /// This page of entries, in walk order.
    entries: Vec<BrowsedEntry>,
    /// Pass as offset to get the next page; absent on the last page.
    next_offset: Option<usize>,
}

#[derive(Serialize, JsonSchema)]
pub struct BrowsedEntry {
    /// The entry's path inside the package.
    logical_key: String,
    /// Size in bytes.
    size: u64,
    /// Content hash.
    hash: EntryHash,
    /// Where the bytes are, e.g. s3://bucket/key?versionId=...
    physical_key: String,
    /// The entry's metadata (user metadata under user_meta).
    meta: Value,
    /// Presigned download URL, when asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    signed_url: Option<String>,
}

#[derive(Serialize, JsonSchema)]
pub struct EntryHash {
    /// sha2-256-chunked, SHA256 or another type.
    r#type: String,
    /// The hash value.
    value: String,
}

impl From<&ContentHash> for EntryHash {
    fn from(hash: &ContentHash) -> Self {
        Self {
            r#type: hash.kind.name().to_owned(),
            value: hash.value.clone(),
        }
    }
}

pub(super) fn browse(env: &Env<'_>, args: BrowseArgs) -> Result<Browse, ToolError> {
    let package = locate(env, &args.bucket, &args.package_name)?;
    let s3 = env.s3()?;
    let revision = selector(args.top_hash.as_deref(), args.tag.as_deref())?;
    let top_hash = resolve(&s3, &package, revision)?;
    let manifest = load_manifest(&s3, &package, &top_hash, limits(env))?;
    let path = args.path.trim_start_matches('/');
    let folder = if path.is_empty() || path.ends_with('/') {
        path.to_owned()
    } else {
        format!("{path}/")
    };
    let max_depth = if args.recursive { args.max_depth } else { 1 };
    let mut folders = BTreeSet::new();
    let mut matching = Vec::new();
    for entry in &manifest.entries {
        if entry.logical_key == path {
            matching.push(entry);
            continue;
        }
        let Some(relative) = entry.logical_key.strip_prefix(&folder) else {
            continue;
        };
        let parts: Vec<&str> = relative.split('/').collect();
        if max_depth > 0 && parts.len() > max_depth {
            folders.insert(format!("{folder}{}/", parts[..max_depth].join("/")));
        } else {
            matching.push(entry);
        }
    }
    if matching.is_empty() && folders.is_empty() && !path.is_empty() {
        return Err(PackageError::PathNotFound { path: args.path }.into());
    }
    let total_entries = matching.len();
    let total_size = matching.iter().map(|e| e.size).sum();
    let page_end = if args.top == 0 {
        total_entries
    } else {
        (args.offset + args.top).min(total_entries)
    };
    let signed_at = SystemTime::now();
    let entries = matching
        .get(args.offset.min(page_end)..page_end)
        .unwrap_or_default()
        .iter()
        .map(|entry| {
            let signed_url = match S3Uri::parse(&entry.physical_key) {
                // An entry stored in a bucket this connection may not address gets no link.
                Ok(uri) if args.include_signed_urls && s3.may_address(&uri.bucket) => Some(
                    s3.presign_get(&uri, Duration::from_secs(LINK_SECONDS), signed_at)?
                        .to_string(),
                ),
                _ => None,
            };
            Ok(BrowsedEntry {
                logical_key: entry.logical_key.clone(),
                size: entry.size,
                hash: (&entry.hash).into(),
                physical_key: entry.physical_key.clone(),
                meta: entry.meta.clone().into(),
                signed_url,
            })
        })
        .collect::<Result<Vec<_>, ToolError>>()?;
    Ok(Browse {
        uri: links::quilt_uri(
            &package.bucket,
            Some(&package.name),
            Revision::Hash(&top_hash),
            path,
        ),
        package_name: package.name.to_string(),
        bucket: package.bucket_uri(),
        message: manifest.message().map(str::to_owned),
        user_meta: manifest.user_meta().cloned().map(Value::from),
        top_hash,
        total_entries,
        total_size,
        folders: folders.into_iter().collect(),
        entries,
        next_offset: (page_end < total_entries).then_some(page_end),
    })
}
