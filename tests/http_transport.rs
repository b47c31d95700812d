//! `serve --http`: the real binary on loopback (embedded sandbox), rmcp's Streamable HTTP client
//! with the bearer token, and plain HTTP requests for the refusals (401, 403, 413) and the
//! non-loopback start-up check.

mod common;

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rmcp::ServiceExt;
use rmcp::model::CallToolRequestParams;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Child;

const TOKEN: &str = "test-token-7f3a9c1e5b";

/// A running `zhifu-mcp serve --http 127.0.0.1:0`; killed on drop.
struct Server {
    _child: Child,
    /// `http://127.0.0.1:PORT/mcp`, parsed from the listening line on stderr.
    url: String,
    stderr: Arc<Mutex<String>>,
}

impl Server {
    async fn start(extra_args: &[&str], env: &[(&str, &str)]) -> Server {
        let mut cmd = common::command();
        cmd.args(["serve", "--http", "127.0.0.1:0"])
            .args(extra_args)
            .env("ZHIFU_STATE_DIR", common::temp_dir("http"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("the binary starts");
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let stderr = Arc::new(Mutex::new(String::new()));
        let url = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(line) = lines.next_line().await.unwrap() {
                stderr.lock().unwrap().push_str(&format!("{line}\n"));
                if let Some(rest) = line.strip_prefix("zhifu-mcp: listening on ") {
                    return rest.split_whitespace().next().unwrap().to_owned();
                }
            }
            panic!("the server exited: {}", stderr.lock().unwrap());
        })
        .await
        .expect("the server prints its address");
        assert!(
            url.starts_with("http://127.0.0.1:") && url.ends_with("/mcp"),
            "{url}"
        );
        // Keep draining stderr so the child never blocks on a full pipe.
        let sink = stderr.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                sink.lock().unwrap().push_str(&format!("{line}\n"));
            }
        });
        Server {
            _child: child,
            url,
            stderr,
        }
    }

    fn base(&self) -> &str {
        self.url.trim_end_matches("/mcp")
    }

    fn log(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }
}

fn initialize_body() -> Value {
    json!({
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": {"name": "http-test", "version": "0"}
        }
    })
}

fn post(url: &str) -> reqwest::RequestBuilder {
    reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rmcp_client_with_the_token_lists_and_calls_tools() {
    // trace-level logs: the token must not show up even there.
    let server = Server::start(&[], &[("ZHIFU_HTTP_TOKEN", TOKEN), ("RUST_LOG", "trace")]).await;
    let transport = StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(server.url.as_str()).auth_header(TOKEN),
    );
    let client = ().serve(transport).await.expect("initialize over HTTP");
    let info = client.peer_info().expect("server info");
    assert_eq!(info.server_info.as_ref().unwrap().name, "zhifu-mcp");

    let tools = client.list_all_tools().await.unwrap();
    assert!(tools.iter().any(|t| t.name == "list_charges"), "{tools:?}");
    assert!(tools.iter().any(|t| t.name == "create_charge"));

    let listed = client
        .call_tool(
            CallToolRequestParams::new("list_charges")
                .with_arguments(common::obj(json!({"limit": 2}))),
        )
        .await
        .unwrap();
    assert_ne!(listed.is_error, Some(true), "{listed:?}");
    let page = listed.structured_content.expect("structured content");
    assert_eq!(page["object"], "list", "{page}");
    assert!(page["data"].is_array(), "{page}");

    client.cancel().await.unwrap();
    let log = server.log();
    assert!(log.contains("bearer token required"), "{log}");
    assert!(
        !log.contains(TOKEN),
        "the token leaked into the logs:\n{log}"
    );
}

#[tokio::test]
async fn stateless_mode_answers_plain_json() {
    let server = Server::start(&["--stateless"], &[]).await;
    let init = post(&server.url)
        .json(&initialize_body())
        .send()
        .await
        .unwrap();
    assert_eq!(init.status(), 200);
    assert!(init.headers().get("mcp-session-id").is_none());
    assert!(
        init.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let body: Value = init.json().await.unwrap();
    assert_eq!(body["result"]["serverInfo"]["name"], "zhifu-mcp", "{body}");

    let list = post(&server.url)
        .header("mcp-protocol-version", "2025-11-25")
        .json(&json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}))
        .send()
        .await
        .unwrap();
    assert_eq!(list.status(), 200);
    let body: Value = list.json().await.unwrap();
    let tools = body["result"]["tools"].as_array().expect("tools");
    assert!(tools.iter().any(|t| t["name"] == "list_charges"), "{body}");
}

