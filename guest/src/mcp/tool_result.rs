//! A tool call's result on the wire. A failure is rmcp's `CallToolResult`; a success is
//! written in the same shape straight from the tool's one JSON text, spliced in as the
//! structured content and escaped as it is written for the text block. The text block
//! repeats the output for clients that only read text; compact, since it doubles the
//! response and the model reads JSON either way.

use rmcp::model::{CallToolResult, ContentBlock, MetaObject, ResultType};
use serde::{Serialize, Serializer};
use serde_json::value::RawValue;

use super::era::Era;
use super::modern;
use crate::tools::Called;

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
    content: [TextBlock<'a>; 1],
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

impl ToolResult {
    pub fn new(called: Called, era: Era) -> Self {
        Self { called, era }
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
                content: [TextBlock {
                    kind: "text",
                    text: output.get(),
                }],
                structured_content: output,
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
    use crate::tools::Called;

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
            let raw = serde_json::value::to_raw_value(&output).unwrap();
            let ours = serde_json::to_value(ToolResult::new(Called::Output(raw), era)).unwrap();
            let theirs = serde_json::to_value(rmcp_success(&output, era)).unwrap();
            assert_eq!(ours, theirs, "{era:?}");
        }
    }
}
