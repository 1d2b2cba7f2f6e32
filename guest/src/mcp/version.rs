//! Protocol versions of the MCP era served here (with initialize, without sessions).

use rmcp::model::ProtocolVersion;

use super::jsonrpc::RpcError;

/// Newest first; the first is offered to clients asking for one not listed.
pub const SUPPORTED: [ProtocolVersion; 3] = [
    ProtocolVersion::V_2025_11_25,
    ProtocolVersion::V_2025_06_18,
    ProtocolVersion::V_2025_03_26,
];

pub fn is_supported(version: &str) -> bool {
    SUPPORTED.iter().any(|v| v.as_str() == version)
}

/// The client's version when supported, else the newest supported.
pub fn negotiate(requested: Option<&str>) -> ProtocolVersion {
    SUPPORTED
        .iter()
        .find(|v| Some(v.as_str()) == requested)
        .unwrap_or(&SUPPORTED[0])
        .clone()
}

pub fn unsupported(version: &str) -> RpcError {
    let supported: Vec<&str> = SUPPORTED.iter().map(ProtocolVersion::as_str).collect();
    RpcError::invalid_request(format!(
        "Unsupported MCP-Protocol-Version '{version}'; this server supports {}",
        supported.join(", ")
    ))
}
