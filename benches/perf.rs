//! Performance benchmark of zhifu-mcp: request signing, start-up to the first `tools/list`, the
//! round trip of a trivial `tools/call`, and peak memory; see docs/PERFORMANCE.md for the method
//! and the recorded results.
//!
//! Run with `cargo bench --bench perf`. Cargo builds the `zhifu-mcp` binary with the bench
//! profile (= release) first and passes its path in `CARGO_BIN_EXE_zhifu-mcp`; set
//! `ZHIFU_BENCH_BIN` to measure another binary. Free arguments pick sections (`sign`, `startup`,
//! `calls`, `memory`, `peers`, `signed`); with none, all run. Sizes: `PERF_SIGN_ITERS` (default 300),
//! `PERF_SPAWNS` (20), `PERF_CALLS` (2000); `PERF_NO_OPENSSL=1` skips `openssl speed`.
//!
//! Timings are medians (with p95 and min) over many runs, never pass/fail assertions: the reference
//! machine has two cores and is noisy.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use zhifu_runtime::keys::private_key_from_text;

#[path = "perf/peers.rs"]
mod peers;
#[path = "perf/signed.rs"]
mod signed;
use zhifu_runtime::signing::{alipay, pingpp, rsa_sha256_sign};

const SHARED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared");
const PROTOCOL_VERSION: &str = "2025-11-25";
const REPLY_TIMEOUT: Duration = Duration::from_secs(60);

