//! Checks the compiled `zhifu-generated` crate against its own schemas and the runtime's
//! contract: the registry, each `ToolDef` and the provider tables agree with
//! `generated/schemas/*.json`, and the invariants the safety features rely on hold for every
//! tool the spec has (so a new tool is checked without editing this file).

use std::collections::BTreeSet;

use serde_json::{Value, json};
use zhifu_generated::{PROVIDERS, TOOLS};
use zhifu_runtime::tool::{Effect, Kind, Location, Operation, SummaryKind, ToolDef};

fn schema(text: &str) -> Value {
    serde_json::from_str(text).expect("schema is JSON")
}

#[test]
fn registry_is_sorted_unique_and_matches_the_schema_files() {
    let names: Vec<&str> = TOOLS.iter().map(|t| t.name).collect();
    let mut sorted = names.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(
        names, sorted,
        "TOOLS must be sorted by name without duplicates"
    );

    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas");
    let files: BTreeSet<String> = std::fs::read_dir(dir)
        .expect("generated/schemas")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    let expected: BTreeSet<String> = names
        .iter()
        .flat_map(|n| {
            [
                format!("{n}.input.json"),
                format!("{n}.validate.json"),
                format!("{n}.output.json"),
            ]
        })
        // Another server's name for a tool has its own input schema.
        .chain(
            TOOLS
                .iter()
                .flat_map(|t| t.aliases)
                .map(|a| format!("{}.input.json", a.name)),
        )
        .collect();
    assert_eq!(files, expected);
}

#[test]
fn seed_tools_are_all_there() {
    let names: BTreeSet<&str> = TOOLS.iter().map(|t| t.name).collect();
    for seed in [
        "create_charge",
        "retrieve_charge",
        "list_charges",
        "create_refund",
        "retrieve_refund",
        "list_refunds",
        "create_customer",
        "retrieve_customer",
        "list_customers",
        "create_recharge",
        "retrieve_recharge",
        "create_recharge_refund",
        "retrieve_recharge_refund",
        "list_recharge_refunds",
        "retrieve_event",
        "verify_webhook",
    ] {
        assert!(names.contains(seed), "missing seed tool {seed}");
    }
}

fn lookup(name: &str) -> &'static ToolDef {
    TOOLS
        .iter()
        .copied()
        .find(|t| t.name == name)
        .unwrap_or_else(|| panic!("no tool {name}"))
}

#[test]
fn params_agree_with_the_input_schema() {
    for t in TOOLS {
        let s = schema(t.input_schema);
        let props = s["properties"].as_object().expect("properties");
        let names: Vec<&str> = props.keys().map(String::as_str).collect();
        let params: Vec<&str> = t.params.iter().map(|p| p.name).collect();
        assert_eq!(names, params, "{}: schema properties vs params", t.name);
        let required: BTreeSet<&str> = s["required"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|v| v.as_str().expect("string"))
            .collect();
        for p in t.params {
            // A required argument the configuration can supply is optional in the schema.
            assert_eq!(
                required.contains(p.name),
                p.required && p.default_from.is_none(),
                "{}.{}: required",
                t.name,
                p.name
            );
            let prop = &props[p.name];
            match p.default_json {
                Some(d) => assert_eq!(prop["default"], schema(d), "{}.{}: default", t.name, p.name),
                None => assert!(
                    prop.get("default").is_none(),
                    "{}.{}: default",
                    t.name,
                    p.name
                ),
            }
            let json_type = match p.kind {
                Kind::String | Kind::AmountYuan => "string",
                Kind::Integer | Kind::AmountFen => "integer",
                Kind::Number => "number",
                Kind::Boolean => "boolean",
                Kind::Object | Kind::Metadata => "object",
                Kind::Array => "array",
            };
            assert_eq!(prop["type"], json_type, "{}.{}: type", t.name, p.name);
            if p.location == Location::Path {
                assert!(
                    prop["pattern"].is_string(),
                    "{}.{}: path params need a pattern",
                    t.name,
                    p.name
                );
            }
        }
        schema(t.output_schema);
    }
}

