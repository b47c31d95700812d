//! The lowered model: validated specs as sorted, resolved data that the emitters walk, and the
//! naming helpers every stage shares. `lower` builds it; the emitters only read it.
//!
//! Everything is keyed by `BTreeMap` or kept in spec order, so output never depends on hashing.

pub mod schema;

use std::collections::BTreeMap;

use serde_json::Value;

pub use super::spec::{
    AmountUnit, ChannelSpec, Effect, HttpMethod, In, OutcomeSpec as Outcome, PaginationSpec,
    Protocol, RetrySpec as Retry,
};

/// All providers and all tools.
#[derive(Debug, Default)]
pub struct Model {
    pub providers: BTreeMap<String, Provider>,
    pub tools: BTreeMap<String, Tool>,
}

/// A provider block with its tables and objects.
#[derive(Debug)]
pub struct Provider {
    pub name: String,
    pub title: String,
    pub base_url: String,
    pub sandbox_url: Option<String>,
    pub protocol: Protocol,
    pub auth: String,
    pub error_model: String,
    pub amount_unit: AmountUnit,
    /// How deeply objects and arrays may nest inside one argument.
    pub max_depth: u8,
    /// Names whose `name=value` values are masked in text from the gateway.
    pub secret_fields: Vec<String>,
    pub channels: BTreeMap<String, ChannelSpec>,
    /// Gateway methods the tools may call (Alipay), in spec order.
    pub methods: Vec<String>,
    /// The error catalogue, expanded to one rule per matched value, in spec order.
    pub errors: Vec<ErrorRule>,
    pub objects: BTreeMap<String, Object>,
}

/// One rule of the error catalogue (`zhifu_runtime::tool::ErrorRule`).
#[derive(Debug, Clone, PartialEq)]
pub struct ErrorRule {
    pub when: ErrorMatch,
    pub outcome: Outcome,
    pub retry: Retry,
    pub next_step: String,
}

/// How a rule recognises an error; unset fields match anything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ErrorMatch {
    pub http_status: Option<(u16, u16)>,
    pub error_type: Option<String>,
    pub code: Option<String>,
    pub sub_code: Option<String>,
    pub message_contains: Vec<String>,
    pub reads: Option<bool>,
}

impl ErrorMatch {
    /// Matches every error.
    pub fn is_catch_all(&self) -> bool {
        *self == ErrorMatch::default()
    }
}

/// The placeholders a `next_step` may use, and what fills them.
pub const PLACEHOLDERS: [&str; 3] = ["query_tool", "reference", "param"];

/// The `{placeholder}` names of a text, in order, or the first malformed one.
pub fn placeholders_of(text: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find('{') {
        let Some(len) = rest[start..].find('}') else {
            return Err("an unclosed `{`".to_owned());
        };
        let name = &rest[start + 1..start + len];
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!("`{{{name}}}` is not a placeholder"));
        }
        out.push(name.to_owned());
        rest = &rest[start + len + 1..];
    }
    if rest.contains('}') {
        return Err("an unmatched `}`".to_owned());
    }
    Ok(out)
}

/// A response object shape.
#[derive(Debug, Clone)]
pub struct Object {
    pub description: String,
    pub fields: BTreeMap<String, Field>,
    pub required: Vec<String>,
    /// Fields of the one-line summary, in spec order.
    pub summary: Vec<SummaryField>,
    /// Fields that identify the call upstream, in spec order.
    pub ids: Vec<String>,
}

/// A result field the one-line summary shows (`zhifu_runtime::tool::SummaryField`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SummaryField {
    pub field: String,
    pub kind: SummaryKind,
}

/// How a summary field is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SummaryKind {
    Text,
    Fen,
    Yuan,
    Flag,
}

impl SummaryKind {
    /// The runtime's variant name.
    pub fn variant(self) -> &'static str {
        match self {
            SummaryKind::Text => "Text",
            SummaryKind::Fen => "Fen",
            SummaryKind::Yuan => "Yuan",
            SummaryKind::Flag => "Flag",
        }
    }
}

/// One documented field of a response object.
#[derive(Debug, Clone)]
pub struct Field {
    pub description: Option<String>,
    pub shape: FieldShape,
    pub const_value: Option<Value>,
    pub enum_values: Option<Vec<Value>>,
}

