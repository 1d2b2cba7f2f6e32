//! Reading the posted JSON-RPC message as the host reads it. JSON leaves duplicate keys
//! undefined and parsers disagree (first wins, last wins, error), so a message with a key
//! twice in any object is refused rather than resolved: the host's log and checks must be
//! about the message that runs, and so must any other runtime's.

use std::cell::RefCell;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

use super::jsonrpc::RpcError;
use crate::echo::bounded;

/// Most characters of a client's key quoted back.
const MAX_KEY_CHARS: usize = 64;

/// Why a body is not one readable message.
#[derive(Debug)]
pub enum Unreadable {
    NotJson(serde_json::Error),
    DuplicateKey(String),
}

impl Unreadable {
    pub fn rpc_error(&self) -> RpcError {
        match self {
            Self::NotJson(error) => RpcError::parse(format!("Parse error: {error}")),
            Self::DuplicateKey(key) => RpcError::invalid_request(format!(
                "Invalid Request: the message has the key \"{}\" twice in one object; send each key once",
                bounded(key, MAX_KEY_CHARS)
            )),
        }
    }
}

/// `body` as JSON, refusing a repeated key at any depth. A duplicate met before a syntax
/// error is what is reported, as the host reports it.
pub fn message(body: &[u8]) -> Result<Value, Unreadable> {
    let duplicate = RefCell::new(None);
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let parsed = UniqueKeys(&duplicate)
        .deserialize(&mut deserializer)
        .and_then(|value| deserializer.end().map(|()| value));
    if let Some(key) = duplicate.into_inner() {
        return Err(Unreadable::DuplicateKey(key));
    }
    parsed.map_err(Unreadable::NotJson)
}

/// Builds a [`Value`] as serde_json does, but stops at the first object that repeats a
/// key, which it records (serde's errors carry only text).
#[derive(Clone, Copy)]
struct UniqueKeys<'a>(&'a RefCell<Option<String>>);

impl<'de> DeserializeSeed<'de> for UniqueKeys<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for UniqueKeys<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, value: bool) -> Result<Value, E> {
        Ok(Value::Bool(value))
    }

    fn visit_i64<E>(self, value: i64) -> Result<Value, E> {
        Ok(value.into())
    }

    fn visit_u64<E>(self, value: u64) -> Result<Value, E> {
        Ok(value.into())
    }

    fn visit_f64<E>(self, value: f64) -> Result<Value, E> {
        Ok(Number::from_f64(value).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, value: &str) -> Result<Value, E> {
        Ok(Value::String(value.to_owned()))
    }

    fn visit_string<E>(self, value: String) -> Result<Value, E> {
        Ok(Value::String(value))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(self)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if object.contains_key(&key) {
                *self.0.borrow_mut() = Some(key);
                return Err(de::Error::custom("duplicate key"));
            }
            let value = map.next_value_seed(self)?;
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}
