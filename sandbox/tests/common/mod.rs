//! Test client for the Ping++ sandbox: real HTTP with reqwest, requests signed with the merchant
//! key the sandbox handed out, exactly over the bytes and request target that are sent.
#![allow(dead_code)]

use std::time::{SystemTime, UNIX_EPOCH};

use reqwest::Method;
use rsa::PrivateKey;
use serde_json::{Value, json};
use zhifu_sandbox::{Sandbox, SandboxOptions};
use zhifu_signing::keys::private_key_from_text;
use zhifu_signing::pingpp::{SIGNATURE_HEADER, TIMESTAMP_HEADER, sign_request};

pub struct Client {
    pub sandbox: Sandbox,
    pub http: reqwest::Client,
    pub key: PrivateKey,
}

/// A status and the parsed JSON body of one answer.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
}

impl Answer {
    /// Panics with the body when the status is not `expected`.
    pub fn expect(self, expected: u16) -> Value {
        assert_eq!(
            self.status, expected,
            "unexpected status; body: {}",
            self.body
        );
        self.body
    }

    pub fn error_message(&self) -> &str {
        self.body["error"]["message"].as_str().unwrap_or_default()
    }
}

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

pub async fn start() -> Client {
    start_with(SandboxOptions::default()).await
}

pub async fn start_with(options: SandboxOptions) -> Client {
    let sandbox = zhifu_sandbox::start("127.0.0.1:0".parse().unwrap(), options)
        .await
        .expect("sandbox starts");
    let key = private_key_from_text(&sandbox.pingpp.merchant_private_key_pem, "test")
        .expect("merchant key parses");
    Client {
        sandbox,
        http: reqwest::Client::new(),
        key,
    }
}

impl Client {
    pub fn app_id(&self) -> &str {
        &self.sandbox.pingpp.app_id
    }

    pub fn url(&self, target: &str) -> String {
        format!("{}{target}", self.sandbox.base_url)
    }

    /// A request with Bearer auth and a valid signature over `body` ‖ `target` ‖ now.
    pub fn signed(&self, method: Method, target: &str, body: &str) -> reqwest::RequestBuilder {
        let ts = now();
        let signature = sign_request(&self.key, body.as_bytes(), target, ts);
        self.request(
            method,
            target,
            body,
            &self.sandbox.pingpp.api_key,
            Some((ts, &signature)),
        )
    }

    /// A request with exactly the given key, timestamp and signature headers (each sent once).
    pub fn request(
        &self,
        method: Method,
        target: &str,
        body: &str,
        api_key: &str,
        signature: Option<(u64, &str)>,
    ) -> reqwest::RequestBuilder {
        let mut request = self
            .http
            .request(method, self.url(target))
            .bearer_auth(api_key);
        if let Some((ts, signature)) = signature {
            request = request
                .header(TIMESTAMP_HEADER, ts.to_string())
                .header(SIGNATURE_HEADER, signature);
        }
        if !body.is_empty() {
            request = request
                .header("Content-Type", "application/json")
                .body(body.to_string());
        }
        request
    }

    pub async fn send(&self, request: reqwest::RequestBuilder) -> Answer {
        let response = request.send().await.expect("request reaches the sandbox");
        let status = response.status().as_u16();
        let text = response.text().await.expect("body");
        let body =
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("JSON body, got {text:?}"));
        Answer { status, body }
    }

    pub async fn call(&self, method: Method, target: &str, body: Option<&Value>) -> Answer {
        let text = body.map(Value::to_string).unwrap_or_default();
        self.send(self.signed(method, target, &text)).await
    }

    pub async fn get(&self, target: &str) -> Answer {
        self.call(Method::GET, target, None).await
    }

    pub async fn post(&self, target: &str, body: &Value) -> Answer {
        self.call(Method::POST, target, Some(body)).await
    }

    /// Sandbox-only endpoints need no auth.
    pub async fn sandbox(&self, method: Method, path: &str, body: Option<&Value>) -> Answer {
        let mut request = self.http.request(method, self.url(path));
        if let Some(body) = body {
            request = request.body(body.to_string());
        }
        self.send(request).await
    }

    pub fn charge_params(&self, order_no: &str, amount: i64) -> Value {
        json!({
            "order_no": order_no,
            "app": { "id": self.app_id() },
            "channel": "alipay",
            "amount": amount,
            "client_ip": "127.0.0.1",
            "currency": "cny",
            "subject": "测试商品",
            "body": "sandbox test",
        })
    }

    pub async fn create_charge(&self, order_no: &str, amount: i64) -> Value {
        self.post("/v1/charges", &self.charge_params(order_no, amount))
            .await
            .expect(200)
    }

    pub async fn pay(&self, charge_id: &str) -> Value {
        self.sandbox(
            Method::POST,
            &format!("/_sandbox/charges/{charge_id}/pay"),
            None,
        )
        .await
        .expect(200)
    }
}