impl Field {
    /// Whether the field may hold a string.
    pub fn is_string(&self) -> bool {
        matches!(&self.shape, FieldShape::Json(types) if types.iter().any(|t| t == "string"))
    }
}

/// What a response field holds.
#[derive(Debug, Clone)]
pub enum FieldShape {
    /// One or more JSON types (`["integer", "null"]`).
    Json(Vec<String>),
    /// Another object, embedded; `nullable` allows `null`.
    Object {
        object: Box<Object>,
        name: String,
        nullable: bool,
    },
}

/// One tool, fully resolved.
#[derive(Debug)]
pub struct Tool {
    pub name: String,
    /// Rust module and file stem (`create_charge`).
    pub module: String,
    /// Rust type prefix (`CreateCharge`).
    pub camel: String,
    /// Spec file the tool comes from, relative to the repository root.
    pub source: String,
    pub provider: String,
    pub title: String,
    pub description: String,
    pub effect: Effect,
    pub idempotent: bool,
    pub operation: Operation,
    /// Declared parameters first, in spec order, then the pagination parameters.
    pub params: Vec<Param>,
    pub pagination: PaginationSpec,
    pub merchant_reference: Option<String>,
    pub amount_param: Option<String>,
    pub query_tool: Option<String>,
    /// The provider's `max_depth`: deeper arguments are refused by the runtime.
    pub max_depth: u8,
    /// String arguments naming who receives the money (`moves_money` tools only): one required
    /// argument, or the tool's `require_any` group.
    pub payee_params: Vec<String>,
    /// The call moves money in the items of an array argument.
    pub batch: Option<Batch>,
    /// The gateway's error for a merchant reference reused with different arguments.
    pub reference_conflict: Option<String>,
    /// Field of the query tool's result whose presence shows the operation happened.
    pub query_found_field: Option<String>,
    /// With `query_found_field`: the values that show the operation happened (empty: any).
    pub query_found_values: Vec<String>,
    /// Dotted path of the field of the listed items that holds the merchant reference.
    pub query_match: Option<String>,
    /// `(field, value)` pairs of a successful result that mean the call is not final.
    pub pending_when: Vec<(String, String)>,
    pub follow_up: Option<FollowUp>,
    /// Arguments naming who the money moves to or from, in order.
    pub counterparty: Vec<String>,
    /// Result fields of the one-line summary (empty for lists).
    pub summary: Vec<SummaryField>,
    /// Result fields that identify the call upstream (empty for lists).
    pub upstream_ids: Vec<String>,
    pub channel_rules: Option<ChannelRules>,
    /// Conditional requirements, in spec order.
    pub rules: Vec<Rule>,
    /// At least one of these arguments must be given (empty: no such rule).
    pub require_any: Vec<String>,
    /// Runtime checks, in spec order.
    pub checks: Vec<Check>,
    pub response: Response,
    /// Other servers' names for the tool, in spec order.
    pub aliases: Vec<Alias>,
}

/// Another server's name for a tool (`zhifu_runtime::tool::Alias`).
#[derive(Debug, Clone)]
pub struct Alias {
    pub name: String,
    /// The runtime's `Compat` variant (`AlipayOfficial`).
    pub compat: String,
    pub select: Option<String>,
    pub title: String,
    pub description: String,
    /// `(its argument, the tool's parameter)`, in spec order.
    pub args: Vec<(String, String)>,
}

/// A call that moves money in several items (`zhifu_runtime::tool::Batch`).
#[derive(Debug, Clone)]
pub struct Batch {
    /// The array argument holding the items.
    pub param: String,
    /// The key of each item holding its amount.
    pub amount: String,
    /// The amount's type: `amount_fen` or `amount_yuan`.
    pub amount_ty: Ty,
    /// Keys of each item that name its payee.
    pub payee: Vec<String>,
}

/// After success, query the `query_tool` when the result matches `when` and copy fields over.
#[derive(Debug, Clone)]
pub struct FollowUp {
    pub when: Vec<(String, String)>,
    /// `(result field, query field)`.
    pub copy: Vec<(String, String)>,
}

