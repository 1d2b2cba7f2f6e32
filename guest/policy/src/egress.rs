//! Which outgoing requests of the tools guest may leave.
//!
//! Only to an allowed [`Origin`]: the S3 endpoint, the Quilt registry, and whatever else the
//! operator allows. An `Authorization` header may go to the registry only: it is where the
//! guest sends the caller's forwarded token, and S3 requests are presigned in the query string,
//! so such a header bound anywhere else can only be that token leaking.

use std::fmt;

use url::Url;

use crate::origin::Origin;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowList {
    /// The registry's origin among them.
    allowed: Vec<Origin>,
    /// The only origin an `Authorization` header may go to.
    registry: Option<Origin>,
}

/// Why a request may not leave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No http or https scheme, or no authority: nothing to check against.
    Unaddressed,
    OriginNotAllowed,
    AuthorizationOffRegistry,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Unaddressed => "no http(s) scheme and authority",
            Self::OriginNotAllowed => "origin not allowed",
            Self::AuthorizationOffRegistry => {
                "authorization header toward an origin other than the registry's"
            }
        })
    }
}

impl std::error::Error for Refusal {}

impl AllowList {
    /// Allows the origins of `urls` and the registry's. URLs that name no http(s) origin allow
    /// nothing.
    pub fn new<'a>(urls: impl IntoIterator<Item = &'a Url>, registry: Option<&Url>) -> Self {
        let registry = registry.and_then(Origin::of);
        let mut allowed: Vec<Origin> = Vec::new();
        for origin in urls
            .into_iter()
            .filter_map(Origin::of)
            .chain(registry.clone())
        {
            if !allowed.contains(&origin) {
                allowed.push(origin);
            }
        }
        Self { allowed, registry }
    }

    /// Checks a request to `scheme://authority` (each `None` when the request names none).
    pub fn check(
        &self,
        scheme: Option<&str>,
        authority: Option<&str>,
        carries_authorization: bool,
    ) -> Result<(), Refusal> {
        let (Some(scheme), Some(authority)) = (scheme, authority) else {
            return Err(Refusal::Unaddressed);
        };
        if !["http", "https"]
            .iter()
            .any(|known| scheme.eq_ignore_ascii_case(known))
        {
            return Err(Refusal::Unaddressed);
        }
        if !self
            .allowed
            .iter()
            .any(|origin| origin.matches(scheme, authority))
        {
            return Err(Refusal::OriginNotAllowed);
        }
        let to_registry = self
            .registry
            .as_ref()
            .is_some_and(|registry| registry.matches(scheme, authority));
        if carries_authorization && !to_registry {
            return Err(Refusal::AuthorizationOffRegistry);
        }
        Ok(())
    }

    /// Whether a virtual-host-style S3 URL (`<bucket>.<endpoint host>`) can ever pass: only
    /// when some allowed origin is such a subdomain, on the endpoint's scheme and port.
    pub fn allows_a_subdomain_of(&self, endpoint: &Url) -> bool {
        Origin::of(endpoint).is_some_and(|endpoint| {
            self.allowed
                .iter()
                .any(|origin| origin.is_subdomain_of(&endpoint))
        })
    }

    pub fn origins(&self) -> impl Iterator<Item = &Origin> {
        self.allowed.iter()
    }
}
