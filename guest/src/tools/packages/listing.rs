//! `packages_list`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::default_limit;
use crate::package::store::list_packages;
use crate::tools::{Env, ToolError};

#[derive(Deserialize, JsonSchema)]
pub struct ListArgs {
    /// The registry bucket, as s3://bucket; optional on a connection held to one bucket
    /// (`/mcp/b/{bucket}`), which is then the default.
    #[serde(rename = "registry", default)]
    bucket: String,
    /// Only packages whose namespace/name starts with this.
    #[serde(default)]
    prefix: String,
    /// Most packages to return, 1 to 1000.
    #[serde(default = "default_limit")]
    limit: usize,
}

#[derive(Serialize, JsonSchema)]
pub struct PackageList {
    /// The registry listed.
    #[serde(rename = "registry")]
    bucket: String,
    /// Packages, most recently updated first.
    packages: Vec<ListedPackage>,
    /// Packages matching, before the limit.
    total: usize,
    /// Whether more packages matched than were returned.
    truncated: bool,
}

#[derive(Serialize, JsonSchema)]
pub struct ListedPackage {
    /// namespace/name.
    name: String,
    /// Top hash of the latest revision.
    top_hash: Option<String>,
    /// When latest was last written (RFC 3339).
    modified: Option<String>,
    /// Number of timestamped revisions.
    revisions: usize,
}

pub(super) fn list(env: &Env<'_>, args: ListArgs) -> Result<PackageList, ToolError> {
    let bucket = env.bucket_argument(&args.bucket, "registry")?;
    if !(1..=1000).contains(&args.limit) {
        return Err(ToolError::Argument {
            name: "limit",
            problem: format!("{} is out of range; use 1 to 1000", args.limit),
        });
    }
    let s3 = env.s3()?;
    let listing = list_packages(&s3, &bucket, &args.prefix, args.limit)?;
    let packages: Vec<ListedPackage> = listing
        .packages
        .into_iter()
        .map(|listed| ListedPackage {
            name: listed.name,
            top_hash: Some(listed.top_hash),
            modified: listed.modified,
            revisions: listed.revisions,
        })
        .collect();
    Ok(PackageList {
        bucket: format!("s3://{bucket}"),
        truncated: listing.total > packages.len(),
        total: listing.total,
        packages,
    })
}
