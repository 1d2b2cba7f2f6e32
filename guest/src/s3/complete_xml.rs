//! Whether an XML answer arrived whole. rusty-s3's parser (instant-xml) reads a listing cut
//! short as a shorter one, with the fields it did not reach left empty: a connection that
//! closed early, or a proxy that truncated the body, would show a bucket with fewer objects and
//! sizes of 0, and no continuation token, so callers would never learn there was more. So every
//! element that opens must close, and the document must have a root.

use quick_xml::Reader;
use quick_xml::events::Event;

/// `Err` says what is wrong: an unclosed element, a mismatched end tag, no root.
pub fn check(text: &str) -> Result<(), String> {
    let mut reader = Reader::from_str(text);
    let mut open: Vec<String> = Vec::new();
    let mut saw_root = false;
    loop {
        match reader.read_event() {
            Ok(Event::Start(start)) => {
                saw_root = true;
                open.push(String::from_utf8_lossy(start.name().as_ref()).into_owned());
            }
            Ok(Event::Empty(_)) => saw_root = true,
            // The reader checks that each end tag names the element it closes.
            Ok(Event::End(_)) => {
                open.pop();
            }
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
    match open.last() {
        Some(element) => Err(format!(
            "the XML ends inside <{}> (the answer was cut short)",
            crate::echo::bounded(element, 64)
        )),
        None if !saw_root => Err("the answer holds no XML element".to_owned()),
        None => Ok(()),
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
        assert!(check("<?xml version=\"1.0\"?>").is_err());
    }
}
