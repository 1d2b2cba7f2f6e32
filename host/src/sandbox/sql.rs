//! SQL over the data lake: where Athena and Glue are, which workgroup and output location
//! queries use, which catalog holds Quilt's Tabulator tables, and whether statements other
//! than queries may run. The `serve` flags of SQL; the guest signs every call itself with the
//! caller's credentials, so the host only allow-lists the two origins and hands these on.

use clap::Args;
use quilt_mcp_policy::defaults;
use quilt_mcp_policy::settings::url_for_guest;
use url::Url;

/// The `serve` flags of the SQL tools.
#[derive(Debug, Clone, Args)]
pub struct SqlConfig {
    /// The Athena API endpoint (default: https://athena.<region>.amazonaws.com). Its origin
    /// joins the guest's egress allow-list.
    #[arg(long, env = "QUILT_MCP_ATHENA_ENDPOINT")]
    pub athena_endpoint: Option<Url>,

    /// The Glue API endpoint (default: https://glue.<region>.amazonaws.com), for the tables of
    /// the Glue catalog. Its origin joins the guest's egress allow-list.
    #[arg(long, env = "QUILT_MCP_GLUE_ENDPOINT")]
    pub glue_endpoint: Option<Url>,

    /// The Athena workgroup queries run in unless a call names another.
    #[arg(long, env = "QUILT_MCP_ATHENA_WORKGROUP", default_value = DEFAULT_WORKGROUP)]
    pub athena_workgroup: String,

    /// Where Athena writes query results, s3://bucket/prefix/ (default: the workgroup's own
    /// location). The credentials of a request that may run SQL may write there, and only
    /// there beyond what its other tools allow.
    #[arg(long, env = "QUILT_MCP_ATHENA_OUTPUT_LOCATION", value_parser = OutputLocation::parse)]
    pub athena_output_location: Option<OutputLocation>,

    /// The Athena data catalog of Quilt's Tabulator tables (its databases are bucket names);
    /// without it the Tabulator tools say there is none.
    #[arg(long, env = "QUILT_MCP_TABULATOR_CATALOG")]
    pub tabulator_catalog: Option<String>,

    /// How long a SQL call waits for its query before returning its query id, which a later
    /// athena_query_results call continues with (default: two thirds of
    /// --request-timeout-ms; at most 90% of it).
    #[arg(long, env = "QUILT_MCP_ATHENA_WAIT_MS")]
    pub athena_wait_ms: Option<u32>,

    /// Let callers whose token has the write scope run SQL other than queries (CREATE TABLE
    /// AS, INSERT, …). Off: only SELECT, WITH, SHOW, DESCRIBE and EXPLAIN run.
    #[arg(long, env = "QUILT_MCP_ATHENA_ALLOW_WRITES", default_value_t = false,
          action = clap::ArgAction::Set)]
    pub athena_allow_writes: bool,
}

/// Every AWS account's first workgroup.
const DEFAULT_WORKGROUP: &str = "primary";

/// The flags' defaults, without reading the environment.
impl Default for SqlConfig {
    fn default() -> Self {
        Self {
            athena_endpoint: None,
            glue_endpoint: None,
            athena_workgroup: DEFAULT_WORKGROUP.to_owned(),
            athena_output_location: None,
            tabulator_catalog: None,
            athena_wait_ms: None,
            athena_allow_writes: false,
        }
    }
}

impl SqlConfig {
    /// Settles how long calls wait for a query within `request_timeout_ms`: two thirds of it
    /// unless given, and never so long that no time is left to fetch and return the rows.
    pub fn settle_wait(&mut self, request_timeout_ms: u64) -> Result<(), SqlConfigError> {
        let default = u32::try_from(request_timeout_ms * 2 / 3).unwrap_or(u32::MAX);
        let wait_ms = *self.athena_wait_ms.get_or_insert(default);
        if u64::from(wait_ms) * 10 > request_timeout_ms * 9 {
            return Err(SqlConfigError::WaitTooLong {
                wait_ms,
                request_timeout_ms,
            });
        }
        Ok(())
    }

    pub fn athena_endpoint(&self, region: &str) -> Url {
        endpoint(self.athena_endpoint.as_ref(), "athena", region)
    }

    pub fn glue_endpoint(&self, region: &str) -> Url {
        endpoint(self.glue_endpoint.as_ref(), "glue", region)
    }
}

fn endpoint(configured: Option<&Url>, service: &str, region: &str) -> Url {
    configured.cloned().unwrap_or_else(|| {
        defaults::aws_endpoint(service, region).expect("--aws-region is checked when parsed")
    })
}

