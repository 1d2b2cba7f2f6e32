//! The `bucket_*` tools: listing, reading, linking and writing S3 objects.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use base64::Engine;
use base64::display::Base64Display;
use base64::engine::general_purpose::STANDARD as BASE64;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize, Serializer};

use super::encoding::{Encoding, Text, complete_utf8_prefix};
use super::{Attachment, Effect, Entry, Env, ToolError, entry, entry_with_attachments};
use crate::s3::client::{ListQuery, Upload};
use crate::s3::uri::object_uri;
use crate::s3::{S3, S3Uri};

/// Bounds what one call holds in memory (and returns, base64 and all).
const MAX_READ_BYTES: usize = 16 * 1024 * 1024;
const MAX_LINK_SECONDS: u64 = 7 * 24 * 3600;
const LIST_LINK_SECONDS: u64 = 3600;

pub fn entries() -> Vec<Entry> {
    vec![
        entry_with_attachments(
            "bucket_objects_list",
            "List objects",
            "Lists one page of objects in an S3 bucket, optionally under a prefix and grouped by a delimiter, with presigned download URLs; each object also comes as a resource_link to read with resources/read.",
            Effect::Read,
            list,
        ),
        entry(
            "bucket_object_info",
            "Object info",
            "Shows an S3 object's size, content type, ETag, last modified time, version id and user metadata.",
            Effect::Read,
            info,
        ),
        entry(
            "bucket_object_text",
            "Read object text",
            "Reads the start of an S3 object as text (up to max_bytes) and says whether it was truncated.",
            Effect::Read,
            text,
        ),
        entry(
            "bucket_object_fetch",
            "Fetch object bytes",
            "Fetches the start of an S3 object (up to max_bytes) as base64, or as text when base64_encode is false.",
            Effect::Read,
            fetch,
        ),
        entry(
            "bucket_object_link",
            "Object download link",
            "Creates a presigned HTTPS GET URL for an S3 object, valid for up to 7 days.",
            Effect::Read,
            link,
        ),
        entry(
            "bucket_objects_put",
            "Write objects",
            "Writes one or more objects to an S3 bucket from text or base64 data, with optional content type and user metadata, and reports each.",
            Effect::Write,
            put,
        ),
    ]
}

fn default_max_keys() -> usize {
    100
}
fn default_true() -> bool {
    true
}
fn default_max_bytes() -> usize {
    65536
}
fn default_encoding() -> String {
    "utf-8".to_owned()
}
fn default_expiration() -> i64 {
    3600
}

// ---- bucket_objects_list ----

#[derive(Deserialize, JsonSchema)]
pub struct ListArgs {
    /// The bucket, as `name` or `s3://name`; optional on a connection held to one bucket
    /// (`/mcp/b/{bucket}`), which is then the default.
    #[serde(default)]
    bucket: String,
    /// Only keys starting with this prefix.
    #[serde(default)]
    prefix: String,
    /// Group keys sharing a prefix up to this delimiter (usually "/") into common_prefixes.
    #[serde(default)]
    delimiter: String,
    /// Most keys to return in this page, 1 to 1000.
    #[serde(default = "default_max_keys")]
    max_keys: usize,
    /// next_continuation_token of the previous page, to get the next one.
    #[serde(default)]
    continuation_token: String,
    /// Whether to add a presigned download URL (valid one hour) to each object.
    #[serde(default = "default_true")]
    include_signed_urls: bool,
}

#[derive(Serialize, JsonSchema)]
pub struct ObjectList {
    /// The bucket listed.
    bucket: String,
    /// The prefix used.
    prefix: String,
    /// The delimiter used.
    delimiter: String,
    /// The objects of this page.
    objects: Vec<ListedObject>,
    /// Prefixes grouped by the delimiter.
    common_prefixes: Vec<String>,
    /// Objects plus common prefixes in this page.
    key_count: usize,
    /// Whether more pages follow.
    is_truncated: bool,
    /// Pass as continuation_token to get the next page.
    next_continuation_token: Option<String>,
}

