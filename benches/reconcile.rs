//! Reconciliation benchmark: `summarize_bill` on a 1,000,000-row Alipay trade bill (peak memory of
//! the server process, end-to-end time) and the bill reader against pandas
//! (`read_csv(encoding="gbk")` + groupby) on the same ZIP, side by side; `summarize_charges` over
//! 10,000 sandbox charges. See docs/PERFORMANCE.md ("Reconciliation").
//!
//! Run with `cargo bench --bench reconcile`. pandas is installed into a venv under
//! `target/bench-venv` when it is missing; when that fails the comparison is skipped with a
//! notice. Sizes: `RECONCILE_ROWS` (default 1000000), `RECONCILE_CHARGES` (10000). Figures are
//! printed, never asserted.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use rmcp::model::CallToolRequestParams;
use rmcp::service::RunningService;
use rmcp::transport::TokioChildProcess;
use rmcp::{RoleClient, ServiceExt};
use serde_json::{Value, json};
use zhifu_runtime::composite::bill_file::{self, BillKind, GroupBy, Options};
use zhifu_runtime::signing::alipay::{beijing_timestamp, parse_beijing_timestamp};

const TARGET: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/target");

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn day_before(days: i64) -> String {
    beijing_timestamp(zhifu_runtime::time::unix_now() - days * 86_400)[..10].to_string()
}

/// VmHWM and VmRSS of a process, KiB.
fn memory_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmHWM:"), field("VmRSS:"))
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

struct Bench {
    sandbox: zhifu_sandbox::Sandbox,
    client: RunningService<RoleClient, ()>,
    pid: u32,
    http: reqwest::Client,
    _dir: PathBuf,
}

