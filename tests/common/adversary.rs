//! Helpers for the adversarial tests (fuzz, faults, concurrency, secrets, start-up): sandbox
//! inspection (request counters, in-flight requests, the per-reference ledger, fault injection),
//! extra server processes on one state dir, every byte of a tool result as text, and the argument
//! builders of the money-moving tools with their preconditions.

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rmcp::model::{CallToolRequestParams, CallToolResult};
use rmcp::service::{Peer, RunningService};
use rmcp::transport::TokioChildProcess;
use rmcp::{RoleClient, ServiceExt};
use serde_json::{Value, json};
use tokio::io::AsyncReadExt;
use zhifu_runtime::tool::{Operation, ToolDef};

use super::{Harness, Options, charge_args, unique};

/// Longest a single tool call may take before the test calls it a hang.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(15);

/// `Options` with extra environment.
pub fn options(env: &[(&str, &str)]) -> Options {
    Options {
        env: env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ..Options::default()
    }
}

/// What one call came back with, or why it did not.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// A result; `error` is its `isError`, `text` everything it carried, `headline` its first
    /// text block.
    Result {
        error: bool,
        text: String,
        headline: String,
    },
    /// A JSON-RPC / transport error.
    Protocol(String),
    /// No answer within [`CALL_TIMEOUT`].
    Hang,
}

impl Outcome {
    pub fn is_tool_error(&self) -> bool {
        matches!(self, Outcome::Result { error: true, .. })
    }

    pub fn is_success(&self) -> bool {
        matches!(self, Outcome::Result { error: false, .. })
    }

    /// Everything the result carried, as text (empty for hangs and protocol errors).
    pub fn text(&self) -> &str {
        match self {
            Outcome::Result { text, .. } => text,
            _ => "",
        }
    }

    /// One line for a report, at most `max` characters of the result.
    pub fn summary(&self, max: usize) -> String {
        match self {
            Outcome::Result {
                error, headline, ..
            } => format!("isError={error} {}", clip(headline, max)),
            Outcome::Protocol(e) => format!("protocol error: {}", clip(e, max)),
            Outcome::Hang => format!("no answer within {CALL_TIMEOUT:?}"),
        }
    }
}

/// `text` cut to `max` characters (on a char boundary), with a marker when cut.
pub fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let cut: String = text.chars().take(max).collect();
    format!("{cut}…[{} chars]", text.chars().count())
}

/// Every content block and the structured content of a result, as text: the serialized result
/// (so nothing a client could read is missed) followed by the text blocks unescaped.
pub fn result_text(result: &CallToolResult) -> String {
    let mut text = serde_json::to_string(result).unwrap_or_default();
    for block in &result.content {
        if let Some(t) = block.as_text() {
            text.push('\n');
            text.push_str(&t.text);
        }
    }
    text
}

/// Calls `name` through `peer` with a hang timeout; never panics.
pub async fn call_peer(peer: &Peer<RoleClient>, name: &str, args: &Value) -> Outcome {
    let Value::Object(map) = args else {
        panic!("args must be an object")
    };
    let request = CallToolRequestParams::new(name.to_string()).with_arguments(map.clone());
    match tokio::time::timeout(CALL_TIMEOUT, peer.call_tool(request)).await {
        Err(_) => Outcome::Hang,
        Ok(Err(e)) => Outcome::Protocol(e.to_string()),
        Ok(Ok(result)) => Outcome::Result {
            error: result.is_error == Some(true),
            text: result_text(&result),
            headline: result
                .content
                .iter()
                .find_map(|c| c.as_text().map(|t| t.text.clone()))
                .unwrap_or_default(),
        },
    }
}

/// A server process whose stderr is captured.
pub struct Captured {
    pub client: RunningService<RoleClient, ()>,
    stderr: Arc<Mutex<Vec<u8>>>,
    reader: tokio::task::JoinHandle<()>,
}

impl Captured {
    /// Starts `cmd` (a `zhifu-mcp serve` command) with stderr piped into a buffer.
    pub async fn spawn(cmd: tokio::process::Command) -> Captured {
        let (transport, stderr) = TokioChildProcess::builder(cmd)
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn zhifu-mcp");
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let sink = buffer.clone();
        let mut stderr = stderr.expect("stderr is piped");
        let reader = tokio::spawn(async move {
            let mut chunk = [0u8; 8192];
            while let Ok(n) = stderr.read(&mut chunk).await {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().extend_from_slice(&chunk[..n]);
            }
        });
        let client = ().serve(transport).await.expect("MCP initialize");
        Captured {
            client,
            stderr: buffer,
            reader,
        }
    }

