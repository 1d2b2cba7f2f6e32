//! An origin the tools guest may reach, and the one rule for whether a request goes to it.
//!
//! An allowed origin is an http or https URL's scheme, host and port as [`Url`] normalises them
//! (host lower-cased, IPv4 in dotted decimal, IPv6 in brackets, the scheme's default port when
//! none is written). A request matches it when its scheme is the same and its authority is,
//! ignoring ASCII case, exactly `host:port`, or just `host` when the port is the scheme's
//! default.
//!
//! The request's authority is compared as written, not parsed and normalised: it is what the
//! runtime will connect to, so any spelling that parsing would equate with an allowed host
//! (`0x7f.1`, a trailing dot, `user@` info, a port with a leading zero, an empty port) is
//! refused rather than trusted.

use std::fmt;

use url::Url;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Origin {
    /// `http` or `https`.
    scheme: &'static str,
    /// As [`Url::host_str`] serialises it.
    host: String,
    port: u16,
}

impl Origin {
    /// The origin of an http(s) URL with a host; `None` for anything else, which names no
    /// origin a request could be checked against.
    pub fn of(url: &Url) -> Option<Self> {
        let scheme = match url.scheme() {
            "http" => "http",
            "https" => "https",
            _ => return None,
        };
        Some(Self {
            scheme,
            host: url.host_str()?.to_owned(),
            port: url.port_or_known_default()?,
        })
    }

    /// Whether a request to `scheme://authority` goes to this origin (see the module docs).
    pub fn matches(&self, scheme: &str, authority: &str) -> bool {
        if !scheme.eq_ignore_ascii_case(self.scheme) {
            return false;
        }
        let with_port = format!("{}:{}", self.host, self.port);
        authority.eq_ignore_ascii_case(&with_port)
            || (self.port == default_port(self.scheme)
                && authority.eq_ignore_ascii_case(&self.host))
    }

    /// Whether this origin is a subdomain of `parent`'s host, on its scheme and port.
    pub fn is_subdomain_of(&self, parent: &Origin) -> bool {
        self.scheme == parent.scheme
            && self.port == parent.port
            && self.host.ends_with(&format!(".{}", parent.host))
    }
}

fn default_port(scheme: &str) -> u16 {
    if scheme == "https" { 443 } else { 80 }
}

/// `scheme://host:port`, the port always written.
impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}:{}", self.scheme, self.host, self.port)
    }
}
