//! The deployment, read from runtime configuration variables (`wasi:config/store`).
//!
//! Keys are lower-case with underscores because Spin accepts no other variable names.
//! An empty value counts as unset: Spin needs a default for every optional variable,
//! and its manifest gives them `""`.

use std::collections::BTreeMap;
use std::fmt;

use quilt_mcp_policy::defaults;
use url::Url;

pub const REGION: &str = "aws_region";
pub const S3_ENDPOINT: &str = "s3_endpoint";
pub const S3_PATH_STYLE: &str = "s3_path_style";
pub const ACCESS_KEY_ID: &str = "aws_access_key_id";
pub const SECRET_ACCESS_KEY: &str = "aws_secret_access_key";
pub const SESSION_TOKEN: &str = "aws_session_token";
pub const CATALOG_URL: &str = "catalog_url";
pub const REGISTRY_URL: &str = "registry_url";
pub const BUCKETS: &str = "buckets";
pub const MAX_MANIFEST_BYTES: &str = "max_manifest_bytes";
pub const MAX_MANIFEST_ENTRIES: &str = "max_manifest_entries";

/// Every key read, for the checks of the deployment manifests.
#[cfg(test)]
pub const KEYS: [&str; 11] = [
    REGION,
    S3_ENDPOINT,
    S3_PATH_STYLE,
    ACCESS_KEY_ID,
    SECRET_ACCESS_KEY,
    SESSION_TOKEN,
    CATALOG_URL,
    REGISTRY_URL,
    BUCKETS,
    MAX_MANIFEST_BYTES,
    MAX_MANIFEST_ENTRIES,
];

/// One static key pair for everyone who reaches this deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticKeys {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub region: String,
    pub s3_endpoint: Url,
    pub path_style: bool,
    /// None: S3 tools answer that no credentials are configured.
    pub keys: Option<StaticKeys>,
    pub catalog_url: Option<Url>,
    pub registry_url: Option<Url>,
    pub buckets: Vec<String>,
    pub max_manifest_bytes: u64,
    pub max_manifest_entries: u32,
}

