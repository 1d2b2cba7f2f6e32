//! Text a client chose (a method or tool name, a token's subject or `crit` entry, a Host),
//! cut to a length fit for a log line or an error message: a 900 KB tool name must not
//! become a 900 KB log line.

/// Most characters kept of one client-chosen value.
pub const MAX_CHARS: usize = 64;

/// `text`, or its first [`MAX_CHARS`] characters and `…`.
pub fn bounded(text: &str) -> String {
    cut(text, MAX_CHARS)
}

/// `text`, or its first `max_chars` characters and `…`; control characters become `�`, so a
/// value cannot start a forged log line.
pub fn cut(text: &str, max_chars: usize) -> String {
    let shown = |part: &str| {
        part.chars()
            .map(|c| if c.is_control() { '\u{FFFD}' } else { c })
            .collect::<String>()
    };
    match text.char_indices().nth(max_chars) {
        Some((at, _)) => format!("{}…", shown(&text[..at])),
        None => shown(text),
    }
}

#[cfg(test)]
mod tests {
    use super::{MAX_CHARS, bounded};

    #[test]
    fn control_characters_cannot_forge_a_line() {
        assert_eq!(
            bounded("a\nlevel=ERROR b\r"),
            "a\u{FFFD}level=ERROR b\u{FFFD}"
        );
    }

    #[test]
    fn cuts_on_a_character_boundary() {
        assert_eq!(bounded("short"), "short");
        let cut = bounded(&"é".repeat(900));
        assert_eq!(cut.chars().count(), MAX_CHARS + 1);
        assert!(cut.ends_with('…'));
        assert_eq!(bounded(&"x".repeat(MAX_CHARS)), "x".repeat(MAX_CHARS));
    }
}
