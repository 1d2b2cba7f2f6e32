//! The per-request store: a WASI context with nothing in it, wasi:http behind the egress
//! hooks, and this request's scope. A new one is made for every request and dropped after.

use std::sync::Arc;

use wasmtime::component::ResourceTable;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use super::egress::{EgressHooks, EgressPolicy};
use super::request_scope::RequestScope;

/// How much of the guest's stdout/stderr one request may leave in the host's log.
const GUEST_OUTPUT_CAPACITY: usize = 64 * 1024;

pub struct RequestState {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    egress: EgressHooks,
    pub scope: RequestScope,
}

/// The guest's stdout and stderr, kept in memory and logged with the request id afterwards.
pub struct GuestOutput {
    pub stdout: MemoryOutputPipe,
    pub stderr: MemoryOutputPipe,
}

impl RequestState {
    pub fn new(
        scope: RequestScope,
        egress: Arc<EgressPolicy>,
        request_id: String,
    ) -> (Self, GuestOutput) {
        let output = GuestOutput::new();
        let state = Self {
            wasi: wasi_context(&output),
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
            egress: EgressHooks {
                policy: egress,
                request_id,
                touched: scope.touched(),
            },
            scope,
        };
        (state, output)
    }
}

impl WasiView for RequestState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for RequestState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.egress,
        }
    }
}

/// The WASI context of one request. The builder's defaults already mean: no preopens, no env,
/// no args, stdin closed, no address reachable by sockets and no name lookup. Turning the
/// socket families off as well makes the intent explicit and the failure immediate.
fn wasi_context(output: &GuestOutput) -> WasiCtx {
    WasiCtx::builder()
        .stdout(output.stdout.clone())
        .stderr(output.stderr.clone())
        .allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false)
        .build()
}

impl GuestOutput {
    fn new() -> Self {
        Self {
            stdout: MemoryOutputPipe::new(GUEST_OUTPUT_CAPACITY),
            stderr: MemoryOutputPipe::new(GUEST_OUTPUT_CAPACITY),
        }
    }

    pub fn log(&self, request_id: &str) {
        for (stream, pipe) in [("stdout", &self.stdout), ("stderr", &self.stderr)] {
            let bytes = pipe.contents();
            for line in String::from_utf8_lossy(&bytes)
                .lines()
                .filter(|l| !l.trim().is_empty())
            {
                tracing::info!(target: "quilt_mcp::guest", request_id, stream, "{line}");
            }
        }
    }
}

#[cfg(test)]
#[path = "store_tests.rs"]
mod tests;
