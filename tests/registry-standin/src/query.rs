//! The Elasticsearch search body the registry passes on, translated to a tantivy query.
//!
//! Supported: `from`, `size`, `_source`, `track_total_hits`, `timeout`, and the queries
//! `match_all`, `match_none`, `query_string` (over all fields), `bool` (`must`, `filter`,
//! `should`, `must_not`), `exists`, `term`, `terms` and `range`. Anything else is refused with
//! Elasticsearch's kind of error, so a client relying on more than the real proxy's common
//! ground finds out here rather than against a live registry. As in Elasticsearch, filters and
//! exact-match queries score a constant, and a field the index does not map matches nothing.

use std::ops::Bound;

use serde_json::{Map, Value};
use tantivy::DateTime;
use tantivy::Term;
use tantivy::query::{
    AllQuery, BooleanQuery, ConstScoreQuery, EmptyQuery, Occur, PhraseQuery, Query, RangeQuery,
    RegexQuery, TermQuery,
};
use tantivy::schema::IndexRecordOption;
use time::Date;
use time::macros::format_description;

use crate::error::ApiError;
use crate::index::{RangeField, SearchSchema, parse_time};
use crate::query_string::{self, Clause, Node, Operator, Piece};

/// Elasticsearch's default page size.
const DEFAULT_SIZE: usize = 10;
/// Exact-match queries score this in Elasticsearch.
const CONSTANT_SCORE: f32 = 1.0;
/// Only whole values this long are in `all_raw` (see [`crate::index`]).
const KEYWORD_MAX_CHARS: usize = 256;

/// A search body, ready to run.
pub struct Search {
    pub from: usize,
    pub size: usize,
    pub query: Box<dyn Query>,
    pub source: SourceFilter,
}

/// Which `_source` fields hits carry.
pub enum SourceFilter {
    All,
    None,
    Only(Vec<String>),
}

impl SourceFilter {
    pub fn apply(&self, source: Value) -> Option<Value> {
        match (self, source) {
            (Self::All, source) => Some(source),
            (Self::None, _) => None,
            (Self::Only(fields), Value::Object(map)) => Some(Value::Object(
                map.into_iter()
                    .filter(|(name, _)| fields.contains(name))
                    .collect(),
            )),
            (Self::Only(_), other) => Some(other),
        }
    }
}

fn unsupported(what: &str) -> ApiError {
    ApiError::parsing(format!(
        "the registry stand-in does not support {what}; the Quilt clients need only from, size, \
         and the queries match_all, query_string, bool, exists, term, terms and range"
    ))
}

/// Translates a search body; `from` and `size` from the URL win over the body's, as in Elasticsearch.
pub fn compile(
    body: &Value,
    url_from: Option<usize>,
    url_size: Option<usize>,
    schema: &SearchSchema,
) -> Result<Search, ApiError> {
    let empty = Map::new();
    let body = match body {
        Value::Object(map) => map,
        Value::Null => &empty,
        _ => return Err(ApiError::parsing("the search body must be a JSON object")),
    };
    let mut search = Search {
        from: url_from.unwrap_or(0),
        size: url_size.unwrap_or(DEFAULT_SIZE),
        query: Box::new(AllQuery),
        source: SourceFilter::All,
    };
    for (key, value) in body {
        match key.as_str() {
            "from" if url_from.is_none() => search.from = count(key, value)?,
            "size" if url_size.is_none() => search.size = count(key, value)?,
            "from" | "size" => {}
            "query" => search.query = query(value, schema)?,
            "_source" => search.source = source_filter(value)?,
            // Totals here are always exact, and searches are quick.
            "track_total_hits" | "timeout" => {}
            other => return Err(unsupported(&format!("[{other}] in a search body"))),
        }
    }
    Ok(search)
}

fn count(name: &str, value: &Value) -> Result<usize, ApiError> {
    value
        .as_u64()
        .and_then(|n| usize::try_from(n).ok())
        .ok_or_else(|| {
            ApiError::parsing(format!(
                "[{name}] must be a non-negative integer, not {value}"
            ))
        })
}

