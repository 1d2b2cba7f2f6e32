//! Which browser origins may call /mcp. A present Origin that is not allowed gets 403
//! (the MCP spec's defence against DNS rebinding); requests without one are not from a page.

use url::Url;

#[derive(Debug)]
pub struct OriginPolicy {
    /// Exact origins, serialised as `scheme://host[:port]`.
    allowed: Vec<String>,
    /// Loopback origins on any port, for local development tools.
    allow_loopback: bool,
}

impl OriginPolicy {
    /// `configured` empty means: the public URL's origin plus loopback on any port.
    pub fn new(configured: &[String], public_url: &Url) -> Self {
        if configured.is_empty() {
            return Self {
                allowed: vec![public_url.origin().ascii_serialization()],
                allow_loopback: true,
            };
        }
        let allowed = configured
            .iter()
            .map(|origin| {
                Url::parse(origin)
                    .map(|url| url.origin().ascii_serialization())
                    .unwrap_or_else(|_| origin.clone())
            })
            .collect();
        Self {
            allowed,
            allow_loopback: false,
        }
    }

    pub fn allows(&self, origin: &str) -> bool {
        let Ok(url) = Url::parse(origin) else {
            return false;
        };
        let serialized = url.origin().ascii_serialization();
        if self.allowed.contains(&serialized) {
            return true;
        }
        self.allow_loopback
            && url.scheme() == "http"
            && matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"))
    }
}

#[cfg(test)]
mod tests {
    use url::Url;

    use super::OriginPolicy;

    #[test]
    fn default_policy_allows_public_origin_and_loopback_only() {
        let policy = OriginPolicy::new(&[], &Url::parse("https://mcp.example.com/").unwrap());
        assert!(policy.allows("https://mcp.example.com"));
        assert!(policy.allows("http://localhost:6274"));
        assert!(policy.allows("http://127.0.0.1:3000"));
        assert!(!policy.allows("https://evil.example"));
        assert!(!policy.allows("http://mcp.example.com"));
        assert!(!policy.allows("null"));
    }

    #[test]
    fn configured_policy_is_exact() {
        let policy = OriginPolicy::new(
            &["https://claude.ai".into()],
            &Url::parse("http://127.0.0.1:8080").unwrap(),
        );
        assert!(policy.allows("https://claude.ai"));
        assert!(!policy.allows("http://localhost:8080"));
    }
}
