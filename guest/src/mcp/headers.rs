//! The HTTP request headers MCP reads: `MCP-Protocol-Version`, `Mcp-Method`, `Mcp-Name`
//! and `Accept`, kept as plain data so routing can be tested without wasi.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// The request's headers, names in lower case, in the order received.
#[derive(Debug, Default)]
pub struct RequestHeaders(Vec<(String, String)>);

/// Why a header that must appear at most once cannot be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repeated(pub &'static str);

impl RequestHeaders {
    pub fn new(entries: impl IntoIterator<Item = (String, String)>) -> Self {
        Self(
            entries
                .into_iter()
                .map(|(name, value)| (name.to_ascii_lowercase(), value))
                .collect(),
        )
    }

    fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> {
        self.0
            .iter()
            .filter(move |(n, _)| n == name)
            .map(|(_, v)| v.trim())
    }

    /// A header that may appear once. Two copies could disagree, and a proxy that
    /// routed on one of them must not see the server act on the other.
    pub fn single(&self, name: &'static str) -> Result<Option<&str>, Repeated> {
        let mut values = self.all(name);
        let first = values.next();
        match values.next() {
            Some(_) => Err(Repeated(name)),
            None => Ok(first),
        }
    }

    /// Whether the reply, always `application/json`, is acceptable. No `Accept` means
    /// anything is (RFC 9110); a media range for JSON counts unless its `q` is 0.
    pub fn accepts_json(&self) -> bool {
        let mut ranges = self
            .all("accept")
            .flat_map(|value| value.split(','))
            .peekable();
        if ranges.peek().is_none() {
            return true;
        }
        ranges.any(|range| {
            let mut parts = range.split(';').map(str::trim);
            let media = parts.next().unwrap_or_default().to_ascii_lowercase();
            let refused = parts.any(|parameter| {
                parameter
                    .strip_prefix("q=")
                    .and_then(|q| q.parse::<f32>().ok())
                    .is_some_and(|q| q == 0.0)
            });
            !refused && matches!(media.as_str(), "application/json" | "application/*" | "*/*")
        })
    }
}

/// The text an `Mcp-Name` value stands for: names that are not plain visible ASCII
/// travel as `=?base64?…?=`. `None` for a value no client could
/// have sent: invalid characters, or a sentinel that is not base64 of UTF-8.
pub fn decode_value(value: &str) -> Option<String> {
    if !value
        .chars()
        .all(|c| c == ' ' || c == '\t' || c.is_ascii_graphic())
    {
        return None;
    }
    match value
        .strip_prefix("=?base64?")
        .and_then(|inner| inner.strip_suffix("?="))
    {
        Some(encoded) => String::from_utf8(STANDARD.decode(encoded).ok()?).ok(),
        None => Some(value.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::{Repeated, RequestHeaders, decode_value};

    fn headers(entries: &[(&str, &str)]) -> RequestHeaders {
        RequestHeaders::new(entries.iter().map(|(n, v)| (n.to_string(), v.to_string())))
    }

    #[test]
    fn single_values_are_trimmed_and_repeats_refused() {
        let h = headers(&[
            ("Mcp-Method", " tools/list "),
            ("mcp-name", "a"),
            ("mcp-name", "a"),
        ]);
        assert_eq!(h.single("mcp-method"), Ok(Some("tools/list")));
        assert_eq!(h.single("mcp-protocol-version"), Ok(None));
        assert_eq!(h.single("mcp-name"), Err(Repeated("mcp-name")));
    }

    #[test]
    fn accept_is_judged_by_its_media_ranges() {
        for (accept, ok) in [
            (vec![], true),
            (vec!["application/json, text/event-stream"], true),
            (vec!["text/event-stream", "application/json"], true),
            (vec!["*/*"], true),
            (vec!["Application/*;q=0.5"], true),
            (vec!["text/event-stream"], false),
            (vec!["text/html, application/json;q=0"], false),
            (vec!["application/xml"], false),
        ] {
            let entries: Vec<(&str, &str)> = accept.iter().map(|v| ("accept", *v)).collect();
            assert_eq!(headers(&entries).accepts_json(), ok, "{accept:?}");
        }
    }

    #[test]
    fn sentinel_values_are_decoded() {
        assert_eq!(decode_value("get_weather").as_deref(), Some("get_weather"));
        assert_eq!(
            decode_value("=?base64?SGVsbG8sIOS4lueVjA==?=").as_deref(),
            Some("Hello, 世界")
        );
        assert_eq!(
            decode_value("=?base64?PT9iYXNlNjQ/bGl0ZXJhbD89?=").as_deref(),
            Some("=?base64?literal?=")
        );
        assert_eq!(decode_value("=?base64?!!?="), None);
        assert_eq!(decode_value("=?base64?/w==?="), None);
        assert_eq!(decode_value("caf\u{e9}"), None);
        assert_eq!(decode_value("line\nbreak"), None);
    }
}
