//! SQL over the data lake: where Athena and Glue are, which workgroup and output location
//! queries use, which catalog holds Quilt's Tabulator tables, and whether statements other
//! than queries may run. The `serve` flags of SQL; the guest signs every call itself with the
//! caller's credentials, so the host only allow-lists the two origins and hands these on.

use clap::Args;
use quilt_mcp_policy::defaults;

use crate::access::{Permissions, ResultsAccess, SessionPolicy, SqlAccess};
use quilt_mcp_policy::settings::url_for_guest;
use sha2::{Digest, Sha256};
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
    #[arg(long, env = "QUILT_MCP_ATHENA_WORKGROUP", default_value = DEFAULT_WORKGROUP,
          value_parser = workgroup_name)]
    pub athena_workgroup: String,

    /// Other workgroups a call may name (repeatable). Web-identity credentials may start
    /// queries only in these and --athena-workgroup, since a workgroup sets a query's limits.
    #[arg(long = "athena-workgroup-allow", env = "QUILT_MCP_ATHENA_WORKGROUP_ALLOW",
          value_delimiter = ',', value_parser = workgroup_name)]
    pub athena_workgroup_allow: Vec<String>,

    /// Where Athena writes query results, s3://bucket/prefix/ (default: the workgroup's own
    /// location). Each caller's results go under a sub-prefix of their own
    /// (`<prefix>callers/<hash of issuer and subject>/`): web-identity credentials may write
    /// there and nowhere else in the bucket, and the tools refuse other callers' places
    /// (S3 reads of them stay within the role's own rights: see the README). Required with
    /// --credentials web-identity, whose session policy must name it.
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
            athena_workgroup_allow: Vec::new(),
            athena_output_location: None,
            tabulator_catalog: None,
            athena_wait_ms: None,
            athena_allow_writes: false,
        }
    }
}

impl SqlConfig {
    /// Checks the flags together at start-up, and settles how long calls wait for a query
    /// within `request_timeout_ms`: two thirds of it unless given, and never so long that no
    /// time is left to fetch and return the rows.
    pub fn settle(&mut self, request_timeout_ms: u64) -> Result<(), SqlConfigError> {
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

    /// The workgroups calls may use: the default first.
    pub fn workgroups(&self) -> Vec<String> {
        let mut all = vec![self.athena_workgroup.clone()];
        for other in &self.athena_workgroup_allow {
            if !all.contains(other) {
                all.push(other.clone());
            }
        }
        all
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
        "the session policy of a request that may run SQL would be {0} characters, over the 2,048 STS accepts: name fewer or shorter workgroups (--athena-workgroup-allow) or a shorter --athena-output-location"
    )]
    PolicyTooLong(usize),
    #[error(
        "--athena-wait-ms {wait_ms} leaves no time within --request-timeout-ms {request_timeout_ms} to fetch a query's rows; keep it under 90% of the request timeout"
    )]
    WaitTooLong {
        wait_ms: u32,
        request_timeout_ms: u64,
    },
}

/// A workgroup name as Athena allows them; it becomes part of an IAM resource ARN.
fn workgroup_name(text: &str) -> Result<String, String> {
    let ok = (1..=128).contains(&text.len())
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if ok {
        Ok(text.to_owned())
    } else {
        Err(format!(
            "{text:?} is not an Athena workgroup name (1 to 128 letters, digits, '.', '_' or '-')"
        ))
    }
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

    /// Where every caller's own place lies: `callers/` under this one.
    pub fn callers(&self) -> Self {
        Self {
            bucket: self.bucket.clone(),
            prefix: format!("{}callers/", self.prefix),
        }
    }

    /// The caller's own place: in [`Self::callers`], a hash of who they are, so that no
    /// subject (which may hold any character) becomes part of a key or a policy.
    pub fn for_caller(&self, issuer: &str, subject: &str) -> Self {
        let issuer_length = u64::try_from(issuer.len()).expect("lengths fit in 64 bits");
        let who = Sha256::new()
            .chain_update(issuer_length.to_be_bytes())
            .chain_update(issuer)
            .chain_update(subject)
            .finalize();
        let hex: String = who[..16].iter().map(|b| format!("{b:02x}")).collect();
        let callers = self.callers();
        Self {
            prefix: format!("{}{hex}/", callers.prefix),
            ..callers
        }
    }
}

/// What every request's guest is told about SQL.
#[derive(Debug, Clone)]
pub struct SqlDeployment {
    pub athena_endpoint: String,
    pub glue_endpoint: String,
    /// The default workgroup first, then the others calls may name.
    pub workgroups: Vec<String>,
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
            workgroups: config.workgroups(),
            output_location: config.athena_output_location.clone(),
            tabulator_catalog: config.tabulator_catalog.clone(),
            // Settled at start-up (`settle`); unsettled (tests), the default deadline's share.
            wait_ms: config.athena_wait_ms.unwrap_or(20_000),
            allow_writes: config.athena_allow_writes,
        }
    }
}

impl SqlDeployment {
    /// What a request that may run SQL may do in AWS: `caller` (issuer, subject) writes and
    /// reads results in their own place under the output location. Without one (--no-auth),
    /// requests are all one anonymous caller, with a place of its own like any other.
    pub fn access(&self, caller: Option<(&str, &str)>, writes: bool) -> SqlAccess {
        let results = self.output_location.as_ref().map(|shared| {
            let (issuer, subject) = caller.unwrap_or(("", ""));
            ResultsAccess {
                bucket: shared.bucket.clone(),
                callers_prefix: shared.callers().prefix,
                own_prefix: shared.for_caller(issuer, subject).prefix,
            }
        });
        SqlAccess {
            workgroups: self.workgroups.clone(),
            results,
            tabulator: self.tabulator_catalog.is_some(),
            writes,
        }
    }