fn main() {
    // `cargo bench` passes `--bench`; every other free argument selects a section.
    let sections: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let wants = |name: &str| sections.is_empty() || sections.iter().any(|s| s == name);
    let mut rows = Vec::new();
    print_machine();
    if wants("sign") {
        bench_signing(&mut rows);
    }
    if wants("startup") {
        bench_startup(&mut rows);
    }
    if wants("calls") {
        bench_calls(&mut rows);
    }
    if wants("memory") {
        bench_memory(&mut rows);
    }
    let mut pairs = Vec::new();
    if wants("peers") {
        peers::bench_peers(&mut pairs);
    }
    let mut ratios = Vec::new();
    if wants("signed") {
        signed::bench_signed(&mut rows, &mut ratios);
    }
    println!();
    println!("| measurement | median | p95 | min | n |");
    println!("| --- | ---: | ---: | ---: | ---: |");
    for row in &rows {
        println!("{row}");
    }
    peers::print_pairs(&pairs);
    if !ratios.is_empty() {
        println!();
        for (name, ratio) in &ratios {
            println!("{name}: {ratio:.2}×");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Statistics and printing

struct Row {
    name: String,
    median: String,
    p95: String,
    min: String,
    n: usize,
}

impl std::fmt::Display for Row {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "| {} | {} | {} | {} | {} |",
            self.name, self.median, self.p95, self.min, self.n
        )
    }
}

/// Median, 95th percentile (nearest rank) and minimum of `samples`.
fn summary(samples: &mut [Duration]) -> (Duration, Duration, Duration) {
    assert!(!samples.is_empty(), "no samples");
    samples.sort_unstable();
    let n = samples.len();
    let median = if n % 2 == 1 {
        samples[n / 2]
    } else {
        (samples[n / 2 - 1] + samples[n / 2]) / 2
    };
    let rank = (n * 95).div_ceil(100).max(1);
    (median, samples[rank - 1], samples[0])
}

/// The `q` quantile (0 < q ≤ 1, nearest rank) of `samples`.
fn percentile(samples: &mut [Duration], q: f64) -> Duration {
    assert!(!samples.is_empty(), "no samples");
    samples.sort_unstable();
    let rank = ((samples.len() as f64 * q).ceil() as usize).clamp(1, samples.len());
    samples[rank - 1]
}

fn fmt_duration(d: Duration) -> String {
    let us = d.as_secs_f64() * 1e6;
    if us >= 10_000.0 {
        format!("{:.1} ms", us / 1000.0)
    } else if us >= 1000.0 {
        format!("{:.2} ms", us / 1000.0)
    } else {
        format!("{us:.1} µs")
    }
}

fn time_row(rows: &mut Vec<Row>, name: &str, samples: &mut [Duration]) -> Duration {
    let (median, p95, min) = summary(samples);
    println!(
        "{name}: median {}, p95 {}, min {}, n {}",
        fmt_duration(median),
        fmt_duration(p95),
        fmt_duration(min),
        samples.len()
    );
    rows.push(Row {
        name: name.to_owned(),
        median: fmt_duration(median),
        p95: fmt_duration(p95),
        min: fmt_duration(min),
        n: samples.len(),
    });
    median
}

fn value_row(rows: &mut Vec<Row>, name: &str, value: String) {
    println!("{name}: {value}");
    rows.push(Row {
        name: name.to_owned(),
        median: value,
        p95: "—".to_owned(),
        min: "—".to_owned(),
        n: 1,
    });
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn print_machine() {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".to_owned());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    // Other work on a two-core machine moves every figure: print the load next to them.
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load: Vec<&str> = load.split_whitespace().take(3).collect();
    println!(
        "machine: {cores} cores available, CPU {cpu}, load average {}",
        load.join(" ")
    );
}

// ---------------------------------------------------------------------------------------------
// 1. Signing

fn bench_signing(rows: &mut Vec<Row>) {
    let iters = env_usize("PERF_SIGN_ITERS", 300);
    let pem = std::fs::read_to_string(format!("{SHARED}/vectors/alipay/keys/app-private-key.pem"))
        .expect("read the Alipay app private key vector");
    let key = private_key_from_text(&pem, "bench").expect("parse the app private key");

    // A typical alipay.trade.create request (385 bytes of sign content).
    let biz = json!({
        "out_trade_no": "ZHIFU20260101120000000001",
        "total_amount": "15.50",
        "subject": "Bench order 测试订单",
        "product_code": "JSAPI_PAY",
        "buyer_id": "2088102146225135",
        "timeout_express": "30m",
    })
    .to_string();
    let params: Vec<(&str, &str)> = vec![
        ("app_id", "2021000122600000"),
        ("method", "alipay.trade.create"),
        ("format", "JSON"),
        ("charset", "utf-8"),
        ("sign_type", "RSA2"),
        ("timestamp", "2026-01-01 12:00:00"),
        ("version", "1.0"),
        ("notify_url", "https://merchant.example.com/alipay/notify"),
        ("biz_content", &biz),
    ];
    let content = alipay::sign_content(params.iter().copied());
    // A typical Ping++ POST /v1/charges.
    let body = json!({
        "order_no": "ZHIFU20260101120000000001",
        "app": {"id": "app_1Gqj58ynP0mHeX1q"},
        "channel": "alipay",
        "amount": 1550,
        "currency": "cny",
        "client_ip": "127.0.0.1",
        "subject": "Bench order",
        "body": "A benchmark charge of 15.50 yuan",
    })
    .to_string();
    let string_to_sign = pingpp::string_to_sign(body.as_bytes(), "/v1/charges", 1_767_240_000);
    println!(
        "signing: 2048-bit key, Alipay sign content {} bytes, Ping++ string_to_sign {} bytes, {iters} iterations each",
        content.len(),
        string_to_sign.len()
    );

    let mut run = |name: &str, op: &dyn Fn() -> String| -> Duration {
        for _ in 0..10 {
            std::hint::black_box(op());
        }
        let mut samples: Vec<Duration> = (0..iters)
            .map(|_| {
                let t = Instant::now();
                std::hint::black_box(op());
                t.elapsed()
            })
            .collect();
        time_row(rows, name, &mut samples)
    };
    let ours = run("rsa_sha256_sign, Alipay sign content", &|| {
        rsa_sha256_sign(&key, content.as_bytes())
    });
    run("rsa_sha256_sign, Ping++ string_to_sign", &|| {
        rsa_sha256_sign(&key, &string_to_sign)
    });
    run("alipay::sign_params (sort, join, sign)", &|| {
        alipay::sign_params(&key, params.iter().copied())
    });
    run("pingpp::sign_request (concat, sign)", &|| {
        pingpp::sign_request(&key, body.as_bytes(), "/v1/charges", 1_767_240_000)
    });

    if std::env::var_os("PERF_NO_OPENSSL").is_some() {
        return;
    }
    match openssl_sign_time() {
        Some((version, per_sign)) => {
            value_row(
                rows,
                &format!("OpenSSL sign, `openssl speed -seconds 3 rsa2048` ({version})"),
                fmt_duration(per_sign),
            );
            value_row(
                rows,
                "ratio rsa_sha256_sign / OpenSSL (target ≤ 1.2×)",
                format!("{:.2}×", ours.as_secs_f64() / per_sign.as_secs_f64()),
            );
        }
        None => println!("openssl: not available or output not understood; no ratio"),
    }
}

/// Runs `openssl speed -seconds 3 rsa2048` and returns the version and the time per sign.
fn openssl_sign_time() -> Option<(String, Duration)> {
    let version = Command::new("openssl").arg("version").output().ok()?;
    let version = String::from_utf8_lossy(&version.stdout)
        .split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ");
    let out = Command::new("openssl")
        .args(["speed", "-seconds", "3", "rsa2048"])
        .stderr(Stdio::null())
        .output()
        .ok()?;
    // "rsa 2048 bits 0.000716s 0.000021s   1396.6  47619.0": sign, verify, sign/s, verify/s.
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.trim_start().starts_with("rsa") && l.contains("2048 bits"))?;
    let fields: Vec<&str> = line.split_whitespace().collect();
    let signs_per_s: f64 = fields.get(5)?.parse().ok()?;
    (signs_per_s > 0.0).then(|| (version, Duration::from_secs_f64(1.0 / signs_per_s)))
}

// ---------------------------------------------------------------------------------------------
// The server under test, driven over raw JSON-RPC lines on stdio

fn binary() -> PathBuf {
    std::env::var_os("ZHIFU_BENCH_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_zhifu-mcp")))
}

