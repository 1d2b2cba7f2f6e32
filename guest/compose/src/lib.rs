//! Composes the adapter (guest/adapter) in front of a guest built against
//! `quilt:mcp/guest`: the adapter satisfies the guest's `request-context` and
//! `outgoing-handler` imports, and the result exports the guest's
//! `wasi:http/incoming-handler` and imports only what a generic runtime provides.
//!
//! The runtimes agree on everything but the version of `wasi:config`, whose pre-release
//! versions never match one another; the interface is the same in all of them, so each
//! runtime gets the same composition with its own name for that one import.

use indexmap::IndexMap;
use wac_graph::types::{Package, are_semver_compatible};
use wac_graph::{CompositionGraph, EncodeOptions};

/// The `wasi:config` import the adapter is built with (guest/adapter/wit/deps).
const ADAPTER_CONFIG_IMPORT: &str = "wasi:config/store@0.2.0-rc.1";
const REQUEST_CONTEXT: &str = "quilt:mcp/request-context@0.1.0";
const OUTGOING_HANDLER: &str = "wasi:http/outgoing-handler@0.2.12";
const INCOMING_HANDLER: &str = "wasi:http/incoming-handler@0.2.12";

/// A runtime the composed component is made for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runtime {
    /// `wasmtime serve -S cli -S config` (Wasmtime 48); wasmCloud 2 serves the same version.
    WasmtimeServe,
    /// Spin 3.
    Spin,
    /// wasmCloud 1 (wadm).
    WasmCloud,
}

impl Runtime {
    pub const ALL: [Runtime; 3] = [Self::WasmtimeServe, Self::Spin, Self::WasmCloud];

    pub fn name(self) -> &'static str {
        match self {
            Self::WasmtimeServe => "wasmtime-serve",
            Self::Spin => "spin",
            Self::WasmCloud => "wasmcloud",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|runtime| runtime.name() == name)
    }

    /// The `wasi:config/store` this runtime provides.
    pub fn config_import(self) -> &'static str {
        match self {
            Self::WasmtimeServe => ADAPTER_CONFIG_IMPORT,
            Self::Spin => "wasi:config/store@0.2.0-draft-2024-09-27",
            Self::WasmCloud => "wasi:config/store@0.2.0-draft",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ComposeError {
    #[error("the {role} is not a WebAssembly component: {source:#}")]
    NotAComponent {
        role: &'static str,
        source: anyhow::Error,
    },
    #[error(
        "the {role} does not {relation} `{name}` (it has {found}): build it from this repository with `make build`"
    )]
    Missing {
        role: &'static str,
        relation: &'static str,
        name: &'static str,
        found: String,
    },
    #[error("wac-graph could not compose the adapter and the guest: {0:#}")]
    Graph(anyhow::Error),
}

fn graph_error(error: impl Into<anyhow::Error>) -> ComposeError {
    ComposeError::Graph(error.into())
}

/// The names a component imports and exports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Surface {
    pub imports: Vec<String>,
    pub exports: Vec<String>,
}

/// Reads what `component` imports and exports.
pub fn surface(component: &[u8]) -> Result<Surface, ComposeError> {
    let mut graph = CompositionGraph::new();
    let package =
        Package::from_bytes("component", None, component, graph.types_mut()).map_err(|source| {
            ComposeError::NotAComponent {
                role: "component",
                source,
            }
        })?;
    let world = &graph.types()[package.ty()];
    Ok(Surface {
        imports: world.imports.keys().cloned().collect(),
        exports: world.exports.keys().cloned().collect(),
    })
}

/// Whether a runtime that defines `provided` satisfies an import of `wanted`: the same
/// name on a semver-compatible track (Wasmtime's linker rule, which Spin and wasmCloud
/// inherit), pre-release versions only exactly.
pub fn satisfies(provided: &str, wanted: &str) -> bool {
    are_semver_compatible(provided, wanted)
}

/// The adapter in front of `guest`, for `runtime`.
pub fn compose(adapter: &[u8], guest: &[u8], runtime: Runtime) -> Result<Vec<u8>, ComposeError> {
    let mut graph = CompositionGraph::new();
    let load = |graph: &mut CompositionGraph, role: &'static str, bytes: &[u8]| {
        Package::from_bytes(role, None, bytes, graph.types_mut())
            .map_err(|source| ComposeError::NotAComponent { role, source })
    };
    let adapter_package = load(&mut graph, "adapter", adapter)?;
    let guest_package = load(&mut graph, "guest", guest)?;
    let adapter_world = &graph.types()[adapter_package.ty()];
    let config_kind = *require(
        &adapter_world.imports,
        "adapter",
        "import",
        ADAPTER_CONFIG_IMPORT,
    )?;
    for name in [REQUEST_CONTEXT, OUTGOING_HANDLER] {
        require(&adapter_world.exports, "adapter", "export", name)?;
    }
    let guest_world = &graph.types()[guest_package.ty()];
    for name in [REQUEST_CONTEXT, OUTGOING_HANDLER] {
        require(&guest_world.imports, "guest", "import", name)?;
    }
    require(&guest_world.exports, "guest", "export", INCOMING_HANDLER)?;

    let adapter_id = graph
        .register_package(adapter_package)
        .map_err(graph_error)?;
    let guest_id = graph.register_package(guest_package).map_err(graph_error)?;
    let adapter = graph.instantiate(adapter_id);
    let config = graph
        .import(runtime.config_import(), config_kind)
        .map_err(graph_error)?;
    graph
        .set_instantiation_argument(adapter, ADAPTER_CONFIG_IMPORT, config)
        .map_err(graph_error)?;
    let guest = graph.instantiate(guest_id);
    for name in [REQUEST_CONTEXT, OUTGOING_HANDLER] {
        let export = graph
            .alias_instance_export(adapter, name)
            .map_err(graph_error)?;
        graph
            .set_instantiation_argument(guest, name, export)
            .map_err(graph_error)?;
    }
    let handler = graph
        .alias_instance_export(guest, INCOMING_HANDLER)
        .map_err(graph_error)?;
    graph
        .export(handler, INCOMING_HANDLER)
        .map_err(graph_error)?;
    graph.encode(EncodeOptions::default()).map_err(graph_error)
}

fn require<'a, T>(
    items: &'a IndexMap<String, T>,
    role: &'static str,
    relation: &'static str,
    name: &'static str,
) -> Result<&'a T, ComposeError> {
    items.get(name).ok_or_else(|| ComposeError::Missing {
        role,
        relation,
        name,
        found: items.keys().cloned().collect::<Vec<_>>().join(", "),
    })
}