#[test]
fn path_placeholders_are_exactly_the_path_params() {
    for t in TOOLS {
        let Operation::Rest { path, .. } = t.operation else {
            continue;
        };
        let placeholders: BTreeSet<&str> = path
            .split('{')
            .skip(1)
            .map(|s| s.split('}').next().expect("closed"))
            .collect();
        let params: BTreeSet<&str> = t
            .params
            .iter()
            .filter(|p| p.location == Location::Path)
            .map(|p| p.wire)
            .collect();
        assert_eq!(placeholders, params, "{}", t.name);
    }
}

#[test]
fn money_moving_tools_say_how_to_recover() {
    for t in TOOLS {
        if t.effect == Effect::MovesMoney {
            // Every movement of money has a key the idempotency guard can hold a retry to.
            let key = t
                .merchant_reference
                .and_then(|m| t.param(m))
                .unwrap_or_else(|| panic!("{} has no merchant_reference", t.name));
            assert!(key.required && key.kind == Kind::String, "{}", t.name);
            let q = t
                .query_tool
                .unwrap_or_else(|| panic!("{} has no query_tool", t.name));
            assert!(
                lookup(q).read_only(),
                "{}: query_tool {q} must be read-only",
                t.name
            );
            assert!(t.destructive(), "{}", t.name);
        }
        if t.idempotent && !t.read_only() {
            assert!(
                t.merchant_reference.is_some(),
                "{}: idempotent without a key",
                t.name
            );
        }
    }
    for (name, list) in [
        ("create_refund", "list_refunds"),
        ("create_recharge_refund", "list_recharge_refunds"),
    ] {
        // Ping++ has no idempotency key for refunds: the caller's refund_no, kept in the
        // refund's metadata, is found again by listing the refunds.
        let refund = lookup(name);
        assert!(refund.idempotent, "{name}");
        assert_eq!(refund.merchant_reference, Some("refund_no"), "{name}");
        assert_eq!(refund.query_tool, Some(list), "{name}");
        assert_eq!(refund.query_match, Some("metadata.refund_no"), "{name}");
        let key = refund.param("refund_no").expect("refund_no");
        assert!(key.required && key.kind == Kind::String, "{name}");
        assert_eq!(key.wire, "metadata.refund_no", "{name}");
        let order: Vec<&str> = refund.params.iter().map(|p| p.name).collect();
        let at = |n: &str| order.iter().position(|p| *p == n).expect("param");
        assert!(
            at("metadata") < at("refund_no"),
            "{name}: merged after metadata"
        );
        assert!(!refund.description.contains("NOT idempotent"), "{name}");
        assert!(refund.description.contains("SAME `refund_no`"), "{name}");
        let metadata = &schema(refund.input_schema)["properties"]["metadata"];
        assert_eq!(metadata["maxProperties"], 9, "{name}: room for refund_no");
        assert_eq!(
            metadata["propertyNames"],
            json!({"not": {"const": "refund_no"}})
        );
    }
    assert_eq!(lookup("create_refund").amount_param, Some("amount"));
    // A recharge's charge is flattened so that its order_no is the top-level reference.
    let recharge = lookup("create_recharge");
    assert_eq!(recharge.merchant_reference, Some("order_no"));
    assert_eq!(
        recharge.param("order_no").expect("order_no").wire,
        "charge.order_no"
    );
    assert_eq!(recharge.amount_param, Some("amount"));
    assert_eq!(
        recharge.param("amount").expect("amount").wire,
        "charge.amount"
    );
    let charge = lookup("create_charge");
    assert_eq!(charge.merchant_reference, Some("order_no"));
    assert!(!lookup("verify_webhook").open_world());
}

#[test]
fn alipay_seed_tools_are_all_there() {
    let names: BTreeSet<&str> = TOOLS.iter().map(|t| t.name).collect();
    for seed in [
        "cancel_trade",
        "close_trade",
        "create_trade",
        "get_oauth_token",
        "query_bill_download_url",
        "query_trade",
        "query_transfer",
        "query_user_info",
        "refund_trade",
        "transfer_fund",
    ] {
        assert!(names.contains(seed), "missing Alipay seed tool {seed}");
        assert_eq!(lookup(seed).provider, zhifu_runtime::tool::Provider::Alipay);
    }
}

fn validator(t: &ToolDef) -> jsonschema::Validator {
    jsonschema::draft202012::new(&schema(t.validation_schema)).expect("input schema compiles")
}

