//! What the server says about itself, in `initialize` (legacy eras) and
//! `server/discover` (2026 era) alike.

use rmcp::model::{Implementation, ResourcesCapability, ServerCapabilities, ToolsCapability};

pub const INSTRUCTIONS: &str = "Tools for the S3 buckets and Quilt data packages behind a Quilt catalog, acting as the \
signed-in user with only what their credentials allow; a tool or resource this connection does not offer is not listed. \
Start with auth_status to see the identity and credentials in use. \
Find data with search_catalog (pages with cursor/next_cursor; total counts every match) and bucket_list. \
Objects (s3://bucket/key, optionally ?versionId=...): bucket_objects_list, bucket_object_info, bucket_object_text and \
bucket_object_fetch read them; bucket_object_preview shows images as image content, PDFs as embedded files, CSV, TSV, \
JSON Lines and Parquet as typed columns plus the first rows, and text, in parts: when next_offset is set, call again with \
offset next_offset for the next part (Parquet compressed with ZSTD or LZO cannot be previewed). bucket_object_link gives a \
download link; bucket_objects_put writes objects. \
Packages: packages_list, package_browse and package_diff read them. package_create makes a package from S3 objects and \
inline files (text or base64); it refuses to replace an existing package unless overwrite is true, and then reports what \
changed. package_update edits the latest revision in one step: remove, rename, add objects or files, set metadata or \
message. A bucket may require a workflow (.quilt/workflows/config.yml): both tools apply it as quilt3 does (give workflow, \
or omit it for the bucket's default) and refuse with every problem listed; package_validate runs the same checks without \
writing anything, so check first when a bucket has workflows. package_delete removes a package or a revision. \
catalog_uri and catalog_url give links people can open. \
SQL (Athena, as you): athena_databases_list, athena_tables_list and athena_table_schema show what can be queried in the \
Glue catalog (AwsDataCatalog); tabulator_tables_list shows a bucket's Tabulator tables (tables over the files inside its \
packages) and tabulator_bucket_query queries them. athena_query_execute runs one statement: only SELECT, WITH, SHOW, \
DESCRIBE and EXPLAIN unless your token may write and the server allows more; athena_query_validate checks a statement \
first. A query still running when the call's wait ends returns its query_execution_id; results beyond max_results come \
back truncated with a next_token: athena_query_results continues either way. \
Resources: s3://bucket/key and quilt+s3://bucket#package=namespace/name&path=key read an object or a package entry; \
quilt-mcp://search-syntax, quilt-mcp://buckets and quilt-mcp://me describe search, your buckets and you.";

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

#[cfg(test)]
mod tests {
    use super::INSTRUCTIONS;

    /// The instructions describe the whole surface: a new tool must be written into them.
    #[test]
    fn instructions_name_every_tool() {
        for rule in quilt_mcp_policy::tools::TOOLS {
            assert!(
                INSTRUCTIONS.contains(rule.name),
                "{} is not in the instructions",
                rule.name
            );
        }
        for topic in ["workflow", "next_offset", "quilt+s3://", "overwrite"] {
            assert!(INSTRUCTIONS.contains(topic), "{topic}");
        }
    }
}
