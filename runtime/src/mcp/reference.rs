//! Fixed resources: the generated tool reference (docs/TOOLS.md, handed over by the binary), so a
//! client can show or attach the documentation of every tool, its arguments and results.

use rmcp::model::{ReadResourceResult, Resource, ResourceContents};

/// The URI of the tool reference.
pub const TOOLS_URI: &str = "zhifu://docs/tools";

/// The fixed resources, given the reference text when the binary supplied one.
pub fn list(reference: Option<&str>) -> Vec<Resource> {
    reference
        .map(|text| {
            Resource::new(TOOLS_URI, "tools")
                .with_title("zhifu-mcp tool reference")
                .with_description(
                    "Every tool: arguments with units and limits, results, errors and what to do next (Markdown).",
                )
                .with_mime_type("text/markdown")
                .with_size(text.len() as u64)
        })
        .into_iter()
        .collect()
}

/// The contents of a fixed resource, or `None` when `uri` is not one.
pub fn read(reference: Option<&str>, uri: &str) -> Option<ReadResourceResult> {
    let text = reference.filter(|_| uri == TOOLS_URI)?;
    Some(ReadResourceResult::new(vec![
        ResourceContents::text(text, uri).with_mime_type("text/markdown"),
    ]))
}
