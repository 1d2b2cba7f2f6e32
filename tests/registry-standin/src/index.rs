//! The search engine: one tantivy index in RAM per bucket, holding the bucket's object and
//! package documents, with fields laid out so the Elasticsearch queries the registry passes on
//! have a faithful translation:
//!
//! - `all`: every text and number of a document, tokenized (lowercased words) — what a
//!   `query_string` without fields searches in Elasticsearch, whose default field is `*`;
//! - `all_raw`: each of those values whole and lowercased, like the `keyword` sub-field
//!   Elasticsearch maps beside text (values over 256 characters left out, as its
//!   `ignore_above` does), so escaped punctuation and wildcards spanning it match;
//! - `_field_names`: the fields a document has a value for (`exists`, as Elasticsearch does it);
//! - `keywords`: `name=value` per top-level value (`term`/`terms` are exact);
//! - typed fast fields for `range`: sizes as numbers, times as dates.

use serde_json::{Map, Value};
use tantivy::collector::{Count, TopDocs};
use tantivy::query::{BooleanQuery, ConstScoreQuery, Occur, Query, TermQuery, TermSetQuery};
use tantivy::schema::{
    DateOptions, DateTimePrecision, Field, IndexRecordOption, NumericOptions, STORED, STRING,
    Schema, TEXT, TextFieldIndexing, TextOptions, Value as _,
};
use tantivy::tokenizer::{LowerCaser, RawTokenizer, TextAnalyzer, TokenizerManager};
use tantivy::{
    DateTime, DocAddress, Index, IndexWriter, ReloadPolicy, Searcher, TantivyDocument, Term,
};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::documents::SearchDoc;

const RAW_LOWERCASE: &str = "raw_lowercase";
/// Elasticsearch's `ignore_above` for the keyword sub-field of dynamically mapped text.
const KEYWORD_MAX_CHARS: usize = 256;
/// tantivy's smallest indexing budget; the documents here are few.
const WRITER_BUDGET_BYTES: usize = 15_000_000;

/// Fields `range` compares as numbers.
const NUMBER_FIELDS: [&str; 2] = ["size", "entry_size"];
/// Fields `range` compares as times (RFC 3339 text in the documents).
const DATE_FIELDS: [&str; 2] = ["last_modified", "ptr_last_modified"];

