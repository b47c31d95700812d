//! User confirmation of money-moving and irreversible calls.
//!
//! The MCP layer asks the user through elicitation; this module says what to show (the concrete
//! effect) and, for the stateless 2026-07-28 path (`InputRequiredResult`), seals a confirmation
//! ticket bound to a digest of the exact arguments: an altered or replayed retry is refused. A
//! model-supplied argument such as `confirm: true` is never consent (the schemas do not even accept it).

use std::collections::HashSet;
use std::sync::Mutex;

use base64::Engine as _;
use rsa::sha2::{Digest, Sha256};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// How the user answered, as recorded in the audit log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Confirmation {
    /// Policy did not ask for confirmation.
    NotRequired,
    Accepted,
    Declined,
    Cancelled,
    /// The client cannot elicit: refused, never sent silently.
    Unsupported,
    /// A 2026-07-28 retry whose ticket did not match the arguments, had expired or was reused.
    Invalid,
}

impl Confirmation {
    pub fn as_str(self) -> &'static str {
        match self {
            Confirmation::NotRequired => "not_required",
            Confirmation::Accepted => "accepted",
            Confirmation::Declined => "declined",
            Confirmation::Cancelled => "cancelled",
            Confirmation::Unsupported => "unsupported",
            Confirmation::Invalid => "invalid",
        }
    }
}

/// The refusal when a call that needs confirmation did not get it; nothing was sent.
pub fn not_confirmed(confirmation: Confirmation) -> crate::error::ToolError {
    let (why, next) = match confirmation {
        Confirmation::Unsupported => (
            "this call needs the user's confirmation and the client cannot ask for it (no elicitation support)",
            "Nothing was sent. Tell the user to run it from a client that supports confirmation prompts, or ask the operator.",
        ),
        Confirmation::Invalid => (
            "the confirmation does not match these arguments, has expired or was already used",
            "Nothing was sent. Call the tool again to ask the user afresh.",
        ),
        _ => (
            "the user did not confirm this call",
            "Nothing was sent. Do not retry unless the user asks for it again.",
        ),
    };
    crate::error::ToolError::new(crate::error::ErrorKind::NotConfirmed, why, next)
}

/// What the user is asked to confirm.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfirmRequest {
    /// One paragraph for the user: tool, amount in yuan (and, for a batch, the number of items),
    /// counterparty, merchant reference, provider and environment.
    pub message: String,
    /// The same facts as data.
    pub effect: Value,
}

