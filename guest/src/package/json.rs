//! JSON as quilt3 sees it: objects keep their key order (quilt3 writes metadata in
//! insertion order) and numbers keep whether they were integers or floats (Python
//! hashes `1` and `1.0` differently). Two writers: quilt3's manifest style and the
//! canonical form the top hash is computed over.

use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    Int(i128),
    Float(f64),
    String(String),
    Array(Vec<Json>),
    /// Keys in the order they were read or inserted.
    Object(Vec<(String, Json)>),
}

impl Json {
    pub fn get(&self, key: &str) -> Option<&Json> {
        match self {
            Self::Object(members) => members.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Self::String(s) => Some(s),
            _ => None,
        }
    }

    /// Python's `json.dumps(value, sort_keys=True, separators=(',', ':'))`, whose
    /// `ensure_ascii` default escapes everything outside printable ASCII.
    pub fn write_canonical(&self, out: &mut String) {
        self.write(out, Style::Canonical);
    }

    /// Python's `json.dumps(value, ensure_ascii=False)`: insertion order, `", "` and
    /// `": "`, UTF-8 left as it is — how quilt3 writes manifest lines.
    pub fn write_quilt3(&self, out: &mut String) {
        self.write(out, Style::Quilt3);
    }

    fn write(&self, out: &mut String, style: Style) {
        match self {
            Self::Null => out.push_str("null"),
            Self::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Self::Int(i) => out.push_str(&i.to_string()),
            Self::Float(f) => out.push_str(&python_float_repr(*f)),
            Self::String(s) => write_string(out, s, style),
            Self::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(style.item_separator());
                    }
                    item.write(out, style);
                }
                out.push(']');
            }
            Self::Object(members) => {
                let mut members: Vec<&(String, Json)> = members.iter().collect();
                if style == Style::Canonical {
                    // Byte order of UTF-8 is code point order, as Python sorts.
                    members.sort_by(|a, b| a.0.cmp(&b.0));
                }
                out.push('{');
                for (i, (key, value)) in members.into_iter().enumerate() {
                    if i > 0 {
                        out.push_str(style.item_separator());
                    }
                    write_string(out, key, style);
                    out.push_str(style.key_separator());
                    value.write(out, style);
                }
                out.push('}');
            }
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Style {
    Canonical,
    Quilt3,
}

impl Style {
    fn item_separator(self) -> &'static str {
        match self {
            Self::Canonical => ",",
            Self::Quilt3 => ", ",
        }
    }

    fn key_separator(self) -> &'static str {
        match self {
            Self::Canonical => ":",
            Self::Quilt3 => ": ",
        }
    }
}

fn write_string(out: &mut String, s: &str, style: Style) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => push_escape(out, c as u16),
            ' '..='~' => out.push(c),
            c if style == Style::Quilt3 => out.push(c),
            c => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    push_escape(out, *unit);
                }
            }
        }
    }
    out.push('"');
}

fn push_escape(out: &mut String, unit: u16) {
    out.push_str(&format!("\\u{unit:04x}"));
}

/// Python's `repr(float)`: the shortest digits that round-trip, positional for
/// decimal exponents -4..16, otherwise `d.ddde±XX`.
fn python_float_repr(value: f64) -> String {
    if value.is_nan() {
        return "NaN".into();
    }
    if value.is_infinite() {
        return if value > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    // Rust's `{:e}` gives the same shortest round-trip digits, as `d.ddde<exp>`.
    let scientific = format!("{:e}", value.abs());
    let (mantissa, exponent) = scientific.split_once('e').expect("{:e} has an exponent");
    let exponent: i32 = exponent.parse().expect("{:e} exponent is an integer");
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let sign = if value.is_sign_negative() { "-" } else { "" };
    // Position of the decimal point relative to the digits, as CPython counts it.
    let point = exponent + 1;
    let body = if (-3..=16).contains(&point) {
        positional(&digits, point)
    } else {
        let (first, rest) = digits.split_at(1);
        let fraction = if rest.is_empty() {
            String::new()
        } else {
            format!(".{rest}")
        };
        let exponent_sign = if exponent < 0 { '-' } else { '+' };
        format!("{first}{fraction}e{exponent_sign}{:02}", exponent.abs())
    };
    format!("{sign}{body}")
}

fn positional(digits: &str, point: i32) -> String {
    let length = digits.len() as i32;
    if point <= 0 {
        format!("0.{}{digits}", "0".repeat((-point) as usize))
    } else if point >= length {
        format!("{digits}{}.0", "0".repeat((point - length) as usize))
    } else {
        let (whole, fraction) = digits.split_at(point as usize);
        format!("{whole}.{fraction}")
    }
}

impl<'de> Deserialize<'de> for Json {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(JsonVisitor)
    }
}

