//! The protocol layer through the real binary over raw stdio pipes (rmcp's client cannot send
//! garbage): every malformed line gets a JSON-RPC error with the right code and the request's id
//! when it can be recovered, and the server keeps serving; error results carry no
//! `structuredContent` (which would break the tool's output schema for strict clients).

mod common;

use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin};
use tokio::sync::mpsc;

/// Upper bound for one answer: a hang detector, not a timing assertion.
const ANSWER_WITHIN: Duration = Duration::from_secs(60);
/// The stdio line cap the server documents (16 MiB).
const CAP: usize = 16 * 1024 * 1024;

/// `zhifu-mcp serve` on the embedded sandbox, driven by hand over its stdin and stdout.
struct Raw {
    _child: Child,
    stdin: ChildStdin,
    /// Every stdout line, parsed; a line that is not JSON fails the test in the reader.
    lines: mpsc::UnboundedReceiver<Value>,
}

impl Raw {
    async fn start() -> Raw {
        let mut child = common::command()
            .arg("serve")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("the binary starts");
        let stdin = child.stdin.take().unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap()).lines();
        let (tx, lines) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok(Some(line)) = out.next_line().await {
                let value: Value = serde_json::from_str(&line)
                    .unwrap_or_else(|e| panic!("stdout line is not JSON ({e}): {line}"));
                if tx.send(value).is_err() {
                    break;
                }
            }
        });
        let mut raw = Raw {
            _child: child,
            stdin,
            lines,
        };
        raw.send(&json!({
            "jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": {
                "protocolVersion": "2025-11-25",
                "capabilities": {},
                "clientInfo": {"name": "raw-pipe-test", "version": "0"}
            }
        }))
        .await;
        let init = raw.response().await;
        assert_eq!(init["id"], 1, "{init}");
        assert_eq!(init["result"]["serverInfo"]["name"], "zhifu-mcp", "{init}");
        raw.send(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
            .await;
        raw
    }

    async fn send(&mut self, message: &Value) {
        self.line(message.to_string().as_bytes()).await;
    }

    /// Writes `bytes` and a newline.
    async fn line(&mut self, bytes: &[u8]) {
        self.stdin.write_all(bytes).await.expect("write to stdin");
        self.stdin.write_all(b"\n").await.expect("write to stdin");
        self.stdin.flush().await.unwrap();
    }

    /// The next response (a message with `result` or `error`); notifications are skipped.
    async fn response(&mut self) -> Value {
        loop {
            let message = tokio::time::timeout(ANSWER_WITHIN, self.lines.recv())
                .await
                .expect("no answer: the server left the client waiting")
                .expect("the server closed stdout");
            if message.get("result").is_some() || message.get("error").is_some() {
                return message;
            }
        }
    }

    /// A ping answers with an empty result: the server is still serving.
    async fn still_serving(&mut self, id: i64) {
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": "ping"}))
            .await;
        let pong = self.response().await;
        assert_eq!(pong["id"], id, "{pong}");
        assert_eq!(pong["result"], json!({}), "{pong}");
    }
}

/// Asserts a JSON-RPC error answer with `code` and exactly `id` (`Value::Null` = `"id": null`).
fn assert_error(case: &str, answer: &Value, code: i64, id: &Value) {
    assert_eq!(answer["jsonrpc"], "2.0", "{case}: {answer}");
    assert_eq!(answer["error"]["code"], code, "{case}: {answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{case}: a message: {answer}"
    );
    assert!(
        answer.as_object().unwrap().contains_key("id"),
        "{case}: the error carries an id member: {answer}"
    );
    assert_eq!(&answer["id"], id, "{case}: {answer}");
}

