//! Which failures are sent again, counted on a fake client.

use super::error_code::http_error;
use super::{HttpError, MAX_ERROR_BODY, Method, Request, Response, body_cap, send_idempotent};
use crate::bindings::wasi::http::types::ErrorCode;
use crate::testing::{FakeHttp, response};

const RETRIES: usize = 3;

fn put() -> Request {
    Request {
        method: Method::Put,
        url: "http://s3.example/bucket/key".parse().unwrap(),
        headers: Vec::new(),
        body: b"data".to_vec(),
    }
}

/// What `send_idempotent` returned and how many requests it sent, to a server that fails
/// with `codes` in turn and then answers 200.
fn outcome(codes: Vec<ErrorCode>) -> (Result<Response, HttpError>, usize) {
    let mut script: Vec<_> = codes
        .iter()
        .map(|code| Err(http_error("http://s3.example", code)))
        .collect();
    script.push(Ok(response(200, &[], b"")));
    let client = FakeHttp::scripted(script);
    let result = send_idempotent(&client, &put(), 0, RETRIES);
    (result, client.sends())
}

#[test]
fn a_denied_request_is_sent_once() {
    let (result, sends) = outcome(vec![ErrorCode::HttpRequestDenied; 4]);
    assert_eq!(sends, 1);
    assert!(
        matches!(result, Err(HttpError::Denied { .. })),
        "{result:?}"
    );
}

#[test]
fn a_refused_connection_is_not_sent_again() {
    let (result, sends) = outcome(vec![ErrorCode::ConnectionRefused; 4]);
    assert_eq!(sends, 1);
    assert!(
        matches!(result, Err(HttpError::Transport { .. })),
        "{result:?}"
    );
}

#[test]
fn a_lost_connection_is_sent_again_until_it_works() {
    let (result, sends) = outcome(vec![
        ErrorCode::ConnectionTerminated,
        ErrorCode::HttpProtocolError,
    ]);
    assert_eq!(sends, 3);
    assert_eq!(result.unwrap().status, 200);
}

#[test]
fn lost_connections_are_sent_again_at_most_retries_times() {
    let (result, sends) = outcome(vec![ErrorCode::ConnectionTerminated; 10]);
    assert_eq!(sends, 1 + RETRIES);
    assert!(
        matches!(result, Err(HttpError::ConnectionLost { .. })),
        "{result:?}"
    );
}

#[test]
fn error_bodies_are_read_to_a_small_cap_whatever_the_success_cap() {
    let large = 16 * 1024 * 1024;
    assert_eq!(body_cap(200, large), large);
    assert_eq!(body_cap(206, large), large);
    for status in [301, 403, 404, 416, 500, 503] {
        assert_eq!(body_cap(status, large), MAX_ERROR_BODY, "{status}");
    }
    assert_eq!(body_cap(404, 0), 0, "a HEAD reads no body");
    assert_eq!(body_cap(404, 100), 100, "never more than asked for");
}