#[derive(Serialize, JsonSchema)]
pub struct ListedObject {
    /// The object key.
    key: String,
    /// The object as s3://bucket/key.
    s3_uri: String,
    /// Size in bytes.
    size: u64,
    /// Last modification time (RFC 3339).
    last_modified: Option<String>,
    /// The ETag, without quotes.
    etag: Option<String>,
    /// Presigned download URL, when asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    signed_url: Option<String>,
}

fn list(env: &Env<'_>, args: ListArgs) -> Result<(ObjectList, Vec<Attachment>), ToolError> {
    let bucket = env.bucket_argument(&args.bucket, "bucket")?;
    if !(1..=1000).contains(&args.max_keys) {
        return Err(ToolError::Argument {
            name: "max_keys",
            problem: format!("{} is out of range; use 1 to 1000", args.max_keys),
        });
    }
    let s3 = env.s3()?;
    let listing = s3.list(
        &bucket,
        &ListQuery {
            prefix: &args.prefix,
            delimiter: &args.delimiter,
            max_keys: args.max_keys,
            continuation_token: &args.continuation_token,
        },
    )?;
    let signed_at = SystemTime::now();
    let objects = listing
        .objects
        .into_iter()
        .map(|object| {
            let uri = S3Uri {
                bucket: bucket.clone(),
                key: object.key,
                version_id: None,
            };
            // A listed key this server refuses to address (a planted `..`, say) gets no link;
            // the rest of the listing is still answered.
            let signed_url = args
                .include_signed_urls
                .then(|| s3.presign_get(&uri, Duration::from_secs(LIST_LINK_SECONDS), signed_at))
                .and_then(Result::ok)
                .map(|url| url.to_string());
            Ok(ListedObject {
                s3_uri: uri.to_string(),
                key: uri.key,
                size: object.size.unwrap_or(0),
                last_modified: object.last_modified,
                etag: object.etag,
                signed_url,
            })
        })
        .collect::<Result<Vec<_>, ToolError>>()?;
    // Each object again as a resource_link a client can open with resources/read; a key
    // this server refuses to address is left out, as it is from reading.
    let links = objects
        .iter()
        .filter(|o| s3.may_address(&bucket) && crate::s3::uri::validate_key(&o.key).is_ok())
        .map(|o| Attachment::Link {
            uri: o.s3_uri.clone(),
            name: o.key.rsplit('/').next().unwrap_or(&o.key).to_owned(),
            mime_type: None,
            size: Some(o.size),
        })
        .collect();
    let list = ObjectList {
        key_count: objects.len() + listing.common_prefixes.len(),
        is_truncated: listing.next_continuation_token.is_some(),
        bucket,
        prefix: args.prefix,
        delimiter: args.delimiter,
        objects,
        common_prefixes: listing.common_prefixes,
        next_continuation_token: listing.next_continuation_token,
    };
    Ok((list, links))
}

// ---- bucket_object_info ----

#[derive(Deserialize, JsonSchema)]
pub struct InfoArgs {
    /// The object, as s3://bucket/key, optionally with ?versionId=...
    s3_uri: String,
}

#[derive(Serialize, JsonSchema)]
pub struct ObjectInfo {
    /// The object as s3://bucket/key[?versionId=...].
    s3_uri: String,
    /// The bucket.
    bucket: String,
    /// The key.
    key: String,
    /// The version described, when the bucket is versioned.
    version_id: Option<String>,
    /// Size in bytes.
    size: u64,
    /// The stored Content-Type.
    content_type: Option<String>,
    /// The ETag, without quotes.
    etag: Option<String>,
    /// Last modification time (RFC 3339).
    last_modified: Option<String>,
    /// User metadata, names without the x-amz-meta- prefix.
    metadata: BTreeMap<String, String>,
}