/// The facts shown to the user.
pub struct Effect<'a> {
    pub tool_title: &'a str,
    pub tool: &'a str,
    pub provider: &'a str,
    pub environment: &'a str,
    pub amount: Option<String>,
    /// A batch: how many items, and the argument holding them.
    pub items: Option<(usize, &'a str)>,
    pub reference: Option<(&'a str, String)>,
    pub counterparty: Option<(&'a str, String)>,
}

pub fn request(effect: &Effect<'_>) -> ConfirmRequest {
    let mut lines = vec![format!(
        "{} ({}) on {}, {} environment.",
        effect.tool_title, effect.tool, effect.provider, effect.environment
    )];
    match (&effect.amount, effect.items) {
        (Some(a), Some((n, param))) => lines.push(format!(
            "Amount: {a} in total, over {n} item{} of {param}.",
            if n == 1 { "" } else { "s" }
        )),
        (None, Some((n, param))) => lines.push(format!(
            "{n} item{} of {param}; the total is not stated.",
            if n == 1 { "" } else { "s" }
        )),
        (Some(a), None) => lines.push(format!("Amount: {a}.")),
        (None, None) => {}
    }
    if let Some((k, v)) = &effect.counterparty {
        lines.push(format!("Counterparty: {k} = {v}."));
    }
    if let Some((k, v)) = &effect.reference {
        lines.push(format!("Merchant reference: {k} = {v}."));
    }
    lines.push("Confirm to send this request; decline to cancel it.".into());
    ConfirmRequest {
        message: lines.join(" "),
        effect: json!({
            "tool": effect.tool,
            "provider": effect.provider,
            "environment": effect.environment,
            "amount": effect.amount,
            "items": effect.items.map(|(n, _)| n),
            "counterparty": effect.counterparty.as_ref().map(|(k, v)| json!({k.to_string(): v})),
            "merchant_reference": effect.reference.as_ref().map(|(k, v)| json!({k.to_string(): v})),
        }),
    }
}

/// What a sealed ticket carries.
#[derive(Serialize, Deserialize)]
struct Ticket {
    /// Tool name.
    t: String,
    /// Digest of the arguments the user saw.
    d: String,
    /// Single-use nonce.
    n: String,
    /// Expiry, Unix seconds.
    e: i64,
}

/// Seals and opens confirmation tickets (`requestState`) with a per-process HMAC key, and
/// remembers used nonces so a ticket works once.
pub struct Tickets {
    key: [u8; 32],
    used: Mutex<HashSet<String>>,
}

/// How long the user has to answer.
pub const TICKET_TTL_SECONDS: i64 = 600;

impl Tickets {
    pub fn new() -> Self {
        let mut key = [0u8; 32];
        rand::fill(&mut key);
        Tickets {
            key,
            used: Mutex::new(HashSet::new()),
        }
    }

    /// A ticket for `tool` with arguments `digest`, valid for [`TICKET_TTL_SECONDS`].
    pub fn seal(&self, tool: &str, digest: &str, now: i64) -> String {
        let mut nonce = [0u8; 16];
        rand::fill(&mut nonce);
        let ticket = Ticket {
            t: tool.into(),
            d: digest.into(),
            n: hex(&nonce),
            e: now + TICKET_TTL_SECONDS,
        };
        let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(serde_json::to_vec(&ticket).unwrap_or_default());
        let tag = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(hmac_sha256(&self.key, payload.as_bytes()));
        format!("zc1.{payload}.{tag}")
    }

    /// Opens a ticket for a retry of `tool` with arguments `digest`; consumes its nonce. Any
    /// mismatch (forged, other tool, altered arguments, expired, already used) is `false`.
    pub fn redeem(&self, state: &str, tool: &str, digest: &str, now: i64) -> bool {
        let mut parts = state.split('.');
        let (Some("zc1"), Some(payload), Some(tag), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return false;
        };
        let expected = hmac_sha256(&self.key, payload.as_bytes());
        let Ok(given) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(tag) else {
            return false;
        };
        if !constant_time_eq(&expected, &given) {
            return false;
        }
        let Some(ticket) = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .ok()
            .and_then(|b| serde_json::from_slice::<Ticket>(&b).ok())
        else {
            return false;
        };
        if ticket.t != tool || ticket.d != digest || now > ticket.e {
            return false;
        }
        self.used
            .lock()
            .map(|mut used| used.insert(ticket.n))
            .unwrap_or(false)
    }
}

impl Default for Tickets {
    fn default() -> Self {
        Self::new()
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// HMAC-SHA256 (RFC 2104) with a 32-byte key.
fn hmac_sha256(key: &[u8; 32], message: &[u8]) -> [u8; 32] {
    let mut block = [0u8; 64];
    block[..32].copy_from_slice(key);
    let mut inner = Sha256::new();
    inner.update(block.map(|b| b ^ 0x36));
    inner.update(message);
    let inner = inner.finalize();
    let mut outer = Sha256::new();
    outer.update(block.map(|b| b ^ 0x5c));
    outer.update(inner);
    outer.finalize().into()
}

pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc4231_shape() {
        // RFC 4231 test case 2 uses a short key; check against a known value computed with a
        // 32-byte key of 0x0b: HMAC-SHA256(key, "Hi There").
        let key = [0x0bu8; 32];
        let tag = hmac_sha256(&key, b"Hi There");
        assert_eq!(
            hex(&tag),
            "198a607eb44bfbc69903a0f1cf2bbdc5ba0aa3f3d9ae3c1c7a3b1696a0b68cf7"
        );
    }

    #[test]
    fn tickets_bind_tool_and_arguments_and_work_once() {
        let t = Tickets::new();
        let s = t.seal("refund_trade", "abc", 1000);
        assert!(
            !t.redeem(&s, "refund_trade", "abd", 1001),
            "altered arguments"
        );
        assert!(!t.redeem(&s, "transfer_fund", "abc", 1001), "other tool");
        assert!(
            !t.redeem(&s, "refund_trade", "abc", 1000 + TICKET_TTL_SECONDS + 1),
            "expired"
        );
        assert!(t.redeem(&s, "refund_trade", "abc", 1001));
        assert!(!t.redeem(&s, "refund_trade", "abc", 1002), "replayed");
        let other = Tickets::new();
        assert!(
            !other.redeem(&t.seal("x", "d", 0), "x", "d", 1),
            "another key (forged)"
        );
        let mut forged = t.seal("x", "d", 0);
        forged.push('A');
        assert!(!t.redeem(&forged, "x", "d", 1));
    }
}
