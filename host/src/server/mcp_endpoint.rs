//! `POST /mcp` (and its narrowed views, `/mcp/readonly` and the like): the checks before the
//! guest, then the guest, each recording what it learns on the request's log line.
//!
//! A check that refuses returns the response to send instead, as its `Err`.
#![allow(
    clippy::result_large_err,
    reason = "a refusal is the response itself, answered at once: boxing it buys nothing"
)]

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http::{HeaderValue, StatusCode, header};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use quilt_mcp_policy::tools;
use serde_json::Value;
use tracing::Instrument;

use super::admission::{Refusal, Ticket};
use super::envelope::Envelope;
use super::responses::{self, HttpResponse};
use super::{App, held_body, request_line};
use crate::access::{Grant, Narrowing, Refusal as AccessRefusal};
use crate::audit::{AuditLog, ToolCall, Touched};
use crate::auth::{self, Caller};
use crate::metrics::labels::Outcome;
use crate::metrics::metrics;
use crate::sandbox::{GuestFailure, RequestScope};
use crate::untrusted::bounded;

/// Headers that carry the caller's secrets; the guest gets what was derived from them instead.
const SECRET_HEADERS: [header::HeaderName; 3] = [
    header::AUTHORIZATION,
    header::COOKIE,
    header::PROXY_AUTHORIZATION,
];

/// `host` is the request's effective host (see `host_header::effective_host`); `connection`
/// what its path narrowed. The request's log line is its span's (see `request_line`).
pub async fn handle(
    app: &App,
    request: http::Request<Incoming>,
    host: Option<String>,
    connection: Narrowing,
) -> HttpResponse {
    let request_id = uuid::Uuid::new_v4().to_string();
    let arrived = Instant::now();
    async {
        let mut seen = Seen::default();
        let mut response = checked_then_run(app, request, host, connection, &request_id, &mut seen)
            .await
            .unwrap_or_else(|refused| refused);
        tracing::Span::current().record("status", response.status().as_u16());
        // The guest's word that its tool failed is for the host alone.
        let tool_failed = response
            .headers_mut()
            .remove(tools::OUTCOME_HEADER)
            .is_some_and(|value| value == tools::TOOL_FAILED);
        let outcome = Outcome::of(response.status(), seen.guest_ran, tool_failed);
        let took = arrived.elapsed();
        metrics().request(seen.method.as_deref(), seen.tool.as_deref(), outcome, took);
        if let (Some(audit), Some(tool)) = (&app.audit, seen.tool.as_deref()) {
            audit.write(&ToolCall {
                request_id: &request_id,
                subject: seen.subject.as_deref(),
                issuer: seen.issuer.as_deref(),
                client_id: seen.client_id.as_deref(),
                tool,
                outcome: outcome.name(),
                status: response.status().as_u16(),
                took,
                touched: seen.touched.as_deref(),
                arguments: seen.arguments.as_ref(),
            });
        }
        response
    }
    .instrument(request_line::span(&request_id))
    .await
}

/// What the checks learnt of a request, for its metrics and audit event.
#[derive(Default)]
struct Seen {
    method: Option<String>,
    tool: Option<String>,
    guest_ran: bool,
    subject: Option<String>,
    issuer: Option<String>,
    client_id: Option<String>,
    touched: Option<Arc<Touched>>,
    /// Only when the audit log records arguments.
    arguments: Option<Value>,
}

/// Every check, in order, then the guest; a check that fails answers in its stead.
async fn checked_then_run(
    app: &App,
    request: http::Request<Incoming>,
    host: Option<String>,
    connection: Narrowing,
    request_id: &str,
    seen: &mut Seen,
) -> Result<HttpResponse, HttpResponse> {
    check_host(app, host.as_deref(), request_id)?;
    check_origin(app, request.headers())?;
    let connection = connection
        .with_headers(request.headers())
        .map_err(|wrong| responses::bad_request(&wrong.to_string()))?;
    let caller = authenticate(app, request.headers(), &connection, request_id).await?;
    if let Some(caller) = &caller {
        seen.subject = Some(caller.subject.clone());
        seen.issuer = Some(caller.issuer.clone());
        seen.client_id = ["client_id", "azp"]
            .into_iter()
            .find_map(|claim| caller.token.claim(claim)?.as_str().map(str::to_owned));
    }
    let (mut parts, body) = request.into_parts();
    let (body, envelope) = read_envelope(app, body, &parts.headers).await?;
    seen.method = envelope.method();
    seen.tool = envelope.called_tool().map(str::to_owned);
    if seen.tool.is_some() && app.audit.as_ref().is_some_and(AuditLog::with_arguments) {
        seen.arguments = serde_json::from_slice::<Value>(&body)
            .ok()
            .and_then(|mut message| {
                message
                    .get_mut("params")?
                    .get_mut("arguments")
                    .map(Value::take)
            });
    }
    let grant = app.access.grant(caller.as_ref(), &connection);
    check_scope(app, &grant, &envelope, request_id)?;
    for_the_guest(&mut parts.headers, host);
    let ticket = admit(app, caller.as_ref(), &envelope.id, request_id).await?;
    let scope = RequestScope::new(app.deployment.clone(), caller, grant);
    seen.touched = Some(scope.touched());
    let request = http::Request::from_parts(parts, body);
    seen.guest_ran = true;
    Ok(run(app, request, scope, ticket, &envelope.id, request_id).await)
}