fn source_filter(value: &Value) -> Result<SourceFilter, ApiError> {
    match value {
        Value::Bool(true) => Ok(SourceFilter::All),
        Value::Bool(false) => Ok(SourceFilter::None),
        Value::String(field) => Ok(SourceFilter::Only(vec![field.clone()])),
        Value::Array(fields) => fields
            .iter()
            .map(|field| field.as_str().map(str::to_owned))
            .collect::<Option<_>>()
            .map(SourceFilter::Only)
            .ok_or_else(|| ApiError::parsing("[_source] must list field names")),
        _ => Err(unsupported("this form of [_source]")),
    }
}

/// One query object: `{"<kind>": {...}}`.
fn query(value: &Value, schema: &SearchSchema) -> Result<Box<dyn Query>, ApiError> {
    let (kind, body) = single_entry(value, "a query")?;
    match kind {
        "match_all" => Ok(Box::new(AllQuery)),
        "match_none" => Ok(Box::new(EmptyQuery)),
        "query_string" => query_string(body, schema),
        "bool" => boolean(body, schema),
        "exists" => {
            let field = body
                .get("field")
                .and_then(Value::as_str)
                .ok_or_else(|| ApiError::parsing("[exists] must name a [field]"))?;
            Ok(constant(schema.exists(field), CONSTANT_SCORE))
        }
        "term" => {
            let (field, value) = single_entry(body, "[term]")?;
            let value = value.get("value").unwrap_or(value);
            Ok(constant(
                schema.one_of(field, &[keyword(value)?]),
                CONSTANT_SCORE,
            ))
        }
        "terms" => {
            let (field, values) = body
                .as_object()
                .into_iter()
                .flatten()
                .find(|(name, _)| name.as_str() != "boost")
                .ok_or_else(|| ApiError::parsing("[terms] must name a field"))?;
            let values = values
                .as_array()
                .ok_or_else(|| {
                    ApiError::parsing(format!("[terms] on [{field}] needs an array of values"))
                })?
                .iter()
                .map(keyword)
                .collect::<Result<Vec<_>, _>>()?;
            Ok(constant(schema.one_of(field, &values), CONSTANT_SCORE))
        }
        "range" => range(body, schema),
        other => Err(ApiError::parsing(format!("unknown query [{other}]"))),
    }
}

fn single_entry<'a>(value: &'a Value, what: &str) -> Result<(&'a str, &'a Value), ApiError> {
    match value
        .as_object()
        .map(|map| map.iter().collect::<Vec<_>>())
        .as_deref()
    {
        Some([(kind, body)]) => Ok((kind.as_str(), body)),
        _ => Err(ApiError::parsing(format!(
            "{what} must be an object with exactly one key, not {value}"
        ))),
    }
}

fn keyword(value: &Value) -> Result<String, ApiError> {
    match value {
        Value::String(text) => Ok(text.clone()),
        Value::Number(number) => Ok(number.to_string()),
        Value::Bool(flag) => Ok(flag.to_string()),
        other => Err(ApiError::parsing(format!(
            "[terms] values must be scalars, not {other}"
        ))),
    }
}

fn constant(query: Box<dyn Query>, score: f32) -> Box<dyn Query> {
    Box::new(ConstScoreQuery::new(query, score))
}

fn boolean(body: &Value, schema: &SearchSchema) -> Result<Box<dyn Query>, ApiError> {
    let body = body
        .as_object()
        .ok_or_else(|| ApiError::parsing("[bool] must be an object"))?;
    let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
    for (key, value) in body {
        let occur = match key.as_str() {
            "must" | "filter" => Occur::Must,
            "should" => Occur::Should,
            "must_not" => Occur::MustNot,
            "boost" => continue,
            other => return Err(unsupported(&format!("[{other}] in [bool]"))),
        };
        let items = match value {
            Value::Array(items) => items.iter().collect(),
            single => vec![single],
        };
        for item in items {
            let clause = query(item, schema)?;
            // Filters decide, they do not rank.
            let clause = if key == "filter" {
                constant(clause, 0.0)
            } else {
                clause
            };
            clauses.push((occur, clause));
        }
    }
    Ok(combine(clauses))
}

