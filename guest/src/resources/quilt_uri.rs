//! `quilt+s3://bucket#package=namespace/name[@top_hash|:tag]&path=logical/key`, as the
//! catalog and quilt3 write it (the fragment's values percent-encoded).

use url::form_urlencoded;

#[derive(Debug, PartialEq)]
pub struct QuiltUri {
    pub bucket: String,
    pub package: String,
    pub top_hash: Option<String>,
    pub tag: Option<String>,
    pub path: Option<String>,
}

impl QuiltUri {
    pub fn parse(uri: &str) -> Result<Self, String> {
        let rest = uri
            .get(..11)
            .filter(|scheme| scheme.eq_ignore_ascii_case("quilt+s3://"))
            .map(|_| &uri[11..])
            .ok_or_else(|| format!("{uri} is not a quilt+s3:// URI"))?;
        let (bucket, fragment) = rest
            .split_once('#')
            .ok_or_else(|| format!("{uri} names no package: add #package=namespace/name"))?;
        let mut parsed = Self {
            bucket: bucket.trim_end_matches('/').to_owned(),
            package: String::new(),
            top_hash: None,
            tag: None,
            path: None,
        };
        for (key, value) in form_urlencoded::parse(fragment.as_bytes()) {
            match key.as_ref() {
                "package" => {
                    let value = value.into_owned();
                    if let Some((name, hash)) = value.split_once('@') {
                        parsed.package = name.to_owned();
                        parsed.top_hash = Some(hash.to_owned());
                    } else if let Some((name, tag)) = value.split_once(':') {
                        parsed.package = name.to_owned();
                        parsed.tag = Some(tag.to_owned());
                    } else {
                        parsed.package = value;
                    }
                }
                "path" => parsed.path = Some(value.into_owned()),
                // The catalog adds others (catalog=...); they do not change what is named.
                _ => {}
            }
        }
        if parsed.package.is_empty() {
            return Err(format!(
                "{uri} names no package: add #package=namespace/name"
            ));
        }
        if parsed.path.as_deref().is_none_or(str::is_empty) {
            return Err(format!("{uri} names no entry: add &path=logical/key"));
        }
        Ok(parsed)
    }
}

#[cfg(test)]
mod tests {
    use super::QuiltUri;

    #[test]
    fn revisions_paths_and_encodings() {
        let uri =
            QuiltUri::parse("quilt+s3://b#package=team/p@abc1234&path=data/%C3%A9t%C3%A9%20x.csv")
                .unwrap();
        assert_eq!(uri.bucket, "b");
        assert_eq!(uri.package, "team/p");
        assert_eq!(uri.top_hash.as_deref(), Some("abc1234"));
        assert_eq!(uri.path.as_deref(), Some("data/été x.csv"));
        let tagged = QuiltUri::parse("QUILT+S3://b#package=team/p:v1&path=a&catalog=x").unwrap();
        assert_eq!((tagged.tag.as_deref(), tagged.top_hash), (Some("v1"), None));
    }

    #[test]
    fn incomplete_uris_say_what_is_missing() {
        for (uri, says) in [
            ("s3://b/k", "not a quilt+s3"),
            ("quilt+s3://b", "no package"),
            ("quilt+s3://b#path=a", "no package"),
            ("quilt+s3://b#package=team/p", "no entry"),
        ] {
            let error = QuiltUri::parse(uri).unwrap_err();
            assert!(error.contains(says), "{uri}: {error}");
        }
    }
}
