//! What a stand-in serves, for whom, and where it finds the services behind it.

use std::net::SocketAddr;
use std::time::Duration;

use url::Url;

/// A stand-in's whole configuration; [`crate::RegistryStandin::start`] takes it as is.
#[derive(Debug, Clone)]
pub struct StandinConfig {
    /// Where to listen; port 0 picks a free one ([`crate::RegistryStandin::url`] tells which).
    pub listen: SocketAddr,
    /// Tokens must be RS256-signed by a key published here.
    pub jwks_url: Url,
    /// The `iss` every token must carry.
    pub issuer: String,
    /// The `aud` every token must carry (STS checks the same token, so it is its `clientId` too).
    pub audience: String,
    /// S3, read with [`Self::indexer`] to build the search indices.
    pub s3_endpoint: Url,
    pub region: String,
    /// An identity that may list and read every granted bucket, as the real registry's indexer has.
    pub indexer: AccessKeys,
    /// Where `AssumeRoleWithWebIdentity` is sent (SeaweedFS answers it on its S3 port).
    pub sts_endpoint: Url,
    /// Who has a Quilt role; a valid token whose `sub` is not here is refused with 403.
    pub users: Vec<UserGrant>,
    /// A search naming more indices than this is refused with 403, as the real search proxy can.
    pub max_indices: usize,
    /// Tabulator tables of the buckets, as the registry's bucket configuration holds them.
    pub tabulator: Vec<TabulatorTable>,
    /// The bearer of Quilt's Tabulator service (the Athena stand-in's), which reads every
    /// bucket's configuration; none: no such service.
    pub service_token: Option<String>,
    /// A bucket indexed less than this long ago is not read again before a search; zero reads
    /// it before every search, so tests find what they wrote a moment earlier.
    pub refresh: Duration,
}

/// One Tabulator table of a bucket: its name and Tabulator's YAML configuration.
#[derive(Debug, Clone)]
pub struct TabulatorTable {
    pub bucket: String,
    pub name: String,
    pub config: String,
}

/// An S3 access key pair.
#[derive(Debug, Clone)]
pub struct AccessKeys {
    pub access_key_id: String,
    pub secret_access_key: String,
}

/// One user's Quilt role: the AWS role their token is exchanged for, and the buckets the
/// catalog shows them (and lets them search).
#[derive(Debug, Clone)]
pub struct UserGrant {
    /// The token's `sub`.
    pub subject: String,
    pub role_arn: String,
    pub buckets: Vec<String>,
}

impl StandinConfig {
    pub(crate) fn grant_for(&self, subject: &str) -> Option<&UserGrant> {
        self.users.iter().find(|grant| grant.subject == subject)
    }
}
