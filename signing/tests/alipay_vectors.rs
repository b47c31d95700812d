//! Alipay v2 signing, response extraction, notification verification, certificate SNs and
//! Beijing timestamps against shared/vectors/alipay (official-SDK and openssl-checked vectors).

use percent_encoding::percent_decode_str;
use rsa::{PrivateKey, PublicKey};
use serde_json::Value;
use zhifu_signing::alipay::{
    NotifyKind, ResponseError, beijing_timestamp, build_response_body, extract_signed_response,
    notify_sign_content, parse_beijing_timestamp, sign_content, sign_params, signed_query,
    verify_notification, verify_params, verify_response,
};
use zhifu_signing::cert::{cert_public_key, cert_sn, root_cert_sn};
use zhifu_signing::keys::{private_key_from_text, public_key_from_text};
use zhifu_signing::rsa_sha256_sign;

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/vectors/alipay");

fn read(rel: &str) -> String {
    std::fs::read_to_string(format!("{DIR}/{rel}")).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn json(rel: &str) -> Value {
    serde_json::from_str(&read(rel)).unwrap()
}

fn public(rel: &str) -> PublicKey {
    public_key_from_text(&read(rel), rel).unwrap()
}

fn app_private() -> PrivateKey {
    private_key_from_text(&read("keys/app-private-key.pem"), "app").unwrap()
}

/// JSON object of string values → owned pairs in file order.
fn pairs(v: &Value) -> Vec<(String, String)> {
    v.as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
        .collect()
}

fn refs(p: &[(String, String)]) -> Vec<(&str, &str)> {
    p.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

// ---------------------------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------------------------

#[test]
fn request_vectors_reproduce_sign_content_and_signature() {
    let derived = json("derived_vectors.json");
    let pkcs1 = app_private();
    let pkcs8 = private_key_from_text(&read("keys/app-private-key-pkcs8.pem"), "pkcs8").unwrap();
    let app_public = public("keys/app-public-key.pem");
    for name in ["request_trade_query", "request_page_pay_utf8_empty_dropped"] {
        let case = &derived[name];
        let params = pairs(&case["params"]);
        let expected_content = case["sign_content"].as_str().unwrap();
        let expected_sign = case["sign"].as_str().unwrap();

        assert_eq!(sign_content(refs(&params)), expected_content, "{name}");
        assert_eq!(
            sign_params(&pkcs1, refs(&params)),
            expected_sign,
            "{name} pkcs1"
        );
        assert_eq!(
            sign_params(&pkcs8, refs(&params)),
            expected_sign,
            "{name} pkcs8"
        );
        assert!(
            verify_params(&app_public, refs(&params), expected_sign),
            "{name}"
        );

        // A `sign` entry among the params is not part of the content.
        let mut with_sign = params.clone();
        with_sign.push(("sign".into(), expected_sign.into()));
        assert_eq!(sign_content(refs(&with_sign)), expected_content, "{name}");
        assert!(verify_params(&app_public, refs(&with_sign), expected_sign));

        // Any changed value, dropped param or added param breaks it.
        for i in 0..params.len() {
            let mut changed = params.clone();
            changed[i].1.push('x');
            assert!(
                !verify_params(&app_public, refs(&changed), expected_sign),
                "{name}: {} changed",
                params[i].0
            );
            if !params[i].1.is_empty() {
                let mut dropped = params.clone();
                dropped.remove(i);
                assert!(!verify_params(&app_public, refs(&dropped), expected_sign));
            }
        }
        let mut added = params.clone();
        added.push(("app_auth_token".into(), "x".into()));
        assert!(!verify_params(&app_public, refs(&added), expected_sign));
        // Wrong key.
        assert!(!verify_params(
            &public("keys/alipay-public-key.pem"),
            refs(&params),
            expected_sign
        ));
    }
}

#[test]
fn sign_content_drops_empty_keys_and_values_and_sorts_by_bytes() {
    let params = [
        ("b", "2"),
        ("", "ignored"),
        ("a", ""),
        ("sign", "zzz"),
        ("B", "upper"),
        ("a_b", "1"),
        ("c", "x y&z=%20"),
    ];
    assert_eq!(sign_content(params), "B=upper&a_b=1&b=2&c=x y&z=%20");
    // BTreeMap input works as well.
    let map: std::collections::BTreeMap<String, String> = [("k".into(), "v".into())].into();
    assert_eq!(sign_content(&map), "k=v");
}

#[test]
fn page_pay_query_is_percent_encoded_sorted_and_round_trips() {
    let derived = json("derived_vectors.json");
    let case = &derived["request_page_pay_utf8_empty_dropped"];
    let params = pairs(&case["params"]);
    let sign = case["sign"].as_str().unwrap();
    let query = signed_query(refs(&params), sign);

    assert!(query.starts_with(
        "app_id=2021000122671080&biz_content=%7B%22out_trade_no%22%3A%22T20240101001%22"
    ));
    assert!(query.contains("%E6%B5%8B%E8%AF%95%E8%AE%A2%E5%8D%95%20iPhone"));
    assert!(query.contains("&notify_url=https%3A%2F%2Fexample.com%2Fnotify&"));
    assert!(query.contains("&timestamp=2024-01-01%2012%3A00%3A00&"));
    assert!(!query.contains('+') && !query.contains(' '));
    assert!(!query.contains("return_url"), "empty values are not sent");

    // Decoding gives back exactly the signed params plus sign, in key order.
    let decoded: Vec<(String, String)> = query
        .split('&')
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap();
            let d = |s: &str| percent_decode_str(s).decode_utf8().unwrap().into_owned();
            (d(k), d(v))
        })
        .collect();
    let keys: Vec<&str> = decoded.iter().map(|(k, _)| k.as_str()).collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted);
    let got_sign = &decoded.iter().find(|(k, _)| k == "sign").unwrap().1;
    assert_eq!(got_sign, sign);
    assert_eq!(
        sign_content(refs(&decoded)),
        case["sign_content"].as_str().unwrap()
    );
    assert!(verify_params(
        &public("keys/app-public-key.pem"),
        refs(&decoded),
        got_sign
    ));
}

