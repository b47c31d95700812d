//! Side by side with a peer: zhifu-mcp and a one-tool server on the official TypeScript MCP SDK
//! (`peer-server.mjs`, the SDK version clients/package-lock.json pins, installed with `npm ci` into
//! `target/perf-peer/`), driven by the same code, interleaved round by round: cold start, stdio
//! round trip, peak RSS, and Streamable HTTP (stateless and with sessions) under `wrk` at 1 and
//! 10 connections, the server pinned to core 0 and `wrk` to core 1. Prints every figure as
//! zhifu ÷ Node. Without `node`/`npm` (or without `wrk` for the HTTP part) it says so and skips.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::channel;
use std::time::{Duration, Instant};

use serde_json::json;

use super::{
    PROTOCOL_VERSION, Server, bogus_webhook, env_usize, fmt_duration, percentile, zhifu_command,
};

/// The two servers compared.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Subject {
    Zhifu,
    Node,
}

impl Subject {
    fn name(self) -> &'static str {
        match self {
            Subject::Zhifu => "zhifu-mcp",
            Subject::Node => "Node SDK",
        }
    }
}

/// How a server is reached over HTTP.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum HttpMode {
    Stateless,
    Sessions,
}

impl HttpMode {
    fn label(self) -> &'static str {
        match self {
            HttpMode::Stateless => "stateless HTTP",
            HttpMode::Sessions => "stateful HTTP (sessions)",
        }
    }
}

/// One figure for both subjects; `higher_is_better` for throughputs.
pub struct Pair {
    pub name: String,
    pub zhifu: f64,
    pub node: f64,
    pub unit: &'static str,
    pub higher_is_better: bool,
}

impl Pair {
    fn show(&self, v: f64) -> String {
        match self.unit {
            "s" => fmt_duration(Duration::from_secs_f64(v)),
            "MiB" => format!("{v:.1} MiB"),
            "req/s" => format!("{v:.0} req/s"),
            other => format!("{v:.2} {other}"),
        }
    }
}

/// The directory the peer is installed into: `target/perf-peer/` (or under `CARGO_TARGET_DIR`).
fn peer_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    target.join("perf-peer")
}

fn tool_version(program: &str) -> Option<String> {
    let out = Command::new(program).arg("--version").output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// `npm ci` of clients/package-lock.json into `target/perf-peer/` unless that lock is installed
/// there already; copies `peer-server.mjs` beside it. `None` (with the reason printed) if it fails.
fn install_peer() -> Option<PathBuf> {
    let dir = peer_dir();
    let clients = Path::new(env!("CARGO_MANIFEST_DIR")).join("clients");
    let lock = std::fs::read(clients.join("package-lock.json")).ok()?;
    std::fs::create_dir_all(&dir).ok()?;
    let installed = std::fs::read(dir.join("node_modules/.package-lock.json")).is_ok()
        && std::fs::read(dir.join("package-lock.json")).ok().as_deref() == Some(&lock[..]);
    if !installed {
        std::fs::copy(clients.join("package.json"), dir.join("package.json")).ok()?;
        std::fs::write(dir.join("package-lock.json"), &lock).ok()?;
        println!(
            "peers: npm ci (the MCP TypeScript SDK pinned in clients/package-lock.json) into {}",
            dir.display()
        );
        let ok = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(&dir)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            println!("peers: npm ci failed; skipped");
            return None;
        }
    }
    let server = dir.join("peer-server.mjs");
    std::fs::write(&server, include_str!("peer-server.mjs")).ok()?;
    Some(server)
}

/// Core pinning: the server on core 0 and the load generator on core 1, when there are two.
fn pin(core: u32) -> Option<Vec<String>> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    (cores >= 2 && tool_version("taskset").is_some())
        .then(|| vec!["taskset".into(), "-c".into(), core.to_string()])
}

struct Peer {
    script: PathBuf,
}

impl Peer {
    /// The command for `subject` in `mode` ("stdio", "http", "http-stateless"), behind `prefix`.
    fn command(
        &self,
        subject: Subject,
        mode: &str,
        prefix: &[String],
    ) -> (Command, Option<PathBuf>) {
        let prefix: Vec<&str> = prefix.iter().map(String::as_str).collect();
        match subject {
            Subject::Zhifu => {
                let args: &[&str] = match mode {
                    "stdio" => &["serve"],
                    "http" => &["serve", "--http", "127.0.0.1:0"],
                    _ => &["serve", "--http", "127.0.0.1:0", "--stateless"],
                };
                let (cmd, dir) = zhifu_command(
                    Some(&prefix).filter(|p| !p.is_empty()).map(|p| &p[..]),
                    args,
                    &[],
                );
                (cmd, Some(dir))
            }
            Subject::Node => {
                let mut cmd = match prefix.split_first() {
                    Some((program, rest)) => {
                        let mut cmd = Command::new(program);
                        cmd.args(rest).arg("node");
                        cmd
                    }
                    None => Command::new("node"),
                };
                cmd.arg(&self.script).arg(mode);
                if mode != "stdio" {
                    cmd.arg("0");
                }
                (cmd, None)
            }
        }
    }

