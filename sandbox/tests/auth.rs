//! The request pipeline over real HTTP: API key (Bearer and Basic), request signatures over the
//! raw bytes, body/query parsing errors, unknown routes, statistics and injected faults.

mod common;

use base64::Engine as _;
use common::{now, start};
use reqwest::Method;
use serde_json::{Value, json};
use zhifu_signing::pingpp::{SIGNATURE_HEADER, TIMESTAMP_HEADER, sign_request};

#[tokio::test]
async fn bearer_and_basic_auth_are_accepted_and_bad_keys_rejected() {
    let c = start().await;
    let target = format!("/v1/charges?app%5Bid%5D={}", c.app_id());
    let list = c.get(&target).await.expect(200);
    assert_eq!(list["object"], "list");

    // HTTP Basic with the key as user name and an empty password (go/node SDKs, curl -u key:).
    let ts = now();
    let basic = c
        .http
        .get(c.url(&target))
        .basic_auth(&c.sandbox.pingpp.api_key, Some(""))
        .header(TIMESTAMP_HEADER, ts.to_string())
        .header(SIGNATURE_HEADER, sign_request(&c.key, b"", &target, ts));
    assert_eq!(c.send(basic).await.expect(200)["object"], "list");

    for (key, masked) in [
        ("sk_test_AAAAAAAAAAAAAAAAAAAAAAAA", "sk_test_***"),
        ("sk_live_AAAAAAAAAAAAAAAAAAAAAAAA", "sk_live_***"),
    ] {
        let ts = now();
        let signature = sign_request(&c.key, b"", &target, ts);
        let answer = c
            .send(c.request(Method::GET, &target, "", key, Some((ts, &signature))))
            .await;
        assert_eq!(answer.status, 401, "{key}");
        assert_eq!(answer.body["error"]["type"], "invalid_request_error");
        assert!(
            answer
                .error_message()
                .starts_with(&format!("提供了无效的 API KEY: {masked}。")),
            "{}",
            answer.body
        );
        assert!(
            !answer.body.to_string().contains("AAAA"),
            "the key is never echoed"
        );
    }
    let anonymous = c.send(c.http.get(c.url(&target))).await;
    assert_eq!(anonymous.status, 401);
}

#[tokio::test]
async fn signatures_are_checked_over_the_raw_bytes_and_target() {
    let c = start().await;
    let body = c.charge_params("sig00001", 100).to_string();

    // Missing signature.
    let unsigned = c
        .http
        .post(c.url("/v1/charges"))
        .bearer_auth(&c.sandbox.pingpp.api_key)
        .body(body.clone());
    let answer = c.send(unsigned).await;
    assert_eq!(answer.status, 400);
    assert_eq!(
        answer.error_message(),
        "没有提供签名串，需要在 header 中加入签名串。"
    );

    // One body byte changed after signing ("sig00001" → "sig00002").
    let ts = now();
    let signature = sign_request(&c.key, body.as_bytes(), "/v1/charges", ts);
    let tampered = body.replace("sig00001", "sig00002");
    let request = c
        .http
        .post(c.url("/v1/charges"))
        .bearer_auth(&c.sandbox.pingpp.api_key)
        .header(TIMESTAMP_HEADER, ts.to_string())
        .header(SIGNATURE_HEADER, &signature)
        .body(tampered);
    let answer = c.send(request).await;
    assert_eq!(answer.status, 400);
    assert!(
        answer.error_message().starts_with("签名验证失败"),
        "{}",
        answer.body
    );

    // A well-formed base64 value that is no signature of these bytes.
    let wrong = base64::engine::general_purpose::STANDARD.encode([7u8; 256]);
    let request = c.request(
        Method::POST,
        "/v1/charges",
        &body,
        &c.sandbox.pingpp.api_key,
        Some((now(), &wrong)),
    );
    assert_eq!(c.send(request).await.status, 400);

    // A timestamp ten minutes off, correctly signed.
    let old = now() - 600;
    let request = c
        .http
        .post(c.url("/v1/charges"))
        .bearer_auth(&c.sandbox.pingpp.api_key)
        .header(TIMESTAMP_HEADER, old.to_string())
        .header(
            SIGNATURE_HEADER,
            sign_request(&c.key, body.as_bytes(), "/v1/charges", old),
        )
        .body(body.clone());
    let answer = c.send(request).await;
    assert_eq!(answer.status, 400);
    assert!(answer.error_message().contains("300"), "{}", answer.body);

    // Nothing was created by the rejected requests; the untouched signed request works.
    let created = c
        .send(c.signed(Method::POST, "/v1/charges", &body))
        .await
        .expect(200);
    assert_eq!(created["order_no"], "sig00001");
}

