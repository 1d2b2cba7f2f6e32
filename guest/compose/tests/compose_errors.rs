//! What the build step says when handed the wrong files: which one, and what it lacks.

use quilt_mcp_compose::{ComposeError, Runtime, compose};

fn standalone() -> Vec<u8> {
    let path = std::env::var_os("QUILT_MCP_STANDALONE_WASM").expect(
        "QUILT_MCP_STANDALONE_WASM is not set: run this test with `make test`, which composes it",
    );
    std::fs::read(path).expect("the composed component was built")
}

#[test]
fn an_adapter_without_request_context_is_named() {
    // A composed component imports the config store but exports only the HTTP handler.
    let composed = standalone();
    let error = compose(&composed, &composed, Runtime::Spin).unwrap_err();
    assert!(
        matches!(
            error,
            ComposeError::Missing { role: "adapter", relation: "export", name, .. }
                if name == "quilt:mcp/request-context@0.1.0"
        ),
        "{error}"
    );
    let message = error.to_string();
    assert!(
        message.contains("wasi:http/incoming-handler@0.2.12"),
        "lists what it has: {message}"
    );
    assert!(message.contains("make build"), "{message}");
}

#[test]
fn bytes_that_are_no_component_are_named() {
    let error = compose(b"\0asm not really", &standalone(), Runtime::WasmtimeServe).unwrap_err();
    assert!(
        matches!(
            error,
            ComposeError::NotAComponent {
                role: "adapter",
                ..
            }
        ),
        "{error}"
    );
}