#[test]
fn alipay_rules_are_enforced_by_the_input_schemas() {
    let transfer = validator(lookup("transfer_fund"));
    let base = json!({
        "out_biz_no": "T1",
        "trans_amount": "15.50",
        "payee_identity": "someone@example.com",
        "payee_identity_type": "ALIPAY_LOGON_ID"
    });
    assert!(!transfer.is_valid(&base), "logon id needs payee_name");
    let mut named = base.clone();
    named["payee_name"] = json!("张三");
    assert!(transfer.is_valid(&named));
    let mut by_id = base.clone();
    by_id["payee_identity_type"] = json!("ALIPAY_USER_ID");
    by_id["payee_identity"] = json!("2088123412341234");
    assert!(transfer.is_valid(&by_id));
    let mut fen = named.clone();
    fen["trans_amount"] = json!(1550);
    assert!(!transfer.is_valid(&fen), "amounts are yuan strings");

    let query = validator(lookup("query_trade"));
    assert!(
        !query.is_valid(&json!({})),
        "needs out_trade_no or trade_no"
    );
    assert!(query.is_valid(&json!({"trade_no": "2024010122001400000000000001"})));
    assert!(query.is_valid(&json!({"out_trade_no": "A1"})));

    let oauth = validator(lookup("get_oauth_token"));
    assert!(!oauth.is_valid(&json!({"grant_type": "authorization_code"})));
    assert!(oauth.is_valid(&json!({"grant_type": "authorization_code", "code": "c"})));
    assert!(!oauth.is_valid(&json!({"grant_type": "refresh_token", "code": "c"})));
    assert!(oauth.is_valid(&json!({"grant_type": "refresh_token", "refresh_token": "r"})));

    let bill = validator(lookup("query_bill_download_url"));
    for ok in ["2024-01-31", "2024-01"] {
        assert!(
            bill.is_valid(&json!({"bill_type": "trade", "bill_date": ok})),
            "{ok}"
        );
    }
    for bad in ["2024-1-31", "2024-13", "20240131", "2024-01-32"] {
        assert!(
            !bill.is_valid(&json!({"bill_type": "trade", "bill_date": bad})),
            "{bad}"
        );
    }

    let verify = validator(lookup("verify_notification"));
    assert!(!verify.is_valid(&json!({"kind": "payment"})));
    assert!(verify.is_valid(&json!({"params": {"sign": "x"}})));
    assert!(
        !verify.is_valid(&json!({"params": {"n": 1}})),
        "values are strings"
    );
    assert!(verify.is_valid(&json!({"body": "a=b"})));
}

#[test]
fn alipay_descriptors_follow_the_runtime_contract() {
    use zhifu_runtime::tool::Check;
    for t in TOOLS
        .iter()
        .filter(|t| t.provider == zhifu_runtime::tool::Provider::Alipay)
    {
        for p in t.params {
            for common in [
                "app_id",
                "method",
                "format",
                "charset",
                "sign",
                "sign_type",
                "timestamp",
                "version",
            ] {
                assert_ne!(p.wire, common, "{}: the runtime adds `{common}`", t.name);
            }
            if matches!(
                p.name,
                "code" | "refresh_token" | "auth_token" | "app_auth_token"
            ) {
                assert!(p.secret, "{}.{} must be secret", t.name, p.name);
                assert_eq!(p.location, Location::Common, "{}.{}", t.name, p.name);
            }
            if p.name == "notify_url" || p.name == "return_url" {
                assert_eq!(p.location, Location::Common, "{}.{}", t.name, p.name);
                assert!(!p.required, "{}.{}", t.name, p.name);
                assert_eq!(
                    p.default_from.map(|k| k.as_str()),
                    Some(if p.name == "notify_url" {
                        "alipay.notify_url"
                    } else {
                        "alipay.return_url"
                    })
                );
            }
        }
        if let Some(a) = t.amount_param {
            assert_eq!(t.param(a).expect("amount param").kind, Kind::AmountYuan);
            assert!(t.description.contains("yuan"), "{}: units", t.name);
        }
    }
    let transfer = lookup("transfer_fund");
    assert_eq!(transfer.checks, &[Check::CertModeInProduction]);
    assert_eq!(
        transfer.param("payee_identity").expect("payee").wire,
        "payee_info.identity"
    );
    assert_eq!(
        lookup("query_bill_download_url").checks,
        &[Check::PastDate { param: "bill_date" }]
    );
    let refund = lookup("refund_trade");
    assert_eq!(refund.merchant_reference, Some("out_request_no"));
    assert_eq!(refund.query_tool, Some("query_refund"));
    assert!(refund.param("out_request_no").expect("key").required);
    // A payment link creates a payable order exactly like create_trade: one rule for all.
    let trade = lookup("create_trade");
    for url in ["create_page_payment_url", "create_wap_payment_url"] {
        let t = lookup(url);
        assert!(matches!(t.operation, Operation::GatewayUrl { .. }), "{url}");
        assert!(!t.open_world() && t.destructive(), "{url}");
        assert_eq!(
            (t.effect, t.merchant_reference, t.amount_param, t.query_tool),
            (
                trade.effect,
                trade.merchant_reference,
                trade.amount_param,
                trade.query_tool
            ),
            "{url}"
        );
    }
    // Cancelling a paid trade refunds it in full: the result says which, and so does the text.
    let cancel = lookup("cancel_trade");
    assert_eq!(cancel.merchant_reference, Some("out_trade_no"));
    assert!(!cancel.param("trade_no").expect("trade_no").required);
    assert!(cancel.description.contains("REFUNDS THE BUYER IN FULL"));
    let out = schema(cancel.output_schema);
    assert_eq!(
        out["properties"]["action"]["enum"],
        json!(["close", "refund"])
    );
    assert_eq!(out["properties"]["retry_flag"]["enum"], json!(["Y", "N"]));
    assert!(matches!(
        lookup("verify_notification").operation,
        Operation::Local {
            op: zhifu_runtime::tool::LocalOp::AlipayVerifyNotification
        }
    ));
}

