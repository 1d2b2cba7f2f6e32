//! Bounding what the guest echoes from its input or from a server's answer: a huge field
//! must not become a huge message (nor a huge log line downstream).

/// `text` cut to at most `max_chars` characters (on a character boundary), with "…" in
/// place of what was cut.
pub fn bounded(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        None => text.to_owned(),
        Some((cut, _)) => format!("{}…", &text[..cut]),
    }
}

#[cfg(test)]
mod tests {
    use super::bounded;

    #[test]
    fn short_text_is_kept_whole() {
        assert_eq!(bounded("", 3), "");
        assert_eq!(bounded("abc", 3), "abc");
    }

    #[test]
    fn long_text_is_cut_on_a_character_boundary() {
        assert_eq!(bounded("abcd", 3), "abc…");
        assert_eq!(bounded("ééééé", 2), "éé…");
        assert_eq!(bounded("😀😀😀", 1), "😀…");
    }
}
