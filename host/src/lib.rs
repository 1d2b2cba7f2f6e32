//! quilt-mcp host: terminates HTTP, validates each request's JWT, derives what the request may
//! use, and runs the MCP tools guest in a fresh sandboxed instance per request.
//!
//! The request path, module by module:
//! `server` (routing, Host and Origin, body limit, the one log line) → `auth` (who is calling;
//! `oauth` is the optional sign-in bridge that issues the tokens it checks) → `access` (what
//! this request may do: tools, bucket, the credentials' session policy) →
//! `sandbox` (fresh instance; `request-context` and allow-listed egress) → the guest →
//! S3 / the registry, signed with what `credentials` derived for this caller.
//!
//! Beside the path, for the people who run it: `metrics` (Prometheus, at `--metrics-listen`)
//! and `audit` (one JSON line per tool call, with what the egress hook saw it touch).

pub mod access;
pub mod audit;
pub mod auth;
pub mod cli;
pub mod credentials;
pub mod logging;
pub mod metrics;
pub mod oauth;
pub mod sandbox;
pub mod server;
pub mod untrusted;
