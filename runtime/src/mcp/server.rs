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
    ElicitRequestParams, ElicitResult, ElicitationAction, ElicitationSchema,
    GetPromptRequestParams, GetPromptResponse, Implementation, InputRequest, InputRequests,
    InputRequiredResult, JsonObject, ListPromptsResult, ListResourcesResult, ListToolsResult,
    PaginatedRequestParams, ProgressNotificationParam, ProtocolVersion, ReadResourceRequestParams,
    ReadResourceResponse, ReadResourceResult, Resource, ResourceContents, ServerCapabilities,
    ServerConfig, Tool, ToolAnnotations,
};
use rmcp::service::{ElicitationMode, RequestContext};
use rmcp::{ErrorData, RoleServer, ServerHandler};
use serde_json::Value;

use crate::compat;
use crate::confirm::{ConfirmRequest, Confirmation};
use crate::context::{CallContext, Progress, ProgressSink};
use crate::engine::{Engine, Prepared};
use crate::error::ToolError;
use crate::mcp::summary::summary;
use crate::mcp::{prompts, reference};
use crate::tool::{Alias, ToolDef};

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
    /// The generated tool reference (docs/TOOLS.md), offered as a resource when set.
    reference: Option<&'static str>,
    /// The workflow prompts the binary offers.
    prompts: &'static [prompts::PromptDef],
}

impl ZhifuServer {
    pub fn new(engine: Arc<Engine>) -> Self {
        let tools = listed_tools(&engine);
        ZhifuServer {
            engine,
            tools: Arc::new(tools),
            transport: TransportKind::Stdio,
            reference: None,
            prompts: &[],
        }
    }

    /// Offers `prompts` (each shown when one of its tools is listed).
    pub fn with_prompts(mut self, prompts: &'static [prompts::PromptDef]) -> Self {
        self.prompts = prompts;
        self
    }

    /// Offers `text` (the generated docs/TOOLS.md) as the resource `zhifu://docs/tools`.
    pub fn with_reference(mut self, text: &'static str) -> Self {
        self.reference = Some(text);
        self
    }

    /// Our tool name → the name it is listed under, when it is listed.
    fn listed_name(&self, ours: &str) -> Option<String> {
        let prefix = self.engine.settings().tool_prefix;
        self.engine
            .listed()
            .find(|(_, t)| t.name == ours)
            .filter(|_| self.engine.settings().compat.is_none())
            .map(|(_, t)| {
                if prefix {
                    prefixed(t)
                } else {
                    t.name.to_string()
                }
            })
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

/// The tools as `tools/list` shows them: in a compatibility mode (`ZHIFU_COMPAT`), the other
/// server's tools under its names; otherwise ours, named `pingpp_create_charge` with
/// `ZHIFU_TOOL_PREFIX=provider`.
pub fn listed_tools(engine: &Engine) -> Vec<Tool> {
    let settings = engine.settings();
    match settings.compat {
        Some(mode) => engine
            .listed()
            .flat_map(|(_, t)| compat::aliases_in(t, mode).map(move |a| alias_tool(t, a)))
            .collect(),
        None => engine
            .listed()
            .map(|(_, t)| {
                let mut tool = mcp_tool(t);
                if settings.tool_prefix {
                    tool.name = prefixed(t).into();
                }
                tool
            })
            .collect(),
    }
}

/// `pingpp_create_charge`.
fn prefixed(def: &ToolDef) -> String {
    format!("{}_{}", def.provider.as_str(), def.name)
}

/// A tool under another server's name and argument names; its result is the tool's own.
fn alias_tool(def: &ToolDef, alias: &Alias) -> Tool {
    let mut tool = mcp_tool(def);
    tool.name = alias.name.into();
    tool.title = Some(alias.title.into());
    tool.description = Some(alias.description.into());
    tool.input_schema = published(parse_schema(alias.input_schema), false);
    tool
}

/// The tool a `tools/call` name means, and the alias it was called by. In a compatibility mode
/// only that mode's aliases answer (what is listed); otherwise a tool's own name, its prefixed
/// name and its aliases do (an old conversation may still use the official server's names).
pub fn resolve(engine: &Engine, name: &str) -> Option<(&'static ToolDef, Option<&'static Alias>)> {
    let tools = engine.all_tools();
    let by_alias = compat::alias_named(tools, name);
    if let Some(mode) = engine.settings().compat {
        return by_alias
            .filter(|(_, a)| a.compat == mode)
            .map(|(t, a)| (t, Some(a)));
    }
    let own = |n: &str| tools.iter().copied().find(|t| t.name == n);
    own(name)
        .or_else(|| {
            let (provider, rest) = name.split_once('_')?;
            own(rest).filter(|t| t.provider.as_str() == provider)
        })
        .map(|t| (t, None))
        .or(by_alias.map(|(t, a)| (t, Some(a))))
}

/// The arguments of a call, under the tool's own names; an error names the caller's argument.
pub fn call_args(
    def: &ToolDef,
    alias: Option<&Alias>,
    args: JsonObject,
) -> Result<JsonObject, ToolError> {
    match alias {
        None => Ok(args),
        Some(alias) => compat::tool_args(def, alias, args),
    }
}

/// An error about a call made under an alias names the caller's argument, not the tool's.
pub fn in_alias_terms(
    alias: Option<&Alias>,
    mut outcome: Result<Value, ToolError>,
) -> Result<Value, ToolError> {
    if let (Some(alias), Err(err)) = (alias, &mut outcome)
        && let Some(field) = &err.field
        && let Some((theirs, ours)) = alias.args.iter().find(|(_, ours)| ours == field)
    {
        if let Some(rest) = err.message.strip_prefix(ours) {
            err.message = format!("{theirs}{rest}");
        }
        err.field = Some(theirs.to_string());
    }
    outcome
}

/// Converts one descriptor into an MCP tool; annotations come from the spec's effect and
/// idempotent flag, never from the HTTP verb. What is published is trimmed for the model's
/// context (docs/PERFORMANCE.md, "Tool list size"): no `$schema` (2020-12 is MCP's default
/// dialect), no schema `title` and no annotation `title` (the tool's `title` says it), and no
/// descriptions inside the output schema (hosts do not show it to the model; units and next steps
/// are in the tool's description and the result's text line).
pub fn mcp_tool(def: &ToolDef) -> Tool {
    let input = published(parse_schema(def.input_schema), false);
    let output = published(parse_schema(def.output_schema), true);
    Tool::new(def.name, def.description, input)
        .with_title(def.title)
        .with_raw_output_schema(output)
        .with_annotations(
            ToolAnnotations::new()
                .read_only(def.read_only())
                .destructive(def.destructive())
                .idempotent(def.idempotent)
                .open_world(def.open_world()),
        )
}

fn parse_schema(text: &str) -> JsonObject {
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(map)) => map,
        _ => {
            tracing::error!(
                "a generated schema is not a JSON object; using an empty object schema"
            );
            let mut map = JsonObject::new();
            map.insert("type".into(), Value::String("object".into()));
            map
        }
    }
}