#[tokio::test]
async fn the_signed_target_keeps_the_clients_encoding_and_trailing_question_mark() {
    let c = start().await;
    let id = c.create_charge("target01", 100).await["id"]
        .as_str()
        .unwrap()
        .to_string();

    // node SDK: GET always appends `?`, so it signs `/v1/charges/ch_x?`.
    let with_q = format!("/v1/charges/{id}?");
    assert_eq!(c.get(&with_q).await.expect(200)["id"], id.as_str());

    // Signing the target without the `?` that is then sent fails.
    let ts = now();
    let request = c
        .http
        .get(c.url(&with_q))
        .bearer_auth(&c.sandbox.pingpp.api_key)
        .header(TIMESTAMP_HEADER, ts.to_string())
        .header(
            SIGNATURE_HEADER,
            sign_request(&c.key, b"", &format!("/v1/charges/{id}"), ts),
        );
    assert_eq!(c.send(request).await.status, 400);

    // Literal brackets (ruby) and encoded ones (everyone else) both work and are signed as sent.
    for target in [
        format!("/v1/charges?app[id]={}&limit=5", c.app_id()),
        format!("/v1/charges?app%5Bid%5D={}&limit=5", c.app_id()),
        format!("/v1/charges/{id}?expand%5B%5D=app"),
    ] {
        let answer = c.get(&target).await.expect(200);
        assert!(
            answer["object"] == "list" || answer["app"]["object"] == "app",
            "{target}: {answer}"
        );
    }
}

#[tokio::test]
async fn bodies_and_parameters_are_validated_like_ping_plus_plus() {
    let c = start().await;
    let answer = c
        .send(c.signed(Method::POST, "/v1/charges", "{not json"))
        .await;
    assert_eq!(
        (answer.status, answer.error_message()),
        (400, "请求体解析失败: 不是一个合法的 json 格式字符串")
    );

    let mut params = c.charge_params("param001", 100);
    params["livemode"] = json!(false);
    let answer = c.post("/v1/charges", &params).await;
    assert_eq!(answer.status, 400);
    assert_eq!(
        answer.error_message(),
        "Received unknown parameter: livemode"
    );
    assert_eq!(answer.body["error"]["param"], "livemode");

    // A form-encoded body is not JSON whatever the Content-Type says.
    let answer = c
        .send(c.signed(Method::POST, "/v1/charges", "amount=100&channel=alipay"))
        .await;
    assert_eq!(answer.status, 400);

    let cases: Vec<(&str, Value, &str)> = vec![
        ("amount", json!(0), "amount"),
        ("amount", json!(1.5), "amount"),
        ("currency", json!("usd"), "currency"),
        ("channel", json!("bitcoin"), "channel"),
        ("subject", json!("x".repeat(33)), "subject"),
        ("client_ip", json!("not-an-ip"), "client_ip"),
        ("app", json!({ "id": "app_0000000000000000" }), "app[id]"),
        ("order_no", json!("has-dash"), "order_no"),
    ];
    for (field, value, param) in cases {
        let mut params = c.charge_params("param002", 100);
        params[field] = value;
        let answer = c.post("/v1/charges", &params).await;
        assert_eq!(answer.status, 400, "{field}: {}", answer.body);
        assert_eq!(
            answer.body["error"]["param"], param,
            "{field}: {}",
            answer.body
        );
    }
    let mut wap = c.charge_params("param003", 100);
    wap["channel"] = json!("alipay_wap");
    let answer = c.post("/v1/charges", &wap).await;
    assert_eq!(
        answer.body["error"]["param"], "extra[success_url]",
        "{}",
        answer.body
    );
    wap["extra"] = json!({ "success_url": "https://example.com/ok" });
    assert_eq!(
        c.post("/v1/charges", &wap).await.expect(200)["credential"]["object"],
        "credential"
    );

    let answer = c.get("/v1/nothing_here").await;
    assert_eq!(answer.status, 404);
    assert_eq!(answer.body["error"]["type"], "invalid_request_error");
}

