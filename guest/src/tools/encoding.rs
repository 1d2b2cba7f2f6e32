//! Turning the first bytes of an object into text.

use std::fmt::{self, Write};

use serde::{Serialize, Serializer};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Utf8,
    Latin1,
    Ascii,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownEncoding(pub String);

impl fmt::Display for UnknownEncoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "'{}' is not supported; use one of utf-8, latin-1 (iso-8859-1), ascii",
            self.0
        )
    }
}

impl Encoding {
    pub fn parse(name: &str) -> Result<Self, UnknownEncoding> {
        match name.trim().to_ascii_lowercase().replace('_', "-").as_str() {
            "utf-8" | "utf8" => Ok(Self::Utf8),
            "latin-1" | "latin1" | "iso-8859-1" | "iso8859-1" => Ok(Self::Latin1),
            "ascii" | "us-ascii" => Ok(Self::Ascii),
            _ => Err(UnknownEncoding(name.to_owned())),
        }
    }

    /// The bytes as text in this encoding. When `truncated`, a UTF-8 character cut in half
    /// by the byte cap is dropped rather than shown as garbage.
    pub fn decode(self, mut bytes: Vec<u8>, truncated: bool) -> Text {
        if self == Self::Utf8 && truncated {
            bytes.truncate(complete_utf8_prefix(&bytes).len());
        }
        Text {
            bytes,
            encoding: self,
        }
    }
}

/// Bytes shown as text, decoded only as they are written (into JSON, say): the decoded copy,
/// up to three times the bytes, is never held. Lossy: undecodable bytes become U+FFFD.
pub struct Text {
    bytes: Vec<u8>,
    encoding: Encoding,
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.encoding {
            Encoding::Utf8 => {
                for chunk in self.bytes.utf8_chunks() {
                    f.write_str(chunk.valid())?;
                    if !chunk.invalid().is_empty() {
                        f.write_char(char::REPLACEMENT_CHARACTER)?;
                    }
                }
                Ok(())
            }
            Encoding::Latin1 => write_mapping_high_bytes(f, &self.bytes, char::from),
            Encoding::Ascii => {
                write_mapping_high_bytes(f, &self.bytes, |_| char::REPLACEMENT_CHARACTER)
            }
        }
    }
}

impl Serialize for Text {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// Writes `bytes`, ASCII as it is and every other byte as `high` maps it.
fn write_mapping_high_bytes(
    f: &mut fmt::Formatter<'_>,
    bytes: &[u8],
    high: fn(u8) -> char,
) -> fmt::Result {
    // Each run is ASCII up to and including one high byte, but for the last.
    for run in bytes.split_inclusive(|b| !b.is_ascii()) {
        let (ascii, last) = match run.split_last() {
            Some((&last, ascii)) if !last.is_ascii() => (ascii, Some(last)),
            _ => (run, None),
        };
        f.write_str(std::str::from_utf8(ascii).expect("ASCII is UTF-8"))?;
        if let Some(byte) = last {
            f.write_char(high(byte))?;
        }
    }
    Ok(())
}

/// `bytes` without a trailing, incomplete UTF-8 sequence.
pub fn complete_utf8_prefix(bytes: &[u8]) -> &[u8] {
    // A UTF-8 sequence is at most 4 bytes, so only the last 3 can be a cut one.
    let tail_start = bytes.len().saturating_sub(3);
    for start in (tail_start..bytes.len()).rev() {
        let byte = bytes[start];
        if byte & 0b1100_0000 == 0b1000_0000 {
            continue;
        }
        let needed = match byte {
            0xC0..=0xDF => 2,
            0xE0..=0xEF => 3,
            0xF0..=0xF7 => 4,
            _ => return bytes,
        };
        return if bytes.len() - start < needed {
            &bytes[..start]
        } else {
            bytes
        };
    }
    bytes
}

#[cfg(test)]
mod tests {
    use super::Encoding;

    #[test]
    fn accepts_aliases_and_rejects_others() {
        assert_eq!(Encoding::parse("UTF-8"), Ok(Encoding::Utf8));
        assert_eq!(Encoding::parse("iso-8859-1"), Ok(Encoding::Latin1));
        assert_eq!(Encoding::parse("latin-1"), Ok(Encoding::Latin1));
        assert_eq!(Encoding::parse("ascii"), Ok(Encoding::Ascii));
        let error = Encoding::parse("utf-16").unwrap_err().to_string();
        assert!(error.contains("utf-8") && error.contains("latin-1") && error.contains("ascii"));
    }

    #[test]
    fn utf8_cut_at_a_character_boundary_when_truncated() {
        let text = "aé€😀".as_bytes();
        for cut in 0..=text.len() {
            let decoded = Encoding::Utf8
                .decode(text[..cut].to_vec(), true)
                .to_string();
            assert!(!decoded.contains('\u{FFFD}'), "cut at {cut}: {decoded:?}");
            assert!("aé€😀".starts_with(&decoded));
        }
    }

    #[test]
    fn utf8_is_lossy_inside_the_text() {
        assert_eq!(
            Encoding::Utf8.decode(b"a\xFFb".to_vec(), false).to_string(),
            "a\u{FFFD}b"
        );
    }

    #[test]
    fn utf8_is_decoded_as_from_utf8_lossy_decodes_it() {
        for bytes in [
            &b"a\xFF\xFEb"[..],
            b"\xE2\x82",
            b"ok \xF0\x9F\x98\x80 \xC3",
            b"",
        ] {
            let decoded = Encoding::Utf8.decode(bytes.to_vec(), false).to_string();
            assert_eq!(decoded, String::from_utf8_lossy(bytes), "{bytes:?}");
        }
    }

    #[test]
    fn ascii_runs_between_high_bytes_are_kept() {
        let latin1 = Encoding::Latin1.decode(b"\xE9a\xE9\xE9bc".to_vec(), false);
        assert_eq!(latin1.to_string(), "éaéébc");
        let ascii = Encoding::Ascii.decode(b"x\x80y".to_vec(), false);
        assert_eq!(ascii.to_string(), "x\u{FFFD}y");
    }

    #[test]
    fn latin1_maps_every_byte() {
        assert_eq!(
            Encoding::Latin1
                .decode(b"caf\xE9".to_vec(), false)
                .to_string(),
            "café"
        );
    }

    #[test]
    fn ascii_replaces_high_bytes() {
        assert_eq!(
            Encoding::Ascii
                .decode(b"caf\xE9".to_vec(), false)
                .to_string(),
            "caf\u{FFFD}"
        );
    }
}