/// A boolean query that, as Elasticsearch's, matches everything when empty and everything not
/// excluded when it only excludes.
fn combine(mut clauses: Vec<(Occur, Box<dyn Query>)>) -> Box<dyn Query> {
    if clauses.iter().all(|(occur, _)| *occur == Occur::MustNot) {
        clauses.push((Occur::Must, Box::new(AllQuery)));
    }
    Box::new(BooleanQuery::new(clauses))
}

fn range(body: &Value, schema: &SearchSchema) -> Result<Box<dyn Query>, ApiError> {
    let (name, bounds) = single_entry(body, "[range]")?;
    let bounds = bounds
        .as_object()
        .ok_or_else(|| ApiError::parsing(format!("[range] on [{name}] must be an object")))?;
    let Some(field) = schema.range_field(name) else {
        return Ok(Box::new(EmptyQuery));
    };
    let term = |value: &Value| match field {
        RangeField::Number(field) => {
            whole_number(name, value).map(|n| Term::from_field_u64(field, n))
        }
        RangeField::Date(field) => time(name, value).map(|t| Term::from_field_date(field, t)),
    };
    let (mut lower, mut upper) = (Bound::Unbounded, Bound::Unbounded);
    for (key, value) in bounds {
        match key.as_str() {
            "gte" => lower = Bound::Included(term(value)?),
            "gt" => lower = Bound::Excluded(term(value)?),
            "lte" => upper = Bound::Included(term(value)?),
            "lt" => upper = Bound::Excluded(term(value)?),
            "boost" => {}
            other => return Err(unsupported(&format!("[{other}] in [range]"))),
        }
    }
    if matches!((&lower, &upper), (Bound::Unbounded, Bound::Unbounded)) {
        return Ok(constant(schema.exists(name), CONSTANT_SCORE));
    }
    Ok(constant(
        Box::new(RangeQuery::new(lower, upper)),
        CONSTANT_SCORE,
    ))
}

fn whole_number(field: &str, value: &Value) -> Result<u64, ApiError> {
    value
        .as_u64()
        .or_else(|| value.as_str().and_then(|text| text.parse().ok()))
        .ok_or_else(|| {
            ApiError::parsing(format!(
                "[range] on [{field}] needs whole, non-negative numbers, not {value}"
            ))
        })
}

/// RFC 3339, a plain date (midnight UTC) or milliseconds since 1970, as Elasticsearch's
/// default date format accepts.
fn time(field: &str, value: &Value) -> Result<DateTime, ApiError> {
    let from_text = |text: &str| {
        parse_time(text).or_else(|| {
            Date::parse(text, format_description!("[year]-[month]-[day]"))
                .ok()
                .map(|date| DateTime::from_utc(date.midnight().assume_utc()))
        })
    };
    let parsed = match value {
        Value::String(text) => from_text(text),
        Value::Number(millis) => millis.as_i64().map(DateTime::from_timestamp_millis),
        _ => None,
    };
    parsed.ok_or_else(|| {
        ApiError::parsing(format!(
            "[range] on [{field}] needs an RFC 3339 time, a yyyy-MM-dd date or epoch milliseconds, not {value}"
        ))
    })
}

