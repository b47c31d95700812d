//! Provider protocols behind one trait, and the one path every gateway request takes.
//!
//! A provider's module (`pingpp.rs`, `alipay.rs`) turns a tool call into the exact request bytes
//! and reads the answer back; it alone knows the provider's wire format, signatures, error codes
//! and field names. [`Gateways::call`] sends what a [`Protocol`] builds, with the one retry rule
//! that cannot move money twice, and hands the answer back to it.

pub mod alipay;
pub mod catalogue;
pub mod events;
pub mod http;
pub mod pingpp;
pub mod wire;

use serde_json::{Map, Value};

use crate::error::{ErrorKind, Outcome, ToolError};
use crate::tool::{Check, Effect, HttpMethod, ToolDef};
use http::{Http, HttpResponse, TransportError};

/// One request, exactly as it goes on the wire: the body bytes are the bytes signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: HttpMethod,
    pub url: String,
    pub headers: Vec<(&'static str, String)>,
    pub body: Option<Vec<u8>>,
}

/// What a protocol makes of a tool call.
#[derive(Debug, Clone, PartialEq)]
pub enum Outgoing {
    /// Send this request, then [`Protocol::interpret`] the answer.
    Send(Request),
    /// Nothing to send: this is the result (a signed payment link for the buyer's browser).
    Answer(Value),
}

/// Where the calls of a configured provider go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Environment {
    /// `"live"`, `"test"`, `"production"`, `"sandbox"`: shown in confirmations and the audit log.
    pub name: &'static str,
    /// Real money moves.
    pub live: bool,
}

/// One page of a list result, as recovery reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct ListPage<'a> {
    pub items: &'a [Value],
    /// `Some(next)` when more pages remain: the arguments to add for the next page.
    pub next: Option<Map<String, Value>>,
}

/// A configured provider: what its module knows about building requests and reading answers.
pub trait Protocol: Send + Sync {
    /// The request for `tool` with validated `args`, signed at `now_unix` when the protocol
    /// signs. Called once per attempt (a retry is signed afresh).
    fn request(
        &self,
        tool: &ToolDef,
        args: &Map<String, Value>,
        now_unix: i64,
    ) -> Result<Outgoing, ToolError>;

    /// Reads the gateway's answer: a trusted result, or an error a model can act on.
    fn interpret(&self, tool: &ToolDef, response: &HttpResponse) -> Result<Value, ToolError>;

    /// A check that only this provider can decide (see [`Check`]); `today` is the Beijing date.
    fn check(&self, tool: &ToolDef, check: Check) -> Result<(), ToolError>;

    /// A `local:` operation of this provider (no network).
    fn local(
        &self,
        op: crate::tool::LocalOp,
        args: &Map<String, Value>,
    ) -> Result<Value, ToolError>;

    /// Where this configuration's calls go.
    fn environment(&self) -> Environment;

    /// Secret values of this configuration (API keys, tokens), masked wherever a gateway
    /// echoes them.
    fn secrets(&self) -> Vec<&str>;

    /// A list result read as one page, for recovery by listing.
    fn list_page<'v>(&self, tool: &ToolDef, result: &'v Value, page: usize)
    -> Option<ListPage<'v>>;
}

/// The shared HTTP client and the retry rule.
pub struct Gateways {
    http: Http,
}

impl Gateways {
    pub fn new(http: Http) -> Self {
        Gateways { http }
    }

    /// The shared client (downloads of files a gateway links to).
    pub fn http(&self) -> &Http {
        &self.http
    }

    /// Calls `tool` on `protocol`'s gateway. A request is sent again only when a second try
    /// cannot act twice: it never connected, or the tool only reads.
    pub async fn call(
        &self,
        protocol: &dyn Protocol,
        tool: &ToolDef,
        args: &Map<String, Value>,
    ) -> Result<Value, ToolError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let request = match protocol.request(tool, args, crate::time::unix_now())? {
                Outgoing::Answer(v) => return Ok(v),
                Outgoing::Send(r) => r,
            };
            let result = self
                .http
                .send(
                    request.method,
                    &request.url,
                    &request.headers,
                    request.body.as_deref(),
                )
                .await;
            let retry = match &result {
                // Never connected: nothing was sent, so one more try cannot do anything twice.
                Err(TransportError::NotSent) => true,
                // Reads may be repeated; writes are only repeated when they never left.
                Err(_) => tool.effect == Effect::Read,
                Ok(r) => r.status == 502 && tool.effect == Effect::Read,
            };
            if retry && attempt < 2 {
                tracing::warn!(tool = tool.name, attempt, "retrying once");
                continue;
            }
            let response = result.map_err(|e| transport_error(tool, e))?;
            return protocol.interpret(tool, &response);
        }
    }
}

/// No answer arrived: for anything but a read, the outcome is unknown unless nothing was sent.
pub fn transport_error(tool: &ToolDef, err: TransportError) -> ToolError {
    let sent = err != TransportError::NotSent;
    let unknown = sent && tool.effect != Effect::Read;
    let next = if unknown {
        crate::error::next_after_unknown(tool)
    } else {
        "Retry the same call in a few seconds.".to_string()
    };
    let mut e = ToolError::new(ErrorKind::Transport, err.describe(), next).retry_safe(!unknown);
    if unknown {
        e.outcome = Some(Outcome::Unknown);
        e.maybe_running = true;
    }
    e
}

/// The provider a tool needs is not configured.
pub fn not_configured(tool: &ToolDef, setting: &str) -> ToolError {
    ToolError::new(
        ErrorKind::Configuration,
        format!(
            "{} cannot run: {} is not configured on this server; to use it, {setting}",
            tool.name,
            tool.provider.title()
        ),
        "Use the tools this server lists, or tell the operator which settings are missing.",
    )
}

/// A spec that contradicts the runtime (a generator bug the checks should have caught).
pub fn spec_bug(tool: &ToolDef, what: &str) -> ToolError {
    ToolError::new(
        ErrorKind::Configuration,
        format!("spec of {} is inconsistent: {what}", tool.name),
        "Report this bug.",
    )
}

/// A state-changing call whose answer cannot be read: the outcome is unknown.
pub fn unreadable(tool: &ToolDef, provider: &str, status: u16, why: &str) -> ToolError {
    let writes = tool.effect != Effect::Read;
    let mut err = ToolError::new(
        ErrorKind::Transport,
        format!("{provider} answered HTTP {status} with an unreadable body ({why})"),
        if writes {
            crate::error::next_after_unknown(tool)
        } else {
            "Retry the same call in a few seconds.".to_string()
        },
    )
    .retry_safe(!writes);
    if writes {
        err.outcome = Some(Outcome::Unknown);
    }
    err
}
