//! Which outgoing requests may leave, for runtimes that have no rules of their own
//! (`wasmtime serve` passes every request on): the host's rule (`quilt_mcp_policy::egress`:
//! exactly the S3 endpoint's or the registry's origin, and an `authorization` header only
//! toward the registry), worded for the runtime's log in this deployment's terms.

use std::fmt;

use quilt_mcp_policy::egress::{AllowList, Refusal};
use url::Url;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Egress {
    allowed: AllowList,
}

/// A refused request, for the runtime's log: what was refused and what is allowed instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub refusal: Refusal,
    /// `scheme://authority` as the request named them.
    target: String,
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let target = &self.target;
        match self.refusal {
            Refusal::Unaddressed => write!(
                f,
                "refused an outgoing request without an http(s) scheme and authority"
            ),
            Refusal::OriginNotAllowed => write!(
                f,
                "refused an outgoing request to {target}: only the configured s3_endpoint and registry_url may be reached"
            ),
            Refusal::AuthorizationOffRegistry => write!(
                f,
                "refused an outgoing request to {target} carrying an authorization header: only the registry may receive one"
            ),
        }
    }
}

impl Egress {
    /// The S3 endpoint, `others` (Athena and Glue, which take SigV4-signed calls) and the
    /// registry.
    pub fn new(s3_endpoint: &Url, others: &[Url], registry_url: Option<&Url>) -> Self {
        Self {
            allowed: AllowList::new([s3_endpoint], registry_url).with_signed(others),
        }
    }

    /// `scheme` is the request's, when it names one explicitly.
    pub fn check(
        &self,
        scheme: Option<&str>,
        authority: Option<&str>,
        authorization: Option<&str>,
    ) -> Result<(), Refused> {
        self.allowed
            .check_request(scheme, authority, authorization)
            .map_err(|refusal| Refused {
                refusal,
                target: format!("{}://{}", scheme.unwrap_or("-"), authority.unwrap_or("-")),
            })
    }
}

#[cfg(test)]
mod tests {
    use quilt_mcp_policy::egress::Refusal;
    use url::Url;

    use super::Egress;

    fn egress(s3: &str, registry: Option<&str>) -> Egress {
        let registry = registry.map(|url| Url::parse(url).unwrap());
        Egress::new(&Url::parse(s3).unwrap(), &[], registry.as_ref())
    }

    /// The rule is quilt_mcp_policy's to test; this is what the adapter allows with it.
    #[test]
    fn the_s3_endpoint_and_the_registry_are_allowed_nothing_else() {
        let both = egress("http://127.0.0.1:8333", Some("http://127.0.0.1:8090"));
        assert_eq!(
            both.check(Some("http"), Some("127.0.0.1:8333"), None),
            Ok(())
        );
        assert_eq!(
            both.check(Some("http"), Some("127.0.0.1:8090"), Some("Bearer t")),
            Ok(())
        );
        let refused = |authority, authorization| {
            both.check(Some("http"), Some(authority), authorization)
                .unwrap_err()
                .refusal
        };
        assert_eq!(
            refused("127.0.0.1:8333", Some("Bearer t")),
            Refusal::AuthorizationOffRegistry
        );
        assert_eq!(refused("127.0.0.1:9000", None), Refusal::OriginNotAllowed);
    }

    #[test]
    fn refusals_say_what_was_refused_and_what_is_allowed() {
        let refusal = egress("http://127.0.0.1:8333", None)
            .check(Some("http"), Some("example.com"), None)
            .unwrap_err()
            .to_string();
        assert!(refusal.contains("http://example.com"), "{refusal}");
        assert!(refusal.contains("s3_endpoint"), "{refusal}");
    }
}