/// The schema every bucket index shares, so one translated query runs on all of them.
pub struct SearchSchema {
    schema: Schema,
    index_name: Field,
    id: Field,
    source: Field,
    field_names: Field,
    keywords: Field,
    pub all: Field,
    pub all_raw: Field,
    numbers: Vec<(&'static str, Field)>,
    dates: Vec<(&'static str, Field)>,
    analyzer: TextAnalyzer,
}

/// A typed field `range` can compare.
pub enum RangeField {
    Number(Field),
    Date(Field),
}

/// One hit before it is shaped as Elasticsearch's.
pub struct Hit {
    pub score: f32,
    pub index: String,
    pub id: String,
    pub source: Value,
}

impl SearchSchema {
    pub fn new() -> Self {
        let mut builder = Schema::builder();
        let raw_text = TextOptions::default().set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer(RAW_LOWERCASE)
                .set_index_option(IndexRecordOption::WithFreqs),
        );
        let numbers = NUMBER_FIELDS
            .map(|name| {
                (
                    name,
                    builder.add_u64_field(name, NumericOptions::default().set_fast()),
                )
            })
            .to_vec();
        let date_options = DateOptions::default()
            .set_fast()
            .set_precision(DateTimePrecision::Milliseconds);
        let dates = DATE_FIELDS
            .map(|name| (name, builder.add_date_field(name, date_options.clone())))
            .to_vec();
        Self {
            index_name: builder.add_text_field("_index", STRING | STORED),
            id: builder.add_text_field("_id", STORED),
            source: builder.add_text_field("_source", STORED),
            field_names: builder.add_text_field("_field_names", STRING),
            keywords: builder.add_text_field("keywords", STRING),
            all: builder.add_text_field("all", TEXT),
            all_raw: builder.add_text_field("all_raw", raw_text),
            numbers,
            dates,
            schema: builder.build(),
            analyzer: TokenizerManager::default()
                .get("default")
                .expect("tantivy registers its default analyzer"),
        }
    }

    /// The words of `text` as `all` indexes them.
    pub fn words(&self, text: &str) -> Vec<String> {
        let mut analyzer = self.analyzer.clone();
        let mut stream = analyzer.token_stream(text);
        let mut words = Vec::new();
        while let Some(token) = stream.next() {
            words.push(token.text.clone());
        }
        words
    }

    /// Documents with a value for `field`.
    pub fn exists(&self, field: &str) -> Box<dyn Query> {
        Box::new(TermQuery::new(
            Term::from_field_text(self.field_names, field),
            IndexRecordOption::Basic,
        ))
    }

    /// Documents whose top-level `field` is exactly one of `values`.
    pub fn one_of(&self, field: &str, values: &[String]) -> Box<dyn Query> {
        let terms = values
            .iter()
            .map(|value| Term::from_field_text(self.keywords, &format!("{field}={value}")));
        Box::new(TermSetQuery::new(terms))
    }

    pub fn range_field(&self, name: &str) -> Option<RangeField> {
        let find = |fields: &[(&str, Field)]| {
            fields
                .iter()
                .find(|(field, _)| *field == name)
                .map(|(_, field)| *field)
        };
        find(&self.numbers)
            .map(RangeField::Number)
            .or_else(|| find(&self.dates).map(RangeField::Date))
    }

    /// The index of one bucket's documents.
    pub fn build(&self, docs: &[SearchDoc]) -> tantivy::Result<BucketIndex> {
        let index = Index::create_in_ram(self.schema.clone());
        index.tokenizers().register(
            RAW_LOWERCASE,
            TextAnalyzer::builder(RawTokenizer::default())
                .filter(LowerCaser)
                .build(),
        );
        let mut writer: IndexWriter = index.writer_with_num_threads(1, WRITER_BUDGET_BYTES)?;
        for doc in docs {
            writer.add_document(self.document(doc))?;
        }
        writer.commit()?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        Ok(BucketIndex {
            searcher: reader.searcher(),
        })
    }

    fn document(&self, doc: &SearchDoc) -> TantivyDocument {
        let mut out = TantivyDocument::default();
        out.add_text(self.index_name, &doc.index);
        out.add_text(self.id, &doc.id);
        out.add_text(self.source, Value::Object(doc.source.clone()).to_string());
        for (name, value) in doc.source.iter().filter(|(_, value)| !value.is_null()) {
            out.add_text(self.field_names, name);
            if let Some(text) = scalar_text(value) {
                out.add_text(self.keywords, format!("{name}={text}"));
            }
            for text in scalars(value) {
                out.add_text(self.all, &text);
                if text.chars().count() <= KEYWORD_MAX_CHARS {
                    out.add_text(self.all_raw, &text);
                }
            }
            match self.range_field(name) {
                Some(RangeField::Number(field)) => {
                    if let Some(number) = value.as_u64() {
                        out.add_u64(field, number);
                    }
                }
                Some(RangeField::Date(field)) => {
                    if let Some(time) = value.as_str().and_then(parse_time) {
                        out.add_date(field, time);
                    }
                }
                None => {}
            }
        }
        out
    }
}

/// An RFC 3339 time as tantivy stores it.
pub fn parse_time(text: &str) -> Option<DateTime> {
    OffsetDateTime::parse(text, &Rfc3339)
        .ok()
        .map(DateTime::from_utc)
}

/// A scalar as text; `None` for arrays and objects.
fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        Value::Bool(flag) => Some(flag.to_string()),
        _ => None,
    }
}

/// Every scalar inside `value`, as text.
fn scalars(value: &Value) -> Vec<String> {
    match value {
        Value::Array(items) => items.iter().flat_map(scalars).collect(),
        Value::Object(map) => map.values().flat_map(scalars).collect(),
        scalar => scalar_text(scalar).into_iter().collect(),
    }
}

/// One bucket's documents, searchable.
pub struct BucketIndex {
    searcher: Searcher,
}

impl BucketIndex {
    /// How many documents of `indices` match, and the best `limit` of them.
    pub fn search(
        &self,
        schema: &SearchSchema,
        query: &dyn Query,
        indices: &[String],
        limit: usize,
    ) -> tantivy::Result<(usize, Vec<Hit>)> {
        let in_indices = TermSetQuery::new(
            indices
                .iter()
                .map(|name| Term::from_field_text(schema.index_name, name)),
        );
        let scoped = BooleanQuery::new(vec![
            (Occur::Must, query.box_clone()),
            // Adds nothing to the score: only the query ranks.
            (
                Occur::Must,
                Box::new(ConstScoreQuery::new(Box::new(in_indices), 0.0)),
            ),
        ]);
        if limit == 0 {
            return Ok((self.searcher.search(&scoped, &Count)?, Vec::new()));
        }
        let (total, best) = self.searcher.search(
            &scoped,
            &(Count, TopDocs::with_limit(limit).order_by_score()),
        )?;
        let hits = best
            .into_iter()
            .map(|(score, address)| self.hit(schema, score, address))
            .collect::<tantivy::Result<_>>()?;
        Ok((total, hits))
    }

    fn hit(&self, schema: &SearchSchema, score: f32, address: DocAddress) -> tantivy::Result<Hit> {
        let doc: TantivyDocument = self.searcher.doc(address)?;
        let text = |field| {
            doc.get_first(field)
                .and_then(|value| value.as_str())
                .unwrap_or_default()
                .to_owned()
        };
        let source: Map<String, Value> =
            serde_json::from_str(&text(schema.source)).unwrap_or_default();
        Ok(Hit {
            score,
            index: text(schema.index_name),
            id: text(schema.id),
            source: Value::Object(source),
        })
    }
}
