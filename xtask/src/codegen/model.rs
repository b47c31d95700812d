//! The lowered model: validated specs as sorted, resolved data that the emitters walk.
//!
//! Everything is keyed by `BTreeMap` or kept in spec order, so output never depends on hashing.

use std::collections::BTreeMap;

use serde_json::Value;

pub use super::spec::{AmountUnit, ChannelSpec, Effect, HttpMethod, In, PaginationSpec, Protocol};

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
    pub protocol: Protocol,
    pub auth: String,
    pub error_model: String,
    pub amount_unit: AmountUnit,
    /// How deeply objects and arrays may nest inside one argument.
    pub max_depth: u8,
    pub channels: BTreeMap<String, ChannelSpec>,
    pub objects: BTreeMap<String, Object>,
}

/// A response object shape.
#[derive(Debug, Clone)]
pub struct Object {
    pub description: String,
    pub fields: BTreeMap<String, Field>,
    pub required: Vec<String>,
}

/// One documented field of a response object.
#[derive(Debug, Clone)]
pub struct Field {
    pub description: Option<String>,
    pub shape: FieldShape,
    pub const_value: Option<Value>,
    pub enum_values: Option<Vec<Value>>,
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
    /// String argument naming who receives the money (`moves_money` tools only).
    pub payee_param: Option<String>,
    /// The gateway's error for a merchant reference reused with different arguments.
    pub reference_conflict: Option<String>,
    /// Field of the query tool's result whose presence shows the operation happened.
    pub query_found_field: Option<String>,
    /// Dotted path of the field of the listed items that holds the merchant reference.
    pub query_match: Option<String>,
    pub channel_rules: Option<ChannelRules>,
    /// Conditional requirements, in spec order.
    pub rules: Vec<Rule>,
    /// At least one of these arguments must be given (empty: no such rule).
    pub require_any: Vec<String>,
    /// Runtime checks, in spec order.
    pub checks: Vec<Check>,
    pub response: Response,
}

impl Tool {
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
