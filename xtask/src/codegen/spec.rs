//! The spec file format as serde structs: what `spec/**/*.yaml` may contain (see spec/README.md).
//!
//! Every struct rejects unknown keys, so a typo fails loading with the key's location. Values that
//! need a friendly "did you mean" (types, table names, tool references) stay strings here and are
//! checked by `lower`. `load` reads each section item by item (a provider block, a channel, an
//! error rule, an object, a tool), so one broken item does not hide the others.

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::{self, MapAccess, SeqAccess, Visitor};

/// One YAML file: any mix of a provider block, its tables and objects, and tools. Each section is
/// loaded item by item; an item that does not load is left out (and reported).
#[derive(Debug, Default)]
pub struct SpecFile {
    /// The provider this folder describes (exactly one file per folder has it).
    pub provider: Option<ProviderSpec>,
    /// The channel table: channel code → required `extra` keys and `order_no` length.
    pub channels: Option<BTreeMap<String, ChannelSpec>>,
    /// The gateway methods the provider's tools may call (Alipay).
    pub methods: Option<Vec<String>>,
    /// The error catalogue, in order: the first entry that matches an error applies. Each entry
    /// with its index in the file (entries that did not load are left out).
    pub errors: Option<Vec<(usize, ErrorSpec)>>,
    /// Reusable response shapes, by name.
    pub objects: Option<BTreeMap<String, ObjectSpec>>,
    /// Tools defined in this file, each with its index in the file (tools that did not load are
    /// left out).
    pub tools: Option<Vec<(usize, ToolSpec)>>,
}

impl SpecFile {
    /// The top-level keys of a spec file.
    pub const KEYS: [&'static str; 6] = [
        "provider", "channels", "methods", "errors", "objects", "tools",
    ];
}

/// A mapping whose entries keep the order of the file (field order matters for summaries).
#[derive(Debug, Clone, PartialEq)]
pub struct Ordered<V>(pub Vec<(String, V)>);

impl<V> Default for Ordered<V> {
    fn default() -> Self {
        Ordered(Vec::new())
    }
}

impl<V> Ordered<V> {
    /// The entry named `key`.
    pub fn get(&self, key: &str) -> Option<&V> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// Whether an entry is named `key`.
    pub fn contains_key(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// The keys, in file order.
    pub fn keys(&self) -> impl Iterator<Item = &String> + Clone {
        self.0.iter().map(|(k, _)| k)
    }

    /// The entries, in file order.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &V)> {
        self.0.iter().map(|(k, v)| (k, v))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<'de, V: Deserialize<'de>> Deserialize<'de> for Ordered<V> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit<V>(PhantomData<V>);
        impl<'de, V: Deserialize<'de>> Visitor<'de> for Visit<V> {
            type Value = Ordered<V>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a mapping")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Ordered<V>, A::Error> {
                let mut out: Vec<(String, V)> = Vec::new();
                while let Some(key) = map.next_key::<String>()? {
                    if out.iter().any(|(k, _)| *k == key) {
                        return Err(de::Error::custom(format!("duplicate key `{key}`")));
                    }
                    let value = map.next_value()?;
                    out.push((key, value));
                }
                Ok(Ordered(out))
            }
        }
        d.deserialize_map(Visit(PhantomData))
    }
}

/// One item or a list of them: `{ code: "40006" }` or `[{ http_status: 403 }, { http_status: 429 }]`.
#[derive(Debug, Clone)]
pub enum OneOrList<T> {
    One(T),
    List(Vec<T>),
}

impl<T> OneOrList<T> {
    /// The items, in order.
    pub fn items(&self) -> Vec<&T> {
        match self {
            OneOrList::One(t) => vec![t],
            OneOrList::List(v) => v.iter().collect(),
        }
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for OneOrList<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for Visit<T> {
            type Value = OneOrList<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a mapping or a list of mappings")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<OneOrList<T>, A::Error> {
                T::deserialize(de::value::MapAccessDeserializer::new(map)).map(OneOrList::One)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<OneOrList<T>, A::Error> {
                Vec::<T>::deserialize(de::value::SeqAccessDeserializer::new(seq))
                    .map(OneOrList::List)
            }
        }
        d.deserialize_any(Visit(PhantomData))
    }
}

