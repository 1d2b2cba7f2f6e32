//! One request's run: a store of its own, the guest in a task of its own (so it can go on
//! streaming its body after handing over the response head), and the response read whole
//! within the deadline and the size limit.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use tokio::task::JoinHandle;
use wasmtime::Store;
use wasmtime::component::Resource;
use wasmtime_wasi_http::WasiHttpView;
use wasmtime_wasi_http::p2::bindings::http::types::{ErrorCode, Scheme};
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;
use wasmtime_wasi_http::p2::types::{HostIncomingRequest, HostResponseOutparam};

use super::bindings::GuestPre;
use super::engine;
use super::store::{GuestOutput, RequestState};
use super::{Deployment, GuestFailure, RequestScope, Sandbox};
use crate::access::Grant;

impl Sandbox {
    /// Runs one request in a fresh instance and returns the guest's response, read whole
    /// within the deadline. `admitted` is dropped when the instance is gone, which may be after
    /// the response is returned.
    pub async fn handle(
        &self,
        request: http::Request<Bytes>,
        scope: RequestScope,
        request_id: &str,
        admitted: impl Send + 'static,
    ) -> Result<http::Response<Bytes>, GuestFailure> {
        let (mut store, output) = self.new_store(scope, request_id);
        let (sender, receiver) = tokio::sync::oneshot::channel();
        let (incoming, outparam) = http_handles(&mut store, request, sender)?;
        let guest = GuestRun {
            store,
            incoming,
            outparam,
            output,
            request_id: request_id.to_owned(),
        };
        let task = tokio::spawn(guest.run(self.pre.clone(), self.limits.deadline, admitted));
        self.response(receiver, task).await
    }

    /// A store of its own for one request, its deadline set.
    fn new_store(
        &self,
        scope: RequestScope,
        request_id: &str,
    ) -> (Store<RequestState>, GuestOutput) {
        let (state, output) = RequestState::new(scope, self.egress.clone(), request_id.to_owned());
        let mut store = Store::new(self.pre.engine(), state);
        store.set_epoch_deadline(deadline_ticks(self.limits.deadline));
        store.epoch_deadline_trap();
        (store, output)
    }

    /// Waits for the guest's response head, then its body; when there is none, the guest's
    /// task says why.
    async fn response(
        &self,
        receiver: ResponseReceiver,
        task: JoinHandle<Result<(), GuestFailure>>,
    ) -> Result<http::Response<Bytes>, GuestFailure> {
        let deadline = self.limits.deadline;
        let started = Instant::now();
        let remaining = || deadline.saturating_sub(started.elapsed());
        match tokio::time::timeout(deadline, receiver).await {
            Ok(Ok(Ok(response))) => self.read_whole(response, remaining(), &task).await,
            Ok(Ok(Err(code))) => Err(GuestFailure::Trapped(format!(
                "the guest answered with error {code:?}"
            ))),
            // The guest dropped the response out-param: its task says why.
            Ok(Err(_)) => Err(why_no_response(task, remaining(), deadline).await),
            Err(_) => {
                task.abort();
                Err(GuestFailure::TimedOut(deadline))
            }
        }
    }

    /// Reads the whole body here, within the deadline and the size limit, so a guest that
    /// writes too much or stalls gets a clear error instead of a cut-off stream.
    async fn read_whole(
        &self,
        response: http::Response<HyperOutgoingBody>,
        remaining: Duration,
        task: &JoinHandle<Result<(), GuestFailure>>,
    ) -> Result<http::Response<Bytes>, GuestFailure> {
        let max = self.limits.max_response_bytes;
        let (parts, body) = response.into_parts();
        match tokio::time::timeout(remaining, Limited::new(body, max).collect()).await {
            Ok(Ok(collected)) => Ok(http::Response::from_parts(parts, collected.to_bytes())),
            Ok(Err(error)) if error.is::<LengthLimitError>() => {
                task.abort();
                Err(GuestFailure::ResponseTooLarge(max))
            }
            Ok(Err(error)) => Err(GuestFailure::Trapped(format!(
                "the guest failed while writing its response: {error}"
            ))),
            Err(_) => {
                task.abort();
                Err(GuestFailure::TimedOut(self.limits.deadline))
            }
        }
    }

