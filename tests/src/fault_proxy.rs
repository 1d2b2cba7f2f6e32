//! A fault-injecting HTTP proxy for the reliability trials (`tests/tests/e2e/faults.rs`). It
//! stands where the host believes S3 or the registry is, forwards each request unchanged — the
//! `Host` header included, so SigV4 signatures still verify upstream — and damages the answer
//! as the trial says: late, a 5xx of its own, cut off mid-body by a TCP reset, complete but
//! with its body cut short, or trickled a byte at a time.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Result;
use bytes::Bytes;
use futures::StreamExt;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::header::{CONNECTION, CONTENT_LENGTH, HeaderValue, TRANSFER_ENCODING};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

type Body = UnsyncBoxBody<Bytes, std::io::Error>;

/// What happens to each answer while the fault is set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Forwarded as it came.
    None,
    /// Forwarded after this long.
    Latency(Duration),
    /// Not forwarded: this status with an S3-style XML error of the proxy's own
    /// (`SlowDown` for 503, `InternalError` otherwise).
    Status(u16),
    /// The headers and half the body, then a TCP reset.
    ResetMidBody,
    /// A complete response whose body is the first half of the real one (Content-Length
    /// says so): a listing's XML cut off mid-element.
    TruncatedBody,
    /// The body one byte at a time, this long apart.
    Trickle(Duration),
}

pub struct FaultProxy {
    address: SocketAddr,
    state: Arc<State>,
    accept_loop: JoinHandle<()>,
}

struct State {
    upstream: String,
    fault: Mutex<Fault>,
    damaged: AtomicUsize,
    http: reqwest::Client,
}

impl FaultProxy {
    /// A proxy on a free loopback port in front of `upstream` (`http://host:port`).
    pub async fn start(upstream: &str) -> Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let state = Arc::new(State {
            upstream: upstream.trim_end_matches('/').to_owned(),
            fault: Mutex::new(Fault::None),
            damaged: AtomicUsize::new(0),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .no_proxy()
                .build()?,
        });
        let accept_loop = tokio::spawn(accept_connections(listener, state.clone()));
        Ok(Self {
            address,
            state,
            accept_loop,
        })
    }

    /// `http://127.0.0.1:PORT`, for the host's endpoint flag.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// The fault for every answer from now on.
    pub fn set(&self, fault: Fault) {
        *self.state.fault.lock().expect("not poisoned") = fault;
    }

    /// How many answers a fault has changed so far.
    pub fn damaged(&self) -> usize {
        self.state.damaged.load(Ordering::Relaxed)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.accept_loop.abort();
    }
}

async fn accept_connections(listener: TcpListener, state: Arc<State>) {
    while let Ok((stream, _)) = listener.accept().await {
        let state = state.clone();
        let socket = stream.as_raw_fd();
        tokio::spawn(async move {
            let service = service_fn(move |request: Request<Incoming>| {
                let state = state.clone();
                async move { Ok::<_, Infallible>(state.answer(request, socket).await) }
            });
            // A cut-off answer ends the connection with an error: that is the point.
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// Makes closing `socket` send RST, not FIN: what a crashed or cut-off server does.
fn reset_on_close(socket: RawFd) {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: setsockopt on a socket the connection task still owns (it is closed only after
    // this answer), with a correctly sized value.
    unsafe {
        libc::setsockopt(
            socket,
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            std::ptr::from_ref(&linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
    }
}

impl State {
    fn fault(&self) -> Fault {
        *self.fault.lock().expect("not poisoned")
    }

    async fn answer(&self, request: Request<Incoming>, socket: RawFd) -> Response<Body> {
        let fault = self.fault();
        if let Fault::Status(status) = fault {
            self.damaged.fetch_add(1, Ordering::Relaxed);
            return s3_error(status);
        }
        let head = request.method() == Method::HEAD;
        let (status, mut headers, body) = match self.forward(request).await {
            Ok(answer) => answer,
            Err(error) => return text(StatusCode::BAD_GATEWAY, &format!("fault proxy: {error}")),
        };
        headers.remove(TRANSFER_ENCODING);
        headers.remove(CONNECTION);
        let (damaged, body) = match fault {
            Fault::Latency(delay) => {
                // Counted before the wait: the caller may give up during it.
                self.damaged.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(delay).await;
                (false, full(body))
            }
            _ if head || body.is_empty() => (false, full(body)),
            Fault::ResetMidBody => {
                reset_on_close(socket);
                let half = body.slice(..body.len() / 2);
                // The pause lets the head and the first half reach the client before the reset.
                let cut = futures::stream::iter([Ok(Frame::data(half)), Err(())]).then(
                    |frame| async move {
                        match frame {
                            Ok(frame) => Ok(frame),
                            Err(()) => {
                                tokio::time::sleep(Duration::from_millis(200)).await;
                                Err(std::io::Error::other("fault proxy: reset mid-body"))
                            }
                        }
                    },
                );
                (true, StreamBody::new(cut).boxed_unsync())
            }
            Fault::TruncatedBody => {
                let half = body.slice(..body.len() / 2);
                headers.insert(CONTENT_LENGTH, HeaderValue::from(half.len()));
                (true, full(half))
            }
            Fault::Trickle(interval) => {
                let bytes = futures::stream::iter((0..body.len()).map(move |i| body.slice(i..=i)))
                    .then(move |byte| async move {
                        tokio::time::sleep(interval).await;
                        Ok(Frame::data(byte))
                    });
                (true, StreamBody::new(bytes).boxed_unsync())
            }
            Fault::None | Fault::Status(_) => (false, full(body)),
        };
        if damaged {
            self.damaged.fetch_add(1, Ordering::Relaxed);
        }
        let mut response = Response::new(body);
        *response.status_mut() = status;
        *response.headers_mut() = headers;
        response
    }

    /// Sends the request upstream as it came and reads the whole answer.
    async fn forward(
        &self,
        request: Request<Incoming>,
    ) -> Result<(StatusCode, hyper::HeaderMap, Bytes)> {
        let (parts, body) = request.into_parts();
        let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        let mut headers = parts.headers;
        headers.remove(CONNECTION);
        let body = body.collect().await?.to_bytes();
        let answer = self
            .http
            .request(parts.method, format!("{}{path}", self.upstream))
            .headers(headers)
            .body(body)
            .send()
            .await?;
        let status = answer.status();
        let headers = answer.headers().clone();
        Ok((status, headers, answer.bytes().await?))
    }
}

fn s3_error(status: u16) -> Response<Body> {
    let code = if status == 503 {
        "SlowDown"
    } else {
        "InternalError"
    };
    let xml = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>injected by the fault proxy</Message></Error>"
    );
    let mut response = Response::new(full(Bytes::from(xml)));
    *response.status_mut() =
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        HeaderValue::from_static("application/xml"),
    );
    response
}

fn text(status: StatusCode, message: &str) -> Response<Body> {
    let mut response = Response::new(full(Bytes::from(message.to_owned())));
    *response.status_mut() = status;
    response
}

fn full(bytes: Bytes) -> Body {
    Full::new(bytes)
        .map_err(|never| match never {})
        .boxed_unsync()
}
