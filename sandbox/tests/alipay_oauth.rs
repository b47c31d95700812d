//! Alipay user authorisation over real HTTP: an auth code from the sandbox, exchanged once for
//! tokens (top-level parameters, not biz_content), refreshed with rotation, and used for
//! alipay.user.info.share; failures as the gateway answers them.

mod alipay_support;

use alipay_support::{Ali, start};
use reqwest::Method;
use serde_json::Value;

const TOKEN: &str = "alipay.system.oauth.token";
const INFO: &str = "alipay.user.info.share";

async fn code(c: &Ali) -> Value {
    let (status, v) = c
        .sandbox(Method::POST, "/_sandbox/alipay/oauth/codes", None)
        .await;
    assert_eq!(status, 200);
    v
}

/// Calls oauth.token; returns (root key, content).
async fn token(c: &Ali, extra: &[(&str, &str)]) -> (String, Value) {
    let raw = c.post_form(&c.signed(TOKEN, None, extra)).await;
    c.verified(&raw.body, TOKEN)
}

#[tokio::test]
async fn code_token_user_info_and_refresh() {
    let c = start().await;
    let issued = code(&c).await;
    let user_id = issued["user_id"].as_str().unwrap();
    assert!(user_id.starts_with("2088") && user_id.len() == 16);
    let code_text = issued["code"].as_str().unwrap();

    let (root, t) = token(
        &c,
        &[("grant_type", "authorization_code"), ("code", code_text)],
    )
    .await;
    assert_eq!(root, "alipay_system_oauth_token_response");
    assert_eq!(t["user_id"], user_id);
    assert_eq!(t["expires_in"], 1_296_000);
    assert_eq!(t["re_expires_in"], 2_592_000);
    assert!(t["open_id"].is_string() && t["auth_start"].is_string());
    let access = t["access_token"].as_str().unwrap().to_string();
    let refresh = t["refresh_token"].as_str().unwrap().to_string();

    let info = c.call_with(INFO, None, &[("auth_token", &access)]).await;
    assert_eq!(info["code"], "10000", "{info}");
    assert_eq!(info["user_id"], user_id);
    for field in [
        "open_id",
        "nick_name",
        "avatar",
        "province",
        "city",
        "gender",
    ] {
        assert!(info[field].is_string(), "{field}: {info}");
    }

    // The code works once.
    let (root, e) = token(
        &c,
        &[("grant_type", "authorization_code"), ("code", code_text)],
    )
    .await;
    assert_eq!(root, "error_response");
    assert_eq!(
        (
            e["code"].as_str(),
            e["sub_code"].as_str(),
            e["sub_msg"].as_str()
        ),
        (
            Some("40002"),
            Some("isv.code-invalid"),
            Some("授权码code无效")
        )
    );
    // Codes in biz_content do not count: oauth.token reads top-level parameters.
    let biz =
        serde_json::json!({"grant_type": "authorization_code", "code": code(&c).await["code"]});
    let raw = c.post_form(&c.signed(TOKEN, Some(&biz), &[])).await;
    assert_eq!(
        c.verified(&raw.body, TOKEN).1["sub_code"],
        "isv.grant-type-invalid"
    );

    // Refresh rotates: the new pair works, the old refresh token does not.
    let (_, r) = token(
        &c,
        &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
    )
    .await;
    assert_eq!(r["user_id"], user_id);
    assert_ne!(r["refresh_token"], refresh.as_str());
    let info = c
        .call_with(
            INFO,
            None,
            &[("auth_token", r["access_token"].as_str().unwrap())],
        )
        .await;
    assert_eq!(info["user_id"], user_id);
    let (_, e) = token(
        &c,
        &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
    )
    .await;
    assert_eq!(e["sub_code"], "isv.refreshed-token-invalid");
    let (_, e) = token(
        &c,
        &[("grant_type", "refresh_token"), ("refresh_token", "nope")],
    )
    .await;
    assert_eq!(e["sub_code"], "isv.refresh-token-invalid");

    // Tokens expire on the sandbox clock.
    c.advance(1_296_001).await;
    let expired = c.call_with(INFO, None, &[("auth_token", &access)]).await;
    assert_eq!(expired["sub_code"], "aop.auth-token-time-out");
}

#[tokio::test]
async fn bad_tokens_are_20001() {
    let c = start().await;
    let v = c
        .call_with(INFO, None, &[("auth_token", "authusrBnope")])
        .await;
    assert_eq!(
        (
            v["code"].as_str(),
            v["msg"].as_str(),
            v["sub_code"].as_str()
        ),
        (
            Some("20001"),
            Some("Insufficient Token Permissions"),
            Some("aop.invalid-auth-token")
        )
    );
    let v = c.call_with(INFO, None, &[]).await;
    assert_eq!(v["sub_code"], "aop.invalid-auth-token");
    let (_, e) = token(
        &c,
        &[("grant_type", "authorization_code"), ("code", "unknown")],
    )
    .await;
    assert_eq!(e["sub_code"], "isv.code-invalid");
    let (_, e) = token(&c, &[("grant_type", "password")]).await;
    assert_eq!(e["sub_code"], "isv.grant-type-invalid");
}
