//! Which protocol era answers a message, decided from that message's headers and
//! `_meta` alone: the host runs a fresh instance per request, so there is no earlier
//! handshake to remember, and any replica can serve any request.

use serde_json::Value;

use super::headers::{self, Repeated, RequestHeaders};
use super::jsonrpc::{Message, RpcError};
use super::version;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Era {
    /// 2025-03-26 to 2025-11-25: an initialize handshake, results without `resultType`.
    Legacy,
    /// 2026-07-28: the version travels with every request, mirrored into headers.
    Modern,
}

const META_VERSION: &str = "io.modelcontextprotocol/protocolVersion";

/// The era of `message`, or the error that refuses it with HTTP 400: a version not
/// served (-32022), or headers that disagree with the body (-32020).
///
/// A request's version is the one in its `_meta` (which `MCP-Protocol-Version` must
/// repeat), else the header's, else 2025-03-26.
pub fn route(headers: &RequestHeaders, message: &Message) -> Result<Era, RpcError> {
    let header = headers.single("mcp-protocol-version").map_err(repeated)?;
    let (method, params) = match message {
        // `initialize` exists only in the legacy eras: answered there whatever it names.
        Message::Request { method, .. } if method == "initialize" => {
            return era_of(header).map(|_| Era::Legacy);
        }
        Message::Request { method, params, .. } => (method.as_str(), params.as_ref()),
        // No notification or response has required `_meta`: the header alone tells.
        Message::Notification | Message::Response => return era_of(header),
    };
    let meta = params
        .and_then(|params| params.get("_meta"))
        .and_then(|meta| meta.get(META_VERSION))
        .and_then(Value::as_str);
    if let Some(meta) = meta
        && header != Some(meta)
    {
        return Err(RpcError::header_mismatch(format!(
            "MCP-Protocol-Version header {} does not match _meta[\"{META_VERSION}\"] '{meta}'",
            header.map_or("missing".to_owned(), |h| format!("'{h}'")),
        )));
    }
    if era_of(meta.or(header))? == Era::Legacy {
        return Ok(Era::Legacy);
    }
    if meta.is_none() {
        return Err(RpcError::header_mismatch(format!(
            "MCP-Protocol-Version {} needs the same version in the body's _meta[\"{META_VERSION}\"]",
            version::MODERN.as_str()
        )));
    }
    check_mirrored_headers(headers, method, params)?;
    Ok(Era::Modern)
}

fn era_of(version: Option<&str>) -> Result<Era, RpcError> {
    match version {
        None => Ok(Era::Legacy),
        Some(v) if v == version::MODERN.as_str() => Ok(Era::Modern),
        Some(v) if version::is_supported(v) => Ok(Era::Legacy),
        Some(v) => Err(version::unsupported(v)),
    }
}

/// `Mcp-Method` and `Mcp-Name` let proxies route without reading the body; a server
/// acting on a body that says otherwise would undo that routing.
fn check_mirrored_headers(
    headers: &RequestHeaders,
    method: &str,
    params: Option<&Value>,
) -> Result<(), RpcError> {
    match headers.single("mcp-method").map_err(repeated)? {
        None => {
            return Err(RpcError::header_mismatch(format!(
                "the Mcp-Method header is missing; it must repeat the body's method '{method}'"
            )));
        }
        Some(sent) if sent != method => {
            return Err(RpcError::header_mismatch(format!(
                "Mcp-Method header '{sent}' does not match the body's method '{method}'"
            )));
        }
        Some(_) => {}
    }
    let Some(target) = named_target(method, params) else {
        return Ok(());
    };
    match headers.single("mcp-name").map_err(repeated)? {
        None => Err(RpcError::header_mismatch(format!(
            "the Mcp-Name header is missing; {method} needs it to repeat '{target}'"
        ))),
        Some(sent) if headers::decode_value(sent).as_deref() != Some(target) => {
            Err(RpcError::header_mismatch(format!(
                "Mcp-Name header '{sent}' does not match the body's value '{target}'"
            )))
        }
        Some(_) => Ok(()),
    }
}

/// What `Mcp-Name` mirrors, for the methods that have one.
fn named_target<'a>(method: &str, params: Option<&'a Value>) -> Option<&'a str> {
    let field = match method {
        "tools/call" | "prompts/get" => "name",
        "resources/read" => "uri",
        _ => return None,
    };
    params?.get(field)?.as_str()
}

fn repeated(Repeated(name): Repeated) -> RpcError {
    RpcError::header_mismatch(format!("the {name} header was sent more than once"))
}

impl Era {
    /// The HTTP status of a JSON-RPC error from a method. The 2026 era makes an unknown
    /// method a 404, so clients can tell it from a server without this endpoint.
    pub fn status_of(self, error: &RpcError) -> u16 {
        match self {
            Self::Modern if error.is_method_not_found() => 404,
            Self::Legacy | Self::Modern => 200,
        }
    }
}
