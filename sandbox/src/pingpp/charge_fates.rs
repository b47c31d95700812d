//! Charges that do not get paid (`/_sandbox/charge_fates`): a rule per channel or per order_no
//! keeps matching charges unpaid, or fails them with a `failure_code` / `failure_msg`, when they
//! would be paid (automatically in embedded mode, or through `/_sandbox/charges/{id}/pay`); and
//! `/_sandbox/charges/generate`, many charges at once over a range of creation times.

use serde_json::{Map, Value, json};

use super::channels;
use super::charges::{self, Charge, NewCharge};
use super::refunds::{self, NewRefund};
use crate::error::{ApiError, ApiResult};
use crate::params::Body;
use crate::store::Store;

/// One rule.
#[derive(Debug, Clone)]
pub struct Fate {
    pub channel: Option<String>,
    pub order_no: Option<String>,
    /// `None`: the charge just stays unpaid.
    pub failure_code: Option<String>,
    pub failure_msg: Option<String>,
    /// Charges it still applies to (`None`: every one).
    pub remaining: Option<u32>,
}

#[derive(Debug, Default)]
pub struct Fates {
    rules: Vec<Fate>,
}

impl Fates {
    /// `{"channel"?, "order_no"?, "failure_code"?, "failure_msg"?, "count"?}`.
    pub fn add(&mut self, body: &Body) -> ApiResult<Value> {
        body.allow_only(&[
            "channel",
            "order_no",
            "failure_code",
            "failure_msg",
            "count",
        ])?;
        let channel = body.opt_str("channel", 32)?;
        if let Some(c) = &channel
            && channels::find(c).is_none()
        {
            return Err(ApiError::param("channel", format!("未知渠道 {c}")));
        }
        let order_no = body.opt_str("order_no", 64)?;
        if channel.is_none() && order_no.is_none() {
            return Err(ApiError::param("channel", "需要 channel 或 order_no"));
        }
        self.rules.push(Fate {
            channel,
            order_no,
            failure_code: body.opt_str("failure_code", 64)?,
            failure_msg: body.opt_str("failure_msg", 255)?,
            remaining: body.opt_int("count", 1, 1_000_000)?.map(|n| n as u32),
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
            .map(|f| {
                json!({
                    "channel": f.channel, "order_no": f.order_no, "failure_code": f.failure_code,
                    "failure_msg": f.failure_msg, "remaining": f.remaining,
                })
            })
            .collect();
        json!({ "charge_fates": rules })
    }

    /// The rule for a charge about to be paid (one use of it).
    pub fn take(&mut self, charge: &Charge) -> Option<Fate> {
        let i = self.rules.iter().position(|f| {
            f.order_no.as_ref().is_none_or(|o| *o == charge.order_no)
                && f.channel.as_ref().is_none_or(|c| *c == charge.channel)
        })?;
        let fate = self.rules[i].clone();
        if let Some(n) = &mut self.rules[i].remaining {
            *n -= 1;
            if *n == 0 {
                self.rules.remove(i);
            }
        }
        Some(fate)
    }
}

/// `{"count", "channels"?, "created_from", "created_to", "unpaid_every"?, "refund_every"?,
/// "seed"?}`: `count` charges spread over the creation times, channels in turn, amounts ¥1 to
/// ¥999.99; every `unpaid_every`-th stays unpaid, every `refund_every`-th paid one is half
/// refunded.
pub fn generate(store: &mut Store, body: &Body) -> ApiResult<Value> {
    body.allow_only(&[
        "count",
        "channels",
        "created_from",
        "created_to",
        "unpaid_every",
        "refund_every",
        "seed",
    ])?;
    let count = body.req_int("count", 1, 200_000)?;
    let from = body.req_int("created_from", 0, 4_102_444_800)?;
    let to = body.req_int("created_to", from, 4_102_444_800)?;
    let unpaid_every = body.opt_int("unpaid_every", 1, 1_000_000)?.unwrap_or(0);
    let refund_every = body.opt_int("refund_every", 1, 1_000_000)?.unwrap_or(0);
    let seed = body.opt_int("seed", 0, i64::MAX)?.unwrap_or(1);
    let names: Vec<String> = match body.raw("channels") {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        _ => vec!["alipay".into(), "wx".into(), "upacp".into()],
    };
    let mut chans = Vec::new();
    for n in &names {
        chans.push(
            channels::find(n)
                .ok_or_else(|| ApiError::param("channels", format!("未知渠道 {n}")))?,
        );
    }
    if chans.is_empty() {
        return Err(ApiError::param("channels", "至少一个渠道"));
    }
    let (mut paid, mut gross, mut refunded) = (0i64, 0i64, 0i64);
    for i in 0..count {
        let channel = chans[(i as usize) % chans.len()];
        let h = ((seed as u64) ^ (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15))
            .wrapping_mul(0xBF58_476D_1CE4_E5B9);
        let amount = 100 + ((h >> 16) % 99_900) as i64;
        let new = NewCharge {
            order_no: format!("G{seed}x{i:09}"),
            channel,
            amount,
            client_ip: "127.0.0.1".into(),
            currency: "cny".into(),
            subject: "生成的订单".into(),
            body: "sandbox generated".into(),
            extra: Map::new(),
            time_expire: None,
            metadata: Map::new(),
            description: None,
        };
        let (id, _) = charges::insert(store, new, None)?;
        let created = from
            + if count > 1 {
                (to - from) * i / (count - 1)
            } else {
                0
            };
        let ch = store.charges.get_mut(&id).expect("inserted");
        ch.created = created;
        ch.time_expire = created + 7200;
        if unpaid_every > 0 && i % unpaid_every == unpaid_every - 1 {
            continue;
        }
        ch.paid = true;
        ch.time_paid = Some(created + 5);
        paid += 1;
        gross += amount;
        if refund_every > 0 && i % refund_every == refund_every - 1 {
            let r = refunds::insert_new(store, &id, amount / 2, NewRefund::default());
            refunds::succeed(store, &r, "iar_generate")?;
            refunded += amount / 2;
        }
    }
    Ok(json!({ "count": count, "paid": paid, "gross": gross, "refunded": refunded }))
}
