//! The sandbox: one compiled guest, and a fresh instance of it for every request.
//!
//! What it holds lives for one of three lifetimes, named as Spin's factors name them:
//!
//! - **process** ([`Sandbox`], built by [`Sandbox::from_config`]): the engine with its pooling
//!   allocator and epoch ticker, the compiled component and its pre-linked imports, and the
//!   egress policy with its pooled outgoing connections (which carry no identity).
//! - **deployment** ([`Deployment`], built by [`Deployment::new`]): what every request shares,
//!   read-only — the credential source and its per-token cache, the region, S3 endpoint and
//!   catalog, the package limits.
//! - **request** ([`RequestScope`] and the store built in [`Sandbox::handle`]): the caller, the
//!   credentials derived for them, a new WASI context and resource table, the captured
//!   stdout/stderr and the instance itself; all dropped when the response has been produced,
//!   so nothing survives a request. The guest sees only what `RequestScope` hands it.

mod bindings;
mod config;
mod deployment;
mod egress;
mod engine;
mod imports;
mod request_scope;
mod store;

use std::convert::Infallible;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use wasmtime::Store;
use wasmtime::component::Linker;
use wasmtime_wasi_http::WasiHttpView;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;

pub use config::SandboxConfig;
pub use deployment::{Deployment, DeploymentConfig, DeploymentError};
pub use egress::EgressPolicy;
pub use engine::{EngineLimits, precompile};
pub use request_scope::RequestScope;

use bindings::{GuestPre, request_context};
use store::RequestState;

/// Why the guest produced no response. The `Display` text is for the log (a trap's includes
/// the guest's backtrace); clients get [`GuestFailure::client_message`].
#[derive(Debug, thiserror::Error)]
pub enum GuestFailure {
    #[error(
        "the tools guest failed while handling the request ({0}); the server is unaffected, retry or report it"
    )]
    Trapped(String),
    #[error("the request took longer than the server's limit of {0:?} and was stopped")]
    TimedOut(Duration),
    #[error("the server is at its limit of concurrent requests; retry shortly")]
    Overloaded,
    #[error(
        "the tools guest produced a response larger than this server's limit of {0} bytes; ask for less (e.g. a smaller max_bytes or page)"
    )]
    ResponseTooLarge(usize),
}

impl GuestFailure {
    /// What the client is told: short, and never the guest's internals.
    pub fn client_message(&self, request_id: &str) -> String {
        match self {
            Self::Trapped(_) => format!(
                "the tools guest failed while handling the request; the server is unaffected: \
                 retry, or report request id {request_id} to the server's operator"
            ),
            other => other.to_string(),
        }
    }
}

/// Bounds on one request's run.
#[derive(Clone, Copy)]
pub struct RequestLimits {
    /// Wall-clock and CPU time for the whole request, response body included.
    pub deadline: Duration,
    /// Largest response body passed on to the client.
    pub max_response_bytes: usize,
}

pub struct Sandbox {
    pre: GuestPre<RequestState>,
    egress: Arc<EgressPolicy>,
    limits: RequestLimits,
    max_instances: u32,
}

impl Sandbox {
    pub fn load(
        guest: &Path,
        engine_limits: &EngineLimits,
        egress: EgressPolicy,
        limits: RequestLimits,
    ) -> anyhow::Result<Self> {
        let engine = engine::new_engine(engine_limits)?;
        let component = engine::load_component(&engine, guest)?;
        imports::check(&engine, &component)?;
        let mut linker = Linker::<RequestState>::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
        request_context::add_to_linker::<_, wasmtime::component::HasSelf<RequestScope>>(
            &mut linker,
            |state| &mut state.scope,
        )?;
        let pre = GuestPre::new(linker.instantiate_pre(&component)?)?;
        engine::start_epoch_ticker(&engine);
        Ok(Self {
            pre,
            egress: Arc::new(egress),
            limits,
            max_instances: engine_limits.max_instances,
        })
    }

