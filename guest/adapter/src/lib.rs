//! The single-tenant adapter: `quilt:mcp/request-context` from runtime configuration
//! (`wasi:config/store`), and the guest's outgoing HTTP narrowed to the configured S3
//! endpoint and registry. Composed in front of the unchanged tools guest by
//! guest/compose, it makes a component that generic runtimes can serve.
//!
//! Single-tenant: the runtime authenticates no one, so there is never a caller
//! (`get-caller` is none, as under `quilt-mcp serve --no-auth`), every request signs with
//! the one configured key pair, and no bearer is handed to the registry.

// Natively (for unit tests) the component glue is not built, so what it uses looks unused.
#![cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]

mod config;
mod egress;
#[cfg(test)]
mod manifest_tests;

// The export symbols are component names, which a native linker rejects.
#[cfg(target_arch = "wasm32")]
mod component;
