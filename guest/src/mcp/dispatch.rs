//! The MCP methods each era answers.

use rmcp::model::InitializeResult;
use serde::{Serialize, Serializer};
use serde_json::Value;
use serde_json::value::RawValue;

use super::era::Era;
use super::jsonrpc::RpcError;
use super::tool_result::ToolResult;
use super::{identity, modern, version};
use crate::resources;
use crate::tools::{self, Called, Env};

/// A method's result, ready to be serialised into the response.
#[derive(Debug)]
pub enum Outcome {
    /// Already JSON text; the tool listing is served verbatim from its snapshot, never
    /// parsed and re-serialised.
    Json(Box<RawValue>),
    /// A tool's result, as large as what the tool read: it is serialised once, straight
    /// into the response.
    Tool(ToolResult),
}

impl Serialize for Outcome {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Json(json) => json.serialize(serializer),
            Self::Tool(result) => result.serialize(serializer),
        }
    }
}

pub fn dispatch(
    era: Era,
    method: &str,
    params: Option<Value>,
    env: &Env<'_>,
) -> Result<Outcome, RpcError> {
    match (era, method) {
        (Era::Legacy, "initialize") => Ok(json(&initialize(params.as_ref()))),
        (Era::Legacy, "ping") => Ok(json(&serde_json::json!({}))),
        (Era::Legacy, "tools/list") => Ok(json(&Listed {
            tools: tools::listing(&env.context.grant().tools),
        })),
        (Era::Modern, "server/discover") => Ok(json(&modern::discover())),
        (Era::Modern, "tools/list") => Ok(json(&modern::listing(tools::listing(
            &env.context.grant().tools,
        )))),
        (_, "tools/call") => Ok(Outcome::Tool(ToolResult::new(call_tool(params, env)?, era))),
        (_, "resources/list") => Ok(json(&in_era(era, resources::list(env)))),
        (_, "resources/templates/list") => Ok(json(&in_era(era, resources::templates(env)))),
        (_, "resources/read") => {
            let uri = params
                .as_ref()
                .and_then(|p| p.get("uri"))
                .and_then(Value::as_str)
                .ok_or_else(|| {
                    RpcError::invalid_params("resources/read needs params.uri, a string".into())
                })?;
            let contents = resources::read(env, uri).map_err(|error| {
                let message = crate::echo::bounded(&error.to_string(), 4000);
                if error.is_not_found() {
                    RpcError::resource_not_found(message, uri)
                } else {
                    RpcError::invalid_params(message)
                }
            })?;
            Ok(json(&in_era(
                era,
                serde_json::to_value(contents).expect("contents serialise"),
            )))
        }
        _ => Err(RpcError::method_not_found(method)),
    }
}

/// A result as the era writes it: the 2026 era adds `resultType` and the server's `_meta`.
fn in_era(era: Era, mut result: Value) -> Value {
    if era == Era::Modern {
        result["resultType"] = serde_json::json!("complete");
        result["_meta"] = serde_json::to_value(modern::server_meta()).expect("meta serialises");
    }
    result
}

/// The 2025-era `tools/list` result.
#[derive(Serialize)]
struct Listed {
    tools: Box<RawValue>,
}

fn json(result: &impl Serialize) -> Outcome {
    Outcome::Json(serde_json::value::to_raw_value(result).expect("results serialise"))
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

fn call_tool(params: Option<Value>, env: &Env<'_>) -> Result<Called, RpcError> {
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
    if !env.context.grant().tools.contains(&name) {
        let name = crate::echo::bounded(&name, 128);
        return Err(RpcError::invalid_params(if tools::exists(&name) {
            format!(
                "The tool {name} is not offered to this request: the server's flags, this connection's \
                 path or X-MCP-* headers, or the token's scopes leave it out; tools/list shows what is"
            )
        } else {
            format!("Unknown tool: {name}")
        }));
    }
    tools::call(env, &name, arguments)
        .ok_or_else(|| RpcError::invalid_params(format!("Unknown tool: {name}")))
}
