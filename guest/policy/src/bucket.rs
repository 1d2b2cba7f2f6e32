//! What a bucket name may be: the guest checks every bucket a tool is given, and the host the
//! one a connection is held to (`/mcp/b/{bucket}`), by the same rule.

/// Why `name` is not an S3 bucket name, worded for a person; `None` when it is one.
pub fn problem(name: &str) -> Option<&'static str> {
    let edge_ok = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if name.is_empty() || name.len() > 63 {
        return Some("bucket names have 1 to 63 characters");
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-')
    {
        return Some("bucket names use only lowercase letters, digits, '.' and '-'");
    }
    if !edge_ok(name.chars().next()) || !edge_ok(name.chars().last()) {
        return Some("bucket names start and end with a letter or digit");
    }
    if name.contains("..") {
        return Some("bucket names have no two adjacent periods");
    }
    if name.parse::<std::net::Ipv4Addr>().is_ok() {
        return Some("bucket names are not IP addresses");
    }
    None
}
