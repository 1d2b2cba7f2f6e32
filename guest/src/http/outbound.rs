//! A small blocking client over wasi:http/outgoing-handler: the guest has no async
//! runtime, so it waits on the host's pollables directly.

use super::{Client, HttpError, Method, Request, Response};
use crate::bindings::wasi::http::outgoing_handler;
use crate::bindings::wasi::http::types::{
    Fields, IncomingResponse, Method as WasiMethod, OutgoingBody, OutgoingRequest, Scheme,
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
            outgoing_handler::handle(outgoing, None).map_err(|e| transport(format!("{e:?}")))?;
        if let Some(body) = body {
            write_body(&body, &request.body).map_err(transport)?;
            OutgoingBody::finish(body, None).map_err(|e| transport(format!("{e:?}")))?;
        }

        let response = loop {
            match pending.get() {
                Some(Ok(Ok(response))) => break response,
                Some(Ok(Err(e))) => return Err(transport(format!("{e:?}"))),
                Some(Err(())) => return Err(transport("response already taken".into())),
                None => pending.subscribe().block(),
            }
        };
        read_response(response, max_body).map_err(transport)
    }
}

fn build(request: &Request) -> Result<OutgoingRequest, HttpError> {
    let bad_url = || HttpError::BadUrl(request.url.to_string());
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

fn write_body(body: &OutgoingBody, bytes: &[u8]) -> Result<(), String> {
    let stream: OutputStream = body
        .write()
        .map_err(|()| "request body stream unavailable")?;
    super::streams::write_all(&stream, bytes)
        .map_err(|e| stream_error("writing the request body", e))
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
        .collect();
    let incoming = response
        .consume()
        .map_err(|()| "response body unavailable")?;
    let stream: InputStream = incoming
        .stream()
        .map_err(|()| "response body stream unavailable")?;
    let mut body = Vec::new();
    while body.len() < max_body {
        let wanted = READ_CHUNK.min((max_body - body.len()) as u64);
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

fn stream_error(doing: &str, error: StreamError) -> String {
    match error {
        StreamError::Closed => format!("{doing}: stream closed"),
        StreamError::LastOperationFailed(e) => format!("{doing}: {}", e.to_debug_string()),
    }
}
