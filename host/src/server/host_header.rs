//! Which `Host` header values /mcp answers to. A DNS-rebinding page reaches this server under
//! the attacker's own name, and the browser sends that name as `Host`; it sends an `Origin`
//! too, but `Host` is the one header every browser request carries. Names this server is
//! not known by get 403, before the token is even looked at.

use std::fmt;
use std::str::FromStr;

use http::uri::Authority;
use url::Url;

/// Names a local client uses for this machine, accepted on any port: a rebinding page arrives
/// under the attacker's name, never these, while port-forwards (`docker run -p 9000:8080`,
/// `kubectl port-forward`) present loopback on a port other than the listening one.
const LOOPBACK_NAMES: [&str; 3] = ["localhost", "127.0.0.1", "[::1]"];
/// The ports a `Host` header without a port can mean (plain HTTP, or HTTPS at a proxy).
const DEFAULT_PORTS: [u16; 2] = [80, 443];

/// One accepted host: a name (lowercase; IPv6 in brackets) and a port, or any port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedHost {
    name: String,
    port: Option<u16>,
}

/// Why a `--allowed-host` value or a `Host` header is not `name[:port]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotAHost(String);

impl fmt::Display for NotAHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?} is not a host name with an optional port (e.g. mcp.example.com or mcp.internal:8080)",
            self.0
        )
    }
}

impl std::error::Error for NotAHost {}

impl FromStr for AllowedHost {
    type Err = NotAHost;

    /// `name` or `name:port`, as a `Host` header carries it. No scheme, path or user: a URL
    /// given by mistake is refused rather than read as something else.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let refused = || NotAHost(text.to_owned());
        let authority = Authority::from_str(text.trim()).map_err(|_| refused())?;
        // A port that is not a number up to 65535 is no port a server listens on, not "none".
        let port = authority.as_str()[authority.host().len()..].trim_start_matches(':');
        let bad_port = !port.is_empty() && port.parse::<u16>().is_err();
        if authority.as_str().contains('@') || authority.host().is_empty() || bad_port {
            return Err(refused());
        }
        Ok(Self {
            name: authority.host().to_ascii_lowercase(),
            port: authority.port_u16(),
        })
    }
}

impl AllowedHost {
    /// Whether a `Host` header naming `presented` matches: the same name, and the same port
    /// unless this entry takes any port. A header without a port names a default port.
    fn matches(&self, presented: &AllowedHost) -> bool {
        if self.name != presented.name {
            return false;
        }
        match (self.port, presented.port) {
            (None, _) => true,
            (Some(port), Some(presented)) => port == presented,
            (Some(port), None) => DEFAULT_PORTS.contains(&port),
        }
    }
}

#[derive(Debug)]
pub struct HostPolicy {
    allowed: Vec<AllowedHost>,
}

impl HostPolicy {
    /// The public URL's host and port, the loopback names, and `configured`.
    pub fn new(public_url: &Url, configured: &[AllowedHost]) -> Self {
        let public = public_url.host_str().map(|name| AllowedHost {
            name: name.to_ascii_lowercase(),
            port: public_url.port_or_known_default(),
        });
        let loopback = LOOPBACK_NAMES.map(|name| AllowedHost {
            name: name.to_owned(),
            port: None,
        });
        Self {
            allowed: public
                .into_iter()
                .chain(loopback)
                .chain(configured.iter().cloned())
                .collect(),
        }
    }

    /// `host` is the request's effective host ([`effective_host`]); a request without one is
    /// not from a browser (browsers always send it), so it cannot be a rebinding and the
    /// caller lets it through.
    pub fn allows(&self, host: &str) -> bool {
        host.parse::<AllowedHost>().is_ok_and(|presented| {
            self.allowed
                .iter()
                .any(|allowed| allowed.matches(&presented))
        })
    }
}

/// A request whose host cannot be told: RFC 9112 §3.2 requires 400 for two `Host` headers
/// (a proxy and this server could each pick a different one), and an absolute-form target
/// must be an http(s) URL.
#[derive(Debug, PartialEq, Eq)]
pub struct AmbiguousHost;

