//! User confirmation of money-moving and irreversible calls.
//!
//! The MCP layer asks the user through elicitation; this module says what to show (the concrete
//! effect) and, for the stateless 2026-07-28 path (`InputRequiredResult`), seals a confirmation
//! ticket bound to a digest of the exact arguments: an altered or replayed retry is refused. A
//! model-supplied argument such as `confirm: true` is never consent (the schemas do not even accept it).

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

/// Seals and opens confirmation tickets (`requestState`) with an HMAC key kept in the state
/// store, and records used nonces there: a ticket sealed by one instance is redeemed once on
/// any instance sharing the store.
pub struct Tickets {
    store: std::sync::Arc<dyn crate::guard::store::Store>,
    key: tokio::sync::OnceCell<[u8; 32]>,
}

/// How long the user has to answer.
pub const TICKET_TTL_SECONDS: i64 = 600;

impl Tickets {
    pub fn new(store: std::sync::Arc<dyn crate::guard::store::Store>) -> Self {
        Tickets {
            store,
            key: tokio::sync::OnceCell::new(),
        }
    }

    /// The shared key: this instance's candidate unless another instance stored one first.
    async fn key(&self) -> Result<&[u8; 32], crate::guard::store::StoreError> {
        self.key
            .get_or_try_init(|| async {
                let mut candidate = [0u8; 32];
                rand::fill(&mut candidate);
                let stored = self.store.ticket_key(candidate.to_vec()).await?;
                <[u8; 32]>::try_from(stored.as_slice()).map_err(|_| {
                    crate::guard::store::StoreError::Corrupt(
                        "the ticket key is not 32 bytes".into(),
                    )
                })
            })
            .await
    }

    /// A ticket for `tool` with arguments `digest`, valid for [`TICKET_TTL_SECONDS`].
    pub async fn seal(
        &self,
        tool: &str,
        digest: &str,
        now: i64,
    ) -> Result<String, crate::guard::store::StoreError> {
        let key = self.key().await?;
        let mut nonce = [0u8; 16];
        rand::fill(&mut nonce);
        let ticket = Ticket {
            t: tool.into(),
            d: digest.into(),
            n: hex(&nonce),
            e: now + TICKET_TTL_SECONDS,
        };
        Ok(seal_with(key, &ticket))
    }

    /// Opens a ticket for a retry of `tool` with arguments `digest`; consumes its nonce. Any
    /// mismatch (forged, other tool, altered arguments, expired, already used anywhere) and any
    /// store failure is `false`: nothing is sent unconfirmed.
    pub async fn redeem(&self, state: &str, tool: &str, digest: &str, now: i64) -> bool {
        let Ok(key) = self.key().await else {
            return false;
        };
        let Some(ticket) = open(key, state, tool, digest, now) else {
            return false;
        };
        self.store
            .use_nonce(ticket.n, ticket.e, now)
            .await
            .unwrap_or(false)
    }
}

fn seal_with(key: &[u8; 32], ticket: &Ticket) -> String {
    let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(serde_json::to_vec(ticket).unwrap_or_default());
    let tag = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(hmac_sha256(key, payload.as_bytes()));
    format!("zc1.{payload}.{tag}")
}

/// The ticket, if it is genuine, for this tool and these arguments, and not expired.
fn open(key: &[u8; 32], state: &str, tool: &str, digest: &str, now: i64) -> Option<Ticket> {
    let mut parts = state.split('.');
    let (Some("zc1"), Some(payload), Some(tag), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    let expected = hmac_sha256(key, payload.as_bytes());
    let given = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(tag)
        .ok()?;
    if !constant_time_eq(&expected, &given) {
        return None;
    }
    let ticket = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()
        .and_then(|b| serde_json::from_slice::<Ticket>(&b).ok())?;
    (ticket.t == tool && ticket.d == digest && now <= ticket.e).then_some(ticket)
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

    fn store() -> std::sync::Arc<dyn crate::guard::store::Store> {
        std::sync::Arc::new(crate::guard::store::SqliteStore::in_memory().unwrap())
    }

    #[tokio::test]
    async fn tickets_bind_tool_and_arguments_and_work_once_across_instances() {
        let shared = store();
        let (a, b, c) = (
            Tickets::new(shared.clone()),
            Tickets::new(shared.clone()),
            Tickets::new(shared),
        );
        let s = a.seal("refund_trade", "abc", 1000).await.unwrap();
        assert!(
            !b.redeem(&s, "refund_trade", "abd", 1001).await,
            "altered arguments"
        );
        assert!(
            !b.redeem(&s, "transfer_fund", "abc", 1001).await,
            "other tool"
        );
        assert!(
            !b.redeem(&s, "refund_trade", "abc", 1000 + TICKET_TTL_SECONDS + 1)
                .await,
            "expired"
        );
        assert!(
            b.redeem(&s, "refund_trade", "abc", 1001).await,
            "sealed by A, redeemed on B"
        );
        assert!(
            !c.redeem(&s, "refund_trade", "abc", 1002).await,
            "replayed on C"
        );
        let other = Tickets::new(store());
        let foreign = other.seal("x", "d", 0).await.unwrap();
        assert!(
            !a.redeem(&foreign, "x", "d", 1).await,
            "another key (forged)"
        );
        let mut forged = a.seal("x", "d", 0).await.unwrap();
        forged.push('A');
        assert!(!a.redeem(&forged, "x", "d", 1).await);
    }
}