/// The `provider:` block.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderSpec {
    pub name: String,
    pub title: String,
    pub base_url: String,
    /// The provider's own sandbox endpoint, when it has one.
    pub sandbox_url: Option<String>,
    pub protocol: Protocol,
    pub auth: String,
    pub error_model: String,
    pub amount_unit: AmountUnit,
    /// How deeply objects and arrays may nest inside one argument (default 8).
    pub max_depth: Option<u64>,
    /// Field and parameter names whose values are secrets wherever they appear as `name=value`
    /// in text a gateway sends back (an echoed signed string): masked before anyone sees it.
    #[serde(default)]
    pub secret_fields: Vec<String>,
}

/// Wire protocol of a provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Protocol {
    /// JSON REST (Ping++): tools use `http:`.
    RestJson,
    /// Alipay `gateway.do`: tools use `gateway:`.
    AlipayGateway,
}

/// Unit of money amounts at this provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AmountUnit {
    /// Integer fen (1/100 yuan).
    Fen,
    /// Decimal yuan string.
    Yuan,
}

/// One row of the channel table.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelSpec {
    /// Keys that `extra` must carry for this channel.
    #[serde(default)]
    pub extra: Vec<String>,
    /// Allowed `order_no` length `[min, max]`.
    pub order_no: Option<[u64; 2]>,
}

/// A named response shape.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObjectSpec {
    pub description: String,
    pub fields: Ordered<FieldSpec>,
    #[serde(default)]
    pub required: Vec<String>,
}

/// A documented field of a response object.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldSpec {
    /// JSON type(s): `string`, `integer`, `number`, `boolean`, `object`, `array`, `null`.
    #[serde(rename = "type")]
    pub ty: Option<OneOrMany>,
    /// Another object of the provider, embedded (exclusive with `type`).
    pub object: Option<String>,
    /// The field may be `null` (only with `object`).
    #[serde(default)]
    pub nullable: bool,
    pub description: Option<String>,
    #[serde(rename = "const")]
    pub const_value: Option<serde_json::Value>,
    #[serde(rename = "enum")]
    pub enum_values: Option<Vec<serde_json::Value>>,
    /// The one-line summary of a result shows this field.
    #[serde(default)]
    pub summary: bool,
    /// The field is an amount in this unit (shown in yuan in the summary).
    pub amount: Option<AmountUnit>,
    /// The field identifies the call upstream (written to the audit log).
    #[serde(default)]
    pub id: bool,
}

/// `type: string` or `type: [string, "null"]`; a number is read as its text (`code: 40006`).
#[derive(Debug, Clone)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

/// A string, or a number read as its text.
struct Text(String);

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(TextVisitor).and_then(|v| match v {
            OneOrMany::One(s) => Ok(Text(s)),
            OneOrMany::Many(_) => Err(de::Error::custom("expected a string, not a list")),
        })
    }
}

struct TextVisitor;

