//! MCP dispatch on rmcp: a `ServerHandler` over the generated tool table.
//!
//! `tools/list` carries title, annotations (derived from each tool's effect) and the output schema;
//! `tools/call` returns `structuredContent` matching that schema, or an `isError` result without
//! `structuredContent` (it would break the output schema for clients that validate error results
//! too) whose content is a human line and then the error object as JSON text: what went wrong,
//! whether a retry is safe and what to do next.

use std::sync::Arc;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, ElicitRequest,
    ElicitRequestParams, ElicitResult, ElicitationAction, ElicitationSchema, Implementation,
    InputRequest, InputRequests, InputRequiredResult, JsonObject, ListResourcesResult,
    ListToolsResult, PaginatedRequestParams, ProgressNotificationParam, ReadResourceRequestParams,
    ReadResourceResponse, ReadResourceResult, Resource, ResourceContents, ServerCapabilities,
    ServerConfig, Tool, ToolAnnotations,
};
use rmcp::service::{ElicitationMode, RequestContext};
use rmcp::{ErrorData, RoleServer, ServerHandler};
use serde_json::Value;

use crate::confirm::{ConfirmRequest, Confirmation};
use crate::context::{CallContext, Progress, ProgressSink};
use crate::engine::{Engine, Prepared};
use crate::error::ToolError;
use crate::mcp::summary::summary;
use crate::tool::ToolDef;

const INSTRUCTIONS: &str = "Payments on Chinese gateways. Ping++ amounts are integer fen (100 = ¥1.00). \
Merchant references (order_no, out_trade_no, out_request_no, out_biz_no) are idempotency keys: reuse the same \
value when retrying the same operation, and query before retrying when an outcome is UNKNOWN.";

/// The transport a server answers on; it decides whether a confirmation prompt can reach a client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransportKind {
    Stdio,
    /// Streamable HTTP with sessions.
    Http,
    /// Streamable HTTP without sessions: no channel for a server-to-client request.
    StatelessHttp,
}

/// The MCP server: cheap to clone (one per HTTP session), all state behind an `Arc`.
#[derive(Clone)]
pub struct ZhifuServer {
    engine: Arc<Engine>,
    tools: Arc<Vec<Tool>>,
    transport: TransportKind,
}

impl ZhifuServer {
    pub fn new(engine: Arc<Engine>) -> Self {
        let tools = engine.listed().map(|(_, t)| mcp_tool(t)).collect();
        ZhifuServer {
            engine,
            tools: Arc::new(tools),
            transport: TransportKind::Stdio,
        }
    }

    /// Set by the transports (`stdio::serve`, `http_transport::serve_http_on`).
    pub fn with_transport(mut self, transport: TransportKind) -> Self {
        self.transport = transport;
        self
    }

