//! `search_catalog`: the registry API's search, as the caller.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Effect, Entry, Env, ToolError};
use crate::registry_api::buckets::bucket_configs;
use crate::registry_api::search::{Hit, Page, Scope, search};
use crate::registry_api::{RegistryApi, RegistryError};
use crate::s3::uri::parse_bucket;

const MAX_LIMIT: u32 = 1000;

pub fn entry() -> Entry {
    super::entry(
        "search_catalog",
        "Search the catalog",
        "Searches the Quilt catalog as you: objects (scope file), packages (package), files inside packages (packageEntry) or all (global), in one bucket or every bucket you can browse. Supports Lucene wildcards * and ?; other operator characters are searched literally.",
        Effect::Read,
        search_catalog,
    )
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
    /// next_cursor of the previous page, to get the next one.
    #[serde(default)]
    cursor: String,
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
    /// Pass as cursor to get the next page; absent on the last one.
    next_cursor: Option<String>,
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
    // A connection held to one bucket searches that one, and refuses another before anything
    // is asked of the registry.
    let held = match (env.context.grant().bucket, args.bucket.trim()) {
        (Some(held), "") => Some(held),
        (Some(held), asked) if parse_bucket(asked)? == held => Some(held),
        (Some(held), asked) => {
            return Err(ToolError::OutsideBucket {
                held,
                asked: parse_bucket(asked)?,
            });
        }
        (None, _) => None,
    };
    let registry = RegistryApi::connect(env.context, env.http, "search_catalog")?;
    let buckets = if let Some(held) = held {
        vec![held]
    } else if args.bucket.trim().is_empty() {
        let names: Vec<String> = bucket_configs(&registry)?
            .into_iter()
            .map(|b| b.name)
            .collect();
        if names.is_empty() {
            return Err(ToolError::Registry(RegistryError::Forbidden {
                registry: registry.name(),
                reason: "the catalog lists no bucket you may browse, so there is nothing to search"
                    .into(),
            }));
        }
        names
    } else {
        vec![parse_bucket(&args.bucket)?]
    };
    let from = parse_cursor(&args.cursor)?;
    if from + args.limit > MAX_FROM {
        return Err(ToolError::Argument {
            name: "cursor",
            problem: format!(
                "the registry pages no deeper than {MAX_FROM} hits (cursor plus limit); narrow the query instead"
            ),
        });
    }
    let page = Page {
        query: &args.query,
        scope: args.scope,
        from,
        limit: args.limit,
    };
    let found = search(&registry, &page, &buckets)?;
    let shown = u64::from(from) + found.hits.len() as u64;
    let next_cursor =
        (!found.hits.is_empty() && shown < found.total && shown < u64::from(MAX_FROM))
            .then(|| shown.to_string());
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
        next_cursor,
        note,
    })
}

/// Elasticsearch pages no deeper than 10,000 hits by default (`index.max_result_window`).
const MAX_FROM: u32 = 10_000;

/// A cursor is the number of hits already shown; empty is the first page.
fn parse_cursor(cursor: &str) -> Result<u32, ToolError> {
    if cursor.trim().is_empty() {
        return Ok(0);
    }
    match cursor.trim().parse::<u32>() {
        Ok(from) if from <= MAX_FROM => Ok(from),
        _ => Err(ToolError::Argument {
            name: "cursor",
            problem: format!(
                "it is not a next_cursor this tool gave (the registry pages no deeper than {MAX_FROM} hits; narrow the query instead)"
            ),
        }),
    }
}
