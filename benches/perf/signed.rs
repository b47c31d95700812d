//! Signed gateway calls against their floor: `query_trade` (Alipay: a signed request, a signed
//! answer) and `retrieve_charge` (Ping++: a signed request) through the server on the embedded
//! sandbox, against what no server can avoid for the same call, measured in the same rounds:
//!
//! floor = a trivial `tools/call` round trip on the same server (the MCP part)
//!       + the bare gateway exchange (the part on the wire): the runtime's provider code alone
//!         builds and signs the same request, sends it with the same HTTP client over a kept-alive
//!         loopback connection to an embedded sandbox in this process (which checks the request
//!         signature and signs its answer), and verifies and reads the answer.
//!
//! What the ratio call ÷ floor shows is the server's own cost around the exchange: validation,
//! policy, the engine, building the result and its summary, and writing it back over stdio.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};
use zhifu_runtime::config::{AlipayConfig, AlipayEnv, PingppConfig, Secret};
use zhifu_runtime::http::Http;
use zhifu_runtime::keys;
use zhifu_runtime::providers::{Outgoing, Protocol};
use zhifu_runtime::tool::ToolDef;

use super::peers::cpu_time;
use super::{
    Row, Server, bogus_webhook, env_usize, fmt_duration, is_tool_error, percentile, time_row,
    value_row,
};

fn tool(name: &str) -> &'static ToolDef {
    zhifu_generated::TOOLS
        .iter()
        .copied()
        .find(|t| t.name == name)
        .unwrap_or_else(|| panic!("no tool {name}"))
}

fn args(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => unreachable!(),
    }
}

/// The gateway exchange alone: request (signed), HTTP, interpret (verified).
async fn exchange(
    http: &Http,
    protocol: &dyn Protocol,
    tool: &ToolDef,
    args: &Map<String, Value>,
) -> Value {
    let now = zhifu_runtime::time::unix_now();
    let Outgoing::Send(request) = protocol.request(tool, args, now).expect("request") else {
        panic!("{} answered without a request", tool.name)
    };
    let response = http
        .send(
            request.method,
            &request.url,
            &request.headers,
            request.body.as_deref(),
        )
        .await
        .expect("the sandbox answered");
    protocol
        .interpret(tool, &response)
        .unwrap_or_else(|e| panic!("{} failed: {e:?}", tool.name))
}

/// A sandbox in this process and the two provider configurations pointing at it.
struct Floor {
    runtime: tokio::runtime::Runtime,
    http: Http,
    pingpp: PingppConfig,
    alipay: AlipayConfig,
    _sandbox: zhifu_sandbox::Sandbox,
}

impl Floor {
    fn start() -> Floor {
        // Like the server's: two workers.
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let sandbox = runtime
            .block_on(zhifu_sandbox::start(
                SocketAddr::from(([127, 0, 0, 1], 0)),
                zhifu_sandbox::SandboxOptions {
                    auto_pay: true,
                    ..Default::default()
                },
            ))
            .expect("start a sandbox");
        let p = &sandbox.pingpp;
        let pingpp = PingppConfig {
            api_key: Secret::new(p.api_key.clone()),
            app_id: Some(p.app_id.clone()),
            private_key: Some(
                keys::private_key_from_text(&p.merchant_private_key_pem, "floor").unwrap(),
            ),
            public_key: Some(
                keys::public_key_from_text(&p.pingpp_public_key_pem, "floor").unwrap(),
            ),
            api_base: sandbox.base_url.clone(),
        };
        let a = &sandbox.alipay;
        let alipay = AlipayConfig {
            app_id: a.app_id.clone(),
            private_key: keys::private_key_from_text(&a.app_private_key_pem, "floor").unwrap(),
            alipay_public_key: keys::public_key_from_text(&a.alipay_public_key_pem, "floor")
                .unwrap(),
            cert: None,
            gateway: a.gateway_url.clone(),
            env: AlipayEnv::Sandbox,
            notify_url: None,
            return_url: None,
            app_auth_token: None,
        };
        Floor {
            runtime,
            http: Http::new(),
            pingpp,
            alipay,
            _sandbox: sandbox,
        }
    }

    fn run(
        &self,
        protocol: &dyn Protocol,
        tool: &ToolDef,
        args: &Map<String, Value>,
    ) -> (Duration, Value) {
        self.runtime.block_on(async {
            let t = Instant::now();
            let v = exchange(&self.http, protocol, tool, args).await;
            (t.elapsed(), v)
        })
    }
}

fn trade_args(no: &str) -> Value {
    json!({"out_trade_no": no, "total_amount": "15.50", "subject": "Bench order", "buyer_id": "2088102146225135"})
}

