//! MCP resources: objects (`s3://bucket/key`) and package entries
//! (`quilt+s3://bucket#package=ns/name[@hash|:tag]&path=key`) read as the caller, with the
//! rules the tools follow — the caller's credentials, the connection's bucket, the tools the
//! grant offers — plus a few fixed resources: the search syntax, the caller's buckets and
//! who the server thinks the caller is.

mod quilt_uri;

use std::fmt;

use serde::Serialize;
use serde_json::{Value, json};

use crate::package::layout::{self, LATEST};
use crate::package::store::{self, ManifestLimits, PackageLocation, Selector};
use crate::s3::S3Uri;
use crate::tools::{self, Called, Env, ToolError};
use quilt_uri::QuiltUri;

/// The most bytes of an object returned by `resources/read`: the result is built as JSON
/// (base64 for binary) while the bytes are held, so this stays well under guest memory.
const MAX_READ_BYTES: usize = 8 << 20;

const SEARCH_SYNTAX_URI: &str = "quilt-mcp://search-syntax";
const BUCKETS_URI: &str = "quilt-mcp://buckets";
const ME_URI: &str = "quilt-mcp://me";

const SEARCH_SYNTAX: &str = "# Searching the Quilt catalog (search_catalog)\n\n\
- Words match documents containing them: `temperature csv`.\n\
- `*` matches any characters and `?` one character: `data*`, `run-202?`.\n\
- Other operator characters (`+ - = && || > < ! ( ) { } [ ] ^ \" ~ : \\ /`) are searched literally.\n\
- scope: `file` (objects in buckets, the default), `package` (package revisions: name, message, metadata), \
`packageEntry` (files inside packages), `global` (objects and packages).\n\
- bucket: one bucket (`name` or `s3://name`), or empty for every bucket you can browse.\n\
- Results come a page at a time (limit); pass next_cursor as cursor for the next page; total counts every match.\n";

/// A fixed resource, listed when the grant offers the tool it stands for.
struct Fixed {
    uri: &'static str,
    name: &'static str,
    description: &'static str,
    mime_type: &'static str,
    /// The tool whose grant it needs (and whose output it is, for JSON ones).
    tool: &'static str,
}

const FIXED: [Fixed; 3] = [
    Fixed {
        uri: SEARCH_SYNTAX_URI,
        name: "Search syntax",
        description: "How to write search_catalog queries.",
        mime_type: "text/markdown",
        tool: "search_catalog",
    },
    Fixed {
        uri: BUCKETS_URI,
        name: "Your buckets",
        description: "The buckets you can browse (bucket_list).",
        mime_type: "application/json",
        tool: "bucket_list",
    },
    Fixed {
        uri: ME_URI,
        name: "Who am I",
        description: "Who the server thinks you are and which credentials it uses (auth_status).",
        mime_type: "application/json",
        tool: "auth_status",
    },
];

/// The `resources/list` result.
pub fn list(env: &Env<'_>) -> Value {
    let resources: Vec<Value> = FIXED
        .iter()
        .filter(|fixed| offered(env, fixed.tool))
        .map(|fixed| {
            json!({"uri": fixed.uri, "name": fixed.name, "description": fixed.description, "mimeType": fixed.mime_type})
        })
        .collect();
    json!({ "resources": resources })
}

/// The `resources/templates/list` result.
pub fn templates(env: &Env<'_>) -> Value {
    let mut templates = Vec::new();
    if offered(env, OBJECT_TOOL) {
        templates.push(json!({
            "uriTemplate": "s3://{bucket}/{+key}",
            "name": "S3 object",
            "description": "An object, read as you; add ?versionId=... for a version. Text comes back as text, anything else as base64.",
        }));
    }
    if offered(env, PACKAGE_TOOL) {
        templates.push(json!({
            "uriTemplate": "quilt+s3://{bucket}#package={namespace}/{name}&path={+path}",
            "name": "Package entry",
            "description": "A file inside a Quilt package (latest revision; name@top_hash or name:tag for another).",
        }));
    }
    json!({ "resourceTemplates": templates })
}

/// Reading objects needs the grant of the tool that reads them, packages that of browsing.
const OBJECT_TOOL: &str = "bucket_object_fetch";
const PACKAGE_TOOL: &str = "package_browse";

fn offered(env: &Env<'_>, tool: &str) -> bool {
    env.context.grant().tools.iter().any(|t| t == tool)
}

