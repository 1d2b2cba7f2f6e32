//! `/graphql`: the queries Quilt clients make of the registry's GraphQL API —
//! `bucketConfigs` (the buckets the caller may browse), `bucketConfig(name)` with its
//! Tabulator tables, and `me` — served by async-graphql,
//! so any selection of their fields, aliases, fragments, variables and errors behave as
//! GraphQL specifies.

use async_graphql::{Context, EmptyMutation, EmptySubscription, Object, Schema, SimpleObject};

use crate::auth::Caller;
use crate::config::TabulatorTable;

pub type RegistrySchema = Schema<Query, EmptyMutation, EmptySubscription>;

pub fn schema() -> RegistrySchema {
    Schema::new(Query, EmptyMutation, EmptySubscription)
}

/// Who is asking and what they were granted; attached to each request.
pub struct Viewer {
    pub caller: Caller,
    pub buckets: Vec<String>,
    /// Every bucket's Tabulator tables (each viewer sees those of their buckets).
    pub tabulator: Vec<TabulatorTable>,
}

impl Viewer {
    fn config(&self, name: &str) -> BucketConfig {
        BucketConfig {
            name: name.to_owned(),
            title: name.to_owned(),
            description: None,
            icon_url: None,
            relevance_score: 0,
            browsable: true,
            tags: Some(Vec::new()),
            tabulator_tables: self
                .tabulator
                .iter()
                .filter(|table| table.bucket == name)
                .map(|table| TabulatorTableConfig {
                    name: table.name.clone(),
                    config: table.config.clone(),
                })
                .collect(),
        }
    }
}

pub struct Query;

#[Object]
impl Query {
    /// The buckets the caller may browse and search.
    async fn bucket_configs(
        &self,
        context: &Context<'_>,
    ) -> async_graphql::Result<Vec<BucketConfig>> {
        let viewer = context.data::<Viewer>()?;
        Ok(viewer
            .buckets
            .iter()
            .map(|name| viewer.config(name))
            .collect())
    }

    /// One bucket the caller may browse, with its Tabulator tables; null for any other.
    async fn bucket_config(
        &self,
        context: &Context<'_>,
        name: String,
    ) -> async_graphql::Result<Option<BucketConfig>> {
        let viewer = context.data::<Viewer>()?;
        Ok(viewer.buckets.contains(&name).then(|| viewer.config(&name)))
    }

    /// The caller: `name` and `email` from the token's claims of those names, else its `sub`.
    /// Nobody is an admin of a stand-in.
    async fn me(&self, context: &Context<'_>) -> async_graphql::Result<Me> {
        let caller = &context.data::<Viewer>()?.caller;
        Ok(Me {
            name: caller
                .name
                .clone()
                .unwrap_or_else(|| caller.subject.clone()),
            email: caller
                .email
                .clone()
                .unwrap_or_else(|| caller.subject.clone()),
            is_admin: false,
        })
    }
}

#[derive(SimpleObject)]
pub struct BucketConfig {
    name: String,
    title: String,
    description: Option<String>,
    icon_url: Option<String>,
    relevance_score: i32,
    browsable: bool,
    tags: Option<Vec<String>>,
    tabulator_tables: Vec<TabulatorTableConfig>,
}

/// A Tabulator table as the registry stores it: its name and its YAML configuration.
#[derive(SimpleObject)]
#[graphql(name = "TabulatorTable")]
pub struct TabulatorTableConfig {
    name: String,
    config: String,
}

#[derive(SimpleObject)]
pub struct Me {
    name: String,
    email: String,
    is_admin: bool,
}
