//! `search_catalog` and `bucket_list`: the Quilt catalog as the caller sees it.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Effect, Entry, Env, ToolError, entry};
use crate::catalog::buckets::{BucketConfig, bucket_configs};
use crate::catalog::search::{Hit, Scope, search};
use crate::catalog::{CatalogError, Registry};
use crate::s3::uri::parse_bucket;

const MAX_LIMIT: u32 = 1000;

pub fn entries() -> Vec<Entry> {
    vec![
        entry(
            "search_catalog",
            "Search the catalog",
            "Searches the Quilt catalog as you: objects (scope file), packages (package), files inside packages (packageEntry) or all (global), in one bucket or every bucket you can browse. Supports Lucene wildcards * and ?; other operator characters are searched literally.",
            Effect::Read,
            search_catalog,
        ),
        entry(
            "bucket_list",
            "List buckets",
            "Lists the S3 buckets you can browse in the Quilt catalog (or, without a catalog, the buckets this server is configured with).",
            Effect::Read,
            bucket_list,
        ),
    ]
}

#[derive(Deserialize, JsonSchema)]
pub struct SearchArgs {
    /// What to look for, e.g. `temperature csv` or `data*`.
    query: String,
    /// Which documents to search.
    #[serde(default)]
    scope: Scope,
    /// One bucket (`name` or `s3://name`); empty searches every bucket you can browse.
    #[serde(default)]
    bucket: String,
    /// Most hits to return.
    #[serde(default = "default_limit")]
    #[schemars(range(min = 1, max = 1000))]
    limit: u32,
}

fn default_limit() -> u32 {
    50
}

#[derive(Serialize, JsonSchema)]
pub struct SearchResult {
    /// The query as given.
    query: String,
    scope: Scope,
    /// The buckets searched.
    buckets: Vec<String>,
    /// Matching documents in those buckets (may exceed the results returned).
    total: u64,
    results: Vec<Hit>,
    /// Set when the registry refused to search all your buckets at once and fewer were searched.
    note: Option<String>,
}

fn search_catalog(env: &Env<'_>, args: SearchArgs) -> Result<SearchResult, ToolError> {
    if args.query.trim().is_empty() {
        return Err(ToolError::Argument {
            name: "query",
            problem: "is empty; say what to look for (use * to match everything)".into(),
        });
    }
    if !(1..=MAX_LIMIT).contains(&args.limit) {
        return Err(ToolError::Argument {
            name: "limit",
            problem: format!("must be between 1 and {MAX_LIMIT}"),
        });
    }
    let registry = Registry::connect(env.context, env.http, "search_catalog")?;
    let buckets = if args.bucket.trim().is_empty() {
        let names: Vec<String> = bucket_configs(&registry)?
            .into_iter()
            .map(|b| b.name)
            .collect();
        if names.is_empty() {
            return Err(ToolError::Catalog(CatalogError::Forbidden {
                registry: registry.name(),
                reason: "the catalog lists no bucket you may browse, so there is nothing to search"
                    .into(),
            }));
        }
        names
    } else {
        vec![parse_bucket(&args.bucket)?]
    };
    let found = search(&registry, &args.query, args.scope, &buckets, args.limit)?;
    let note = (found.buckets.len() < buckets.len()).then(|| {
        format!(
            "The registry refused to search all {} of your buckets at once; searched the {} most relevant. Name a bucket to search another.",
            buckets.len(),
            found.buckets.len()
        )
    });
    Ok(SearchResult {
        query: args.query,
        scope: args.scope,
        buckets: found.buckets,
        total: found.total,
        results: found.hits,
        note,
    })
}

/// No arguments.
#[derive(Deserialize, JsonSchema)]
pub struct NoArgs {}

#[derive(Serialize, JsonSchema)]
pub struct BucketList {
    /// `registry` (the catalog's list for you) or `configuration` (this server's --bucket list).
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
    let catalog = env.context.catalog();
    if catalog.registry_url.is_none() {
        if catalog.buckets.is_empty() {
            return Err(ToolError::Catalog(CatalogError::NoRegistry {
                wanted: "bucket_list (and no --bucket list is configured either)",
            }));
        }
        let buckets = catalog.buckets.into_iter().map(configured).collect();
        return Ok(BucketList {
            source: "configuration",
            buckets,
        });
    }
    let registry = Registry::connect(env.context, env.http, "bucket_list")?;
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
