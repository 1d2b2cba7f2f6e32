//! The MCP methods this server answers.

use rmcp::model::{Implementation, InitializeResult, ServerCapabilities, ToolsCapability};
use serde_json::value::RawValue;
use serde_json::{Value, json};

use super::jsonrpc::RpcError;
use super::version;
use crate::tools::{self, Env};

const INSTRUCTIONS: &str = "Tools for browsing and writing the S3 buckets behind a Quilt catalog, as the signed-in user. \
Objects are addressed as s3://bucket/key (optionally ?versionId=...). Start with auth_status to see which identity and \
credentials are in use, then bucket_objects_list to browse, bucket_object_info/text/fetch to read, bucket_object_link \
to share, and bucket_objects_put to write.";

/// The result as JSON text: the tool listing is served verbatim from its snapshot, never
/// parsed and re-serialised.
pub fn dispatch(
    method: &str,
    params: Option<Value>,
    env: &Env<'_>,
) -> Result<Box<RawValue>, RpcError> {
    let result = match method {
        "initialize" => initialize(params.as_ref()),
        "ping" => json!({}),
        "tools/list" => {
            return Ok(RawValue::from_string(tools::LISTING.to_owned())
                .expect("the tool listing snapshot is JSON"));
        }
        "tools/call" => call_tool(params, env)?,
        _ => return Err(RpcError::method_not_found(method)),
    };
    Ok(serde_json::value::to_raw_value(&result).expect("JSON values serialise"))
}

fn initialize(params: Option<&Value>) -> Value {
    let requested = params
        .and_then(|p| p.get("protocolVersion"))
        .and_then(Value::as_str);
    let mut tools = ToolsCapability::default();
    tools.list_changed = Some(false);
    let mut capabilities = ServerCapabilities::default();
    capabilities.tools = Some(tools);
    let mut server_info = Implementation::new("quilt-mcp", env!("CARGO_PKG_VERSION"));
    server_info.title = Some("Quilt MCP".to_owned());
    let mut result = InitializeResult::new(capabilities).with_instructions(INSTRUCTIONS);
    result.protocol_version = version::negotiate(requested);
    result.server_info = server_info;
    serde_json::to_value(result).expect("initialize result serialises")
}

fn call_tool(params: Option<Value>, env: &Env<'_>) -> Result<Value, RpcError> {
    let Some(Value::Object(mut params)) = params else {
        return Err(RpcError::invalid_params(
            "tools/call needs params {name, arguments}".into(),
        ));
    };
    let Some(Value::String(name)) = params.remove("name") else {
        return Err(RpcError::invalid_params(
            "tools/call needs params.name, the tool's name as a string".into(),
        ));
    };
    let arguments = match params.remove("arguments") {
        None | Some(Value::Null) => Value::Object(Default::default()),
        Some(arguments @ Value::Object(_)) => arguments,
        Some(_) => {
            return Err(RpcError::invalid_params(
                "tools/call params.arguments must be an object".into(),
            ));
        }
    };
    let result = tools::call(env, &name, arguments)
        .ok_or_else(|| RpcError::invalid_params(format!("Unknown tool: {name}")))?;
    Ok(serde_json::to_value(result).expect("tool results serialise"))
}