fn check_host(app: &App, host: Option<&str>, request_id: &str) -> Result<(), HttpResponse> {
    match host {
        Some(host) if !app.hosts.allows(host) => {
            let host = bounded(host);
            tracing::info!(target: "quilt_mcp::http", request_id, %host, "Host refused");
            Err(responses::forbidden_host(&host))
        }
        _ => Ok(()),
    }
}

fn check_origin(app: &App, headers: &http::HeaderMap) -> Result<(), HttpResponse> {
    match headers.get(header::ORIGIN) {
        Some(origin)
            if !origin
                .to_str()
                .is_ok_and(|origin| app.origins.allows(origin)) =>
        {
            Err(responses::json(
                StatusCode::FORBIDDEN,
                &serde_json::json!({"error": "forbidden_origin", "error_description": "requests from this Origin are not allowed"}),
            ))
        }
        _ => Ok(()),
    }
}

/// The verified caller (none under `--no-auth`), recorded as the line's subject. A refusal's
/// challenge asks for the scopes of what `connection` offers.
async fn authenticate(
    app: &App,
    headers: &http::HeaderMap,
    connection: &Narrowing,
    request_id: &str,
) -> Result<Option<Caller>, HttpResponse> {
    let Some(authenticator) = &app.auth else {
        return Ok(None);
    };
    let verdict = match auth::bearer_token(headers.get(header::AUTHORIZATION)) {
        Ok(token) => authenticator.authenticate(token).await,
        Err(error) => Err(error),
    };
    match verdict {
        Ok(caller) => {
            tracing::Span::current().record("subject", bounded(&caller.subject).as_str());
            Ok(Some(caller))
        }
        Err(error) => {
            tracing::info!(target: "quilt_mcp::auth", request_id, reason = %error, "bearer token refused");
            let scopes = app.access.scopes_to_ask(connection).join(" ");
            Err(responses::unauthorized(
                &error,
                &scopes,
                &app.metadata_url(),
            ))
        }
    }
}

/// A `tools/call` the token's scopes do not cover is answered with the scope challenge
/// (403 `insufficient_scope`) before any guest runs, so the client can re-authorize and retry.
fn check_scope(
    app: &App,
    grant: &Grant,
    envelope: &Envelope,
    request_id: &str,
) -> Result<(), HttpResponse> {
    let Some(tool) = envelope.called_tool() else {
        return Ok(());
    };
    match grant.check_call(tool) {
        Ok(()) => Ok(()),
        Err(AccessRefusal::InsufficientScope { needs }) => {
            let scopes = app.access.scope_names().of(needs).join(" ");
            tracing::info!(target: "quilt_mcp::auth", request_id, scopes, "scope challenge");
            Err(responses::insufficient_scope(
                &scopes,
                &envelope.tool().unwrap_or_default(),
                &app.metadata_url(),
            ))
        }
    }
}

/// The whole body, within the size and time limits, and its JSON-RPC envelope, whose method
/// and tool are recorded on the line.
async fn read_envelope(
    app: &App,
    body: Incoming,
    headers: &http::HeaderMap,
) -> Result<(Bytes, Envelope), HttpResponse> {
    let read = read_body(body, app.max_body_bytes, headers);
    let body = match tokio::time::timeout(app.body_timeout, read).await {
        Ok(read) => read?,
        Err(_) => return Err(responses::body_timeout(app.body_timeout)),
    };
    let envelope = Envelope::peek(&body)
        .map_err(|duplicate| responses::invalid_request(&duplicate.to_string()))?;
    let line = tracing::Span::current();
    line.record("method", envelope.method().as_deref());
    line.record("tool", envelope.tool().as_deref());
    Ok((body, envelope))
}

/// The headers the guest gets: no secrets, and the host that was checked — an absolute-form
/// target's authority replaces the `Host` header (RFC 9112 §3.2.2); a request with neither is
/// for localhost.
fn for_the_guest(headers: &mut http::HeaderMap, host: Option<String>) {
    for name in SECRET_HEADERS {
        headers.remove(name);
    }
    let host = host
        .and_then(|host| HeaderValue::from_str(&host).ok())
        .unwrap_or(HeaderValue::from_static("localhost"));
    headers.insert(header::HOST, host);
}

async fn admit(
    app: &App,
    caller: Option<&Caller>,
    id: &Value,
    request_id: &str,
) -> Result<Arc<Ticket>, HttpResponse> {
    match app.admission.admit(caller.map(Caller::key)).await {
        Ok(ticket) => Ok(Arc::new(ticket)),
        Err(refusal) => {
            tracing::info!(target: "quilt_mcp::admission", request_id, %refusal, "request not admitted");
            let (status, event) = match refusal {
                Refusal::CallerBusy(_) => (StatusCode::TOO_MANY_REQUESTS, "caller_busy"),
                Refusal::ServerBusy => (StatusCode::SERVICE_UNAVAILABLE, "server_busy"),
            };
            metrics().admission_refused(event);
            Err(responses::retry_later(status, id, &refusal.to_string()))
        }
    }
}

async fn run(
    app: &App,
    request: http::Request<Bytes>,
    scope: RequestScope,
    ticket: Arc<Ticket>,
    id: &Value,
    request_id: &str,
) -> HttpResponse {
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
            responses::jsonrpc_error(status, id, &failure.client_message(request_id))
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
