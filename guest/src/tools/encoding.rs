//! Turning the first bytes of an object into text.

use std::fmt;

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

    /// Lossy: undecodable bytes become U+FFFD. When `truncated`, a character cut in
    /// half by the byte cap is dropped rather than shown as garbage. Text that needs no
    /// change keeps the buffer it was read into: an object read whole is held only once.
    pub fn decode(self, mut bytes: Vec<u8>, truncated: bool) -> String {
        match self {
            Self::Utf8 => {
                if truncated {
                    bytes.truncate(complete_utf8_prefix(&bytes).len());
                }
                String::from_utf8(bytes)
                    .unwrap_or_else(|error| String::from_utf8_lossy(error.as_bytes()).into_owned())
            }
            _ if bytes.is_ascii() => String::from_utf8(bytes).expect("ASCII is UTF-8"),
            Self::Latin1 => map_high_bytes(&bytes, char::from),
            Self::Ascii => map_high_bytes(&bytes, |_| char::REPLACEMENT_CHARACTER),
        }
    }
}

/// `bytes` as text, ASCII kept and every other byte mapped by `high`, in a string sized
/// once (a high byte takes at most 3 bytes of UTF-8 here).
fn map_high_bytes(bytes: &[u8], high: fn(u8) -> char) -> String {
    let high_count = bytes.iter().filter(|b| !b.is_ascii()).count();
    let mut text = String::with_capacity(bytes.len() + 2 * high_count);
    text.extend(
        bytes
            .iter()
            .map(|&b| if b.is_ascii() { char::from(b) } else { high(b) }),
    );
    text
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
    use super::*;

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
            let decoded = Encoding::Utf8.decode(text[..cut].to_vec(), true);
            assert!(!decoded.contains('\u{FFFD}'), "cut at {cut}: {decoded:?}");
            assert!("aé€😀".starts_with(&decoded));
        }
    }

    #[test]
    fn utf8_is_lossy_inside_the_text() {
        assert_eq!(
            Encoding::Utf8.decode(b"a\xFFb".to_vec(), false),
            "a\u{FFFD}b"
        );
    }

    #[test]
    fn latin1_maps_every_byte() {
        assert_eq!(Encoding::Latin1.decode(b"caf\xE9".to_vec(), false), "café");
    }

    #[test]
    fn ascii_replaces_high_bytes() {
        assert_eq!(
            Encoding::Ascii.decode(b"caf\xE9".to_vec(), false),
            "caf\u{FFFD}"
        );
    }
}
