//! Where the things under test are: the Makefile builds them and exports their paths.

use std::path::PathBuf;

use anyhow::{Result, bail};

/// Paths of what every stack runs: the built host, the tools guest and SeaweedFS's binary.
/// (The misbehaving test guests are the e2e suite's own: `make run` does not build them.)
#[derive(Debug, Clone)]
pub struct Artifacts {
    /// The `quilt-mcp` host binary.
    pub host_bin: PathBuf,
    /// The tools guest (`.cwasm` precompiled by `quilt-mcp compile`, or `.wasm`).
    pub guest: PathBuf,
    /// The `weed` binary of SeaweedFS.
    pub weed: PathBuf,
}

impl Artifacts {
    pub fn from_env() -> Result<Self> {
        Ok(Self {
            host_bin: path_from_env("QUILT_MCP_BIN")?,
            guest: path_from_env("QUILT_MCP_GUEST_WASM")?,
            weed: path_from_env("QUILT_MCP_WEED")?,
        })
    }
}

/// A path the Makefile exported, which must exist.
pub fn path_from_env(name: &str) -> Result<PathBuf> {
    let Some(value) = std::env::var_os(name) else {
        bail!(
            "{name} is not set: run the tests with `make test`, which builds the host and guests, installs SeaweedFS and sets it"
        );
    };
    let path = PathBuf::from(value);
    if !path.exists() {
        bail!(
            "{name}={} does not exist: run `make test` (or `make build tools`) to create it",
            path.display()
        );
    }
    Ok(path)
}
