//! A tiny HTTP server publishing a JWKS at `/jwks.json` (and the same document at any
//! path), counting the requests it gets: tests use the count to prove a request was
//! or was not made.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

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
                    let body = published.document.read().expect("not poisoned").to_string();
                    let response = Response::builder()
                        .header("content-type", "application/json")
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
