//! The static description of one tool: what `cargo xtask codegen` emits and the runtime consumes.
//!
//! The runtime never imports generated code. The binary hands it a `&'static [&'static ToolDef]`
//! table at start-up; everything the runtime does for a tool (validation, request building, policy,
//! annotations) is driven by these fields, never by the tool's name.

/// Which upstream gateway a tool talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Provider {
    /// Ping++ REST API (`https://api.pingxx.com/v1/...`), JSON bodies, secret key + RSA request signing.
    Pingpp,
    /// Alipay Open Platform `gateway.do` protocol, form parameters + `biz_content`, RSA2.
    Alipay,
}

impl Provider {
    /// The name used in specs, configuration and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Pingpp => "pingpp",
            Provider::Alipay => "alipay",
        }
    }

    /// The name shown to people.
    pub fn title(self) -> &'static str {
        match self {
            Provider::Pingpp => "Ping++",
            Provider::Alipay => "Alipay",
        }
    }
}

/// What calling the tool does to the world. MCP annotations are derived from this, never from the
/// HTTP verb (Alipay queries are POSTs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Effect {
    /// Reads state; safe to call any number of times.
    Read,
    /// Creates or changes records but moves no money (e.g. a customer).
    Write,
    /// Can move money (charges, refunds, transfers).
    MovesMoney,
    /// Cannot be undone (closing or cancelling a trade).
    Irreversible,
}

impl Effect {
    /// The spelling used in spec files.
    pub fn as_str(self) -> &'static str {
        match self {
            Effect::Read => "read",
            Effect::Write => "write",
            Effect::MovesMoney => "moves_money",
            Effect::Irreversible => "irreversible",
        }
    }
}

/// HTTP method of a REST operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpMethod {
    Get,
    Post,
    Put,
    Delete,
}

impl HttpMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            HttpMethod::Get => "GET",
            HttpMethod::Post => "POST",
            HttpMethod::Put => "PUT",
            HttpMethod::Delete => "DELETE",
        }
    }
}

/// How the tool reaches its provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// A REST call: method + path template with `{placeholders}` filled from `Location::Path` params.
    Rest {
        method: HttpMethod,
        path: &'static str,
    },
    /// An Alipay gateway call: the `method` common parameter (e.g. `alipay.trade.query`).
    Gateway { method: &'static str },
    /// An Alipay page-jump method (`alipay.trade.page.pay`, `alipay.trade.wap.pay`): the runtime
    /// builds and signs the `gateway.do?…` URL locally; the buyer's browser delivers it. No network.
    GatewayUrl { method: &'static str },
    /// A pure operation of the provider's protocol module, with no network (e.g.
    /// `pingpp.verify_webhook`).
    Local { op: LocalOp },
}

/// The `local:` operations the runtime implements; the spec names them as `<provider>.<op>`,
/// and the generator emits the variant, so a misspelt name fails to compile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocalOp {
    /// `pingpp.verify_webhook`: an `X-Pingplusplus-Signature` over a raw webhook body.
    PingppVerifyWebhook,
    /// `alipay.verify_notification`: an Alipay asynchronous notification's signature.
    AlipayVerifyNotification,
    /// `alipay.summarize_bill`: a settlement bill fetched, read and summed (composite).
    AlipaySummarizeBill,
    /// `pingpp.summarize_charges`: charges of a date range paged through and summed (composite).
    PingppSummarizeCharges,
    /// `pingpp.list_received_events`: events the receivers stored (both gateways).
    PingppListReceivedEvents,
    /// `pingpp.retrieve_received_event`: one stored event (both gateways).
    PingppRetrieveReceivedEvent,
    /// `pingpp.wait_for_payment`: waits for a Ping++ charge or an Alipay trade to settle.
    PingppWaitForPayment,
}

impl LocalOp {
    /// Whether the engine runs it and it calls gateways (MCP openWorldHint), rather than a pure
    /// protocol function.
    pub fn is_composite(self) -> bool {
        matches!(
            self,
            LocalOp::AlipaySummarizeBill | LocalOp::PingppSummarizeCharges
        )
    }

