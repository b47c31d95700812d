//! The received-events tools: `list_received_events` and `retrieve_received_event` read what the
//! receivers stored (runtime/src/receive/); `wait_for_payment` waits until a received event or a
//! query to the gateway shows a charge or trade settled, with progress and cancellation.

use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};

use crate::config::Config;
use crate::context::CallContext;
use crate::engine::Engine;
use crate::error::{ErrorKind, ToolError};
use crate::guard::idempotency::store_error;
use crate::guard::store::{EventFilter, IdemKey, ReceivedEvent};
use crate::providers::events::{settled, state_rank};
use crate::providers::wire::parse_form;

/// How often the state store is looked at while waiting.
const STORE_POLL: Duration = Duration::from_millis(200);
/// How often the gateway is queried while waiting.
const QUERY_EVERY: Duration = Duration::from_secs(3);

fn text<'a>(args: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    args.get(name).and_then(Value::as_str)
}

fn int(args: &Map<String, Value>, name: &str) -> Option<i64> {
    args.get(name).and_then(Value::as_i64)
}

/// An event as the tools show it (without its raw body).
fn summary(e: &ReceivedEvent) -> Value {
    json!({
        "provider": e.provider,
        "event_id": e.event_id,
        "type": e.event_type,
        "object_id": e.object_id,
        "reference": e.reference,
        "amount_fen": e.amount_fen,
        "state": e.object_state,
        "received_at": e.received_unix,
        "verified": e.verified,
    })
}

/// `list_received_events`: newest first, one page.
pub async fn list(engine: &Engine, args: &Map<String, Value>) -> Result<Value, ToolError> {
    let limit = int(args, "limit").unwrap_or(20).clamp(1, 100) as usize;
    let filter = EventFilter {
        provider: text(args, "provider").map(str::to_string),
        event_type: text(args, "type").map(str::to_string),
        object_id: text(args, "object_id").map(str::to_string),
        reference: text(args, "reference").map(str::to_string),
        since_unix: int(args, "since"),
        before_seq: int(args, "before"),
        limit: limit + 1,
    };
    let mut rows = engine
        .store()
        .list_events(filter)
        .await
        .map_err(store_error)?;
    let has_more = rows.len() > limit;
    rows.truncate(limit);
    let next = if has_more {
        rows.last().map(|e| e.seq)
    } else {
        None
    };
    Ok(json!({
        "events": rows.iter().map(summary).collect::<Vec<_>>(),
        "has_more": has_more,
        "next_cursor": next,
    }))
}

/// `retrieve_received_event`: one event and its content.
pub async fn retrieve(engine: &Engine, args: &Map<String, Value>) -> Result<Value, ToolError> {
    let provider = text(args, "provider").unwrap_or_default().to_string();
    let id = text(args, "event_id").unwrap_or_default().to_string();
    let found = engine
        .store()
        .get_event(provider.clone(), id.clone())
        .await
        .map_err(store_error)?;
    let Some(e) = found else {
        return Err(ToolError::new(
            ErrorKind::Upstream,
            format!("no {provider} event {id} was received"),
            "Check the id with list_received_events; events arrive only through the receivers (POST /webhooks/pingpp, POST /notify/alipay).",
        ));
    };
    let content = match e.provider.as_str() {
        "alipay" => parse_form(&e.raw_body)
            .map(|f| Value::Object(f.into_iter().map(|(k, v)| (k, Value::String(v))).collect()))
            .unwrap_or(Value::Null),
        _ => serde_json::from_str(&e.raw_body).unwrap_or(Value::Null),
    };
    Ok(json!({ "event": summary(&e), "content": content }))
}

/// What is being waited for.
struct Target {
    provider: &'static str,
    object_id: Option<String>,
    reference: Option<String>,
}

/// What is known about the payment.
#[derive(Default)]
struct Known {
    state: Option<String>,
    object_id: Option<String>,
    reference: Option<String>,
    amount_fen: Option<i64>,
    source: &'static str,
    event_id: Option<String>,
}