/// `zhifu-mcp ARGS` (behind `prefix`, e.g. `taskset -c 0`) with `envs`, no inherited
/// PINGPP_/ALIPAY_/ZHIFU_/RUST_LOG settings and a fresh state directory, which it returns.
fn zhifu_command(
    prefix: Option<&[&str]>,
    args: &[&str],
    envs: &[(String, String)],
) -> (Command, PathBuf) {
    static SEQ: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let seq = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let state_dir = std::env::temp_dir().join(format!("zhifu-perf-{}-{seq}", std::process::id()));
    let mut cmd = match prefix {
        Some([program, rest @ ..]) => {
            let mut cmd = Command::new(program);
            cmd.args(rest).arg(binary());
            cmd
        }
        _ => Command::new(binary()),
    };
    cmd.args(args);
    for (name, _) in std::env::vars() {
        if ["PINGPP_", "ALIPAY_", "ZHIFU_", "RUST_LOG"]
            .iter()
            .any(|p| name.starts_with(p))
        {
            cmd.env_remove(name);
        }
    }
    cmd.env("ZHIFU_STATE_DIR", &state_dir);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    (cmd, state_dir)
}

struct Server {
    child: Child,
    stdin: ChildStdin,
    /// Lines from stdout, stamped when the reader thread got them.
    lines: Receiver<(Instant, String)>,
    state_dir: Option<PathBuf>,
    next_id: u64,
}

impl Server {
    /// Spawns `zhifu-mcp serve` with `envs` and no inherited PINGPP_/ALIPAY_/ZHIFU_ settings.
    fn spawn(args: &[&str], envs: &[(String, String)]) -> (Server, Instant) {
        let (cmd, state_dir) = zhifu_command(None, args, envs);
        Server::start(cmd, Some(state_dir))
    }

