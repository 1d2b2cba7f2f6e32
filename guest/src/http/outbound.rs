//! A small blocking client over wasi:http/outgoing-handler: the guest has no async
//! runtime, so it waits on the host's pollables directly.

use super::error_code::http_error;
use super::{Client, HttpError, Method, Request, Response, body_cap};
use crate::bindings::wasi::http::outgoing_handler;
use crate::bindings::wasi::http::types::{
    ErrorCode, Fields, FutureIncomingResponse, IncomingResponse, Method as WasiMethod,
    OutgoingBody, OutgoingRequest, Scheme, http_error_code,
};
use crate::bindings::wasi::io::streams::{InputStream, OutputStream, StreamError};

/// wasi:io guarantees at most this many bytes per blocking write.
const READ_CHUNK: u64 = 64 * 1024;

pub struct WasiClient;

impl Client for WasiClient {
    fn send(&self, request: &Request, max_body: usize) -> Result<Response, HttpError> {
        let origin = request.url.origin().ascii_serialization();
        let transport = |detail: String| HttpError::Transport {
            origin: origin.clone(),
            detail,
        };

        let outgoing = build(request)?;
        // A request whose body is never taken goes out without one. Taking it for a GET
        // would send a chunked upload of nothing, and servers may drop such connections.
        let body = if request.body.is_empty() {
            None
        } else {
            Some(
                outgoing
                    .body()
                    .map_err(|()| transport("request body unavailable".into()))?,
            )
        };
        // Handing the request over first lets the host stream the body as it is
        // written, instead of buffering all of it.
        let pending =
            outgoing_handler::handle(outgoing, None).map_err(|code| http_error(&origin, &code))?;
        let sent = body.map_or(Ok(()), |body| send_body(body, &request.body));
        match (wait(&pending), sent) {
            (Some(Ok(response)), _) => read_response(response, max_body).map_err(transport),
            // A refused or failed request is dropped with its body, so a failed write tells
            // nothing by itself: the response's error code says what happened.
            (Some(Err(code)), _) => Err(http_error(&origin, &code)),
            (None, Err(detail)) => Err(transport(detail)),
            (None, Ok(())) => Err(transport("response already taken".into())),
        }
    }
}

/// The response, or the code the request failed with; `None` once it was taken.
fn wait(pending: &FutureIncomingResponse) -> Option<Result<IncomingResponse, ErrorCode>> {
    loop {
        match pending.get() {
            Some(Ok(outcome)) => return Some(outcome),
            Some(Err(())) => return None,
            None => pending.subscribe().block(),
        }
    }
}

fn build(request: &Request) -> Result<OutgoingRequest, HttpError> {
    // Named without its query (a presigned URL's signature and session token) and cut short.
    let bad_url = || {
        let mut shown = request.url.clone();
        shown.set_query(None);
        HttpError::BadUrl(crate::echo::bounded(shown.as_str(), 256))
    };
    let url = &request.url;
    let scheme = match url.scheme() {
        "http" => Scheme::Http,
        "https" => Scheme::Https,
        _ => return Err(bad_url()),
    };
    let host = url.host_str().ok_or_else(bad_url)?;
    let authority = match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    };
    let path_with_query = match url.query() {
        Some(query) => format!("{}?{query}", url.path()),
        None => url.path().to_owned(),
    };

    let mut entries: Vec<(String, Vec<u8>)> = request
        .headers
        .iter()
        .map(|(n, v)| (n.clone(), v.as_bytes().to_vec()))
        .collect();
    // Bodies are sent with a stated length (never chunked), empty ones included.
    if request.method != Method::Get && request.method != Method::Head {
        entries.push((
            "content-length".into(),
            request.body.len().to_string().into_bytes(),
        ));
    }
    let headers = Fields::from_list(&entries).map_err(|e| HttpError::Transport {
        origin: url.origin().ascii_serialization(),
        detail: format!("invalid request header: {e:?}"),
    })?;

    let outgoing = OutgoingRequest::new(headers);
    let method = match request.method {
        Method::Get => WasiMethod::Get,
        Method::Head => WasiMethod::Head,
        Method::Put => WasiMethod::Put,
        Method::Post => WasiMethod::Post,
        Method::Delete => WasiMethod::Delete,
    };
    // These setters only fail on syntactically invalid values, which `Url` rules out.
    let _ = outgoing.set_method(&method);
    let _ = outgoing.set_scheme(Some(&scheme));
    outgoing
        .set_authority(Some(&authority))
        .map_err(|()| bad_url())?;
    outgoing
        .set_path_with_query(Some(&path_with_query))
        .map_err(|()| bad_url())?;
    Ok(outgoing)
}

/// Writes and finishes the body; the error is only a description, since the response
/// future holds the real reason.
fn send_body(body: OutgoingBody, bytes: &[u8]) -> Result<(), String> {
    let stream: OutputStream = body
        .write()
        .map_err(|()| "request body stream unavailable")?;
    super::streams::write_all(&stream, bytes)
        .map_err(|e| stream_error("writing the request body", e))?;
    // The stream must be gone before the body can be finished.
    drop(stream);
    OutgoingBody::finish(body, None).map_err(|code| format!("finishing the request body: {code:?}"))
}

fn read_response(response: IncomingResponse, max_body: usize) -> Result<Response, String> {
    let status = response.status();
    let headers = response
        .headers()
        .entries()
        .into_iter()
        .map(|(name, value)| {
            (
                name.to_ascii_lowercase(),
                String::from_utf8_lossy(&value).into_owned(),
            )
        })
        .collect::<Vec<_>>();
    let cap = body_cap(status, max_body);
    let incoming = response
        .consume()
        .map_err(|()| "response body unavailable")?;
    let stream: InputStream = incoming
        .stream()
        .map_err(|()| "response body stream unavailable")?;
    let mut body = Vec::with_capacity(expected_length(&headers, cap));
    while body.len() < cap {
        let wanted = READ_CHUNK.min((cap - body.len()) as u64);
        match stream.blocking_read(wanted) {
            Ok(chunk) => body.extend_from_slice(&chunk),
            Err(StreamError::Closed) => break,
            Err(e) => return Err(stream_error("reading the response body", e)),
        }
    }
    // Dropping the stream before its end abandons the rest of the body.
    drop(stream);
    drop(incoming);
    Ok(Response {
        status,
        headers,
        body,
    })
}

/// Room for the whole body up front when its length is stated (at most `cap`): growing
/// by doubling would hold the old and the new buffer at once, twice a large object's size.
fn expected_length(headers: &[(String, String)], cap: usize) -> usize {
    headers
        .iter()
        .find(|(name, _)| name == "content-length")
        .and_then(|(_, value)| value.trim().parse::<usize>().ok())
        .map_or(0, |length| length.min(cap))
}

fn stream_error(doing: &str, error: StreamError) -> String {
    match error {
        StreamError::Closed => format!("{doing}: stream closed"),
        StreamError::LastOperationFailed(e) => match http_error_code(&e) {
            Some(code) => format!("{doing}: {code:?}"),
            None => format!("{doing}: {}", e.to_debug_string()),
        },
    }
}
