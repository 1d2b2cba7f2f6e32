//! The tool table: each tool is a typed function over its argument struct; the table
//! derives the MCP metadata from those types and adapts them to JSON.

mod auth_status;
mod bucket_list;
mod encoding;
mod objects;
mod packages;
mod preview;
mod search_catalog;
mod sql;

use std::sync::Arc;
use std::{fmt, io};

use rmcp::handler::server::tool::schema_for_input;
use rmcp::model::{Tool, ToolAnnotations};
use schemars::JsonSchema;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use serde_json::value::RawValue;

use crate::athena::AthenaError;
use crate::athena::statement::SqlError;
use crate::context::Context;
use crate::http::Client;
use crate::package::store::PackageError;
use crate::package::workflow::WorkflowError;
use crate::registry_api::RegistryError;
use crate::s3::client::ConnectError;
use crate::s3::uri::UriError;
use crate::s3::{Failure, S3};

/// What a tool may use: the host's request context and its outgoing HTTP.
pub struct Env<'a> {
    pub context: &'a dyn Context,
    pub http: &'a dyn Client,
}

impl Env<'_> {
    pub(crate) fn s3(&self) -> Result<S3<'_>, ToolError> {
        S3::connect(self.context, self.http).map_err(ToolError::Connect)
    }

    /// The bucket a `bucket` or `registry` argument names; left empty, the one bucket the
    /// connection is held to (`/mcp/b/{bucket}`).
    pub(crate) fn bucket_argument(
        &self,
        given: &str,
        argument: &'static str,
    ) -> Result<String, ToolError> {
        let held = self.context.grant().bucket;
        if !given.trim().is_empty() {
            let asked = crate::s3::uri::parse_bucket(given)?;
            return match held {
                Some(held) if held != asked => Err(ToolError::OutsideBucket { held, asked }),
                _ => Ok(asked),
            };
        }
        held.ok_or(ToolError::Argument {
            name: argument,
            problem: "is required: give the bucket as s3://name (only a connection held to one bucket, /mcp/b/{bucket}, has a default)".into(),
        })
    }
}

/// Why a tool call failed, worded for the person using the assistant.
#[derive(Debug)]
pub enum ToolError {
    /// The arguments do not match the tool's input schema.
    Arguments(String),
    /// An argument is well-typed but out of range or malformed.
    Argument {
        name: &'static str,
        problem: String,
    },
    Uri(UriError),
    Connect(ConnectError),
    S3(Failure),
    NotUtf8 {
        s3_uri: String,
    },
    /// The object cannot be previewed as what it looks like.
    Preview {
        s3_uri: String,
        problem: String,
    },
    AllItemsFailed(Vec<(String, String)>),
    /// The output, as JSON, is larger than one call may return.
    OutputTooLarge {
        bytes: usize,
    },
    Package(PackageError),
    /// The bucket's workflow refused the package, or cannot be applied.
    Workflow(WorkflowError),
    /// `catalog_url` was asked for, and the deployment names no web catalog.
    NoCatalog,
    Registry(RegistryError),
    /// The connection is held to one bucket (`/mcp/b/{bucket}`) and the call named another.
    OutsideBucket {
        held: String,
        asked: String,
    },
    Athena(AthenaError),
    /// The SQL statement cannot be read.
    Sql(SqlError),
    /// The statement is not read-only (named), and this caller may run only queries.
    SqlRefused(String),
}