    fn stdio(&self, subject: Subject) -> (Server, Instant) {
        let (cmd, dir) = self.command(subject, "stdio", &[]);
        Server::start(cmd, dir)
    }
}

/// Alternates which subject goes first, round by round.
fn order(round: usize) -> [Subject; 2] {
    if round.is_multiple_of(2) {
        [Subject::Zhifu, Subject::Node]
    } else {
        [Subject::Node, Subject::Zhifu]
    }
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

/// Samples per subject, pooled over rounds.
#[derive(Default)]
struct Both<T> {
    zhifu: Vec<T>,
    node: Vec<T>,
}

impl<T> Both<T> {
    fn of(&mut self, s: Subject) -> &mut Vec<T> {
        match s {
            Subject::Zhifu => &mut self.zhifu,
            Subject::Node => &mut self.node,
        }
    }
}

fn secs(d: &[Duration], q: f64) -> f64 {
    let mut d = d.to_vec();
    percentile(&mut d, q).as_secs_f64()
}

pub fn bench_peers(pairs: &mut Vec<Pair>) {
    let (Some(node), Some(_)) = (tool_version("node"), tool_version("npm")) else {
        println!("peers: node and npm are not both on PATH; the side-by-side section is skipped");
        return;
    };
    let Some(script) = install_peer() else {
        return;
    };
    let peer = Peer { script };
    let rounds = env_usize("PERF_PEER_ROUNDS", 3);
    let spawns = env_usize("PERF_PEER_SPAWNS", 10);
    let calls = env_usize("PERF_CALLS", 2000);
    println!(
        "peers: zhifu-mcp against the MCP TypeScript SDK on node {node}, {rounds} interleaved rounds \
         ({spawns} spawns and {calls} stdio calls each per round)"
    );

    let mut cold: Both<Duration> = Both::default();
    let mut trip: Both<Duration> = Both::default();
    let mut rss: Both<f64> = Both::default();
    let mut cpu: Both<f64> = Both::default();
    for round in 0..rounds {
        for subject in order(round) {
            for _ in 0..spawns {
                let (mut server, started) = peer.stdio(subject);
                server.initialize();
                let (at, reply) = server.request("tools/list", json!({}));
                assert!(
                    reply["result"]["tools"]
                        .as_array()
                        .is_some_and(|t| !t.is_empty())
                );
                cold.of(subject).push(at - started);
                server.stop();
            }
            let (mut server, _) = peer.stdio(subject);
            server.initialize();
            for _ in 0..100 {
                server.call("verify_webhook", bogus_webhook());
            }
            let cpu_before = cpu_time(server.child.id());
            for _ in 0..calls {
                let (rt, reply) = server.call("verify_webhook", bogus_webhook());
                debug_assert!(reply["result"]["structuredContent"]["valid"] == json!(false));
                trip.of(subject).push(rt);
            }
            let used = cpu_time(server.child.id()) - cpu_before;
            cpu.of(subject)
                .push(used.as_secs_f64() / calls.max(1) as f64);
            rss.of(subject).push(server.memory_kib()[0] as f64 / 1024.0);
            server.stop();
        }
    }
    let mut pair = |name: &str, z: f64, n: f64, unit: &'static str, higher: bool| {
        pairs.push(Pair {
            name: name.to_owned(),
            zhifu: z,
            node: n,
            unit,
            higher_is_better: higher,
        });
    };
    pair(
        "cold start: spawn → first tools/list, median",
        secs(&cold.zhifu, 0.5),
        secs(&cold.node, 0.5),
        "s",
        false,
    );
    pair(
        "stdio round trip (trivial tools/call), p50",
        secs(&trip.zhifu, 0.5),
        secs(&trip.node, 0.5),
        "s",
        false,
    );
    pair(
        "stdio round trip (trivial tools/call), p99",
        secs(&trip.zhifu, 0.99),
        secs(&trip.node, 0.99),
        "s",
        false,
    );
    pair(
        "stdio: server CPU per trivial call",
        median(&mut cpu.zhifu),
        median(&mut cpu.node),
        "s",
        false,
    );
    pair(
        &format!("peak RSS (VmHWM) after {} stdio calls", calls + 100),
        median(&mut rss.zhifu),
        median(&mut rss.node),
        "MiB",
        false,
    );

    // `wrk --version` exits 1 after its banner, "wrk debian/4.1.0-3+b2 [epoll] Copyright …".
    let wrk = Command::new("wrk").arg("--version").output().ok().map(|o| {
        let banner = String::from_utf8_lossy(&o.stdout).into_owned();
        banner.split(" [").next().unwrap_or("wrk").trim().to_owned()
    });
    match wrk.filter(|w| w.starts_with("wrk")) {
        Some(wrk) => bench_http(&peer, &wrk, rounds, pairs),
        None => {
            println!("peers: wrk not found (Debian: apt-get install wrk); HTTP figures skipped")
        }
    }
}

