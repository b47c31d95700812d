//! What a client sees of the server, through the built binary over stdio: the size of the tool
//! list, results as a text line plus `structuredContent`, provider prefixes in tool names, the
//! official Alipay MCP server's names and argument shapes (`ZHIFU_COMPAT=alipay-official`), the
//! prompts and the tool-reference resource.

mod common;

use common::{Harness, error_of, obj, texts, unique};
use rmcp::model::{GetPromptRequestParams, ReadResourceRequestParams, ResourceContents};
use serde_json::{Value, json};

/// The budget of `tools/list` with both providers configured, in bytes of compact JSON (measured
/// 127.8 KB after the cut, 175 KB before; docs/PERFORMANCE.md, "Tool list size"), and of the part
/// a model reads (name, description, input schema; 81.8 KB after, 89.5 KB before). The headroom is
/// for tools still to come; a new tool that needs more should earn it.
const LIST_BUDGET: usize = 150_000;
const MODEL_VISIBLE_BUDGET: usize = 95_000;
/// No single tool may take more than this.
const TOOL_BUDGET: usize = 8_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tool_list_stays_within_its_budget() {
    let h = Harness::start(&[]).await;
    let tools = h.tools().await;
    let whole = serde_json::to_string(&json!({ "tools": tools })).unwrap();
    let model_visible: usize = tools
        .iter()
        .map(|t| {
            serde_json::to_string(&json!([t.name, t.description, t.input_schema]))
                .unwrap()
                .len()
        })
        .sum();
    eprintln!(
        "tools/list: {} tools, {} bytes; model-visible {} bytes",
        tools.len(),
        whole.len(),
        model_visible
    );
    assert!(
        whole.len() <= LIST_BUDGET,
        "tools/list is {} bytes",
        whole.len()
    );
    assert!(
        model_visible <= MODEL_VISIBLE_BUDGET,
        "name + description + inputSchema is {model_visible} bytes"
    );
    for t in &tools {
        let size = serde_json::to_string(t).unwrap().len();
        assert!(size <= TOOL_BUDGET, "{} is {size} bytes", t.name);
        // What the cut removed, and what it kept.
        assert!(t.input_schema.get("$schema").is_none(), "{}", t.name);
        let output = serde_json::to_string(t.output_schema.as_ref().unwrap()).unwrap();
        assert!(
            !output.contains("\"description\":\""),
            "{}: {output}",
            t.name
        );
        assert!(
            t.annotations.as_ref().unwrap().title.is_none(),
            "{}",
            t.name
        );
        assert!(t.title.is_some(), "{}", t.name);
    }
    // Units and retry keys are still in what the model reads.
    let charge = tools.iter().find(|t| t.name == "create_charge").unwrap();
    let text = charge.description.as_deref().unwrap();
    assert!(text.contains("fen") && text.contains("order_no"), "{text}");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn results_are_a_text_line_and_structured_content() {
    let h = Harness::start(&[]).await;
    let order_no = unique("S");
    let result = h
        .call("create_charge", common::charge_args(&order_no, 1550))
        .await;
    let structured = result
        .structured_content
        .clone()
        .expect("structuredContent");
    assert_eq!(structured["order_no"], order_no.as_str());
    let lines = texts(&result);
    assert_eq!(
        lines.len(),
        1,
        "one text block, not the JSON again: {lines:?}"
    );
    assert!(
        lines[0].contains("¥15.50 (1550 fen)") && !lines[0].contains('{'),
        "{}",
        lines[0]
    );
    // A list: one line per item with its summary fields.
    let result = h.call("list_charges", json!({"limit": 2})).await;
    let text = texts(&result)[0].to_string();
    let items = result.structured_content.unwrap()["data"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(text.lines().count(), 1 + items, "{text}");
    assert!(
        text.lines().nth(1).unwrap().starts_with("- id ch_"),
        "{text}"
    );
    // A payment link's text carries the link itself.
    let link = h
        .call(
            "create_wap_payment_url",
            json!({"out_trade_no": unique("W"), "total_amount": "1.00", "subject": "Tea"}),
        )
        .await;
    assert!(
        texts(&link)[0].contains("gateway.do?"),
        "{:?}",
        texts(&link)
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_prefixes_name_every_tool() {
    let h = Harness::start(&[("ZHIFU_TOOL_PREFIX", "provider")]).await;
    let tools = h.tools().await;
    assert!(tools.iter().any(|t| t.name == "pingpp_create_charge"));
    assert!(tools.iter().any(|t| t.name == "alipay_query_trade"));
    for t in &tools {
        assert!(
            t.name.starts_with("pingpp_") || t.name.starts_with("alipay_"),
            "{}",
            t.name
        );
    }
    let charge = h
        .ok(
            "pingpp_create_charge",
            common::charge_args(&unique("P"), 100),
        )
        .await;
    assert_eq!(charge["amount"], 100);
    // The prompts name the tools as they are listed.
    let prompt = h
        .client
        .get_prompt(
            GetPromptRequestParams::new("investigate_failed_transfer")
                .with_arguments(obj(json!({"transfer": "tr_123"}))),
        )
        .await
        .expect("prompts/get");
    let text = serde_json::to_string(&prompt.messages).unwrap();
    assert!(text.contains("`pingpp_retrieve_transfer`"), "{text}");
    assert!(text.contains("tr_123"), "{text}");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_alipay_server_s_tools_in_compat_mode() {
    let h = Harness::start(&[("ZHIFU_COMPAT", "alipay-official")]).await;
    let mut names: Vec<String> = h.tools().await.iter().map(|t| t.name.to_string()).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "create-mobile-alipay-payment",
            "create-web-page-alipay-payment",
            "query-alipay-payment",
            "query-alipay-refund",
            "refund-alipay-payment",
        ]
    );
    // The official argument shapes: camelCase, `totalAmount` a JSON number of yuan.
    let no = unique("C");
    let link = h
        .ok(
            "create-web-page-alipay-payment",
            json!({"outTradeNo": no, "totalAmount": 15.5, "orderTitle": "Two lattes"}),
        )
        .await;
    let url = link["url"].as_str().unwrap();
    assert!(url.contains("alipay.trade.page.pay"), "{url}");
    let mobile = h
        .ok(
            "create-mobile-alipay-payment",
            json!({"outTradeNo": unique("M"), "totalAmount": 3, "orderTitle": "Tea"}),
        )
        .await;
    assert!(
        mobile["url"]
            .as_str()
            .unwrap()
            .contains("alipay.trade.wap.pay")
    );
    // The buyer opens the link and pays (the sandbox's cashier).
    reqwest::get(url)
        .await
        .expect("open the link")
        .error_for_status()
        .unwrap();
    h.sandbox_post(&format!("/_sandbox/alipay/trades/{no}/pay"), json!({}))
        .await;
    let trade = h
        .ok("query-alipay-payment", json!({"outTradeNo": no}))
        .await;
    assert_eq!(trade["trade_status"], "TRADE_SUCCESS", "{trade}");
    assert_eq!(trade["total_amount"], "15.50", "{trade}");
    let request_no = unique("R");
    let refund = h
        .ok(
            "refund-alipay-payment",
            json!({"outTradeNo": no, "refundAmount": 5, "outRequestNo": request_no, "refundReason": "returned"}),
        )
        .await;
    assert_eq!(refund["refund_fee"], "5.00", "{refund}");
    let queried = h
        .ok(
            "query-alipay-refund",
            json!({"outTradeNo": no, "outRequestNo": request_no}),
        )
        .await;
    assert_eq!(queried["refund_status"], "REFUND_SUCCESS", "{queried}");
    // An amount that is not fen-exact is refused under the caller's argument name.
    let err = error_of(
        &h.call(
            "refund-alipay-payment",
            json!({"outTradeNo": no, "refundAmount": 1.005, "outRequestNo": unique("R")}),
        )
        .await,
    );
    assert_eq!(err["field"], "refundAmount", "{err}");
    // Only the official server's tools answer in this mode.
    let unlisted = h
        .client
        .call_tool(
            rmcp::model::CallToolRequestParams::new("query_trade")
                .with_arguments(obj(json!({"out_trade_no": no}))),
        )
        .await;
    assert!(unlisted.is_err(), "{unlisted:?}");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_names_are_accepted_without_compat_mode_and_prompts_and_reference_are_offered() {
    let h = Harness::start(&[]).await;
    let link = h
        .ok(
            "create-mobile-alipay-payment",
            json!({"outTradeNo": unique("A"), "totalAmount": "0.01", "orderTitle": "Gum"}),
        )
        .await;
    assert!(link["url"].as_str().unwrap().contains("0.01"));

    let prompts = h.client.list_all_prompts().await.expect("prompts/list");
    let mut names: Vec<&str> = prompts.iter().map(|p| p.name.as_str()).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "daily_closing",
            "investigate_failed_transfer",
            "refund_a_return"
        ]
    );
    let refund = h
        .client
        .get_prompt(
            GetPromptRequestParams::new("refund_a_return")
                .with_arguments(obj(json!({"order": "T2026001", "amount": "15.50"}))),
        )
        .await
        .expect("prompts/get");
    let text = serde_json::to_string(&refund.messages).unwrap();
    for tool in [
        "`query_trade`",
        "`refund_trade`",
        "`query_refund`",
        "`create_refund`",
    ] {
        assert!(text.contains(tool), "{tool}: {text}");
    }
    assert!(
        text.contains("T2026001") && text.contains("15.50"),
        "{text}"
    );
    let missing = h
        .client
        .get_prompt(GetPromptRequestParams::new("refund_a_return"))
        .await;
    assert!(
        missing.is_err(),
        "a required argument is missing: {missing:?}"
    );

    let resources = h.client.list_all_resources().await.expect("resources/list");
    let reference = resources
        .iter()
        .find(|r| r.uri == "zhifu://docs/tools")
        .expect("the tool reference is listed");
    assert_eq!(reference.mime_type.as_deref(), Some("text/markdown"));
    let read = h
        .client
        .read_resource(ReadResourceRequestParams::new("zhifu://docs/tools"))
        .await
        .expect("resources/read");
    let ResourceContents::TextResourceContents { text, .. } = &read.contents[0] else {
        panic!("text contents")
    };
    assert!(text.contains("create_charge") && text.contains("refund_trade"));
    assert_eq!(
        Value::from(text.len() as u64),
        json!(reference.size.unwrap())
    );
    // An unknown URI (a bill CSV long gone, or a typo): resource-not-found naming the URI in `data`
    // (SEP-2164; rmcp sends -32002 to this pre-2026-07-28 client and -32602 to newer ones).
    for uri in ["zhifu://docs/nothing", "zhifu://bills/none.csv"] {
        let missing = h
            .client
            .read_resource(ReadResourceRequestParams::new(uri))
            .await;
        let Err(rmcp::ServiceError::McpError(e)) = missing else {
            panic!("{uri}: expected an MCP error, got {missing:?}")
        };
        assert_eq!(e.code.0, -32002, "{uri}: {e:?}");
        assert_eq!(e.data, Some(json!({ "uri": uri })), "{uri}");
    }
    h.stop().await;
}
