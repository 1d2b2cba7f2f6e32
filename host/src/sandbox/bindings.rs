//! Rust bindings for the `quilt:mcp/guest` world (wit/world.wit).
//!
//! The WASI and wasi:http parts map onto wasmtime-wasi's and wasmtime-wasi-http's own
//! implementations; only `quilt:mcp/request-context` is ours (see `request_scope.rs`).

wasmtime::component::bindgen!({
    path: "../wit",
    world: "quilt:mcp/guest",
    imports: {
        // Deriving credentials may mean a network exchange (STS, the registry).
        "quilt:mcp/request-context.get-aws-credentials": async,
        // The registry's bearer may be a token exchange at the identity provider.
        "quilt:mcp/request-context.get-registry-access": async,
        default: tracing,
    },
    exports: { default: async },
    with: {
        "wasi:http": wasmtime_wasi_http::p2::bindings::http,
        "wasi:io": wasmtime_wasi::p2::bindings::io,
        "wasi:clocks": wasmtime_wasi::p2::bindings::clocks,
    },
    require_store_data_send: true,
});

pub use quilt::mcp::request_context;