#[tokio::test]
async fn refusals_401_403_413() {
    let server = Server::start(&[], &[("ZHIFU_HTTP_TOKEN", TOKEN)]).await;
    let url = server.url.as_str();
    let port = url
        .trim_start_matches("http://127.0.0.1:")
        .trim_end_matches("/mcp");

    // No token, then a wrong one: 401 with a Bearer challenge and a small JSON body.
    for auth in [
        None,
        Some("Bearer wrong-token"),
        Some(&*format!("Basic {TOKEN}")),
    ] {
        let mut req = post(url).json(&initialize_body());
        if let Some(auth) = auth {
            req = req.header("authorization", auth);
        }
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), 401, "{auth:?}");
        let challenge = res.headers()["www-authenticate"].to_str().unwrap();
        assert!(challenge.starts_with("Bearer"), "{challenge}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error"], "unauthorized", "{body}");
    }

    // The right token: served.
    let ok = post(url)
        .bearer_auth(TOKEN)
        .json(&initialize_body())
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);

    // Same-host origin with the token: served.
    let same = post(url)
        .bearer_auth(TOKEN)
        .header("origin", format!("http://127.0.0.1:{port}"))
        .json(&initialize_body())
        .send()
        .await
        .unwrap();
    assert_eq!(same.status(), 200);

    // A foreign Origin: 403, with or without the token (provenance is checked first).
    for token in [Some(TOKEN), None] {
        let mut req = post(url)
            .header("origin", "https://evil.example")
            .json(&initialize_body());
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), 403, "token: {}", token.is_some());
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error"], "forbidden");
    }

    // A rebinding Host (right port, foreign name) and a wrong port: 403.
    for host in [format!("evil.example:{port}"), "127.0.0.1:1".to_owned()] {
        let res = post(url)
            .bearer_auth(TOKEN)
            .header("host", &host)
            .json(&initialize_body())
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 403, "{host}");
    }

    // Over the 1 MiB body limit: 413.
    let mut big = initialize_body();
    big["params"]["clientInfo"]["name"] = json!("x".repeat(1024 * 1024 + 1));
    let res = post(url)
        .bearer_auth(TOKEN)
        .json(&big)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 413);

    // Health probe: no auth.
    let health = reqwest::get(format!("{}/healthz", server.base()))
        .await
        .unwrap();
    assert_eq!(health.status(), 200);

    assert!(!server.log().contains(TOKEN));
}

#[tokio::test]
async fn non_loopback_without_a_token_refuses_to_start() {
    let out = common::command()
        .args(["serve", "--http", "0.0.0.0:0"])
        .stdin(Stdio::null())
        .output();
    let out = tokio::time::timeout(Duration::from_secs(30), out)
        .await
        .expect("exits promptly")
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("ZHIFU_HTTP_TOKEN"), "{err}");
    assert!(!err.contains("listening on"), "{err}");
}

/// Reads a JSON-RPC answer from a JSON body or from the `data:` line of an SSE body.
async fn answer(res: reqwest::Response) -> Value {
    let sse = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"));
    let text = res.text().await.unwrap();
    if !sse {
        return serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
    }
    text.lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .filter_map(|d| serde_json::from_str::<Value>(d.trim()).ok())
        .find(|v| v.get("result").is_some() || v.get("error").is_some())
        .unwrap_or_else(|| panic!("no JSON-RPC answer in the stream: {text}"))
}