// ---------------------------------------------------------------------------------------------
// HTTP under wrk

/// A server listening on loopback.
struct HttpServer {
    child: Child,
    port: u16,
    state_dir: Option<PathBuf>,
}

impl HttpServer {
    fn start(peer: &Peer, subject: Subject, mode: HttpMode) -> HttpServer {
        let arg = match mode {
            HttpMode::Stateless => "http-stateless",
            HttpMode::Sessions => "http",
        };
        let (mut cmd, state_dir) = peer.command(subject, arg, &pin(0).unwrap_or_default());
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn an HTTP server");
        let (tx, rx) = channel();
        // zhifu-mcp says "listening on http://127.0.0.1:PORT/mcp" on stderr, the peer
        // "listening PORT" on stdout; both streams are drained for the server's lifetime.
        let out: Box<dyn std::io::Read + Send> = Box::new(child.stdout.take().expect("stdout"));
        let err: Box<dyn std::io::Read + Send> = Box::new(child.stderr.take().expect("stderr"));
        for stream in [out, err] {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines() {
                    let Ok(line) = line else { break };
                    if let Some(port) = listening_port(&line) {
                        let _ = tx.send(port);
                    }
                }
            });
        }
        let port = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("the HTTP server did not say where it listens");
        HttpServer {
            child,
            port,
            state_dir,
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/mcp", self.port)
    }

    fn peak_rss_mib(&self) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find(|l| l.starts_with("VmHWM:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok())
            .map_or(f64::NAN, |kib| kib / 1024.0)
    }

    fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(dir) = self.state_dir.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// CPU time a process's live threads have run so far, in nanoseconds from
/// /proc/<pid>/task/*/schedstat (the tick-based counters in /proc/<pid>/stat are too coarse
/// for calls of tens of microseconds).
pub fn cpu_time(pid: u32) -> Duration {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Duration::ZERO;
    };
    let ns: u64 = tasks
        .filter_map(Result::ok)
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum();
    Duration::from_nanos(ns)
}

fn listening_port(line: &str) -> Option<u16> {
    let rest = line.split("listening").nth(1)?;
    let digits = match rest.split_once("127.0.0.1:") {
        Some((_, after)) => after,
        None => rest.trim_start(),
    };
    let end = digits
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(digits.len());
    digits[..end].parse().ok()
}

/// The trivial call, as JSON-RPC text with `id` in place.
fn call_body(id: u64) -> String {
    json!({
        "jsonrpc": "2.0",
        "id": id,
        "method": "tools/call",
        "params": {"name": "verify_webhook", "arguments": bogus_webhook()},
    })
    .to_string()
}

/// POSTs `body` with the headers a Streamable HTTP client sends and returns the session id (if
/// any) and the text of the answer up to the first JSON-RPC response in it.
fn post(url: &str, session: Option<&str>, body: String) -> (Option<String>, String) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime for the set-up requests");
    runtime.block_on(async {
        let client = reqwest::Client::new();
        let mut request = client
            .post(url)
            .header("Content-Type", "application/json")
            .header("Accept", "application/json, text/event-stream")
            .header("MCP-Protocol-Version", PROTOCOL_VERSION)
            .body(body);
        if let Some(id) = session {
            request = request.header("Mcp-Session-Id", id);
        }
        let mut response = request.send().await.expect("POST to the server");
        assert!(
            response.status().is_success(),
            "POST answered {}",
            response.status()
        );
        let session = response
            .headers()
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        // An SSE answer may stay open after the response event: read only up to it.
        let mut text = String::new();
        while !(text.contains("\"result\"") || text.contains("\"error\"")) {
            match tokio::time::timeout(Duration::from_secs(10), response.chunk()).await {
                Ok(Ok(Some(chunk))) => text.push_str(&String::from_utf8_lossy(&chunk)),
                _ => break,
            }
        }
        (session, text)
    })
}