/// What `resources/read` answers with.
#[derive(Serialize)]
pub struct Contents {
    contents: [Content; 1],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Content {
    uri: String,
    mime_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "base64")]
    blob: Option<Vec<u8>>,
}

fn base64<S: serde::Serializer>(blob: &Option<Vec<u8>>, serializer: S) -> Result<S::Ok, S::Error> {
    use base64::display::Base64Display;
    use base64::engine::general_purpose::STANDARD;
    let bytes = blob.as_deref().unwrap_or_default();
    serializer.collect_str(&Base64Display::new(bytes, &STANDARD))
}

#[derive(Debug)]
pub enum ResourceError {
    /// No resource has this URI (or its scheme is not one served here).
    NotFound(String),
    /// The grant does not offer what reading it needs.
    NotOffered {
        uri: String,
        tool: &'static str,
    },
    Tool(ToolError),
    TooLarge {
        uri: String,
        size: u64,
    },
}

impl fmt::Display for ResourceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotFound(uri) => write!(
                f,
                "No resource {uri}: resources here are s3://bucket/key, quilt+s3://bucket#package=ns/name&path=key and those resources/list shows"
            ),
            Self::NotOffered { uri, tool } => write!(
                f,
                "{uri} is not offered to this request: reading it needs {tool}, which the server's flags, this connection or the token's scopes leave out"
            ),
            Self::Tool(error) => error.fmt(f),
            Self::TooLarge { uri, size } => write!(
                f,
                "{uri} is {size} bytes, over the {} MiB resources/read returns; use bucket_object_preview or bucket_object_link",
                MAX_READ_BYTES >> 20
            ),
        }
    }
}

impl ResourceError {
    /// Whether the spec's "resource not found" error fits: no such URI, object, bucket,
    /// package, revision or entry.
    pub fn is_not_found(&self) -> bool {
        use crate::package::store::PackageError as P;
        use crate::s3::error::ErrorKind as K;
        match self {
            Self::NotFound(_) => true,
            Self::Tool(ToolError::S3(failure)) => {
                matches!(failure.kind, K::NoSuchKey | K::NoSuchBucket)
            }
            Self::Tool(ToolError::Package(error)) => matches!(
                error,
                P::NoSuchPackage { .. }
                    | P::NoSuchTag { .. }
                    | P::NoSuchRevision { .. }
                    | P::PathNotFound { .. }
            ),
            _ => false,
        }
    }
}

impl<T: Into<ToolError>> From<T> for ResourceError {
    fn from(error: T) -> Self {
        Self::Tool(error.into())
    }
}

/// The resource `uri`, read as the caller.
pub fn read(env: &Env<'_>, uri: &str) -> Result<Contents, ResourceError> {
    if let Some(fixed) = FIXED.iter().find(|fixed| fixed.uri == uri) {
        return read_fixed(env, fixed);
    }
    let lower = uri
        .get(..9)
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    if lower.starts_with("s3://") {
        require(env, uri, OBJECT_TOOL)?;
        let object = S3Uri::parse(uri)?;
        return read_object(env, &object, uri);
    }
    if lower == "quilt+s3:" {
        require(env, uri, PACKAGE_TOOL)?;
        return read_entry(env, uri);
    }
    Err(ResourceError::NotFound(crate::echo::bounded(uri, 256)))
}

fn require(env: &Env<'_>, uri: &str, tool: &'static str) -> Result<(), ResourceError> {
    if offered(env, tool) {
        Ok(())
    } else {
        Err(ResourceError::NotOffered {
            uri: crate::echo::bounded(uri, 256),
            tool,
        })
    }
}

fn read_fixed(env: &Env<'_>, fixed: &Fixed) -> Result<Contents, ResourceError> {
    require(env, fixed.uri, fixed.tool)?;
    let text = if fixed.uri == SEARCH_SYNTAX_URI {
        SEARCH_SYNTAX.to_owned()
    } else {
        match tools::call(env, fixed.tool, json!({})) {
            Some(Called::Output(output)) => output.json.get().to_owned(),
            Some(Called::Failed(message)) => {
                return Err(ResourceError::Tool(ToolError::Arguments(message)));
            }
            None => return Err(ResourceError::NotFound(fixed.uri.to_owned())),
        }
    };
    Ok(one(
        fixed.uri.to_owned(),
        fixed.mime_type.to_owned(),
        text.into_bytes(),
    ))
}