    /// Stops the server and returns everything it wrote on stderr.
    pub async fn finish(self) -> String {
        let _ = self.client.cancel().await;
        let _ = tokio::time::timeout(Duration::from_secs(10), self.reader).await;
        String::from_utf8_lossy(&self.stderr.lock().unwrap()).into_owned()
    }
}

impl Harness {
    /// Another `zhifu-mcp serve` process on this harness's sandbox and state dir.
    pub async fn spawn_peer(&self, options: &Options) -> RunningService<RoleClient, ()> {
        Self::spawn_client(&self.sandbox, &self.dir, options).await
    }

    /// Calls a tool on this harness's server with a hang timeout; never panics.
    pub async fn outcome(&self, name: &str, args: &Value) -> Outcome {
        call_peer(self.client.peer(), name, args).await
    }

    /// `/_sandbox/stats`: `requests` (Ping++ `/v1` and Alipay gateway), `by_route`, `in_flight`.
    pub async fn stats(&self) -> Value {
        self.sandbox_get("/_sandbox/stats").await
    }

    /// Requests the sandbox received on one route (`POST /v1/charges`, `alipay.trade.refund`, …).
    pub async fn route_requests(&self, route: &str) -> u64 {
        self.stats().await["by_route"][route].as_u64().unwrap_or(0)
    }

    /// Waits (polling, at most 30 s) until the sandbox is processing no request, so delayed
    /// requests have landed before the ledger is read.
    pub async fn wait_idle(&self) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let stats = self.stats().await;
            if stats["in_flight"] == 0 {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the sandbox still processes requests after 30 s: {stats}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// `/_sandbox/ledger`: money movements booked under `reference`, by kind.
    pub async fn ledger(&self, reference: &str) -> Value {
        let encoded: String = reference
            .bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-' => (b as char).to_string(),
                _ => format!("%{b:02X}"),
            })
            .collect();
        self.sandbox_get(&format!("/_sandbox/ledger?reference={encoded}"))
            .await
    }

    /// Queues one fault on the sandbox.
    pub async fn fault(&self, matcher: &str, fault: &Value) {
        let mut body = fault.clone();
        body["match"] = json!(matcher);
        body["count"] = json!(1);
        self.sandbox_post("/_sandbox/faults", body).await;
    }

    /// Faults queued and not used yet.
    pub async fn pending_faults(&self) -> usize {
        self.sandbox_get("/_sandbox/faults").await["faults"]
            .as_array()
            .map_or(0, Vec::len)
    }

    /// Drops every queued fault.
    pub async fn clear_faults(&self) {
        let r = self
            .http
            .delete(format!("{}/_sandbox/faults", self.sandbox.base_url))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "DELETE /_sandbox/faults");
    }
}

/// Every tool of the generated table (the binary serves the same table).
pub fn tools() -> impl Iterator<Item = &'static ToolDef> {
    zhifu_generated::TOOLS.iter().copied()
}

/// The tool called `name` in the generated table.
pub fn tool(name: &str) -> &'static ToolDef {
    tools()
        .find(|t| t.name == name)
        .unwrap_or_else(|| panic!("{name} is in the tool table"))
}

/// The money-moving tools whose operation goes over the network. Payment links
/// (`Operation::GatewayUrl`) are signed locally and never reach a gateway, so there is no request
/// to fault and nothing for the ledger to count; local operations likewise.
pub fn networked_money_tools() -> Vec<&'static ToolDef> {
    tools()
        .filter(|t| t.effect == zhifu_runtime::tool::Effect::MovesMoney)
        .filter(|t| {
            matches!(
                t.operation,
                Operation::Rest { .. } | Operation::Gateway { .. }
            )
        })
        .collect()
}

/// Whether the tool's validation schema declares `name` as an argument.
pub fn declares(tool: &ToolDef, name: &str) -> bool {
    let schema: Value = serde_json::from_str(tool.validation_schema).expect("schema is JSON");
    schema["properties"].get(name).is_some()
}

/// Ping++ refunds have no merchant reference of their own; the retry key `refund_no` travels in
/// the refund's `metadata`. Once the spec declares the `refund_no` argument it is passed as such;
/// before that, it is put in `metadata` directly, so the sandbox ledger can still find every
/// refund made for this key and double refunds show as such rather than as a schema refusal.
pub fn with_refund_no(tool: &ToolDef, mut args: Value, refund_no: &str) -> Value {
    if declares(tool, "refund_no") {
        args["refund_no"] = json!(refund_no);
    } else {
        args["metadata"] = json!({ "refund_no": refund_no });
    }
    args
}

