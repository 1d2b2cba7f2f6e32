//! A local stand-in for the Quilt registry, for development and tests only (never linked
//! into the `quilt-mcp` host). It answers the calls the server makes of a real registry, as
//! the real one answers them:
//!
//! - `GET /api/auth/get_credentials` — the caller's token exchanged at STS for their role's keys;
//! - `GET /api/search?index=…&action=freeform&body=…` — the Elasticsearch proxy, run on an
//!   embedded search engine over documents built from the buckets' objects and packages;
//! - `POST /graphql` — `bucketConfigs` and `me`.
//!
//! Every endpoint requires `Authorization: Bearer <jwt>` (RS256, checked against a JWKS, with
//! the configured `iss` and `aud`): 401 without a valid one, 403 for a caller with no grant.
//!
//! Documents follow the real indexer (the `documents` module lists the fields). Worth knowing:
//! `version_id` is the string `"null"` for unversioned objects, as the real indexer stores it;
//! and package-entry documents also carry `ptr_name` and `mnfst_name` (this stand-in's
//! addition), so a hit names its package.
//!
//! Libraries, chosen so nothing here is hand-written protocol code: axum (HTTP on hyper),
//! jsonwebtoken (JWT checks, as the host), aws-sdk-sts (STS, built as the host builds it),
//! rusty-s3 with reqwest (S3 reads, as the test harness), tantivy (a real inverted index with
//! BM25 scoring, phrase, regex and range queries — Elasticsearch and OpenSearch cannot run on
//! these machines), async-graphql (GraphQL parsing, validation and execution), time (RFC 3339)
//! and regex-syntax (escaping the literal parts of wildcard patterns for tantivy's regex
//! automaton). Only the `query_string` syntax is parsed here: no crate parses Lucene's.

mod auth;
mod catalog;
mod config;
mod credentials;
mod documents;
mod error;
mod graphql;
mod index;
mod manifest;
mod query;
mod query_string;
mod s3;
mod search;
mod server;

pub use config::{AccessKeys, StandinConfig, TabulatorTable, UserGrant};
pub use error::StartError;
pub use server::{RegistryStandin, SearchRecord};
