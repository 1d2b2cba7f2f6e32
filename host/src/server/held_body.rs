//! A buffered response handed to hyper a slice at a time, holding a value (the request's
//! admission ticket) until hyper has taken the last slice. hyper asks for the next slice only
//! when its write buffer has room, so the ticket is held while the client is still reading:
//! a client that never reads keeps its share of the server busy — not everyone else's — until
//! the write timeout closes its connection.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use wasmtime_wasi_http::Error;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

/// Small enough that hyper's write buffer (~400 KiB) holds few slices ahead of the socket.
const SLICE: usize = 64 * 1024;

struct HeldBody<T> {
    rest: Bytes,
    held: Option<T>,
}

/// `bytes` as a body that drops `held` once its last slice has been taken.
pub fn holding<T: Send + Unpin + 'static>(bytes: Bytes, held: T) -> HyperOutgoingBody {
    HeldBody {
        rest: bytes,
        held: Some(held),
    }
    .boxed_unsync()
}

impl<T: Unpin> Body for HeldBody<T> {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        if self.rest.is_empty() {
            self.held = None;
            return Poll::Ready(None);
        }
        let take = self.rest.len().min(SLICE);
        let slice = self.rest.split_to(take);
        if self.rest.is_empty() {
            self.held = None;
        }
        Poll::Ready(Some(Ok(Frame::data(slice))))
    }

    fn is_end_stream(&self) -> bool {
        self.rest.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.rest.len() as u64)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use bytes::Bytes;
    use http_body::Body;
    use http_body_util::BodyExt;

    use super::{SLICE, holding};

    #[tokio::test]
    async fn holds_until_the_last_slice_is_taken() {
        let held = Arc::new(());
        let mut body = holding(Bytes::from(vec![7; SLICE * 2 + 1]), held.clone());
        assert_eq!(body.size_hint().exact(), Some((SLICE * 2 + 1) as u64));
        let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
        assert_eq!(first.len(), SLICE);
        assert_eq!(Arc::strong_count(&held), 2, "held while slices remain");
        body.frame().await.unwrap().unwrap();
        body.frame().await.unwrap().unwrap();
        assert_eq!(Arc::strong_count(&held), 1, "released with the last slice");
        assert!(body.frame().await.is_none());
    }
}
