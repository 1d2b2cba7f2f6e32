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

/// A value that is not an AWS region name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidRegion;

impl std::fmt::Display for InvalidRegion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("not an AWS region name: lowercase letters, digits and '-', e.g. us-east-1")
    }
}

impl std::error::Error for InvalidRegion {}

/// `region` if it is shaped like an AWS region name: one DNS label of lowercase letters,
/// digits and inner hyphens. The region names the default endpoint's host (whose origin the
/// egress rule then allows) and every request's signing scope, so nothing else may pass.
pub fn check_region(region: &str) -> Result<&str, InvalidRegion> {
    let label = (1..=63).contains(&region.len())
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !region.starts_with('-')
        && !region.ends_with('-');
    if label {
        Ok(region)
    } else {
        Err(InvalidRegion)
    }
}

/// AWS's S3 endpoint for `region`, the endpoint when none is configured.
pub fn s3_endpoint(region: &str) -> Result<Url, InvalidRegion> {
    aws_endpoint("s3", region)
}

/// The regional endpoint of an AWS service (`s3`, `athena`, `glue`).
pub fn aws_endpoint(service: &str, region: &str) -> Result<Url, InvalidRegion> {
    let region = check_region(region)?;
    Url::parse(&format!("https://{service}.{region}.amazonaws.com")).map_err(|_| InvalidRegion)
}