    /// Operations over both gateways: offered when either provider is configured, whichever
    /// provider's table holds the tool.
    pub fn any_provider(self) -> bool {
        matches!(
            self,
            LocalOp::PingppListReceivedEvents
                | LocalOp::PingppRetrieveReceivedEvent
                | LocalOp::PingppWaitForPayment
        )
    }
}

/// A rule the runtime checks before sending, for what a JSON Schema cannot say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// The argument is a date `yyyy-MM-dd` (or month `yyyy-MM`) strictly before the current day
    /// (month) in Beijing time: bills exist only for finished periods.
    PastDate { param: &'static str },
    /// On the production gateway this method requires public-key certificate mode.
    CertModeInProduction,
}

/// Where an argument travels on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Location {
    /// Substituted into the REST path template (percent-encoded).
    Path,
    /// Query string; nested objects and arrays use bracket notation (`created[gt]=1`, `expand[]=app`).
    Query,
    /// JSON request body; a dotted `wire` name nests (`app.id` → `{"app":{"id":…}}`).
    Body,
    /// Alipay: inside the `biz_content` JSON.
    BizContent,
    /// Alipay: a top-level (common or text) gateway parameter.
    Common,
    /// Consumed by a `Operation::Local` tool; never sent anywhere.
    Local,
}

/// JSON type of an argument as the runtime needs to know it (the schema carries the details).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    String,
    Integer,
    Number,
    Boolean,
    Object,
    Array,
    /// Free key/value strings; at most 10 keys and 1000 characters in all (checked by the runtime,
    /// because JSON Schema cannot sum lengths).
    Metadata,
    /// Integer amount in fen (1/100 yuan); must be > 0.
    AmountFen,
    /// Decimal yuan string with at most two decimals, within [0.01, 100000000].
    AmountYuan,
}

/// One tool argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Param {
    /// Argument name as the MCP client sends it.
    pub name: &'static str,
    /// Where it goes.
    pub location: Location,
    /// Name on the wire; dots nest (`app.id`). Usually equal to `name`.
    pub wire: &'static str,
    pub kind: Kind,
    /// Required in the input schema.
    pub required: bool,
    /// Configuration key that supplies the value when the caller omits it (spec
    /// `default_from: pingpp.app_id` → [`ConfigKey::PingppAppId`]).
    pub default_from: Option<ConfigKey>,
    /// JSON text of the value sent when the caller omits the argument (e.g. `"cny"`).
    pub default_json: Option<&'static str>,
    /// Kept out of logs, audit records and echoed arguments (auth codes, tokens).
    pub secret: bool,
}

/// The configuration values a spec may name in `default_from` (`<provider>.<key>`); the
/// generator emits the variant, so a misspelt key fails to compile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigKey {
    /// `pingpp.app_id` (`PINGPP_APP_ID`).
    PingppAppId,
    /// `alipay.app_id` (`ALIPAY_APP_ID`).
    AlipayAppId,
    /// `alipay.notify_url` (`ALIPAY_NOTIFY_URL`).
    AlipayNotifyUrl,
    /// `alipay.return_url` (`ALIPAY_RETURN_URL`).
    AlipayReturnUrl,
}

impl ConfigKey {
    /// The spelling in specs and configuration (`pingpp.app_id`).
    pub fn as_str(self) -> &'static str {
        match self {
            ConfigKey::PingppAppId => "pingpp.app_id",
            ConfigKey::AlipayAppId => "alipay.app_id",
            ConfigKey::AlipayNotifyUrl => "alipay.notify_url",
            ConfigKey::AlipayReturnUrl => "alipay.return_url",
        }
    }
}

