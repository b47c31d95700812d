//! Test client for the Alipay sandbox gateway: real HTTP with reqwest, requests signed with the
//! app key the sandbox handed out (`sign_params`), every signed answer verified with the returned
//! Alipay public key (and, in certificate mode, its `alipay_cert_sn` checked).
#![allow(dead_code)]

use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::Method;
use rsa::{PrivateKey, PublicKey};
use serde_json::{Value, json};
use zhifu_sandbox::{Sandbox, SandboxOptions};
use zhifu_signing::alipay::{
    beijing_timestamp, extract_signed_response, sign_params, verify_response,
};
use zhifu_signing::cert::{cert_sn, root_cert_sn};
use zhifu_signing::keys::{private_key_from_text, public_key_from_text};

pub struct Ali {
    pub sandbox: Sandbox,
    pub http: reqwest::Client,
    pub key: PrivateKey,
    pub alipay_public: PublicKey,
    /// `(app_cert_sn, alipay_cert_sn, root_cert_sn)` from the returned PEMs, in certificate mode.
    pub sns: Option<(String, String, String)>,
}

/// One raw answer.
#[derive(Debug)]
pub struct Raw {
    pub status: u16,
    pub content_type: String,
    pub body: String,
}

pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

pub async fn start() -> Ali {
    start_with(SandboxOptions::default()).await
}

pub async fn start_cert() -> Ali {
    start_with(SandboxOptions {
        alipay_cert_mode: true,
        ..Default::default()
    })
    .await
}

pub async fn start_with(options: SandboxOptions) -> Ali {
    let sandbox = zhifu_sandbox::start("127.0.0.1:0".parse().unwrap(), options)
        .await
        .expect("sandbox starts");
    let creds = &sandbox.alipay;
    let key = private_key_from_text(&creds.app_private_key_pem, "test").expect("app key");
    let alipay_public =
        public_key_from_text(&creds.alipay_public_key_pem, "test").expect("alipay key");
    let sns = creds.cert.as_ref().map(|c| {
        (
            cert_sn(c.app_cert_pem.as_bytes(), "app").unwrap(),
            cert_sn(c.alipay_cert_pem.as_bytes(), "alipay").unwrap(),
            root_cert_sn(&c.alipay_root_cert_pem, "root").unwrap(),
        )
    });
    Ali {
        sandbox,
        http: reqwest::Client::new(),
        key,
        alipay_public,
        sns,
    }
}

pub fn form(params: &[(String, String)]) -> String {
    params
        .iter()
        .map(|(k, v)| {
            format!(
                "{}={}",
                utf8_percent_encode(k, NON_ALPHANUMERIC),
                utf8_percent_encode(v, NON_ALPHANUMERIC)
            )
        })
        .collect::<Vec<_>>()
        .join("&")
}

