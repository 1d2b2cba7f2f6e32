//! The percent-encoding rules the guest writes, one named set each, so a URL or URI it
//! builds follows a rule that is written once and says whose rule it is.
//!
//! Every set encodes all non-ASCII bytes (the `percent-encoding` crate always does), except
//! where [`encode_readable`] keeps readable characters for people.

use percent_encoding::{
    AsciiSet, CONTROLS, NON_ALPHANUMERIC, percent_decode_str, percent_encode, utf8_percent_encode,
};

/// Python's `urllib.parse.quote(text, safe='')`: everything but its always-safe
/// `A-Za-z0-9_.-~`. quilt3 quotes single names this way (version ids, tags, the bucket in
/// a catalog URL), and its readers expect exactly these bytes.
pub const PYTHON_QUOTE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'_')
    .remove(b'.')
    .remove(b'-')
    .remove(b'~');

/// Python's `urllib.parse.quote(text, safe='/')`, the default quilt3 uses for keys and
/// paths (physical keys in manifests, quilt+s3 URIs, catalog links); the golden manifests
/// in `/work/shared/fixtures/quilt3` hold its output. S3's `x-amz-copy-source` wants the
/// same (the key URL-encoded, `/` kept).
pub const PYTHON_QUOTE_PATH: &AsciiSet = &PYTHON_QUOTE.remove(b'/');

/// An `s3://bucket/key` printed for people to read and paste back: only `%` (so decoding
/// gives the key back), `?` and `#` (which would end the key) and control characters.
pub const S3_URI_KEY: &AsciiSet = &CONTROLS.add(b'%').add(b'?').add(b'#');

/// The `versionId` value in such a URI: also `&`, which would start another parameter.
pub const S3_URI_QUERY_VALUE: &AsciiSet = &S3_URI_KEY.add(b'&');

/// `text` with the ASCII bytes in `set` and the control characters beyond ASCII (U+0080 to
/// U+009F) encoded, every other character kept as it is: an s3:// URI shows a key as
/// people named it (`s3://b/été.csv`), as the established Quilt tools print it.
pub fn encode_readable(text: &str, set: &'static AsciiSet) -> String {
    let mut out = String::with_capacity(text.len());
    let mut utf8 = [0; 4];
    for c in text.chars() {
        if c.is_ascii() || c.is_control() {
            out.extend(percent_encode(c.encode_utf8(&mut utf8).as_bytes(), set));
        } else {
            out.push(c);
        }
    }
    out
}

/// Python's `quote(text, safe)` for the sets above.
pub fn encode(text: &str, set: &'static AsciiSet) -> String {
    utf8_percent_encode(text, set).to_string()
}

/// Percent-decoding only (a `+` is a literal plus, not a space); a `%` not followed by two
/// hexadecimal digits is kept, and bytes that are not UTF-8 become U+FFFD.
pub fn decode(text: &str) -> String {
    percent_decode_str(text).decode_utf8_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::{
        PYTHON_QUOTE, PYTHON_QUOTE_PATH, S3_URI_KEY, S3_URI_QUERY_VALUE, decode, encode,
        encode_readable,
    };

    /// Inputs a caller or a listing may hold.
    const HOSTILE: &[&str] = &[
        "",
        "plain-name_1.2~x",
        "a b+c",
        "100%",
        "%41%zz%",
        "what?x=1&y=2#frag",
        "été/日本/😀",
        "../a/./b//c",
        "tab\tnl\ncr\rnul\0del\x7f",
        "c1\u{80}\u{9f}\u{a0}",
        "semi;colon,comma'quote\"<>[]{}|\\^`@$!*()=:",
    ];

    /// The hand-written encoders these sets replaced, kept as the oracle.
    mod before {
        pub fn quote(text: &str, safe: &str) -> String {
            let mut out = String::new();
            for byte in text.bytes() {
                let c = byte as char;
                if byte.is_ascii_alphanumeric()
                    || "_.-~".contains(c)
                    || (byte.is_ascii() && safe.contains(c))
                {
                    out.push(c);
                } else {
                    out.push_str(&format!("%{byte:02X}"));
                }
            }
            out
        }

        pub fn s3_uri(s: &str, query: bool) -> String {
            let mut out = String::new();
            for c in s.chars() {
                match c {
                    '%' => out.push_str("%25"),
                    '?' => out.push_str("%3F"),
                    '#' => out.push_str("%23"),
                    '&' if query => out.push_str("%26"),
                    c if c.is_control() => {
                        let mut buf = [0; 4];
                        for byte in c.encode_utf8(&mut buf).bytes() {
                            out.push_str(&format!("%{byte:02X}"));
                        }
                    }
                    c => out.push(c),
                }
            }
            out
        }
    }

    #[test]
    fn python_quote_sets_write_what_the_old_encoders_wrote() {
        for text in HOSTILE {
            assert_eq!(
                encode(text, PYTHON_QUOTE),
                before::quote(text, ""),
                "{text:?}"
            );
            assert_eq!(
                encode(text, PYTHON_QUOTE_PATH),
                before::quote(text, "/"),
                "{text:?}"
            );
        }
    }

    #[test]
    fn python_quote_matches_python() {
        // urllib.parse.quote("a b+c/é~%", safe="/") and safe="" in CPython 3.11.
        assert_eq!(
            encode("a b+c/é~%", PYTHON_QUOTE_PATH),
            "a%20b%2Bc/%C3%A9~%25"
        );
        assert_eq!(encode("a b+c/é~%", PYTHON_QUOTE), "a%20b%2Bc%2F%C3%A9~%25");
    }

    #[test]
    fn s3_uri_sets_write_what_the_old_encoder_wrote() {
        for text in HOSTILE {
            assert_eq!(
                encode_readable(text, S3_URI_KEY),
                before::s3_uri(text, false),
                "{text:?}"
            );
            assert_eq!(
                encode_readable(text, S3_URI_QUERY_VALUE),
                before::s3_uri(text, true),
                "{text:?}"
            );
        }
    }

    #[test]
    fn decoding_undoes_each_encoding() {
        for text in HOSTILE {
            for set in [PYTHON_QUOTE, PYTHON_QUOTE_PATH] {
                assert_eq!(decode(&encode(text, set)), *text);
            }
            for set in [S3_URI_KEY, S3_URI_QUERY_VALUE] {
                assert_eq!(decode(&encode_readable(text, set)), *text);
            }
        }
    }

    #[test]
    fn decoding_keeps_what_is_no_escape() {
        assert_eq!(decode("a+b%2"), "a+b%2");
        assert_eq!(decode("%zz%41"), "%zzA");
        assert_eq!(decode("%+5"), "%+5");
        assert_eq!(decode("%FF"), "\u{fffd}");
    }
}
