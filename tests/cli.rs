//! The command line: the embedded sandbox default, `tools`, `call`, `sandbox`, `--help`.

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
    let out = common::command()
        .args(args)
        .stdin(Stdio::null())
        .output()
        .await
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

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
    let (ok, out, _) = run(&["call", "create_charge", &json!({"amount": 1.5}).to_string()]).await;
    assert!(!ok);
    let result: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(result["isError"], true);
    let (ok, _, err) = run(&["--tools", "list_charges,no_such_tool", "tools"]).await;
    assert!(!ok);
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
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    while String::from_utf8_lossy(&buf)
        .lines()
        .filter(|l| l.starts_with("PINGPP_"))
        .count()
        < 5
    {
        let n = tokio::time::timeout(std::time::Duration::from_secs(60), stdout.read(&mut chunk))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0, "sandbox exited early");
        buf.extend_from_slice(&chunk[..n]);
    }
    let text = String::from_utf8_lossy(&buf).into_owned();
    let env: Vec<(String, String)> = text
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let mut cmd = common::command();
    cmd.args(["call", "list_charges", "{}"]);
    for (k, v) in &env {
        cmd.env(k, v);
    }
    let out = cmd.output().await.unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    child.kill().await.unwrap();
}
