//! The command line: the embedded sandbox default, `tools`, `call`, `sandbox`, `--help`; settings
//! that fail loudly (misspelt names, TOML errors with line and column, one message per error,
//! distinct exit codes), a terminal on stdin, only configured providers listed.

mod common;

use std::process::Stdio;

use rmcp::ServiceExt;
use rmcp::model::CallToolRequestParams;
use rmcp::transport::TokioChildProcess;
use serde_json::{Value, json};
use tokio::io::AsyncReadExt;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_credentials_runs_on_the_embedded_sandbox_over_real_http() {
    let mut cmd = common::command();
    cmd.arg("serve");
    let (transport, stderr) = TokioChildProcess::builder(cmd)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let client = ().serve(transport).await.unwrap();
    let tools = client.list_all_tools().await.unwrap();
    assert!(tools.iter().any(|t| t.name == "create_charge"));
    let args = common::obj(common::charge_args("EMB20261124", 990));
    let created = client
        .call_tool(CallToolRequestParams::new("create_charge").with_arguments(args))
        .await
        .unwrap();
    assert_ne!(
        created.is_error,
        Some(true),
        "{:?}",
        created.structured_content
    );
    let charge = created.structured_content.unwrap();
    assert!(charge["id"].as_str().unwrap().starts_with("ch_"));
    assert_eq!(charge["livemode"], false);
    let text: Vec<String> = created
        .content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect();
    assert!(
        text.iter().any(|t| t.contains("¥9.90")),
        "the result echoes the yuan amount: {text:?}"
    );
    client.cancel().await.unwrap();
    let mut err = String::new();
    stderr.unwrap().read_to_string(&mut err).await.unwrap();
    assert!(
        err.contains("No real money moves"),
        "banner on stderr: {err}"
    );
    assert!(
        err.contains("http://127.0.0.1:"),
        "the sandbox is reached over loopback HTTP: {err}"
    );
    assert!(!err.contains("sk_test_"), "no key in the logs: {err}");
}

async fn run(args: &[&str]) -> (bool, String, String) {
    let (code, out, err) = run_env(args, &[]).await;
    (code == 0, out, err)
}