/// Everything the runtime knows about a provider from its spec (`provider:` and `errors:` in
/// `spec/<provider>/provider.yaml`).
#[derive(Debug)]
pub struct ProviderDef {
    pub provider: Provider,
    /// Shown to people (`Ping++`).
    pub title: &'static str,
    /// Default API base (Ping++) or gateway URL (Alipay) of the production service.
    pub base_url: &'static str,
    /// The provider's own sandbox, when it has one (Alipay's sandbox gateway).
    pub sandbox_url: Option<&'static str>,
    /// Names whose values are secrets wherever a gateway's text carries them as `name=value`
    /// (`secret_fields:` in the spec): masked by [`crate::redact::scrub`].
    pub secret_fields: &'static [&'static str],
    /// The error catalogue: the first rule that matches an error applies; the last rule of
    /// each provider matches everything.
    pub errors: &'static [ErrorRule],
}

/// One entry of a provider's error catalogue.
#[derive(Debug)]
pub struct ErrorRule {
    /// What the error must look like; unset fields match anything.
    pub when: ErrorMatch,
    /// What the error says about the call's effect.
    pub outcome: ErrorOutcome,
    /// Whether repeating the same call unchanged is safe.
    pub retry: RetrySafety,
    /// The next step, for a model. Placeholders: `{query_tool}` (the tool's query tool),
    /// `{reference}` (its merchant reference argument), `{param}` (the argument the gateway
    /// named); other tools appear by name (the generator checks they exist).
    pub next_step: &'static str,
}

/// How an [`ErrorRule`] recognises an error. Every set field must match.
#[derive(Debug, Default)]
pub struct ErrorMatch {
    /// HTTP status (Ping++), or a range `[low, high]` inclusive.
    pub http_status: Option<(u16, u16)>,
    /// Ping++ `error.type`.
    pub error_type: Option<&'static str>,
    /// Alipay `code`.
    pub code: Option<&'static str>,
    /// Alipay `sub_code`, or Ping++ `error.code`; a leading or trailing `*` matches any
    /// prefix or suffix (`*_PROCESSING`).
    pub sub_code: Option<&'static str>,
    /// Any of these substrings in the gateway's message.
    pub message_contains: &'static [&'static str],
    /// Only for tools that read (`Some(true)`) or that change state (`Some(false)`).
    pub reads: Option<bool>,
}

/// What an error says about the call's effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorOutcome {
    /// The call did not take effect (a rejection).
    Failed,
    /// Undecided or still in progress: for a state-changing call the outcome is UNKNOWN, and
    /// it is never a reason to send again.
    Pending,
    /// The object asked about does not exist; with a verified answer, recovery may resend.
    NotFound,
}

/// Whether the same call may be repeated after an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetrySafety {
    Yes,
    No,
    /// Only when the tool has a merchant reference (the gateway de-duplicates by it).
    IfKeyed,
}

/// A result field the one-line summary shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SummaryField {
    pub field: &'static str,
    pub kind: SummaryKind,
}

/// How a summary field is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SummaryKind {
    /// As it is (`trade_status TRADE_SUCCESS`).
    Text,
    /// Integer fen, shown in yuan (`¥15.50 (1550 fen)`).
    Fen,
    /// A yuan decimal string, shown as `¥15.50`.
    Yuan,
    /// A boolean, shown as the field name or `not <field>`.
    Flag,
}

/// After a call succeeds: when its result matches `when`, query the tool's `query_tool` with the
/// shared arguments and copy fields of the answer into the result (`cancel_trade` that
/// refunded a paid trade learns the amount from `query_trade`).
#[derive(Debug)]
pub struct FollowUp {
    /// `(field, value)` pairs the result must have.
    pub when: &'static [(&'static str, &'static str)],
    /// `(result field, query field)` copies.
    pub copy: &'static [(&'static str, &'static str)],
}

/// A call that moves money in several items of one array argument: the amount it moves is the
/// sum of the items' amounts, and each item may name its own payee.
#[derive(Debug)]
pub struct Batch {
    /// The array argument (`recipients`).
    pub param: &'static str,
    /// The key of each item that holds its amount (`amount`).
    pub amount: &'static str,
    /// [`Kind::AmountFen`] or [`Kind::AmountYuan`].
    pub amount_kind: Kind,
    /// Keys of each item naming who receives its money (`account`, `open_id`, …); the payee
    /// allowlist applies to every one given.
    pub payee: &'static [&'static str],
}

