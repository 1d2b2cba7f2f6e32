//! `/graphql`: the two queries Quilt clients make of the registry's GraphQL API —
//! `bucketConfigs` (the buckets the caller may browse) and `me` — served by async-graphql,
//! so any selection of their fields, aliases, fragments, variables and errors behave as
//! GraphQL specifies.

use async_graphql::{Context, EmptyMutation, EmptySubscription, Object, Schema, SimpleObject};

use crate::auth::Caller;

pub type RegistrySchema = Schema<Query, EmptyMutation, EmptySubscription>;

pub fn schema() -> RegistrySchema {
    Schema::new(Query, EmptyMutation, EmptySubscription)
}

/// Who is asking and what they were granted; attached to each request.
pub struct Viewer {
    pub caller: Caller,
    pub buckets: Vec<String>,
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
            .map(|name| BucketConfig {
                name: name.clone(),
                title: name.clone(),
                description: None,
                icon_url: None,
                relevance_score: 0,
                browsable: true,
                tags: Some(Vec::new()),
            })
            .collect())
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
}

#[derive(SimpleObject)]
pub struct Me {
    name: String,
    email: String,
    is_admin: bool,
}