fn info(env: &Env<'_>, args: InfoArgs) -> Result<ObjectInfo, ToolError> {
    let uri = S3Uri::parse(&args.s3_uri)?;
    let head = env.s3()?.head(&uri)?;
    Ok(ObjectInfo {
        s3_uri: uri.to_string(),
        version_id: head.version_id.or(uri.version_id),
        bucket: uri.bucket,
        key: uri.key,
        size: head.size.unwrap_or(0),
        content_type: head.content_type,
        etag: head.etag,
        last_modified: head.last_modified,
        metadata: head.metadata,
    })
}

// ---- bucket_object_text ----

#[derive(Deserialize, JsonSchema)]
pub struct TextArgs {
    /// The object, as s3://bucket/key, optionally with ?versionId=...
    s3_uri: String,
    /// Most bytes to read from the start of the object.
    #[serde(default = "default_max_bytes")]
    max_bytes: usize,
    /// How to decode the bytes: utf-8, latin-1 (iso-8859-1) or ascii.
    #[serde(default = "default_encoding")]
    encoding: String,
}

#[derive(Serialize, JsonSchema)]
pub struct ObjectText {
    /// The object read.
    s3_uri: String,
    /// The decoded text.
    #[schemars(with = "String")]
    text: Text,
    /// The encoding used.
    encoding: String,
    /// Bytes read from the object.
    bytes_read: usize,
    /// The object's full size in bytes.
    size: u64,
    /// Whether the object is longer than what was read.
    truncated: bool,
}

fn text(env: &Env<'_>, args: TextArgs) -> Result<ObjectText, ToolError> {
    let uri = S3Uri::parse(&args.s3_uri)?;
    let encoding = Encoding::parse(&args.encoding).map_err(|e| ToolError::Argument {
        name: "encoding",
        problem: e.to_string(),
    })?;
    check_max_bytes(args.max_bytes)?;
    let download = env.s3()?.get_prefix(&uri, args.max_bytes)?;
    let bytes_read = download.bytes.len();
    let truncated = (bytes_read as u64) < download.size;
    Ok(ObjectText {
        s3_uri: uri.to_string(),
        text: encoding.decode(download.bytes, truncated),
        encoding: args.encoding,
        bytes_read,
        size: download.size,
        truncated,
    })
}

// ---- bucket_object_fetch ----

#[derive(Deserialize, JsonSchema)]
pub struct FetchArgs {
    /// The object, as s3://bucket/key, optionally with ?versionId=...
    s3_uri: String,
    /// Most bytes to read from the start of the object.
    #[serde(default = "default_max_bytes")]
    max_bytes: usize,
    /// Return the bytes as base64 (data_base64); when false, as UTF-8 text (text).
    #[serde(default = "default_true")]
    base64_encode: bool,
}

#[derive(Serialize, JsonSchema)]
pub struct ObjectBytes {
    /// The object read.
    s3_uri: String,
    /// The object's full size in bytes.
    size: u64,
    /// Bytes read from the object.
    bytes_read: usize,
    /// Whether the object is longer than what was read.
    truncated: bool,
    /// The stored Content-Type.
    content_type: Option<String>,
    /// The bytes read, base64-encoded (when base64_encode is true).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    data_base64: Option<Base64>,
    /// The bytes read as UTF-8 text (when base64_encode is false).
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<String>,
}

fn fetch(env: &Env<'_>, args: FetchArgs) -> Result<ObjectBytes, ToolError> {
    let uri = S3Uri::parse(&args.s3_uri)?;
    check_max_bytes(args.max_bytes)?;
    let download = env.s3()?.get_prefix(&uri, args.max_bytes)?;
    let bytes_read = download.bytes.len();
    let truncated = (bytes_read as u64) < download.size;
    let (data_base64, text) = if args.base64_encode {
        (Some(Base64(download.bytes)), None)
    } else {
        (None, Some(utf8_text(download.bytes, truncated, &uri)?))
    };
    Ok(ObjectBytes {
        s3_uri: uri.to_string(),
        size: download.size,
        bytes_read,
        truncated,
        content_type: download.content_type,
        data_base64,
        text,
    })
}

