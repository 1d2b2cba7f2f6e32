//! The MCP tools of quilt-mcp as a WebAssembly component.
//!
//! The host gives each HTTP request a fresh instance, so nothing here outlives one
//! request: there is no session state to keep and no async runtime to run.

mod context;
mod http;
mod mcp;
mod s3;
mod tools;

#[allow(clippy::all, dead_code, unused)]
mod bindings {
    wit_bindgen::generate!({
        world: "quilt:mcp/guest",
        path: "/tmp/quilt-wit-fixed",
        generate_all,
    });
}

struct Component;

impl bindings::exports::wasi::http::incoming_handler::Guest for Component {
    fn handle(
        request: bindings::wasi::http::types::IncomingRequest,
        response_out: bindings::wasi::http::types::ResponseOutparam,
    ) {
        http::inbound::serve(request, response_out);
    }
}

bindings::export!(Component with_types_in bindings);
