//! MCP over stdio that answers every line: newline-delimited JSON-RPC on the non-blocking pipe
//! halves of `rmcp::transport::stdio_pipes()`, implementing rmcp's `Transport<RoleServer>`.
//!
//! rmcp's own stdio transport drops lines that are not JSON and lines over its size cap without a
//! word, so a client waiting on its request waits forever. Here every line gets an answer:
//!
//! - not JSON (invalid UTF-8, a lone surrogate, nesting past serde_json's recursion limit,
//!   truncated) → `-32700` parse error;
//! - JSON that is not a JSON-RPC 2.0 message → `-32600` invalid request;
//! - a line over [`MAX_LINE_BYTES`] → `-32600` naming the limit; the rest of the line is read and
//!   dropped as it arrives, never buffered.
//!
//! Each error carries the request's `id` when [`IdScanner`] can find it in the raw bytes (also in
//! the discarded tail of an over-long line), `"id": null` otherwise, and the server keeps
//! serving. The happy path parses each line once, straight into rmcp's message type.

use std::future::Future;
use std::io;
use std::sync::Arc;

use rmcp::RoleServer;
use rmcp::service::{RxJsonRpcMessage, TxJsonRpcMessage};
use rmcp::transport::{StdioReader, StdioWriter, Transport};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::Mutex;

/// The largest message one stdio line may hold (the newline excluded): 16 MiB, as rmcp's own cap
/// and its HTTP client's SSE event limit.
pub const MAX_LINE_BYTES: usize = 16 * 1024 * 1024;

/// JSON-RPC 2.0: the message is not valid JSON.
pub const PARSE_ERROR: i64 = -32700;
/// JSON-RPC 2.0: valid JSON, but not a valid request object.
pub const INVALID_REQUEST: i64 = -32600;

/// Read buffer: one pipe's worth, so a 16 MiB line takes 256 reads rather than 2048.
const READ_BUFFER: usize = 64 * 1024;
/// A line buffer grown past this by a large message is released after it.
const KEEP_LINE_CAPACITY: usize = 1024 * 1024;
/// Longest `id` value (raw JSON text) the scanner keeps.
const MAX_ID_BYTES: usize = 4096;

/// Serves `server` over this process's stdin and stdout until the client closes stdin.
pub async fn serve(server: crate::mcp::server::ZhifuServer) -> anyhow::Result<()> {
    use anyhow::Context as _;
    use rmcp::ServiceExt as _;
    let server = server.with_transport(crate::mcp::server::TransportKind::Stdio);
    let (reader, writer) = rmcp::transport::stdio_pipes();
    let service = server
        .serve(LineTransport::<StdioReader, StdioWriter>::new(
            reader, writer,
        ))
        .await
        .context("MCP initialisation failed")?;
    service.waiting().await.context("MCP service failed")?;
    Ok(())
}

/// A JSON-RPC error answer to a message that could not be read.
#[derive(Debug, Clone, PartialEq)]
pub struct ProtocolError {
    /// The request's id, or `Value::Null`.
    pub id: Value,
    pub code: i64,
    pub message: String,
    pub data: Option<Value>,
}

impl ProtocolError {
    /// Why `bytes` (one message) did not parse as a JSON-RPC message; `err` is serde_json's
    /// error from that parse.
    pub fn unreadable(bytes: &[u8], err: &serde_json::Error) -> ProtocolError {
        use serde_json::error::Category;
        let id = request_id(bytes).unwrap_or(Value::Null);
        match err.classify() {
            Category::Data => ProtocolError {
                id,
                code: INVALID_REQUEST,
                message: format!("Invalid Request: {}", why_not_json_rpc(bytes)),
                data: None,
            },
            Category::Syntax | Category::Eof | Category::Io => ProtocolError {
                id,
                code: PARSE_ERROR,
                message: format!("Parse error: the message is not valid JSON ({err})"),
                data: None,
            },
        }
    }

    /// A message longer than `limit` bytes.
    pub fn too_large(id: Value, limit: usize, what: &str) -> ProtocolError {
        ProtocolError {
            id,
            code: INVALID_REQUEST,
            message: format!(
                "Invalid Request: {what} exceeds the limit of {} ({limit} bytes) and was discarded",
                human_bytes(limit)
            ),
            data: Some(json!({ "limit_bytes": limit })),
        }
    }