// ---------------------------------------------------------------------------------------------
// Responses
// ---------------------------------------------------------------------------------------------

/// Every way of changing one ASCII alphanumeric byte inside the signed object must be rejected.
fn assert_one_byte_changes_rejected(key: &PublicKey, body: &str, method: &str, content: &str) {
    let start = body.find(content).unwrap();
    let mut checked = 0;
    for i in start..start + content.len() {
        let c = body.as_bytes()[i];
        if !c.is_ascii_alphanumeric() {
            continue;
        }
        let replacement = if c == b'0' { b'1' } else { b'0' };
        let mut bytes = body.as_bytes().to_vec();
        bytes[i] = replacement;
        let tampered = String::from_utf8(bytes).unwrap();
        if let Ok(signed) = extract_signed_response(&tampered, method) {
            assert!(
                !verify_response(key, &signed),
                "byte {i} changed still verifies"
            );
        }
        checked += 1;
    }
    assert!(checked > 20);
}

#[test]
fn real_gateway_response_verifies_with_alipay_key() {
    let v = &json("sdk_test_vectors.json")["response_v2_real"];
    let body = v["raw_body"].as_str().unwrap();
    let method = v["method"].as_str().unwrap();
    let key = public(v["verify_with"].as_str().unwrap());

    let signed = extract_signed_response(body, method).unwrap();
    assert_eq!(signed.root_key, v["response_key"].as_str().unwrap());
    assert_eq!(
        signed.content,
        v["expected_signed_content"].as_str().unwrap()
    );
    assert_eq!(signed.alipay_cert_sn, None);
    assert!(verify_response(&key, &signed));
    assert!(!verify_response(
        &public("keys/app-public-key.pem"),
        &signed
    ));
    assert_one_byte_changes_rejected(&key, body, method, signed.content);

    // Same content, different method: the root is missing.
    assert_eq!(
        extract_signed_response(body, "alipay.trade.query"),
        Err(ResponseError::MissingRoot {
            root_key: "alipay_trade_query_response".into()
        })
    );
}

