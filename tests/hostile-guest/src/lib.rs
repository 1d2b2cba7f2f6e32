//! A guest that misbehaves on request, built against the same WIT world as the real
//! tools guest, so the end-to-end tests can prove what the host contains: traps,
//! endless loops, memory exhaustion, state leaking between requests, egress outside
//! the allow-list, and headers that must never reach a guest.
//!
//! It reads one JSON-RPC request and acts on its `method`; every answer it manages
//! to give is HTTP 200 with `{"jsonrpc":"2.0","id":..,"result":{..}}`.

use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{Value, json};

wit_bindgen::generate!({
    path: "../../wit",
    world: "quilt:mcp/guest",
    generate_all,
});

use exports::wasi::http::incoming_handler::Guest;
use quilt::mcp::request_context;
use wasi::http::outgoing_handler;
use wasi::http::types::{
    Fields, IncomingRequest, Method, OutgoingBody, OutgoingRequest, OutgoingResponse,
    ResponseOutparam, Scheme,
};
use wasi::io::streams::StreamError;

/// Written by `global_write`, read by `global_read`: a fresh instance per request
/// means a read must always see 0, whatever an earlier request wrote.
static COUNTER: AtomicU64 = AtomicU64::new(0);

struct HostileGuest;

impl Guest for HostileGuest {
    fn handle(request: IncomingRequest, response_out: ResponseOutparam) {
        let headers = received_headers(&request);
        let message: Value = serde_json::from_slice(&read_body(request)).unwrap_or(Value::Null);
        let params = &message["params"];
        let method = message["method"].as_str().unwrap_or_default();
        // The host logs guest stderr: tests look for this line to tell whether a
        // request reached the guest at all.
        eprintln!("hostile-guest handling {method}");
        let result = match method {
            "trap" => panic!("hostile guest: trap requested"),
            "loop" => spin_forever(),
            "alloc" => exhaust_memory(),
            "hold" => hold_memory(params["mib"].as_u64().unwrap_or(1) as usize),
            "recurse" => json!({"depth": recurse(0)}),
            "huge_response" => {
                // Many MiB of JSON: more than a host with a small --max-response-bytes passes on.
                let mib = params["mib"].as_u64().unwrap_or(8) as usize;
                json!({"padding": "x".repeat(mib << 20)})
            }
            "global_write" => {
                COUNTER.store(params["value"].as_u64().unwrap_or(1), Ordering::SeqCst);
                json!({"counter": COUNTER.load(Ordering::SeqCst)})
            }
            "global_read" => json!({"counter": COUNTER.load(Ordering::SeqCst)}),
            "fetch" => fetch(
                params["url"].as_str().unwrap_or_default(),
                params["authorization"].as_str(),
            ),
            "catalog" => catalog(),
            "whoami" => whoami(),
            "credentials" => credentials(),
            "grant" => {
                let grant = request_context::get_grant();
                json!({"tools": grant.tools, "bucket": grant.bucket})
            }
            "whoami_slow" => whoami_slow(
                params["hold_ms"].as_u64().unwrap_or(300),
                params["signal_url"].as_str(),
            ),
            "headers" => json!({"headers": headers}),
            "read_file" => read_file(params["path"].as_str().unwrap_or_default()),
            "list_dir" => list_dir(params["path"].as_str().unwrap_or_default()),
            "write_file" => write_file(params["path"].as_str().unwrap_or_default()),
            "environment" => json!({
                "vars": std::env::vars().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>(),
                "args": std::env::args().collect::<Vec<_>>(),
                "current_dir": std::env::current_dir().ok().map(|d| d.display().to_string()),
            }),
            other => json!({"unknown_method": other}),
        };
        let reply = json!({"jsonrpc": "2.0", "id": message["id"], "result": result});
        respond(
            response_out,
            &serde_json::to_vec(&reply).expect("JSON encodes"),
        );
    }
}