/// `depth` nested arrays around a zero.
fn nested(depth: usize) -> String {
    format!("{}0{}", "[".repeat(depth), "]".repeat(depth))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_malformed_line_gets_an_error_and_the_server_keeps_serving() {
    let mut raw = Raw::start().await;
    let call = |id: i64, arguments: &str| {
        format!(
            r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"list_charges","arguments":{arguments}}}}}"#
        )
        .into_bytes()
    };
    let mut invalid_utf8 = br#"{"jsonrpc":"2.0","id":11,"method":"tools/call","params":{"name":"list_charges","arguments":{"x":""#.to_vec();
    invalid_utf8.extend_from_slice(b"\xff\xfe\"}}}");
    let cases: Vec<(&str, Vec<u8>, i64, Value)> = vec![
        ("invalid UTF-8 inside a string", invalid_utf8, -32700, json!(11)),
        ("bytes that are not UTF-8 at all", b"\xff\xfe\xfd".to_vec(), -32700, Value::Null),
        ("a lone surrogate", call(12, r#"{"x":"\ud800"}"#), -32700, json!(12)),
        (
            "nesting past the parser's limit (130 levels) in the arguments",
            call(13, &format!(r#"{{"x":{}}}"#, nested(130))),
            -32700,
            json!(13),
        ),
        ("a line nested 200 levels deep", nested(200).into_bytes(), -32700, Value::Null),
        (
            "truncated JSON",
            br#"{"jsonrpc":"2.0","id":14,"method":"tools/li"#.to_vec(),
            -32700,
            json!(14),
        ),
        (
            "truncated JSON, id after the params (as the TypeScript SDK orders it)",
            br#"{"method":"tools/call","params":{"name":"list_charges"},"jsonrpc":"2.0","id":"req-15","#.to_vec(),
            -32700,
            json!("req-15"),
        ),
        ("not JSON at all", b"hello".to_vec(), -32700, Value::Null),
        ("a JSON object that is not JSON-RPC", br#"{"hello":"world"}"#.to_vec(), -32600, Value::Null),
        ("a batch", br#"[{"jsonrpc":"2.0","id":16,"method":"ping"}]"#.to_vec(), -32600, Value::Null),
        ("a number", b"42".to_vec(), -32600, Value::Null),
        (
            "the wrong jsonrpc version",
            br#"{"jsonrpc":"1.0","id":17,"method":"ping"}"#.to_vec(),
            -32600,
            json!(17),
        ),
        (
            "a method that is not a string",
            br#"{"jsonrpc":"2.0","id":"m-18","method":5}"#.to_vec(),
            -32600,
            json!("m-18"),
        ),
        (
            "an id that is neither a string nor an integer",
            br#"{"jsonrpc":"2.0","id":{"a":1},"method":"ping"}"#.to_vec(),
            -32600,
            Value::Null,
        ),
    ];
    for (i, (case, bytes, code, id)) in cases.iter().enumerate() {
        raw.line(bytes).await;
        let answer = raw.response().await;
        assert_error(case, &answer, *code, id);
        raw.still_serving(1000 + i as i64).await;
    }
    // 124 levels in the arguments is still JSON the parser reads: the tool call is answered
    // (refused by argument validation), not dropped.
    raw.line(&call(19, &format!(r#"{{"x":{}}}"#, nested(124))))
        .await;
    let answer = raw.response().await;
    assert_eq!(answer["id"], 19, "{answer}");
    assert_eq!(answer["result"]["isError"], true, "{answer}");
    raw.send(&json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}))
        .await;
    let list = raw.response().await;
    assert_eq!(list["id"], 2);
    assert!(
        list["result"]["tools"]
            .as_array()
            .is_some_and(|t| t.iter().any(|t| t["name"] == "create_charge")),
        "{list}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_line_over_the_cap_is_refused_naming_the_limit_and_its_rest_is_discarded() {
    let mut raw = Raw::start().await;
    let padding = "A".repeat(CAP + 1024 * 1024);
    // The id first (rmcp's and Python's order), then the id last (the TypeScript SDK's order):
    // both are recovered, the second from the part of the line that is discarded.
    let id_first = format!(
        r#"{{"jsonrpc":"2.0","id":21,"method":"tools/call","params":{{"name":"list_charges","arguments":{{"pad":"{padding}"}}}}}}"#
    );
    let id_last = format!(
        r#"{{"method":"tools/call","params":{{"name":"list_charges","arguments":{{"pad":"{padding}"}}}},"jsonrpc":"2.0","id":"big-22"}}"#
    );
    let junk = "x".repeat(CAP + 10);
    for (case, line, id) in [
        ("id first", id_first, json!(21)),
        ("id last", id_last, json!("big-22")),
        ("no JSON at all", junk, Value::Null),
    ] {
        raw.line(line.as_bytes()).await;
        let answer = raw.response().await;
        assert_error(case, &answer, -32600, &id);
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("16 MiB") && message.contains(&CAP.to_string()),
            "{case}: the error names the limit: {message}"
        );
        assert_eq!(
            answer["error"]["data"]["limit_bytes"], CAP,
            "{case}: {answer}"
        );
        // The rest of the line was discarded, not read as a new message.
        raw.still_serving(2000).await;
    }
    // A line just under the cap is still a message (here: a call refused by validation).
    let under = format!(
        r#"{{"jsonrpc":"2.0","id":23,"method":"tools/call","params":{{"name":"list_charges","arguments":{{"pad":"{}"}}}}}}"#,
        "A".repeat(CAP - 200)
    );
    assert!(under.len() < CAP);
    raw.line(under.as_bytes()).await;
    let answer = raw.response().await;
    assert_eq!(answer["id"], 23);
    assert_eq!(answer["result"]["isError"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_response_from_the_client_is_not_answered_with_its_id() {
    // A response carries the server's own request id; echoing it would answer one of the
    // client's requests by mistake.
    let mut raw = Raw::start().await;
    raw.line(br#"{"jsonrpc":"2.0","id":1,"result":"#).await;
    let answer = raw.response().await;
    assert_error("truncated response", &answer, -32700, &Value::Null);
    raw.still_serving(3000).await;
}

/// An error result is valid for every client: `isError`, no `structuredContent` (it would break
/// the tool's `outputSchema`), a human line and then the error object as JSON text.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_results_carry_the_error_as_text_without_structured_content() {
    let mut raw = Raw::start().await;
    raw.send(&json!({
        "jsonrpc": "2.0", "id": 5, "method": "tools/call",
        "params": {"name": "list_charges", "arguments": {"limit": 0}}
    }))
    .await;
    let answer = raw.response().await;
    let result = &answer["result"];
    assert_eq!(result["isError"], true, "{answer}");
    assert!(
        result.get("structuredContent").is_none(),
        "no structuredContent on an error result: {answer}"
    );
    let content = result["content"].as_array().expect("content");
    assert_eq!(content.len(), 2, "{answer}");
    assert!(content.iter().all(|c| c["type"] == "text"), "{answer}");
    let human = content[0]["text"].as_str().unwrap();
    assert!(human.contains("limit"), "{human}");
    let error: Value =
        serde_json::from_str(content[1]["text"].as_str().unwrap()).expect("JSON text");
    let error = &error["error"];
    assert_eq!(error["kind"], "invalid_arguments", "{error}");
    assert_eq!(error["field"], "limit", "{error}");
    assert_eq!(error["retry_safe"], false, "{error}");
    assert!(error["message"].is_string() && error["next_step"].is_string());
}