fn read_object(env: &Env<'_>, object: &S3Uri, uri: &str) -> Result<Contents, ResourceError> {
    let s3 = env.s3()?;
    let download = s3
        .get_prefix(object, MAX_READ_BYTES + 1)
        .map_err(ToolError::S3)?;
    if download.size > MAX_READ_BYTES as u64 {
        return Err(ResourceError::TooLarge {
            uri: object.to_string(),
            size: download.size,
        });
    }
    let mime_type = download
        .content_type
        .filter(|c| !c.trim().is_empty())
        .unwrap_or_else(|| guess_mime(&object.key).to_owned());
    Ok(one(uri.to_owned(), mime_type, download.bytes))
}

fn read_entry(env: &Env<'_>, uri: &str) -> Result<Contents, ResourceError> {
    let parsed = QuiltUri::parse(uri).map_err(|problem| {
        ResourceError::Tool(ToolError::Argument {
            name: "uri",
            problem,
        })
    })?;
    let bucket = env.bucket_argument(&parsed.bucket, "uri")?;
    let package = PackageLocation {
        bucket,
        name: layout::PackageName::parse(&parsed.package).map_err(|e| ToolError::Argument {
            name: "uri",
            problem: e.to_string(),
        })?,
    };
    let s3 = env.s3()?;
    let selector = match (&parsed.top_hash, &parsed.tag) {
        (Some(hash), _) => Selector::HashPrefix(layout::parse_hash_prefix(hash).map_err(|e| {
            ToolError::Argument {
                name: "uri",
                problem: e.to_string(),
            }
        })?),
        (None, Some(tag)) => {
            Selector::Tag(layout::parse_tag(tag).map_err(|e| ToolError::Argument {
                name: "uri",
                problem: e.to_string(),
            })?)
        }
        (None, None) => Selector::Tag(LATEST),
    };
    let hash = store::resolve(&s3, &package, selector)?;
    let limits = ManifestLimits::of(&env.context.settings());
    let manifest = store::load_manifest(&s3, &package, &hash, limits)?;
    let path = parsed.path.unwrap_or_default();
    let entry = manifest
        .entries
        .iter()
        .find(|e| e.logical_key == path)
        .ok_or(store::PackageError::PathNotFound { path })?;
    let object = S3Uri::parse(&entry.physical_key)?;
    let mut contents = read_object(env, &object, uri)?;
    if contents.contents[0].mime_type == "application/octet-stream" {
        contents.contents[0].mime_type = guess_mime(&entry.logical_key).to_owned();
    }
    Ok(contents)
}

/// Text when the MIME type says text and the bytes are UTF-8; a blob otherwise.
fn one(uri: String, mime_type: String, bytes: Vec<u8>) -> Contents {
    let textual = is_textual(&mime_type);
    let (text, blob) = match (textual, String::from_utf8(bytes)) {
        (true, Ok(text)) => (Some(text), None),
        (_, Ok(text)) => (None, Some(text.into_bytes())),
        (_, Err(error)) => (None, Some(error.into_bytes())),
    };
    Contents {
        contents: [Content {
            uri,
            mime_type,
            text,
            blob,
        }],
    }
}

fn is_textual(mime: &str) -> bool {
    let mime = mime
        .split(';')
        .next()
        .unwrap_or(mime)
        .trim()
        .to_ascii_lowercase();
    mime.starts_with("text/")
        || matches!(
            mime.as_str(),
            "application/json"
                | "application/x-ndjson"
                | "application/xml"
                | "application/yaml"
                | "application/x-yaml"
        )
        || mime.ends_with("+json")
        || mime.ends_with("+xml")
}

/// A MIME type from the key's extension, for objects stored without one.
fn guess_mime(key: &str) -> &'static str {
    let extension = key
        .rsplit('/')
        .next()
        .and_then(|n| n.rsplit_once('.'))
        .map(|(_, e)| e.to_ascii_lowercase());
    match extension.as_deref() {
        Some("txt" | "log") => "text/plain",
        Some("md") => "text/markdown",
        Some("csv") => "text/csv",
        Some("tsv") => "text/tab-separated-values",
        Some("json") => "application/json",
        Some("jsonl" | "ndjson") => "application/x-ndjson",
        Some("yaml" | "yml") => "application/yaml",
        Some("html" | "htm") => "text/html",
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("gif") => "image/gif",
        Some("webp") => "image/webp",
        Some("pdf") => "application/pdf",
        Some("parquet") => "application/vnd.apache.parquet",
        _ => "application/octet-stream",
    }
}
