//! How the sandbox runs each request: the `serve` flags of `sandbox` (the guest, its limits).

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::{EngineLimits, RequestLimits};

/// The guest and what one instance of it may use.
#[derive(Debug, Clone, Args)]
pub struct SandboxConfig {
    /// The tools guest: a component (.wasm) or an artifact precompiled by `quilt-mcp compile` (.cwasm).
    #[arg(long, env = "QUILT_MCP_GUEST")]
    pub guest: PathBuf,

    /// Wall-clock and CPU deadline of one request; past it the guest is stopped and 504 returned.
    #[arg(long, env = "QUILT_MCP_REQUEST_TIMEOUT_MS", default_value_t = 30_000)]
    pub request_timeout_ms: u64,

    /// Largest response body the guest may produce; a larger one is replaced by an error.
    #[arg(long, env = "QUILT_MCP_MAX_RESPONSE_BYTES", default_value_t = 64 << 20)]
    pub max_response_bytes: usize,

    /// Linear-memory cap of one guest instance, in MiB; growing past it traps the guest.
    #[arg(long, env = "QUILT_MCP_GUEST_MEMORY_MIB", default_value_t = 64)]
    pub guest_memory_mib: usize,

    /// Guest instances alive at once (the pooling allocator's slots); more concurrent requests
    /// wait up to --admission-wait-ms for one, then get 503.
    #[arg(long, env = "QUILT_MCP_MAX_INSTANCES", default_value_t = 64)]
    pub max_instances: u32,
}

impl SandboxConfig {
    pub fn engine_limits(&self) -> EngineLimits {
        EngineLimits {
            max_instances: self.max_instances,
            guest_memory_bytes: self.guest_memory_mib << 20,
        }
    }

    pub fn request_limits(&self) -> RequestLimits {
        RequestLimits {
            deadline: Duration::from_millis(self.request_timeout_ms),
            max_response_bytes: self.max_response_bytes,
        }
    }
}
