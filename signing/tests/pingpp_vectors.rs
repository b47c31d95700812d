//! Signing and key loading against the vectors in shared/vectors (taken from the official SDKs).

use std::path::PathBuf;

use rsa::traits::PublicKeyParts;
use serde_json::Value;
use zhifu_signing::keys::{private_key_from_text, public_key_from_text};
use zhifu_signing::pingpp::{sign_request, string_to_sign, verify_request, verify_webhook};

fn vectors() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/vectors")
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(vectors().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

const WEBHOOK_SETS: &[&str] = &[
    "webhook_a_summary_2015",
    "webhook_b_charge_2015",
    "webhook_c_charge_2024",
];

#[test]
fn every_webhook_vector_verifies_with_its_key_only() {
    for set in WEBHOOK_SETS {
        let body = std::fs::read(vectors().join(format!("pingpp/{set}/body.json"))).unwrap();
        let sig = read(&format!("pingpp/{set}/signature.txt"));
        for other in WEBHOOK_SETS {
            let key = public_key_from_text(
                &read(&format!("pingpp/{other}/pingpp_public_key.pem")),
                other,
            )
            .unwrap();
            assert_eq!(
                verify_webhook(&key, &body, &sig),
                set == other,
                "body {set} with key {other}"
            );
        }
        // One changed byte breaks it.
        let key = public_key_from_text(&read(&format!("pingpp/{set}/pingpp_public_key.pem")), set)
            .unwrap();
        let mut tampered = body.clone();
        let last = tampered.len() - 2;
        tampered[last] ^= 0x01;
        assert!(!verify_webhook(&key, &tampered, &sig), "{set} tampered");
        // A trailing newline (as a sloppy framework might add) breaks it too.
        let mut newline = body.clone();
        newline.push(b'\n');
        assert!(!verify_webhook(&key, &newline, &sig), "{set} with newline");
    }
}

#[test]
fn every_request_case_reproduces_string_to_sign_and_signature() {
    let cases: Value =
        serde_json::from_str(&read("pingpp/request_signing_generated/cases.json")).unwrap();
    let pkcs1 = private_key_from_text(
        &read("pingpp/request_signing_generated/test_merchant_private_key_pkcs1.pem"),
        "pkcs1",
    )
    .unwrap();
    let pkcs8 = private_key_from_text(
        &read("pingpp/request_signing_generated/test_merchant_private_key_pkcs8.pem"),
        "pkcs8",
    )
    .unwrap();
    let public = public_key_from_text(
        &read("pingpp/request_signing_generated/test_merchant_public_key.pem"),
        "pub",
    )
    .unwrap();
    let cases = cases["cases"].as_array().unwrap();
    assert!(cases.len() >= 6);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let body = case["body"].as_str().unwrap().as_bytes();
        let target = case["request_target"].as_str().unwrap();
        let ts: u64 = case["timestamp"].as_str().unwrap().parse().unwrap();
        let expected_sts = case["string_to_sign"].as_str().unwrap().as_bytes();
        let expected_sig = case["signature_b64"].as_str().unwrap();
        assert_eq!(
            string_to_sign(body, target, ts),
            expected_sts,
            "{name}: string_to_sign"
        );
        assert_eq!(
            sign_request(&pkcs1, body, target, ts),
            expected_sig,
            "{name}: signature (PKCS#1 key)"
        );
        assert_eq!(
            sign_request(&pkcs8, body, target, ts),
            expected_sig,
            "{name}: signature (PKCS#8 key)"
        );
        assert!(
            verify_request(&public, body, target, ts, expected_sig),
            "{name}: verifies"
        );
        assert!(
            !verify_request(&public, body, target, ts + 1, expected_sig),
            "{name}: other timestamp fails"
        );
        assert!(
            !verify_request(&public, body, &format!("{target}x"), ts, expected_sig),
            "{name}: other target fails"
        );
    }
}

#[test]
fn every_key_format_loads_the_same_key() {
    let forms = [
        "alipay/keys/app-private-key.pem",
        "alipay/keys/app-private-key-no-wrapper.pem",
        "alipay/keys/app-private-key-pkcs8.pem",
        "alipay/keys/app-private-key-pkcs8-no-wrapper.pem",
    ];
    let keys: Vec<_> = forms
        .iter()
        .map(|f| private_key_from_text(&read(f), f).unwrap_or_else(|e| panic!("{f}: {e}")))
        .collect();
    for k in &keys[1..] {
        assert_eq!(k.n(), keys[0].n());
    }
    let publics = [
        "alipay/keys/app-public-key.pem",
        "alipay/keys/app-public-key-no-wrapper.pem",
    ];
    for f in publics {
        let p = public_key_from_text(&read(f), f).unwrap_or_else(|e| panic!("{f}: {e}"));
        assert_eq!(p.n(), keys[0].n(), "{f}");
    }
    // Multi-line PEM (64-column) forms from the Ping++ vectors, PKCS#1 and PKCS#8.
    let a = private_key_from_text(
        &read("pingpp/request_signing_generated/test_merchant_private_key_pkcs1.pem"),
        "a",
    )
    .unwrap();
    let b = private_key_from_text(
        &read("pingpp/request_signing_generated/test_merchant_private_key_pkcs8.pem"),
        "b",
    )
    .unwrap();
    assert_eq!(a.n(), b.n());
    // PEM collapsed onto one line, armour included.
    let one_line: String =
        read("pingpp/request_signing_generated/test_merchant_private_key_pkcs8.pem")
            .lines()
            .collect();
    assert_eq!(private_key_from_text(&one_line, "c").unwrap().n(), a.n());
    // A bare-base64 public key that is inline in an SDK test.
    public_key_from_text(
        &read("alipay/keys/alipay-notify-sign-public-key-v1-inline.txt"),
        "inline",
    )
    .unwrap();
}

#[test]
fn bad_keys_are_refused_without_echoing_them() {
    let secretish = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC_NOT_A_KEY";
    let err = private_key_from_text(secretish, "PINGPP_PRIVATE_KEY")
        .unwrap_err()
        .to_string();
    assert!(err.contains("PINGPP_PRIVATE_KEY"), "{err}");
    assert!(!err.contains("MIIEvQ"), "{err}");
    let public_as_private = read("alipay/keys/app-public-key.pem");
    assert!(private_key_from_text(&public_as_private, "x").is_err());
    assert!(
        public_key_from_text("", "EMPTY")
            .unwrap_err()
            .to_string()
            .contains("EMPTY")
    );
}