    /// The configured guest, with the deployment's egress allow-list.
    pub fn from_config(config: &SandboxConfig, egress: EgressPolicy) -> anyhow::Result<Self> {
        Self::load(
            &config.guest,
            &config.engine_limits(),
            egress,
            config.request_limits(),
        )
    }

    pub fn egress(&self) -> &EgressPolicy {
        &self.egress
    }

    /// How many instances may be alive at once (the pooling allocator's slots).
    pub fn max_instances(&self) -> u32 {
        self.max_instances
    }

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
        let (state, output) = RequestState::new(scope, self.egress.clone(), request_id.to_owned());
        let mut store = Store::new(self.pre.engine(), state);
        store.set_epoch_deadline(deadline_ticks(self.limits.deadline));
        store.epoch_deadline_trap();

        let (sender, receiver) = tokio::sync::oneshot::channel();
        let request = request.map(|body| {
            Full::new(body)
                .map_err(|never: Infallible| -> wasmtime_wasi_http::Error { match never {} })
        });
        let trap = |e: wasmtime::Error| GuestFailure::Trapped(format!("{e:#}"));
        let incoming = store
            .data_mut()
            .http()
            .new_incoming_request(Scheme::Http, request)
            .map_err(trap)?;
        let outparam = store
            .data_mut()
            .http()
            .new_response_outparam(sender)
            .map_err(trap)?;

        let pre = self.pre.clone();
        let request_id = request_id.to_owned();
        let deadline = self.limits.deadline;
        // The guest runs in its own task so it can go on streaming the body after it has
        // handed over the response head; the deadline bounds the whole of it.
        let task = tokio::spawn(async move {
            let run = async {
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
            let outcome = tokio::time::timeout(deadline, run)
                .await
                .unwrap_or(Err(GuestFailure::TimedOut(deadline)));
            output.log(&request_id);
            drop(store);
            drop(admitted);
            outcome
        });

        let started = Instant::now();
        match tokio::time::timeout(deadline, receiver).await {
            // Read the whole body here, within the deadline and the size limit, so a guest
            // that writes too much or stalls gets a clear error instead of a cut-off stream.
            Ok(Ok(Ok(response))) => {
                let remaining = deadline.saturating_sub(started.elapsed());
                let max = self.limits.max_response_bytes;
                let (parts, body) = response.into_parts();
                match tokio::time::timeout(remaining, Limited::new(body, max).collect()).await {
                    Ok(Ok(collected)) => {
                        Ok(http::Response::from_parts(parts, collected.to_bytes()))
                    }
                    Ok(Err(error)) if error.is::<LengthLimitError>() => {
                        task.abort();
                        Err(GuestFailure::ResponseTooLarge(max))
                    }
                    Ok(Err(error)) => Err(GuestFailure::Trapped(format!(
                        "the guest failed while writing its response: {error}"
                    ))),
                    Err(_) => {
                        task.abort();
                        Err(GuestFailure::TimedOut(deadline))
                    }
                }
            }
            Ok(Ok(Err(code))) => Err(GuestFailure::Trapped(format!(
                "the guest answered with error {code:?}"
            ))),
            // The guest dropped the response out-param: its task says why.
            Ok(Err(_)) => {
                match tokio::time::timeout(deadline.saturating_sub(started.elapsed()), task).await {
                    Ok(Ok(Err(failure))) => Err(failure),
                    Ok(Ok(Ok(()))) => Err(GuestFailure::Trapped(
                        "the guest returned without a response".into(),
                    )),
                    Ok(Err(join)) => Err(GuestFailure::Trapped(join.to_string())),
                    Err(_) => Err(GuestFailure::TimedOut(deadline)),
                }
            }
            Err(_) => {
                task.abort();
                Err(GuestFailure::TimedOut(deadline))
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
            let scope = RequestScope::new(deployment.clone(), None);
            let (state, _output) = RequestState::new(scope, self.egress.clone(), String::new());
            let started = Instant::now();
            let mut store = Store::new(self.pre.engine(), state);
            store.set_epoch_deadline(deadline_ticks(self.limits.deadline));
            self.pre.instantiate_async(&mut store).await?;
            timings.push(started.elapsed());
        }
        Ok(timings)
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