impl Config {
    /// Athena's and Glue's regional endpoints: standalone, SQL goes to AWS in the region.
    pub fn sql_endpoints(&self) -> [Url; 2] {
        ["athena", "glue"].map(|service| {
            quilt_mcp_policy::defaults::aws_endpoint(service, &self.region)
                .expect("the region is checked when read")
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigError {
    /// The runtime could not hand over its configuration.
    Unreadable(String),
    Invalid {
        key: &'static str,
        value: String,
        expected: &'static str,
    },
    /// One half of the key pair without the other.
    HalfAKeyPair {
        present: &'static str,
        missing: &'static str,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unreadable(detail) => write!(
                f,
                "the runtime's configuration store failed ({detail}); check the component's configuration in the runtime"
            ),
            Self::Invalid {
                key,
                value,
                expected,
            } => write!(
                f,
                "runtime config variable `{key}` is {value:?}, which is not {expected}; fix it in the deployment's configuration"
            ),
            Self::HalfAKeyPair { present, missing } => write!(
                f,
                "runtime config variable `{present}` is set but `{missing}` is not; set both, or neither to run without S3 credentials"
            ),
        }
    }
}

impl Config {
    /// Reads every setting from `pairs` (what `wasi:config/store.get-all` returned);
    /// unknown keys are ignored, since a runtime may hand over more than this component's.
    pub fn from_pairs(pairs: Vec<(String, String)>) -> Result<Self, ConfigError> {
        let values: BTreeMap<String, String> = pairs
            .into_iter()
            .filter(|(_, value)| !value.trim().is_empty())
            .map(|(key, value)| (key, value.trim().to_owned()))
            .collect();
        let get = |key: &str| values.get(key).cloned();

        // Unset settings take `quilt-mcp serve`'s defaults (quilt_mcp_policy::defaults).
        let region = get(REGION).unwrap_or_else(|| defaults::REGION.to_owned());
        if defaults::check_region(&region).is_err() {
            return Err(ConfigError::Invalid {
                key: REGION,
                value: region,
                expected: "an AWS region name, e.g. us-east-1",
            });
        }
        let s3_endpoint = match get(S3_ENDPOINT) {
            Some(value) => origin_url(S3_ENDPOINT, value)?,
            None => defaults::s3_endpoint(&region).expect("the region was checked above"),
        };
        Ok(Self {
            s3_endpoint,
            path_style: get(S3_PATH_STYLE)
                .map(|value| parse_bool(S3_PATH_STYLE, value))
                .transpose()?
                .unwrap_or(defaults::PATH_STYLE),
            keys: static_keys(
                get(ACCESS_KEY_ID),
                get(SECRET_ACCESS_KEY),
                get(SESSION_TOKEN),
            )?,
            catalog_url: get(CATALOG_URL)
                .map(|value| origin_url(CATALOG_URL, value))
                .transpose()?,
            registry_url: get(REGISTRY_URL)
                .map(|value| origin_url(REGISTRY_URL, value))
                .transpose()?,
            buckets: get(BUCKETS)
                .map(|value| {
                    // Spaces as well as commas: `wasmtime serve -S` splits its
                    // argument at commas, so a comma cannot reach a config value there.
                    value
                        .split(|c: char| c == ',' || c.is_whitespace())
                        .filter(|name| !name.is_empty())
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default(),
            max_manifest_bytes: get(MAX_MANIFEST_BYTES)
                .map(|value| parse_number(MAX_MANIFEST_BYTES, value))
                .transpose()?
                .unwrap_or(defaults::MAX_MANIFEST_BYTES),
            max_manifest_entries: get(MAX_MANIFEST_ENTRIES)
                .map(|value| parse_number(MAX_MANIFEST_ENTRIES, value))
                .transpose()?
                .unwrap_or(defaults::MAX_MANIFEST_ENTRIES),
            region,
        })
    }
}

fn static_keys(
    access_key_id: Option<String>,
    secret_access_key: Option<String>,
    session_token: Option<String>,
) -> Result<Option<StaticKeys>, ConfigError> {
    match (access_key_id, secret_access_key) {
        (Some(access_key_id), Some(secret_access_key)) => Ok(Some(StaticKeys {
            access_key_id,
            secret_access_key,
            session_token,
        })),
        (None, None) => Ok(None),
        (Some(_), None) => Err(ConfigError::HalfAKeyPair {
            present: ACCESS_KEY_ID,
            missing: SECRET_ACCESS_KEY,
        }),
        (None, Some(_)) => Err(ConfigError::HalfAKeyPair {
            present: SECRET_ACCESS_KEY,
            missing: ACCESS_KEY_ID,
        }),
    }
}

/// An http(s) URL with a host: anything else could not be an origin to allow.
fn origin_url(key: &'static str, value: String) -> Result<Url, ConfigError> {
    let invalid = |value: String| ConfigError::Invalid {
        key,
        value,
        expected: "an http:// or https:// URL with a host",
    };
    match Url::parse(&value) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.host_str().is_some() => Ok(url),
        _ => Err(invalid(value)),
    }
}

fn parse_bool(key: &'static str, value: String) -> Result<bool, ConfigError> {
    match value.to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(ConfigError::Invalid {
            key,
            value,
            expected: "true or false",
        }),
    }
}

fn parse_number<T: std::str::FromStr>(key: &'static str, value: String) -> Result<T, ConfigError> {
    value.parse().map_err(|_| ConfigError::Invalid {
        key,
        value,
        expected: "a whole number",
    })
}

#[cfg(test)]
mod tests {
    use super::{
        ACCESS_KEY_ID, BUCKETS, CATALOG_URL, Config, ConfigError, MAX_MANIFEST_BYTES,
        MAX_MANIFEST_ENTRIES, REGION, REGISTRY_URL, S3_ENDPOINT, S3_PATH_STYLE, SECRET_ACCESS_KEY,
        SESSION_TOKEN, StaticKeys,
    };

    fn config(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::from_pairs(
            pairs
                .iter()
                .map(|(key, value)| (key.to_string(), value.to_string()))
                .collect(),
        )
    }

    #[test]
    fn nothing_set_means_aws_in_us_east_1_without_keys_and_the_hosts_limits() {
        let config = config(&[]).unwrap();
        assert_eq!(config.region, "us-east-1");
        assert_eq!(
            config.s3_endpoint.as_str(),
            "https://s3.us-east-1.amazonaws.com/"
        );
        assert!(config.path_style);
        assert_eq!(config.keys, None);
        assert_eq!(config.max_manifest_bytes, 16 << 20);
        assert_eq!(config.max_manifest_entries, 50_000);
        assert!(config.buckets.is_empty() && config.registry_url.is_none());
    }

    #[test]
    fn the_default_endpoint_follows_the_region() {
        let config = config(&[(REGION, "eu-west-2")]).unwrap();
        assert_eq!(
            config.s3_endpoint.as_str(),
            "https://s3.eu-west-2.amazonaws.com/"
        );
    }

    #[test]
    fn a_region_that_would_move_the_default_endpoint_is_refused() {
        for (pairs, named) in [
            (vec![(REGION, "x@evil.example#")], "x@evil.example#"),
            (
                vec![(REGION, "a/b"), (S3_ENDPOINT, "http://127.0.0.1:8333")],
                "a/b",
            ),
        ] {
            let refused = config(&pairs).unwrap_err().to_string();
            assert!(
                refused.contains(named) && refused.contains("region"),
                "{refused}"
            );
        }
    }

    #[test]
    fn every_setting_is_read() {
        let config = config(&[
            (S3_ENDPOINT, "http://127.0.0.1:8333"),
            (S3_PATH_STYLE, "False"),
            (ACCESS_KEY_ID, "AKID"),
            (SECRET_ACCESS_KEY, "secret"),
            (SESSION_TOKEN, "session"),
            (CATALOG_URL, "https://catalog.example.com"),
            (REGISTRY_URL, "https://registry.example.com"),
            (BUCKETS, " alpha, ,beta gamma "),
            (MAX_MANIFEST_BYTES, "1024"),
            (MAX_MANIFEST_ENTRIES, "7"),
            ("some_other_components_key", "ignored"),
        ])
        .unwrap();
        assert_eq!(config.s3_endpoint.as_str(), "http://127.0.0.1:8333/");
        assert!(!config.path_style);
        assert_eq!(
            config.keys,
            Some(StaticKeys {
                access_key_id: "AKID".into(),
                secret_access_key: "secret".into(),
                session_token: Some("session".into()),
            })
        );
        assert_eq!(config.buckets, ["alpha", "beta", "gamma"]);
        assert_eq!(
            config.registry_url.map(String::from).as_deref(),
            Some("https://registry.example.com/")
        );
        assert_eq!(
            (config.max_manifest_bytes, config.max_manifest_entries),
            (1024, 7)
        );
    }

    #[test]
    fn empty_values_count_as_unset() {
        let config = config(&[
            (ACCESS_KEY_ID, ""),
            (SECRET_ACCESS_KEY, " "),
            (S3_ENDPOINT, ""),
        ])
        .unwrap();
        assert_eq!(config.keys, None);
        assert_eq!(
            config.s3_endpoint.as_str(),
            "https://s3.us-east-1.amazonaws.com/"
        );
    }

    #[test]
    fn bad_values_name_the_variable_and_what_it_should_be() {
        let cases = [
            (
                S3_ENDPOINT,
                "ftp://files.example.com",
                "http:// or https:// URL",
            ),
            (S3_ENDPOINT, "not a url", "http:// or https:// URL"),
            (
                REGISTRY_URL,
                "unix:/var/run/registry",
                "http:// or https:// URL",
            ),
            (S3_PATH_STYLE, "yes", "true or false"),
            (MAX_MANIFEST_BYTES, "16MiB", "whole number"),
            (MAX_MANIFEST_ENTRIES, "-1", "whole number"),
        ];
        for (key, value, expected) in cases {
            let message = config(&[(key, value)]).unwrap_err().to_string();
            assert!(message.contains(&format!("`{key}`")), "{message}");
            assert!(message.contains(expected), "{message}");
        }
    }

    #[test]
    fn half_a_key_pair_is_refused() {
        let message = config(&[(ACCESS_KEY_ID, "AKID")]).unwrap_err().to_string();
        assert!(
            message.contains("`aws_secret_access_key` is not"),
            "{message}"
        );
        let message = config(&[(SECRET_ACCESS_KEY, "s")]).unwrap_err().to_string();
        assert!(message.contains("`aws_access_key_id` is not"), "{message}");
    }
}
