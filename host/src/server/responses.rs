//! The answers the host gives itself, before or instead of the guest.

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::{BodyExt, Full};
use serde_json::{Value, json};
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

use crate::auth::AuthError;

pub type HttpResponse = Response<HyperOutgoingBody>;

pub fn body(bytes: impl Into<Bytes>) -> HyperOutgoingBody {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

pub fn json(status: StatusCode, value: &Value) -> HttpResponse {
    let mut response = Response::new(body(value.to_string()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

pub fn text(status: StatusCode, text: &'static str) -> HttpResponse {
    let mut response = Response::new(body(text));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// A JSON-RPC error for a request the guest could not answer (trap, timeout, overload).
pub fn jsonrpc_error(status: StatusCode, id: &Value, message: &str) -> HttpResponse {
    json(
        status,
        &json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32603, "message": message}}),
    )
}

/// 401 with the RFC 6750 / RFC 9728 challenge pointing clients at our metadata; `scopes`
/// (space-separated, already valid scope tokens) are what a client should ask for.
pub fn unauthorized(error: &AuthError, scopes: &str, metadata_url: &str) -> HttpResponse {
    let description = error.to_string();
    let scope = match scopes {
        "" => String::new(),
        scopes => format!(", scope=\"{scopes}\""),
    };
    let challenge = match error {
        AuthError::Missing => format!("Bearer resource_metadata=\"{metadata_url}\"{scope}"),
        _ => format!(
            "Bearer error=\"{}\", error_description=\"{}\", resource_metadata=\"{metadata_url}\"{scope}",
            error.oauth_code(),
            description.replace(['"', '\\'], "'"),
        ),
    };
    let mut response = json(
        StatusCode::UNAUTHORIZED,
        &json!({"error": error.oauth_code(), "error_description": description}),
    );
    if let Ok(value) = HeaderValue::from_str(&challenge) {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, value);
    }
    response
}

/// 403 `insufficient_scope` (RFC 6750 §3.1) for a call of `tool`: `scopes` are every scope
/// the call needs, those the token has included, as the MCP authorization spec's scope
/// challenge asks (a client that replaces its scopes with these keeps what it could do).
pub fn insufficient_scope(scopes: &str, tool: &str, metadata_url: &str) -> HttpResponse {
    let description =
        format!("calling {tool} needs the scopes {scopes}; sign in again granting them");
    let challenge = format!(
        "Bearer error=\"insufficient_scope\", scope=\"{scopes}\", resource_metadata=\"{metadata_url}\", error_description=\"{}\"",
        description.replace(['"', '\\'], "'"),
    );
    let mut response = json(
        StatusCode::FORBIDDEN,
        &json!({"error": "insufficient_scope", "error_description": description}),
    );
    if let Ok(value) = HeaderValue::from_str(&challenge) {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, value);
    }
    response
}

/// 403 for a Host this server does not answer to, naming it and how an operator allows it.
pub fn forbidden_host(host: &str) -> HttpResponse {
    json(
        StatusCode::FORBIDDEN,
        &json!({"error": "forbidden_host", "error_description": format!(
            "this server does not answer to the Host {host:?} (a defence against DNS rebinding): \
             it answers to its public URL's host and port, localhost on any port, \
             and names added with --allowed-host"
        )}),
    )
}

pub fn bad_request(description: &str) -> HttpResponse {
    json(
        StatusCode::BAD_REQUEST,
        &json!({"error": "bad_request", "error_description": description}),
    )
}

/// 408 for a body that did not arrive in time; the connection is closed after it, since the
/// rest of the body may still be on its way.
pub fn body_timeout(timeout: std::time::Duration) -> HttpResponse {
    let mut response = json(
        StatusCode::REQUEST_TIMEOUT,
        &json!({"error": "request_timeout", "error_description": format!(
            "the request body did not arrive within {} s of its headers", timeout.as_secs_f64()
        )}),
    );
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// A JSON-RPC error with `Retry-After`, for a request refused while the server is busy
/// (503) or its caller is (429).
pub fn retry_later(status: StatusCode, id: &Value, message: &str) -> HttpResponse {
    let mut response = jsonrpc_error(status, id, message);
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    response
}

/// -32600 for a message the host refuses before any guest runs.
pub fn invalid_request(message: &str) -> HttpResponse {
    json(
        StatusCode::BAD_REQUEST,
        &json!({"jsonrpc": "2.0", "id": null, "error": {"code": -32600, "message": message}}),
    )
}

pub fn method_not_allowed() -> HttpResponse {
    let mut response = json(
        StatusCode::METHOD_NOT_ALLOWED,
        &json!({"error": "method_not_allowed", "error_description": "this server is stateless: POST JSON-RPC messages to /mcp; it offers no event stream and no session to delete"}),
    );
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("POST"));
    response
}

/// `Cache-Control: no-store`, for answers that carry tokens or codes (RFC 6749 §5.1).
pub fn no_store(response: &mut HttpResponse) {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

/// A redirect (`status` 302 or 303) to `location`.
pub fn redirect(status: StatusCode, location: &str) -> HttpResponse {
    let mut response = Response::new(body(Bytes::new()));
    *response.status_mut() = status;
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    no_store(&mut response);
    response
}

/// An HTML page that no other site may frame and that runs no script.
pub fn html(status: StatusCode, page: String) -> HttpResponse {
    let mut response = Response::new(body(page));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    no_store(&mut response);
    response
}