impl<'de> Visitor<'de> for TextVisitor {
    type Value = OneOrMany;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string or a list of strings")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<OneOrMany, E> {
        Ok(OneOrMany::One(v.to_owned()))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<OneOrMany, E> {
        Ok(OneOrMany::One(v.to_string()))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<OneOrMany, E> {
        Ok(OneOrMany::One(v.to_string()))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<OneOrMany, A::Error> {
        let mut out = Vec::new();
        while let Some(Text(s)) = seq.next_element()? {
            out.push(s);
        }
        Ok(OneOrMany::Many(out))
    }
}

impl<'de> Deserialize<'de> for OneOrMany {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(TextVisitor)
    }
}

impl OneOrMany {
    /// The listed names, in order.
    pub fn names(&self) -> Vec<&str> {
        match self {
            OneOrMany::One(s) => vec![s.as_str()],
            OneOrMany::Many(v) => v.iter().map(String::as_str).collect(),
        }
    }
}

/// One tool.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolSpec {
    pub name: String,
    pub title: String,
    pub description: String,
    pub effect: Effect,
    pub idempotent: bool,
    pub merchant_reference: Option<String>,
    pub amount_param: Option<String>,
    pub query_tool: Option<String>,
    /// String argument(s) naming who receives the money (the payee allowlist applies to each
    /// given): one required argument, or a list that is exactly the tool's `require_any` group.
    pub payee_param: Option<OneOrMany>,
    /// The call moves money in several items of an array argument (a batch).
    pub batch: Option<BatchSpec>,
    /// The gateway's error for a merchant reference reused with different arguments.
    pub reference_conflict: Option<String>,
    /// Field of the query tool's result whose presence shows the operation happened.
    pub query_found_field: Option<String>,
    /// With `query_found_field`: the values of that field that show the operation happened.
    pub query_found_values: Option<Vec<String>>,
    /// Dotted path of a field of the items the (list) query tool returns; the item whose field
    /// equals the merchant reference is the earlier operation.
    pub query_match: Option<String>,
    /// Result field values that mean the call is not final (its outcome is unknown).
    pub pending_when: Option<Ordered<String>>,
    /// After success: when the result matches, query the `query_tool` and copy fields over.
    pub follow_up: Option<FollowUpSpec>,
    /// Arguments naming who the money moves to or from, shown in confirmations (first given).
    pub counterparty: Option<Vec<String>>,
    pub http: Option<HttpSpec>,
    pub gateway: Option<GatewaySpec>,
    pub gateway_url: Option<GatewaySpec>,
    pub local: Option<LocalSpec>,
    #[serde(default)]
    pub params: Vec<ParamSpec>,
    pub channel_rules: Option<ChannelRulesSpec>,
    /// Conditional requirements: `when` these arguments have these values, `require` those.
    #[serde(default)]
    pub rules: Vec<RuleSpec>,
    /// At least one of these arguments must be given.
    pub require_any: Option<Vec<String>>,
    /// Runtime checks for what a JSON Schema cannot say.
    #[serde(default)]
    pub checks: Vec<CheckSpec>,
    pub response: ResponseSpec,
    #[serde(default)]
    pub pagination: PaginationSpec,
}

/// What calling a tool does to the world.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Effect {
    Read,
    Write,
    MovesMoney,
    Irreversible,
}

/// `http: {method, path}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSpec {
    pub method: HttpMethod,
    pub path: String,
}

/// HTTP verbs a REST tool may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum HttpMethod {
    #[serde(rename = "GET")]
    Get,
    #[serde(rename = "POST")]
    Post,
    #[serde(rename = "PUT")]
    Put,
    #[serde(rename = "DELETE")]
    Delete,
}

/// `gateway: {method}` (Alipay).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewaySpec {
    pub method: String,
}

/// One conditional requirement: `when: {param: value or [values]}`, `require: [params]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    pub when: BTreeMap<String, OneOrManyValues>,
    pub require: Vec<String>,
}

/// `ALIPAY_LOGON_ID` or `[A, B]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum OneOrManyValues {
    Many(Vec<serde_json::Value>),
    One(serde_json::Value),
}

impl OneOrManyValues {
    /// The listed values, in order.
    pub fn values(&self) -> Vec<serde_json::Value> {
        match self {
            OneOrManyValues::One(v) => vec![v.clone()],
            OneOrManyValues::Many(v) => v.clone(),
        }
    }
}

/// A runtime check: `cert_mode_in_production` or `{ past_date: <param> }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckSpec {
    /// The named string argument is a date (or month) before today in Beijing time.
    PastDate(String),
    /// The method needs public-key certificate mode on the production gateway.
    CertModeInProduction,
}

impl CheckSpec {
    /// Every check name, as written in specs.
    pub const NAMES: [&'static str; 2] = ["past_date", "cert_mode_in_production"];
}

/// yaml_serde wants `!tag` syntax for enums; specs write a bare name or a one-key map instead.
impl<'de> Deserialize<'de> for CheckSpec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::{self, MapAccess, Visitor};
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = CheckSpec;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("`cert_mode_in_production` or `{ past_date: <param> }`")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<CheckSpec, E> {
                match v {
                    "cert_mode_in_production" => Ok(CheckSpec::CertModeInProduction),
                    "past_date" => Err(E::custom(
                        "`past_date` names its parameter: write `{ past_date: <param> }`",
                    )),
                    _ => Err(E::unknown_variant(v, &CheckSpec::NAMES)),
                }
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<CheckSpec, A::Error> {
                let Some(key) = map.next_key::<String>()? else {
                    return Err(de::Error::custom("an empty map is not a check"));
                };
                let check = match key.as_str() {
                    "past_date" => CheckSpec::PastDate(map.next_value()?),
                    "cert_mode_in_production" => {
                        return Err(de::Error::custom(
                            "`cert_mode_in_production` takes no value: write it bare",
                        ));
                    }
                    other => return Err(de::Error::unknown_variant(other, &CheckSpec::NAMES)),
                };
                if let Some(extra) = map.next_key::<String>()? {
                    return Err(de::Error::custom(format!(
                        "one check per list item; `{extra}` needs its own `- ...`"
                    )));
                }
                Ok(check)
            }
        }
        d.deserialize_any(V)
    }
}