/// Opens a session (stateful mode) and checks that one call answers `valid: false`.
fn prepare(server: &HttpServer, mode: HttpMode) -> Option<String> {
    let session = match mode {
        HttpMode::Stateless => None,
        HttpMode::Sessions => {
            let init = json!({
                "jsonrpc": "2.0", "id": 0, "method": "initialize",
                "params": {
                    "protocolVersion": PROTOCOL_VERSION,
                    "capabilities": {},
                    "clientInfo": {"name": "zhifu-perf", "version": "0"},
                },
            });
            let (session, _) = post(&server.url(), None, init.to_string());
            let session = session.expect("no Mcp-Session-Id on the initialize answer");
            post(
                &server.url(),
                Some(&session),
                json!({"jsonrpc": "2.0", "method": "notifications/initialized"}).to_string(),
            );
            Some(session)
        }
    };
    // The first call may wait for the embedded sandbox; later ones are the ones measured.
    let (_, text) = post(&server.url(), session.as_deref(), call_body(1));
    assert!(
        text.contains("\"valid\":false"),
        "unexpected answer: {text}"
    );
    session
}

/// The wrk script: POST the trivial call with a fresh JSON-RPC id each time.
fn wrk_script(dir: &Path, session: Option<&str>) -> PathBuf {
    let body = call_body(424242);
    let (head, tail) = body.split_once("424242").expect("id placeholder");
    let mut lua = String::from(
        "wrk.method = \"POST\"\n\
         wrk.headers[\"Content-Type\"] = \"application/json\"\n\
         wrk.headers[\"Accept\"] = \"application/json, text/event-stream\"\n",
    );
    lua.push_str(&format!(
        "wrk.headers[\"MCP-Protocol-Version\"] = \"{PROTOCOL_VERSION}\"\n"
    ));
    if let Some(id) = session {
        lua.push_str(&format!("wrk.headers[\"Mcp-Session-Id\"] = \"{id}\"\n"));
    }
    lua.push_str(&format!(
        "local n = 1000\n\
         request = function()\n  n = n + 1\n  return wrk.format(nil, nil, nil, [==[{head}]==] .. n .. [==[{tail}]==])\nend\n"
    ));
    let path = dir.join(format!("zhifu-perf-{}.lua", std::process::id()));
    std::fs::write(&path, lua).expect("write the wrk script");
    path
}

/// What one wrk run reports.
struct WrkRun {
    requests: u64,
    per_s: f64,
    p50: f64,
    p99: f64,
    errors: u64,
}

fn wrk_seconds(text: &str) -> Option<f64> {
    let units = [("us", 1e-6), ("ms", 1e-3), ("s", 1.0), ("m", 60.0)];
    units.iter().find_map(|(unit, scale)| {
        text.strip_suffix(unit)
            .and_then(|n| n.parse::<f64>().ok())
            .map(|n| n * scale)
    })
}

fn parse_wrk(out: &str) -> Option<WrkRun> {
    let field = |prefix: &str| {
        out.lines()
            .map(str::trim)
            .find(|l| l.starts_with(prefix))
            .map(|l| l[prefix.len()..].trim().to_owned())
    };
    let errors: u64 = ["Non-2xx or 3xx responses:"]
        .iter()
        .filter_map(|p| field(p)?.parse::<u64>().ok())
        .sum::<u64>()
        + field("Socket errors:").map_or(0, |l| {
            l.split(',')
                .filter_map(|part| part.split_whitespace().last()?.parse::<u64>().ok())
                .sum()
        });
    let requests = out
        .lines()
        .find(|l| l.contains(" requests in "))
        .and_then(|l| l.split_whitespace().next()?.parse().ok())?;
    Some(WrkRun {
        requests,
        per_s: field("Requests/sec:")?.parse().ok()?,
        p50: wrk_seconds(&field("50%")?)?,
        p99: wrk_seconds(&field("99%")?)?,
        errors,
    })
}

