//! What the server says about itself, in `initialize` (legacy eras) and
//! `server/discover` (2026 era) alike.

use rmcp::model::{Implementation, ResourcesCapability, ServerCapabilities, ToolsCapability};

pub const INSTRUCTIONS: &str = "Tools for the S3 buckets and Quilt data packages behind a Quilt catalog, acting as the \
signed-in user with only what their credentials allow. Start with auth_status to see the identity and credentials in use. \
Find data with search_catalog and bucket_list; browse and read objects (s3://bucket/key, optionally ?versionId=...) with \
bucket_objects_list and bucket_object_info/text/fetch, share them with bucket_object_link, and write them with \
bucket_objects_put. Packages: packages_list, package_browse and package_diff to read; package_create and package_update to \
add a revision; package_delete to remove one; catalog_uri and catalog_url give links people can open.";

pub fn server_info() -> Implementation {
    let mut info = Implementation::new("quilt-mcp", env!("CARGO_PKG_VERSION"));
    info.title = Some("Quilt MCP".to_owned());
    info
}

/// Tools and resources (read, no subscriptions: an instance lives for one request); the
/// listings never change while a deployment runs.
pub fn capabilities() -> ServerCapabilities {
    let mut tools = ToolsCapability::default();
    tools.list_changed = Some(false);
    let mut resources = ResourcesCapability::default();
    resources.list_changed = Some(false);
    resources.subscribe = Some(false);
    let mut capabilities = ServerCapabilities::default();
    capabilities.tools = Some(tools);
    capabilities.resources = Some(resources);
    capabilities
}