    /// The JSON-RPC error response: `{"jsonrpc":"2.0","id":…,"error":{code,message,data?}}`.
    pub fn to_json(&self) -> Value {
        let mut error = json!({ "code": self.code, "message": self.message });
        if let Some(data) = &self.data {
            error["data"] = data.clone();
        }
        json!({ "jsonrpc": "2.0", "id": self.id, "error": error })
    }

    fn to_line(&self) -> Vec<u8> {
        let mut line = self.to_json().to_string().into_bytes();
        line.push(b'\n');
        line
    }
}

fn human_bytes(n: usize) -> String {
    const MIB: usize = 1024 * 1024;
    if n.is_multiple_of(MIB) {
        format!("{} MiB", n / MIB)
    } else {
        format!("{n} bytes")
    }
}

/// Says what is wrong with well-formed JSON that rmcp could not read as a message.
fn why_not_json_rpc(bytes: &[u8]) -> &'static str {
    let Ok(value) = serde_json::from_slice::<Value>(strip_bom(bytes)) else {
        return "the message is not a JSON-RPC 2.0 message";
    };
    let Value::Object(map) = &value else {
        return if value.is_array() {
            "batches (JSON arrays) are not supported; send one JSON-RPC 2.0 object per message"
        } else {
            "a JSON-RPC 2.0 message is a JSON object"
        };
    };
    if map.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return "`jsonrpc` must be \"2.0\"";
    }
    if let Some(id) = map.get("id")
        && !(id.is_string() || id.is_i64())
    {
        return "`id` must be a string or an integer";
    }
    if let Some(method) = map.get("method") {
        return if method.is_string() {
            "the message does not match the JSON-RPC 2.0 request or notification shape"
        } else {
            "`method` must be a string"
        };
    }
    if map.contains_key("result") || map.contains_key("error") {
        return "the message does not match the JSON-RPC 2.0 response shape";
    }
    "expected `method` (a request or notification) or `result`/`error` (a response)"
}

fn strip_bom(bytes: &[u8]) -> &[u8] {
    bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes)
}

/// The top-level `id` of a message's raw bytes, without parsing it: a string or an integer, or
/// `None` when there is none, it is of another type, it is not readable, or the message is a
/// response (which carries the *server's* request id: echoing it would answer one of the
/// client's own requests by mistake).
pub fn request_id(bytes: &[u8]) -> Option<Value> {
    let mut scanner = IdScanner::default();
    scanner.feed(strip_bom(bytes));
    scanner.finish()
}

/// A streaming scanner over the bytes of one JSON object that finds its top-level `"id"` member
/// and notes whether `method`, `result` or `error` members are present. It never recurses and
/// keeps only a few bytes, so it works on truncated, too-deep and over-long input alike.
#[derive(Debug, Default)]
pub struct IdScanner {
    state: ScanState,
    /// The current key, raw (escapes not decoded), up to 8 bytes.
    key: Vec<u8>,
    key_too_long: bool,
    /// The value being read: nesting depth and string state.
    depth: u32,
    in_string: bool,
    escaped: bool,
    /// Whether the value being read is a scalar (number, literal).
    scalar: bool,
    /// Whether the value being read is the `id`, and its raw bytes so far.
    capturing: bool,
    captured: Vec<u8>,
    captured_too_long: bool,
    id: Option<Value>,
    saw_id: bool,
    saw_method: bool,
    saw_reply: bool,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum ScanState {
    /// Before the opening `{`.
    #[default]
    Start,
    /// After `{` or `,`: expecting a key or `}`.
    BeforeKey,
    InKey,
    /// After a key: expecting `:`.
    AfterKey,
    /// After `:`: expecting a value.
    BeforeValue,
    InValue,
    /// After a value: expecting `,` or `}`.
    AfterValue,
    /// The object ended, or the input is not an object: nothing more to learn.
    Done,
}

impl IdScanner {
    /// Feeds the next bytes of the message.
    pub fn feed(&mut self, bytes: &[u8]) {
        for &b in bytes {
            if self.state == ScanState::Done {
                return;
            }
            self.step(b);
        }
    }