    /// Refuses, at start-up, a configuration whose longest session policy (every permission,
    /// a connection held to a bucket of the longest name) STS would refuse on every request.
    pub fn check_policy_fits(&self, partition: &str) -> Result<(), SqlConfigError> {
        const STS_POLICY_LIMIT: usize = 2048;
        let longest_bucket = "b".repeat(63);
        // Every caller's own place has the same length.
        let access = self.access(Some(("", "")), self.allow_writes);
        let document = SessionPolicy::new(Permissions::all(), Some(&longest_bucket))
            .with_sql(access)
            .document(partition);
        if document.len() > STS_POLICY_LIMIT {
            return Err(SqlConfigError::PolicyTooLong(document.len()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::{OutputLocation, SqlConfig, SqlDeployment};

    #[test]
    fn a_wait_must_leave_time_for_the_rows() {
        let mut config = SqlConfig::default();
        config.settle(3_000).unwrap();
        assert_eq!(config.athena_wait_ms, Some(2_000), "two thirds by default");
        let mut config = SqlConfig {
            athena_wait_ms: Some(20_000),
            ..SqlConfig::default()
        };
        assert!(config.clone().settle(30_000).is_ok());
        let refused = config.settle(20_000).unwrap_err().to_string();
        assert!(refused.contains("--athena-wait-ms 20000"), "{refused}");
    }

    #[test]
    fn each_caller_has_a_results_prefix_of_their_own() {
        let shared = OutputLocation::parse("s3://results/athena/").unwrap();
        let alice = shared.for_caller("https://issuer", "alice");
        assert_eq!(alice.bucket, "results");
        assert!(alice.prefix.starts_with("athena/callers/"), "{alice:?}");
        assert_eq!(alice.prefix.len(), "athena/callers/".len() + 33);
        assert_eq!(alice, shared.for_caller("https://issuer", "alice"));
        for other in [
            shared.for_caller("https://issuer", "bob"),
            shared.for_caller("https://other", "alice"),
            // The issuer's length is hashed too: no split of one string reads as another.
            shared.for_caller("https://issuera", "lice"),
        ] {
            assert_ne!(alice.prefix, other.prefix);
        }
        let hostile = shared.for_caller("i", "../*\"\n");
        assert!(
            hostile
                .prefix
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'/')
        );
        assert!(!hostile.prefix.contains(".."));
    }

    /// Under --no-auth every request is the one anonymous caller, whose place is one of its
    /// own, not the whole of every caller's.
    #[test]
    fn the_anonymous_caller_has_a_place_of_its_own() {
        let config = SqlConfig {
            athena_output_location: Some(OutputLocation::parse("s3://results/athena/").unwrap()),
            ..SqlConfig::default()
        };
        let deployment = SqlDeployment::new(&config, "us-east-1");
        let results = deployment.access(None, false).results.unwrap();
        assert_eq!(results.callers_prefix, "athena/callers/");
        assert!(
            results.own_prefix.starts_with(&results.callers_prefix)
                && results.own_prefix.len() > results.callers_prefix.len() + 1,
            "{results:?}"
        );
    }

    #[test]
    fn workgroups_go_into_arns_so_only_athenas_names_pass() {
        let config = SqlConfig {
            athena_workgroup_allow: vec!["slow".into(), "primary".into()],
            ..SqlConfig::default()
        };
        assert_eq!(config.workgroups(), ["primary", "slow"]);
        assert!(super::workgroup_name("team-a_1.x").is_ok());
        for hostile in ["", "a*", "a/b", "a:b", "a b", &"w".repeat(129)] {
            assert!(super::workgroup_name(hostile).is_err(), "{hostile}");
        }
    }

    #[test]
    fn a_configuration_whose_policies_sts_would_refuse_does_not_start() {
        let typical = SqlConfig {
            athena_workgroup: "QuiltUserAthena-prod".into(),
            athena_workgroup_allow: vec!["analysts-large".into()],
            athena_output_location: Some(
                OutputLocation::parse("s3://quilt-prod-athena-results/mcp/").unwrap(),
            ),
            tabulator_catalog: Some("quilt-prod-tabulator".into()),
            athena_allow_writes: true,
            ..SqlConfig::default()
        };
        let deployment = SqlDeployment::new(&typical, "us-gov-west-1");
        deployment.check_policy_fits("aws-us-gov").unwrap();
        let crowded = SqlConfig {
            athena_workgroup_allow: (0..8).map(|i| format!("{i}{}", "w".repeat(100))).collect(),
            ..typical
        };
        let refused = SqlDeployment::new(&crowded, "us-east-1")
            .check_policy_fits("aws")
            .unwrap_err()
            .to_string();
        assert!(refused.contains("over the 2,048 STS accepts"), "{refused}");
    }

    #[test]
    fn output_locations_are_a_bucket_and_a_plain_prefix() {
        let parsed = OutputLocation::parse("s3://results/athena").unwrap();
        assert_eq!(
            (parsed.bucket.as_str(), parsed.prefix.as_str()),
            ("results", "athena/")
        );
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