/// `local: {op}`: a pure runtime operation.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalSpec {
    pub op: String,
}

/// Where an argument travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum In {
    Path,
    Query,
    Body,
    BizContent,
    Common,
    Local,
}

/// One tool argument.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParamSpec {
    pub name: String,
    #[serde(rename = "in")]
    pub location: In,
    pub wire: Option<String>,
    #[serde(rename = "type")]
    pub ty: String,
    #[serde(default)]
    pub required: bool,
    pub default: Option<serde_json::Value>,
    pub default_from: Option<String>,
    #[serde(default)]
    pub secret: bool,
    pub description: String,
    pub pattern: Option<String>,
    pub min_length: Option<u64>,
    pub max_length: Option<u64>,
    pub minimum: Option<i64>,
    pub maximum: Option<i64>,
    #[serde(rename = "enum")]
    pub enum_values: Option<Vec<serde_json::Value>>,
    pub enum_from: Option<String>,
    pub items: Option<Box<SchemaSpec>>,
    pub properties: Option<BTreeMap<String, SchemaSpec>>,
    pub values: Option<Box<SchemaSpec>>,
}

/// A nested schema: an array's `items` or an object's `properties` entry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SchemaSpec {
    #[serde(rename = "type")]
    pub ty: String,
    /// Required in the enclosing object (only meaningful under `properties`).
    #[serde(default)]
    pub required: bool,
    pub default: Option<serde_json::Value>,
    pub description: Option<String>,
    pub pattern: Option<String>,
    pub min_length: Option<u64>,
    pub max_length: Option<u64>,
    pub minimum: Option<i64>,
    pub maximum: Option<i64>,
    #[serde(rename = "enum")]
    pub enum_values: Option<Vec<serde_json::Value>>,
    pub enum_from: Option<String>,
    pub items: Option<Box<SchemaSpec>>,
    pub properties: Option<BTreeMap<String, SchemaSpec>>,
    pub values: Option<Box<SchemaSpec>>,
}

/// The constraint keys that parameters and nested schemas share, borrowed from either.
///
/// (The keys are spelled out in both structs because serde's `flatten` loses YAML locations and
/// cannot be combined with `deny_unknown_fields`.)
#[derive(Debug, Clone, Copy)]
pub struct Constraints<'a> {
    pub ty: &'a str,
    pub description: Option<&'a str>,
    pub default: Option<&'a serde_json::Value>,
    pub pattern: Option<&'a str>,
    pub min_length: Option<u64>,
    pub max_length: Option<u64>,
    pub minimum: Option<i64>,
    pub maximum: Option<i64>,
    pub enum_values: Option<&'a [serde_json::Value]>,
    pub enum_from: Option<&'a str>,
    pub items: Option<&'a SchemaSpec>,
    pub properties: Option<&'a BTreeMap<String, SchemaSpec>>,
    pub values: Option<&'a SchemaSpec>,
}

macro_rules! constraints_of {
    ($s:expr, $desc:expr) => {
        Constraints {
            ty: &$s.ty,
            description: $desc,
            default: $s.default.as_ref(),
            pattern: $s.pattern.as_deref(),
            min_length: $s.min_length,
            max_length: $s.max_length,
            minimum: $s.minimum,
            maximum: $s.maximum,
            enum_values: $s.enum_values.as_deref(),
            enum_from: $s.enum_from.as_deref(),
            items: $s.items.as_deref(),
            properties: $s.properties.as_ref(),
            values: $s.values.as_deref(),
        }
    };
}