/// Bytes that serialise as their base64 text, encoded only as they are written: the
/// encoded copy, a third larger than the bytes, is never held.
struct Base64(Vec<u8>);

impl Serialize for Base64 {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&Base64Display::new(&self.0, &BASE64))
    }
}

/// The bytes as text in the buffer they were read into; a character cut by the byte cap
/// is dropped, anything else undecodable refuses the call.
fn utf8_text(mut bytes: Vec<u8>, truncated: bool, uri: &S3Uri) -> Result<String, ToolError> {
    if truncated {
        bytes.truncate(complete_utf8_prefix(&bytes).len());
    }
    String::from_utf8(bytes).map_err(|_| ToolError::NotUtf8 {
        s3_uri: uri.to_string(),
    })
}

fn check_max_bytes(max_bytes: usize) -> Result<(), ToolError> {
    if (1..=MAX_READ_BYTES).contains(&max_bytes) {
        Ok(())
    } else {
        Err(ToolError::Argument {
            name: "max_bytes",
            problem: format!("{max_bytes} is out of range; use 1 to {MAX_READ_BYTES}"),
        })
    }
}

// ---- bucket_object_link ----

#[derive(Deserialize, JsonSchema)]
pub struct LinkArgs {
    /// The object, as s3://bucket/key, optionally with ?versionId=...
    s3_uri: String,
    /// Seconds the link stays valid; at most 604800 (7 days), larger values are capped.
    #[serde(default = "default_expiration")]
    expiration: i64,
}

#[derive(Serialize, JsonSchema)]
pub struct ObjectLink {
    /// The object linked.
    s3_uri: String,
    /// The presigned GET URL.
    signed_url: String,
    /// Seconds the link is valid.
    expires_in: u64,
    /// When the link stops working (RFC 3339).
    expires_at: String,
    /// Whether the requested expiration was above 7 days and was capped.
    capped: bool,
}

fn link(env: &Env<'_>, args: LinkArgs) -> Result<ObjectLink, ToolError> {
    let uri = S3Uri::parse(&args.s3_uri)?;
    let requested = u64::try_from(args.expiration)
        .ok()
        .filter(|&seconds| seconds >= 1)
        .ok_or_else(|| ToolError::Argument {
            name: "expiration",
            problem: format!(
                "{} seconds is not allowed; use 1 to {MAX_LINK_SECONDS}",
                args.expiration
            ),
        })?;
    let expires_in = requested.min(MAX_LINK_SECONDS);
    let signed_at = SystemTime::now();
    let url = env
        .s3()?
        .presign_get(&uri, Duration::from_secs(expires_in), signed_at)?;
    // SigV4 dates have whole seconds, so the link dies at the signing second plus expires_in.
    let expires_at = jiff::Timestamp::try_from(signed_at)
        .ok()
        .and_then(|t| jiff::Timestamp::from_second(t.as_second() + expires_in as i64).ok())
        .map(|t| t.to_string())
        .unwrap_or_default();
    Ok(ObjectLink {
        s3_uri: uri.to_string(),
        signed_url: url.to_string(),
        expires_in,
        expires_at,
        capped: requested > MAX_LINK_SECONDS,
    })
}

// ---- bucket_objects_put ----

#[derive(Deserialize, JsonSchema)]
pub struct PutArgs {
    /// The bucket, as `name` or `s3://name`; optional on a connection held to one bucket
    /// (`/mcp/b/{bucket}`), which is then the default.
    #[serde(default)]
    bucket: String,
    /// The objects to write; each needs a key and exactly one of text or data.
    items: Vec<PutItem>,
}

#[derive(Deserialize, JsonSchema)]
pub struct PutItem {
    /// The key to write.
    key: String,
    /// The content as text (stored UTF-8).
    text: Option<String>,
    /// The content as base64-encoded bytes.
    data: Option<String>,
    /// The Content-Type to store; defaults to text/plain for text, application/octet-stream for data.
    content_type: Option<String>,
    /// User metadata to store (names: letters, digits, '-' and '_'; values: printable ASCII).
    metadata: Option<BTreeMap<String, String>>,
}

