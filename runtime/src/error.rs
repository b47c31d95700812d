//! Tool failures a model can act on: what went wrong, which field, whether a retry is safe, what next.
//!
//! Every failure becomes an MCP `isError` result: a human line, then this shape as JSON text
//! (not `structuredContent`, which would break the tool's output schema):
//! `{"error": {"kind", "message", "field"?, "upstream"?, "retry_safe", "next_step"}}`.
//! Messages never contain secrets: argument values of secret parameters are not echoed.

use serde::Serialize;
use serde_json::{Value, json};

/// Broad class of a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The arguments broke the tool's schema or a local rule; nothing was sent.
    InvalidArguments,
    /// The tool is not available in this configuration (unknown, disabled, read-only mode).
    NotAvailable,
    /// The server is missing configuration the tool needs (a key, an app id).
    Configuration,
    /// The gateway answered with an error.
    Upstream,
    /// The gateway could not be reached, or its answer was unreadable; for a money-moving call the
    /// outcome is unknown.
    Transport,
    /// The gateway's answer failed signature verification and was discarded.
    UntrustedResponse,
    /// The operator's policy does not allow this call; nothing was sent.
    PolicyRefused,
    /// The user did not confirm (declined, cancelled, or the client cannot ask); nothing was sent.
    NotConfirmed,
    /// A repeat of an earlier call with the same merchant reference but different arguments.
    IdempotencyConflict,
    /// An identical call (same merchant reference, same arguments) is being sent right now;
    /// this one sent nothing.
    InProgress,
    /// The client cancelled the call before it finished (only reads are cancelled).
    Cancelled,
}

impl ErrorKind {
    /// The snake_case name, as in the serialized error and the audit log.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::InvalidArguments => "invalid_arguments",
            ErrorKind::NotAvailable => "not_available",
            ErrorKind::Configuration => "configuration",
            ErrorKind::Upstream => "upstream",
            ErrorKind::Transport => "transport",
            ErrorKind::UntrustedResponse => "untrusted_response",
            ErrorKind::PolicyRefused => "policy_refused",
            ErrorKind::NotConfirmed => "not_confirmed",
            ErrorKind::IdempotencyConflict => "idempotency_conflict",
            ErrorKind::InProgress => "in_progress",
            ErrorKind::Cancelled => "cancelled",
        }
    }
}

/// The gateway's own error fields, passed through for the model.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Upstream {
    pub provider: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_status: Option<u16>,
    /// Ping++ `error.type` (invalid_request_error, api_error, channel_error, card_error).
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub error_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub param: Option<String>,
    /// The gateway's message, with secrets masked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The answer was authenticated (Alipay: its signature verified; Ping++: a well-formed API
    /// error object over the configured TLS endpoint). Only an authenticated "not found" may
    /// lead to a resend.
    #[serde(skip)]
    pub verified: bool,
}

/// One failure of one tool call.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ToolError {
    pub kind: ErrorKind,
    pub message: String,
    /// The argument at fault, by name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Every schema violation, when there were several.
    #[serde(skip_serializing_if = "<[Violation]>::is_empty")]
    pub violations: Box<[Violation]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upstream: Option<Box<Upstream>>,
    /// The policy rule that refused the call.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<&'static str>,
    /// `UNKNOWN` when a money-moving call may or may not have happened.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<Outcome>,
    /// Whether repeating the same call unchanged is safe.
    pub retry_safe: bool,
    /// The gateway's catalogue says the object asked about does not exist (never serialized:
    /// recovery reads it, together with [`Upstream::verified`]).
    #[serde(skip)]
    pub not_found: bool,
    /// No answer came back (a timeout or a broken connection): the gateway may still be
    /// working on the request. Never serialized: the guard waits before trusting a "not found".
    #[serde(skip)]
    pub maybe_running: bool,
    /// What to do next, in one sentence.
    pub next_step: String,
}

/// What is known about the effect of a failed call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Outcome {
    /// The request may or may not have taken effect upstream: query before any retry.
    #[serde(rename = "UNKNOWN")]
    Unknown,
}

/// One schema violation: the field and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Violation {
    pub field: String,
    pub message: String,
}

impl ToolError {
    pub fn new(kind: ErrorKind, message: impl Into<String>, next_step: impl Into<String>) -> Self {
        ToolError {
            kind,
            message: message.into(),
            field: None,
            violations: Box::new([]),
            upstream: None,
            rule: None,
            outcome: None,
            retry_safe: false,
            not_found: false,
            maybe_running: false,
            next_step: next_step.into(),
        }
    }

    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    pub fn retry_safe(mut self, safe: bool) -> Self {
        self.retry_safe = safe;
        self
    }

    /// Arguments that break a rule; nothing was sent.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        let field = field.into();
        let message = message.into();
        ToolError::new(
            ErrorKind::InvalidArguments,
            format!("invalid argument `{field}`: {message}"),
            format!("Fix `{field}` and call the tool again; nothing was sent."),
        )
        .with_field(field)
    }

    /// The same error with every secret value (and `token=…`-style parameter) a gateway may
    /// have echoed masked in the texts.
    pub fn scrubbed(mut self, secrets: &[&str], names: &[&str]) -> Self {
        self.message = crate::redact::scrub(&self.message, secrets, names);
        if let Some(m) = self.upstream.as_mut().and_then(|u| u.message.as_mut()) {
            *m = crate::redact::scrub(m, secrets, names);
        }
        self
    }

    /// The error object of the `isError` result (sent as JSON text).
    pub fn to_value(&self) -> Value {
        json!({ "error": self })
    }
}

impl std::fmt::Display for ToolError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)?;
        if let Some(up) = &self.upstream
            && let Some(m) = &up.message
            && !self.message.contains(m.as_str())
        {
            write!(f, " ({m})")?;
        }
        write!(f, ". Next: {}", self.next_step)
    }
}

/// What to do when a state-changing call's outcome is not known.
pub fn next_after_unknown(tool: &crate::tool::ToolDef) -> String {
    match (tool.query_tool, tool.merchant_reference) {
        (Some(q), Some(r)) => format!(
            "The call may or may not have taken effect. Call {q} to check before retrying; if you retry, reuse the same `{r}` and arguments."
        ),
        (Some(q), None) => format!(
            "The call may or may not have taken effect. Call {q} (or the matching list tool) to check before any retry."
        ),
        (None, _) if tool.effect == crate::tool::Effect::Read => "Retry the same call.".to_string(),
        (None, _) => "The call may or may not have taken effect; check its state before any retry."
            .to_string(),
    }
}