/// A generated schema as `tools/list` shows it: without the root `$schema` and `title`, and with
/// `strip_descriptions` without any `description` keyword (a property *named* `description`
/// stays).
fn published(mut schema: JsonObject, strip_descriptions: bool) -> Arc<JsonObject> {
    schema.remove("$schema");
    schema.remove("title");
    if strip_descriptions {
        drop_descriptions(&mut schema);
    }
    Arc::new(schema)
}

fn drop_descriptions(schema: &mut JsonObject) {
    schema.remove("description");
    for (key, value) in schema.iter_mut() {
        match (key.as_str(), value) {
            ("properties", Value::Object(props)) => {
                for sub in props.values_mut() {
                    if let Value::Object(sub) = sub {
                        drop_descriptions(sub);
                    }
                }
            }
            (_, Value::Object(sub)) => drop_descriptions(sub),
            (_, Value::Array(items)) => {
                for item in items {
                    if let Value::Object(sub) = item {
                        drop_descriptions(sub);
                    }
                }
            }
            _ => {}
        }
    }
}

/// Turns an engine outcome into an MCP result: the text line(s) of [`summary`] (amounts in yuan,
/// replays, next page) and the result itself as `structuredContent` — once, not again as JSON
/// text (docs/PERFORMANCE.md, "Tool list size"). `amount` is the human amount of the call
/// (`¥15.50`), echoed in the text.
///
/// An error result has no `structuredContent` (`{"error": …}` does not match the tool's
/// outputSchema, and strict clients such as the TypeScript SDK validate error results too): its
/// content is a human line and then the error object as JSON text, which programs read.
pub fn to_result(
    def: Option<&ToolDef>,
    outcome: Result<Value, ToolError>,
    amount: Option<&str>,
) -> CallToolResult {
    match outcome {
        Ok(value) => {
            let text = match def {
                // A tool whose spec marks no summary field: the line alone would say nothing.
                Some(def) if def.summary.is_empty() => {
                    format!("{}\n{value}", summary(def, &value, amount))
                }
                Some(def) => summary(def, &value, amount),
                None => value.to_string(),
            };
            let mut result = CallToolResult::success(vec![ContentBlock::text(text)]);
            result.structured_content = Some(value);
            // A result that registered a resource (crate::mcp::resources) links to it.
            if let Some(link) = value_link(result.structured_content.as_ref()) {
                result.content.push(ContentBlock::resource_link(link));
            }
            result
        }
        Err(err) => CallToolResult::error(vec![
            ContentBlock::text(err.to_string()),
            ContentBlock::text(err.to_value().to_string()),
        ]),
    }
}

