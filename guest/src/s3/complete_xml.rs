//! Whether an XML answer arrived whole. rusty-s3's parser (instant-xml) reads a listing cut
//! short as a shorter one, with the fields it did not reach left empty: a connection that
//! closed early, or a proxy that truncated the body, would show a bucket with fewer objects and
//! sizes of 0, and no continuation token, so callers would never learn there was more. So every
//! element that opens must close, and the document must have a root.

use quick_xml::Reader;
use quick_xml::events::Event;

/// S3's answers nest four deep at most; hostile nesting stops here, before the reader's own
/// stack of open names grows with it.
const MAX_DEPTH: usize = 32;

/// `Err` says what is wrong: an unclosed element, a mismatched end tag, no root.
pub fn check(text: &str) -> Result<(), String> {
    let mut reader = Reader::from_str(text);
    // The reader checks that each end tag names the element it closes; a depth is all this
    // needs to keep (a stack of names would grow with hostile nesting).
    let mut depth = 0usize;
    let mut saw_root = false;
    loop {
        match reader.read_event() {
            Ok(Event::Start(_)) => {
                saw_root = true;
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(format!("the XML nests deeper than {MAX_DEPTH} elements"));
                }
            }
            Ok(Event::Empty(_)) => saw_root = true,
            Ok(Event::End(_)) => depth = depth.saturating_sub(1),
            Ok(Event::Eof) => break,
            Ok(_) => {}
            // An error where the text ends is a tag the cut went through.
            Err(_) if reader.buffer_position() >= text.len() as u64 => {
                return Err("the XML ends inside a tag (the answer was cut short)".to_owned());
            }
            Err(error) => {
                let at = reader.error_position();
                return Err(format!("malformed XML at byte {at}: {error}"));
            }
        }
    }
    if depth > 0 {
        Err("the XML ends inside an element (the answer was cut short)".to_owned())
    } else if !saw_root {
        Err("the answer holds no XML element".to_owned())
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::check;

    const LISTING: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name><KeyCount>1</KeyCount><IsTruncated>true</IsTruncated><NextContinuationToken>t</NextContinuationToken><Contents><Key>a.txt</Key><Size>5</Size></Contents></ListBucketResult>"#;

    #[test]
    fn a_whole_listing_passes() {
        assert_eq!(check(LISTING), Ok(()));
    }

    #[test]
    fn every_cut_of_a_listing_is_refused() {
        // Cut anywhere after the root opened, the answer is incomplete.
        let root = LISTING.find("<ListBucketResult").unwrap();
        for cut in root + 1..LISTING.len() {
            let refused = check(&LISTING[..cut]).unwrap_err();
            assert!(
                refused.contains("cut short"),
                "{refused}: {:?}",
                &LISTING[..cut]
            );
        }
    }

    #[test]
    fn mismatched_end_tags_and_no_root_are_refused() {
        assert!(check("<a><b></a></b>").unwrap_err().contains("malformed"));
        assert!(check("").is_err());
        assert!(
            check(&"<a>".repeat(100_000))
                .unwrap_err()
                .contains("deeper")
        );
        assert!(check("<?xml version=\"1.0\"?>").is_err());
    }
}