fn run_wrk(url: &str, script: &Path, connections: usize, seconds: u64) -> WrkRun {
    let mut cmd = match pin(1) {
        Some(prefix) => {
            let mut cmd = Command::new(&prefix[0]);
            cmd.args(&prefix[1..]).arg("wrk");
            cmd
        }
        None => Command::new("wrk"),
    };
    let out = cmd
        .arg("-t1")
        .arg(format!("-c{connections}"))
        .arg(format!("-d{seconds}s"))
        .args(["--latency", "-s"])
        .arg(script)
        .arg(url)
        .output()
        .expect("run wrk");
    let text = String::from_utf8_lossy(&out.stdout);
    parse_wrk(&text).unwrap_or_else(|| panic!("wrk output not understood:\n{text}"))
}

fn bench_http(peer: &Peer, wrk: &str, rounds: usize, pairs: &mut Vec<Pair>) {
    let seconds = env_usize("PERF_HTTP_SECS", 5) as u64;
    println!(
        "peers: HTTP with {wrk}, {seconds} s per run, server {} and wrk {}",
        if pin(0).is_some() {
            "on core 0"
        } else {
            "unpinned"
        },
        if pin(1).is_some() {
            "on core 1"
        } else {
            "unpinned"
        },
    );
    let tmp = std::env::temp_dir();
    for mode in [HttpMode::Stateless, HttpMode::Sessions] {
        for connections in [1usize, 10] {
            let mut per_s: Both<f64> = Both::default();
            let mut p50: Both<f64> = Both::default();
            let mut p99: Both<f64> = Both::default();
            let mut rss: Both<f64> = Both::default();
            let mut cpu: Both<f64> = Both::default();
            for round in 0..rounds {
                for subject in order(round) {
                    let server = HttpServer::start(peer, subject, mode);
                    let session = prepare(&server, mode);
                    let script = wrk_script(&tmp, session.as_deref());
                    // One second of warm-up (JIT, pools, caches), then the measured run.
                    run_wrk(&server.url(), &script, connections, 1);
                    let cpu_before = cpu_time(server.child.id());
                    let run = run_wrk(&server.url(), &script, connections, seconds);
                    let cpu_used = cpu_time(server.child.id()) - cpu_before;
                    let per_request = cpu_used.as_secs_f64() / run.requests.max(1) as f64;
                    let _ = std::fs::remove_file(&script);
                    println!(
                        "  {} {}, {connections} conn, round {round}: {:.0} req/s, p50 {}, p99 {}, server CPU {} per request{}",
                        subject.name(),
                        mode.label(),
                        run.per_s,
                        fmt_duration(Duration::from_secs_f64(run.p50)),
                        fmt_duration(Duration::from_secs_f64(run.p99)),
                        fmt_duration(Duration::from_secs_f64(per_request)),
                        if run.errors > 0 {
                            format!(", {} ERRORS", run.errors)
                        } else {
                            String::new()
                        },
                    );
                    assert_eq!(
                        run.errors,
                        0,
                        "{} answered errors under load",
                        subject.name()
                    );
                    per_s.of(subject).push(run.per_s);
                    p50.of(subject).push(run.p50);
                    p99.of(subject).push(run.p99);
                    rss.of(subject).push(server.peak_rss_mib());
                    cpu.of(subject).push(per_request);
                    server.stop();
                }
            }
            let label = format!("{}, {connections} conn", mode.label());
            let mut pair = |what: &str, both: &mut Both<f64>, unit: &'static str, higher: bool| {
                pairs.push(Pair {
                    name: format!("{label}: {what}"),
                    zhifu: median(&mut both.zhifu),
                    node: median(&mut both.node),
                    unit,
                    higher_is_better: higher,
                });
            };
            pair("req/s", &mut per_s, "req/s", true);
            pair("p50", &mut p50, "s", false);
            pair("p99", &mut p99, "s", false);
            pair("server CPU per request", &mut cpu, "s", false);
            pair("peak RSS", &mut rss, "MiB", false);
        }
    }
}

/// Prints the side-by-side table: both figures and zhifu ÷ Node.
pub fn print_pairs(pairs: &[Pair]) {
    if pairs.is_empty() {
        return;
    }
    println!();
    println!("| figure | zhifu-mcp | Node SDK | zhifu ÷ Node |");
    println!("| --- | ---: | ---: | ---: |");
    for p in pairs {
        let ratio = p.zhifu / p.node;
        let verdict = if p.higher_is_better {
            format!("{ratio:.2}× ({:.1}× Node's rate)", ratio)
        } else {
            format!("{ratio:.3}× ({:.1}× less)", 1.0 / ratio)
        };
        println!(
            "| {} | {} | {} | {verdict} |",
            p.name,
            p.show(p.zhifu),
            p.show(p.node)
        );
    }
}