    pub fn transport(&self) -> TransportKind {
        self.transport
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
/// `amount` is the human amount of the call (`¥15.50`), echoed in the summary line.
pub fn to_result(
    def: Option<&ToolDef>,
    outcome: Result<Value, ToolError>,
    amount: Option<&str>,
) -> CallToolResult {
    match outcome {
        Ok(value) => {
            let mut result = CallToolResult::structured(value.clone());
            if let Some(def) = def {
                result
                    .content
                    .insert(0, ContentBlock::text(summary(def, &value, amount)));
            }
            // A result that registered a resource (crate::mcp::resources) links to it.
            if let Some(link) = value
                .get("resource_link")
                .and_then(|v| serde_json::from_value::<Resource>(v.clone()).ok())
            {
                result.content.push(ContentBlock::resource_link(link));
            }
            result
        }
        // No structuredContent: `{"error": …}` does not match the tool's outputSchema, and strict
        // clients (the TypeScript SDK) validate error results too. The JSON text block keeps the
        // error readable by programs.
        Err(err) => CallToolResult::error(vec![
            ContentBlock::text(err.to_string()),
            ContentBlock::text(err.to_value().to_string()),
        ]),
    }
}

impl ServerHandler for ZhifuServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_resources()
                .build(),
        )
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

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        Ok(ListResourcesResult::with_all_items(
            self.engine.resources().list(),
        ))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        use crate::mcp::resources::ReadError;
        match self.engine.resources().read(&request.uri) {
            Ok((text, mime)) => {
                let mut contents = ResourceContents::text(text, request.uri.clone());
                if let (ResourceContents::TextResourceContents { mime_type, .. }, Some(m)) =
                    (&mut contents, mime)
                {
                    *mime_type = Some(m);
                }
                Ok(ReadResourceResponse::Complete(ReadResourceResult::new(
                    vec![contents],
                )))
            }
            Err(ReadError::NotFound) => Err(ErrorData::resource_not_found(
                format!(
                    "no resource {} (the server keeps the newest {}; call the tool again)",
                    request.uri,
                    crate::mcp::resources::KEPT
                ),
                None,
            )),
            Err(ReadError::TooLarge(size)) => Err(ErrorData::invalid_params(
                format!(
                    "resource {} is {size} bytes, more than one answer carries ({} bytes); use the tool's totals, or fetch the bill file yourself with query_bill_download_url",
                    request.uri,
                    crate::mcp::resources::MAX_READ_BYTES
                ),
                None,
            )),
            Err(ReadError::Io(e)) => Err(ErrorData::internal_error(
                format!("resource {} could not be read: {e}", request.uri),
                None,
            )),
        }
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        self.tools.iter().find(|t| t.name == name).cloned()
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let name = request.name.to_string();
        let def = self
            .engine
            .all_tools()
            .iter()
            .copied()
            .find(|t| t.name == name);
        if def.is_none() {
            // Unknown tools are a protocol error, as the spec and rmcp's router do. Known tools that
            // policy does not offer get a refusal result (audited) naming the rule.
            return Err(ErrorData::invalid_params(
                format!("tool not found: {name}"),
                None,
            ));
        }
        let args = request.arguments.clone().unwrap_or_default();
        let started = std::time::Instant::now();
        let prepared = match self.engine.prepare(&name, args).await {
            Ok(p) => p,
            Err(e) => return Ok(to_result(def, Err(e), None).into()),
        };
        let mut unreachable = false;
        let confirmation = match self.engine.confirm_request(&prepared) {
            None => Confirmation::NotRequired,
            Some(ask) => match self.confirm(&prepared, &ask, &request, &context).await {
                Asked::Answer(c) => c,
                Asked::Pending(input_required) => {
                    return Ok(CallToolResponse::InputRequired(input_required));
                }
                Asked::Unreachable => {
                    unreachable = true;
                    Confirmation::Unsupported
                }
            },
        };
        let amount = prepared.amount().map(str::to_string);
        let ctx = call_context(&context);
        let mut outcome = self.engine.execute(prepared, confirmation, &ctx).await;
        if unreachable && let Err(e) = &mut outcome {
            explain_unreachable(e);
        }
        tracing::info!(tool = %name, ok = outcome.is_ok(), elapsed_ms = started.elapsed().as_millis() as u64, "tools/call");
        Ok(to_result(def, outcome, amount.as_deref()).into())
    }
}

/// The client's progress token (when it sent one) and cancellation, for the engine. Progress
/// reports go through a channel to one task, so notifications leave in the order they were made.
fn call_context(context: &RequestContext<RoleServer>) -> CallContext {
    let sink = context.meta.get_progress_token().map(|token| {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Progress>();
        let peer = context.peer.clone();
        tokio::spawn(async move {
            while let Some(p) = rx.recv().await {
                let mut note = ProgressNotificationParam::new(token.clone(), p.progress);
                if let Some(total) = p.total {
                    note = note.with_total(total);
                }
                if let Some(message) = p.message {
                    note = note.with_message(message);
                }
                if peer.notify_progress(note).await.is_err() {
                    break;
                }
            }
        });
        let sink: ProgressSink = Arc::new(move |p| {
            let _ = tx.send(p);
        });
        sink
    });
    CallContext::new(sink, context.ct.clone())
}

/// Result of asking the user.
enum Asked {
    Answer(Confirmation),
    /// 2026-07-28: return this `InputRequiredResult`; the client retries with the answer.
    Pending(InputRequiredResult),
    /// The transport cannot carry the prompt to this client (stateless HTTP, 2025-11-25).
    Unreachable,
}

