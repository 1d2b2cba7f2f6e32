//! A tiny HTTP server publishing a JWKS at `/jwks.json` (and the same document at any
//! path), counting the requests it gets: tests use the count to prove a request was
//! or was not made. It can also say how long its keys may be cached (`Cache-Control:
//! max-age`) and answer slowly, as identity providers do.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::Result;
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

struct Published {
    document: RwLock<Value>,
    hits: AtomicUsize,
    max_age_secs: RwLock<Option<u64>>,
    delay: RwLock<Duration>,
}

/// Serves until dropped.
pub struct JwksServer {
    addr: SocketAddr,
    published: Arc<Published>,
    accept_loop: JoinHandle<()>,
}

impl JwksServer {
    pub async fn start(document: Value) -> Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let published = Arc::new(Published {
            document: RwLock::new(document),
            hits: AtomicUsize::new(0),
            max_age_secs: RwLock::default(),
            delay: RwLock::default(),
        });
        let accept_loop = tokio::spawn(accept_connections(listener, published.clone()));
        Ok(Self {
            addr,
            published,
            accept_loop,
        })
    }

    /// `http://127.0.0.1:PORT`
    pub fn origin(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn jwks_url(&self) -> String {
        format!("{}/jwks.json", self.origin())
    }

    /// Replaces the published document (key rotation).
    pub fn publish(&self, document: Value) {
        *self.published.document.write().expect("not poisoned") = document;
    }

    /// From now on, answers carry `Cache-Control: max-age=SECS` (`None`: no such header).
    pub fn set_max_age(&self, secs: Option<u64>) {
        *self.published.max_age_secs.write().expect("not poisoned") = secs;
    }

    /// From now on, each answer waits this long first (a slow identity provider).
    pub fn set_delay(&self, delay: Duration) {
        *self.published.delay.write().expect("not poisoned") = delay;
    }

    /// Requests served so far.
    pub fn hits(&self) -> usize {
        self.published.hits.load(Ordering::SeqCst)
    }
}

impl Drop for JwksServer {
    fn drop(&mut self) {
        self.accept_loop.abort();
    }
}

async fn accept_connections(listener: TcpListener, published: Arc<Published>) {
    while let Ok((stream, _)) = listener.accept().await {
        let published = published.clone();
        tokio::spawn(async move {
            let service = service_fn(move |_request: Request<Incoming>| {
                let published = published.clone();
                async move {
                    published.hits.fetch_add(1, Ordering::SeqCst);
                    let delay = *published.delay.read().expect("not poisoned");
                    tokio::time::sleep(delay).await;
                    let body = published.document.read().expect("not poisoned").to_string();
                    let mut response =
                        Response::builder().header("content-type", "application/json");
                    if let Some(secs) = *published.max_age_secs.read().expect("not poisoned") {
                        response = response.header("cache-control", format!("max-age={secs}"));
                    }
                    let response = response
                        .body(Full::new(Bytes::from(body)))
                        .expect("valid response");
                    Ok::<_, Infallible>(response)
                }
            });
            // A client hanging up mid-request is its business, not the test's.
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