    /// The id found, under the rules of [`request_id`]; call at the end of the message.
    pub fn finish(mut self) -> Option<Value> {
        if self.state == ScanState::InValue && self.scalar {
            // A number at the very end of (truncated) input is complete.
            self.end_value();
        }
        if self.saw_reply && !self.saw_method {
            return None;
        }
        self.id
    }

    fn step(&mut self, b: u8) {
        let ws = matches!(b, b' ' | b'\t' | b'\n' | b'\r');
        match self.state {
            ScanState::Start => match b {
                b'{' => self.state = ScanState::BeforeKey,
                _ if ws => {}
                _ => self.state = ScanState::Done,
            },
            ScanState::BeforeKey => match b {
                b'"' => {
                    self.key.clear();
                    self.key_too_long = false;
                    self.escaped = false;
                    self.state = ScanState::InKey;
                }
                b'}' => self.state = ScanState::Done,
                _ if ws => {}
                _ => self.state = ScanState::Done,
            },
            ScanState::InKey => self.key_byte(b),
            ScanState::AfterKey => match b {
                b':' => {
                    self.begin_member();
                    self.state = ScanState::BeforeValue;
                }
                _ if ws => {}
                _ => self.state = ScanState::Done,
            },
            ScanState::BeforeValue => {
                if !ws {
                    self.depth = 0;
                    self.in_string = false;
                    self.escaped = false;
                    self.scalar = !matches!(b, b'"' | b'{' | b'[');
                    self.state = ScanState::InValue;
                    self.value_byte(b);
                }
            }
            ScanState::InValue => self.value_byte(b),
            ScanState::AfterValue => match b {
                b',' => self.state = ScanState::BeforeKey,
                b'}' => self.state = ScanState::Done,
                _ if ws => {}
                _ => self.state = ScanState::Done,
            },
            ScanState::Done => {}
        }
    }

    fn key_byte(&mut self, b: u8) {
        if self.escaped {
            self.escaped = false;
        } else if b == b'\\' {
            self.escaped = true;
        } else if b == b'"' {
            self.state = ScanState::AfterKey;
            return;
        }
        if self.key.len() < 8 {
            self.key.push(b);
        } else {
            self.key_too_long = true;
        }
    }

    /// A member's value starts: remember which member it is.
    fn begin_member(&mut self) {
        let key: &[u8] = if self.key_too_long { b"" } else { &self.key };
        self.capturing = false;
        match key {
            b"id" if !self.saw_id => {
                self.saw_id = true;
                self.capturing = true;
                self.captured.clear();
                self.captured_too_long = false;
            }
            b"method" => self.saw_method = true,
            b"result" | b"error" => self.saw_reply = true,
            _ => {}
        }
    }

    fn value_byte(&mut self, b: u8) {
        if self.in_string {
            self.capture(b);
            if self.escaped {
                self.escaped = false;
            } else if b == b'\\' {
                self.escaped = true;
            } else if b == b'"' {
                self.in_string = false;
                if self.depth == 0 {
                    self.end_value();
                }
            }
            return;
        }
        if self.scalar {
            if matches!(b, b',' | b'}' | b' ' | b'\t' | b'\n' | b'\r') {
                self.end_value();
                self.step(b);
            } else {
                self.capture(b);
            }
            return;
        }
        self.capture(b);
        match b {
            b'"' => self.in_string = true,
            b'{' | b'[' => self.depth += 1,
            b'}' | b']' => {
                self.depth = self.depth.saturating_sub(1);
                if self.depth == 0 {
                    self.end_value();
                }
            }
            _ => {}
        }
    }

    fn capture(&mut self, b: u8) {
        if !self.capturing {
            return;
        }
        if self.captured.len() < MAX_ID_BYTES {
            self.captured.push(b);
        } else {
            self.captured_too_long = true;
        }
    }

