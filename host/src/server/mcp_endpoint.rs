//! `POST /mcp`: the checks before the guest, the guest, and the request's log line.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http::{HeaderValue, StatusCode, header};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;

use super::admission::Refusal;
use super::envelope::Envelope;
use super::responses::{self, HttpResponse};
use super::{App, held_body};
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
    let mut line = RequestLine::new();
    let response = checked_then_run(app, request, host, &mut line).await;
    line.status = Some(response.status().as_u16());
    response
}

/// The request's one log line, written when the request is over — also when the client went
/// away first (status 499), since the tool it called may still be running.
struct RequestLine {
    started: Instant,
    request_id: String,
    envelope: Envelope,
    caller: Option<Caller>,
    status: Option<u16>,
}

impl RequestLine {
    fn new() -> Self {
        Self {
            started: Instant::now(),
            request_id: uuid::Uuid::new_v4().to_string(),
            envelope: Envelope::default(),
            caller: None,
            status: None,
        }
    }
}

impl Drop for RequestLine {
    fn drop(&mut self) {
        // Every field is bounded: a client chooses the method, the tool name and (through
        // its identity provider) the subject.
        tracing::info!(
            target: "quilt_mcp::request",
            request_id = self.request_id,
            method = self.envelope.method().as_deref().unwrap_or("-"),
            tool = self.envelope.tool().as_deref().unwrap_or("-"),
            status = self.status.unwrap_or(CLIENT_CLOSED_REQUEST),
            duration_ms = (self.started.elapsed().as_secs_f64() * 1e6).round() / 1e3,
            subject = self.caller.as_ref().map(|c| bounded(&c.subject)).as_deref().unwrap_or("-"),
        );
    }
}

/// nginx's status for a request whose client closed the connection before the answer.
const CLIENT_CLOSED_REQUEST: u16 = 499;

async fn checked_then_run(
    app: &App,
    request: http::Request<Incoming>,
    host: Option<String>,
    line: &mut RequestLine,
) -> HttpResponse {
    let request_id = line.request_id.clone();
    let request_id = request_id.as_str();
    if let Some(host) = &host
        && !app.hosts.allows(host)
    {
        let host = bounded(host);
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
    line.caller = caller.clone();

    let (mut parts, body) = request.into_parts();
    let read = read_body(body, app.max_body_bytes, &parts.headers);
    let body = match tokio::time::timeout(app.body_timeout, read).await {
        Ok(Ok(body)) => body,
        Ok(Err(response)) => return response,
        Err(_) => return responses::body_timeout(app.body_timeout),
    };
    line.envelope = match Envelope::peek(&body) {
        Ok(envelope) => envelope,
        Err(duplicate) => return responses::invalid_request(&duplicate.to_string()),
    };
    let id = line.envelope.id.clone();

    for name in SECRET_HEADERS {
        parts.headers.remove(name);
    }
    // The guest sees the host that was checked: an absolute-form target's authority replaces
    // the `Host` header (RFC 9112 §3.2.2); a request with neither is for localhost.
    let host = host
        .and_then(|host| HeaderValue::from_str(&host).ok())
        .unwrap_or(HeaderValue::from_static("localhost"));
    parts.headers.insert(header::HOST, host);

    let ticket = match app.admission.admit(caller.as_ref().map(Caller::key)).await {
        Ok(ticket) => Arc::new(ticket),
        Err(refusal) => {
            tracing::info!(target: "quilt_mcp::admission", request_id, %refusal, "request not admitted");
            let status = match refusal {
                Refusal::CallerBusy(_) => StatusCode::TOO_MANY_REQUESTS,
                Refusal::ServerBusy => StatusCode::SERVICE_UNAVAILABLE,
            };
            return responses::retry_later(status, &id, &refusal.to_string());
        }
    };
    let scope = RequestScope::new(app.deployment.clone(), caller);
    let request = http::Request::from_parts(parts, body);
    match app
        .sandbox
        .handle(request, scope, request_id, ticket.clone())
        .await
    {
        // The ticket is held until the response is written too: a buffered response counts
        // against its caller's share until the client has read it.
        Ok(response) => response.map(|body| held_body::holding(body, ticket)),
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
            responses::jsonrpc_error(status, &id, &message)
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
