//! The second layer behind the import check: were a guest that imports `wasi:sockets` ever
//! linked (the allow-list widened, the check bypassed), the per-request WASI context would still
//! deny it every socket and every name lookup.
//!
//! `tests/sockets-guest` tries TCP, UDP and DNS through `std::net`; here it runs against a linker
//! that does provide wasi:sockets, in the production WASI context ([`wasi_context`]).

use std::io::Write;
use std::path::PathBuf;

use wasmtime::Store;
use wasmtime::component::{Linker, ResourceTable};
use wasmtime_wasi::p2::bindings::Command;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::{GuestOutput, wasi_context};
use crate::sandbox::engine::{EngineLimits, load_component, new_engine};

/// Set by the Makefile to the built `tests/sockets-guest` component.
const SOCKETS_GUEST_VARIABLE: &str = "QUILT_MCP_SOCKETS_WASM";
/// When set, each attempt is also appended to this file for `make sandbox-report`.
const REPORT_VARIABLE: &str = "QUILT_MCP_SANDBOX_REPORT";

/// Just WASI: the command needs nothing of the request's HTTP or request-context parts.
struct CommandState {
    wasi: WasiCtx,
    table: ResourceTable,
}

impl WasiView for CommandState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// Runs the sockets guest in the production WASI context and returns what it printed.
async fn run_sockets_guest() -> String {
    let wasm = std::env::var_os(SOCKETS_GUEST_VARIABLE).map(PathBuf::from).unwrap_or_else(|| {
        panic!(
            "{SOCKETS_GUEST_VARIABLE} is not set: run `make test`, which builds tests/sockets-guest and sets it"
        )
    });
    let engine = new_engine(&EngineLimits {
        max_instances: 1,
        guest_memory_bytes: 16 << 20,
    })
    .expect("the production engine");
    let component = load_component(&engine, &wasm).expect("the sockets guest loads");
    let mut linker = Linker::<CommandState>::new(&engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker).expect("WASI, sockets included, links");

    let output = GuestOutput::new();
    let state = CommandState {
        wasi: wasi_context(&output),
        table: ResourceTable::new(),
    };
    let mut store = Store::new(&engine, state);
    // Nothing advances the epoch in this test; any deadline above zero never passes.
    store.set_epoch_deadline(1);
    let command = Command::instantiate_async(&mut store, &component, &linker)
        .await
        .expect("the sockets guest instantiates");
    command
        .wasi_cli_run()
        .call_run(&mut store)
        .await
        .expect("the sockets guest runs without trapping")
        .expect("the sockets guest exits successfully");
    String::from_utf8(output.stdout.contents().to_vec()).expect("utf-8 output")
}

#[tokio::test]
async fn sockets_and_name_lookup_are_denied_at_run_time() {
    let printed = run_sockets_guest().await;
    // TCP and UDP must be refused by policy (PermissionDenied), not by the network: a
    // loopback connection that was allowed would be ConnectionRefused or succeed.
    let expectations = [
        (
            "tcp-connect",
            "TCP connect to 127.0.0.1:9",
            Some("PermissionDenied"),
        ),
        (
            "tcp-listen",
            "TCP listen on 127.0.0.1",
            Some("PermissionDenied"),
        ),
        (
            "udp-send",
            "UDP datagram to 127.0.0.1:9",
            Some("PermissionDenied"),
        ),
        // `localhost` resolves wherever lookups work at all: any error means it was refused.
        ("dns-lookup", "DNS lookup of localhost", None),
    ];
    let mut broken = Vec::new();
    for (name, attempt, kind) in expectations {
        let line = printed
            .lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix('\t'))
            .unwrap_or("no outcome printed");
        let fields: Vec<&str> = line.split('\t').collect();
        let held = fields[0] == "error" && kind.is_none_or(|kind| fields.get(1) == Some(&kind));
        let observed = fields.join(": ");
        record(attempt, "denied by the WASI context", &observed, held);
        if !held {
            broken.push(format!("{attempt}: {observed}"));
        }
    }
    assert!(
        broken.is_empty(),
        "socket attempts not denied: {broken:?}\nall output:\n{printed}"
    );
}

/// One line of the sandbox report, in the format of `quilt_mcp_tests::sandbox_report`.
fn record(attempt: &str, expected: &str, observed: &str, held: bool) {
    let Some(path) = std::env::var_os(REPORT_VARIABLE) else {
        return;
    };
    let line = serde_json::json!({
        "area": "sockets (linked anyway)",
        "attempt": attempt,
        "expected": expected,
        "observed": observed,
        "held": held,
    });
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .expect("the sandbox report file opens");
    writeln!(file, "{line}").expect("the sandbox report is written");
}
