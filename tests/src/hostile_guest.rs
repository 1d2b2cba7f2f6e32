//! What the hostile guest (`tests/hostile-guest`) tells about itself: it writes
//! `hostile-guest handling <method>` to stderr for every request it handles, and the host logs
//! that line, so a test can tell whether a request reached the guest at all.

use anyhow::{Result, ensure};

use crate::host_process::HostProcess;
use crate::mcp::McpClient;

/// The start of the line the guest logs for each request it handles.
pub const GUEST_RAN: &str = "hostile-guest handling";

/// Requests a host must refuse are named `rejected-…`, so the log shows any that ran.
pub const REFUSED: &str = "rejected-";

/// The JSON-RPC message of a request that must be refused: `rejected-<case>`.
pub fn refused_message(case: &str) -> String {
    serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": format!("{REFUSED}{case}")}).to_string()
}

/// Proves no request so far named `rejected-…` reached the guest: a request `accepted` sends
/// afterwards shows up in the guest's log (so the log has caught up), and no refused one does.
pub async fn assert_guest_never_ran(host: &HostProcess, accepted: &McpClient) -> Result<()> {
    accepted
        .request("after-refusals", serde_json::json!({}))
        .await?;
    host.wait_for_log(&format!("{GUEST_RAN} after-refusals"))
        .await?;
    let log = host.log().text();
    ensure!(
        !log.contains(&format!("{GUEST_RAN} {REFUSED}")),
        "a refused request reached the guest:\n{log}"
    );
    Ok(())
}
