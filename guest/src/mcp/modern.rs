//! Result shapes of the 2026 era: every result says `resultType` and names the server
//! in `_meta`; `server/discover` and `tools/list` also say how long, and for whom, they
//! may be cached.

use rmcp::model::{CacheScope, DiscoverResult, MetaObject, ResultType};
use serde::Serialize;
use serde_json::value::RawValue;

use super::identity;
use super::version;

/// Both change only when a new guest is deployed: short enough that a redeployment
/// reaches clients within minutes, long enough to spare a round trip per turn.
const TTL_MS: u64 = 5 * 60 * 1000;

const SERVER_INFO: &str = "io.modelcontextprotocol/serverInfo";

pub fn discover() -> DiscoverResult {
    let mut result = DiscoverResult::new(version::supported(), identity::capabilities())
        .with_server_info(identity::server_info());
    result.instructions = Some(identity::INSTRUCTIONS.to_owned());
    result.ttl_ms = TTL_MS;
    // The same for every caller: nothing in it depends on who asks.
    result.cache_scope = CacheScope::Public;
    result
}

/// The `tools/list` result: the legacy listing's tools, spliced in as JSON text.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Listing {
    tools: Box<RawValue>,
    result_type: ResultType,
    ttl_ms: u64,
    cache_scope: CacheScope,
    #[serde(rename = "_meta")]
    meta: MetaObject,
}

/// `tools`: the JSON array of the tools this request may list.
pub fn listing(tools: Box<RawValue>) -> Listing {
    Listing {
        tools,
        result_type: ResultType::COMPLETE,
        ttl_ms: TTL_MS,
        // What is listed follows the caller's scopes and connection.
        cache_scope: CacheScope::Private,
        meta: server_meta(),
    }
}

/// The server's name and version, which every 2026-era result carries.
pub fn server_meta() -> MetaObject {
    let mut meta = MetaObject::new();
    meta.0.insert(
        SERVER_INFO.to_owned(),
        serde_json::to_value(identity::server_info()).expect("server info serialises"),
    );
    meta
}
