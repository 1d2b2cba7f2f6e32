//! A tool call's result on the wire. A failure is rmcp's `CallToolResult`; a success is
//! written in the same shape straight from the tool's one JSON text, spliced in as the
//! structured content and escaped as it is written for the text block. The text block
//! repeats the output for clients that only read text; compact, since it doubles the
//! response and the model reads JSON either way.

use base64::display::Base64Display;
use base64::engine::general_purpose::STANDARD as BASE64;
use rmcp::model::{CallToolResult, ContentBlock, MetaObject, ResultType};
use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};
use serde_json::value::RawValue;

use super::era::Era;
use super::modern;
use crate::tools::{Attachment, Called};

#[derive(Debug)]
pub struct ToolResult {
    called: Called,
    era: Era,
}

/// `CallToolResult`'s fields, for a success.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Success<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    result_type: Option<ResultType>,
    content: Content<'a>,
    structured_content: &'a RawValue,
    is_error: bool,
    #[serde(rename = "_meta", skip_serializing_if = "Option::is_none")]
    meta: Option<MetaObject>,
}

#[derive(Serialize)]
struct TextBlock<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    text: &'a str,
}

/// The text block, then each attachment as its MCP content block.
struct Content<'a> {
    text: TextBlock<'a>,
    attachments: &'a [Attachment],
}

impl Serialize for Content<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut blocks = serializer.serialize_seq(Some(1 + self.attachments.len()))?;
        blocks.serialize_element(&self.text)?;
        for attachment in self.attachments {
            blocks.serialize_element(&Block(attachment))?;
        }
        blocks.end()
    }
}

/// One attachment, its bytes base64-encoded as they are written (never held encoded).
struct Block<'a>(&'a Attachment);

/// Bytes written as base64 text, straight into the response.
struct Base64<'a>(&'a [u8]);

impl Serialize for Base64<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&Base64Display::new(self.0, &BASE64))
    }
}

/// An embedded resource's `resource` member.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Embedded<'a> {
    uri: &'a str,
    mime_type: &'a str,
    blob: Base64<'a>,
}

impl Serialize for Block<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut block = serializer.serialize_map(None)?;
        match self.0 {
            Attachment::Image { mime_type, data } => {
                block.serialize_entry("type", "image")?;
                block.serialize_entry("data", &Base64(data))?;
                block.serialize_entry("mimeType", mime_type)?;
            }
            Attachment::Resource {
                uri,
                mime_type,
                blob,
            } => {
                block.serialize_entry("type", "resource")?;
                let embedded = Embedded {
                    uri,
                    mime_type,
                    blob: Base64(blob),
                };
                block.serialize_entry("resource", &embedded)?;
            }
            Attachment::Link {
                uri,
                name,
                mime_type,
                size,
            } => {
                block.serialize_entry("type", "resource_link")?;
                block.serialize_entry("uri", uri)?;
                block.serialize_entry("name", name)?;
                if let Some(mime_type) = mime_type {
                    block.serialize_entry("mimeType", mime_type)?;
                }
                if let Some(size) = size {
                    block.serialize_entry("size", size)?;
                }
            }
        }
        block.end()
    }
}

impl ToolResult {
    pub fn new(called: Called, era: Era) -> Self {
        Self { called, era }
    }

    /// Whether the tool failed (the result's `isError`).
    pub fn is_error(&self) -> bool {
        matches!(self.called, Called::Failed(_))
    }
}

impl Serialize for ToolResult {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // `resultType` and the server's `_meta` exist only in the 2026 era.
        let (result_type, meta) = match self.era {
            Era::Legacy => (None, None),
            Era::Modern => (Some(ResultType::COMPLETE), Some(modern::server_meta())),
        };
        match &self.called {
            Called::Output(output) => Success {
                result_type,
                content: Content {
                    text: TextBlock {
                        kind: "text",
                        text: output.json.get(),
                    },
                    attachments: &output.attachments,
                },
                structured_content: &output.json,
                is_error: false,
                meta,
            }
            .serialize(serializer),
            Called::Failed(message) => {
                let mut failure = CallToolResult::error(vec![ContentBlock::text(message.clone())]);
                failure.result_type = result_type;
                failure.meta = meta;
                failure.serialize(serializer)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use rmcp::model::{CallToolResult, ContentBlock, ResultType};
    use serde_json::{Value, json};

    use super::ToolResult;
    use crate::mcp::era::Era;
    use crate::mcp::modern;
    use crate::tools::{Attachment, Called, Output};

    /// The result rmcp would write for `output`, as `tools::call` once built it.
    fn rmcp_success(output: &Value, era: Era) -> CallToolResult {
        let mut result = CallToolResult::success(vec![ContentBlock::text(output.to_string())]);
        result.structured_content = Some(output.clone());
        result.result_type = None;
        if era == Era::Modern {
            result.result_type = Some(ResultType::COMPLETE);
            result.meta = Some(modern::server_meta());
        }
        result
    }

    #[test]
    fn a_success_is_written_as_rmcp_writes_it() {
        let output = json!({"a": 1, "b": [true, null], "c": "line\n\"quoted\""});
        for era in [Era::Legacy, Era::Modern] {
            let json = serde_json::value::to_raw_value(&output).unwrap();
            let called = Called::Output(Output {
                json,
                attachments: Vec::new(),
            });
            let ours = serde_json::to_value(ToolResult::new(called, era)).unwrap();
            let theirs = serde_json::to_value(rmcp_success(&output, era)).unwrap();
            assert_eq!(ours, theirs, "{era:?}");
        }
    }

    /// Each attachment reads back as the content block rmcp's own types describe.
    #[test]
    fn attachments_are_mcp_content_blocks() {
        let output = json!({"ok": true});
        let called = Called::Output(Output {
            json: serde_json::value::to_raw_value(&output).unwrap(),
            attachments: vec![
                Attachment::Image {
                    mime_type: "image/png".into(),
                    data: vec![1, 2, 3],
                },
                Attachment::Resource {
                    uri: "s3://b/a.pdf".into(),
                    mime_type: "application/pdf".into(),
                    blob: b"%PDF".to_vec(),
                },
                Attachment::Link {
                    uri: "s3://b/k.csv".into(),
                    name: "k.csv".into(),
                    mime_type: Some("text/csv".into()),
                    size: Some(7),
                },
            ],
        });
        let written = serde_json::to_value(ToolResult::new(called, Era::Legacy)).unwrap();
        let parsed: CallToolResult = serde_json::from_value(written.clone()).unwrap();
        assert_eq!(parsed.content.len(), 4, "{written}");
        let image = parsed.content[1].as_image().expect("an image block");
        assert_eq!(
            (image.data.as_str(), image.mime_type.as_str()),
            ("AQID", "image/png")
        );
        assert!(
            matches!(parsed.content[2], ContentBlock::Resource(_)),
            "{written}"
        );
        assert!(
            matches!(parsed.content[3], ContentBlock::ResourceLink(_)),
            "{written}"
        );
        assert_eq!(written["content"][3]["size"], 7);
    }
}