#[test]
fn derived_responses_verify_with_app_key() {
    let derived = json("derived_vectors.json");
    let key = public("keys/app-public-key.pem");
    for (name, root) in [
        ("response_trade_query", "alipay_trade_query_response"),
        (
            "response_trade_query_biz_error",
            "alipay_trade_query_response",
        ),
        ("response_error_response_signed", "error_response"),
    ] {
        let case = &derived[name];
        let body = case["raw_body"].as_str().unwrap();
        let signed = extract_signed_response(body, "alipay.trade.query").unwrap();
        assert_eq!(signed.root_key, root, "{name}");
        assert_eq!(signed.content, case["signed_content"].as_str().unwrap());
        assert_eq!(signed.sign.as_deref(), case["sign"].as_str());
        assert!(verify_response(&key, &signed), "{name}");
        assert!(!verify_response(
            &public("keys/alipay-public-key.pem"),
            &signed
        ));
        assert_one_byte_changes_rejected(&key, body, "alipay.trade.query", signed.content);
    }
}

#[test]
fn duplicate_roots_are_rejected() {
    let derived = json("derived_vectors.json");
    let body = derived["response_trade_query"]["raw_body"]
        .as_str()
        .unwrap();
    let forged =
        r#"{"code":"10000","msg":"Success","trade_status":"TRADE_SUCCESS","total_amount":"0.01"}"#;
    let without_brace = &body[..body.len() - 1];

    // Second top-level root after the signed one (most JSON parsers keep the last one).
    let dup = format!(r#"{without_brace},"alipay_trade_query_response":{forged}}}"#);
    assert_eq!(
        extract_signed_response(&dup, "alipay.trade.query"),
        Err(ResponseError::DuplicateKey {
            key: "alipay_trade_query_response".into()
        })
    );
    // Forged root first, signed one second.
    let first = body.replacen(
        '{',
        &format!(r#"{{"alipay_trade_query_response":{forged},"#),
        1,
    );
    assert!(extract_signed_response(&first, "alipay.trade.query").is_err());
    // Same key spelled with a JSON escape is still the same key.
    let escaped = format!(r#"{without_brace},"alipay_trade_query\u005fresponse":{forged}}}"#);
    assert!(matches!(
        extract_signed_response(&escaped, "alipay.trade.query"),
        Err(ResponseError::DuplicateKey { .. })
    ));
    // Root name mentioned again after the signed object, nested elsewhere (EASY's check).
    let nested = format!(r#"{without_brace},"x":{{"alipay_trade_query_response":{forged}}}}}"#);
    assert_eq!(
        extract_signed_response(&nested, "alipay.trade.query"),
        Err(ResponseError::DuplicateRoot {
            root_key: "alipay_trade_query_response".into()
        })
    );
    // Both the method root and error_response.
    let both = format!(r#"{without_brace},"error_response":{{"code":"40002"}}}}"#);
    assert!(matches!(
        extract_signed_response(&both, "alipay.trade.query"),
        Err(ResponseError::AmbiguousRoot { .. })
    ));
    // Duplicate sign.
    let two_signs = format!(r#"{without_brace},"sign":"AAAA"}}"#);
    assert_eq!(
        extract_signed_response(&two_signs, "alipay.trade.query"),
        Err(ResponseError::DuplicateKey { key: "sign".into() })
    );
}

#[test]
fn a_root_nested_in_another_value_is_not_taken_for_the_root() {
    let key = app_private();
    let content = r#"{"code":"10000","msg":"Success"}"#;
    let sign = rsa_sha256_sign(&key, content.as_bytes());
    // The real root comes after a decoy holding the root name inside a nested object and a string.
    let body = format!(
        r#"{{"decoy":{{"note":"alipay_trade_query_response","inner":{{"code":"x"}}}},"alipay_trade_query_response":{content},"sign":"{sign}"}}"#
    );
    let signed = extract_signed_response(&body, "alipay.trade.query").unwrap();
    assert_eq!(signed.content, content);
    assert!(verify_response(&public("keys/app-public-key.pem"), &signed));
}

#[test]
fn unsigned_error_response_extracts_without_sign() {
    let body = r#"{"error_response":{"code":"40002","msg":"Invalid Arguments","sub_code":"isv.invalid-app-id","sub_msg":"无效的AppID参数"}}"#;
    let signed = extract_signed_response(body, "alipay.trade.query").unwrap();
    assert_eq!(signed.root_key, "error_response");
    assert_eq!(signed.sign, None);
    assert_eq!(signed.alipay_cert_sn, None);
    assert!(signed.content.starts_with(r#"{"code":"40002""#));
    assert!(!verify_response(
        &public("keys/app-public-key.pem"),
        &signed
    ));
    // Empty sign counts as unsigned too.
    let empty = r#"{"error_response":{"code":"40002"},"sign":""}"#;
    assert_eq!(
        extract_signed_response(empty, "alipay.trade.query")
            .unwrap()
            .sign,
        None
    );
}

#[test]
fn garbage_and_truncated_bodies_are_errors() {
    let derived = json("derived_vectors.json");
    let body = derived["response_trade_query"]["raw_body"]
        .as_str()
        .unwrap();
    // Every proper prefix of a real body (on char boundaries) is an error, never a panic.
    for end in 0..body.len() {
        if body.is_char_boundary(end) {
            assert!(
                extract_signed_response(&body[..end], "alipay.trade.query").is_err(),
                "prefix {end}"
            );
        }
    }
    for garbage in [
        "",
        "   ",
        "<html>502 Bad Gateway</html>",
        "null",
        "[]",
        r#""alipay_trade_query_response""#,
        r#"{"alipay_trade_query_response":{"code":"10000"}} trailing"#,
        r#"{"alipay_trade_query_response":{"code":"10000"},}"#,
        r#"{"alipay_trade_query_response":{"code":"10000"]}"#,
        r#"{"alipay_trade_query_response":{"code":"1\q"}}"#,
        r#"{"alipay_trade_query_response":"ZW5jcnlwdGVk","sign":"x"}"#,
        r#"{"alipay_trade_query_response":{"code":"10000"},"sign":123}"#,
        r#"{"alipay_trade_query_response":{"code":"10000"},"sign":null}"#,
        r#"{"other":{}}"#,
    ] {
        assert!(
            extract_signed_response(garbage, "alipay.trade.query").is_err(),
            "{garbage:?}"
        );
    }
    assert_eq!(
        extract_signed_response("[]", "alipay.trade.query"),
        Err(ResponseError::NotObject)
    );
    assert_eq!(
        extract_signed_response("{\"a\":", "alipay.trade.query"),
        Err(ResponseError::NotJson)
    );
}

#[test]
fn braces_quotes_and_backslashes_inside_strings_do_not_fool_the_scanner() {
    let key = app_private();
    let public_key = public("keys/app-public-key.pem");
    // `}` `{` inside strings, an escaped quote, an escaped backslash right before a closing quote,
    // nested arrays/objects, a nested "sign" key and non-ASCII text.
    let content = r#"{"code":"10000","msg":"Su}cc{ess","subject":"a \"quoted}\" {word}","path":"C:\\dir\\","nested":{"sign":"inner","list":[{"x":"]}"},[1,2]]},"sub_msg":"交易}{成功"}"#;
    serde_json::from_str::<Value>(content).unwrap();
    let body = build_response_body(
        &key,
        "alipay_trade_query_response",
        content,
        Some("7513daaaa48aa3ba2e4018d84402479c"),
    );
    let signed = extract_signed_response(&body, "alipay.trade.query").unwrap();
    assert_eq!(signed.content, content);
    assert_eq!(
        signed.alipay_cert_sn.as_deref(),
        Some("7513daaaa48aa3ba2e4018d84402479c")
    );
    assert!(verify_response(&public_key, &signed));
    assert_one_byte_changes_rejected(&public_key, &body, "alipay.trade.query", content);

    // Pretty-printed body with whitespace around everything: content is still exactly the object.
    let sign = rsa_sha256_sign(&key, content.as_bytes());
    let pretty = format!(
        "{{\n  \"alipay_trade_query_response\" :\n    {content} ,\r\n  \"sign\" : \"{sign}\"\n}}\n"
    );
    let signed = extract_signed_response(&pretty, "alipay.trade.query").unwrap();
    assert_eq!(signed.content, content);
    assert!(verify_response(&public_key, &signed));
}

#[test]
fn escaped_solidus_retry_only_accepts_equivalent_json() {
    let key = app_private();
    let public_key = public("keys/app-public-key.pem");
    // The gateway signed the unescaped form; the body shows `\/`.
    let signed_form = r#"{"code":"10000","qr_code":"https://qr.alipay.com/x"}"#;
    let shown = r#"{"code":"10000","qr_code":"https:\/\/qr.alipay.com\/x"}"#;
    let sign = rsa_sha256_sign(&key, signed_form.as_bytes());
    let body = format!(r#"{{"alipay_trade_precreate_response":{shown},"sign":"{sign}"}}"#);
    let signed = extract_signed_response(&body, "alipay.trade.precreate").unwrap();
    assert_eq!(signed.content, shown);
    assert!(verify_response(&public_key, &signed));

    // `\\/` is a backslash then a slash: a different value, so it must not match.
    let sneaky = r#"{"code":"10000","qr_code":"https:\\/\\/qr.alipay.com\\/x"}"#;
    let sign2 = rsa_sha256_sign(
        &key,
        r#"{"code":"10000","qr_code":"https:\/\/qr.alipay.com\/x"}"#.as_bytes(),
    );
    let body = format!(r#"{{"alipay_trade_precreate_response":{sneaky},"sign":"{sign2}"}}"#);
    let signed = extract_signed_response(&body, "alipay.trade.precreate").unwrap();
    assert!(!verify_response(&public_key, &signed));
}

// ---------------------------------------------------------------------------------------------
// Notifications
// ---------------------------------------------------------------------------------------------

#[test]
fn payment_notification_verifies_only_without_sign_type() {
    let v = &json("sdk_test_vectors.json")["notify_payment_trade_status_sync"];
    let key = public(v["verify_with"].as_str().unwrap());
    let params = pairs(&v["params"]);
    assert_eq!(
        notify_sign_content(refs(&params), NotifyKind::Payment),
        v["expected_sign_content"].as_str().unwrap()
    );
    assert!(v["expected_valid_excluding_sign_type"].as_bool().unwrap());
    assert!(!v["expected_valid_including_sign_type"].as_bool().unwrap());
    assert!(verify_notification(
        &key,
        refs(&params),
        NotifyKind::Payment
    ));
    assert!(!verify_notification(
        &key,
        refs(&params),
        NotifyKind::AppGateway
    ));
    assert_notification_tamper_rejected(&key, &params, NotifyKind::Payment);
}

#[test]
fn app_gateway_notification_verifies_only_with_sign_type() {
    let v = &json("sdk_test_vectors.json")["notify_gateway_servicemarket"];
    let key = public(v["verify_with"].as_str().unwrap());
    let params = pairs(&v["params"]);
    assert_eq!(
        notify_sign_content(refs(&params), NotifyKind::AppGateway),
        v["expected_sign_content"].as_str().unwrap()
    );
    assert!(v["expected_valid_including_sign_type"].as_bool().unwrap());
    assert!(!v["expected_valid_excluding_sign_type"].as_bool().unwrap());
    assert!(verify_notification(
        &key,
        refs(&params),
        NotifyKind::AppGateway
    ));
    assert!(!verify_notification(
        &key,
        refs(&params),
        NotifyKind::Payment
    ));
    assert_notification_tamper_rejected(&key, &params, NotifyKind::AppGateway);
}

#[test]
fn derived_notification_verifies_with_app_key() {
    let v = &json("derived_vectors.json")["notify_trade_status_sync"];
    let key = public("keys/app-public-key.pem");
    let params = pairs(&v["params"]);
    assert_eq!(
        notify_sign_content(refs(&params), NotifyKind::Payment),
        v["sign_content"].as_str().unwrap()
    );
    assert!(verify_notification(
        &key,
        refs(&params),
        NotifyKind::Payment
    ));
    assert!(!verify_notification(
        &public("keys/alipay-public-key.pem"),
        refs(&params),
        NotifyKind::Payment
    ));
    assert_notification_tamper_rejected(&key, &params, NotifyKind::Payment);

    // Empty values are skipped, so an extra empty field does not break verification.
    let mut with_empty = params.clone();
    with_empty.push(("passback_params".into(), String::new()));
    assert!(verify_notification(
        &key,
        refs(&with_empty),
        NotifyKind::Payment
    ));
    // Values are used as given: a percent-encoded form of a value is a different value.
    let mut encoded = params.clone();
    for (k, v) in encoded.iter_mut() {
        if k == "gmt_create" {
            *v = v.replace(' ', "%20");
        }
    }
    assert!(!verify_notification(
        &key,
        refs(&encoded),
        NotifyKind::Payment
    ));
}

fn assert_notification_tamper_rejected(
    key: &PublicKey,
    params: &[(String, String)],
    kind: NotifyKind,
) {
    for i in 0..params.len() {
        if params[i].0 == "sign" || (kind == NotifyKind::Payment && params[i].0 == "sign_type") {
            continue;
        }
        let mut changed = params.to_vec();
        changed[i].1.push('0');
        assert!(
            !verify_notification(key, refs(&changed), kind),
            "{} changed",
            params[i].0
        );
    }
    // total_amount altered by one digit.
    let mut amount = params.to_vec();
    if let Some(p) = amount.iter_mut().find(|(k, _)| k == "total_amount") {
        p.1 = p.1.replace('1', "2").replace('8', "9");
        assert!(!verify_notification(key, refs(&amount), kind));
    }
    // Missing or duplicated sign.
    let no_sign: Vec<_> = params
        .iter()
        .filter(|(k, _)| k != "sign")
        .cloned()
        .collect();
    assert!(!verify_notification(key, refs(&no_sign), kind));
    let mut two_signs = params.to_vec();
    let sign = params.iter().find(|(k, _)| k == "sign").unwrap().clone();
    two_signs.push(sign);
    assert!(!verify_notification(key, refs(&two_signs), kind));
}

// ---------------------------------------------------------------------------------------------
// Certificates
// ---------------------------------------------------------------------------------------------

#[test]
fn certificate_serial_numbers_match_the_sdk() {
    let v = &json("sdk_test_vectors.json")["cert_sn"];
    let app = read("certs/appCertPublicKey_2021001161683774.crt");
    let alipay = read("certs/alipayCertPublicKey_RSA2.crt");
    let root = read("certs/alipayRootCert.crt");
    assert_eq!(
        cert_sn(app.as_bytes(), "app_cert").unwrap(),
        "866efef280dec9137a87d047ac446315"
    );
    assert_eq!(
        cert_sn(alipay.as_bytes(), "alipay_cert").unwrap(),
        "7513daaaa48aa3ba2e4018d84402479c"
    );
    assert_eq!(
        root_cert_sn(&root, "root_cert").unwrap(),
        "687b59193f3f462dd5336e5abf83c5d8_02941eef3187dddf3d3b83462e1dfcf6"
    );
    // Same values as the vector file.
    assert_eq!(
        v["certs/appCertPublicKey_2021001161683774.crt"],
        "866efef280dec9137a87d047ac446315"
    );
    assert_eq!(
        v["certs/alipayCertPublicKey_RSA2.crt"],
        "7513daaaa48aa3ba2e4018d84402479c"
    );
    assert_eq!(
        v["certs/alipayRootCert.crt (root, alipay_root_cert_sn)"],
        "687b59193f3f462dd5336e5abf83c5d8_02941eef3187dddf3d3b83462e1dfcf6"
    );

    // DER input gives the same SN as PEM.
    let body: String = alipay.lines().filter(|l| !l.starts_with("-----")).collect();
    use base64::Engine as _;
    let der = base64::engine::general_purpose::STANDARD
        .decode(body)
        .unwrap();
    assert_eq!(
        cert_sn(&der, "alipay_cert").unwrap(),
        "7513daaaa48aa3ba2e4018d84402479c"
    );
}

#[test]
fn certificate_public_key_is_the_alipay_key() {
    let v = &json("sdk_test_vectors.json")["cert_sn"];
    let spki = v["public key in certs/alipayCertPublicKey_RSA2.crt (base64 SPKI DER)"]
        .as_str()
        .unwrap();
    let from_cert =
        cert_public_key(read("certs/alipayCertPublicKey_RSA2.crt").as_bytes(), "c").unwrap();
    assert_eq!(from_cert, public_key_from_text(spki, "spki").unwrap());
    assert_ne!(from_cert, public("keys/app-public-key.pem"));
}

#[test]
fn certificate_errors_name_the_setting_and_not_the_bytes() {
    let err = cert_sn(b"not a certificate", "alipay.app_cert_path").unwrap_err();
    let msg = err.to_string();
    assert!(msg.starts_with("alipay.app_cert_path:"), "{msg}");
    let broken =
        "-----BEGIN CERTIFICATE-----\nMIIBszCCAVegAwIBAgIIaeL+wBcKxns\n-----END CERTIFICATE-----\n";
    let msg = cert_sn(broken.as_bytes(), "root").unwrap_err().to_string();
    assert!(msg.starts_with("root:") && !msg.contains("MIIB"), "{msg}");
    let unterminated = "-----BEGIN CERTIFICATE-----\nMIIB";
    assert!(root_cert_sn(unterminated, "root").is_err());
    // A bundle with only non-RSA certificates has no root SN.
    let root = read("certs/alipayRootCert.crt");
    let first_only = &root[..root.find("-----END CERTIFICATE-----").unwrap() + 25];
    assert!(root_cert_sn(first_only, "root").is_err());
}

// ---------------------------------------------------------------------------------------------
// Timestamps
// ---------------------------------------------------------------------------------------------

#[test]
fn beijing_timestamps_fixed_values() {
    for (unix, text) in [
        (1_704_081_600, "2024-01-01 12:00:00"),
        (0, "1970-01-01 08:00:00"),
        (-28_800, "1970-01-01 00:00:00"),
        (-28_801, "1969-12-31 23:59:59"),
        (951_782_400, "2000-02-29 08:00:00"),
        (1_709_164_800, "2024-02-29 08:00:00"),
        (4_102_444_799, "2100-01-01 07:59:59"),
        (-2_208_988_800, "1900-01-01 08:00:00"),
        (253_402_243_199, "9999-12-31 15:59:59"),
    ] {
        assert_eq!(beijing_timestamp(unix), text, "{unix}");
        assert_eq!(parse_beijing_timestamp(text), Some(unix), "{text}");
    }
}

#[test]
fn beijing_timestamps_round_trip() {
    let mut t: i64 = -2_300_000_000;
    while t < 5_000_000_000 {
        let s = beijing_timestamp(t);
        assert_eq!(s.len(), 19);
        assert_eq!(parse_beijing_timestamp(&s), Some(t), "{s}");
        t += 86_399 * 3 + 7;
    }
    // Extreme inputs do not panic.
    let _ = beijing_timestamp(i64::MAX);
    let _ = beijing_timestamp(i64::MIN);
}

#[test]
fn beijing_timestamp_parse_is_strict() {
    assert_eq!(
        parse_beijing_timestamp("2000-02-29 00:00:00"),
        Some(951_753_600)
    );
    assert!(parse_beijing_timestamp("2024-02-29 23:59:59").is_some());
    for bad in [
        "2024-1-1 12:00:00",
        "2024-13-01 00:00:00",
        "2024-00-10 00:00:00",
        "2024-01-00 00:00:00",
        "2024-01-32 00:00:00",
        "2023-02-29 00:00:00",
        "1900-02-29 00:00:00",
        "2024-04-31 00:00:00",
        "2024-01-01 24:00:00",
        "2024-01-01 23:60:00",
        "2024-01-01 23:59:60",
        "2024-01-01T12:00:00",
        "2024/01/01 12:00:00",
        "2024-01-01 12:00:00 ",
        " 2024-01-01 12:00:00",
        "2024-01-01 12:00",
        "2024-01-01 12:00:00.000",
        "+024-01-01 12:00:00",
        "2024-01-01 12:0a:00",
        "２０２４-01-01 12:00:00",
        "",
    ] {
        assert_eq!(parse_beijing_timestamp(bad), None, "{bad:?}");
    }
}
