//! The parts of a JSON-RPC message the host reads for its log and its own error answers.
//!
//! The guest parses the message properly. The host must read it the same way, or its log
//! would name a different method or tool than the one that ran: JSON leaves duplicate keys
//! undefined and parsers disagree (first wins, last wins, error), so a message with a
//! duplicate key anywhere is refused here, before any guest runs, as the guest refuses it.

use std::cell::RefCell;
use std::collections::HashSet;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use crate::untrusted::bounded;

#[derive(Debug, Default)]
pub struct Envelope {
    /// The request's id when it is one JSON-RPC allows (a string or a number), else null:
    /// the host echoes it in its own errors.
    pub id: Value,
    method: Option<String>,
    tool: Option<String>,
}

/// A message with the same key twice in one object.
#[derive(Debug, PartialEq, Eq)]
pub struct DuplicateKey(String);

impl fmt::Display for DuplicateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Invalid Request: the message has the key \"{}\" twice in one object; send each key once",
            self.0
        )
    }
}

impl Envelope {
    /// What the host needs of `body`. Anything that is not one JSON object within serde_json's
    /// nesting limit yields an empty envelope (logged as `-`), and the guest answers it.
    pub fn peek(body: &[u8]) -> Result<Self, DuplicateKey> {
        let found = RefCell::new(None);
        let mut deserializer = serde_json::Deserializer::from_slice(body);
        let walked = UniqueKeys(&found).deserialize(&mut deserializer);
        if let Some(key) = found.into_inner() {
            return Err(DuplicateKey(bounded(&key)));
        }
        if walked.is_err() {
            return Ok(Self::default());
        }
        let Ok(Value::Object(message)) = serde_json::from_slice::<Value>(body) else {
            return Ok(Self::default());
        };
        let text = |value: Option<&Value>| value.and_then(Value::as_str).map(str::to_owned);
        Ok(Self {
            id: match message.get("id") {
                Some(id @ (Value::String(_) | Value::Number(_))) => id.clone(),
                _ => Value::Null,
            },
            method: text(message.get("method")),
            tool: text(message.get("params").and_then(|params| params.get("name"))),
        })
    }

    /// The method, cut to a length fit for a log line.
    pub fn method(&self) -> Option<String> {
        self.method.as_deref().map(bounded)
    }

    /// The tool a `tools/call` names, as sent.
    pub fn called_tool(&self) -> Option<&str> {
        match self.method.as_deref() {
            Some("tools/call") => self.tool.as_deref(),
            _ => None,
        }
    }

    /// The called tool's name, cut to a length fit for a log line.
    pub fn tool(&self) -> Option<String> {
        self.tool.as_deref().map(bounded)
    }
}

/// Walks any JSON value and stops at the first object that repeats a key, which it records
/// (serde's errors carry only text).
#[derive(Clone, Copy)]
struct UniqueKeys<'a>(&'a RefCell<Option<String>>);

impl<'de> DeserializeSeed<'de> for UniqueKeys<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for UniqueKeys<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(self)?.is_some() {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen = HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if seen.contains(&key) {
                *self.0.borrow_mut() = Some(key);
                return Err(de::Error::custom("duplicate key"));
            }
            map.next_value_seed(self)?;
            seen.insert(key);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::Envelope;
    use crate::untrusted::MAX_CHARS;

    #[test]
    fn reads_id_method_and_tool() {
        let envelope = Envelope::peek(
            br#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"bucket_objects_list"}}"#,
        )
        .unwrap();
        assert_eq!(envelope.id, Value::from(7));
        assert_eq!(envelope.method().as_deref(), Some("tools/call"));
        assert_eq!(envelope.tool().as_deref(), Some("bucket_objects_list"));
    }

    #[test]
    fn refuses_a_duplicate_key_at_any_depth() {
        for body in [
            r#"{"method":"ping","method":"tools/call"}"#,
            r#"{"method":"tools/call","params":{"name":"a","name":"b"}}"#,
            r#"{"params":{"arguments":[{"k":1,"k":2}]}}"#,
        ] {
            let refused = Envelope::peek(body.as_bytes()).err();
            assert!(refused.is_some(), "{body}");
        }
        assert_eq!(
            Envelope::peek(br#"{"a":{"x":1},"b":{"x":1}}"#).err(),
            None,
            "the same key in two objects is fine"
        );
    }

    #[test]
    fn only_a_json_object_names_a_method() {
        let deep = format!("{}1{}", "[".repeat(200), "]".repeat(200));
        for body in [
            format!(r#"{{"x":{deep},"method":"tools/call","method":"tools/list"}}"#),
            r#"[1,"tools/call",["bucket_objects_put"]]"#.to_owned(),
        ] {
            let envelope = Envelope::peek(body.as_bytes()).unwrap();
            assert_eq!(envelope.method(), None, "{body}");
            assert_eq!(envelope.tool(), None, "{body}");
        }
        let envelope = Envelope::peek(br#"{"id":{"a":1},"method":"m","params":"zzz"}"#).unwrap();
        assert_eq!(
            envelope.id,
            Value::Null,
            "an id JSON-RPC does not allow is not echoed"
        );
        assert_eq!(envelope.method().as_deref(), Some("m"));
        assert_eq!(envelope.tool(), None);
    }

    #[test]
    fn what_is_not_json_is_left_to_the_guest() {
        let envelope = Envelope::peek(b"{not json").unwrap();
        assert_eq!(envelope.method(), None);
        assert_eq!(envelope.id, Value::Null);
    }

    #[test]
    fn long_names_are_cut_for_the_log() {
        let name = "é".repeat(900);
        let body = format!(r#"{{"method":"tools/call","params":{{"name":"{name}"}}}}"#);
        let tool = Envelope::peek(body.as_bytes()).unwrap().tool().unwrap();
        assert_eq!(tool.chars().count(), MAX_CHARS + 1);
        assert!(tool.ends_with('…'));
        let key = "k".repeat(900);
        let body = format!(r#"{{"{key}":1,"{key}":2}}"#);
        let refused = Envelope::peek(body.as_bytes()).unwrap_err().to_string();
        assert!(refused.len() < 300, "{refused}");
    }
}
