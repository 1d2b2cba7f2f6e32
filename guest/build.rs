//! The `tools/list` snapshot is checked in pretty-printed, for review; the guest serves it
//! compact, which halves the bytes every listing sends, and one tool at a time, since each
//! request lists only the tools its grant allows.
//!
//! Writes `tools-listed.rs`: `LISTED`, each tool's name with its compact JSON.

use std::path::Path;

fn main() {
    let snapshot = "src/tools/list.json";
    println!("cargo::rerun-if-changed={snapshot}");
    let pretty = std::fs::read_to_string(snapshot).expect("src/tools/list.json exists");
    let listing: serde_json::Value =
        serde_json::from_str(&pretty).expect("src/tools/list.json is JSON");
    let out_dir = std::env::var("OUT_DIR").expect("cargo sets OUT_DIR");
    let tools = listing["tools"]
        .as_array()
        .expect("src/tools/list.json is {\"tools\": [...]}");
    let mut code = format!("pub const LISTED: [(&str, &str); {}] = [\n", tools.len());
    for tool in tools {
        let name = tool["name"].as_str().expect("every tool has a name");
        // Debug formatting writes a valid Rust string literal.
        code.push_str(&format!("    ({name:?}, {:?}),\n", tool.to_string()));
    }
    code.push_str("];\n");
    std::fs::write(Path::new(&out_dir).join("tools-listed.rs"), code).expect("OUT_DIR is writable");
}