    /// Spawns `cmd` with piped stdio and a thread that stamps each stdout line as it arrives.
    fn start(mut cmd: Command, state_dir: Option<PathBuf>) -> (Server, Instant) {
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let started = Instant::now();
        let mut child = cmd.spawn().expect("spawn the process under test");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            loop {
                let mut line = String::new();
                match reader.read_line(&mut line) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        if tx.send((Instant::now(), line)).is_err() {
                            break;
                        }
                    }
                }
            }
        });
        let server = Server {
            child,
            stdin,
            lines,
            state_dir,
            next_id: 1,
        };
        (server, started)
    }

    fn send(&mut self, message: &Value) {
        let mut line = serde_json::to_vec(message).expect("serialise");
        line.push(b'\n');
        self.stdin.write_all(&line).expect("write to the server");
    }

    /// Sends a request and returns (the time its response line arrived, the response).
    fn request(&mut self, method: &str, params: Value) -> (Instant, Value) {
        let id = self.next_id;
        self.next_id += 1;
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        loop {
            let (at, line) = match self.lines.recv_timeout(REPLY_TIMEOUT) {
                Ok(got) => got,
                Err(RecvTimeoutError::Timeout) => panic!("no reply to {method} within 60 s"),
                Err(RecvTimeoutError::Disconnected) => {
                    panic!("the server closed stdout before answering {method}")
                }
            };
            let Ok(message) = serde_json::from_str::<Value>(&line) else {
                continue;
            };
            if message.get("id").and_then(Value::as_u64) == Some(id) {
                assert!(message.get("error").is_none(), "{method} failed: {message}");
                return (at, message);
            }
        }
    }

    /// Round trip of one request, timed from just before the write.
    fn timed(&mut self, method: &str, params: Value) -> (Duration, Value) {
        let t = Instant::now();
        let (at, reply) = self.request(method, params);
        (at - t, reply)
    }

    fn initialize(&mut self) -> Instant {
        let (at, _) = self.request(
            "initialize",
            json!({
                "protocolVersion": PROTOCOL_VERSION,
                "capabilities": {},
                "clientInfo": {"name": "zhifu-perf", "version": "0"},
            }),
        );
        self.send(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
        at
    }

    fn call(&mut self, tool: &str, arguments: Value) -> (Duration, Value) {
        self.timed("tools/call", json!({"name": tool, "arguments": arguments}))
    }

    /// VmHWM, VmRSS, RssAnon and RssFile in KiB from /proc/<pid>/status.
    fn memory_kib(&self) -> [u64; 4] {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("read /proc/<pid>/status");
        let field = |name: &str| {
            status
                .lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        };
        [
            field("VmHWM:"),
            field("VmRSS:"),
            field("RssAnon:"),
            field("RssFile:"),
        ]
    }

    /// Closes stdin, gives the server a moment to exit on EOF, then kills it.
    fn stop(self) {
        let Server {
            mut child,
            stdin,
            state_dir,
            ..
        } = self;
        drop(stdin);
        let deadline = Instant::now() + Duration::from_secs(2);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = child.kill();
        let _ = child.wait();
        if let Some(dir) = state_dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

fn is_tool_error(reply: &Value) -> bool {
    reply["result"]["isError"].as_bool() == Some(true)
}

/// A tiny body and a well-formed but wrong signature: verified locally, `valid: false`.
fn bogus_webhook() -> Value {
    json!({"body": "{\"id\":\"evt_1\"}", "signature": "AAAA"})
}

// ---------------------------------------------------------------------------------------------
// 2. Start-up

fn bench_startup(rows: &mut Vec<Row>) {
    let spawns = env_usize("PERF_SPAWNS", 20);
    println!(
        "start-up: {spawns} spawns of `{} serve` with the embedded sandbox",
        binary().display()
    );
    let mut to_init = Vec::new();
    let mut to_list = Vec::new();
    let mut to_call = Vec::new();
    for _ in 0..spawns {
        let (mut server, started) = Server::spawn(&["serve"], &[]);
        to_init.push(server.initialize() - started);
        let (at, reply) = server.request("tools/list", json!({}));
        to_list.push(at - started);
        assert!(
            reply["result"]["tools"]
                .as_array()
                .is_some_and(|t| !t.is_empty()),
            "tools/list returned no tools"
        );
        let (at, _) = server.request(
            "tools/call",
            json!({"name": "verify_webhook", "arguments": bogus_webhook()}),
        );
        to_call.push(at - started);
        server.stop();
    }
    time_row(rows, "spawn → initialize response", &mut to_init);
    time_row(
        rows,
        "spawn → first tools/list response (target ≤ 20 ms)",
        &mut to_list,
    );
    time_row(
        rows,
        "spawn → first local tools/call response (waits for the sandbox keys)",
        &mut to_call,
    );
}

// ---------------------------------------------------------------------------------------------
// 3. Trivial call round trip (and the memory of that server)

fn bench_calls(rows: &mut Vec<Row>) {
    let calls = env_usize("PERF_CALLS", 2000);
    println!("round trip: {calls} sequential calls of each kind in one server");
    let (mut server, _) = Server::spawn(&["serve"], &[]);
    server.initialize();
    server.request("tools/list", json!({}));
    // The first call waits for the embedded sandbox to come up; warm up past it.
    for _ in 0..50 {
        server.call("verify_webhook", bogus_webhook());
        server.call("list_charges", json!({"limit": 0}));
    }

    let mut local = Vec::with_capacity(calls);
    for _ in 0..calls {
        let (rt, reply) = server.call("verify_webhook", bogus_webhook());
        debug_assert!(reply["result"]["structuredContent"]["valid"] == json!(false));
        local.push(rt);
    }
    let mut refused = Vec::with_capacity(calls);
    for _ in 0..calls {
        let (rt, reply) = server.call("list_charges", json!({"limit": 0}));
        assert!(is_tool_error(&reply), "limit 0 was not refused: {reply}");
        refused.push(rt);
    }
    // The floor of this harness: the same line round trip through `cat` (two pipes, two wake-ups).
    if let Ok(cat) = Command::new("cat").stdin(Stdio::null()).output()
        && cat.status.success()
    {
        let (mut echo, _) = Server::start(Command::new("cat"), None);
        let mut floor: Vec<Duration> = (0..calls)
            .map(|_| echo.timed("tools/call", bogus_webhook()).0)
            .collect();
        echo.stop();
        time_row(
            rows,
            "harness floor: the same request echoed by `cat`",
            &mut floor,
        );
    }
    let mut listed = Vec::with_capacity(calls / 10);
    for _ in 0..calls / 10 {
        listed.push(server.timed("tools/list", json!({})).0);
    }
    time_row(
        rows,
        "tools/call verify_webhook, bogus signature (local; target ≤ 100 µs)",
        &mut local,
    );
    time_row(
        rows,
        "tools/call list_charges limit 0 (refused by validation)",
        &mut refused,
    );
    time_row(rows, "tools/list (warm)", &mut listed);
    memory_row(
        rows,
        &format!(
            "peak RSS (VmHWM) after {} local calls (target ≤ 15 MiB)",
            2 * calls
        ),
        &server,
    );
    server.stop();
}

fn memory_row(rows: &mut Vec<Row>, name: &str, server: &Server) {
    let mib = |kib: u64| kib as f64 / 1024.0;
    let [hwm, rss, anon, file] = server.memory_kib();
    value_row(
        rows,
        name,
        format!(
            "{:.1} MiB (now {:.1} MiB: {:.1} anonymous + {:.1} file-backed)",
            mib(hwm),
            mib(rss),
            mib(anon),
            mib(file)
        ),
    );
}

// ---------------------------------------------------------------------------------------------
// 4. Memory after real sandbox calls

fn sandbox_calls(server: &mut Server, rows: &mut Vec<Row>, label: &str, alipay: bool) {
    let n = 50;
    let mut list = Vec::with_capacity(n);
    for _ in 0..n {
        let (rt, reply) = server.call("list_charges", json!({"limit": 10}));
        assert!(!is_tool_error(&reply), "list_charges failed: {reply}");
        list.push(rt);
    }
    let mut create = Vec::with_capacity(n);
    for i in 0..n {
        let (rt, reply) = if alipay {
            server.call(
                "create_trade",
                json!({
                    "out_trade_no": format!("perf{}x{i}", std::process::id()),
                    "total_amount": "15.50",
                    "subject": "Bench order",
                    "buyer_id": "2088102146225135",
                }),
            )
        } else {
            server.call(
                "create_charge",
                json!({
                    "order_no": format!("perf{}x{i}", std::process::id()),
                    "channel": "alipay",
                    "amount": 1550,
                    "subject": "Bench order",
                    "body": "A benchmark charge",
                }),
            )
        };
        assert!(!is_tool_error(&reply), "create call failed: {reply}");
        create.push(rt);
    }
    time_row(
        rows,
        &format!("{label}: tools/call list_charges (signed GET over loopback)"),
        &mut list,
    );
    let what = if alipay {
        "create_trade (RSA2 request + signed response)"
    } else {
        "create_charge (signed POST, idempotency record)"
    };
    time_row(rows, &format!("{label}: tools/call {what}"), &mut create);
    memory_row(
        rows,
        &format!("{label}: peak RSS (VmHWM) after {} gateway calls", 2 * n),
        server,
    );
}

/// How many of the functions packaging/code-order.txt lists the binary has (build.rs has the
/// linker place them together; names go stale when dependencies change — scripts/code-order.py
/// writes the list again). `None` without `nm`.
fn code_order_coverage() -> Option<(usize, usize)> {
    let list = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/packaging/code-order.txt"
    ))
    .ok()?;
    let nm = Command::new("nm").arg(binary()).output().ok()?;
    let symbols: std::collections::HashSet<&str> = std::str::from_utf8(&nm.stdout)
        .ok()?
        .lines()
        .filter_map(|l| l.split_whitespace().nth(2))
        .collect();
    let listed: Vec<&str> = list.lines().filter(|l| !l.is_empty()).collect();
    let found = listed.iter().filter(|n| symbols.contains(*n)).count();
    Some((found, listed.len()))
}