/// Runs the binary with `env` added; exit status, stdout, stderr.
async fn run_env(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut cmd = common::command();
    cmd.args(args).stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().await.unwrap();
    (
        out.status.code().expect("exited"),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Reads a child's output until `done` holds for all of it (a minute at most).
async fn read_until(
    from: &mut (impl tokio::io::AsyncRead + Unpin),
    done: impl Fn(&str) -> bool,
) -> String {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    while !done(&String::from_utf8_lossy(&buf)) {
        let n = tokio::time::timeout(std::time::Duration::from_secs(60), from.read(&mut chunk))
            .await
            .expect("output within a minute")
            .unwrap();
        assert!(n > 0, "exited early: {}", String::from_utf8_lossy(&buf));
        buf.extend_from_slice(&chunk[..n]);
    }
    String::from_utf8_lossy(&buf).into_owned()
}

/// Exit statuses, as `--help` and README document them.
const TOOL_ERROR: i32 = 1;
const USAGE: i32 = 2;
const CONFIG: i32 = 3;

#[tokio::test]
async fn tools_lists_every_tool_and_json_has_schemas() {
    let (ok, out, _) = run(&["tools"]).await;
    assert!(ok);
    assert!(
        out.lines()
            .any(|l| l.starts_with("create_charge") && l.contains("moves_money")),
        "{out}"
    );
    let (ok, out, _) = run(&["tools", "--json"]).await;
    assert!(ok);
    let tools: Vec<Value> = serde_json::from_str(&out).unwrap();
    let charge = tools.iter().find(|t| t["name"] == "create_charge").unwrap();
    assert_eq!(charge["inputSchema"]["type"], "object");
    assert_eq!(charge["annotations"]["destructiveHint"], true);
    let (ok, out, _) = run(&["--read-only", "tools"]).await;
    assert!(ok);
    assert!(!out.contains("create_charge"), "{out}");
}

#[tokio::test]
async fn call_prints_the_result_and_fails_on_error() {
    let (ok, out, err) = run(&["call", "list_charges", r#"{"limit": 2}"#]).await;
    assert!(ok, "{out}\n{err}");
    let result: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(result["structuredContent"]["object"], "list");
    let bad = json!({"amount": 1.5}).to_string();
    let (code, out, _) = run_env(&["call", "create_charge", &bad], &[]).await;
    assert_eq!(code, TOOL_ERROR, "a tool error exits 1");
    let result: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(result["isError"], true);
    let (code, _, err) = run_env(&["--tools", "list_charges,no_such_tool", "tools"], &[]).await;
    assert_eq!(code, CONFIG, "{err}");
    assert!(err.contains("no_such_tool"), "{err}");
}

#[tokio::test]
async fn help_everywhere() {
    for args in [
        vec!["--help"],
        vec!["serve", "--help"],
        vec!["tools", "--help"],
        vec!["call", "--help"],
        vec!["sandbox", "--help"],
    ] {
        let (ok, out, _) = run(&args).await;
        assert!(ok, "{args:?}");
        assert!(out.contains("Usage"), "{args:?}: {out}");
    }
}

#[tokio::test]
async fn sandbox_command_prints_settings_that_work() {
    let mut child = common::command()
        .args(["sandbox", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let text = read_until(&mut stdout, |t| {
        t.lines()
            .filter(|l| l.starts_with("PINGPP_") || l.starts_with("ALIPAY_"))
            .count()
            >= 10
    })
    .await;
    let env: Vec<(String, String)> = text
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    assert!(
        env.iter().any(|(k, v)| k == "ALIPAY_ENV" && v == "sandbox"),
        "{text}"
    );
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let (code, out, err) = run_env(&["call", "list_charges", "{}"], &env).await;
    assert_eq!(code, 0, "{out}\n{err}");
    let trade = json!({"out_trade_no": "CLI20261201", "total_amount": "9.90", "subject": "Tea"});
    let (code, out, err) = run_env(&["call", "precreate_trade", &trade.to_string()], &env).await;
    assert_eq!(code, 0, "the ALIPAY_* settings work too: {out}\n{err}");
    assert!(!err.contains("embedded sandbox"), "{err}");
    child.kill().await.unwrap();
}

#[tokio::test]
async fn misspelt_variables_are_warned_about_with_a_did_you_mean() {
    let env = [
        ("ZHIFU_READONLY", "1"),
        ("PINGPP_APIKEY", "sk_test_SECRET"),
        ("AP_NOT_A_SETTING", "x"),
    ];
    let (code, out, err) = run_env(&["tools"], &env).await;
    assert_eq!(code, 0, "{err}");
    for line in [
        "unknown environment variable ZHIFU_READONLY is ignored; did you mean ZHIFU_READ_ONLY?",
        "unknown environment variable PINGPP_APIKEY is ignored; did you mean PINGPP_API_KEY?",
        "unknown environment variable AP_NOT_A_SETTING is ignored",
    ] {
        assert!(err.contains(line), "{err}");
    }
    assert!(!err.contains("SECRET"), "no value is echoed: {err}");
    assert!(out.contains("create_charge"), "ignored as the warning says");
}

#[tokio::test]
async fn usage_errors_suggest_the_right_name_and_exit_2() {
    for (args, hint) in [
        (vec!["tool"], "tools"),
        (vec!["--read-onyl", "tools"], "--read-only"),
        (
            vec!["call", "create_chage"],
            "did you mean `create_charge`?",
        ),
        (vec!["call", "list_charges", "[1]"], "must be a JSON object"),
        (vec!["call", "list_charges", "{"], "must be a JSON object"),
        (vec!["serve", "--http", "8765"], "127.0.0.1:8765"),
    ] {
        let (code, out, err) = run_env(&args, &[]).await;
        assert_eq!(code, USAGE, "{args:?}: {err}");
        assert!(err.contains(hint), "{args:?}: {err}");
        assert!(out.is_empty(), "{args:?}: {out}");
    }
}

#[tokio::test]
async fn toml_errors_name_line_and_column_and_exit_3() {
    let dir = common::temp_dir("cli-toml");
    let path = dir.join("zhifu.toml");
    let path_text = path.to_str().unwrap();
    std::fs::write(
        &path,
        "[pingpp]\napi_key = \"sk_test_x\"\n[server\nread_only = true\n",
    )
    .unwrap();
    let (code, _, err) = run_env(&["--config", path_text, "tools"], &[]).await;
    assert_eq!(code, CONFIG, "{err}");
    assert!(err.contains("line 3, column 8"), "{err}");
    std::fs::write(&path, "[server]\nread_onyl = true\n").unwrap();
    let (code, _, err) = run_env(&["tools"], &[("ZHIFU_CONFIG", path_text)]).await;
    assert_eq!(code, CONFIG, "{err}");
    assert!(
        err.contains(
            "line 2, column 1: unknown setting [server] read_onyl; did you mean [server] read_only?"
        ),
        "{err}"
    );
}

#[tokio::test]
async fn a_configuration_error_is_printed_once_and_exits_3() {
    let missing = "/nonexistent/zhifu/merchant.pem";
    let env = [
        ("PINGPP_API_KEY", "sk_test_x"),
        ("PINGPP_PRIVATE_KEY_PATH", missing),
    ];
    for args in [vec!["tools"], vec!["call", "list_charges"], vec!["serve"]] {
        let (code, _, err) = run_env(&args, &env).await;
        assert_eq!(code, CONFIG, "{args:?}: {err}");
        assert_eq!(err.matches(missing).count(), 1, "{args:?}: {err}");
        assert_eq!(
            err.matches("PINGPP_PRIVATE_KEY_PATH").count(),
            1,
            "{args:?}: {err}"
        );
    }
}

#[tokio::test]
async fn help_lists_every_environment_variable_and_the_exit_codes() {
    let (ok, out, _) = run(&["--help"]).await;
    assert!(ok);
    for setting in zhifu_runtime::config::SETTINGS {
        for name in setting.env {
            assert!(out.contains(name), "--help lacks {name}: {out}");
        }
    }
    assert!(out.contains("[pingpp] api_key"), "{out}");
    assert!(
        out.contains("2 usage error") && out.contains("3 configuration error"),
        "{out}"
    );
    let (ok, out, _) = run(&["-h"]).await;
    assert!(
        ok && out.contains("Exit status") && out.contains("--help"),
        "{out}"
    );
}

/// Starts the binary with `args` (a `serve --http`), waits for its address and checks that it
/// answers `/healthz`; returns its stderr so far.
async fn serve_http_answers(args: &[&str]) -> String {
    let mut child = common::command()
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let text = read_until(&mut stderr, |t| t.contains("/mcp")).await;
    let url = text
        .split_whitespace()
        .find(|w| w.starts_with("http://127.0.0.1:") && w.ends_with("/mcp"))
        .unwrap_or_else(|| panic!("{text}"));
    let res = reqwest::get(url.replace("/mcp", "/healthz")).await.unwrap();
    assert_eq!(res.status(), 200);
    child.kill().await.unwrap();
    text
}

#[tokio::test]
async fn serve_http_accepts_localhost() {
    serve_http_answers(&["serve", "--http", "localhost:0"]).await;
}

/// The packaging: the systemd unit's command line (on the example configuration) serves, the
/// example configuration loads without a word, server.json names real settings and this version.
#[tokio::test]
async fn packaging_files_match_the_binary() {
    let root = env!("CARGO_MANIFEST_DIR");
    let example = format!("{root}/packaging/zhifu.toml");
    let (code, _, err) = run_env(&["--config", &example, "tools"], &[]).await;
    assert_eq!(
        (code, err.as_str()),
        (0, ""),
        "the example configuration loads cleanly"
    );

    let unit = std::fs::read_to_string(format!("{root}/packaging/zhifu-mcp.service")).unwrap();
    let exec = unit
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart=/usr/bin/zhifu-mcp "))
        .expect("ExecStart runs /usr/bin/zhifu-mcp");
    let args: Vec<String> = exec
        .replace("/etc/zhifu-mcp/zhifu.toml", &example)
        .replace("127.0.0.1:8765", "127.0.0.1:0")
        .split_whitespace()
        .map(String::from)
        .collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    assert!(args.contains(&"--http"), "{exec}");
    serve_http_answers(&args).await;
    assert!(
        unit.contains("StateDirectory=zhifu-mcp")
            && unit.contains("ZHIFU_STATE_DIR=/var/lib/zhifu-mcp")
    );

    let server: Value =
        serde_json::from_str(&std::fs::read_to_string(format!("{root}/server.json")).unwrap())
            .unwrap();
    assert_eq!(server["version"], env!("CARGO_PKG_VERSION"));
    assert!(server["description"].as_str().unwrap().chars().count() <= 100);
    let package = &server["packages"][0];
    assert_eq!(package["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(package["identifier"], env!("CARGO_PKG_NAME"));
    let known: Vec<&str> = zhifu_runtime::config::SETTINGS
        .iter()
        .flat_map(|s| s.env.iter().copied())
        .collect();
    for var in package["environmentVariables"].as_array().unwrap() {
        let name = var["name"].as_str().unwrap();
        assert!(
            known.contains(&name),
            "server.json names {name}, which is no setting"
        );
    }
}

/// `zhifu-mcp` typed in a terminal says what it waits for (`script` gives it a terminal).
#[tokio::test]
async fn a_terminal_on_stdin_is_told_what_the_server_waits_for() {
    let bin = env!("CARGO_BIN_EXE_zhifu-mcp");
    // The clean environment of common::command(), on script(1).
    let mut cmd = tokio::process::Command::new("script");
    for (k, v) in common::command().as_std().get_envs() {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    let out = cmd
        .args(["-q", "-e", "-c", bin, "/dev/null"])
        .stdin(Stdio::null())
        .output()
        .await
        .expect("script(1) from bsdutils");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("waiting for an MCP client"), "{text}");
    assert!(
        text.contains("zhifu-mcp tools") && text.contains("zhifu-mcp call"),
        "{text}"
    );
    // Not on a pipe: stdout and stderr stay clean for a client.
    let (_, _, err) = run_env(&["serve"], &[]).await;
    assert!(!err.contains("waiting for an MCP client"), "{err}");
}

/// With only one provider configured, only its tools are listed; a call to the other's tool
/// says how to configure it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_configured_providers_are_listed() {
    let sandbox = common::start_sandbox(&common::Options::default()).await;
    let dir = common::temp_dir("cli-one-provider");
    let write = |name: &str, pem: &str| {
        let path = dir.join(name);
        std::fs::write(&path, pem).unwrap();
        path.to_str().unwrap().to_string()
    };
    let app_key = write("app.pem", &sandbox.alipay.app_private_key_pem);
    let alipay_pub = write("alipay.pem", &sandbox.alipay.alipay_public_key_pem);
    let alipay_only = [
        ("ALIPAY_APP_ID", sandbox.alipay.app_id.as_str()),
        ("ALIPAY_GATEWAY", sandbox.alipay.gateway_url.as_str()),
        ("ALIPAY_ENV", "sandbox"),
        ("ALIPAY_PRIVATE_KEY_PATH", app_key.as_str()),
        ("ALIPAY_PUBLIC_KEY_PATH", alipay_pub.as_str()),
    ];
    let pingpp_only = [
        ("PINGPP_API_KEY", sandbox.pingpp.api_key.as_str()),
        ("PINGPP_API_BASE", sandbox.base_url.as_str()),
    ];
    // The received-events tools serve both gateways: listed whenever either is configured.
    let both = [
        "list_received_events",
        "retrieve_received_event",
        "wait_for_payment",
    ];
    let providers = |out: &str| -> Vec<String> {
        let mut p: Vec<String> = out
            .lines()
            .filter(|l| !both.iter().any(|b| l.starts_with(b)))
            .filter_map(|l| l.split_whitespace().nth(1).map(String::from))
            .collect();
        p.dedup();
        p.sort();
        p.dedup();
        p
    };
    let (code, out, err) = run_env(&["tools"], &alipay_only).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(providers(&out), ["alipay"], "{out}");
    for b in both {
        assert!(out.contains(b), "{b} is offered with Alipay alone: {out}");
    }
    let (code, out, err) = run_env(&["tools", "--json"], &alipay_only).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("query_trade") && !out.contains("create_charge"));
    let (code, out, _) = run_env(&["call", "list_charges"], &alipay_only).await;
    assert_eq!(code, TOOL_ERROR);
    assert!(
        out.contains("Ping++ is not configured on this server; to use it, set PINGPP_API_KEY"),
        "{out}"
    );
    let (code, out, err) = run_env(&["tools"], &pingpp_only).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(providers(&out), ["pingpp"], "{out}");
    let (code, out, _) = run_env(
        &["call", "query_trade", r#"{"out_trade_no":"X1"}"#],
        &pingpp_only,
    )
    .await;
    assert_eq!(code, TOOL_ERROR);
    assert!(
        out.contains("Alipay is not configured on this server; to use it, set ALIPAY_APP_ID"),
        "{out}"
    );
    let (_, out, _) = run_env(&["tools"], &[]).await;
    assert_eq!(
        providers(&out),
        ["alipay", "pingpp"],
        "the embedded sandbox configures both"
    );
}
