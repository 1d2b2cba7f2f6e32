//! Which outgoing requests may leave: the host's rules, for runtimes that have none of
//! their own (`wasmtime serve` passes every request on). Exactly the scheme, host and
//! port of the S3 endpoint or the registry, and an `authorization` header only toward
//! the registry (S3 requests are presigned, so nothing else legitimately carries one).
//!
//! The authority is compared as the runtime will connect to it, character for
//! character, rather than parsed and normalised: a spelling that parsing would equate
//! with an allowed host (`0x7f.1`, a trailing dot, user info) is refused, not trusted.

use std::fmt;

use url::Url;

/// A scheme and the authorities that name one allowed origin.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Origin {
    scheme: String,
    /// `host:port`, and plain `host` when the port is the scheme's default.
    authorities: Vec<String>,
}

impl Origin {
    fn of(url: &Url) -> Self {
        let host = url.host_str().unwrap_or_default().to_owned();
        let mut authorities = Vec::with_capacity(2);
        if let Some(port) = url.port_or_known_default() {
            authorities.push(format!("{host}:{port}"));
        }
        if url.port().is_none() {
            authorities.push(host);
        }
        Self {
            scheme: url.scheme().to_owned(),
            authorities,
        }
    }

    fn matches(&self, scheme: &str, authority: &str) -> bool {
        self.scheme == scheme
            && self
                .authorities
                .iter()
                .any(|allowed| allowed.eq_ignore_ascii_case(authority))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowList {
    s3: Origin,
    registry: Option<Origin>,
}

/// Why a request was refused, for the runtime's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// No explicit http or https scheme, or no authority: nothing to check against.
    Unaddressed,
    NotAllowed {
        scheme: String,
        authority: String,
    },
    Authorization {
        scheme: String,
        authority: String,
    },
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unaddressed => write!(
                f,
                "refused an outgoing request without an http(s) scheme and authority"
            ),
            Self::NotAllowed { scheme, authority } => write!(
                f,
                "refused an outgoing request to {scheme}://{authority}: only the configured s3_endpoint and registry_url may be reached"
            ),
            Self::Authorization { scheme, authority } => write!(
                f,
                "refused an outgoing request to {scheme}://{authority} carrying an authorization header: only the registry may receive one"
            ),
        }
    }
}

impl AllowList {
    pub fn new(s3_endpoint: &Url, registry_url: Option<&Url>) -> Self {
        Self {
            s3: Origin::of(s3_endpoint),
            registry: registry_url.map(Origin::of),
        }
    }

    /// `scheme` is the request's, when it names one explicitly.
    pub fn check(
        &self,
        scheme: Option<&str>,
        authority: Option<&str>,
        has_authorization: bool,
    ) -> Result<(), Refusal> {
        let (Some(scheme @ ("http" | "https")), Some(authority)) = (scheme, authority) else {
            return Err(Refusal::Unaddressed);
        };
        let to_registry = self
            .registry
            .as_ref()
            .is_some_and(|registry| registry.matches(scheme, authority));
        if !to_registry && !self.s3.matches(scheme, authority) {
            return Err(Refusal::NotAllowed {
                scheme: scheme.to_owned(),
                authority: authority.to_owned(),
            });
        }
        if has_authorization && !to_registry {
            return Err(Refusal::Authorization {
                scheme: scheme.to_owned(),
                authority: authority.to_owned(),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(s3: &str, registry: Option<&str>) -> AllowList {
        let registry = registry.map(|url| Url::parse(url).unwrap());
        AllowList::new(&Url::parse(s3).unwrap(), registry.as_ref())
    }

    #[test]
    fn the_s3_endpoint_is_allowed_with_or_without_its_default_port() {
        let aws = list("https://s3.us-east-1.amazonaws.com", None);
        assert_eq!(
            aws.check(Some("https"), Some("s3.us-east-1.amazonaws.com"), false),
            Ok(())
        );
        assert_eq!(
            aws.check(Some("https"), Some("S3.US-EAST-1.amazonaws.com:443"), false),
            Ok(())
        );
        let local = list("http://127.0.0.1:8333/", None);
        assert_eq!(
            local.check(Some("http"), Some("127.0.0.1:8333"), false),
            Ok(())
        );
    }

    #[test]
    fn other_schemes_ports_hosts_and_spellings_are_refused() {
        let local = list(
            "http://127.0.0.1:8333",
            Some("https://registry.example.com"),
        );
        for (scheme, authority) in [
            ("https", "127.0.0.1:8333"),
            ("http", "127.0.0.1:8334"),
            ("http", "127.0.0.1"),
            ("http", "localhost:8333"),
            ("http", "0x7f.1:8333"),
            ("http", "user@127.0.0.1:8333"),
            ("http", "169.254.169.254"),
            ("http", "registry.example.com"),
            ("https", "registry.example.com.:443"),
        ] {
            assert!(
                matches!(
                    local.check(Some(scheme), Some(authority), false),
                    Err(Refusal::NotAllowed { .. })
                ),
                "{scheme}://{authority} was allowed"
            );
        }
    }

    #[test]
    fn a_request_must_name_its_scheme_and_authority() {
        let local = list("http://127.0.0.1:8333", None);
        assert_eq!(
            local.check(None, Some("127.0.0.1:8333"), false),
            Err(Refusal::Unaddressed)
        );
        assert_eq!(
            local.check(Some("ftp"), Some("127.0.0.1:8333"), false),
            Err(Refusal::Unaddressed)
        );
        assert_eq!(
            local.check(Some("http"), None, false),
            Err(Refusal::Unaddressed)
        );
    }

    #[test]
    fn authorization_goes_only_to_the_registry() {
        let both = list("http://127.0.0.1:8333", Some("http://127.0.0.1:8090"));
        assert_eq!(
            both.check(Some("http"), Some("127.0.0.1:8090"), true),
            Ok(())
        );
        assert!(matches!(
            both.check(Some("http"), Some("127.0.0.1:8333"), true),
            Err(Refusal::Authorization { .. })
        ));
    }

    #[test]
    fn refusals_say_what_was_refused_and_what_is_allowed() {
        let refusal = list("http://127.0.0.1:8333", None)
            .check(Some("http"), Some("example.com"), false)
            .unwrap_err()
            .to_string();
        assert!(refusal.contains("http://example.com"), "{refusal}");
        assert!(refusal.contains("s3_endpoint"), "{refusal}");
    }
}
