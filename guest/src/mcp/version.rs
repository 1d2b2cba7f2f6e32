//! The protocol versions served here: the stateless 2026 era and the legacy eras with
//! an initialize handshake, all without sessions.

use rmcp::model::{ErrorCode, ErrorData, ProtocolVersion};
use serde_json::json;

use super::jsonrpc::RpcError;

/// The version without an initialize handshake: requests carry it in `_meta`.
pub const MODERN: ProtocolVersion = ProtocolVersion::V_2026_07_28;

/// The versions `initialize` can agree on, newest first; the first is offered to clients
/// asking for one not listed.
const LEGACY: [ProtocolVersion; 3] = [
    ProtocolVersion::V_2025_11_25,
    ProtocolVersion::V_2025_06_18,
    ProtocolVersion::V_2025_03_26,
];

/// Every version served, newest first, as `server/discover` and errors list them.
pub fn supported() -> Vec<ProtocolVersion> {
    std::iter::once(MODERN).chain(LEGACY).collect()
}

pub fn is_supported(version: &str) -> bool {
    supported().iter().any(|v| v.as_str() == version)
}

/// The client's version when `initialize` can agree on it, else the newest legacy one.
pub fn negotiate(requested: Option<&str>) -> ProtocolVersion {
    LEGACY
        .iter()
        .find(|v| Some(v.as_str()) == requested)
        .unwrap_or(&LEGACY[0])
        .clone()
}

/// The 2026 era's `UnsupportedProtocolVersionError`; legacy clients read only its 400.
pub fn unsupported(requested: &str) -> RpcError {
    let supported = supported();
    let listed: Vec<&str> = supported.iter().map(ProtocolVersion::as_str).collect();
    RpcError(ErrorData::new(
        ErrorCode::UNSUPPORTED_PROTOCOL_VERSION,
        format!(
            "Unsupported protocol version '{requested}'; this server supports {}",
            listed.join(", ")
        ),
        Some(json!({ "supported": supported, "requested": requested })),
    ))
}