    fn end_value(&mut self) {
        self.state = ScanState::AfterValue;
        if !self.capturing {
            return;
        }
        self.capturing = false;
        if self.captured_too_long {
            return;
        }
        self.id = match serde_json::from_slice::<Value>(&self.captured) {
            Ok(Value::String(s)) => Some(Value::String(s)),
            Ok(Value::Number(n)) if n.is_i64() => Some(Value::Number(n)),
            _ => None,
        };
    }
}

/// What one line holds. Not boxed: the message moves once, straight to rmcp, which takes it
/// unboxed; a box would cost an allocation per message on the happy path.
#[allow(clippy::large_enum_variant)]
enum Decoded {
    Message(RxJsonRpcMessage<RoleServer>),
    /// Not a message: answer with this error line.
    Answer(Vec<u8>),
    /// Blank: nothing to do.
    Blank,
}

fn decode(raw: &[u8]) -> Decoded {
    let line = raw.strip_suffix(b"\n").unwrap_or(raw);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let line = strip_bom(line);
    if line.is_empty() {
        return Decoded::Blank;
    }
    match serde_json::from_slice(line) {
        Ok(message) => Decoded::Message(message),
        Err(_) if line.iter().all(u8::is_ascii_whitespace) => Decoded::Blank,
        Err(e) => {
            let error = ProtocolError::unreadable(line, &e);
            tracing::debug!(code = error.code, message = %error.message, "unreadable stdio message");
            Decoded::Answer(error.to_line())
        }
    }
}

/// Outcome of reading one line.
enum LineRead {
    /// A whole line (with its newline) is in the line buffer.
    Line,
    /// A line over the cap ended (or the input did); the id its bytes held, if any.
    Oversized(Option<Value>),
    Eof,
    Io(io::Error),
}

/// The write side, shared by `send` and by `receive` (for error answers). Bytes are appended
/// whole under the lock and written from `buf`, so a write cancelled half way leaves no torn
/// line: the next writer finishes it first.
struct Output<W> {
    sink: Option<W>,
    buf: Vec<u8>,
}

impl<W: AsyncWrite + Unpin> Output<W> {
    fn push(&mut self, line: Vec<u8>) {
        if self.buf.is_empty() {
            self.buf = line;
        } else {
            self.buf.extend_from_slice(&line);
        }
    }