#[tokio::test]
async fn stats_count_every_v1_request_including_rejected_ones() {
    let c = start().await;
    c.create_charge("stats001", 100).await;
    c.send(c.http.post(c.url("/v1/charges")).body("{}")).await; // no key → 401, still counted
    c.get("/v1/charges").await; // no app[id] → 400
    let stats = c
        .sandbox(Method::GET, "/_sandbox/stats", None)
        .await
        .expect(200);
    assert_eq!(stats["requests"], 3, "{stats}");
    assert_eq!(stats["by_route"]["POST /v1/charges"], 2, "{stats}");
    assert_eq!(stats["by_route"]["GET /v1/charges"], 1, "{stats}");
    c.sandbox(Method::POST, "/_sandbox/reset-stats", None)
        .await
        .expect(200);
    let stats = c
        .sandbox(Method::GET, "/_sandbox/stats", None)
        .await
        .expect(200);
    assert_eq!(stats["requests"], 0);
}

#[tokio::test]
async fn faults_status_reset_and_latency() {
    let c = start().await;
    let fault = json!({ "match": "POST /v1/charges", "kind": "status", "status": 500, "count": 1 });
    c.sandbox(Method::POST, "/_sandbox/faults", Some(&fault))
        .await
        .expect(200);
    let answer = c
        .post("/v1/charges", &c.charge_params("fault001", 100))
        .await;
    assert_eq!(answer.status, 500);
    assert_eq!(answer.body["error"]["type"], "api_error");
    // The failed attempt created nothing: the retry creates the charge, then the fault is gone.
    let charge = c.create_charge("fault001", 100).await;
    let again = c.create_charge("fault001", 100).await;
    assert_eq!(charge["id"], again["id"]);

    // reset: the operation happens, the answer never arrives.
    let fault = json!({ "match": "POST /v1/charges", "kind": "reset" });
    c.sandbox(Method::POST, "/_sandbox/faults", Some(&fault))
        .await
        .expect(200);
    let body = c.charge_params("fault002", 100).to_string();
    let err = c.signed(Method::POST, "/v1/charges", &body).send().await;
    assert!(
        err.is_err(),
        "the connection is dropped without a response: {err:?}"
    );
    let target = format!("/v1/charges?app%5Bid%5D={}", c.app_id());
    let list = c.get(&target).await.expect(200);
    assert!(
        list["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|ch| ch["order_no"] == "fault002"),
        "created despite the reset"
    );

    // latency: delayed, then normal.
    let fault = json!({ "kind": "latency", "latency_ms": 300 });
    c.sandbox(Method::POST, "/_sandbox/faults", Some(&fault))
        .await
        .expect(200);
    let started = std::time::Instant::now();
    c.get(&target).await.expect(200);
    assert!(started.elapsed() >= std::time::Duration::from_millis(300));

    // garbled: 200 with a body that is not JSON.
    let fault = json!({ "kind": "garbled" });
    c.sandbox(Method::POST, "/_sandbox/faults", Some(&fault))
        .await
        .expect(200);
    let response = c.signed(Method::GET, &target, "").send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(serde_json::from_str::<Value>(&response.text().await.unwrap()).is_err());
}

#[tokio::test]
async fn credentials_are_fresh_well_formed_and_never_printed() {
    let a = start().await;
    let b = start().await;
    let (ka, kb) = (&a.sandbox.pingpp, &b.sandbox.pingpp);
    assert_ne!(ka.api_key, kb.api_key);
    assert_ne!(ka.merchant_private_key_pem, kb.merchant_private_key_pem);
    let alnum = |s: &str| s.bytes().all(|b| b.is_ascii_alphanumeric());
    let key = ka.api_key.strip_prefix("sk_test_").expect("test-mode key");
    assert!(key.len() == 24 && alnum(key), "{}", ka.api_key.len());
    let app = ka.app_id.strip_prefix("app_").expect("app id");
    assert!(app.len() == 16 && alnum(app));
    assert!(
        ka.merchant_private_key_pem
            .starts_with("-----BEGIN PRIVATE KEY-----")
    );
    assert!(
        ka.pingpp_public_key_pem
            .starts_with("-----BEGIN PUBLIC KEY-----")
    );
    let printed = format!("{:?}", a.sandbox);
    assert!(
        !printed.contains(&ka.api_key) && !printed.contains("PRIVATE KEY"),
        "{printed}"
    );
    assert_eq!(a.sandbox.base_url, format!("http://{}", a.sandbox.addr));
}

#[tokio::test]
async fn shutdown_stops_the_server() {
    let c = start().await;
    let url = c.url("/_sandbox/stats");
    assert!(c.http.get(&url).send().await.is_ok());
    c.sandbox.shutdown().await;
    let fresh = reqwest::Client::new(); // no pooled connection
    assert!(
        fresh.get(&url).send().await.is_err(),
        "nothing listens any more"
    );
}
