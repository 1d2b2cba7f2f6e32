//! The sandbox: one compiled guest, and a fresh instance of it for every request.
//!
//! What it holds lives for one of three lifetimes, named as Spin's factors name them:
//!
//! - **process** ([`Sandbox`], built by [`Sandbox::from_config`]): the engine with its pooling
//!   allocator and epoch ticker, the compiled component and its pre-linked imports, and the
//!   pooled outgoing connections of the egress policy (which carry no identity).
//! - **deployment** ([`Deployment`], built by [`Deployment::new`]): what every request shares,
//!   read-only — the credential source and its per-token cache, the region, the S3 endpoint,
//!   the web catalog and registry, the package limits, and the egress allow-list built from
//!   them.
//! - **request** ([`RequestScope`] and the store built in [`Sandbox::handle`]): the caller, the
//!   credentials derived for them, a new WASI context and resource table, the captured
//!   stdout/stderr and the instance itself; all dropped when the response has been produced,
//!   so nothing survives a request (`run`). The guest sees only what `RequestScope` hands it.

mod bindings;
mod config;
mod deployment;
mod egress;
mod engine;
mod imports;
mod request_scope;
mod run;
mod sql;
mod store;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use wasmtime::component::Linker;

pub use config::SandboxConfig;
pub use deployment::{Deployment, DeploymentConfig, DeploymentError};
pub use egress::EgressPolicy;
pub use engine::{EngineLimits, precompile};
pub use request_scope::RequestScope;
pub use sql::{OutputLocation, SqlConfig};

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
}