    /// Creates and drops `count` instances, returning each creation's duration.
    pub async fn measure_instantiation(
        &self,
        deployment: Arc<Deployment>,
        count: usize,
    ) -> anyhow::Result<Vec<Duration>> {
        let mut timings = Vec::with_capacity(count);
        for _ in 0..count {
            let scope = RequestScope::new(deployment.clone(), None, Grant::unrestricted());
            let started = Instant::now();
            let (mut store, _output) = self.new_store(scope, "");
            self.pre.instantiate_async(&mut store).await?;
            timings.push(started.elapsed());
        }
        Ok(timings)
    }
}

/// Where the guest's response head arrives, or an error instead of one.
type ResponseReceiver =
    tokio::sync::oneshot::Receiver<Result<http::Response<HyperOutgoingBody>, ErrorCode>>;

/// The request and the out-param for its response, as the guest's handler takes them.
fn http_handles(
    store: &mut Store<RequestState>,
    request: http::Request<Bytes>,
    sender: tokio::sync::oneshot::Sender<Result<http::Response<HyperOutgoingBody>, ErrorCode>>,
) -> Result<
    (
        Resource<HostIncomingRequest>,
        Resource<HostResponseOutparam>,
    ),
    GuestFailure,
> {
    let trap = |e: wasmtime::Error| GuestFailure::Trapped(format!("{e:#}"));
    let request = request.map(|body| {
        Full::new(body).map_err(|never: Infallible| -> wasmtime_wasi_http::Error { match never {} })
    });
    let mut http = store.data_mut().http();
    let incoming = http
        .new_incoming_request(Scheme::Http, request)
        .map_err(trap)?;
    let outparam = http.new_response_outparam(sender).map_err(trap)?;
    Ok((incoming, outparam))
}

/// One request's guest, ready to run in a task of its own, so it can go on streaming the body
/// after it has handed over the response head.
struct GuestRun {
    store: Store<RequestState>,
    incoming: Resource<HostIncomingRequest>,
    outparam: Resource<HostResponseOutparam>,
    output: GuestOutput,
    request_id: String,
}

impl GuestRun {
    /// Instantiates and calls the guest, all within `deadline`; logs what it wrote and frees
    /// its instance (and `admitted`) when done.
    async fn run(
        self,
        pre: GuestPre<RequestState>,
        deadline: Duration,
        admitted: impl Send + 'static,
    ) -> Result<(), GuestFailure> {
        let Self {
            mut store,
            incoming,
            outparam,
            output,
            request_id,
        } = self;
        let call = async {
            let guest = pre
                .instantiate_async(&mut store)
                .await
                .map_err(classify_instantiation)?;
            guest
                .wasi_http_incoming_handler()
                .call_handle(&mut store, incoming, outparam)
                .await
                .map_err(|e| classify_trap(e, deadline))
        };
        let outcome = tokio::time::timeout(deadline, call)
            .await
            .unwrap_or(Err(GuestFailure::TimedOut(deadline)));
        output.log(&request_id);
        drop(store);
        drop(admitted);
        outcome
    }
}

/// Why a guest that dropped its response out-param gave no response, from its task.
async fn why_no_response(
    task: JoinHandle<Result<(), GuestFailure>>,
    remaining: Duration,
    deadline: Duration,
) -> GuestFailure {
    match tokio::time::timeout(remaining, task).await {
        Ok(Ok(Err(failure))) => failure,
        Ok(Ok(Ok(()))) => GuestFailure::Trapped("the guest returned without a response".into()),
        Ok(Err(join)) => GuestFailure::Trapped(join.to_string()),
        Err(_) => GuestFailure::TimedOut(deadline),
    }
}

fn deadline_ticks(deadline: Duration) -> u64 {
    (deadline.as_millis() / engine::EPOCH_TICK.as_millis()) as u64 + 1
}

fn classify_instantiation(error: wasmtime::Error) -> GuestFailure {
    if error
        .downcast_ref::<wasmtime::PoolConcurrencyLimitError>()
        .is_some()
    {
        GuestFailure::Overloaded
    } else {
        GuestFailure::Trapped(format!("{error:#}"))
    }
}

fn classify_trap(error: wasmtime::Error, deadline: Duration) -> GuestFailure {
    match error.downcast_ref::<wasmtime::Trap>() {
        Some(wasmtime::Trap::Interrupt) => GuestFailure::TimedOut(deadline),
        _ => GuestFailure::Trapped(format!("{error:#}")),
    }
}
