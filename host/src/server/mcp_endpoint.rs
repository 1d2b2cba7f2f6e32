//! `POST /mcp`: the checks before the guest, the guest, and the request's log line.

use std::time::Instant;

use bytes::Bytes;
use http::{HeaderValue, StatusCode, header};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;

use super::App;
use super::admission::Refusal;
use super::envelope::Envelope;
use super::responses::{self, HttpResponse};
use crate::auth::{self, Caller};
use crate::sandbox::{GuestFailure, RequestScope};
use crate::untrusted::bounded;

/// Headers that carry the caller's secrets; the guest gets what was derived from them instead.
const SECRET_HEADERS: [header::HeaderName; 3] = [
    header::AUTHORIZATION,
    header::COOKIE,
    header::PROXY_AUTHORIZATION,
];

/// `host` is the request's effective host (see `host_header::effective_host`).
pub async fn handle(
    app: &App,
    request: http::Request<Incoming>,
    host: Option<String>,
) -> HttpResponse {
    let started = Instant::now();
    let request_id = uuid::Uuid::new_v4().to_string();
    let mut envelope = Envelope::default();
    let mut caller = None;
    let response =
        checked_then_run(app, request, host, &request_id, &mut envelope, &mut caller).await;
    // Every field is bounded: a client chooses the method, the tool name and (through its
    // identity provider) the subject.
    tracing::info!(
        target: "quilt_mcp::request",
        request_id,
        method = envelope.method().as_deref().unwrap_or("-"),
        tool = envelope.tool().as_deref().unwrap_or("-"),
        status = response.status().as_u16(),
        duration_ms = (started.elapsed().as_secs_f64() * 1e6).round() / 1e3,
        subject = caller.as_ref().map(|c: &Caller| bounded(&c.subject)).as_deref().unwrap_or("-"),
    );
    response
}

async fn checked_then_run(
    app: &App,
    request: http::Request<Incoming>,
    host: Option<String>,
    request_id: &str,
    envelope: &mut Envelope,
    caller_out: &mut Option<Caller>,
) -> HttpResponse {
    if let Some(host) = host
        && !app.hosts.allows(&host)
    {
        let host = bounded(&host);
        tracing::info!(target: "quilt_mcp::http", request_id, %host, "Host refused");
        return responses::forbidden_host(&host);
    }
    if let Some(origin) = request.headers().get(header::ORIGIN)
        && !origin
            .to_str()
            .is_ok_and(|origin| app.origins.allows(origin))
    {
        return responses::json(
            StatusCode::FORBIDDEN,
            &serde_json::json!({"error": "forbidden_origin", "error_description": "requests from this Origin are not allowed"}),
        );
    }

    let caller = match &app.auth {
        None => None,
        Some(authenticator) => {
            let verdict = match auth::bearer_token(request.headers().get(header::AUTHORIZATION)) {
                Ok(token) => authenticator.authenticate(token).await,
                Err(error) => Err(error),
            };
            match verdict {
                Ok(caller) => Some(caller),
                Err(error) => {
                    tracing::info!(target: "quilt_mcp::auth", request_id, reason = %error, "bearer token refused");
                    return responses::unauthorized(&error, &app.metadata_url());
                }
            }
        }
    };
    *caller_out = caller.clone();

    let (mut parts, body) = request.into_parts();
    let read = read_body(body, app.max_body_bytes, &parts.headers);
    let body = match tokio::time::timeout(app.body_timeout, read).await {
        Ok(Ok(body)) => body,
        Ok(Err(response)) => return response,
        Err(_) => return responses::body_timeout(app.body_timeout),
    };
    *envelope = match Envelope::peek(&body) {
        Ok(envelope) => envelope,
        Err(duplicate) => return responses::invalid_request(&duplicate.to_string()),
    };

    for name in SECRET_HEADERS {
        parts.headers.remove(name);
    }
    if !parts.headers.contains_key(header::HOST) {
        parts
            .headers
            .insert(header::HOST, HeaderValue::from_static("localhost"));
    }

    let ticket = match app.admission.admit(caller.as_ref().map(Caller::key)).await {
        Ok(ticket) => ticket,
        Err(refusal) => {
            tracing::info!(target: "quilt_mcp::admission", request_id, %refusal, "request not admitted");
            let status = match refusal {
                Refusal::CallerBusy(_) => StatusCode::TOO_MANY_REQUESTS,
                Refusal::ServerBusy => StatusCode::SERVICE_UNAVAILABLE,
            };
            return responses::retry_later(status, &envelope.id, &refusal.to_string());
        }
    };
    let scope = RequestScope::new(app.deployment.clone(), caller);
    let request = http::Request::from_parts(parts, body);
    match app.sandbox.handle(request, scope, request_id, ticket).await {
        Ok(response) => response,
        Err(failure) => {
            // The log gets the whole failure (a trap's wasm backtrace); the client a short
            // message with the request id to quote.
            tracing::warn!(target: "quilt_mcp::guest", request_id, %failure, "guest produced no response");
            let status = match failure {
                GuestFailure::Trapped(_) | GuestFailure::ResponseTooLarge(_) => {
                    StatusCode::INTERNAL_SERVER_ERROR
                }
                GuestFailure::TimedOut(_) => StatusCode::GATEWAY_TIMEOUT,
                GuestFailure::Overloaded => StatusCode::SERVICE_UNAVAILABLE,
            };
            let message = failure.client_message(request_id);
            responses::jsonrpc_error(status, &envelope.id, &message)
        }
    }
}

async fn read_body(
    body: Incoming,
    limit: usize,
    headers: &http::HeaderMap,
) -> Result<Bytes, HttpResponse> {
    let too_large = || {
        responses::json(
            StatusCode::PAYLOAD_TOO_LARGE,
            &serde_json::json!({"error": "payload_too_large", "error_description": format!("request bodies are limited to {limit} bytes")}),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit as u64) {
        return Err(too_large());
    }
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(error) if error.is::<http_body_util::LengthLimitError>() => Err(too_large()),
        Err(_) => Err(responses::json(
            StatusCode::BAD_REQUEST,
            &serde_json::json!({"error": "bad_request", "error_description": "the request body could not be read"}),
        )),
    }
}
