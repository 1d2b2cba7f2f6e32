//! The Quilt package format, exactly as quilt3 7.2.0 reads and writes it (see
//! `testdata/`, produced by quilt3): manifests, top hashes, content hashes, pointers
//! and the URIs people paste. Pure Rust with no I/O, so it is unit-tested natively —
//! except `store`, which reads and writes packages in their bucket through S3.
//!
//! Why not the `quilt-rs` crate (quiltdata/quilt-rs): neither a dependency nor an
//! oracle. Its releases depend on tokio, reqwest, aws-sdk-s3 and tokio-rusqlite, which
//! do not build for wasm32-wasip2, and the newest needs Rust 1.97 (this workspace pins
//! 1.95). As a native-only test oracle it would add hundreds of crates to the build
//! for checks the quilt3-generated fixtures already make against the reference client.

pub mod content_hash;
pub mod json;
pub mod layout;
pub mod links;
pub mod manifest;
pub mod store;
pub mod workflow;