#[derive(Serialize, JsonSchema)]
pub struct PutReport {
    /// The bucket written to.
    bucket: String,
    /// One result per item, in order.
    results: Vec<PutResult>,
    /// Items written.
    succeeded: usize,
    /// Items that failed.
    failed: usize,
}

#[derive(Serialize, JsonSchema)]
#[serde(untagged)]
pub enum PutResult {
    Stored {
        /// The key written.
        key: String,
        /// Always true here.
        ok: bool,
        /// The object as s3://bucket/key.
        s3_uri: String,
        /// Bytes written.
        size: usize,
        /// The new ETag, without quotes.
        etag: Option<String>,
        /// The new version, when the bucket is versioned.
        version_id: Option<String>,
    },
    Failed {
        /// The key that was not written.
        key: String,
        /// Always false here.
        ok: bool,
        /// Why, and what to do.
        error: String,
    },
}

fn put(env: &Env<'_>, args: PutArgs) -> Result<PutReport, ToolError> {
    let bucket = env.bucket_argument(&args.bucket, "bucket")?;
    if args.items.is_empty() {
        return Err(ToolError::Argument {
            name: "items",
            problem: "it is empty; give at least one {key, text or data}".into(),
        });
    }
    let s3 = env.s3()?;
    let results: Vec<PutResult> = args
        .items
        .into_iter()
        .map(|item| {
            let key = item.key.clone();
            match put_one(&s3, &bucket, item) {
                Ok(stored) => stored,
                Err(error) => PutResult::Failed {
                    key,
                    ok: false,
                    error,
                },
            }
        })
        .collect();
    let failures: Vec<(String, String)> = results
        .iter()
        .filter_map(|result| match result {
            PutResult::Failed { key, error, .. } => Some((key.clone(), error.clone())),
            PutResult::Stored { .. } => None,
        })
        .collect();
    if failures.len() == results.len() {
        return Err(ToolError::AllItemsFailed(failures));
    }
    Ok(PutReport {
        bucket,
        succeeded: results.len() - failures.len(),
        failed: failures.len(),
        results,
    })
}

fn put_one(s3: &S3<'_>, bucket: &str, item: PutItem) -> Result<PutResult, String> {
    if item.key.is_empty() {
        return Err("the key is empty".into());
    }
    let (body, default_type) = match (item.text, item.data) {
        (Some(text), None) => (text.into_bytes(), "text/plain; charset=utf-8"),
        (None, Some(data)) => (
            BASE64.decode(data.trim()).map_err(|e| {
                format!("data is not valid base64 ({e}); encode the bytes with standard base64")
            })?,
            "application/octet-stream",
        ),
        _ => return Err("give exactly one of text or data".into()),
    };
    let metadata = item.metadata.unwrap_or_default();
    check_metadata(&metadata)?;
    let size = body.len();
    let content_type = item.content_type.as_deref().unwrap_or(default_type);
    let stored = s3
        .put(
            bucket,
            Upload {
                key: &item.key,
                body,
                content_type,
                metadata: &metadata,
            },
        )
        .map_err(|failure| failure.to_string())?;
    Ok(PutResult::Stored {
        s3_uri: object_uri(bucket, &item.key),
        key: item.key,
        ok: true,
        size,
        etag: stored.etag,
        version_id: stored.version_id,
    })
}

/// Metadata travels as HTTP headers, so names and values must be header-safe.
fn check_metadata(metadata: &BTreeMap<String, String>) -> Result<(), String> {
    for (name, value) in metadata {
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(format!(
                "metadata name '{name}' is not allowed; use letters, digits, '-' and '_'"
            ));
        }
        if !value.chars().all(|c| c == ' ' || c.is_ascii_graphic()) {
            return Err(format!(
                "metadata value of '{name}' must be printable ASCII"
            ));
        }
    }
    Ok(())
}