fn spin_forever() -> ! {
    let mut spins: u64 = 0;
    loop {
        // black_box keeps the loop from being optimised into something else.
        spins = std::hint::black_box(spins.wrapping_add(1));
    }
}

/// Recurses until the wasm stack overflows (each frame keeps a buffer alive).
#[expect(unconditional_recursion, reason = "overflowing the stack is the point")]
fn recurse(depth: u64) -> u64 {
    let frame = std::hint::black_box([depth; 64]);
    recurse(depth + 1) + frame[(depth % 64) as usize]
}

/// Grows the heap a MiB at a time until an allocation fails, which aborts (traps).
fn exhaust_memory() -> ! {
    let mut hoard: Vec<Vec<u8>> = Vec::new();
    loop {
        hoard.push(std::hint::black_box(vec![1u8; 1 << 20]));
    }
}

/// Holds `mib` MiB at once, every page written, and answers: the size a memory cap must
/// allow or refuse, unlike `alloc`, which fails under any cap.
fn hold_memory(mib: usize) -> Value {
    let hoard: Vec<Vec<u8>> = (0..mib)
        .map(|index| std::hint::black_box(vec![index as u8 | 1; 1 << 20]))
        .collect();
    let checksum: u64 = hoard
        .iter()
        .map(|chunk| u64::from(chunk[chunk.len() / 2]))
        .sum();
    json!({"held_mib": hoard.len(), "checksum": checksum})
}

/// An outgoing GET, with an `Authorization` header when given; returns the status, or the
/// wasi:http error code as text.
fn fetch(target: &str, authorization: Option<&str>) -> Value {
    let url = match url::Url::parse(target) {
        Ok(url) => url,
        Err(error) => return json!({"error": format!("bad url {target:?}: {error}")}),
    };
    let headers = authorization
        .map(|value| vec![("Authorization".to_string(), value.as_bytes().to_vec())])
        .unwrap_or_default();
    let Ok(headers) = Fields::from_list(&headers) else {
        return json!({"error": "the authorization value is not a valid header"});
    };
    let request = OutgoingRequest::new(headers);
    let scheme = if url.scheme() == "https" {
        Scheme::Https
    } else {
        Scheme::Http
    };
    let authority = match url.port_or_known_default() {
        Some(port) => format!("{}:{port}", url.host_str().unwrap_or_default()),
        None => url.host_str().unwrap_or_default().to_string(),
    };
    let path_and_query = match url.query() {
        Some(query) => format!("{}?{query}", url.path()),
        None => url.path().to_string(),
    };
    let setters_ok = request.set_method(&Method::Get).is_ok()
        && request.set_scheme(Some(&scheme)).is_ok()
        && request.set_authority(Some(&authority)).is_ok()
        && request.set_path_with_query(Some(&path_and_query)).is_ok();
    if !setters_ok {
        return json!({"error": format!("could not build a request for {target}")});
    }
    let pending = match outgoing_handler::handle(request, None) {
        Ok(pending) => pending,
        Err(code) => return json!({"error": format!("{code:?}")}),
    };
    pending.subscribe().block();
    match pending.get() {
        Some(Ok(Ok(response))) => json!({"status": response.status()}),
        Some(Ok(Err(code))) => json!({"error": format!("{code:?}")}),
        other => json!({"error": format!("no response: {other:?}")}),
    }
}

/// What get-registry-access hands over; of the bearer only whether it came and its length, so
/// no token ends up in a reply or a log.
fn catalog() -> Value {
    let catalog = request_context::get_registry_access();
    json!({
        "catalog_url": catalog.catalog_url,
        "registry_url": catalog.registry_url,
        "buckets": catalog.buckets,
        "bearer": catalog.bearer.is_some(),
        "bearer_length": catalog.bearer.map(|bearer| bearer.len()),
    })
}

