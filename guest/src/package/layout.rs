//! Where a package lives in its registry bucket: names, manifest and pointer keys,
//! top hashes given in full or by prefix, and the revisions its pointers name.

use std::fmt;

pub const MANIFESTS: &str = ".quilt/packages/";
pub const NAMED_PACKAGES: &str = ".quilt/named_packages/";
pub const LATEST: &str = "latest";

/// `namespace/name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageName {
    pub namespace: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NameError {
    BadPackageName(String),
    BadTopHash(String),
    InvalidTag(String),
}

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadPackageName(name) => write!(
                f,
                "'{name}' is not a package name; write it as namespace/name (two non-empty parts, one '/')"
            ),
            Self::BadTopHash(hash) => write!(
                f,
                "'{hash}' is not a top hash; give 7 to 64 hexadecimal characters"
            ),
            Self::InvalidTag(tag) => write!(
                f,
                "'{tag}' is not a tag; use 'latest' or a timestamp tag (one name: no '/', not '.' or '..')"
            ),
        }
    }
}

impl PackageName {
    pub fn parse(input: &str) -> Result<Self, NameError> {
        let bad = || NameError::BadPackageName(input.to_owned());
        let (namespace, name) = input.trim().split_once('/').ok_or_else(bad)?;
        let valid = |part: &str| {
            !part.is_empty()
                && part != "."
                && part != ".."
                && !part.contains('/')
                && !part.chars().any(|c| c.is_whitespace() || c.is_control())
        };
        if !(valid(namespace) && valid(name)) {
            return Err(bad());
        }
        Ok(Self {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        })
    }

    /// `.quilt/named_packages/<ns>/<name>/`, holding `latest` and the timestamps.
    pub fn pointer_prefix(&self) -> String {
        format!("{NAMED_PACKAGES}{self}/")
    }

    pub fn pointer_key(&self, pointer: &str) -> String {
        format!("{}{pointer}", self.pointer_prefix())
    }

    /// Where quilt3 puts copied data: `<ns>/<name>/<logical_key>`.
    pub fn data_key(&self, logical_key: &str) -> String {
        format!("{self}/{logical_key}")
    }
}

impl fmt::Display for PackageName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

pub fn manifest_key(top_hash: &str) -> String {
    format!("{MANIFESTS}{top_hash}")
}

/// A full top hash or a prefix of one, lower-cased.
pub fn parse_hash_prefix(input: &str) -> Result<String, NameError> {
    let hash = input.trim().to_ascii_lowercase();
    if (7..=64).contains(&hash.len()) && hash.chars().all(|c| c.is_ascii_hexdigit()) {
        Ok(hash)
    } else {
        Err(NameError::BadTopHash(input.to_owned()))
    }
}

/// A pointer body: the top hash, whitespace stripped. `None` when it is not one.
pub fn parse_pointer(body: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?.trim().to_ascii_lowercase();
    is_top_hash(&text).then_some(text)
}

/// 64 lowercase hexadecimal characters: the only names manifests have.
pub fn is_top_hash(text: &str) -> bool {
    text.len() == 64
        && text
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, 'a'..='f'))
}

/// A tag: one pointer name under the package's prefix. Whatever else is in a tag's place
/// (`a/b`, `..`) would make a pointer key outside the package.
pub fn parse_tag(input: &str) -> Result<&str, NameError> {
    let tag = input.trim();
    let one_name = !matches!(tag, "" | "." | "..")
        && !tag
            .chars()
            .any(|c| c == '/' || c.is_whitespace() || c.is_control());
    one_name
        .then_some(tag)
        .ok_or_else(|| NameError::InvalidTag(input.to_owned()))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    Unique(String),
    None,
    Ambiguous(Vec<String>),
}

/// The one manifest hash among `candidates` (top hashes) that starts with `prefix`.
pub fn resolve_prefix<'a>(
    prefix: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Resolution {
    // A listing may hold other keys under the prefix (`<hash>/../x`); only names are hashes.
    let mut matches: Vec<String> = candidates
        .into_iter()
        .filter(|hash| is_top_hash(hash) && hash.starts_with(prefix))
        .map(str::to_owned)
        .collect();
    matches.sort();
    matches.dedup();
    match matches.len() {
        0 => Resolution::None,
        1 => Resolution::Unique(matches.remove(0)),
        _ => Resolution::Ambiguous(matches),
    }
}