/// Says why a confirmation could not be asked on stateless HTTP, and what works instead. The
/// engine has refused the call (and audited it as `unsupported`); only the words change.
fn explain_unreachable(err: &mut ToolError) {
    if err.kind != crate::error::ErrorKind::NotConfirmed {
        return;
    }
    err.message = "this call needs the user's confirmation, and this server runs stateless Streamable \
HTTP, where a confirmation prompt cannot reach a 2025-11-25 client (there is no session to carry it)"
        .into();
    err.next_step = "Nothing was sent. Use a server started with `zhifu-mcp serve --http` without \
--stateless, or stdio, or a 2026-07-28 client (which confirms through input_required); or ask the operator."
        .into();
}

impl ZhifuServer {
    /// Asks the user to confirm, on whichever path the client speaks. A client that cannot ask
    /// gets [`Confirmation::Unsupported`], which the engine turns into a refusal.
    async fn confirm(
        &self,
        prepared: &Prepared,
        ask: &ConfirmRequest,
        request: &CallToolRequestParams,
        context: &RequestContext<RoleServer>,
    ) -> Asked {
        let params = || ElicitRequestParams::FormElicitationParams {
            meta: None,
            message: ask.message.clone(),
            requested_schema: ElicitationSchema::builder()
                .required_bool("confirm")
                .build()
                .expect("a one-boolean schema is valid"),
        };
        let per_request_protocol = context
            .protocol_version()
            .is_some_and(|v| !v.has_initialize());
        if per_request_protocol {
            // 2026-07-28: no server-to-client requests; the answer comes back with a retry that
            // must echo a ticket bound to these exact arguments.
            if let Some(state) = &request.request_state {
                if !self.engine.redeem_ticket(prepared, state).await {
                    return Asked::Answer(Confirmation::Invalid);
                }
                let answer = request
                    .input_responses
                    .as_ref()
                    .and_then(|r| r.get("confirm"))
                    .cloned();
                return Asked::Answer(answer.map_or(Confirmation::Cancelled, |v| from_answer(&v)));
            }
            let can_elicit = context
                .client_capabilities()
                .is_some_and(|c| c.elicitation.is_some());
            if !can_elicit {
                return Asked::Answer(Confirmation::Unsupported);
            }
            let ticket = match self.engine.seal_ticket(prepared).await {
                Ok(t) => t,
                Err(e) => {
                    // The state store cannot keep the ticket: refuse rather than ask.
                    tracing::error!(error = %e.message, "could not seal a confirmation ticket");
                    return Asked::Answer(Confirmation::Invalid);
                }
            };
            let mut requests = InputRequests::new();
            requests.insert(
                "confirm".into(),
                InputRequest::Elicitation(ElicitRequest::new(params())),
            );
            return Asked::Pending(InputRequiredResult::new(Some(requests), Some(ticket)));
        }
        if self.transport == TransportKind::StatelessHttp {
            // Each request is served on its own: the client's answer to an elicitation request
            // would have no session to come back on.
            return Asked::Unreachable;
        }
        if !context
            .peer
            .supported_elicitation_modes()
            .contains(&ElicitationMode::Form)
        {
            return Asked::Answer(Confirmation::Unsupported);
        }
        match context.peer.create_elicitation(params()).await {
            Ok(result) => Asked::Answer(from_result(&result)),
            Err(e) => {
                tracing::warn!(error = %e, "elicitation failed; treating as not confirmed");
                Asked::Answer(Confirmation::Cancelled)
            }
        }
    }
}

fn from_result(result: &ElicitResult) -> Confirmation {
    match result.action {
        ElicitationAction::Accept => {
            if result
                .content
                .as_ref()
                .and_then(|c| c.get("confirm"))
                .and_then(Value::as_bool)
                == Some(true)
            {
                Confirmation::Accepted
            } else {
                Confirmation::Declined
            }
        }
        ElicitationAction::Decline => Confirmation::Declined,
        _ => Confirmation::Cancelled,
    }
}

/// An `ElicitResult` echoed in `inputResponses`.
fn from_answer(value: &Value) -> Confirmation {
    match serde_json::from_value::<ElicitResult>(value.clone()) {
        Ok(r) => from_result(&r),
        Err(_) => Confirmation::Declined,
    }
}