pub fn owned(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

impl Ali {
    pub fn app_id(&self) -> &str {
        &self.sandbox.alipay.app_id
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.sandbox.base_url)
    }

    /// The common parameters of a request for `method`, timestamped now.
    pub fn common(&self, method: &str) -> Vec<(String, String)> {
        let mut p = owned(&[
            ("app_id", self.app_id()),
            ("method", method),
            ("format", "JSON"),
            ("charset", "utf-8"),
            ("sign_type", "RSA2"),
            ("timestamp", &beijing_timestamp(now())),
            ("version", "1.0"),
        ]);
        if let Some((app_sn, _, root_sn)) = &self.sns {
            p.push(("app_cert_sn".into(), app_sn.clone()));
            p.push(("alipay_root_cert_sn".into(), root_sn.clone()));
        }
        p
    }

    /// Appends `sign` computed over `params`.
    pub fn sign(&self, params: &mut Vec<(String, String)>) {
        let sign = sign_params(
            &self.key,
            params.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        );
        params.push(("sign".into(), sign));
    }

    /// Common params + `biz_content` (if any) + `extra`, signed.
    pub fn signed(
        &self,
        method: &str,
        biz: Option<&Value>,
        extra: &[(&str, &str)],
    ) -> Vec<(String, String)> {
        let mut p = self.common(method);
        if let Some(biz) = biz {
            p.push(("biz_content".into(), biz.to_string()));
        }
        p.extend(owned(extra));
        self.sign(&mut p);
        p
    }

    /// POSTs `params` as a form body.
    pub async fn post_form(&self, params: &[(String, String)]) -> Raw {
        self.send(
            self.http
                .post(self.url("/gateway.do"))
                .header(
                    "Content-Type",
                    "application/x-www-form-urlencoded;charset=utf-8",
                )
                .body(form(params)),
        )
        .await
    }

    pub async fn send(&self, request: reqwest::RequestBuilder) -> Raw {
        let response = request.send().await.expect("request reaches the sandbox");
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let body = response.text().await.expect("body");
        Raw {
            status,
            content_type,
            body,
        }
    }

    /// Verifies a signed answer and returns `(root key, content)`.
    pub fn verified(&self, body: &str, method: &str) -> (String, Value) {
        let signed = extract_signed_response(body, method).expect("well-formed answer");
        assert!(signed.sign.is_some(), "answer is signed: {body}");
        assert!(
            verify_response(&self.alipay_public, &signed),
            "answer signature verifies: {body}"
        );
        match &self.sns {
            Some((_, alipay_sn, _)) => {
                assert_eq!(
                    signed.alipay_cert_sn.as_deref(),
                    Some(alipay_sn.as_str()),
                    "{body}"
                )
            }
            None => assert_eq!(signed.alipay_cert_sn, None, "{body}"),
        }
        (
            signed.root_key.clone(),
            serde_json::from_str(signed.content).expect("root object"),
        )
    }

    /// A signed call; the answer must be signed and verify. Returns the root object.
    pub async fn call(&self, method: &str, biz: &Value) -> Value {
        self.call_with(method, Some(biz), &[]).await
    }

    pub async fn call_with(
        &self,
        method: &str,
        biz: Option<&Value>,
        extra: &[(&str, &str)],
    ) -> Value {
        let raw = self.post_form(&self.signed(method, biz, extra)).await;
        assert_eq!(raw.status, 200, "{raw:?}");
        self.verified(&raw.body, method).1
    }

    /// A call that must succeed (`code` 10000).
    pub async fn ok(&self, method: &str, biz: Value) -> Value {
        let v = self.call(method, &biz).await;
        assert_eq!(v["code"], "10000", "{method} {biz}: {v}");
        assert_eq!(v["msg"], "Success");
        v
    }

    /// A call that must fail with 40004 and `sub_code`.
    pub async fn fails(&self, method: &str, biz: Value, sub_code: &str) -> Value {
        let v = self.call(method, &biz).await;
        assert_eq!(
            (v["code"].as_str(), v["sub_code"].as_str()),
            (Some("40004"), Some(sub_code)),
            "{method} {biz}: {v}"
        );
        assert_eq!(v["msg"], "Business Failed");
        v
    }

    pub async fn sandbox(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = self.http.request(method, self.url(path));
        if let Some(body) = body {
            request = request.body(body.to_string());
        }
        let raw = self.send(request).await;
        let value = serde_json::from_str(&raw.body).unwrap_or(Value::String(raw.body));
        (raw.status, value)
    }

    pub async fn create(&self, out_trade_no: &str, amount: &str) -> Value {
        self.ok(
            "alipay.trade.create",
            json!({ "out_trade_no": out_trade_no, "total_amount": amount, "subject": "测试商品" }),
        )
        .await
    }

    pub async fn pay(&self, out_trade_no: &str) -> Value {
        let (status, body) = self
            .sandbox(
                Method::POST,
                &format!("/_sandbox/alipay/trades/{out_trade_no}/pay"),
                None,
            )
            .await;
        assert_eq!(status, 200, "{body}");
        body
    }

    /// Creates and pays a trade.
    pub async fn paid(&self, out_trade_no: &str, amount: &str) -> Value {
        self.create(out_trade_no, amount).await;
        self.pay(out_trade_no).await
    }

    pub async fn refund(&self, out_trade_no: &str, amount: &str, out_request_no: &str) -> Value {
        self.call(
            "alipay.trade.refund",
            &json!({ "out_trade_no": out_trade_no, "refund_amount": amount, "out_request_no": out_request_no }),
        )
        .await
    }

    pub async fn query(&self, out_trade_no: &str) -> Value {
        self.ok(
            "alipay.trade.query",
            json!({ "out_trade_no": out_trade_no }),
        )
        .await
    }

    pub async fn advance(&self, seconds: i64) {
        let (status, _) = self
            .sandbox(
                Method::POST,
                "/_sandbox/clock",
                Some(json!({ "advance_seconds": seconds })),
            )
            .await;
        assert_eq!(status, 200);
    }
}