/// A compatibility mode: another MCP server whose tool names and argument names this server
/// also answers to (`ZHIFU_COMPAT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compat {
    /// `@alipay/mcp-server-alipay`, Alipay's official MCP server (`alipay-official`).
    AlipayOfficial,
}

impl Compat {
    /// The spelling in specs and in `ZHIFU_COMPAT`.
    pub fn as_str(self) -> &'static str {
        match self {
            Compat::AlipayOfficial => "alipay-official",
        }
    }

    /// Every mode, for parsing settings.
    pub const ALL: &'static [Compat] = &[Compat::AlipayOfficial];
}

/// Another server's name for a tool (spec `aliases:`): a call under this name with these
/// argument names is the tool's call with the mapped arguments.
#[derive(Debug)]
pub struct Alias {
    pub compat: Compat,
    /// The other server's tool name (`create-mobile-alipay-payment`).
    pub name: &'static str,
    /// Its short name in the other server's allowlist setting (`mobilePay` in `AP_SELECT_TOOLS`).
    pub select: Option<&'static str>,
    pub title: &'static str,
    pub description: &'static str,
    /// `(its argument, the tool's parameter)`; a decimal-yuan parameter also takes a JSON number.
    pub args: &'static [(&'static str, &'static str)],
    /// JSON Schema 2020-12 of the arguments under the other server's names.
    pub input_schema: &'static str,
}

/// How a list tool pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pagination {
    None,
    /// `limit`, `starting_after`, `ending_before`; the result gains `next_cursor`.
    Cursor,
    /// `page`, `per_page`.
    Page,
}

/// Everything the runtime needs to know about one tool.
#[derive(Debug)]
pub struct ToolDef {
    /// MCP tool name (`[A-Za-z0-9_.-]{1,64}`), the seed's name where a seed gives one.
    pub name: &'static str,
    pub title: &'static str,
    /// Written for a model: units, idempotency, what to do next.
    pub description: &'static str,
    pub provider: Provider,
    pub effect: Effect,
    /// Repeating the call with the same arguments has no further effect.
    pub idempotent: bool,
    pub operation: Operation,
    pub params: &'static [Param],
    pub pagination: Pagination,
    /// Argument that is the merchant's idempotency key (`order_no`, `out_trade_no`, …).
    pub merchant_reference: Option<&'static str>,
    /// Argument holding the amount this call moves, if any.
    pub amount_param: Option<&'static str>,
    /// Tool to call when the outcome of this call is unknown (timeout, reset).
    pub query_tool: Option<&'static str>,
    /// Arguments naming who receives money from the merchant (transfers); the payee allowlist
    /// applies to each one given, and the spec guarantees one is.
    pub payee_params: &'static [&'static str],
    /// The call moves money in the items of an array argument (batch refunds and transfers).
    pub batch: Option<&'static Batch>,
    /// The gateway's own error for a merchant reference reused with different arguments
    /// (e.g. `ACQ.CONTEXT_INCONSISTENT`); named when the server refuses such a repeat itself.
    pub reference_conflict: Option<&'static str>,
    /// Field of the `query_tool` result whose presence shows the operation happened (e.g.
    /// `refund_status` for a refund query, which succeeds even when the refund does not exist).
    /// `None`: a successful query means it happened.
    pub query_found_field: Option<&'static str>,
    /// Rules checked by the runtime after schema validation and before anything is sent.
    pub checks: &'static [Check],
    /// With `query_found_field`: the values of that field that show the operation happened
    /// (`trade_status: TRADE_CLOSED` for a cancel). Empty: any non-null value does.
    pub query_found_values: &'static [&'static str],
    /// A successful result that matches one of these `(field, value)` pairs is not final (Alipay
    /// cancel's `retry_flag: Y`): the outcome is treated as UNKNOWN.
    pub pending_when: &'static [(&'static str, &'static str)],
    /// See [`FollowUp`].
    pub follow_up: Option<&'static FollowUp>,
    /// Arguments naming who the money moves to or from, shown in confirmations (first given).
    pub counterparty: &'static [&'static str],
    /// Result fields that identify the call upstream (for the audit log).
    pub upstream_ids: &'static [&'static str],
    /// Result fields of the one-line summary, in order.
    pub summary: &'static [SummaryField],
    /// The provider's spec: title, URLs, error catalogue.
    pub provider_def: &'static ProviderDef,
    /// For recovery through a list: the query tool is a list tool, and the listed item whose
    /// field at this dotted path (e.g. `metadata.refund_no`) equals the merchant reference is the
    /// earlier operation. `None`: the query tool answers about the operation itself.
    pub query_match: Option<&'static str>,
    /// Objects and arrays nested deeper than this inside any argument are refused locally.
    pub max_depth: u8,
    /// JSON Schema 2020-12 of the arguments as published in `tools/list` (root `type: object`,
    /// `additionalProperties: false`, and no root `allOf`/`anyOf`/`oneOf`, which some clients
    /// reject; the conditional rules are stated in its `description`).
    pub input_schema: &'static str,
    /// The schema the runtime validates arguments against: the published one plus the
    /// conditional rules (`allOf` of `if`/`then`, `anyOf` of `required`).
    pub validation_schema: &'static str,
    /// JSON Schema 2020-12 of `structuredContent` (root `type: object`).
    pub output_schema: &'static str,
    /// Other servers' names for this tool.
    pub aliases: &'static [Alias],
}

