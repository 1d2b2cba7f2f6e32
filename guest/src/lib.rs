//! The MCP tools of quilt-mcp as a WebAssembly component.
//!
//! The host gives each HTTP request a fresh instance, so nothing here outlives one
//! request: there is no session state to keep and no async runtime to run.
//!
//! The modules below are listed in the order a request meets them (a blank line between
//! each, so rustfmt keeps that order).
//!
//! Tests follow one convention. A file's unit tests sit at its bottom in
//! `#[cfg(test)] mod tests`, importing what they use by name. Tests of a directory module
//! through its entry point, across its files, are the sibling `<module>/tests.rs` (with
//! `<module>/tests/<topic>.rs` for a further topic): `mcp/tests.rs` drives `mcp::handle`
//! with the real tool table, `registry_api/tests.rs` the registry client, `http/tests.rs`
//! the retry rule. The fakes they share (request context, scripted HTTP) are in
//! `testing`, and no test defines its own.

// Natively (for unit tests) the wasi entry point is not built, so all it reaches looks unused.
#![cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
// S3 failures carry the bucket, key, action and caller for the message a person reads; they
// are rare and an instance lives for one request, so boxing them would buy nothing.
#![allow(clippy::result_large_err)]

/// The entry: reads the HTTP request, calls `mcp::handle`, writes the reply. Only built
/// for wasm32, since its export symbols are wasm component names a native linker rejects.
#[cfg(target_arch = "wasm32")]
mod serve;

/// What the host derived for this request (caller, credentials, registry access, settings).
mod context;

/// JSON-RPC and the two MCP eras: discover/initialize, ping, tools/list, tools/call.
mod mcp;

/// The tool table: typed arguments in, JSON out, one file per tool or family.
mod tools;

/// The Quilt package format (manifests, hashes, layout, links), the package store and
/// bucket workflows.
mod package;

/// MCP resources: objects and package entries read as the caller, and a few fixed ones.
mod resources;

/// Objects as something a model can look at: images, PDFs, tables, text in parts.
mod preview;

/// The Quilt registry's API (the web catalog's backend) as the caller: search, buckets.
mod registry_api;

/// Athena and Glue as the caller: SigV4-signed JSON calls, queries, the read-only gate.
mod athena;

/// S3 through presigned requests: the client, transfers, URIs, typed errors.
mod s3;

/// Outgoing HTTP as plain data, its wasi:http client, and the percent-encoding sets.
mod http;

/// Bounding what is echoed back from input or from a server's answer.
mod echo;

/// The WIT world as Rust (wit-bindgen), under everything above.
mod bindings;

/// The fakes unit tests share: the request context and a scripted HTTP client.
#[cfg(test)]
mod testing;
