//! `catalog_uri` and `catalog_url`: addresses built without touching the network.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{hash_prefix, parse_name};
use crate::package::layout::PackageName;
use crate::package::links::{self, Revision};
use crate::tools::{Env, ToolError};

#[derive(Deserialize, JsonSchema)]
pub struct UriArgs {
    /// The registry bucket, as s3://bucket; optional on a connection held to one bucket
    /// (`/mcp/b/{bucket}`), which is then the default.
    #[serde(rename = "registry", default)]
    bucket: String,
    /// The package, as namespace/name.
    package_name: Option<String>,
    /// A path inside the package.
    #[serde(default)]
    path: String,
    /// Pin the URI to this revision.
    top_hash: Option<String>,
    /// Pin the URI to this tag (used when top_hash is not given).
    tag: Option<String>,
}

#[derive(Serialize, JsonSchema)]
pub struct QuiltUri {
    /// The quilt+s3:// URI.
    uri: String,
}

pub(super) fn catalog_uri(env: &Env<'_>, args: UriArgs) -> Result<QuiltUri, ToolError> {
    let bucket = env.bucket_argument(&args.bucket, "registry")?;
    let package = optional_package(args.package_name.as_deref())?;
    let hash = args
        .top_hash
        .as_deref()
        .filter(|h| !h.trim().is_empty())
        .map(hash_prefix)
        .transpose()?;
    let revision = match (&hash, args.tag.as_deref().filter(|t| !t.is_empty())) {
        (Some(hash), _) => Revision::Hash(hash),
        (None, Some(tag)) => Revision::Tag(tag),
        (None, None) => Revision::Latest,
    };
    Ok(QuiltUri {
        uri: links::quilt_uri(
            &bucket,
            package.as_ref(),
            revision,
            args.path.trim_start_matches('/'),
        ),
    })
}

#[derive(Deserialize, JsonSchema)]
pub struct UrlArgs {
    /// The registry bucket, as s3://bucket; optional on a connection held to one bucket
    /// (`/mcp/b/{bucket}`), which is then the default.
    #[serde(rename = "registry", default)]
    bucket: String,
    /// The package, as namespace/name; without it, the bucket browser.
    package_name: Option<String>,
    /// A path inside the package or bucket.
    #[serde(default)]
    path: String,
}

#[derive(Serialize, JsonSchema)]
pub struct CatalogLink {
    /// The web catalog URL.
    url: String,
}

pub(super) fn catalog_url(env: &Env<'_>, args: UrlArgs) -> Result<CatalogLink, ToolError> {
    let bucket = env.bucket_argument(&args.bucket, "registry")?;
    let package = optional_package(args.package_name.as_deref())?;
    let catalog = env
        .context
        .registry_access()
        .catalog_url
        .ok_or(ToolError::NoCatalog)?;
    Ok(CatalogLink {
        url: links::catalog_url(
            &catalog,
            &bucket,
            package.as_ref(),
            Revision::Latest,
            args.path.trim_start_matches('/'),
        ),
    })
}

/// `package_name` is optional for links: without it they address the bucket itself.
fn optional_package(name: Option<&str>) -> Result<Option<PackageName>, ToolError> {
    name.map(|n| parse_name("package_name", n)).transpose()
}