/// A client that negotiated a protocol older than 2025-06-18 does not know `structuredContent`;
/// it gets the result as JSON text after the summary as well.
fn with_json_text(mut result: CallToolResult) -> CallToolResult {
    if let Some(value) = &result.structured_content {
        result.content.push(ContentBlock::text(value.to_string()));
    }
    result
}

fn before_structured_content(context: &RequestContext<RoleServer>) -> bool {
    context
        .protocol_version()
        .is_some_and(|v| v < ProtocolVersion::V_2025_06_18)
}

impl ServerHandler for ZhifuServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_prompts()
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

    async fn list_prompts(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, ErrorData> {
        let listed = |t: &str| self.listed_name(t);
        Ok(ListPromptsResult::with_all_items(
            prompts::offered(self.prompts, &listed)
                .map(prompts::mcp_prompt)
                .collect(),
        ))
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, ErrorData> {
        let listed = |t: &str| self.listed_name(t);
        let prompt = prompts::offered(self.prompts, &listed)
            .find(|p| p.name == request.name)
            .ok_or_else(|| {
                ErrorData::invalid_params(format!("no prompt {}", request.name), None)
            })?;
        let args = request.arguments.unwrap_or_default();
        prompts::render(prompt, &args, &listed)
            .map(GetPromptResponse::Complete)
            .map_err(|e| ErrorData::invalid_params(e, None))
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        let mut all = reference::list(self.reference);
        all.extend(self.engine.resources().list());
        Ok(ListResourcesResult::with_all_items(all))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        if let Some(found) = reference::read(self.reference, &request.uri) {
            return Ok(ReadResourceResponse::Complete(found));
        }
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
                Some(serde_json::json!({ "uri": request.uri })),
            )),
            Err(ReadError::TooLarge(size, parts)) if parts > 0 => Err(ErrorData::invalid_params(
                format!(
                    "resource {uri} is {size} bytes, more than one answer carries ({} bytes): read it in parts, {uri}?part=1 to {uri}?part={parts}, each beginning with the header line",
                    crate::mcp::resources::MAX_READ_BYTES,
                    uri = request.uri,
                ),
                Some(serde_json::json!({ "uri": request.uri, "parts": parts })),
            )),
            Err(ReadError::TooLarge(size, _)) => Err(ErrorData::invalid_params(
                format!(
                    "resource {} is {size} bytes, more than one answer carries ({} bytes)",
                    request.uri,
                    crate::mcp::resources::MAX_READ_BYTES
                ),
                Some(serde_json::json!({ "uri": request.uri })),
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
        // Boxed: the call's future (engine, providers, HTTP client) is kilobytes, and rmcp moves
        // the request future it sits in several times per request (spawn, task cell); behind a
        // pointer those moves copy a few words.
        Box::pin(self.call(request, context)).await
    }
}

impl ZhifuServer {
    /// `tools/call`.
    async fn call(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let called = request.name.to_string();
        let Some((tool, alias)) = resolve(&self.engine, &called) else {
            // Unknown tools are a protocol error, as the spec and rmcp's router do. Known tools that
            // policy does not offer get a refusal result (audited) naming the rule.
            return Err(ErrorData::invalid_params(
                format!("tool not found: {called}"),
                None,
            ));
        };
        let (def, name) = (Some(tool), tool.name);
        let started = std::time::Instant::now();
        let prepared = match call_args(tool, alias, request.arguments.clone().unwrap_or_default()) {
            Ok(args) => self.engine.prepare(name, args).await,
            Err(e) => Err(e),
        };
        let prepared = match prepared {
            Ok(p) => p,
            Err(e) => return Ok(to_result(def, in_alias_terms(alias, Err(e)), None).into()),
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
        let mut outcome = in_alias_terms(
            alias,
            self.engine.execute(prepared, confirmation, &ctx).await,
        );
        if unreachable && let Err(e) = &mut outcome {
            explain_unreachable(e);
        }
        tracing::info!(tool = %name, ok = outcome.is_ok(), elapsed_ms = started.elapsed().as_millis() as u64, "tools/call");
        let result = to_result(def, outcome, amount.as_deref());
        Ok(if before_structured_content(&context) {
            with_json_text(result)
        } else {
            result
        }
        .into())
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

/// The `resource_link` a result carries when its operation registered a resource.
fn value_link(value: Option<&Value>) -> Option<Resource> {
    let link = value?.get("resource_link")?;
    serde_json::from_value::<Resource>(link.clone()).ok()
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
