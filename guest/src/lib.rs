//! The MCP tools of quilt-mcp as a WebAssembly component.
//!
//! The host gives each HTTP request a fresh instance, so nothing here outlives one
//! request: there is no session state to keep and no async runtime to run.

// Natively (for unit tests) the wasi entry point is not built, so all it reaches looks unused.
#![cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
// S3 failures carry the bucket, key, action and caller for the message a person reads; they
// are rare and an instance lives for one request, so boxing them would buy nothing.
#![allow(clippy::result_large_err)]

mod catalog;
mod context;
mod echo;
mod http;
mod mcp;
mod package;
mod s3;
mod tools;

#[allow(clippy::all, dead_code, unused)]
mod bindings {
    wit_bindgen::generate!({
        world: "quilt:mcp/guest",
        path: "../wit",
        generate_all,
    });
}

// The export symbols are wasm component names, which a native linker rejects; natively
// only the logic above the wasi boundary is built, for tests.
#[cfg(target_arch = "wasm32")]
struct Component;

#[cfg(target_arch = "wasm32")]
impl bindings::exports::wasi::http::incoming_handler::Guest for Component {
    fn handle(
        request: bindings::wasi::http::types::IncomingRequest,
        response_out: bindings::wasi::http::types::ResponseOutparam,
    ) {
        http::inbound::serve(request, response_out);
    }
}

#[cfg(target_arch = "wasm32")]
bindings::export!(Component with_types_in bindings);
