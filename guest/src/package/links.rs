//! Addresses people paste: physical keys in manifests, quilt+s3 URIs and catalog URLs.

use super::layout::PackageName;
use crate::http::percent::{PYTHON_QUOTE, PYTHON_QUOTE_PATH, encode};

/// A manifest's physical key: `s3://bucket/<key percent-encoded, '/' kept>[?versionId=V]`,
/// as Python's `urllib.parse.quote` writes it for quilt3.
pub fn physical_key(bucket: &str, key: &str, version_id: Option<&str>) -> String {
    let mut out = format!("s3://{bucket}/{}", encode(key, PYTHON_QUOTE_PATH));
    if let Some(version) = version_id {
        out.push_str("?versionId=");
        out.push_str(&encode(version, PYTHON_QUOTE));
    }
    out
}

/// Which revision a URI or link names.
pub enum Revision<'a> {
    Latest,
    Hash(&'a str),
    Tag(&'a str),
}

/// `quilt+s3://<bucket>#package=<ns>/<name>[@<hash>|:<tag>]&path=<path>`.
pub fn quilt_uri(
    bucket: &str,
    package: Option<&PackageName>,
    revision: Revision<'_>,
    path: &str,
) -> String {
    let mut out = format!("quilt+s3://{bucket}");
    let mut fragment = Vec::new();
    if let Some(package) = package {
        let pinned = match revision {
            Revision::Latest => String::new(),
            Revision::Hash(hash) => format!("@{hash}"),
            Revision::Tag(tag) => format!(":{}", encode(tag, PYTHON_QUOTE)),
        };
        fragment.push(format!(
            "package={}{pinned}",
            encode(&package.to_string(), PYTHON_QUOTE_PATH)
        ));
    }
    if !path.is_empty() {
        fragment.push(format!("path={}", encode(path, PYTHON_QUOTE_PATH)));
    }
    if !fragment.is_empty() {
        out.push('#');
        out.push_str(&fragment.join("&"));
    }
    out
}

/// `<catalog>/b/<bucket>[/packages/<ns>/<name>/tree/<revision>/<path>]`, or for no
/// package the bucket browser at `<catalog>/b/<bucket>/tree/<path>`.
pub fn catalog_url(
    catalog: &str,
    bucket: &str,
    package: Option<&PackageName>,
    revision: Revision<'_>,
    path: &str,
) -> String {
    let base = format!(
        "{}/b/{}",
        catalog.trim_end_matches('/'),
        encode(bucket, PYTHON_QUOTE)
    );
    let path = encode(path, PYTHON_QUOTE_PATH);
    match package {
        Some(package) => {
            let revision = match revision {
                Revision::Latest => "latest".to_owned(),
                Revision::Hash(hash) => hash.to_owned(),
                Revision::Tag(tag) => encode(tag, PYTHON_QUOTE),
            };
            format!(
                "{base}/packages/{}/tree/{revision}/{path}",
                encode(&package.to_string(), PYTHON_QUOTE_PATH)
            )
        }
        None => format!("{base}/tree/{path}"),
    }
}

#[cfg(test)]
mod tests {
    use super::{PackageName, Revision, catalog_url, physical_key, quilt_uri};

    fn package() -> PackageName {
        PackageName::parse("team/data").unwrap()
    }

    #[test]
    fn physical_keys_quote_like_python() {
        assert_eq!(
            physical_key("b", "data/sub/b c.csv", None),
            "s3://b/data/sub/b%20c.csv"
        );
        assert_eq!(
            physical_key("b", "été+1.txt", Some("v/1")),
            "s3://b/%C3%A9t%C3%A9%2B1.txt?versionId=v%2F1"
        );
    }

    #[test]
    fn quilt_uris() {
        assert_eq!(
            quilt_uri("b", Some(&package()), Revision::Latest, ""),
            "quilt+s3://b#package=team/data"
        );
        assert_eq!(
            quilt_uri(
                "b",
                Some(&package()),
                Revision::Hash("abc1234"),
                "dir/a b.csv"
            ),
            "quilt+s3://b#package=team/data@abc1234&path=dir/a%20b.csv"
        );
        assert_eq!(
            quilt_uri("b", Some(&package()), Revision::Tag("latest"), ""),
            "quilt+s3://b#package=team/data:latest"
        );
        assert_eq!(quilt_uri("b", None, Revision::Latest, ""), "quilt+s3://b");
    }

    #[test]
    fn catalog_urls() {
        assert_eq!(
            catalog_url(
                "https://cat.example.com/",
                "b",
                Some(&package()),
                Revision::Latest,
                "dir/"
            ),
            "https://cat.example.com/b/b/packages/team/data/tree/latest/dir/"
        );
        assert_eq!(
            catalog_url("https://c", "b", None, Revision::Latest, "x y"),
            "https://c/b/b/tree/x%20y"
        );
    }
}
