//! S3 as the tools see it: URIs, signed requests over the host's HTTP, typed errors.

pub mod client;
mod complete_xml;
pub mod error;
pub mod transfer;
pub mod uri;

pub use client::S3;
pub use error::Failure;
pub use uri::S3Uri;