impl fmt::Display for ToolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Arguments(message) => f.write_str(message),
            Self::Argument { name, problem } => write!(f, "Invalid argument '{name}': {problem}"),
            Self::Uri(error) => error.fmt(f),
            Self::Connect(error) => error.fmt(f),
            Self::S3(failure) => failure.fmt(f),
            Self::NotUtf8 { s3_uri } => write!(
                f,
                "The object at {s3_uri} is not valid UTF-8 text; call again with base64_encode true"
            ),
            Self::Preview { s3_uri, problem } => {
                write!(f, "{s3_uri} cannot be previewed: {problem}")
            }
            Self::Package(error) => error.fmt(f),
            Self::Workflow(error) => error.fmt(f),
            Self::NoCatalog => f.write_str(
                "This deployment has no web catalog configured; use catalog_uri for a quilt+s3 URI instead",
            ),
            Self::Registry(error) => error.fmt(f),
            Self::OutsideBucket { held, asked } => write!(
                f,
                "This connection is held to the bucket {held} (/mcp/b/{held}); {asked} is outside it. Connect to /mcp/b/{asked} or /mcp for other buckets"
            ),
            Self::Athena(error) => error.fmt(f),
            Self::Sql(error) => write!(f, "The SQL statement was not run: {error}"),
            Self::SqlRefused(kind) => write!(
                f,
                "The statement was not run: it is {kind}, and only SELECT, WITH, SHOW, DESCRIBE and EXPLAIN may run here (statements that change data need a token with the write scope, on a server started with --athena-allow-writes)"
            ),
            Self::OutputTooLarge { bytes } => write!(
                f,
                "The result would be {} MiB of JSON, over the {} MiB one call may return; ask for less (a smaller max_bytes)",
                bytes.div_ceil(1 << 20),
                MAX_OUTPUT_BYTES >> 20
            ),
            Self::AllItemsFailed(failures) => {
                write!(f, "No object was written:")?;
                for (key, error) in failures {
                    write!(f, "\n- {key}: {error}")?;
                }
                Ok(())
            }
        }
    }
}

impl From<UriError> for ToolError {
    fn from(error: UriError) -> Self {
        Self::Uri(error)
    }
}

/// S3's and URI errors keep their own kind, whichever layer they came through.
impl From<PackageError> for ToolError {
    fn from(error: PackageError) -> Self {
        match error {
            PackageError::S3(failure) => Self::S3(failure),
            PackageError::Uri(error) => Self::Uri(error),
            other => Self::Package(other),
        }
    }
}

impl From<RegistryError> for ToolError {
    fn from(error: RegistryError) -> Self {
        Self::Registry(error)
    }
}

impl From<AthenaError> for ToolError {
    fn from(error: AthenaError) -> Self {
        Self::Athena(error)
    }
}

impl From<Failure> for ToolError {
    fn from(failure: Failure) -> Self {
        Self::S3(failure)
    }
}

type Handler = Box<dyn Fn(&Env<'_>, Value) -> Result<Output, ToolError>>;

pub struct Entry {
    name: &'static str,
    /// Builds the tool's MCP metadata. Schema generation is the costliest thing the guest
    /// could do per request, so it runs only to make the snapshot behind `tools/list`.
    #[cfg_attr(
        not(test),
        expect(dead_code, reason = "only the listing snapshot test describes tools")
    )]
    describe: Box<dyn Fn() -> Tool>,
    handler: Handler,
}

/// How a tool touches the world, as MCP annotations.
#[derive(Clone, Copy)]
enum Effect {
    /// Reads only the request context.
    Introspect,
    /// Reads S3.
    Read,
    /// Writes the named S3 objects, replacing any already at those keys (so destructive: an
    /// overwritten object is gone unless the bucket keeps versions).
    Write,
    /// Adds a package revision: a second identical call adds another (timestamped) one, so
    /// it is not idempotent.
    NewRevision,
    /// Deletes S3 objects.
    Delete,
}