impl Tool {
    /// The top-level fields of the result (`structuredContent`), with their declarations where
    /// the spec has them; `None` when the result declares no fields.
    pub fn result_fields(&self) -> Option<BTreeMap<&str, Option<&Field>>> {
        let fields: BTreeMap<&str, Option<&Field>> = match &self.response {
            Response::Object { object, .. } | Response::Inline(object) => object
                .fields
                .iter()
                .map(|(k, f)| (k.as_str(), Some(f)))
                .collect(),
            Response::ListOf { .. } => {
                let mut names = vec!["object", "url", "has_more", "data"];
                if self.pagination == PaginationSpec::Cursor {
                    names.push("next_cursor");
                }
                names.into_iter().map(|n| (n, None)).collect()
            }
        };
        (!fields.is_empty()).then_some(fields)
    }

    /// MCP readOnlyHint.
    pub fn read_only(&self) -> bool {
        self.effect == Effect::Read
    }

    /// MCP destructiveHint.
    pub fn destructive(&self) -> bool {
        matches!(self.effect, Effect::MovesMoney | Effect::Irreversible)
    }

    /// MCP openWorldHint.
    pub fn open_world(&self) -> bool {
        !matches!(
            self.operation,
            Operation::Local { .. } | Operation::GatewayUrl { .. }
        )
    }
}

/// `when` every listed argument has one of its values, the `require`d arguments must be given.
#[derive(Debug, Clone)]
pub struct Rule {
    pub when: Vec<Condition>,
    pub require: Vec<String>,
}

/// One `when` entry: the argument has one of `values` (one value emits `const`, several `enum`).
#[derive(Debug, Clone)]
pub struct Condition {
    pub param: String,
    pub values: Vec<Value>,
    /// The argument's default is among `values`, so omitting it also meets the condition.
    pub default_matches: bool,
}

/// A runtime check (`zhifu_runtime::tool::Check`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    PastDate { param: String },
    CertModeInProduction,
}

/// How a tool reaches its provider.
#[derive(Debug, Clone)]
pub enum Operation {
    Rest { method: HttpMethod, path: String },
    Gateway { method: String },
    GatewayUrl { method: String },
    Local { op: String },
}

/// One argument of a tool.
#[derive(Debug, Clone)]
pub struct Param {
    pub name: String,
    pub location: In,
    pub wire: String,
    pub required: bool,
    pub default_from: Option<String>,
    pub secret: bool,
    pub node: Node,
}

/// Argument types of the spec.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ty {
    String,
    Integer,
    Number,
    Boolean,
    Object,
    Array,
    Metadata,
    AmountFen,
    AmountYuan,
    /// Unix seconds or a Beijing date `yyyy-MM-dd` (the runtime converts dates): only the
    /// `created` bounds a cursor list gains, never written in a spec.
    UnixOrDate,
}

impl Ty {
    /// Every type name, as written in specs.
    pub const NAMES: [&'static str; 9] = [
        "string",
        "integer",
        "number",
        "boolean",
        "object",
        "array",
        "metadata",
        "amount_fen",
        "amount_yuan",
    ];

    /// Parses a spec type name.
    pub fn parse(s: &str) -> Option<Ty> {
        Some(match s {
            "string" => Ty::String,
            "integer" => Ty::Integer,
            "number" => Ty::Number,
            "boolean" => Ty::Boolean,
            "object" => Ty::Object,
            "array" => Ty::Array,
            "metadata" => Ty::Metadata,
            "amount_fen" => Ty::AmountFen,
            "amount_yuan" => Ty::AmountYuan,
            _ => return None,
        })
    }

    /// The spec spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Ty::String => "string",
            Ty::Integer => "integer",
            Ty::Number => "number",
            Ty::Boolean => "boolean",
            Ty::Object => "object",
            Ty::Array => "array",
            Ty::Metadata => "metadata",
            Ty::AmountFen => "amount_fen",
            Ty::AmountYuan => "amount_yuan",
            Ty::UnixOrDate => "unix_or_date",
        }
    }
}