/// Timestamp pointers among the names under a package's pointer prefix, newest first.
pub fn revisions<'a>(pointer_names: impl IntoIterator<Item = &'a str>) -> Vec<(u64, String)> {
    let mut found: Vec<(u64, String)> = pointer_names
        .into_iter()
        .filter_map(|name| Some((name.parse::<u64>().ok()?, name.to_owned())))
        .collect();
    found.sort_by(|a, b| b.cmp(a));
    found
}

/// A timestamp pointer name for `unix_seconds` that is not already taken: quilt3 names
/// them by the second, so two pushes within one second would otherwise collide.
pub fn fresh_timestamp(unix_seconds: u64, taken: &[(u64, String)]) -> u64 {
    let newest = taken.first().map_or(0, |(seconds, _)| *seconds);
    unix_seconds.max(newest + 1)
}

#[cfg(test)]
mod tests {
    use super::{
        LATEST, NameError, PackageName, Resolution, fresh_timestamp, parse_hash_prefix,
        parse_pointer, parse_tag, resolve_prefix, revisions,
    };

    #[test]
    fn package_names_have_two_parts() {
        let name = PackageName::parse("team/data").unwrap();
        assert_eq!(
            name.pointer_key(LATEST),
            ".quilt/named_packages/team/data/latest"
        );
        assert_eq!(name.data_key("a/b.csv"), "team/data/a/b.csv");
        for bad in ["team", "team/", "/data", "a/b/c", "a b/c", "../x"] {
            assert!(PackageName::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn hash_prefixes() {
        assert_eq!(parse_hash_prefix(" ABCDEF1 "), Ok("abcdef1".into()));
        assert!(parse_hash_prefix("abc").is_err());
        assert!(parse_hash_prefix("xyzxyzx").is_err());
        let a = "a".repeat(64);
        let ab = format!("ab{}", "0".repeat(62));
        let candidates = [a.as_str(), ab.as_str()];
        assert_eq!(
            resolve_prefix("aaaaaaa", candidates),
            Resolution::Unique(a.clone())
        );
        assert_eq!(resolve_prefix("bbbbbbb", candidates), Resolution::None);
        let close = format!("aaaaaaab{}", "0".repeat(56));
        assert!(
            matches!(resolve_prefix("aaaaaaa", [a.as_str(), close.as_str()]), Resolution::Ambiguous(v) if v.len() == 2)
        );
    }

    #[test]
    fn pointers_are_trimmed_hex() {
        let hash = "0".repeat(64);
        assert_eq!(parse_pointer(format!("{hash}\n").as_bytes()), Some(hash));
        assert_eq!(parse_pointer(b"latest"), None);
    }

    #[test]
    fn revisions_are_newest_first_and_skip_latest() {
        let found = revisions(["1700000000", "latest", "1700000500", "1600000000"]);
        let seconds: Vec<u64> = found.iter().map(|(s, _)| *s).collect();
        assert_eq!(seconds, [1700000500, 1700000000, 1600000000]);
        assert_eq!(fresh_timestamp(1700000100, &found), 1700000501);
        assert_eq!(fresh_timestamp(1800000000, &found), 1800000000);
    }

    #[test]
    fn tags_are_one_pointer_name() {
        assert_eq!(parse_tag(" latest "), Ok("latest"));
        assert_eq!(parse_tag("1700000000"), Ok("1700000000"));
        for bad in ["..", ".", "../../victim/p/latest", "a/b", "a b", ""] {
            assert_eq!(
                parse_tag(bad),
                Err(NameError::InvalidTag(bad.into())),
                "{bad}"
            );
        }
    }

    #[test]
    fn only_top_hashes_resolve_a_prefix() {
        let hash = "a".repeat(64);
        let planted = format!("{}/../../x", "a".repeat(7));
        let upper = "A".repeat(64);
        assert_eq!(
            resolve_prefix("aaaaaaa", [planted.as_str(), hash.as_str(), upper.as_str()]),
            Resolution::Unique(hash.clone())
        );
        assert_eq!(
            resolve_prefix("aaaaaaa", [planted.as_str()]),
            Resolution::None
        );
    }
}
