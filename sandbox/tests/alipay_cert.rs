//! Alipay public-key certificate mode over real HTTP: the generated certificates (issuer DN
//! shape, chain checked by openssl when present, keys matching the credentials), requests
//! carrying the SNs computed from the returned PEMs, responses carrying `alipay_cert_sn`, and the
//! rejections of missing or wrong SNs. Key mode ignores SNs.

mod alipay_support;

use alipay_support::{start, start_cert};
use base64::Engine as _;
use serde_json::json;
use x509_cert::Certificate;
use x509_cert::der::Decode as _;
use zhifu_signing::alipay::{extract_signed_response, verify_response};
use zhifu_signing::cert::{cert_public_key, cert_sn, issuer_dn_rfc2253};

const ROOT_DN: &str =
    "CN=Zhifu Sandbox Certification Authority R1,OU=Certification Authority,O=Zhifu Sandbox,C=CN";

fn parse(pem: &str) -> Certificate {
    let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap();
    Certificate::from_der(&der).unwrap()
}

#[tokio::test]
async fn certificates_are_issued_by_the_root_and_match_the_keys() {
    let c = start_cert().await;
    let files = c
        .sandbox
        .alipay
        .cert
        .clone()
        .expect("cert mode hands out certificates");
    for pem in [
        &files.app_cert_pem,
        &files.alipay_cert_pem,
        &files.alipay_root_cert_pem,
    ] {
        assert_eq!(issuer_dn_rfc2253(&parse(pem)), ROOT_DN);
    }
    // The Alipay cert carries the key that signs responses; the app cert the app key.
    let from_cert = cert_public_key(files.alipay_cert_pem.as_bytes(), "alipay").unwrap();
    assert_eq!(from_cert, c.alipay_public);
    let app_from_cert = cert_public_key(files.app_cert_pem.as_bytes(), "app").unwrap();
    assert_eq!(app_from_cert, c.key.to_public_key());
    let (app_sn, alipay_sn, root_sn) = c.sns.clone().unwrap();
    assert_ne!(app_sn, alipay_sn);
    assert_eq!(root_sn.len(), 32, "one RSA root: {root_sn}");
    assert!(root_sn.bytes().all(|b| b.is_ascii_hexdigit()));

    // openssl agrees the chain is sound (skipped where openssl is missing).
    let dir = std::env::temp_dir().join(format!("zhifu-cert-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let root = dir.join("root.crt");
    std::fs::write(&root, &files.alipay_root_cert_pem).unwrap();
    for (name, pem) in [
        ("app.crt", &files.app_cert_pem),
        ("alipay.crt", &files.alipay_cert_pem),
    ] {
        let path = dir.join(name);
        std::fs::write(&path, pem).unwrap();
        if let Ok(out) = std::process::Command::new("openssl")
            .args(["verify", "-CAfile"])
            .arg(&root)
            .arg(&path)
            .output()
        {
            assert!(
                out.status.success(),
                "{name}: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn requests_carry_sns_and_answers_carry_the_alipay_cert_sn() {
    let c = start_cert().await;
    let files = c.sandbox.alipay.cert.clone().unwrap();
    c.create("C1", "1.00").await; // the support client checks alipay_cert_sn on every answer
    let raw = c
        .post_form(&c.signed(
            "alipay.trade.query",
            Some(&json!({"out_trade_no": "C1"})),
            &[],
        ))
        .await;
    let signed = extract_signed_response(&raw.body, "alipay.trade.query").unwrap();
    assert_eq!(
        signed.alipay_cert_sn.as_deref(),
        Some(
            cert_sn(files.alipay_cert_pem.as_bytes(), "alipay")
                .unwrap()
                .as_str()
        )
    );
    let key = cert_public_key(files.alipay_cert_pem.as_bytes(), "alipay").unwrap();
    assert!(verify_response(&key, &signed));
    let sn_at = raw.body.find(",\"alipay_cert_sn\":").unwrap();
    assert!(
        sn_at < raw.body.find(",\"sign\":").unwrap(),
        "cert SN before sign"
    );

    let (app_sn, _, root_sn) = c.sns.clone().unwrap();
    let cases = [
        ("app_cert_sn", None, "isv.invalid-app-cert-sn"),
        (
            "app_cert_sn",
            Some("0123456789abcdef0123456789abcdef"),
            "isv.invalid-app-cert-sn",
        ),
        (
            "alipay_root_cert_sn",
            None,
            "isv.invalid-alipay-root-cert-sn",
        ),
        (
            "alipay_root_cert_sn",
            Some(app_sn.as_str()),
            "isv.invalid-alipay-root-cert-sn",
        ),
    ];
    for (param, value, sub_code) in cases {
        let mut p = c.common("alipay.trade.query");
        p.retain(|(k, _)| k != param);
        if let Some(v) = value {
            p.push((param.to_string(), v.to_string()));
        }
        p.push((
            "biz_content".into(),
            json!({"out_trade_no": "C1"}).to_string(),
        ));
        c.sign(&mut p);
        let raw = c.post_form(&p).await;
        let (_, v) = c.verified(&raw.body, "alipay.trade.query");
        assert_eq!(
            (v["code"].as_str(), v["sub_code"].as_str()),
            (Some("40002"), Some(sub_code)),
            "{param}={value:?}: {v}"
        );
    }
    assert!(!root_sn.is_empty());

    // Unsigned errors carry no cert SN either.
    let raw = c
        .post_form(&alipay_support::owned(&[("method", "alipay.trade.query")]))
        .await;
    assert!(!raw.body.contains("alipay_cert_sn"), "{}", raw.body);
}

#[tokio::test]
async fn key_mode_has_no_certificates_and_ignores_sns() {
    let c = start().await;
    assert!(c.sandbox.alipay.cert.is_none());
    let mut p = c.common("alipay.trade.query");
    p.push(("app_cert_sn".into(), "whatever".into()));
    p.push(("alipay_root_cert_sn".into(), "whatever".into()));
    p.push((
        "biz_content".into(),
        json!({"out_trade_no": "K1"}).to_string(),
    ));
    c.sign(&mut p);
    let raw = c.post_form(&p).await;
    let (_, v) = c.verified(&raw.body, "alipay.trade.query");
    assert_eq!(v["sub_code"], "ACQ.TRADE_NOT_EXIST");
}
