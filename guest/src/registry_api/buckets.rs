//! The buckets a caller may browse, as the registry's GraphQL `bucketConfigs` lists them.

use serde::Deserialize;
use serde_json::json;

use super::{RegistryApi, RegistryError};

const BUCKET_CONFIGS: &str =
    "query { bucketConfigs { name title description iconUrl relevanceScore browsable tags } }";

/// One bucket as the registry describes it.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BucketConfig {
    pub name: String,
    pub title: Option<String>,
    pub description: Option<String>,
    pub relevance_score: Option<f64>,
    pub browsable: Option<bool>,
    #[serde(default)]
    pub tags: Option<Vec<String>>,
}

/// The caller's buckets, most relevant first (the registry's own order of importance).
pub fn bucket_configs(registry: &RegistryApi<'_>) -> Result<Vec<BucketConfig>, RegistryError> {
    let mut data = registry.graphql("bucketConfigs", BUCKET_CONFIGS, json!({}))?;
    let mut buckets: Vec<BucketConfig> = serde_json::from_value(data["bucketConfigs"].take())
        .map_err(|_| RegistryError::Failed {
            registry: registry.name(),
            detail: "bucketConfigs answered no data".into(),
        })?;
    // Stable: equal scores keep the registry's order.
    buckets.sort_by(|a, b| {
        let score = |c: &BucketConfig| c.relevance_score.unwrap_or(0.0);
        score(b).total_cmp(&score(a))
    });
    Ok(buckets)
}
