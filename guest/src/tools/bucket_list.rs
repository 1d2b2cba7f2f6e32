//! `bucket_list`: the buckets the caller may browse, as the registry lists them, or this
//! server's configured buckets when it has no registry.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Effect, Entry, Env, ToolError};
use crate::registry_api::buckets::{BucketConfig, bucket_configs};
use crate::registry_api::{RegistryApi, RegistryError};

pub fn entry() -> Entry {
    super::entry(
        "bucket_list",
        "List buckets",
        "Lists the S3 buckets you can browse in the Quilt catalog (or, without a catalog, the buckets this server is configured with).",
        Effect::Read,
        bucket_list,
    )
}

/// No arguments.
#[derive(Deserialize, JsonSchema)]
pub struct NoArgs {}

#[derive(Serialize, JsonSchema)]
pub struct BucketList {
    /// `registry` (the catalog's list for you), `configuration` (this server's --bucket list)
    /// or `connection` (the one bucket of a `/mcp/b/{bucket}` connection).
    source: &'static str,
    buckets: Vec<BucketInfo>,
}

#[derive(Serialize, JsonSchema)]
pub struct BucketInfo {
    name: String,
    /// s3:// URI of the bucket, for the S3 and package tools.
    s3_uri: String,
    title: Option<String>,
    description: Option<String>,
    /// Whether the catalog lets you browse its contents.
    browsable: Option<bool>,
    tags: Vec<String>,
}

fn bucket_list(env: &Env<'_>, _: NoArgs) -> Result<BucketList, ToolError> {
    if let Some(held) = env.context.grant().bucket {
        return Ok(BucketList {
            source: "connection",
            buckets: vec![configured(held)],
        });
    }
    let access = env.context.registry_access();
    if access.registry_url.is_none() {
        if access.buckets.is_empty() {
            return Err(ToolError::Registry(RegistryError::NoRegistry {
                wanted: "bucket_list (and no --bucket list is configured either)",
            }));
        }
        let buckets = access.buckets.into_iter().map(configured).collect();
        return Ok(BucketList {
            source: "configuration",
            buckets,
        });
    }
    let registry = RegistryApi::connect(env.context, env.http, "bucket_list")?;
    let buckets = bucket_configs(&registry)?
        .into_iter()
        .map(described)
        .collect();
    Ok(BucketList {
        source: "registry",
        buckets,
    })
}

fn configured(name: String) -> BucketInfo {
    BucketInfo {
        s3_uri: format!("s3://{name}"),
        name,
        title: None,
        description: None,
        browsable: None,
        tags: Vec::new(),
    }
}

fn described(config: BucketConfig) -> BucketInfo {
    BucketInfo {
        title: config.title,
        description: config.description,
        browsable: config.browsable,
        tags: config.tags.unwrap_or_default(),
        ..configured(config.name)
    }
}