impl ParamSpec {
    /// The schema part of this parameter.
    pub fn constraints(&self) -> Constraints<'_> {
        constraints_of!(self, Some(self.description.as_str()))
    }
}

impl SchemaSpec {
    /// The schema part of this nested schema.
    pub fn constraints(&self) -> Constraints<'_> {
        constraints_of!(self, self.description.as_deref())
    }
}

/// `channel_rules: {channel, extra, order_no}`: argument paths (dotted for nested objects) that the
/// provider's channel table constrains.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelRulesSpec {
    pub channel: String,
    pub extra: String,
    pub order_no: String,
}

/// `batch: { param, amount, payee }`: an array argument whose items each move an amount (the
/// call moves their sum), and the item keys that name each item's payee.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchSpec {
    /// The array argument holding the items.
    pub param: String,
    /// The key of each item that holds its amount (`amount_fen` or `amount_yuan`).
    pub amount: String,
    /// Keys of each item that name who receives its money: the payee allowlist applies to every
    /// one given, and an item that gives none is refused while the allowlist is set.
    #[serde(default)]
    pub payee: Vec<String>,
}

/// `follow_up: { when: {field: value}, copy: {result_field: query_field} }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FollowUpSpec {
    pub when: Ordered<String>,
    pub copy: Ordered<String>,
}

/// `response:` exactly one of `object`, `list_of`, `fields`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResponseSpec {
    pub object: Option<String>,
    pub list_of: Option<String>,
    pub fields: Option<Ordered<FieldSpec>>,
    #[serde(default)]
    pub required: Vec<String>,
    pub description: Option<String>,
}

/// How a list tool pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaginationSpec {
    #[default]
    None,
    Cursor,
    Page,
}

/// One entry of a provider's error catalogue.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorSpec {
    /// What the error looks like: one match, or a list of alternatives; absent matches every
    /// error.
    pub when: Option<OneOrList<MatchSpec>>,
    /// Only for tools that read (`true`) or that change state (`false`).
    pub reads: Option<bool>,
    /// What the error says about the call's effect (default `failed`).
    #[serde(default)]
    pub outcome: OutcomeSpec,
    /// Whether repeating the same call is safe (default `no`).
    #[serde(default)]
    pub retry: RetrySpec,
    /// The advice for a model, with `{query_tool}`, `{reference}` and `{param}` placeholders.
    pub next_step: String,
}

/// The fields an error must have; a list of strings means any of them.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatchSpec {
    pub http_status: Option<HttpStatusSpec>,
    pub error_type: Option<OneOrMany>,
    pub code: Option<OneOrMany>,
    pub sub_code: Option<OneOrMany>,
    pub message_contains: Option<Vec<String>>,
}

/// `404` or an inclusive range `[400, 499]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpStatusSpec(pub u16, pub u16);

impl<'de> Deserialize<'de> for HttpStatusSpec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = HttpStatusSpec;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an HTTP status (`404`) or a range `[400, 499]`")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<HttpStatusSpec, E> {
                let s = u16::try_from(v)
                    .map_err(|_| E::custom(format!("{v} is not an HTTP status")))?;
                Ok(HttpStatusSpec(s, s))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<HttpStatusSpec, E> {
                let v = u64::try_from(v)
                    .map_err(|_| E::custom(format!("{v} is not an HTTP status")))?;
                self.visit_u64(v)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<HttpStatusSpec, A::Error> {
                let low: u16 = seq
                    .next_element()?
                    .ok_or_else(|| de::Error::custom("a range is `[low, high]`"))?;
                let high: u16 = seq
                    .next_element()?
                    .ok_or_else(|| de::Error::custom("a range is `[low, high]`"))?;
                if seq.next_element::<de::IgnoredAny>()?.is_some() {
                    return Err(de::Error::custom("a range is `[low, high]`: two statuses"));
                }
                Ok(HttpStatusSpec(low, high))
            }
        }
        d.deserialize_any(V)
    }
}

/// What an error says about the call's effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutcomeSpec {
    /// The call did not take effect.
    #[default]
    Failed,
    /// Undecided or still in progress.
    Pending,
    /// The object asked about does not exist.
    NotFound,
}

/// Whether the same call may be repeated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RetrySpec {
    Yes,
    #[default]
    No,
    /// Only for a tool with a merchant reference.
    IfKeyed,
}