/// The top-level properties of a tool's output schema.
fn result_fields(t: &ToolDef) -> Value {
    schema(t.output_schema)["properties"].clone()
}

/// A payee, a reference conflict, a counterparty and recovery by query hold together for every
/// tool; no list of tools is pinned here, so a tool added to the spec is held to the same rules.
#[test]
fn payee_reference_and_recovery_keys_follow_the_invariants() {
    let mut payees = 0;
    for t in TOOLS {
        if !t.payee_params.is_empty() {
            payees += 1;
            // Who receives the money: only a money move has one, with an amount; the
            // allowlist applies to it, so one is always given, and the confirmation shows it.
            assert_eq!(
                t.effect,
                Effect::MovesMoney,
                "{}: a payee moves money",
                t.name
            );
            assert!(
                t.amount_param.is_some(),
                "{}: a payment has an amount",
                t.name
            );
            for payee in t.payee_params {
                let p = t.param(payee).expect("payee_param is a parameter");
                assert_eq!(p.kind, Kind::String, "{}: payee {payee}", t.name);
            }
            match t.payee_params {
                [one] => assert!(t.param(one).unwrap().required, "{}: payee", t.name),
                several => {
                    // The validation schema demands one of them.
                    let v = schema(t.validation_schema);
                    let rules = v["allOf"].as_array().into_iter().flatten();
                    let required: Vec<&str> = std::iter::once(&v)
                        .chain(rules)
                        .filter_map(|rule| rule["anyOf"].as_array())
                        .flatten()
                        .filter_map(|r| r["required"][0].as_str())
                        .collect();
                    for payee in several {
                        assert!(required.contains(payee), "{}: {payee} in anyOf", t.name);
                    }
                }
            }
            assert_eq!(
                &t.counterparty[..t.payee_params.len()],
                t.payee_params,
                "{}",
                t.name
            );
        }
        if let Some(b) = t.batch {
            // A batch moves the sum of its items: the items are declared objects with the amount
            // key (and the payee keys) the runtime reads.
            assert_eq!(
                t.effect,
                Effect::MovesMoney,
                "{}: a batch moves money",
                t.name
            );
            let items = &schema(t.validation_schema)["properties"][b.param]["items"];
            assert!(
                items["properties"][b.amount].is_object(),
                "{}: {}",
                t.name,
                b.amount
            );
            for key in b.payee {
                assert_eq!(
                    items["properties"][key]["type"], "string",
                    "{}: {key}",
                    t.name
                );
            }
        }
        for name in t.counterparty {
            assert!(t.param(name).is_some(), "{}: counterparty {name}", t.name);
        }
        if t.read_only() {
            assert!(
                t.counterparty.is_empty(),
                "{}: a read has no counterparty",
                t.name
            );
        }
        if let Some(conflict) = t.reference_conflict {
            assert!(
                t.merchant_reference.is_some(),
                "{}: conflict without a key",
                t.name
            );
            // A conflict code has advice of its own in the provider's catalogue.
            if !conflict.contains(' ') {
                assert!(
                    t.provider_def.errors.iter().any(|r| r.when.sub_code == Some(conflict)
                        || r.when.code == Some(conflict)),
                    "{}: {conflict} is not in the error catalogue",
                    t.name
                );
            }
        }
        let q = t.query_tool.map(lookup);
        if let Some(field) = t.query_found_field {
            let q = q.expect("query_found_field needs a query_tool");
            let declared = &result_fields(q)[field];
            assert!(declared.is_object(), "{}: {field} in {}", t.name, q.name);
            for v in t.query_found_values {
                assert!(
                    declared["enum"]
                        .as_array()
                        .is_none_or(|e| e.contains(&json!(v))),
                    "{}: {v} is not a value of {field}",
                    t.name
                );
            }
        } else {
            assert!(t.query_found_values.is_empty(), "{}", t.name);
        }
        let own = result_fields(t);
        for (field, _) in t.pending_when {
            assert!(own[field].is_object(), "{}: pending_when {field}", t.name);
        }
        if let Some(f) = t.follow_up {
            let q = q.expect("follow_up needs a query_tool");
            for (to, from) in f.copy {
                assert!(
                    own[to].is_object(),
                    "{}: follow_up copies into {to}",
                    t.name
                );
                assert!(result_fields(q)[from].is_object(), "{}: {from}", t.name);
            }
        }
    }
    assert!(payees > 0, "some tool pays a third party");
}

