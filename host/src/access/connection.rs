//! The narrowing a connection asks for, by its path or its headers.
//!
//! Paths: `/mcp`, then optionally `/b/{bucket}`, `/x/{toolset,…}` and `/readonly`, in that
//! order, each at most once (one URL per view, so a client's stored server URL names it).
//! Headers: `X-MCP-Readonly: true`, `X-MCP-Toolsets: objects,search`, `X-MCP-Tools: a,b`;
//! each copy of one narrows on its own.
//! Both only ever take away: what they name is met with the server's flags and the token's
//! scopes, and the smallest of the three is what the request gets.

use http::HeaderMap;
use quilt_mcp_policy::tools::{Toolset, Unknown, known_tool};

/// What may be offered: every field only removes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Narrowing {
    pub read_only: bool,
    /// `None`: every toolset.
    pub toolsets: Option<Vec<Toolset>>,
    /// `None`: every tool.
    pub tools: Option<Vec<&'static str>>,
    pub excluded: Vec<&'static str>,
    /// The one bucket the tools may touch, and their default.
    pub bucket: Option<String>,
}

/// Why a connection's path or header cannot be honoured; the message says what would be.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectionError {
    #[error(
        "the path {0:?} is not an MCP endpoint: use /mcp, optionally followed by /b/{{bucket}}, /x/{{toolset,…}} and /readonly, in that order"
    )]
    Path(String),
    #[error("the bucket in the path is not a bucket name: {0}")]
    Bucket(&'static str),
    #[error("{header}: {problem}")]
    Header {
        header: &'static str,
        problem: String,
    },
    #[error("{0}")]
    Unknown(#[from] Unknown),
}

/// Longest path or header value quoted back.
const MAX_QUOTED: usize = 128;

impl Narrowing {
    /// The narrowing of an MCP path; `None` when `path` is not one.
    pub fn of_path(path: &str) -> Option<Result<Self, ConnectionError>> {
        let rest = path.strip_prefix("/mcp")?;
        if !(rest.is_empty() || rest.starts_with('/')) {
            return None;
        }
        Some(Self::parse_path(path, rest))
    }

    fn parse_path(path: &str, rest: &str) -> Result<Self, ConnectionError> {
        let wrong = || ConnectionError::Path(path.chars().take(MAX_QUOTED).collect());
        let mut narrowing = Self::default();
        let mut segments = rest.split('/').skip(1).peekable();
        if segments.peek() == Some(&"b") {
            segments.next();
            let bucket = segments.next().ok_or_else(wrong)?;
            if let Some(problem) = quilt_mcp_policy::bucket::problem(bucket) {
                return Err(ConnectionError::Bucket(problem));
            }
            narrowing.bucket = Some(bucket.to_owned());
        }
        if segments.peek() == Some(&"x") {
            segments.next();
            let toolsets = segments.next().ok_or_else(wrong)?;
            narrowing.toolsets = Some(toolsets_in(toolsets)?);
        }
        if segments.peek() == Some(&"readonly") {
            segments.next();
            narrowing.read_only = true;
        }
        match segments.next() {
            None => Ok(narrowing),
            Some(_) => Err(wrong()),
        }
    }

    /// This narrowing, further narrowed by the request's `X-MCP-*` headers. Each copy of a
    /// header narrows on its own (a gateway that appends its own `X-MCP-Toolsets` to the
    /// client's must not have the two lists joined into a wider one).
    pub fn with_headers(mut self, headers: &HeaderMap) -> Result<Self, ConnectionError> {
        for value in values(headers, "x-mcp-readonly")? {
            self.read_only |= match value.trim().to_ascii_lowercase().as_str() {
                "true" | "1" => true,
                "false" | "0" => false,
                _ => {
                    return Err(ConnectionError::Header {
                        header: "X-MCP-Readonly",
                        problem: "send true or false".into(),
                    });
                }
            };
        }
        for value in values(headers, "x-mcp-toolsets")? {
            self.toolsets = intersection(&self.toolsets, &Some(toolsets_in(value)?));
        }
        for value in values(headers, "x-mcp-tools")? {
            let named = names(value)
                .map(known_tool)
                .collect::<Result<Vec<_>, _>>()?;
            self.tools = intersection(&self.tools, &Some(named));
        }
        Ok(self)
    }
}

/// Two allow-lists, where `None` allows everything.
pub(super) fn intersection<T: Copy + PartialEq>(
    a: &Option<Vec<T>>,
    b: &Option<Vec<T>>,
) -> Option<Vec<T>> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.iter().copied().filter(|x| b.contains(x)).collect()),
        (Some(only), None) | (None, Some(only)) => Some(only.clone()),
        (None, None) => None,
    }
}

fn toolsets_in(list: &str) -> Result<Vec<Toolset>, ConnectionError> {
    Ok(names(list)
        .map(str::parse)
        .collect::<Result<Vec<Toolset>, _>>()?)
}

/// The non-empty items of a comma list.
fn names(list: &str) -> impl Iterator<Item = &str> {
    list.split(',')
        .map(str::trim)
        .filter(|name| !name.is_empty())
}

