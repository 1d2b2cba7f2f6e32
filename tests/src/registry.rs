//! The Quilt registry stand-in (crate `quilt-registry-standin`) wired to the harness's parts:
//! it indexes a SeaweedFS with the admin keys, exchanges tokens at that SeaweedFS's STS, and
//! checks tokens against a JWKS server of the harness.
//!
//! ```ignore
//! let config = registry::standin_config(&seaweed, &jwks.jwks_url(), &issuer, AUDIENCE,
//!     vec![registry::grant(&reader)])?;
//! let registry = RegistryStandin::start(config).await?;   // registry.url(), .searches(), …
//! ```

use std::time::Duration;

use anyhow::Result;
pub use quilt_registry_standin::{
    AccessKeys, RegistryStandin, SearchRecord, StandinConfig, TabulatorTable, UserGrant,
};
use url::Url;

use crate::s3::REGION;
use crate::seaweedfs::{ADMIN, SeaweedFs};
use crate::sts::BucketReader;

/// More indices than a test names, fewer than a search over every bucket of a big catalog.
pub const DEFAULT_MAX_INDICES: usize = 100;

/// A stand-in on a free loopback port for tokens of `issuer` and `audience`, granting `users`;
/// change fields (e.g. `max_indices`) before [`RegistryStandin::start`].
pub fn standin_config(
    seaweed: &SeaweedFs,
    jwks_url: &str,
    issuer: &str,
    audience: &str,
    users: Vec<UserGrant>,
) -> Result<StandinConfig> {
    Ok(StandinConfig {
        listen: "127.0.0.1:0".parse()?,
        jwks_url: Url::parse(jwks_url)?,
        issuer: issuer.to_owned(),
        audience: audience.to_owned(),
        s3_endpoint: seaweed.s3_endpoint.clone(),
        region: REGION.to_owned(),
        indexer: AccessKeys {
            access_key_id: ADMIN.access_key_id.to_owned(),
            secret_access_key: ADMIN.secret_access_key.to_owned(),
        },
        // SeaweedFS answers STS on its S3 port.
        sts_endpoint: seaweed.s3_endpoint.clone(),
        users,
        max_indices: DEFAULT_MAX_INDICES,
        tabulator: Vec::new(),
        service_token: None,
        refresh: Duration::ZERO,
    })
}

/// The Quilt role matching a SeaweedFS STS reader: same subject and role, that one bucket.
pub fn grant(reader: &BucketReader) -> UserGrant {
    UserGrant {
        subject: reader.subject.clone(),
        role_arn: reader.role_arn(),
        buckets: vec![reader.bucket.clone()],
    }
}