/// Initializes over plain HTTP; returns the session id (stateful mode) and the answer.
async fn initialize(url: &str, capabilities: Value) -> (Option<String>, Value) {
    let mut body = initialize_body();
    body["params"]["capabilities"] = capabilities;
    let res = post(url).json(&body).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let session = res
        .headers()
        .get("mcp-session-id")
        .map(|v| v.to_str().unwrap().to_owned());
    let init = answer(res).await;
    if let Some(session) = &session {
        let done = post(url)
            .header("mcp-session-id", session)
            .header("mcp-protocol-version", "2025-11-25")
            .json(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
            .send()
            .await
            .unwrap();
        assert_eq!(done.status(), 202);
    }
    (session, init)
}

/// A POST after `initialize`, in the session when there is one.
fn post_in(url: &str, session: &Option<String>) -> reqwest::RequestBuilder {
    let mut req = post(url).header("mcp-protocol-version", "2025-11-25");
    if let Some(s) = session {
        req = req.header("mcp-session-id", s);
    }
    req
}

/// Malformed or non-JSON-RPC bodies get 400 with a JSON-RPC error body (the request's id when
/// it can be recovered), in both modes, in a session or not; the server keeps serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_bodies_get_400_with_a_json_rpc_error() {
    let deep = format!("{}0{}", "[".repeat(200), "]".repeat(200));
    let mut bad_utf8 = br#"{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"list_charges","arguments":{"x":""#.to_vec();
    bad_utf8.extend_from_slice(b"\xff\"}}}");
    let cases: Vec<(&str, Vec<u8>, i64, Value)> = vec![
        ("truncated", br#"{"jsonrpc":"2.0","id":3,"method":"tools/li"#.to_vec(), -32700, json!(3)),
        ("invalid UTF-8", bad_utf8, -32700, json!(4)),
        (
            "lone surrogate",
            br#"{"jsonrpc":"2.0","id":"s5","method":"tools/call","params":{"name":"list_charges","arguments":{"x":"\ud800"}}}"#.to_vec(),
            -32700,
            json!("s5"),
        ),
        ("too deep", deep.into_bytes(), -32700, Value::Null),
        ("not JSON", b"hello".to_vec(), -32700, Value::Null),
        ("not JSON-RPC", br#"{"hello":"world"}"#.to_vec(), -32600, Value::Null),
        ("wrong version", br#"{"jsonrpc":"1.0","id":6,"method":"ping"}"#.to_vec(), -32600, json!(6)),
        ("batch", br#"[{"jsonrpc":"2.0","id":7,"method":"ping"}]"#.to_vec(), -32600, Value::Null),
    ];
    for stateless in [false, true] {
        let args: &[&str] = if stateless { &["--stateless"] } else { &[] };
        let server = Server::start(args, &[]).await;
        let (session, _) = initialize(&server.url, json!({})).await;
        assert_eq!(session.is_none(), stateless);
        let sessions = if stateless {
            vec![None]
        } else {
            vec![None, session.clone()]
        };
        for in_session in &sessions {
            for (case, body, code, id) in &cases {
                let label = format!(
                    "{case} (stateless: {stateless}, session: {})",
                    in_session.is_some()
                );
                let res = post_in(&server.url, in_session)
                    .body(body.clone())
                    .send()
                    .await
                    .unwrap();
                assert_eq!(res.status(), 400, "{label}");
                assert!(
                    res.headers()["content-type"]
                        .to_str()
                        .unwrap()
                        .starts_with("application/json"),
                    "{label}"
                );
                let body: Value = res.json().await.unwrap();
                assert_eq!(body["jsonrpc"], "2.0", "{label}: {body}");
                assert_eq!(body["error"]["code"], *code, "{label}: {body}");
                assert!(body["error"]["message"].is_string(), "{label}: {body}");
                assert!(
                    body.as_object().unwrap().contains_key("id"),
                    "{label}: {body}"
                );
                assert_eq!(&body["id"], id, "{label}: {body}");
            }
        }
        // The limit still answers 413.
        let mut big = initialize_body();
        big["params"]["clientInfo"]["name"] = json!("x".repeat(1024 * 1024 + 1));
        let res = post(&server.url).json(&big).send().await.unwrap();
        assert_eq!(res.status(), 413, "stateless: {stateless}");
        // Still serving.
        let list = post_in(&server.url, &session)
            .json(&json!({"jsonrpc": "2.0", "id": 8, "method": "tools/list"}))
            .send()
            .await
            .unwrap();
        assert_eq!(list.status(), 200);
        let list = answer(list).await;
        assert!(list["result"]["tools"].is_array(), "{list}");
    }
}

/// Stateless Streamable HTTP cannot carry a confirmation prompt to a 2025-11-25 client (there is
/// no session for the elicitation request): the refusal says so and names what works instead.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stateless_confirmation_refusal_names_the_transport() {
    let server = Server::start(&["--stateless"], &[("ZHIFU_CONFIRM", "always")]).await;
    let (_, init) = initialize(&server.url, json!({"elicitation": {"form": {}}})).await;
    assert_eq!(init["result"]["serverInfo"]["name"], "zhifu-mcp", "{init}");
    let res = post_in(&server.url, &None)
        .json(&json!({
            "jsonrpc": "2.0", "id": 9, "method": "tools/call",
            "params": {"name": "create_charge", "arguments": common::charge_args(&common::unique("SL"), 100)}
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body = answer(res).await;
    let result = &body["result"];
    assert_eq!(result["isError"], true, "{body}");
    let human = result["content"][0]["text"].as_str().unwrap();
    for needle in [
        "stateless Streamable HTTP",
        "2025-11-25",
        "without --stateless",
        "stdio",
        "2026-07-28",
    ] {
        assert!(
            human.contains(needle),
            "the refusal names {needle}: {human}"
        );
    }
    assert!(!human.contains("no elicitation support"), "{human}");
    let error: Value =
        serde_json::from_str(result["content"][1]["text"].as_str().unwrap()).unwrap();
    assert_eq!(error["error"]["kind"], "not_confirmed", "{error}");
}