struct JsonVisitor;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Json;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_unit<E>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }
    fn visit_none<E>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Json, E> {
        Ok(Json::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Json, E> {
        Ok(Json::Int(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Json, E> {
        Ok(Json::Int(v.into()))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Json, E> {
        Ok(Json::Float(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Json, E> {
        Ok(Json::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Json, E> {
        Ok(Json::String(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Json::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
        let mut members: Vec<(String, Json)> = Vec::new();
        while let Some((key, value)) = map.next_entry::<String, Json>()? {
            // Python's json keeps the last of duplicate keys, in the first one's place.
            match members.iter_mut().find(|(k, _)| *k == key) {
                Some(member) => member.1 = value,
                None => members.push((key, value)),
            }
        }
        Ok(Json::Object(members))
    }
}

impl From<serde_json::Value> for Json {
    fn from(value: serde_json::Value) -> Self {
        use serde_json::Value;
        match value {
            Value::Null => Self::Null,
            Value::Bool(b) => Self::Bool(b),
            Value::Number(n) => match (n.as_i64(), n.as_u64()) {
                (Some(i), _) => Self::Int(i.into()),
                (None, Some(u)) => Self::Int(u.into()),
                _ => Self::Float(n.as_f64().unwrap_or(f64::NAN)),
            },
            Value::String(s) => Self::String(s),
            Value::Array(items) => Self::Array(items.into_iter().map(Self::from).collect()),
            Value::Object(map) => {
                Self::Object(map.into_iter().map(|(k, v)| (k, v.into())).collect())
            }
        }
    }
}

impl From<Json> for serde_json::Value {
    fn from(value: Json) -> Self {
        use serde_json::Value;
        match value {
            Json::Null => Value::Null,
            Json::Bool(b) => Value::Bool(b),
            Json::Int(i) => i64::try_from(i)
                .map(Value::from)
                .or_else(|_| u64::try_from(i).map(Value::from))
                .unwrap_or_else(|_| Value::from(i as f64)),
            Json::Float(f) => Value::from(f),
            Json::String(s) => Value::String(s),
            Json::Array(items) => Value::Array(items.into_iter().map(Value::from).collect()),
            Json::Object(members) => {
                Value::Object(members.into_iter().map(|(k, v)| (k, v.into())).collect())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Json, python_float_repr};

    fn parse(text: &str) -> Json {
        serde_json::from_str(text).unwrap()
    }

    fn canonical(text: &str) -> String {
        let mut out = String::new();
        parse(text).write_canonical(&mut out);
        out
    }

    fn quilt3(text: &str) -> String {
        let mut out = String::new();
        parse(text).write_quilt3(&mut out);
        out
    }

    #[test]
    fn floats_print_as_python_repr() {
        let cases = [
            (1.0, "1.0"),
            (0.1, "0.1"),
            (1e20, "1e+20"),
            (-2.5e-7, "-2.5e-07"),
            (2.5, "2.5"),
            (1e16, "1e+16"),
            (1e15, "1000000000000000.0"),
            (123456789012345680.0, "1.2345678901234568e+17"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (3.0, "3.0"),
            (1.5e300, "1.5e+300"),
            (12.5, "12.5"),
        ];
        for (value, expected) in cases {
            assert_eq!(python_float_repr(value), expected, "{value:?}");
        }
    }

    #[test]
    fn integers_and_floats_stay_distinct() {
        assert_eq!(
            canonical("[1, 1.0, -3, 18446744073709551615]"),
            "[1,1.0,-3,18446744073709551615]"
        );
    }

    #[test]
    fn canonical_sorts_keys_recursively_and_keeps_empty_objects() {
        assert_eq!(
            canonical(r#"{"b": {"z": {}, "a": []}, "a": {"y": {"d": {}, "c": null}}}"#),
            r#"{"a":{"y":{"c":null,"d":{}}},"b":{"a":[],"z":{}}}"#
        );
    }

    #[test]
    fn canonical_escapes_non_ascii_with_surrogate_pairs() {
        assert_eq!(
            canonical(r#""été ☃ 😀""#),
            r#""\u00e9t\u00e9 \u2603 \ud83d\ude00""#
        );
        assert_eq!(
            canonical("\"\\u007f\\u0001\\n\\\"\\\\/\""),
            r#""\u007f\u0001\n\"\\/""#
        );
    }

    #[test]
    fn quilt3_style_keeps_order_spacing_and_utf8() {
        assert_eq!(
            quilt3(r#"{"z":1,"a":[1,2.0],"t":"ü\n"}"#),
            r#"{"z": 1, "a": [1, 2.0], "t": "ü\n"}"#
        );
    }

    #[test]
    fn duplicate_keys_keep_the_last_value() {
        assert_eq!(canonical(r#"{"a": 1, "b": 2, "a": 3}"#), r#"{"a":3,"b":2}"#);
    }
}