#[derive(Debug, thiserror::Error)]
pub enum SqlConfigError {
    #[error(
        "--athena-wait-ms {wait_ms} leaves no time within --request-timeout-ms {request_timeout_ms} to fetch a query's rows; keep it under 90% of the request timeout"
    )]
    WaitTooLong {
        wait_ms: u32,
        request_timeout_ms: u64,
    },
}

/// An `s3://bucket/prefix/` location for query results.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputLocation {
    pub bucket: String,
    /// Empty, or ending in `/`.
    pub prefix: String,
}

impl OutputLocation {
    fn parse(text: &str) -> Result<Self, String> {
        let rest = text.strip_prefix("s3://").ok_or_else(|| {
            format!("{text:?} is not an s3:// location, e.g. s3://my-bucket/athena-results/")
        })?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let bucket_ok = (3..=63).contains(&bucket.len())
            && bucket
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
        // A policy resource is built from it, within STS's 2,048 characters: no wildcards or
        // other characters IAM reads; and a prefix of its own keeps read-only callers' writes
        // out of the rest of the bucket.
        let prefix_ok = (1..=256).contains(&prefix.len())
            && prefix
                .bytes()
                .all(|b| b.is_ascii_graphic() && !b"*?$\"\\".contains(&b))
            && !prefix.split('/').any(|part| part == ".." || part == ".");
        if !bucket_ok || !prefix_ok {
            return Err(format!(
                "{text:?} is not a results location: a bucket name, then a prefix of up to 256 characters \
                 without wildcards, spaces or '..', e.g. s3://my-bucket/athena-results/"
            ));
        }
        let prefix = match prefix {
            p if p.ends_with('/') => p.to_owned(),
            p => format!("{p}/"),
        };
        Ok(Self {
            bucket: bucket.to_owned(),
            prefix,
        })
    }

    pub fn uri(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.prefix)
    }
}

/// What every request's guest is told about SQL.
#[derive(Debug, Clone)]
pub struct SqlDeployment {
    pub athena_endpoint: String,
    pub glue_endpoint: String,
    pub workgroup: String,
    pub output_location: Option<OutputLocation>,
    pub tabulator_catalog: Option<String>,
    pub wait_ms: u32,
    pub allow_writes: bool,
}

impl SqlDeployment {
    pub fn new(config: &SqlConfig, region: &str) -> Self {
        Self {
            athena_endpoint: url_for_guest(&config.athena_endpoint(region)),
            glue_endpoint: url_for_guest(&config.glue_endpoint(region)),
            workgroup: config.athena_workgroup.clone(),
            output_location: config.athena_output_location.clone(),
            tabulator_catalog: config.tabulator_catalog.clone(),
            // Settled at start-up (`settle_wait`); unsettled (tests), the default deadline's share.
            wait_ms: config.athena_wait_ms.unwrap_or(20_000),
            allow_writes: config.athena_allow_writes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{OutputLocation, SqlConfig};

    #[test]
    fn a_wait_must_leave_time_for_the_rows() {
        let mut config = SqlConfig::default();
        config.settle_wait(3_000).unwrap();
        assert_eq!(config.athena_wait_ms, Some(2_000), "two thirds by default");
        let mut config = SqlConfig {
            athena_wait_ms: Some(20_000),
            ..SqlConfig::default()
        };
        assert!(config.clone().settle_wait(30_000).is_ok());
        let refused = config.settle_wait(20_000).unwrap_err().to_string();
        assert!(refused.contains("--athena-wait-ms 20000"), "{refused}");
    }

    #[test]
    fn output_locations_are_a_bucket_and_a_plain_prefix() {
        let parsed = OutputLocation::parse("s3://results/athena").unwrap();
        assert_eq!(
            (parsed.bucket.as_str(), parsed.prefix.as_str()),
            ("results", "athena/")
        );
        assert_eq!(parsed.uri(), "s3://results/athena/");
        let long = format!("s3://results/{}/", "p".repeat(300));
        for hostile in [
            "s3://results",
            "s3://results/",
            long.as_str(),
            "https://results/x/",
            "s3://Results/x/",
            "s3://results/*",
            "s3://results/a/../b/",
            "s3://results/a b/",
            "s3://r/x/",
        ] {
            let error = OutputLocation::parse(hostile).unwrap_err();
            assert!(
                error.contains("e.g. s3://my-bucket/athena-results/"),
                "{hostile}: {error}"
            );
        }
    }
}
