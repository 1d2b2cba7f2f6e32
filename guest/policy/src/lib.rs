//! The rules that `quilt-mcp serve` (host/) and the standalone adapter (guest/adapter/) must
//! both apply, written once so the two deployments cannot drift apart:
//!
//! - [`bucket`]: what a bucket name may be.
//! - [`egress`]: which outgoing requests of the tools guest may leave, and where an
//!   `Authorization` header may go.
//! - [`origin`]: what "the same origin" means for that check.
//! - [`defaults`]: the deployment settings either one assumes when nothing is configured, so a
//!   package one deployment can read, the other can too.
//! - [`settings`]: how configured URLs reach the guest.
//! - [`tools`]: the scope table — which permission and toolset each tool belongs to — that
//!   the host enforces and the guest's annotations are checked against.
//!
//! Built natively (the host, unit tests) and for wasm32-wasip2 (the adapter).

pub mod bucket;
pub mod defaults;
pub mod egress;
pub mod origin;
pub mod settings;
pub mod tools;

#[cfg(test)]
mod tests;
