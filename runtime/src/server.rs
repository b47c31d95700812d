//! MCP dispatch on rmcp: a `ServerHandler` over the generated tool table.
//!
//! `tools/list` carries title, annotations (derived from each tool's effect) and the output schema;
//! `tools/call` returns `structuredContent` matching that schema, or an `isError` result whose
//! structured content says what went wrong, whether a retry is safe and what to do next.

use std::sync::Arc;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    JsonObject, ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
    ToolAnnotations,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler};
use serde_json::Value;

use crate::engine::{Engine, summary};
use crate::error::ToolError;
use crate::tool::ToolDef;

const INSTRUCTIONS: &str = "Payments on Chinese gateways. Ping++ amounts are integer fen (100 = ¥1.00). \
Merchant references (order_no, out_trade_no, out_request_no, out_biz_no) are idempotency keys: reuse the same \
value when retrying the same operation, and query before retrying when an outcome is UNKNOWN.";

/// The MCP server: cheap to clone (one per HTTP session later), all state behind an `Arc`.
#[derive(Clone)]
pub struct ZhifuServer {
    engine: Arc<Engine>,
    tools: Arc<Vec<Tool>>,
}

impl ZhifuServer {
    pub fn new(engine: Arc<Engine>) -> Self {
        let tools = engine.listed().map(|(_, t)| mcp_tool(t)).collect();
        ZhifuServer {
            engine,
            tools: Arc::new(tools),
        }
    }

    pub fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }

    /// The tools as `tools/list` shows them.
    pub fn tools(&self) -> &[Tool] {
        &self.tools
    }
}

/// Converts one descriptor into an MCP tool; annotations come from the spec's effect and
/// idempotent flag, never from the HTTP verb.
pub fn mcp_tool(def: &ToolDef) -> Tool {
    let input = parse_schema(def.input_schema);
    let output = parse_schema(def.output_schema);
    Tool::new(def.name, def.description, input)
        .with_title(def.title)
        .with_raw_output_schema(output)
        .with_annotations(
            ToolAnnotations::with_title(def.title)
                .read_only(def.read_only())
                .destructive(def.destructive())
                .idempotent(def.idempotent)
                .open_world(def.open_world()),
        )
}

fn parse_schema(text: &str) -> Arc<JsonObject> {
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(map)) => Arc::new(map),
        _ => {
            tracing::error!(
                "a generated schema is not a JSON object; using an empty object schema"
            );
            let mut map = JsonObject::new();
            map.insert("type".into(), Value::String("object".into()));
            Arc::new(map)
        }
    }
}

/// Turns an engine outcome into an MCP result.
pub fn to_result(def: Option<&ToolDef>, outcome: Result<Value, ToolError>) -> CallToolResult {
    match outcome {
        Ok(value) => {
            let mut result = CallToolResult::structured(value.clone());
            if let Some(def) = def {
                result
                    .content
                    .insert(0, ContentBlock::text(summary(def, &value)));
            }
            result
        }
        Err(err) => {
            let mut result = CallToolResult::structured_error(err.to_value());
            result
                .content
                .insert(0, ContentBlock::text(err.to_string()));
            result
        }
    }
}

impl ServerHandler for ZhifuServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(
                Implementation::new("zhifu-mcp", env!("CARGO_PKG_VERSION")).with_title("zhifu-mcp"),
            )
            .with_instructions(INSTRUCTIONS)
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(self.tools.as_ref().clone()))
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        self.tools.iter().find(|t| t.name == name).cloned()
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let name = request.name.to_string();
        let def = self
            .engine
            .all_tools()
            .iter()
            .copied()
            .find(|t| t.name == name);
        if def.is_none() || !self.tools.iter().any(|t| t.name == name) {
            // Unknown (or not listed) tools are a protocol error, as the spec and rmcp's router do.
            return Err(ErrorData::invalid_params(
                format!("tool not found: {name}"),
                None,
            ));
        }
        let args = request.arguments.unwrap_or_default();
        let started = std::time::Instant::now();
        let outcome = self.engine.call(&name, args).await;
        tracing::info!(tool = %name, ok = outcome.is_ok(), elapsed_ms = started.elapsed().as_millis() as u64, "tools/call");
        Ok(to_result(def, outcome).into())
    }
}