/// A typed schema node: a parameter's value, an array's items or an object's property.
#[derive(Debug, Clone)]
pub struct Node {
    pub ty: Ty,
    pub description: Option<String>,
    pub default: Option<Value>,
    pub pattern: Option<String>,
    pub min_length: Option<u64>,
    pub max_length: Option<u64>,
    pub minimum: Option<i64>,
    pub maximum: Option<i64>,
    /// Allowed values (from `enum`, or the keys of an `enum_from` table).
    pub enum_values: Option<Vec<Value>>,
    pub items: Option<Box<Node>>,
    /// Declared properties (sorted by name) and whether each is required; a node with declared
    /// properties is closed (`additionalProperties: false`).
    pub properties: Option<BTreeMap<String, (Node, bool)>>,
    /// Schema of every value of an open object (`values:`), e.g. a map of strings.
    pub values: Option<Box<Node>>,
    /// Channel rules that apply to this object's properties (nested `channel_rules`).
    pub channel_rules: Option<ChannelRules>,
}

impl Node {
    /// A node of type `ty` with no constraints.
    pub fn new(ty: Ty, description: &str) -> Node {
        Node {
            ty,
            description: Some(description.to_owned()),
            default: None,
            pattern: None,
            min_length: None,
            max_length: None,
            minimum: None,
            maximum: None,
            enum_values: None,
            items: None,
            properties: None,
            values: None,
            channel_rules: None,
        }
    }
}

impl Node {
    /// How deeply objects and arrays nest in the declared shape: 0 for a scalar, 1 for an object
    /// or array of scalars (or of anything undeclared), one more for each declared level inside.
    pub fn depth(&self) -> u64 {
        match self.ty {
            Ty::Object | Ty::Array | Ty::Metadata => {
                let children = self
                    .items
                    .iter()
                    .chain(self.values.iter())
                    .map(|n| n.depth())
                    .chain(
                        self.properties
                            .iter()
                            .flat_map(|m| m.values().map(|(n, _)| n.depth())),
                    );
                1 + children.max().unwrap_or(0)
            }
            _ => 0,
        }
    }
}

/// The provider's channel table applied to three sibling properties.
#[derive(Debug, Clone)]
pub struct ChannelRules {
    pub channel: String,
    pub extra: String,
    pub order_no: String,
    /// Rows of the channel table, by channel code.
    pub table: BTreeMap<String, ChannelSpec>,
}

/// A tool's result shape.
#[derive(Debug, Clone)]
pub enum Response {
    Object { name: String, object: Object },
    ListOf { name: String, object: Object },
    Inline(Object),
}

/// `create_charge` → `CreateCharge`.
pub fn camel(snake: &str) -> String {
    snake
        .split('_')
        .filter(|s| !s.is_empty())
        .map(|s| {
            let mut c = s.chars();
            match c.next() {
                Some(f) => f.to_ascii_uppercase().to_string() + c.as_str(),
                None => String::new(),
            }
        })
        .collect()
}

/// `pingpp.app_id` → `PingppAppId`: the runtime enum variant a dotted spec name stands for.
pub fn variant_of(dotted: &str) -> String {
    camel(&dotted.replace('.', "_"))
}

/// Lowercase letters, digits and `_`, starting with a letter.
pub fn is_snake(s: &str) -> bool {
    s.starts_with(|c: char| c.is_ascii_lowercase())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// The spec spelling of a location.
pub fn in_name(l: In) -> &'static str {
    match l {
        In::Path => "path",
        In::Query => "query",
        In::Body => "body",
        In::BizContent => "biz_content",
        In::Common => "common",
        In::Local => "local",
    }
}

/// The spec spelling of an effect.
pub fn effect_name(e: Effect) -> &'static str {
    match e {
        Effect::Read => "read",
        Effect::Write => "write",
        Effect::MovesMoney => "moves_money",
        Effect::Irreversible => "irreversible",
    }
}

/// The spec spelling of a pagination style.
pub fn pagination_name(p: PaginationSpec) -> &'static str {
    match p {
        PaginationSpec::None => "none",
        PaginationSpec::Cursor => "cursor",
        PaginationSpec::Page => "page",
    }
}

/// The spec spelling of an HTTP method.
pub fn method_name(m: HttpMethod) -> &'static str {
    match m {
        HttpMethod::Get => "GET",
        HttpMethod::Post => "POST",
        HttpMethod::Put => "PUT",
        HttpMethod::Delete => "DELETE",
    }
}
