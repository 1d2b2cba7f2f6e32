//! `bucket_object_preview`: an object as something a model can look at (see `preview`),
//! read with ranged GETs pinned to the ETag HEAD saw, so every part comes from one version.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::encoding::complete_utf8_prefix;
use super::{Attachment, Effect, Entry, Env, ToolError, entry_with_attachments};
use crate::preview::image::{Picture, picture};
use crate::preview::parquet::{self, Fetched};
use crate::preview::{Kind, Table, table};
use crate::s3::{Failure, S3, S3Uri};

/// The most bytes of image or PDF read.
const MAX_FILE_BYTES: u64 = 8 << 20;
/// The most bytes of a Parquet file fetched for one preview (footer and row groups).
const MAX_PARQUET_BYTES: u64 = 16 << 20;
/// The largest Parquet footer read: its lists are allocated as they are declared, so a
/// hostile one is bounded by its size.
const MAX_PARQUET_FOOTER: u64 = 256 << 10;
/// The longest CSV/TSV header line read when a later part is asked for.
const MAX_HEADER_BYTES: u64 = 64 << 10;

pub fn entry() -> Entry {
    entry_with_attachments(
        "bucket_object_preview",
        "Preview an object",
        "Shows an S3 object in a form a model can use: an image (PNG, JPEG, GIF, WebP) as image content scaled to max_dimension; a PDF as an embedded file; CSV, TSV, JSON Lines and Parquet as columns with types plus the first rows; anything else as text. Large objects come in parts: when next_offset is set, call again with offset next_offset for the next part.",
        Effect::Read,
        preview,
    )
}

#[derive(Deserialize, JsonSchema)]
pub struct PreviewArgs {
    /// The object, as s3://bucket/key, optionally with ?versionId=...
    s3_uri: String,
    /// Where to start: 0, or the next_offset of the previous part (a byte offset for text,
    /// CSV, TSV and JSON Lines; a row number for Parquet).
    #[serde(default)]
    offset: u64,
    /// Most rows of a table to show, 1 to 500.
    #[serde(default = "default_rows")]
    max_rows: usize,
    /// Most bytes of text or table read for this part, 1 to 4194304.
    #[serde(default = "default_window")]
    max_bytes: u64,
    /// Longest side of an image sent, in pixels, 16 to 2048.
    #[serde(default = "default_dimension")]
    max_dimension: u32,
}

fn default_rows() -> usize {
    20
}

fn default_window() -> u64 {
    256 << 10
}

fn default_dimension() -> u32 {
    768
}

#[derive(Serialize, JsonSchema)]
pub struct Preview {
    /// The object previewed.
    s3_uri: String,
    /// image, pdf, table or text.
    kind: &'static str,
    /// The object's size in bytes.
    size: u64,
    /// The stored Content-Type.
    content_type: Option<String>,
    /// The image sent as image content after this JSON.
    #[serde(skip_serializing_if = "Option::is_none")]
    image: Option<Picture>,
    #[serde(skip_serializing_if = "Option::is_none")]
    table: Option<Table>,
    /// The text of this part.
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<String>,
    /// Where the next part starts; none when this part reaches the end.
    next_offset: Option<u64>,
    /// Says so in words when there is more.
    #[serde(skip_serializing_if = "Option::is_none")]
    note: Option<String>,
}

fn preview(env: &Env<'_>, args: PreviewArgs) -> Result<(Preview, Vec<Attachment>), ToolError> {
    check_range("max_rows", args.max_rows as u64, 1, 500)?;
    check_range("max_bytes", args.max_bytes, 1, 4 << 20)?;
    check_range("max_dimension", u64::from(args.max_dimension), 16, 2048)?;
    let uri = S3Uri::parse(&args.s3_uri)?;
    let s3 = env.s3()?;
    let head = s3.head(&uri)?;
    let object = Object {
        s3: &s3,
        uri: &uri,
        etag: head.etag.unwrap_or_default(),
        size: head.size.unwrap_or(0),
    };
    let kind = Kind::of(&uri.key, head.content_type.as_deref());
    let mut preview = Preview {
        s3_uri: uri.to_string(),
        kind: "text",
        size: object.size,
        content_type: head.content_type.clone(),
        image: None,
        table: None,
        text: None,
        next_offset: None,
        note: None,
    };
    let mut attachments = Vec::new();
    let unreadable = |problem: Unreadable| match problem {
        Unreadable::S3(failure) => ToolError::S3(failure),
        Unreadable::Problem(problem) => ToolError::Preview {
            s3_uri: uri.to_string(),
            problem,
        },
    };
    fill(&object, kind, &args, &mut preview, &mut attachments).map_err(unreadable)?;
    if let Some(next) = preview.next_offset {
        preview.note = Some(format!(
            "This is one part of {}; call bucket_object_preview again with offset {next} for the next part.",
            preview.s3_uri
        ));
    }
    Ok((preview, attachments))
}

/// Why an object could not be previewed.
enum Unreadable {
    S3(Failure),
    /// What is wrong with the object, for the model.
    Problem(String),
}

impl From<Failure> for Unreadable {
    fn from(failure: Failure) -> Self {
        Self::S3(failure)
    }
}

impl From<String> for Unreadable {
    fn from(problem: String) -> Self {
        Self::Problem(problem)
    }
}