/// A provider with nothing declared, for [`ToolDef::BLANK`].
pub const BLANK_PROVIDER: ProviderDef = ProviderDef {
    provider: Provider::Pingpp,
    title: "",
    base_url: "",
    sandbox_url: None,
    secret_fields: &[],
    errors: &[],
};

impl Param {
    /// A required, non-secret argument sent under its own name (a base for hand-written
    /// descriptors: `Param { required: false, ..Param::new("a", Location::Body, Kind::String) }`).
    pub const fn new(name: &'static str, location: Location, kind: Kind) -> Param {
        Param {
            name,
            location,
            wire: name,
            kind,
            required: true,
            default_from: None,
            default_json: None,
            secret: false,
        }
    }
}

impl ToolDef {
    /// A read tool with nothing declared: the base for hand-written descriptors in tests
    /// (`ToolDef { name: "t", params: P, ..ToolDef::BLANK }`).
    pub const BLANK: ToolDef = ToolDef {
        name: "",
        title: "",
        description: "",
        provider: Provider::Pingpp,
        effect: Effect::Read,
        idempotent: true,
        operation: Operation::Rest {
            method: HttpMethod::Get,
            path: "/",
        },
        params: &[],
        pagination: Pagination::None,
        merchant_reference: None,
        amount_param: None,
        query_tool: None,
        payee_params: &[],
        batch: None,
        reference_conflict: None,
        query_found_field: None,
        checks: &[],
        query_found_values: &[],
        pending_when: &[],
        follow_up: None,
        counterparty: &[],
        upstream_ids: &[],
        summary: &[],
        provider_def: &BLANK_PROVIDER,
        query_match: None,
        max_depth: 8,
        input_schema: "{}",
        validation_schema: "{}",
        output_schema: "{}",
        aliases: &[],
    };

    /// MCP `readOnlyHint`.
    pub fn read_only(&self) -> bool {
        self.effect == Effect::Read
    }

    /// MCP `destructiveHint`: anything that moves money or cannot be undone.
    pub fn destructive(&self) -> bool {
        matches!(self.effect, Effect::MovesMoney | Effect::Irreversible)
    }

    /// MCP `openWorldHint`: the tool talks to an outside system.
    pub fn open_world(&self) -> bool {
        match self.operation {
            Operation::Local { op } => op.is_composite(),
            Operation::GatewayUrl { .. } => false,
            _ => true,
        }
    }

    pub fn param(&self, name: &str) -> Option<&'static Param> {
        self.params.iter().find(|p| p.name == name)
    }
}
