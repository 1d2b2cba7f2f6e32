//! What a deployment is when its operator configures nothing: the flags' defaults of
//! `quilt-mcp serve` and the adapter's for unset runtime variables.

use url::Url;

/// AWS region requests are signed for.
pub const REGION: &str = "us-east-1";
/// Buckets are addressed in the path (`endpoint/bucket/key`), not as subdomains.
pub const PATH_STYLE: bool = true;
/// Largest package manifest the tools read or write.
pub const MAX_MANIFEST_BYTES: u64 = 16 << 20;
/// Most entries a package manifest may have for the tools to read or write it.
pub const MAX_MANIFEST_ENTRIES: u32 = 50_000;

/// AWS's S3 endpoint for `region`, the endpoint when none is configured. Fails only for a
/// region name that cannot stand in a host name.
pub fn s3_endpoint(region: &str) -> Result<Url, url::ParseError> {
    Url::parse(&format!("https://s3.{region}.amazonaws.com"))
}