fn bench_memory(rows: &mut Vec<Row>) {
    println!("memory: real calls to the embedded sandbox, then to an out-of-process sandbox");
    value_row(
        rows,
        "functions of packaging/code-order.txt in the binary (stripped: not countable)",
        match code_order_coverage() {
            Some((found, listed)) => format!("{found} of {listed}"),
            None => "nm not found".into(),
        },
    );
    let (mut server, _) = Server::spawn(&["serve"], &[]);
    server.initialize();
    sandbox_calls(&mut server, rows, "embedded sandbox", true);
    server.stop();

    // The server alone: Ping++ credentials pointing at `zhifu-mcp sandbox` in another process,
    // so the sandbox's own keys, state and HTTP server are not counted.
    let keys_dir = std::env::temp_dir().join(format!("zhifu-perf-keys-{}", std::process::id()));
    let mut sandbox = Command::new(binary())
        .args(["sandbox", "--listen", "127.0.0.1:0", "--keys-dir"])
        .arg(&keys_dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn zhifu-mcp sandbox");
    let mut envs = Vec::new();
    let mut reader = BufReader::new(sandbox.stdout.take().expect("stdout"));
    while envs.len() < 5 {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            break;
        }
        if let Some((k, v)) = line.trim().split_once('=') {
            envs.push((k.to_owned(), v.to_owned()));
        }
    }
    if envs.len() == 5 {
        let (mut server, _) = Server::spawn(&["serve"], &envs);
        server.initialize();
        sandbox_calls(
            &mut server,
            rows,
            "server alone (Ping++ creds, sandbox out of process)",
            false,
        );
        server.stop();
    } else {
        println!("memory: `zhifu-mcp sandbox` did not print its settings; skipped");
    }
    let _ = sandbox.kill();
    let _ = sandbox.wait();
    let _ = std::fs::remove_dir_all(keys_dir);
}