/// `wait_for_payment`.
pub async fn wait(
    engine: &Engine,
    args: &Map<String, Value>,
    config: &Config,
    ctx: &CallContext,
) -> Result<Value, ToolError> {
    let started = Instant::now();
    let timeout =
        Duration::from_secs(int(args, "timeout_seconds").unwrap_or(120).clamp(1, 300) as u64);
    let mut target = match (
        text(args, "charge_id"),
        text(args, "order_no"),
        text(args, "out_trade_no"),
    ) {
        (Some(id), order, _) => Target {
            provider: "pingpp",
            object_id: Some(id.to_string()),
            reference: order.map(str::to_string),
        },
        (None, Some(order), _) => Target {
            provider: "pingpp",
            object_id: None,
            reference: Some(order.to_string()),
        },
        (None, None, Some(out)) => Target {
            provider: "alipay",
            object_id: None,
            reference: Some(out.to_string()),
        },
        _ => {
            return Err(ToolError::invalid(
                "charge_id",
                "give charge_id or order_no (Ping++), or out_trade_no (Alipay)",
            ));
        }
    };
    let mut known = Known {
        source: "none",
        ..Known::default()
    };
    let mut last_query: Option<Instant> = None;
    let mut query_error: Option<String> = None;
    let mut polls = 0u64;
    loop {
        if target.object_id.is_none() && target.provider == "pingpp" {
            target.object_id = charge_of_order(engine, target.reference.as_deref()).await;
        }
        if let Some(k) = from_events(engine, &target).await? {
            known = k;
        }
        if polls == 0
            && target.provider == "pingpp"
            && target.object_id.is_none()
            && known.source == "none"
        {
            // Ping++ cannot be asked by order_no: without a charge this server created or an
            // event naming it, there is nothing to wait for.
            let mut e = ToolError::invalid(
                "order_no",
                "no charge with this order_no is known here (none created by this server, no event received)",
            );
            e.next_step = "Pass the charge's id as charge_id (list_charges finds it), or check the order_no; nothing was sent.".into();
            return Err(e);
        }
        let due = last_query.is_none_or(|t| t.elapsed() >= QUERY_EVERY);
        if !known.state.as_deref().is_some_and(settled) && due {
            last_query = Some(Instant::now());
            match query(engine, config, &target).await {
                Ok(Some(k))
                    if k.state.as_deref().map_or(0, state_rank)
                        >= known.state.as_deref().map_or(0, state_rank) =>
                {
                    known = k
                }
                Ok(_) => query_error = None,
                // A Ping++ charge exists from its creation: a verified "no such charge" ends the
                // wait. (An Alipay trade may not exist yet: a payment link's trade appears when
                // the buyer opens it, so Alipay keeps waiting.)
                Err(e) if e.not_found && target.provider == "pingpp" && known.source == "none" => {
                    return Err(e);
                }
                // Anything else (gateway down, refused): keep waiting, and say so at the end.
                Err(e) => query_error = Some(e.message),
            }
        }
        let elapsed = started.elapsed();
        let done = known.state.as_deref().is_some_and(settled);
        if done || elapsed >= timeout {
            return Ok(json!({
                "settled": done,
                "state": known.state,
                "provider": target.provider,
                "object_id": known.object_id.or(target.object_id),
                "reference": known.reference.or(target.reference),
                "amount_fen": known.amount_fen,
                "source": known.source,
                "event_id": known.event_id,
                "waited_ms": elapsed.as_millis() as u64,
                "last_query_error": query_error,
            }));
        }
        polls += 1;
        if polls % 5 == 1 {
            ctx.progress(
                elapsed.as_secs_f64(),
                Some(timeout.as_secs_f64()),
                format!(
                    "waiting for {} {} (state: {})",
                    target.provider,
                    target
                        .object_id
                        .as_deref()
                        .or(target.reference.as_deref())
                        .unwrap_or_default(),
                    known.state.as_deref().unwrap_or("not known yet")
                ),
            );
        }
        tokio::select! {
            _ = tokio::time::sleep(STORE_POLL.min(timeout.saturating_sub(elapsed))) => {}
            _ = ctx.cancelled() => {
                return Err(ToolError::new(
                    ErrorKind::NotConfirmed,
                    "the wait was cancelled by the client",
                    "Nothing changed; call wait_for_payment again to keep waiting.",
                ));
            }
        }
    }
}

/// The charge this server created for `order_no`, from its idempotency record.
async fn charge_of_order(engine: &Engine, order_no: Option<&str>) -> Option<String> {
    let key = IdemKey::new("pingpp", "create_charge", order_no?);
    let record = engine.store().get(key).await.ok()??;
    record.result?.get("id")?.as_str().map(str::to_string)
}

/// The furthest state the received events show.
async fn from_events(engine: &Engine, t: &Target) -> Result<Option<Known>, ToolError> {
    let filter = EventFilter {
        provider: Some(t.provider.to_string()),
        object_id: t.object_id.clone(),
        reference: if t.object_id.is_none() {
            t.reference.clone()
        } else {
            None
        },
        limit: 100,
        ..EventFilter::default()
    };
    let rows = engine
        .store()
        .list_events(filter)
        .await
        .map_err(store_error)?;
    let best = rows.into_iter().max_by_key(|e| (e.state_rank, -e.seq));
    Ok(best.map(|e| Known {
        state: e.object_state,
        object_id: e.object_id,
        reference: e.reference,
        amount_fen: e.amount_fen,
        source: "event",
        event_id: Some(e.event_id),
    }))
}

/// Asks the gateway (when its query tool is available here); `Ok(None)` when there is nothing to
/// ask by, `Err` with the gateway's error when the query failed.
async fn query(engine: &Engine, config: &Config, t: &Target) -> Result<Option<Known>, ToolError> {
    let (tool, args) = match (t.provider, &t.object_id, &t.reference) {
        ("pingpp", Some(id), _) => ("retrieve_charge", json!({ "charge_id": id })),
        ("alipay", _, Some(out)) => ("query_trade", json!({ "out_trade_no": out })),
        _ => return Ok(None),
    };
    let Value::Object(args) = args else {
        return Ok(None);
    };
    let v = engine.read(tool, args, config).await?;
    let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
    let flag = |k: &str| v.get(k).and_then(Value::as_bool) == Some(true);
    Ok(Some(match t.provider {
        "pingpp" => Known {
            state: if flag("reversed") {
                Some("reversed".into())
            } else if flag("refunded") {
                Some("refunded".into())
            } else if flag("paid") {
                Some("paid".into())
            } else {
                s("status")
            },
            object_id: s("id"),
            reference: s("order_no"),
            amount_fen: v.get("amount").and_then(Value::as_i64),
            source: "query",
            event_id: None,
        },
        _ => Known {
            state: s("trade_status"),
            object_id: s("trade_no"),
            reference: s("out_trade_no"),
            amount_fen: s("total_amount")
                .as_deref()
                .and_then(crate::money::fen_from_yuan),
            source: "query",
            event_id: None,
        },
    }))
}