impl Bench {
    /// The sandbox in this process; the release `zhifu-mcp` serving it in a child process.
    async fn start() -> Bench {
        let sandbox = zhifu_sandbox::start("127.0.0.1:0".parse().unwrap(), Default::default())
            .await
            .expect("sandbox");
        let dir = std::env::temp_dir().join(format!("zhifu-reconcile-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let write = |name: &str, text: &str| {
            let p = dir.join(name);
            std::fs::write(&p, text).unwrap();
            p
        };
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_zhifu-mcp"));
        for (k, _) in std::env::vars() {
            if ["PINGPP_", "ALIPAY_", "ZHIFU_", "RUST_LOG"]
                .iter()
                .any(|p| k.starts_with(p))
            {
                cmd.env_remove(k);
            }
        }
        cmd.arg("serve")
            .env("ZHIFU_STATE_DIR", dir.join("state"))
            .env("PINGPP_API_BASE", &sandbox.base_url)
            .env("PINGPP_API_KEY", &sandbox.pingpp.api_key)
            .env("PINGPP_APP_ID", &sandbox.pingpp.app_id)
            .env(
                "PINGPP_PRIVATE_KEY_PATH",
                write("m.pem", &sandbox.pingpp.merchant_private_key_pem),
            )
            .env(
                "PINGPP_PUBLIC_KEY_PATH",
                write("p.pem", &sandbox.pingpp.pingpp_public_key_pem),
            )
            .env("ALIPAY_APP_ID", &sandbox.alipay.app_id)
            .env("ALIPAY_GATEWAY", &sandbox.alipay.gateway_url)
            .env("ALIPAY_ENV", "sandbox")
            .env(
                "ALIPAY_PRIVATE_KEY_PATH",
                write("a.pem", &sandbox.alipay.app_private_key_pem),
            )
            .env(
                "ALIPAY_PUBLIC_KEY_PATH",
                write("ap.pem", &sandbox.alipay.alipay_public_key_pem),
            )
            .env("ZHIFU_HTTP_TIMEOUT_MS", "120000");
        let transport = TokioChildProcess::new(cmd).expect("spawn zhifu-mcp");
        let pid = transport.id().expect("child pid");
        let client = ().serve(transport).await.expect("initialize");
        Bench {
            sandbox,
            client,
            pid,
            http: reqwest::Client::new(),
            _dir: dir,
        }
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        let r = self
            .http
            .post(format!("{}{path}", self.sandbox.base_url))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{path}: {}", r.status());
        r.json().await.unwrap()
    }

    async fn call(&self, name: &str, args: Value) -> (Duration, Value) {
        let Value::Object(args) = args else { panic!() };
        let t = Instant::now();
        let r = self
            .client
            .call_tool(CallToolRequestParams::new(name.to_string()).with_arguments(args))
            .await
            .expect("tools/call");
        let took = t.elapsed();
        assert_ne!(r.is_error, Some(true), "{name}: {:?}", r.content);
        (took, r.structured_content.unwrap_or(Value::Null))
    }
}

/// The detail rows of a generated day of `rows` rows: trades and, for one in twenty, a refund.
fn day_args(date: &str, rows: u64) -> Value {
    let trades = rows * 20 / 21;
    let refunds = rows - trades;
    json!({"date": date, "trades": trades, "partial_refunds": refunds / 2, "full_refunds": refunds - refunds / 2, "seed": 11})
}

/// The bill reader on its own, on a ZIP file, writing the CSV rows as the tool does.
fn rust_reader(zip: &Path) -> (Duration, i64) {
    let out = std::env::temp_dir().join(format!("zhifu-reconcile-rows-{}", std::process::id()));
    let t = Instant::now();
    let file = std::fs::File::open(zip).unwrap();
    let mut sink = std::io::BufWriter::new(std::fs::File::create(&out).unwrap());
    let options = Options {
        kind: BillKind::Trade,
        group_by: GroupBy::Product,
        flag_above: None,
    };
    let s = bill_file::summarize(file, &options, &mut sink, &mut |_| true).unwrap();
    let took = t.elapsed();
    let _ = std::fs::remove_file(out);
    (took, s.total.in_fen)
}

const PANDAS: &str = r##"
import sys, time, zipfile
import pandas as pd
t = time.perf_counter()
z = zipfile.ZipFile(sys.argv[1])
name = [n for n in z.infolist() if not n.filename.encode('cp437').decode('gbk').endswith('(汇总).csv')][0]
df = pd.read_csv(z.open(name), encoding="gbk", comment="#", dtype=str)
df.columns = [c.strip() for c in df.columns]
for c in ["订单金额（元）", "商家实收（元）", "服务费（元）"]:
    df[c] = pd.to_numeric(df[c].str.strip())
df["业务类型"] = df["业务类型"].str.strip()
trades = df[df["业务类型"] == "交易"]
by_product = trades.groupby("商品名称")["订单金额（元）"].sum()
refunds = df[df["业务类型"] == "退款"]["订单金额（元）"].sum()
fee = df["服务费（元）"].sum()
took = time.perf_counter() - t
print(f"{took:.4f} {round(trades['订单金额（元）'].sum() * 100)} {len(df)} {len(by_product)}")
"##;

/// A Python with pandas: the system one, or a venv under target/ (created when missing).
fn pandas_python() -> Option<PathBuf> {
    let has = |py: &Path| {
        Command::new(py)
            .args(["-c", "import pandas"])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    let system = PathBuf::from("python3");
    if has(&system) {
        return Some(system);
    }
    let venv = Path::new(TARGET).join("bench-venv");
    let py = venv.join("bin/python");
    if !py.exists() {
        let ok = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            return None;
        }
    }
    if !has(&py) {
        let ok = Command::new(&py)
            .args(["-m", "pip", "install", "--quiet", "pandas"])
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            return None;
        }
    }
    has(&py).then_some(py)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let rows = env_u64("RECONCILE_ROWS", 1_000_000);
    let charges = env_u64("RECONCILE_CHARGES", 10_000);
    let b = Bench::start().await;
    let mut table: Vec<(String, String)> = Vec::new();

    // Idle: a small bill, so every code path has run once.
    let (small_day, mid_day, big_day) = (day_before(3), day_before(2), day_before(1));
    b.post("/_sandbox/alipay/bills/days", day_args(&small_day, 1_000))
        .await;
    b.call("summarize_bill", json!({"bill_date": small_day}))
        .await;
    let (idle_hwm, idle_rss) = memory_kib(b.pid);
    table.push((
        "server peak RSS after a 1,000-row bill (idle)".into(),
        format!("{} (RSS now {})", mib(idle_hwm), mib(idle_rss)),
    ));
    for (date, n) in [(&mid_day, rows / 10), (&big_day, rows)] {
        b.post("/_sandbox/alipay/bills/days", day_args(date, n))
            .await;
        let (link_time, _) = b
            .call(
                "query_bill_download_url",
                json!({"bill_type": "trade", "bill_date": date}),
            )
            .await;
        let (took, result) = b
            .call(
                "summarize_bill",
                json!({"bill_date": date, "flag_above": "20000"}),
            )
            .await;
        let (hwm, rss) = memory_kib(b.pid);
        assert_eq!(result["rows"].as_u64(), Some(n), "{result}");
        assert_eq!(result["cross_check"]["consistent"], true);
        table.push((
            format!(
                "summarize_bill, {n} rows: end to end (sandbox writes the ZIP: {})",
                secs(link_time)
            ),
            secs(took),
        ));
        table.push((
            format!("server peak RSS after the {n}-row bill"),
            format!(
                "{} (+{} over idle; RSS now {})",
                mib(hwm),
                mib(hwm.saturating_sub(idle_hwm)),
                mib(rss)
            ),
        ));
    }