/// The summary line and the audit record read declared result fields of the right type; a list's
/// summary fields are its items' (one line each), and a list identifies no single call.
#[test]
fn summary_and_upstream_ids_are_declared_result_fields() {
    for t in TOOLS {
        let mut fields = result_fields(t);
        if t.pagination != zhifu_runtime::tool::Pagination::None {
            assert!(t.upstream_ids.is_empty(), "{}", t.name);
            fields = fields["data"]["items"]["properties"].clone();
        }
        for f in t.summary {
            let ty = &fields[f.field]["type"];
            let has =
                |name: &str| ty == name || ty.as_array().is_some_and(|a| a.contains(&json!(name)));
            let fits = match f.kind {
                SummaryKind::Fen => has("integer"),
                SummaryKind::Yuan | SummaryKind::Text => has("string") || has("integer"),
                SummaryKind::Flag => has("boolean"),
            };
            assert!(fits, "{}: summary field {} is {ty}", t.name, f.field);
        }
        for id in t.upstream_ids {
            assert!(fields[*id].is_object(), "{}: upstream id {id}", t.name);
        }
    }
    // Every money-moving result identifies itself for the audit log.
    for t in TOOLS.iter().filter(|t| t.effect == Effect::MovesMoney) {
        assert!(
            !t.upstream_ids.is_empty() || !t.open_world(),
            "{}: no upstream id",
            t.name
        );
    }
}

/// Each provider's catalogue ends with a rule for every error and uses only the placeholders the
/// runtime fills (the generator also checks that every tool its advice names exists).
#[test]
fn error_catalogues_end_with_a_catch_all_and_use_known_placeholders() {
    for p in PROVIDERS {
        let last = p.errors.last().expect("a catalogue has rules");
        let m = &last.when;
        assert!(
            m.http_status.is_none()
                && m.error_type.is_none()
                && m.code.is_none()
                && m.sub_code.is_none()
                && m.message_contains.is_empty()
                && m.reads.is_none()
                && !last.next_step.contains('{'),
            "{}: the last rule must apply to every error",
            p.title
        );
        for r in p.errors {
            let mut rest = r.next_step;
            while let Some(start) = rest.find('{') {
                let end = rest[start..].find('}').expect("closed") + start;
                assert!(
                    ["query_tool", "reference", "param"].contains(&&rest[start + 1..end]),
                    "{}: {}",
                    p.title,
                    r.next_step
                );
                rest = &rest[end + 1..];
            }
        }
    }
    for t in TOOLS {
        assert!(
            PROVIDERS.iter().any(|p| std::ptr::eq(*p, t.provider_def)),
            "{}: provider_def is one of PROVIDERS",
            t.name
        );
        assert_eq!(t.provider_def.provider, t.provider, "{}", t.name);
    }
}

