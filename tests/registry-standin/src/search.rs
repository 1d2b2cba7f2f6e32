//! `/api/search`: the registry's Elasticsearch proxy. It checks the index list against the
//! caller's buckets (wildcards refused, too many indices refused, foreign buckets refused),
//! then runs the body on each named bucket's index and answers in Elasticsearch's shape.

use std::collections::BTreeMap;
use std::time::Instant;

use serde::Deserialize;
use serde_json::{Value, json};

use crate::catalog::Catalog;
use crate::config::UserGrant;
use crate::documents::{PACKAGES_SUFFIX, packages_index};
use crate::error::ApiError;
use crate::index::Hit;
use crate::query;

/// The query string of a search, as the real proxy reads it.
#[derive(Debug, Deserialize)]
pub struct SearchParams {
    pub index: Option<String>,
    pub action: Option<String>,
    /// The search body, JSON.
    pub body: Option<String>,
    pub size: Option<usize>,
    pub from: Option<usize>,
}

/// The buckets to search and, per bucket, which of its two indices.
type Targets = BTreeMap<String, Vec<String>>;

pub async fn search(
    catalog: &Catalog,
    grant: &UserGrant,
    max_indices: usize,
    params: &SearchParams,
) -> Result<Value, ApiError> {
    let started = Instant::now();
    if params.action.as_deref() != Some("freeform") {
        return Err(ApiError::BadRequest(format!(
            "action {:?} is not supported: send action=freeform with the query in body",
            params.action.as_deref().unwrap_or_default()
        )));
    }
    let targets = targets(params.index.as_deref(), grant, max_indices)?;
    let body: Value = match params.body.as_deref() {
        Some(text) => serde_json::from_str(text)
            .map_err(|e| ApiError::parsing(format!("the body is not JSON: {e}")))?,
        None => Value::Null,
    };
    let search = query::compile(&body, params.from, params.size, &catalog.schema)?;
    let wanted = search.from.saturating_add(search.size);
    let mut total = 0;
    let mut hits: Vec<Hit> = Vec::new();
    for (bucket, indices) in &targets {
        let index = catalog.index(bucket).await?;
        let (count, best) = index
            .search(&catalog.schema, search.query.as_ref(), indices, wanted)
            .map_err(|e| ApiError::Internal(format!("searching {bucket} failed: {e}")))?;
        total += count;
        hits.extend(best);
    }
    // Stable: equal scores keep bucket order, then each index's own order.
    hits.sort_by(|a, b| b.score.total_cmp(&a.score));
    let max_score = hits.first().map(|hit| hit.score);
    let page: Vec<Value> = hits
        .into_iter()
        .skip(search.from)
        .take(search.size)
        .map(|hit| {
            let mut shaped = json!({"_index": hit.index, "_id": hit.id, "_score": hit.score});
            if let Some(source) = search.source.apply(hit.source) {
                shaped["_source"] = source;
            }
            shaped
        })
        .collect();
    let shards = targets.values().map(Vec::len).sum::<usize>();
    Ok(json!({
        "took": started.elapsed().as_millis(),
        "timed_out": false,
        "_shards": {"total": shards, "successful": shards, "skipped": 0, "failed": 0},
        "hits": {
            "total": {"value": total, "relation": "eq"},
            "max_score": max_score,
            "hits": page,
        },
    }))
}

/// The index list checked against the grant: each name must be a granted bucket `B` or its
/// `B_packages`.
fn targets(
    index: Option<&str>,
    grant: &UserGrant,
    max_indices: usize,
) -> Result<Targets, ApiError> {
    let index = index
        .filter(|list| !list.trim().is_empty())
        .ok_or_else(|| {
            ApiError::BadRequest(
                "Request must include index=<comma-separated string of indices>".to_owned(),
            )
        })?;
    let names: Vec<&str> = index.split(',').map(str::trim).collect();
    if let Some(pattern) = names
        .iter()
        .find(|name| name.is_empty() || *name == &"_all" || name.contains(['*', '?']))
    {
        return Err(ApiError::BadRequest(format!(
            "index {pattern:?} is not allowed: name each index (B for a bucket's objects, \
             B{PACKAGES_SUFFIX} for its packages) of the buckets you may read"
        )));
    }
    let mut targets = Targets::new();
    for name in names {
        let bucket = bucket_of(name, grant).ok_or_else(|| {
            ApiError::Forbidden(format!(
                "{} may not search index {name}: its bucket is not among theirs ({})",
                grant.subject,
                grant.buckets.join(", ")
            ))
        })?;
        let indices = targets.entry(bucket.to_owned()).or_default();
        if !indices.iter().any(|known| known == name) {
            indices.push(name.to_owned());
        }
    }
    let count: usize = targets.values().map(Vec::len).sum();
    if count > max_indices {
        return Err(ApiError::Forbidden(format!(
            "too many indices in one search ({count}; at most {max_indices}): search fewer buckets at a time"
        )));
    }
    Ok(targets)
}

/// The granted bucket an index belongs to.
fn bucket_of<'a>(index: &str, grant: &'a UserGrant) -> Option<&'a str> {
    grant
        .buckets
        .iter()
        .find(|bucket| index == bucket.as_str() || index == packages_index(bucket))
        .map(String::as_str)
}

#[cfg(test)]
mod tests {
    use super::{ApiError, UserGrant, targets};

    fn grant() -> UserGrant {
        UserGrant {
            subject: "alice".into(),
            role_arn: "arn:aws:iam::role/A".into(),
            buckets: vec!["alpha".into(), "beta".into()],
        }
    }

    #[test]
    fn index_lists_name_granted_buckets_only() {
        let found = targets(Some("alpha, alpha_packages,beta,alpha"), &grant(), 10).unwrap();
        assert_eq!(found["alpha"], ["alpha", "alpha_packages"]);
        assert_eq!(found["beta"], ["beta"]);

        for list in ["*", "_all", "alp*", "alpha,", "", "beta,b?ta"] {
            let error = targets(Some(list), &grant(), 10).unwrap_err();
            assert!(matches!(error, ApiError::BadRequest(_)), "{list}: {error}");
        }
        let error = targets(None, &grant(), 10).unwrap_err();
        assert!(matches!(error, ApiError::BadRequest(_)));
        for list in ["gamma", "alpha,gamma_packages", "alpha_packages_packages"] {
            let error = targets(Some(list), &grant(), 10).unwrap_err();
            assert!(matches!(error, ApiError::Forbidden(_)), "{list}: {error}");
        }
    }

    #[test]
    fn too_many_indices_are_refused() {
        assert!(targets(Some("alpha,alpha_packages,beta"), &grant(), 3).is_ok());
        let error = targets(Some("alpha,alpha_packages,beta"), &grant(), 2).unwrap_err();
        assert!(
            matches!(&error, ApiError::Forbidden(why) if why.contains("too many indices")),
            "{error}"
        );
    }
}