    // The same ZIP, read by our reader and by pandas, side by side.
    let (_, link) = b
        .call(
            "query_bill_download_url",
            json!({"bill_type": "trade", "bill_date": big_day}),
        )
        .await;
    let zip_path = Path::new(TARGET).join("bench-bill.zip");
    let bytes = b
        .http
        .get(link["bill_download_url"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    std::fs::write(&zip_path, &bytes).unwrap();
    table.push((
        format!("bill ZIP of {rows} rows (deflated)"),
        format!("{:.1} MiB", bytes.len() as f64 / 1048576.0),
    ));
    let mut ours = Vec::new();
    let mut gross = 0;
    for _ in 0..3 {
        let (t, g) = rust_reader(&zip_path);
        ours.push(t);
        gross = g;
    }
    let ours = median(ours);
    table.push((
        "bill reader (unzip, GBK, parse, sums, groups, CSV rows written), median of 3".into(),
        secs(ours),
    ));
    match pandas_python() {
        None => println!(
            "pandas: could not be installed (no network or no python3-venv); comparison skipped"
        ),
        Some(py) => {
            let mut times = Vec::new();
            for _ in 0..3 {
                let out = Command::new(&py)
                    .args(["-c", PANDAS])
                    .arg(&zip_path)
                    .output()
                    .expect("run python");
                let text = String::from_utf8_lossy(&out.stdout);
                let parts: Vec<&str> = text.split_whitespace().collect();
                if !out.status.success() || parts.len() < 2 {
                    println!("pandas failed: {}", String::from_utf8_lossy(&out.stderr));
                    break;
                }
                let g: i64 = parts[1].parse().unwrap_or(-1);
                if g != gross {
                    println!("pandas gross {g} fen differs from ours {gross} fen");
                }
                times.push(Duration::from_secs_f64(parts[0].parse().unwrap()));
            }
            if !times.is_empty() {
                let theirs = median(times);
                table.push((
                    "pandas read_csv(encoding=\"gbk\") + groupby, median of 3".into(),
                    secs(theirs),
                ));
                table.push((
                    "bill reader speed-up over pandas".into(),
                    format!("{:.1}×", theirs.as_secs_f64() / ours.as_secs_f64()),
                ));
            }
        }
    }
    let _ = std::fs::remove_file(&zip_path);

    // summarize_charges over many sandbox charges.
    let (from, to) = (day_before(3), day_before(1));
    let start = parse_beijing_timestamp(&format!("{from} 00:00:00")).unwrap();
    let end = parse_beijing_timestamp(&format!("{to} 23:59:59")).unwrap();
    b.post(
        "/_sandbox/charges/generate",
        json!({"count": charges, "channels": ["alipay", "wx", "upacp", "wx_pub_qr", "alipay_qr"], "created_from": start, "created_to": end, "unpaid_every": 9, "refund_every": 6}),
    )
    .await;
    let mut times = Vec::new();
    for _ in 0..3 {
        let (t, r) = b
            .call("summarize_charges", json!({"from": from, "to": to}))
            .await;
        assert_eq!(r["charges_read"].as_u64(), Some(charges), "{r}");
        times.push(t);
    }
    table.push((
        format!(
            "summarize_charges over {charges} charges ({} pages), median of 3",
            charges.div_ceil(100)
        ),
        secs(median(times)),
    ));
    let (hwm, _) = memory_kib(b.pid);
    table.push(("server peak RSS at the end".into(), mib(hwm)));

    println!();
    println!("| measurement | value |");
    println!("| --- | ---: |");
    for (k, v) in &table {
        println!("| {k} | {v} |");
    }
    let _ = b.client.cancel().await;
    b.sandbox.shutdown().await;
}