/// The runtime queries the outcome of an Alipay tool, or of any tool with a `query_match`, with
/// the arguments whose names the two tools share: those must meet the query tool's `required`
/// and `anyOf` whenever the tool's own input is valid (read from the schemas: `required` and the
/// `require_any` groups).
#[test]
fn keyed_queries_can_be_built_from_the_tools_own_arguments() {
    let mut checked = 0;
    for t in TOOLS.iter().filter(|t| {
        let alipay = t.provider == zhifu_runtime::tool::Provider::Alipay
            && t.merchant_reference.is_some()
            && t.query_tool.is_some();
        alipay || t.query_match.is_some()
    }) {
        let q = lookup(t.query_tool.expect("filtered"));
        // The validation schema: the published one has no root `allOf` to hold `anyOf` groups.
        let qs = schema(q.validation_schema);
        let shared: BTreeSet<&str> = t
            .params
            .iter()
            .filter(|p| q.param(p.name).is_some())
            .map(|p| p.name)
            .collect();
        let guaranteed: BTreeSet<&str> = t
            .params
            .iter()
            .filter(|p| p.required || p.default_json.is_some() || p.default_from.is_some())
            .map(|p| p.name)
            .collect();
        for r in qs["required"].as_array().into_iter().flatten() {
            let r = r.as_str().expect("string");
            assert!(
                shared.contains(r) && guaranteed.contains(r),
                "{}: query {} requires `{r}`",
                t.name,
                q.name
            );
        }
        let own_groups = any_of_groups(&schema(t.validation_schema));
        for options in any_of_groups(&qs) {
            assert!(
                options.iter().any(|o| guaranteed.contains(o.as_str()))
                    || own_groups
                        .iter()
                        .any(|g| g.iter().all(|o| options.contains(o))),
                "{}: query {} needs one of {options:?}",
                t.name,
                q.name
            );
        }
        checked += 1;
    }
    assert!(checked >= 9, "only {checked} tools checked");
}

/// The `require_any` groups of an input schema: each `anyOf` of `required` under `allOf`.
fn any_of_groups(s: &Value) -> Vec<Vec<String>> {
    s["allOf"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["anyOf"].as_array())
        .map(|any| {
            any.iter()
                .flat_map(|o| o["required"].as_array().into_iter().flatten())
                .map(|v| v.as_str().expect("string").to_owned())
                .collect()
        })
        .collect()
}

/// The sentences of a description, and their `;`-separated parts.
fn clauses(description: &str) -> Vec<&str> {
    description
        .split(". ")
        .flat_map(|s| s.split("; "))
        .collect()
}

/// `clause` names `word` as a whole word (`wx` is not in `wx_pub`).
fn mentions(clause: &str, word: &str) -> bool {
    clause
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .any(|w| w == word)
}

/// The names of a JSON array of strings.
fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .map(|s| s.as_str().expect("string").to_owned())
        .collect()
}