/// One money-moving call, ready to send: its arguments, the merchant reference it books money
/// under, and the ledger kind that counts it.
#[derive(Debug, Clone)]
pub struct MoneyCall {
    pub args: Value,
    pub reference: String,
    pub kind: &'static str,
}

/// The request line (Ping++) or gateway method (Alipay) that `args` of `tool` go out as: the
/// sandbox's fault matcher and stats route for this one operation.
pub fn request_matcher(h: &Harness, tool: &ToolDef, args: &Value) -> String {
    match tool.operation {
        Operation::Rest { method, path } => {
            let mut line = path.to_string();
            while let Some(open) = line.find('{') {
                let close = line[open..].find('}').expect("closed placeholder") + open;
                let name = &line[open + 1..close];
                let value = match args.get(name).and_then(Value::as_str) {
                    Some(v) => v.to_string(),
                    None if name == "app" => h.sandbox.pingpp.app_id.clone(),
                    None => panic!("{}: no value for {{{name}}} in {args}", tool.name),
                };
                line.replace_range(open..=close, &value);
            }
            format!("{} {line}", method.as_str())
        }
        Operation::Gateway { method } => method.to_string(),
        other => panic!("{}: {other:?} makes no request", tool.name),
    }
}

/// A paid Ping++ charge of ¥100.00 (created through the binary, paid by the sandbox's buyer).
pub async fn paid_charge(h: &Harness) -> String {
    let charge = h
        .ok("create_charge", charge_args(&unique("PRE"), 10_000))
        .await;
    let id = charge["id"].as_str().expect("charge id").to_string();
    h.pay(&id).await;
    id
}

/// A recharge of ¥50.00 (created through the binary; the sandbox pays recharges at once).
pub async fn recharge(h: &Harness) -> String {
    let args = recharge_args(&unique("R"));
    let r = h.ok("create_recharge", args).await;
    r["id"].as_str().expect("recharge id").to_string()
}

/// `create_recharge` arguments for `order_no` (8-20 letters and digits).
pub fn recharge_args(order_no: &str) -> Value {
    json!({
        "user": "adversary_user",
        "order_no": order_no,
        "amount": 5_000,
        "channel": "alipay",
        "subject": "Balance top-up",
        "body": "Recharge for the adversarial tests"
    })
}

/// A paid Alipay trade of ¥10.00 (created through the binary, paid by the sandbox's buyer).
pub async fn paid_trade(h: &Harness) -> String {
    let out_trade_no = unique("PT");
    h.ok("create_trade", trade_args(&out_trade_no)).await;
    h.sandbox_post(
        &format!("/_sandbox/alipay/trades/{out_trade_no}/pay"),
        json!({}),
    )
    .await;
    out_trade_no
}

/// `create_trade` arguments of ¥10.00 for `out_trade_no`.
pub fn trade_args(out_trade_no: &str) -> Value {
    json!({
        "out_trade_no": out_trade_no,
        "total_amount": "10.00",
        "subject": "Adversarial test",
        "buyer_id": "2088102177846880"
    })
}

/// `transfer_fund` arguments of ¥1.00 to a fixed payee.
pub fn transfer_args(out_biz_no: &str) -> Value {
    json!({
        "out_biz_no": out_biz_no,
        "trans_amount": "1.00",
        "payee_identity": "2088123412341234",
        "payee_identity_type": "ALIPAY_USER_ID",
        "order_title": "Adversarial test"
    })
}

/// `create_transfer` arguments: ¥1.00 to a WeChat official-account user.
pub fn pingpp_transfer_args(order_no: &str) -> Value {
    json!({
        "order_no": order_no,
        "channel": "wx_pub",
        "amount": 100,
        "recipient": "o_adversary_payee",
        "description": "Adversarial payout"
    })
}

/// `create_transfer` arguments: ¥2.00 to a bank card through unionpay (`scheduled` for 5
/// minutes, cancellable).
pub fn unionpay_transfer_args() -> Value {
    let digits: String = unique("").chars().rev().take(16).collect();
    json!({
        "order_no": digits,
        "channel": "unionpay",
        "amount": 200,
        "card_number": "6228480402564890011",
        "extra": {"user_name": "张三", "open_bank_code": "0103"},
        "description": "Card payout"
    })
}

/// `create_batch_transfer` arguments: ¥1.00 and ¥2.00 to two Alipay accounts.
pub fn batch_transfer_args(batch_no: &str) -> Value {
    json!({
        "batch_no": batch_no,
        "channel": "alipay",
        "amount": 300,
        "description": "Adversarial batch payout",
        "recipients": [
            {"account": "payee1@example.com", "name": "张三", "amount": 100},
            {"account": "payee2@example.com", "name": "李四", "amount": 200}
        ]
    })
}