/// The host a request is for: the authority of an absolute-form target (`POST
/// http://name/mcp`), which RFC 9112 §3.2.2 puts before any `Host` header, else its one `Host`
/// header. Both forms pass the same allow-list.
pub fn effective_host<B>(request: &http::Request<B>) -> Result<Option<String>, AmbiguousHost> {
    let mut headers = request.headers().get_all(http::header::HOST).iter();
    let header = headers.next();
    if headers.next().is_some() {
        return Err(AmbiguousHost);
    }
    if let Some(authority) = request.uri().authority() {
        if !matches!(request.uri().scheme_str(), Some("http" | "https")) {
            return Err(AmbiguousHost);
        }
        return Ok(Some(authority.as_str().to_owned()));
    }
    // A value that is not visible ASCII cannot be a host name; an empty name matches nothing.
    Ok(header.map(|value| value.to_str().unwrap_or_default().to_owned()))
}

#[cfg(test)]
mod tests {
    use url::Url;

    use super::{AllowedHost, AmbiguousHost, HostPolicy, effective_host};

    fn policy(public_url: &str, configured: &[&str]) -> HostPolicy {
        let configured: Vec<AllowedHost> = configured.iter().map(|h| h.parse().unwrap()).collect();
        HostPolicy::new(&Url::parse(public_url).unwrap(), &configured)
    }

    #[test]
    fn default_policy_is_the_public_url_and_loopback() {
        let policy = policy("http://127.0.0.1:8080", &[]);
        for host in [
            "127.0.0.1:8080",
            "localhost:8080",
            "LOCALHOST:8080",
            "[::1]:8080",
            "localhost:9090",
            "localhost",
        ] {
            assert!(policy.allows(host), "{host}");
        }
        for host in [
            "evil.example.com",
            "evil.example.com:8080",
            "evil.example.com@localhost:8080",
            "localhost:8080/mcp",
            "localhost:99999",
            "",
        ] {
            assert!(!policy.allows(host), "{host}");
        }
    }

    #[test]
    fn public_url_behind_a_proxy_matches_with_or_without_its_default_port() {
        let policy = policy("https://mcp.example.com/", &[]);
        assert!(policy.allows("mcp.example.com"));
        assert!(policy.allows("mcp.example.com:443"));
        assert!(policy.allows("MCP.Example.com"));
        assert!(!policy.allows("mcp.example.com:8443"));
        assert!(!policy.allows("other.example.com"));
        assert!(policy.allows("localhost:8080"), "loopback stays allowed");
    }

    #[test]
    fn configured_hosts_take_any_port_unless_they_name_one() {
        let policy = policy(
            "http://127.0.0.1:8080",
            &["quilt-mcp.internal", "gateway.example.com:8443"],
        );
        assert!(policy.allows("quilt-mcp.internal"));
        assert!(policy.allows("quilt-mcp.internal:8080"));
        assert!(policy.allows("gateway.example.com:8443"));
        assert!(!policy.allows("gateway.example.com:9443"));
        assert!(!policy.allows("gateway.example.com"));
        assert!(!policy.allows("evil.example.com"));
    }

    fn request(target: &str, hosts: &[&str]) -> http::Request<()> {
        let mut builder = http::Request::post(target);
        for host in hosts {
            builder = builder.header(http::header::HOST, *host);
        }
        builder.body(()).unwrap()
    }

    #[test]
    fn the_effective_host_is_the_absolute_targets_or_the_one_header() {
        assert_eq!(
            effective_host(&request("/mcp", &["localhost:8080"])),
            Ok(Some("localhost:8080".into()))
        );
        assert_eq!(effective_host(&request("/mcp", &[])), Ok(None));
        assert_eq!(
            effective_host(&request("http://evil.example.com/mcp", &["localhost"])),
            Ok(Some("evil.example.com".into()))
        );
        assert_eq!(
            effective_host(&request("/mcp", &["localhost", "evil.example.com"])),
            Err(AmbiguousHost)
        );
        assert_eq!(
            effective_host(&request("ftp://localhost/mcp", &[])),
            Err(AmbiguousHost)
        );
    }

    #[test]
    fn configured_values_must_be_host_and_port() {
        assert_eq!(
            "Gateway.Example.com:8443".parse::<AllowedHost>(),
            Ok(AllowedHost {
                name: "gateway.example.com".into(),
                port: Some(8443)
            })
        );
        assert_eq!(
            "[::1]".parse::<AllowedHost>().map(|host| host.name),
            Ok("[::1]".to_owned())
        );
        for refused in [
            "https://mcp.example.com",
            "mcp.example.com/mcp",
            "user@mcp",
            ":8080",
            "",
        ] {
            let error = refused.parse::<AllowedHost>().unwrap_err();
            assert!(
                error.to_string().contains("e.g. mcp.example.com"),
                "{error}"
            );
        }
    }
}
