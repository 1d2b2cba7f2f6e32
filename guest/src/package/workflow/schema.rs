//! The JSON Schemas a workflow names: loaded from S3 (`s3://` URLs only, as quilt3 allows on a
//! remote registry), refused if they use `$ref` (quilt3 7.2.0 refuses it too, and it would
//! make the guest fetch more), checked against their meta-schema and compiled.
//!
//! The `jsonschema` crate (Stranger6667/jsonschema) validates: the most used and most
//! complete Rust implementation, all drafts, every error reported with its instance path
//! (quilt3 reports only the first), no I/O of its own without its `resolve-*` features, and
//! it builds for wasm32-wasip2. Formats are not asserted, as quilt3's `Draft7Validator`
//! without a format checker does not assert them.

use jsonschema::{Draft, Validator};
use serde_json::Value;

use crate::s3::S3Uri;

/// The largest schema read; a schema is a page of JSON, not data.
pub const MAX_SCHEMA_BYTES: usize = 1 << 20;

/// The most violations of one schema reported: enough to act on, bounded for 50,000 entries.
pub const MAX_VIOLATIONS: usize = 200;

/// A compiled schema.
pub struct Schema {
    validator: Validator,
}

impl Schema {
    /// `text` compiled, or what is wrong with it.
    pub fn compile(text: &[u8]) -> Result<Self, String> {
        let schema: Value =
            serde_json::from_slice(text).map_err(|e| format!("it is not JSON ({e})"))?;
        if uses_ref(&schema) {
            return Err("it uses $ref, which quilt3 does not support in workflow schemas; inline the referenced schema".into());
        }
        let draft = draft_of(&schema)?;
        let meta = match draft {
            Draft::Draft7 => jsonschema::draft7::meta::validate(&schema),
            _ => jsonschema::draft202012::meta::validate(&schema),
        };
        meta.map_err(|e| format!("it is not a valid schema: {e} (at {})", e.instance_path()))?;
        let validator = jsonschema::options()
            .with_draft(draft)
            .should_validate_formats(false)
            .build(&schema)
            .map_err(|e| format!("it cannot be compiled: {e}"))?;
        Ok(Self { validator })
    }

    /// Every violation (up to [`MAX_VIOLATIONS`]), as (JSON pointer into `instance`, what is
    /// wrong).
    pub fn violations(&self, instance: &Value) -> Vec<(String, String)> {
        self.validator
            .iter_errors(instance)
            .take(MAX_VIOLATIONS)
            .map(|e| (e.instance_path().to_string(), e.to_string()))
            .collect()
    }
}

/// Draft-07 unless `$schema` names 2020-12. quilt3 7.2.0 accepts only draft-07 (and schemas
/// naming none, which it reads as draft-07); 2020-12 is accepted here too, so buckets whose
/// owners write current schemas can be checked, though quilt3 itself will refuse to push
/// under them.
fn draft_of(schema: &Value) -> Result<Draft, String> {
    match schema.get("$schema") {
        None => Ok(Draft::Draft7),
        Some(Value::String(uri)) => match uri.trim_end_matches('#') {
            "http://json-schema.org/draft-07/schema" => Ok(Draft::Draft7),
            "https://json-schema.org/draft/2020-12/schema" => Ok(Draft::Draft202012),
            _ => Err(format!(
                "its meta-schema {uri} is not supported; use http://json-schema.org/draft-07/schema# (or https://json-schema.org/draft/2020-12/schema)"
            )),
        },
        Some(_) => Err("its $schema is not a string".into()),
    }
}

/// Whether any object in `value` has a `$ref` member, as quilt3's loader checks.
fn uses_ref(value: &Value) -> bool {
    match value {
        Value::Object(members) => members.contains_key("$ref") || members.values().any(uses_ref),
        Value::Array(items) => items.iter().any(uses_ref),
        _ => false,
    }
}

/// A schema URL from the config, which must be an S3 object.
pub fn location(url: &str) -> Result<S3Uri, String> {
    S3Uri::parse(url).map_err(|e| {
        format!("its URL {url} is not an s3:// object URL ({e}); on an S3 registry quilt3 reads schemas only from S3")
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::Schema;
    use crate::package::workflow::tests::fixture;

    #[test]
    fn every_violation_is_reported_with_its_path() {
        let schema = Schema::compile(&fixture("metadata.schema.json")).unwrap();
        assert!(
            schema
                .violations(&json!({"tissue": "liver", "samples": 3}))
                .is_empty()
        );
        let found = schema.violations(&json!({"tissue": "skin", "samples": 0}));
        let paths: Vec<&str> = found.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(
            paths.contains(&"/tissue") && paths.contains(&"/samples"),
            "{found:?}"
        );
        let missing = schema.violations(&json!({}));
        assert_eq!(missing.len(), 2, "both required properties: {missing:?}");
    }

    #[test]
    fn refs_other_drafts_and_broken_schemas_are_refused() {
        for (text, says) in [
            (
                json!({"properties": {"a": {"$ref": "#/definitions/x"}}}),
                "$ref",
            ),
            (
                json!({"$schema": "http://json-schema.org/draft-04/schema#"}),
                "not supported",
            ),
            (json!({"$schema": 7}), "not a string"),
            (json!({"type": "strnig"}), "not a valid schema"),
        ] {
            let error = Schema::compile(text.to_string().as_bytes()).err().unwrap();
            assert!(error.contains(says), "{text}: {error}");
        }
        assert!(
            Schema::compile(b"{not json")
                .err()
                .unwrap()
                .contains("not JSON")
        );
    }

    #[test]
    fn draft_2020_12_applies_its_own_keywords() {
        let schema = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "array",
            "prefixItems": [{"type": "string"}]
        });
        let schema = Schema::compile(schema.to_string().as_bytes()).unwrap();
        assert_eq!(schema.violations(&json!([1])).len(), 1);
        assert!(schema.violations(&json!(["a", 1])).is_empty());
    }

    #[test]
    fn formats_are_annotations_as_in_quilt3() {
        let schema = json!({"type": "string", "format": "email"});
        let schema = Schema::compile(schema.to_string().as_bytes()).unwrap();
        assert!(schema.violations(&json!("not an email")).is_empty());
    }
}