/// `create_batch_refund` arguments: `amount` fen from each charge.
pub fn batch_refund_args(batch_no: &str, charges: &[String], amount: i64) -> Value {
    let items: Vec<Value> = charges
        .iter()
        .map(|c| json!({"charge": c, "amount": amount}))
        .collect();
    json!({"batch_no": batch_no, "charges": items, "description": "Adversarial batch refund"})
}

/// `create_red_envelope` arguments of ¥1.00 for `order_no` (digits).
pub fn red_envelope_args(order_no: &str) -> Value {
    json!({
        "order_no": order_no,
        "amount": 100,
        "recipient": "o_adversary_payee",
        "subject": "Thanks",
        "body": "Happy new year",
        "description": "Adversarial red envelope",
        "send_name": "Sandbox shop"
    })
}

/// A paid offline (isv_qr) Ping++ charge of ¥1.00, the kind reverse_charge takes.
pub async fn paid_offline_charge(h: &Harness) -> String {
    let mut args = charge_args(&unique("OFF"), 100);
    args["channel"] = json!("isv_qr");
    args["extra"] = json!({"pay_channel": "alipay", "terminal_id": "T0001"});
    let charge = h.ok("create_charge", args).await;
    let id = charge["id"].as_str().expect("charge id").to_string();
    h.pay(&id).await;
    id
}

/// The call to make of a money-moving tool, after creating what it needs (a paid charge to
/// refund, a recharge, a paid trade) through the binary and the sandbox. `None`: no builder for
/// this tool yet — the callers fail on that, so a new money-moving tool cannot be missed.
pub async fn money_call(h: &Harness, tool: &ToolDef) -> Option<MoneyCall> {
    let call = |args: Value, reference: String, kind| MoneyCall {
        args,
        reference,
        kind,
    };
    Some(match tool.name {
        "create_charge" => {
            let order_no = unique("FC");
            call(charge_args(&order_no, 100), order_no, "pingpp_charge")
        }
        "create_refund" => {
            let charge_id = paid_charge(h).await;
            let refund_no = unique("RN");
            let args =
                json!({"charge_id": charge_id, "description": "Adversarial refund", "amount": 100});
            let args = with_refund_no(tool, args, &refund_no);
            call(args, refund_no, "pingpp_refund")
        }
        "create_recharge" => {
            let order_no = unique("FR");
            call(recharge_args(&order_no), order_no, "pingpp_recharge")
        }
        "create_recharge_refund" => {
            let recharge_id = recharge(h).await;
            let refund_no = unique("RRN");
            let args = json!({"recharge_id": recharge_id, "description": "Adversarial refund"});
            let args = with_refund_no(tool, args, &refund_no);
            call(args, refund_no, "pingpp_recharge_refund")
        }
        "create_trade" => {
            let no = unique("FT");
            call(trade_args(&no), no, "alipay_trade")
        }
        "precreate_trade" => {
            let no = unique("FP");
            let args = json!({"out_trade_no": no, "total_amount": "3.00", "subject": "QR test"});
            call(args, no, "alipay_trade")
        }
        "refund_trade" => {
            let out_trade_no = paid_trade(h).await;
            let out_request_no = unique("RQ");
            let args = json!({
                "out_trade_no": out_trade_no,
                "refund_amount": "1.00",
                "out_request_no": out_request_no,
                "refund_reason": "Adversarial refund"
            });
            call(args, out_request_no, "alipay_refund")
        }
        "cancel_trade" => {
            let out_trade_no = paid_trade(h).await;
            let args = json!({"out_trade_no": out_trade_no});
            call(args, out_trade_no, "alipay_cancel_refund")
        }
        "transfer_fund" => {
            let no = unique("FX");
            call(transfer_args(&no), no, "alipay_transfer")
        }
        "create_transfer" => {
            let no = unique("TR");
            call(pingpp_transfer_args(&no), no, "pingpp_transfer")
        }
        "create_batch_transfer" => {
            let no = unique("BATCHT");
            call(batch_transfer_args(&no), no, "pingpp_batch_transfer")
        }
        "create_batch_refund" => {
            let charges = [paid_charge(h).await, paid_charge(h).await];
            let no = unique("BR");
            call(
                batch_refund_args(&no, &charges, 100),
                no,
                "pingpp_batch_refund",
            )
        }
        "create_red_envelope" => {
            let no = unique("9");
            call(red_envelope_args(&no), no, "pingpp_red_envelope")
        }
        "reverse_charge" => {
            let charge_id = paid_offline_charge(h).await;
            let args = json!({"charge_id": charge_id});
            call(args, charge_id, "pingpp_charge_reversal")
        }
        _ => return None,
    })
}
