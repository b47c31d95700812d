//! Injected channel failures (`/_sandbox/failures`): the channel refuses a payout the way a real
//! refusal looks — the object is created normally and later ends `failed` with a
//! `failure_msg` (a transfer, a red envelope, one item of a batch), not an HTTP error. A rule
//! matches by what it is `on`, and optionally by `channel` (every payout of a channel) and
//! `party` (one payee account, open_id, user or card number, or one charge of a batch refund),
//! for its next `count` matches.

use serde_json::{Value, json};

use crate::error::{ApiError, ApiResult};
use crate::params::Body;

/// What a failure rule applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum On {
    Transfer,
    RedEnvelope,
    /// One recipient of a batch transfer.
    BatchTransfer,
    /// One charge of a batch refund.
    BatchRefund,
}

impl On {
    fn parse(text: &str) -> Option<On> {
        Some(match text {
            "transfer" => On::Transfer,
            "red_envelope" => On::RedEnvelope,
            "batch_transfer" => On::BatchTransfer,
            "batch_refund" => On::BatchRefund,
            _ => return None,
        })
    }

    fn as_str(self) -> &'static str {
        match self {
            On::Transfer => "transfer",
            On::RedEnvelope => "red_envelope",
            On::BatchTransfer => "batch_transfer",
            On::BatchRefund => "batch_refund",
        }
    }
}

#[derive(Debug, Clone)]
struct Rule {
    on: On,
    channel: Option<String>,
    party: Option<String>,
    failure_msg: String,
    remaining: u32,
}

/// The queued rules, tried in the order they were added.
#[derive(Debug, Default)]
pub struct Failures {
    rules: Vec<Rule>,
}

/// The default message, shaped like a channel refusal.
const DEFAULT_MESSAGE: &str = "收款账户异常，渠道拒绝付款 (sandbox 注入的失败)。";

impl Failures {
    /// Adds a rule from `{"on", "channel"?, "party"?, "failure_msg"?, "count"?}` (count 1 by
    /// default).
    pub fn add(&mut self, body: &Body) -> ApiResult<Value> {
        body.allow_only(&["on", "channel", "party", "failure_msg", "count"])?;
        let on_text = body.req_str("on", 32)?;
        let on = On::parse(&on_text).ok_or_else(|| {
            ApiError::param(
                "on",
                format!(
                    "未知的 on: {on_text} (可选 transfer, red_envelope, batch_transfer, batch_refund)"
                ),
            )
        })?;
        self.rules.push(Rule {
            on,
            channel: body.opt_str("channel", 32)?,
            party: body.opt_str("party", 64)?,
            failure_msg: body
                .opt_str("failure_msg", 255)?
                .unwrap_or_else(|| DEFAULT_MESSAGE.into()),
            remaining: body.opt_int("count", 1, 1_000_000)?.unwrap_or(1) as u32,
        });
        Ok(self.json())
    }

    pub fn clear(&mut self) {
        self.rules.clear();
    }

    pub fn json(&self) -> Value {
        let rules: Vec<Value> = self
            .rules
            .iter()
            .map(|r| {
                json!({
                    "on": r.on.as_str(),
                    "channel": r.channel,
                    "party": r.party,
                    "failure_msg": r.failure_msg,
                    "remaining": r.remaining,
                })
            })
            .collect();
        json!({ "failures": rules })
    }

    /// The failure message for a payout of `on` on `channel` to one of `parties`, taking one
    /// use of the first matching rule; `None`: it goes through.
    pub fn take(&mut self, on: On, channel: &str, parties: &[&str]) -> Option<String> {
        let index = self.rules.iter().position(|r| {
            r.on == on
                && r.channel.as_deref().is_none_or(|c| c == channel)
                && r.party.as_deref().is_none_or(|p| parties.contains(&p))
        })?;
        let rule = &mut self.rules[index];
        let message = rule.failure_msg.clone();
        rule.remaining -= 1;
        if rule.remaining == 0 {
            self.rules.remove(index);
        }
        Some(message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn add(f: &mut Failures, json: &str) {
        f.add(&Body::parse(json.as_bytes()).unwrap()).unwrap();
    }

    #[test]
    fn rules_match_by_kind_channel_and_party_and_run_out() {
        let mut f = Failures::default();
        add(
            &mut f,
            r#"{"on": "transfer", "party": "o_bad", "failure_msg": "no"}"#,
        );
        add(
            &mut f,
            r#"{"on": "batch_refund", "channel": "alipay", "count": 2}"#,
        );
        assert_eq!(f.take(On::Transfer, "wx_pub", &["o_ok"]), None);
        assert_eq!(f.take(On::RedEnvelope, "wx_pub", &["o_bad"]), None);
        assert_eq!(
            f.take(On::Transfer, "wx_pub", &["o_bad"]).as_deref(),
            Some("no")
        );
        assert_eq!(f.take(On::Transfer, "wx_pub", &["o_bad"]), None, "used up");
        assert!(f.take(On::BatchRefund, "wx", &["ch_1"]).is_none());
        assert!(f.take(On::BatchRefund, "alipay", &["ch_1"]).is_some());
        assert!(f.take(On::BatchRefund, "alipay", &["ch_2"]).is_some());
        assert!(f.take(On::BatchRefund, "alipay", &["ch_3"]).is_none());
    }

    #[test]
    fn unknown_kinds_are_refused() {
        let mut f = Failures::default();
        let err = f
            .add(&Body::parse(br#"{"on": "charge"}"#).unwrap())
            .unwrap_err();
        assert_eq!(err.param.as_deref(), Some("on"));
    }
}
