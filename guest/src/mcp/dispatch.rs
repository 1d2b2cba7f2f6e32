//! The MCP methods each era answers.

use rmcp::model::{CallToolResult, InitializeResult};
use serde::Serialize;
use serde_json::Value;
use serde_json::value::RawValue;

use super::era::Era;
use super::jsonrpc::RpcError;
use super::{identity, modern, version};
use crate::tools::{self, Env};

/// The result as JSON text: the tool listing is served verbatim from its snapshot, never
/// parsed and re-serialised.
pub fn dispatch(
    era: Era,
    method: &str,
    params: Option<Value>,
    env: &Env<'_>,
) -> Result<Box<RawValue>, RpcError> {
    match (era, method) {
        (Era::Legacy, "initialize") => Ok(raw(&initialize(params.as_ref()))),
        (Era::Legacy, "ping") => Ok(raw(&serde_json::json!({}))),
        (Era::Legacy, "tools/list") => Ok(RawValue::from_string(tools::LISTING.to_owned())
            .expect("the tool listing snapshot is JSON")),
        (Era::Legacy, "tools/call") => Ok(raw(&call_tool(params, env)?)),
        (Era::Modern, "server/discover") => Ok(raw(&modern::discover())),
        (Era::Modern, "tools/list") => Ok(raw(&modern::listing())),
        (Era::Modern, "tools/call") => Ok(raw(&modern::complete(call_tool(params, env)?))),
        _ => Err(RpcError::method_not_found(method)),
    }
}

fn raw(result: &impl Serialize) -> Box<RawValue> {
    serde_json::value::to_raw_value(result).expect("results serialise")
}

fn initialize(params: Option<&Value>) -> InitializeResult {
    let requested = params
        .and_then(|p| p.get("protocolVersion"))
        .and_then(Value::as_str);
    let mut result =
        InitializeResult::new(identity::capabilities()).with_instructions(identity::INSTRUCTIONS);
    result.protocol_version = version::negotiate(requested);
    result.server_info = identity::server_info();
    result
}

fn call_tool(params: Option<Value>, env: &Env<'_>) -> Result<CallToolResult, RpcError> {
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
    tools::call(env, &name, arguments)
        .ok_or_else(|| RpcError::invalid_params(format!("Unknown tool: {name}")))
}