/// Each copy of a header, as text.
fn values<'h>(headers: &'h HeaderMap, name: &'static str) -> Result<Vec<&'h str>, ConnectionError> {
    headers
        .get_all(name)
        .iter()
        .map(|value| value.to_str())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| ConnectionError::Header {
            header: name,
            problem: "the value is not visible ASCII".into(),
        })
}

#[cfg(test)]
mod tests {
    use http::{HeaderMap, HeaderValue};
    use quilt_mcp_policy::tools::Toolset;

    use super::{ConnectionError, Narrowing};

    fn path(path: &str) -> Result<Narrowing, ConnectionError> {
        Narrowing::of_path(path).expect("an MCP path")
    }

    #[test]
    fn paths_name_bucket_toolsets_and_read_only_in_order() {
        assert_eq!(path("/mcp").unwrap(), Narrowing::default());
        let all = path("/mcp/b/raw-data/x/objects,search/readonly").unwrap();
        assert_eq!(all.bucket.as_deref(), Some("raw-data"));
        assert_eq!(all.toolsets, Some(vec![Toolset::Objects, Toolset::Search]));
        assert!(all.read_only);
        assert!(path("/mcp/readonly").unwrap().read_only);
        assert_eq!(Narrowing::of_path("/mcpx"), None);
        assert_eq!(Narrowing::of_path("/oauth/token"), None);
    }

    #[test]
    fn hostile_paths_are_refused_with_the_grammar() {
        for bad in [
            "/mcp/",
            "/mcp/readonly/",
            "/mcp/readonly/b/raw",
            "/mcp/x/objects/x/search",
            "/mcp/b",
            "/mcp/b/raw/b/other",
            "/mcp/x",
            "/mcp/admin",
        ] {
            assert!(
                matches!(path(bad), Err(ConnectionError::Path(_))),
                "{bad}: {:?}",
                path(bad)
            );
        }
        for bad in [
            "/mcp/b/..",
            "/mcp/b/Raw",
            "/mcp/b/a%2Fb",
            "/mcp/b/127.0.0.1",
            "/mcp/b/",
        ] {
            assert!(
                matches!(path(bad), Err(ConnectionError::Bucket(_))),
                "{bad}"
            );
        }
        let unknown = path("/mcp/x/athena").unwrap_err().to_string();
        assert!(
            unknown.contains("the toolsets are objects, packages, search, sql"),
            "{unknown}"
        );
        let long = path(&format!("/mcp/{}", "z".repeat(5000)))
            .unwrap_err()
            .to_string();
        assert!(long.len() < 400, "{}", long.len());
    }

    #[test]
    fn headers_narrow_what_the_path_named() {
        let mut headers = HeaderMap::new();
        headers.append(
            "x-mcp-toolsets",
            HeaderValue::from_static("search, packages"),
        );
        headers.append("x-mcp-readonly", HeaderValue::from_static("TRUE"));
        let narrowed = path("/mcp/x/objects,search")
            .unwrap()
            .with_headers(&headers)
            .unwrap();
        assert_eq!(narrowed.toolsets, Some(vec![Toolset::Search]));
        assert!(narrowed.read_only);
        let mut appended = HeaderMap::new();
        appended.append("x-mcp-toolsets", HeaderValue::from_static("search"));
        appended.append(
            "x-mcp-toolsets",
            HeaderValue::from_static("objects,packages,search"),
        );
        appended.append("x-mcp-tools", HeaderValue::from_static("bucket_list"));
        appended.append(
            "x-mcp-tools",
            HeaderValue::from_static("bucket_list,package_create"),
        );
        let both = Narrowing::default().with_headers(&appended).unwrap();
        assert_eq!(
            both.toolsets,
            Some(vec![Toolset::Search]),
            "two copies narrow twice"
        );
        assert_eq!(both.tools, Some(vec!["bucket_list"]));
        let mut narrow_last = HeaderMap::new();
        narrow_last.append(
            "x-mcp-toolsets",
            HeaderValue::from_static("objects,packages,search"),
        );
        narrow_last.append("x-mcp-toolsets", HeaderValue::from_static("packages"));
        let last = Narrowing::default().with_headers(&narrow_last).unwrap();
        assert_eq!(
            last.toolsets,
            Some(vec![Toolset::Packages]),
            "whichever copy is narrower"
        );
        let mut off = HeaderMap::new();
        off.append("x-mcp-readonly", HeaderValue::from_static("false"));
        assert!(
            path("/mcp/readonly")
                .unwrap()
                .with_headers(&off)
                .unwrap()
                .read_only,
            "a header cannot undo the path's read-only"
        );
    }

    #[test]
    fn hostile_headers_are_refused() {
        for (name, value) in [
            ("x-mcp-readonly", &b"yes"[..]),
            ("x-mcp-toolsets", b"objects,admin"),
            ("x-mcp-tools", b"bucket_list,rm_rf"),
            ("x-mcp-tools", b"\xff\xfe"),
        ] {
            let mut headers = HeaderMap::new();
            headers.append(name, HeaderValue::from_bytes(value).unwrap());
            assert!(
                Narrowing::default().with_headers(&headers).is_err(),
                "{name}: {value:?}"
            );
        }
    }
}
