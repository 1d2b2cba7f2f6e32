//! The entry: the one HTTP request this instance serves comes in here (the export of
//! `wasi:http/incoming-handler`), is read, handed to [`mcp::handle`] with this request's
//! environment, and its reply written back. Everything else in the guest is below this.

use std::io::{self, BufWriter};

use crate::bindings::exports::wasi::http::incoming_handler::Guest;
use crate::bindings::wasi::http::types::{
    Fields, IncomingRequest, Method, OutgoingBody, OutgoingResponse, ResponseOutparam,
};
use crate::bindings::wasi::io::streams::{OutputStream, StreamError};
use crate::context::HostContext;
use crate::http::outbound::WasiClient;
use crate::http::streams::write_all;
use crate::mcp::{self, Reply, RequestHeaders};
use crate::tools::Env;

/// Large enough for a `bucket_objects_put` of several base64 items, small enough that
/// a hostile client cannot make the instance buffer without bound.
const MAX_REQUEST_BODY: usize = 32 * 1024 * 1024;
const READ_CHUNK: u64 = 64 * 1024;
/// What the response is gathered into between writes to the host: JSON is serialised in
/// small pieces, and every write is a round trip.
const WRITE_BUFFER: usize = 64 * 1024;

/// The component's export; the host calls it once per instance.
struct Component;

impl Guest for Component {
    fn handle(request: IncomingRequest, response_out: ResponseOutparam) {
        serve(request, response_out);
    }
}

crate::bindings::export!(Component with_types_in crate::bindings);

fn serve(request: IncomingRequest, response_out: ResponseOutparam) {
    let reply = match request.method() {
        Method::Post => match read_body(&request) {
            Ok(body) => {
                let env = Env {
                    context: &HostContext,
                    http: &WasiClient,
                };
                mcp::handle(&headers(&request), &body, &env)
            }
            Err(reply) => reply,
        },
        _ => Reply::text(405, "Only POST is served on this endpoint."),
    };
    respond(reply, response_out);
}

/// A value that is not UTF-8 becomes one with U+FFFD in it, which no header MCP reads
/// accepts.
fn headers(request: &IncomingRequest) -> RequestHeaders {
    RequestHeaders::new(
        request
            .headers()
            .entries()
            .into_iter()
            .map(|(name, value)| (name, String::from_utf8_lossy(&value).into_owned())),
    )
}

fn read_body(request: &IncomingRequest) -> Result<Vec<u8>, Reply> {
    let broken = || Reply::text(400, "The request body could not be read.");
    let incoming = request.consume().map_err(|()| broken())?;
    let stream = incoming.stream().map_err(|()| broken())?;
    let mut body = Vec::new();
    loop {
        match stream.blocking_read(READ_CHUNK) {
            Ok(chunk) => body.extend_from_slice(&chunk),
            Err(StreamError::Closed) => break,
            Err(StreamError::LastOperationFailed(_)) => return Err(broken()),
        }
        if body.len() > MAX_REQUEST_BODY {
            return Err(Reply::text(
                413,
                "The request body is larger than 32 MiB; send fewer or smaller items.",
            ));
        }
    }
    Ok(body)
}

fn respond(reply: Reply, response_out: ResponseOutparam) {
    let mut entries = Vec::new();
    if let Some(content_type) = reply.content_type {
        entries.push(("content-type".to_owned(), content_type.as_bytes().to_vec()));
    }
    if reply.is_tool_error() {
        let (name, value) = (
            quilt_mcp_policy::tools::OUTCOME_HEADER,
            quilt_mcp_policy::tools::TOOL_FAILED,
        );
        entries.push((name.to_owned(), value.as_bytes().to_vec()));
    }
    let Ok(headers) = Fields::from_list(&entries) else {
        return;
    };
    let response = OutgoingResponse::new(headers);
    let _ = response.set_status_code(reply.status);
    let Ok(body) = response.body() else {
        return;
    };
    ResponseOutparam::set(response_out, Ok(response));
    let Ok(stream) = body.write() else {
        return;
    };
    let written = reply
        .body
        .write_to(BufWriter::with_capacity(WRITE_BUFFER, Output(&stream)));
    // The stream must be gone before the body can be finished.
    drop(stream);
    if written.is_ok() {
        let _ = OutgoingBody::finish(body, None);
    }
    // Otherwise the client went away; nothing is left to tell it.
}

/// The response body stream as an [`io::Write`], so a reply is serialised straight into it.
struct Output<'a>(&'a OutputStream);

impl io::Write for Output<'_> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        write_all(self.0, bytes)
            .map_err(|error| io::Error::other(format!("writing the response: {error:?}")))?;
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