/// What a model reads in `tools/list` is enough: the published input schema has no root
/// combinator (the Anthropic API rejects a tool list containing one), and every rule the runtime
/// validates with them (each `require_any`, `rules` entry and channel-table row under the
/// validation schema's root `allOf`) is stated in the published schema's `description`.
#[test]
fn published_input_schemas_have_no_root_combinators_and_state_every_rule() {
    let mut rules = 0;
    for t in TOOLS {
        let published = schema(t.input_schema);
        for key in ["allOf", "anyOf", "oneOf", "if", "then", "else", "not"] {
            assert!(published.get(key).is_none(), "{}: root `{key}`", t.name);
        }
        let validation = schema(t.validation_schema);
        let mut same = validation.clone();
        same.as_object_mut().expect("object").remove("allOf");
        assert_eq!(
            published, same,
            "{}: published = validation - allOf",
            t.name
        );
        let description = published["description"].as_str().unwrap_or_default();
        let all = clauses(description);
        let stated = |words: &[String], extra: &str| {
            all.iter()
                .any(|c| c.contains(extra) && words.iter().all(|w| c.contains(&format!("`{w}`"))))
        };
        for entry in validation["allOf"].as_array().into_iter().flatten() {
            rules += 1;
            if let Some(any) = entry["anyOf"].as_array() {
                let names: Vec<String> = any.iter().flat_map(|o| strings(&o["required"])).collect();
                assert!(
                    stated(&names, "at least one"),
                    "{}: require_any {names:?} not stated in {description:?}",
                    t.name
                );
                continue;
            }
            let cond = entry["if"]["properties"].as_object().expect("if/then rule");
            let then = &entry["then"];
            if then.get("properties").is_none() {
                // A `rules` entry: when <param> is <values>, <names> are required.
                let mut words = strings(&then["required"]);
                for (param, c) in cond {
                    words.push(param.clone());
                    let values = c.get("const").map_or_else(
                        || c["enum"].as_array().expect("enum").clone(),
                        |v| vec![v.clone()],
                    );
                    words.extend(
                        values
                            .iter()
                            .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned)),
                    );
                }
                assert!(
                    stated(&words, "required"),
                    "{}: rule {entry} not stated in {description:?}",
                    t.name
                );
                continue;
            }
            // A channel-table row: when channel is X, extra carries keys, order_no has a length.
            let (channel, code) = cond.iter().next().expect("one condition");
            let code = code["const"].as_str().expect("channel code");
            for (field, rule) in then["properties"].as_object().expect("properties") {
                let keys = strings(&rule["required"]);
                let length = match (rule.get("minLength"), rule.get("maxLength")) {
                    (Some(a), Some(b)) => format!("{a}-{b}"),
                    _ => String::new(),
                };
                let ok = all.iter().any(|c| {
                    mentions(c, code)
                        && c.contains(&length)
                        && keys.iter().all(|k| c.contains(&format!("`{k}`")))
                }) && description.contains(&format!("By `{channel}`, `{field}`"));
                assert!(
                    ok,
                    "{}: channel {code}'s `{field}` rule {rule} not stated in {description:?}",
                    t.name
                );
            }
        }
    }
    assert!(rules >= 60, "only {rules} rules found");
}

/// Numbers are bounded by the spec at any depth: a client cannot send 1e308 or 2^63.
#[test]
fn every_number_argument_has_a_maximum() {
    fn walk(name: &str, at: &str, s: &Value, found: &mut usize) {
        if matches!(s["type"].as_str(), Some("integer" | "number")) {
            assert!(s["maximum"].is_i64(), "{name}: `{at}` has no maximum: {s}");
            *found += 1;
        }
        for (key, child) in s["properties"].as_object().into_iter().flatten() {
            walk(name, &format!("{at}.{key}"), child, found);
        }
        for key in ["items", "additionalProperties"] {
            if s[key].is_object() {
                walk(name, &format!("{at}[]"), &s[key], found);
            }
        }
    }
    let mut found = 0;
    for t in TOOLS {
        walk(t.name, "", &schema(t.validation_schema), &mut found);
    }
    assert!(found >= 20, "only {found} numbers found");
    let charge = validator(lookup("create_charge"));
    let args = |amount: Value| json!({"order_no": "A1", "channel": "alipay", "amount": amount, "subject": "s", "body": "b"});
    assert!(charge.is_valid(&args(json!(10_000_000_000i64))));
    for absurd in [
        json!(1e308),
        json!(9_223_372_036_854_775_808u64),
        json!(10_000_000_001i64),
    ] {
        assert!(!charge.is_valid(&args(absurd.clone())), "{absurd}");
    }
}

/// Arguments the runtime would refuse for depth cannot be declared.
#[test]
fn declared_arguments_fit_within_max_depth() {
    fn depth(s: &Value) -> u8 {
        let children = s["properties"]
            .as_object()
            .into_iter()
            .flat_map(|m| m.values())
            .chain(["items", "additionalProperties"].iter().map(|k| &s[*k]))
            .filter(|c| c.is_object())
            .map(depth)
            .max()
            .unwrap_or(0);
        match s["type"].as_str() {
            Some("object" | "array") => 1 + children,
            _ => 0,
        }
    }
    for t in TOOLS {
        assert_eq!(t.max_depth, 8, "{}: both providers declare 8", t.name);
        let s = schema(t.validation_schema);
        for (name, p) in s["properties"].as_object().expect("properties") {
            assert!(depth(p) <= t.max_depth, "{}.{name}", t.name);
        }
    }
}
