//! What the server says about itself, in `initialize` (legacy eras) and
//! `server/discover` (2026 era) alike.

use rmcp::model::{Implementation, ServerCapabilities, ToolsCapability};

pub const INSTRUCTIONS: &str = "Tools for browsing and writing the S3 buckets behind a Quilt catalog, as the signed-in user. \
Objects are addressed as s3://bucket/key (optionally ?versionId=...). Start with auth_status to see which identity and \
credentials are in use, then bucket_objects_list to browse, bucket_object_info/text/fetch to read, bucket_object_link \
to share, and bucket_objects_put to write.";

pub fn server_info() -> Implementation {
    let mut info = Implementation::new("quilt-mcp", env!("CARGO_PKG_VERSION"));
    info.title = Some("Quilt MCP".to_owned());
    info
}

/// Tools only; the listing never changes while a deployment runs.
pub fn capabilities() -> ServerCapabilities {
    let mut tools = ToolsCapability::default();
    tools.list_changed = Some(false);
    let mut capabilities = ServerCapabilities::default();
    capabilities.tools = Some(tools);
    capabilities
}