/// The preview of `object` as `kind`, with what to attach.
fn fill(
    object: &Object<'_>,
    kind: Kind,
    args: &PreviewArgs,
    preview: &mut Preview,
    attachments: &mut Vec<Attachment>,
) -> Result<(), Unreadable> {
    match kind {
        Kind::Image => {
            let bytes = object.whole(MAX_FILE_BYTES)?;
            let picture = picture(&bytes, args.max_dimension)?;
            attachments.push(Attachment::Image {
                mime_type: picture.mime_type.clone(),
                data: picture.data.clone(),
            });
            preview.kind = "image";
            preview.image = Some(picture);
        }
        Kind::Pdf => {
            let bytes = object.whole(MAX_FILE_BYTES)?;
            attachments.push(Attachment::Resource {
                uri: object.uri.to_string(),
                mime_type: "application/pdf".into(),
                blob: bytes,
            });
            preview.kind = "pdf";
        }
        Kind::Delimited(_) | Kind::JsonLines => {
            let (window, more) = object.window(args.offset, args.max_bytes)?;
            let table = match kind {
                Kind::Delimited(delimiter) => {
                    let header = match args.offset {
                        0 => None,
                        _ => Some(object.window(0, MAX_HEADER_BYTES)?.0),
                    };
                    let header_line = header.as_deref().map(first_line);
                    table::delimited(
                        delimiter,
                        header_line,
                        &window,
                        args.offset,
                        more,
                        args.max_rows,
                    )
                }
                _ => table::json_lines(&window, args.offset, more, args.max_rows),
            };
            preview.kind = "table";
            preview.next_offset = table.next_offset;
            preview.table = Some(table);
        }
        Kind::Parquet => {
            let table = parquet_rows(object, args.offset, args.max_rows)?;
            preview.kind = "table";
            preview.next_offset = table.next_offset;
            preview.table = Some(table);
        }
        Kind::Text => {
            let (window, more) = object.window(args.offset, args.max_bytes)?;
            let kept = if more {
                complete_utf8_prefix(&window).len()
            } else {
                window.len()
            };
            if more && kept == 0 {
                return Err(Unreadable::Problem(
                    "max_bytes is too small for the next character; ask with a larger max_bytes"
                        .into(),
                ));
            }
            let text = String::from_utf8_lossy(&window[..kept]).into_owned();
            preview.next_offset = more.then(|| args.offset + kept as u64);
            preview.text = Some(text);
        }
    }
    Ok(())
}

/// The object HEAD saw, read in ranges pinned to its ETag.
struct Object<'a> {
    s3: &'a S3<'a>,
    uri: &'a S3Uri,
    etag: String,
    size: u64,
}

impl Object<'_> {
    /// Up to `length` bytes from `start`, and whether the object goes on past them.
    fn window(&self, start: u64, length: u64) -> Result<(Vec<u8>, bool), Failure> {
        if start >= self.size {
            return Ok((Vec::new(), false));
        }
        let length = length.min(self.size - start);
        let bytes = self.s3.get_range(self.uri, start, length, &self.etag)?;
        Ok((bytes, start + length < self.size))
    }

    /// The whole object, if it is at most `limit` bytes.
    fn whole(&self, limit: u64) -> Result<Vec<u8>, Unreadable> {
        if self.size > limit {
            return Err(Unreadable::Problem(format!(
                "it is {} bytes, over the {} MiB previewed; get a download link with bucket_object_link",
                self.size,
                limit >> 20
            )));
        }
        Ok(self.window(0, self.size)?.0)
    }

    fn range(&self, start: u64, length: u64) -> Result<Vec<u8>, Failure> {
        self.s3.get_range(self.uri, start, length, &self.etag)
    }
}

/// Rows of a Parquet object: its footer, then the row groups holding the rows asked for.
fn parquet_rows(object: &Object<'_>, offset: u64, max_rows: usize) -> Result<Table, Unreadable> {
    if object.size < 12 {
        return Err(Unreadable::Problem(
            "it is too short to be a Parquet file".into(),
        ));
    }
    let tail = object.range(object.size - 8, 8)?;
    let footer = parquet::footer_length(&tail)? + 8;
    if footer > object.size || footer > MAX_PARQUET_FOOTER {
        return Err(Unreadable::Problem(format!(
            "its footer is {footer} bytes, more than this server reads for a preview"
        )));
    }
    let mut fetched = Fetched::new(object.size);
    fetched.add(
        object.size - footer,
        object.range(object.size - footer, footer)?,
    );
    let (columns, total, needed) = parquet::plan(&fetched, offset, max_rows)?;
    let mut budget = footer;
    for (start, length) in needed.ranges() {
        budget += length;
        if budget > MAX_PARQUET_BYTES {
            return Err(Unreadable::Problem(format!(
                "the row groups holding these rows are over the {} MiB read for a preview; ask for fewer rows (max_rows) or a later offset",
                MAX_PARQUET_BYTES >> 20
            )));
        }
        fetched.add(start, object.range(start, length)?);
    }
    Ok(parquet::rows(
        fetched, columns, total, &needed, offset, max_rows,
    )?)
}

fn first_line(bytes: &[u8]) -> &[u8] {
    bytes.split(|b| *b == b'\n').next().unwrap_or(bytes)
}

fn check_range(name: &'static str, value: u64, low: u64, high: u64) -> Result<(), ToolError> {
    if (low..=high).contains(&value) {
        return Ok(());
    }
    Err(ToolError::Argument {
        name,
        problem: format!("{value} is out of range; use {low} to {high}"),
    })
}
