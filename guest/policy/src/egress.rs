//! Which outgoing requests of the tools guest may leave.
//!
//! Only to an allowed [`Origin`]: the S3 endpoint, the Quilt registry, and whatever else the
//! operator allows. An `Authorization` header may go to the registry only: it is where the
//! guest sends the caller's forwarded token, and S3 requests are presigned in the query string,
//! so such a header bound anywhere else can only be that token leaking — except a SigV4
//! `Authorization` (`AWS4-HMAC-SHA256 Credential=…`) toward the origins that take signed calls
//! (Athena, Glue): it carries an access key id and a signature, never the caller's bearer.
//! (A guest set on leaking could still hide a token in one, toward those AWS origins only.)

use std::fmt;

use url::Url;

use crate::origin::Origin;

/// How a SigV4 `Authorization` header begins.
const SIGV4_PREFIX: &str = "AWS4-HMAC-SHA256 ";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowList {
    /// The registry's origin among them.
    allowed: Vec<Origin>,
    /// The only origin a bearer `Authorization` header may go to.
    registry: Option<Origin>,
    /// Origins that may receive a SigV4 `Authorization` header.
    signed: Vec<Origin>,
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
        Self {
            allowed,
            registry,
            signed: Vec::new(),
        }
    }

    /// The same, also allowing `urls` and letting them receive SigV4-signed calls.
    pub fn with_signed<'a>(mut self, urls: impl IntoIterator<Item = &'a Url>) -> Self {
        for origin in urls.into_iter().filter_map(Origin::of) {
            if !self.allowed.contains(&origin) {
                self.allowed.push(origin.clone());
            }
            self.signed.push(origin);
        }
        self
    }

    /// Checks a request whose `Authorization` header, if any, is `authorization`.
    pub fn check_request(
        &self,
        scheme: Option<&str>,
        authority: Option<&str>,
        authorization: Option<&str>,
    ) -> Result<(), Refusal> {
        let signed_call = authorization.is_some_and(|value| value.starts_with(SIGV4_PREFIX))
            && scheme.zip(authority).is_some_and(|(scheme, authority)| {
                self.signed.iter().any(|o| o.matches(scheme, authority))
            });
        self.check(scheme, authority, authorization.is_some() && !signed_call)
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
