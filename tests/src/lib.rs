//! The end-to-end harness of quilt-mcp: real parts only. SeaweedFS as the S3 store,
//! an RSA identity whose JWKS is served over HTTP, the `quilt-mcp` host as a child
//! process, and a small MCP client speaking JSON-RPC over HTTP to it.
//!
//! The artifacts under test (host binary, guests, `weed`) are built and installed by
//! the Makefile, which hands their paths over in environment variables.

pub mod artifacts;
pub mod athena;
pub mod bridge_sign_in;
pub mod child;
pub mod fault_proxy;
pub mod generated_doc;
pub mod host_process;
pub mod host_sandbox;
pub mod hostile_guest;
pub mod hostile_idp;
pub mod identity;
pub mod jwks_server;
pub mod local_idp;
pub mod mcp;
pub mod ports;
pub mod prometheus;
pub mod registry;
pub mod s3;
pub mod sandbox_report;
pub mod seaweedfs;
pub mod stack;
pub mod sts;
pub mod wasmtime_serve;