fn whoami() -> Value {
    let caller = request_context::get_caller().map(|caller| {
        json!({"subject": caller.subject, "issuer": caller.issuer, "claims": caller.claims})
    });
    let access_key_id = match request_context::get_aws_credentials() {
        Ok(credentials) => json!(credentials.access_key_id),
        Err(error) => json!({"error": format!("{error:?}")}),
    };
    json!({"caller": caller, "access_key_id": access_key_id})
}

/// The whole credentials the host derived for this request, as a guest that meant to misuse
/// them (presign a request its grant does not allow, hand them out) would have them.
fn credentials() -> Value {
    match request_context::get_aws_credentials() {
        Ok(keys) => json!({
            "access_key_id": keys.access_key_id,
            "secret_access_key": keys.secret_access_key,
            "session_token": keys.session_token,
        }),
        Err(error) => json!({"error": format!("{error:?}")}),
    }
}

/// `whoami` held open between reading the caller and reading the rest, so that concurrent
/// requests overlap inside the host; the wall-clock times let a test prove they did. With
/// `signal_url`, a GET to it first tells the test this request is inside the guest.
fn whoami_slow(hold_ms: u64, signal_url: Option<&str>) -> Value {
    let started_ms = unix_millis();
    let subject_before_hold = request_context::get_caller().map(|caller| caller.subject);
    let signal = signal_url.map(|url| fetch(url, None));
    wasi::clocks::monotonic_clock::subscribe_duration(hold_ms * 1_000_000).block();
    let mut answer = whoami();
    answer["subject_before_hold"] = json!(subject_before_hold);
    answer["signal"] = json!(signal);
    answer["started_ms"] = json!(started_ms);
    answer["finished_ms"] = json!(unix_millis());
    answer
}

fn unix_millis() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_millis() as u64)
}

fn received_headers(request: &IncomingRequest) -> Vec<(String, String)> {
    request
        .headers()
        .entries()
        .into_iter()
        .map(|(name, value)| (name, String::from_utf8_lossy(&value).into_owned()))
        .collect()
}

fn read_body(request: IncomingRequest) -> Vec<u8> {
    let mut body = Vec::new();
    let Ok(incoming) = request.consume() else {
        return body;
    };
    let Ok(stream) = incoming.stream() else {
        return body;
    };
    loop {
        match stream.blocking_read(64 * 1024) {
            Ok(chunk) => body.extend_from_slice(&chunk),
            Err(StreamError::Closed) => return body,
            Err(StreamError::LastOperationFailed(_)) => return body,
        }
    }
}

fn respond(response_out: ResponseOutparam, body: &[u8]) {
    let headers = Fields::from_list(&[("content-type".to_string(), b"application/json".to_vec())])
        .expect("valid header");
    let response = OutgoingResponse::new(headers);
    let outgoing = response.body().expect("body taken once");
    ResponseOutparam::set(response_out, Ok(response));
    let stream = outgoing.write().expect("stream taken once");
    // wasi:io allows at most 4096 bytes per blocking_write_and_flush.
    for chunk in body.chunks(4096) {
        stream
            .blocking_write_and_flush(chunk)
            .expect("response written");
    }
    drop(stream);
    OutgoingBody::finish(outgoing, None).expect("response finished");
}

export!(HostileGuest);

/// Each filesystem attempt reports what it got, so the tests can tell "refused" from "empty".
fn read_file(path: &str) -> Value {
    match std::fs::read(path) {
        Ok(bytes) => json!({"read": bytes.len()}),
        Err(error) => json!({"error": error.to_string()}),
    }
}

fn list_dir(path: &str) -> Value {
    match std::fs::read_dir(path) {
        Ok(entries) => {
            json!({"entries": entries.filter_map(Result::ok).map(|e| e.path().display().to_string()).collect::<Vec<_>>()})
        }
        Err(error) => json!({"error": error.to_string()}),
    }
}

fn write_file(path: &str) -> Value {
    match std::fs::write(path, b"written by a hostile guest") {
        Ok(()) => json!({"written": true}),
        Err(error) => json!({"error": error.to_string()}),
    }
}