    async fn drain(&mut self) -> io::Result<()> {
        let Some(sink) = self.sink.as_mut() else {
            return Err(io::Error::new(
                io::ErrorKind::NotConnected,
                "the transport is closed",
            ));
        };
        while !self.buf.is_empty() {
            // `write` is cancel safe: if this future is dropped, nothing was written.
            let n = sink.write(&self.buf).await?;
            if n == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            self.buf.drain(..n);
        }
        sink.flush().await
    }
}

/// Newline-delimited JSON-RPC over a reader and a writer (stdin and stdout in [`serve`]).
pub struct LineTransport<R, W> {
    read: BufReader<R>,
    line: Vec<u8>,
    max_line: usize,
    /// While the tail of an over-long line is dropped: the scanner looking for its id.
    oversized: Option<IdScanner>,
    /// An error answer not yet handed to the writer (kept across a cancelled `receive`).
    pending: Option<Vec<u8>>,
    /// An error answer was handed over but maybe not fully written yet.
    unflushed: bool,
    out: Arc<Mutex<Output<W>>>,
}

impl<R, W> LineTransport<R, W>
where
    R: AsyncRead + Unpin + Send,
    W: AsyncWrite + Unpin + Send + 'static,
{
    pub fn new(reader: R, writer: W) -> Self {
        LineTransport {
            read: BufReader::with_capacity(READ_BUFFER, reader),
            line: Vec::new(),
            max_line: MAX_LINE_BYTES,
            oversized: None,
            pending: None,
            unflushed: false,
            out: Arc::new(Mutex::new(Output {
                sink: Some(writer),
                buf: Vec::new(),
            })),
        }
    }

    /// Sets a different line cap (tests use a small one).
    pub fn with_max_line_bytes(mut self, max: usize) -> Self {
        self.max_line = max;
        self
    }

    /// Reads one line into `self.line` without ever holding more than the cap. Cancel safe: the
    /// bytes taken from the reader and the state they change are updated together, between awaits.
    async fn read_line(&mut self) -> LineRead {
        loop {
            let (taken, ended) = {
                let available = match self.read.fill_buf().await {
                    Ok(a) => a,
                    Err(e) => return LineRead::Io(e),
                };
                if available.is_empty() {
                    return match self.oversized.take() {
                        Some(scanner) => LineRead::Oversized(scanner.finish()),
                        None => LineRead::Eof,
                    };
                }
                let newline = available.iter().position(|&b| b == b'\n');
                let take = newline.map_or(available.len(), |i| i + 1);
                let chunk = &available[..take];
                if let Some(scanner) = self.oversized.as_mut() {
                    scanner.feed(chunk);
                } else if self.line.len() + take - usize::from(newline.is_some()) > self.max_line {
                    let mut scanner = IdScanner::default();
                    scanner.feed(strip_bom(&self.line));
                    scanner.feed(chunk);
                    self.line = Vec::new();
                    self.oversized = Some(scanner);
                } else {
                    self.line.extend_from_slice(chunk);
                }
                (take, newline.is_some())
            };
            self.read.consume(taken);
            if ended {
                return match self.oversized.take() {
                    Some(scanner) => LineRead::Oversized(scanner.finish()),
                    None => LineRead::Line,
                };
            }
        }
    }

    /// Takes the line buffer's content, releasing a buffer a large message grew.
    fn take_line(&mut self) -> Decoded {
        let decoded = decode(&self.line);
        self.line.clear();
        if self.line.capacity() > KEEP_LINE_CAPACITY {
            self.line = Vec::new();
        }
        decoded
    }

    /// Writes the pending error answer, if any. `Err` when the output is gone.
    async fn flush_pending(&mut self) -> io::Result<()> {
        if self.pending.is_none() && !self.unflushed {
            return Ok(());
        }
        let mut out = self.out.lock().await;
        if let Some(line) = self.pending.take() {
            out.push(line);
            self.unflushed = true;
        }
        out.drain().await?;
        self.unflushed = false;
        Ok(())
    }
}

fn encode(item: &TxJsonRpcMessage<RoleServer>) -> io::Result<Vec<u8>> {
    let mut line = serde_json::to_vec(item)?;
    line.push(b'\n');
    Ok(line)
}

impl<R, W> Transport<RoleServer> for LineTransport<R, W>
where
    R: AsyncRead + Unpin + Send,
    W: AsyncWrite + Unpin + Send + 'static,
{
    type Error = io::Error;

    fn send(
        &mut self,
        item: TxJsonRpcMessage<RoleServer>,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'static {
        let line = encode(&item);
        let out = self.out.clone();
        async move {
            let line = line?;
            let mut out = out.lock().await;
            out.push(line);
            out.drain().await
        }
    }

    async fn receive(&mut self) -> Option<RxJsonRpcMessage<RoleServer>> {
        loop {
            if let Err(e) = self.flush_pending().await {
                tracing::debug!(error = %e, "cannot write to stdout; closing");
                return None;
            }
            match self.read_line().await {
                LineRead::Line => match self.take_line() {
                    Decoded::Message(message) => return Some(message),
                    Decoded::Answer(line) => self.pending = Some(line),
                    Decoded::Blank => {}
                },
                LineRead::Oversized(id) => {
                    tracing::warn!(
                        limit = self.max_line,
                        "discarded a stdio message over the size limit"
                    );
                    let error = ProtocolError::too_large(
                        id.unwrap_or(Value::Null),
                        self.max_line,
                        "the message",
                    );
                    self.pending = Some(error.to_line());
                }
                LineRead::Eof => {
                    // A last message without its newline still counts.
                    if self.line.is_empty() {
                        let _ = self.flush_pending().await;
                        return None;
                    }
                    match self.take_line() {
                        Decoded::Message(message) => return Some(message),
                        Decoded::Answer(line) => self.pending = Some(line),
                        Decoded::Blank => {}
                    }
                }
                LineRead::Io(e) => {
                    tracing::error!(error = %e, "cannot read stdin; closing");
                    return None;
                }
            }
        }
    }

    async fn close(&mut self) -> Result<(), Self::Error> {
        let mut out = self.out.lock().await;
        let _ = out.drain().await;
        if let Some(mut sink) = out.sink.take() {
            let _ = sink.shutdown().await;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(bytes: &[u8]) -> Option<Value> {
        request_id(bytes)
    }

    #[test]
    fn scanner_finds_the_top_level_id_wherever_it_is() {
        assert_eq!(
            id(br#"{"jsonrpc":"2.0","id":7,"method":"ping"}"#),
            Some(json!(7))
        );
        assert_eq!(
            id(br#"{"method":"tools/call","params":{"id":1,"a":[{"id":2}]},"jsonrpc":"2.0","id":"abc"}"#),
            Some(json!("abc")),
            "nested ids are not the message's id"
        );
        assert_eq!(
            id(b" \r\n{ \"id\" : -12 , \"method\" : \"x\" }"),
            Some(json!(-12))
        );
        assert_eq!(
            id(br#"{"params":{"s":"a \"quoted\" } brace"},"id":"x\"y","method":"m"}"#),
            Some(json!("x\"y")),
            "strings with escapes and braces are skipped correctly"
        );
        assert_eq!(
            id(br#"{"x":[1,2,{"y":"]"}],"id":3,"method":"m"}"#),
            Some(json!(3))
        );
        assert_eq!(
            id(br#"{"x":true,"y":null,"z":1.5e3,"id":4,"method":"m"}"#),
            Some(json!(4))
        );
    }

    #[test]
    fn scanner_works_on_broken_deep_and_truncated_input() {
        assert_eq!(
            id(br#"{"jsonrpc":"2.0","id":14,"method":"tools/li"#),
            Some(json!(14))
        );
        assert_eq!(id(br#"{"jsonrpc":"2.0","id":15"#), Some(json!(15)));
        let deep = format!(
            r#"{{"id":9,"method":"m","params":{}0{}}}"#,
            "[".repeat(10_000),
            "]".repeat(10_000)
        );
        assert_eq!(id(deep.as_bytes()), Some(json!(9)));
        let deep_then_id = format!(
            r#"{{"method":"m","params":{}0{},"id":"late"}}"#,
            "{\"a\":".repeat(5_000),
            "}".repeat(5_000)
        );
        assert_eq!(id(deep_then_id.as_bytes()), Some(json!("late")));
        let mut bad = br#"{"id":8,"method":"m","params":{"x":""#.to_vec();
        bad.extend_from_slice(b"\xff\"}}");
        assert_eq!(id(&bad), Some(json!(8)), "invalid UTF-8 after the id");
        assert_eq!(
            id(b"\xEF\xBB\xBF{\"id\":1,\"method\":\"m\"}"),
            Some(json!(1))
        );
    }

    #[test]
    fn scanner_refuses_ids_that_cannot_be_echoed() {
        for bytes in [
            &br#"{"id":null,"method":"m"}"#[..],
            br#"{"id":1.5,"method":"m"}"#,
            br#"{"id":{"a":1},"method":"m"}"#,
            br#"{"id":[1],"method":"m"}"#,
            br#"{"id":true,"method":"m"}"#,
            br#"{"id":99999999999999999999,"method":"m"}"#,
            br#"{"id":"\ud800","method":"m"}"#,
            br#"{"method":"m","params":{}}"#,
            br#"[{"id":1,"method":"m"}]"#,
            b"42",
            b"hello",
            b"",
            br#"{"a" "id":1}"#,
        ] {
            assert_eq!(id(bytes), None, "{}", String::from_utf8_lossy(bytes));
        }
        let long = format!(r#"{{"id":"{}","method":"m"}}"#, "x".repeat(MAX_ID_BYTES));
        assert_eq!(id(long.as_bytes()), None, "an id over the scanner's limit");
        // Only the first id member counts.
        assert_eq!(id(br#"{"id":1,"id":2,"method":"m"}"#), Some(json!(1)));
    }

    #[test]
    fn responses_never_lend_their_id() {
        // A response carries the server's request id; answering with it would look like the
        // answer to one of the client's own requests.
        assert_eq!(id(br#"{"jsonrpc":"2.0","id":1,"result":"#), None);
        assert_eq!(id(br#"{"jsonrpc":"2.0","id":1,"error":{}}"#), None);
        assert_eq!(id(br#"{"id":1,"method":"m","result":{}}"#), Some(json!(1)));
    }

    #[test]
    fn scanner_streams_across_chunks() {
        let text =
            br#"{"method":"tools/call","params":{"arguments":{"s":"a\\\"b"}},"id":"chunked"}"#;
        for split in 1..text.len() {
            let mut s = IdScanner::default();
            for chunk in text.chunks(split) {
                s.feed(chunk);
            }
            assert_eq!(s.finish(), Some(json!("chunked")), "chunks of {split}");
        }
    }

    #[test]
    fn unreadable_messages_get_the_right_code_and_reason() {
        let err = |bytes: &[u8]| {
            let e = serde_json::from_slice::<RxJsonRpcMessage<RoleServer>>(bytes).unwrap_err();
            ProtocolError::unreadable(bytes, &e)
        };
        let e = err(br#"{"jsonrpc":"2.0","id":3,"method":"ping""#);
        assert_eq!((e.code, e.id), (PARSE_ERROR, json!(3)));
        let e = err(br#"[{"jsonrpc":"2.0","id":3,"method":"ping"}]"#);
        assert_eq!((e.code, e.id.clone()), (INVALID_REQUEST, Value::Null));
        assert!(e.message.contains("batches"), "{}", e.message);
        let e = err(br#"{"jsonrpc":"1.0","id":"a","method":"ping"}"#);
        assert_eq!((e.code, e.id.clone()), (INVALID_REQUEST, json!("a")));
        assert!(e.message.contains("\"2.0\""), "{}", e.message);
        let e = err(br#"{"jsonrpc":"2.0","id":2,"method":7}"#);
        assert!(e.message.contains("`method`"), "{}", e.message);
        let e = err(br#"{"jsonrpc":"2.0","id":[2],"method":"ping"}"#);
        assert_eq!(e.id, Value::Null);
        assert!(e.message.contains("`id`"), "{}", e.message);
        let wire = e.to_json();
        assert!(wire.as_object().unwrap().contains_key("id"));
        assert_eq!(wire["id"], Value::Null);
        assert_eq!(wire["error"]["code"], INVALID_REQUEST);
    }

    /// The transport over an in-memory pipe with a small cap.
    async fn exchange(input: Vec<u8>, cap: usize) -> (Vec<String>, Vec<Value>) {
        let (client, server) = tokio::io::duplex(1 << 20);
        let (server_read, server_write) = tokio::io::split(server);
        let mut transport = LineTransport::new(server_read, server_write).with_max_line_bytes(cap);
        let (mut client_read, mut client_write) = tokio::io::split(client);
        let writer = tokio::spawn(async move {
            client_write.write_all(&input).await.unwrap();
            client_write.shutdown().await.unwrap();
        });
        let mut methods = Vec::new();
        while let Some(message) = transport.receive().await {
            let value = serde_json::to_value(&message).unwrap();
            methods.push(value["method"].as_str().unwrap_or("?").to_string());
        }
        writer.await.unwrap();
        transport.close().await.unwrap();
        let mut out = Vec::new();
        tokio::io::AsyncReadExt::read_to_end(&mut client_read, &mut out)
            .await
            .unwrap();
        let answers = out
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_slice(l).unwrap())
            .collect();
        (methods, answers)
    }

    #[tokio::test]
    async fn over_the_cap_is_answered_and_the_tail_dropped_at_the_exact_boundary() {
        let ping = |id: u32| format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"ping"}}"#);
        let spaced = |id: u32| format!(r#"{{"jsonrpc":"2.0", "id":{id},"method":"ping"}}"#);
        let cap = ping(1).len() + 1;
        let mut input = Vec::new();
        input.extend_from_slice(format!("{}\n", spaced(1)).as_bytes()); // exactly the cap
        input.extend_from_slice(format!("{}\n", spaced(22)).as_bytes()); // one byte over
        input.extend_from_slice(b"\n   \n");
        input.extend_from_slice(format!("{}\r\n", ping(3)).as_bytes()); // the CR counts
        input.extend_from_slice(ping(4).as_bytes()); // no newline at the end
        let (methods, answers) = exchange(input, cap).await;
        assert_eq!(methods, ["ping", "ping", "ping"]);
        assert_eq!(answers.len(), 1, "{answers:?}");
        assert_eq!(answers[0]["id"], 22);
        assert_eq!(answers[0]["error"]["code"], INVALID_REQUEST);
        assert_eq!(answers[0]["error"]["data"]["limit_bytes"], cap);
    }

    #[tokio::test]
    async fn an_unterminated_oversized_line_at_the_end_is_still_answered() {
        let mut input = br#"{"jsonrpc":"2.0","id":"tail","method":"ping","params":{"x":""#.to_vec();
        input.extend_from_slice(&[b'a'; 10_000]);
        let (methods, answers) = exchange(input, 100).await;
        assert!(methods.is_empty());
        assert_eq!(answers.len(), 1);
        assert_eq!(answers[0]["id"], "tail");
    }
}