pub fn bench_signed(rows: &mut Vec<Row>, ratios: &mut Vec<(String, f64)>) {
    let rounds = env_usize("PERF_PEER_ROUNDS", 3);
    let n = env_usize("PERF_SIGNED_CALLS", 200);
    println!(
        "signed calls: {rounds} rounds of {n} calls each of query_trade, retrieve_charge and the trivial call, and {n} bare exchanges of each"
    );

    let floor = Floor::start();
    let no = format!("floor{}", std::process::id());
    floor.run(&floor.alipay, tool("create_trade"), &args(trade_args(&no)));
    let (_, charge) = floor.run(
        &floor.pingpp,
        tool("create_charge"),
        &args(json!({
            "order_no": no, "app": floor.pingpp.app_id.clone().unwrap(), "channel": "alipay",
            "amount": 1550, "currency": "cny", "client_ip": "127.0.0.1",
            "subject": "Bench order", "body": "A benchmark charge",
        })),
    );
    let floor_query = args(json!({"out_trade_no": no}));
    let floor_charge = args(json!({"charge_id": charge["id"].as_str().expect("charge id")}));

    let (mut server, _) = Server::spawn(&["serve"], &[]);
    server.initialize();
    for _ in 0..50 {
        server.call("verify_webhook", bogus_webhook());
    }
    let (_, reply) = server.call("create_trade", trade_args(&no));
    assert!(!is_tool_error(&reply), "create_trade failed: {reply}");
    let (_, reply) = server.call(
        "create_charge",
        json!({"order_no": no, "channel": "alipay", "amount": 1550, "subject": "Bench order", "body": "A benchmark charge"}),
    );
    assert!(!is_tool_error(&reply), "create_charge failed: {reply}");
    let charge_id = reply["result"]["structuredContent"]["id"]
        .as_str()
        .expect("charge id in the result")
        .to_owned();

    // Wall-clock samples, and CPU time per call (user + system, all threads): the server's for
    // the calls, this process's (client and sandbox) for the bare exchanges.
    let mut trivial = Vec::new();
    let mut query = Vec::new();
    let mut retrieve = Vec::new();
    let mut bare_query = Vec::new();
    let mut bare_retrieve = Vec::new();
    let mut cpu = [Duration::ZERO; 5];
    let pid = server.child.id();
    let me = std::process::id();
    let mut timed = |slot: usize, pid: u32, f: &mut dyn FnMut()| {
        let before = cpu_time(pid);
        f();
        cpu[slot] += cpu_time(pid) - before;
    };
    for round in 0..rounds {
        let server_first = round.is_multiple_of(2);
        for side in [server_first, !server_first] {
            if side {
                timed(0, pid, &mut || {
                    for _ in 0..n {
                        trivial.push(server.call("verify_webhook", bogus_webhook()).0);
                    }
                });
                timed(1, pid, &mut || {
                    for _ in 0..n {
                        let (rt, reply) = server.call("query_trade", json!({"out_trade_no": no}));
                        assert!(!is_tool_error(&reply), "query_trade failed: {reply}");
                        query.push(rt);
                    }
                });
                timed(2, pid, &mut || {
                    for _ in 0..n {
                        let (rt, reply) =
                            server.call("retrieve_charge", json!({"charge_id": charge_id}));
                        assert!(!is_tool_error(&reply), "retrieve_charge failed: {reply}");
                        retrieve.push(rt);
                    }
                });
            } else {
                timed(3, me, &mut || {
                    for _ in 0..n {
                        bare_query.push(
                            floor
                                .run(&floor.alipay, tool("query_trade"), &floor_query)
                                .0,
                        );
                    }
                });
                timed(4, me, &mut || {
                    for _ in 0..n {
                        bare_retrieve.push(
                            floor
                                .run(&floor.pingpp, tool("retrieve_charge"), &floor_charge)
                                .0,
                        );
                    }
                });
            }
        }
    }
    let per_call = |d: Duration| d / (rounds * n).max(1) as u32;
    let cpu = cpu.map(per_call);
    server.stop();

    let trivial_m = time_row(
        rows,
        "signed: trivial tools/call on the same server",
        &mut trivial,
    );
    let bq = time_row(
        rows,
        "signed: bare exchange alipay.trade.query (sign, HTTP, verify)",
        &mut bare_query,
    );
    let br = time_row(
        rows,
        "signed: bare exchange GET /v1/charges/{id} (sign, HTTP)",
        &mut bare_retrieve,
    );
    let q = time_row(
        rows,
        "signed: tools/call query_trade (embedded sandbox)",
        &mut query,
    );
    let r = time_row(
        rows,
        "signed: tools/call retrieve_charge (embedded sandbox)",
        &mut retrieve,
    );
    for (name, call, bare, samples, cpu_call, cpu_bare) in [
        ("query_trade", q, bq, &mut query, cpu[1], cpu[3]),
        ("retrieve_charge", r, br, &mut retrieve, cpu[2], cpu[4]),
    ] {
        let floor = trivial_m + bare;
        let ratio = call.as_secs_f64() / floor.as_secs_f64();
        let cpu_floor = cpu[0] + cpu_bare;
        let cpu_ratio = cpu_call.as_secs_f64() / cpu_floor.as_secs_f64();
        let p99 = percentile(samples, 0.99);
        value_row(
            rows,
            &format!("signed: {name} ÷ floor (target ≤ 1.2×)"),
            format!(
                "{ratio:.2}× ({} ÷ ({} + {}); p99 {}); CPU {cpu_ratio:.2}× ({} ÷ ({} + {}))",
                fmt_duration(call),
                fmt_duration(trivial_m),
                fmt_duration(bare),
                fmt_duration(p99),
                fmt_duration(cpu_call),
                fmt_duration(cpu[0]),
                fmt_duration(cpu_bare),
            ),
        );
        ratios.push((format!("{name} ÷ floor, wall-clock median"), ratio));
        ratios.push((format!("{name} ÷ floor, CPU per call"), cpu_ratio));
    }
}