fn entry<A, O>(
    name: &'static str,
    title: &'static str,
    description: &'static str,
    effect: Effect,
    run: fn(&Env<'_>, A) -> Result<O, ToolError>,
) -> Entry
where
    A: DeserializeOwned + JsonSchema + 'static,
    O: Serialize + JsonSchema + 'static,
{
    table_entry(name, title, description, effect, move |env, arguments| {
        Ok((run(env, arguments)?, Vec::new()))
    })
}

/// A tool's output with the content blocks that follow its JSON.
type Attached<O> = (O, Vec<Attachment>);

/// A tool whose result carries content blocks after its JSON: images, embedded files,
/// links to objects.
fn entry_with_attachments<A, O>(
    name: &'static str,
    title: &'static str,
    description: &'static str,
    effect: Effect,
    run: fn(&Env<'_>, A) -> Result<Attached<O>, ToolError>,
) -> Entry
where
    A: DeserializeOwned + JsonSchema + 'static,
    O: Serialize + JsonSchema + 'static,
{
    table_entry(name, title, description, effect, run)
}

fn table_entry<A, O>(
    name: &'static str,
    title: &'static str,
    description: &'static str,
    effect: Effect,
    run: impl Fn(&Env<'_>, A) -> Result<Attached<O>, ToolError> + 'static,
) -> Entry
where
    A: DeserializeOwned + JsonSchema + 'static,
    O: Serialize + JsonSchema + 'static,
{
    let describe = Box::new(move || describe::<A, O>(name, title, description, effect));
    let handler: Handler = Box::new(move |env, arguments| {
        let arguments = parse_arguments::<A>(arguments)?;
        let (output, attachments) = run(env, arguments)?;
        let attached: usize = attachments.iter().map(Attachment::encoded_len).sum();
        let json = json_text(&output)?;
        if json.get().len() + attached > MAX_OUTPUT_BYTES {
            return Err(ToolError::OutputTooLarge {
                bytes: json.get().len() + attached,
            });
        }
        Ok(Output { json, attachments })
    });
    Entry {
        name,
        describe,
        handler,
    }
}

fn describe<A: JsonSchema + 'static, O: JsonSchema + 'static>(
    name: &'static str,
    title: &'static str,
    description: &'static str,
    effect: Effect,
) -> Tool {
    let mut input_schema = schema_for_input::<A>()
        .unwrap_or_else(|e| panic!("argument type of '{name}' is not an object: {e}"));
    // Some clients reject an object schema without `properties`, as schemars writes
    // for a struct with no fields.
    Arc::make_mut(&mut input_schema)
        .entry("properties")
        .or_insert_with(|| Value::Object(Default::default()));
    let annotations = match effect {
        Effect::Introspect => ToolAnnotations::new()
            .read_only(true)
            .destructive(false)
            .idempotent(true)
            .open_world(false),
        Effect::Read => ToolAnnotations::new()
            .read_only(true)
            .destructive(false)
            .idempotent(true)
            .open_world(true),
        Effect::Write => ToolAnnotations::new()
            .read_only(false)
            .destructive(true)
            .idempotent(true)
            .open_world(true),
        Effect::NewRevision => ToolAnnotations::new()
            .read_only(false)
            .destructive(false)
            .idempotent(false)
            .open_world(true),
        Effect::Delete => ToolAnnotations::new()
            .read_only(false)
            .destructive(true)
            .idempotent(true)
            .open_world(true),
    };
    let mut tool = Tool::new(name, description, input_schema)
        .with_title(title)
        .with_annotations(annotations)
        .with_output_schema::<O>();
    drop_numeric_formats(Arc::make_mut(&mut tool.input_schema));
    if let Some(output) = &mut tool.output_schema {
        drop_numeric_formats(Arc::make_mut(output));
    }
    tool
}

/// schemars describes Rust integer and float types with `format` values such as `uint64` or
/// `double`, which JSON Schema does not define; clients' validators warn about each (the
/// TypeScript SDK dozens of times per listing). `type` and `minimum` already say it all.
fn drop_numeric_formats(schema: &mut serde_json::Map<String, Value>) {
    const NUMERIC: [&str; 4] = ["int", "uint", "float", "double"];
    let is_numeric = |format: &Value| {
        format.as_str().is_some_and(|f| {
            NUMERIC
                .iter()
                .any(|kind| f.trim_end_matches(char::is_numeric) == *kind)
        })
    };
    if schema.get("format").is_some_and(is_numeric) {
        schema.remove("format");
    }
    for value in schema.values_mut() {
        match value {
            Value::Object(inner) => drop_numeric_formats(inner),
            Value::Array(items) => items
                .iter_mut()
                .filter_map(Value::as_object_mut)
                .for_each(drop_numeric_formats),
            _ => {}
        }
    }
}

/// The tool table: every tool this server offers, in the order `tools/list` shows them.
fn all() -> Vec<Entry> {
    let mut entries = vec![auth_status::entry()];
    entries.extend(objects::entries());
    entries.push(preview::entry());
    entries.extend(packages::entries());
    entries.push(search_catalog::entry());
    entries.push(bucket_list::entry());
    entries.extend(sql::entries());
    entries
}

// Each tool's `tools/list` entry, generated from the tools' types and checked in as
// `tools/list.json` (see the `listing_snapshot_is_current` test): a fresh instance per
// request would otherwise regenerate every schema on every listing.
include!(concat!(env!("OUT_DIR"), "/tools-listed.rs"));

/// The `tools` array of a listing of the tools named in `allowed`, in the table's order,
/// spliced from the snapshot without parsing it.
pub fn listing(allowed: &[String]) -> Box<RawValue> {
    let mut json = String::from("[");
    for (name, tool) in LISTED {
        if allowed.iter().any(|a| a == name) {
            if json.len() > 1 {
                json.push(',');
            }
            json.push_str(tool);
        }
    }
    json.push(']');
    RawValue::from_string(json).expect("the snapshot's tools are JSON")
}

/// Whether some tool, offered to this request or not, has this name.
pub fn exists(name: &str) -> bool {
    LISTED.iter().any(|(listed, _)| *listed == name)
}

/// The tools' metadata, generated from their types.
#[cfg(test)]
fn describe_all() -> Vec<Tool> {
    all().iter().map(|entry| (entry.describe)()).collect()
}

/// What a tool call came to.
#[derive(Debug)]
pub enum Called {
    Output(Output),
    /// Why it failed, worded for the person using the assistant.
    Failed(String),
}

/// A tool's result.
#[derive(Debug)]
pub struct Output {
    /// Compact JSON text, which `mcp` sends as the structured content and again as the text
    /// block, straight from this one copy.
    pub json: Box<RawValue>,
    /// Content blocks after the text block.
    pub attachments: Vec<Attachment>,
}

/// A content block beyond the JSON: something a model or a person can look at or open.
#[derive(Debug)]
pub enum Attachment {
    /// MCP image content.
    Image { mime_type: String, data: Vec<u8> },
    /// An embedded resource (a file the client can show or save).
    Resource {
        uri: String,
        mime_type: String,
        blob: Vec<u8>,
    },
    /// A `resource_link`: an object the client can read with `resources/read`.
    Link {
        uri: String,
        name: String,
        mime_type: Option<String>,
        size: Option<u64>,
    },
}

impl Attachment {
    /// About what it adds to the response: base64 is 4/3 of the bytes.
    fn encoded_len(&self) -> usize {
        match self {
            Self::Image { data, .. } => data.len().div_ceil(3) * 4,
            Self::Resource { blob, uri, .. } => blob.len().div_ceil(3) * 4 + uri.len(),
            Self::Link { uri, name, .. } => uri.len() + name.len() + 64,
        }
    }
}

/// `None` when no tool has that name.
pub fn call(env: &Env<'_>, name: &str, arguments: Value) -> Option<Called> {
    let entry = all().into_iter().find(|entry| entry.name == name)?;
    Some(match (entry.handler)(env, arguments) {
        Ok(output) => Called::Output(output),
        // One bound for every failure: messages quote keys, names and values the caller or a
        // server chose, and none of them may make the answer huge.
        Err(error) => Called::Failed(crate::echo::bounded(&error.to_string(), MAX_FAILURE_CHARS)),
    })
}

/// The longest tool error message; enough for a per-item report of a batch.
const MAX_FAILURE_CHARS: usize = 4000;

/// The most JSON one call may return. The response carries it twice (as the structured
/// content and as the text block), so more could not pass the host's default 64 MiB
/// response cap anyway; refusing it before it is built keeps the guest in its memory.
const MAX_OUTPUT_BYTES: usize = 32 << 20;

/// `output` serialised once into a buffer sized first: an output can be as large as the
/// object a tool read (more, once JSON escapes it), and a buffer grown by doubling holds
/// up to three times that.
fn json_text(output: &impl Serialize) -> Result<Box<RawValue>, ToolError> {
    const SERIALISES: &str = "tool outputs serialise to JSON";
    let mut length = ByteCount(0);
    serde_json::to_writer(&mut length, output).expect(SERIALISES);
    if length.0 > MAX_OUTPUT_BYTES {
        return Err(ToolError::OutputTooLarge { bytes: length.0 });
    }
    let mut text = Vec::with_capacity(length.0);
    serde_json::to_writer(&mut text, output).expect(SERIALISES);
    let text = String::from_utf8(text).expect("serde_json writes UTF-8");
    // With no spare capacity the text becomes the raw value as it is, without a copy.
    Ok(RawValue::from_string(text).expect("serde_json writes JSON"))
}

/// Counts what is written to it.
struct ByteCount(usize);

impl io::Write for ByteCount {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.0 += bytes.len();
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Bad arguments are tool failures, so the message names the offending argument.
fn parse_arguments<A: DeserializeOwned>(arguments: Value) -> Result<A, ToolError> {
    serde_path_to_error::deserialize(arguments).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        if path == "." {
            ToolError::Arguments(format!("Invalid arguments: {inner}"))
        } else {
            ToolError::Arguments(format!("Invalid argument '{path}': {inner}"))
        }
    })
}

/// The MCP annotations a client shows must agree with the scope table the host enforces.
#[cfg(test)]
mod scope_table {
    use quilt_mcp_policy::tools::{Permission, TOOLS, rule_for};

    #[test]
    fn every_tool_has_a_row_in_listing_order() {
        let names: Vec<&str> = super::all().iter().map(|entry| entry.name).collect();
        let rows: Vec<&str> = TOOLS.iter().map(|rule| rule.name).collect();
        assert_eq!(names, rows);
        let listed: Vec<&str> = super::LISTED.iter().map(|(name, _)| *name).collect();
        assert_eq!(listed, rows, "the listing snapshot follows the table");
    }

    #[test]
    fn annotations_agree_with_the_scope_each_tool_needs() {
        for tool in super::describe_all() {
            let rule = rule_for(&tool.name).expect("every tool has a row");
            let hints = tool.annotations.expect("every tool is annotated");
            let reads_only = matches!(rule.needs, None | Some(Permission::Read));
            assert_eq!(hints.read_only_hint, Some(reads_only), "{}", tool.name);
            if reads_only {
                assert_eq!(hints.destructive_hint, Some(false), "{}", tool.name);
            }
            if rule.needs == Some(Permission::Delete) {
                assert_eq!(hints.destructive_hint, Some(true), "{}", tool.name);
            }
        }
    }
}

#[cfg(test)]
mod snapshot {
    /// Regenerate with `UPDATE_TOOL_LISTING=1 cargo test -p quilt-mcp-guest listing_snapshot`.
    #[test]
    fn listing_snapshot_is_current() {
        let generated =
            serde_json::to_string_pretty(&serde_json::json!({ "tools": super::describe_all() }))
                .unwrap()
                + "\n";
        // Read at run time: clones sharing one target directory reuse the test binary.
        let path = std::path::Path::new(
            &std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"),
        )
        .join("src/tools/list.json");
        if std::env::var_os("UPDATE_TOOL_LISTING").is_some() {
            std::fs::write(path, &generated).unwrap();
        }
        assert_eq!(
            include_str!("list.json"),
            generated,
            "tools/list.json is stale: rerun with UPDATE_TOOL_LISTING=1"
        );
    }
}
