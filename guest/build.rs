//! The `tools/list` snapshot is checked in pretty-printed, for review; the guest serves it
//! compact, which halves the bytes every listing sends.

use std::path::Path;

fn main() {
    let snapshot = "src/tools/list.json";
    println!("cargo::rerun-if-changed={snapshot}");
    let pretty = std::fs::read_to_string(snapshot).expect("src/tools/list.json exists");
    let listing: serde_json::Value =
        serde_json::from_str(&pretty).expect("src/tools/list.json is JSON");
    let out_dir = std::env::var("OUT_DIR").expect("cargo sets OUT_DIR");
    std::fs::write(
        Path::new(&out_dir).join("tools-list.json"),
        listing.to_string(),
    )
    .expect("OUT_DIR is writable");
}