fn query_string(body: &Value, schema: &SearchSchema) -> Result<Box<dyn Query>, ApiError> {
    let body = body
        .as_object()
        .ok_or_else(|| ApiError::parsing("[query_string] must be an object"))?;
    let mut text = None;
    let mut operator = Operator::Or;
    for (key, value) in body {
        match key.as_str() {
            "query" => text = value.as_str(),
            "default_operator" => {
                operator = match value.as_str().map(str::to_ascii_uppercase).as_deref() {
                    Some("AND") => Operator::And,
                    Some("OR") => Operator::Or,
                    _ => {
                        return Err(ApiError::parsing(format!(
                            "[default_operator] must be AND or OR, not {value}"
                        )));
                    }
                }
            }
            // Wildcards are always analyzed here, and a term never fails on a field's type.
            "analyze_wildcard" | "lenient" | "boost" => {}
            "default_field" if value == "*" => {}
            "fields" if *value == serde_json::json!(["*"]) => {}
            other => return Err(unsupported(&format!("[{other}] in [query_string]"))),
        }
    }
    let text =
        text.ok_or_else(|| ApiError::parsing("[query_string] must have a [query] string"))?;
    let clauses = query_string::parse(text, operator).map_err(|error| ApiError::Search {
        status: axum::http::StatusCode::BAD_REQUEST,
        kind: "query_shard_exception",
        reason: error.to_string(),
    })?;
    clauses_query(&clauses, schema)
}

fn clauses_query(clauses: &[Clause], schema: &SearchSchema) -> Result<Box<dyn Query>, ApiError> {
    if clauses.is_empty() {
        return Ok(Box::new(EmptyQuery));
    }
    let translated = clauses
        .iter()
        .map(|clause| {
            let occur = match clause.occur {
                query_string::Occur::Should => Occur::Should,
                query_string::Occur::Must => Occur::Must,
                query_string::Occur::MustNot => Occur::MustNot,
            };
            node_query(&clause.node, schema).map(|query| (occur, query))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(combine(translated))
}

fn node_query(node: &Node, schema: &SearchSchema) -> Result<Box<dyn Query>, ApiError> {
    match node {
        Node::Text(text) | Node::Phrase(text) => Ok(literal(text, schema)),
        Node::Wildcard(pieces) => wildcard(pieces, schema),
        Node::Group(clauses) => clauses_query(clauses, schema),
    }
}

/// Text as typed: its words in sequence anywhere, or a whole value equal to it.
fn literal(text: &str, schema: &SearchSchema) -> Box<dyn Query> {
    let words: Vec<Term> = schema
        .words(text)
        .iter()
        .map(|word| Term::from_field_text(schema.all, word))
        .collect();
    let mut alternatives: Vec<(Occur, Box<dyn Query>)> = Vec::new();
    match words.len() {
        0 => {}
        1 => alternatives.push((
            Occur::Should,
            Box::new(TermQuery::new(
                words[0].clone(),
                IndexRecordOption::WithFreqs,
            )),
        )),
        _ => alternatives.push((Occur::Should, Box::new(PhraseQuery::new(words)))),
    }
    if text.chars().count() <= KEYWORD_MAX_CHARS {
        let whole = Term::from_field_text(schema.all_raw, &text.to_lowercase());
        alternatives.push((
            Occur::Should,
            Box::new(TermQuery::new(whole, IndexRecordOption::WithFreqs)),
        ));
    }
    Box::new(BooleanQuery::new(alternatives))
}

/// `*` alone matches every document; otherwise the pattern must match a whole word or a
/// whole value, case-insensitively, as Elasticsearch's wildcard terms do.
fn wildcard(pieces: &[Piece], schema: &SearchSchema) -> Result<Box<dyn Query>, ApiError> {
    if pieces.iter().all(|piece| *piece == Piece::AnyChars) {
        return Ok(Box::new(AllQuery));
    }
    let pattern: String = pieces
        .iter()
        .map(|piece| match piece {
            Piece::Char(c) => regex_syntax::escape(&c.to_lowercase().to_string()),
            Piece::AnyChar => ".".to_owned(),
            Piece::AnyChars => ".*".to_owned(),
        })
        .collect();
    let regex = |field| {
        RegexQuery::from_pattern(&pattern, field)
            .map(|query| (Occur::Should, Box::new(query) as Box<dyn Query>))
            .map_err(|error| {
                ApiError::parsing(format!("the wildcard pattern cannot be searched: {error}"))
            })
    };
    Ok(Box::new(BooleanQuery::new(vec![
        regex(schema.all)?,
        regex(schema.all_raw)?,
    ])))
}

#[cfg(test)]
mod tests;
