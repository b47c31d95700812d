//! The error catalogues of the spec, read by the runtime's protocol modules: real descriptors,
//! real gateway error bodies.

use zhifu_generated::TOOLS;
use zhifu_runtime::error::Outcome;
use zhifu_runtime::tool::ToolDef;

fn tool(name: &str) -> &'static ToolDef {
    TOOLS.iter().copied().find(|t| t.name == name).expect(name)
}

#[test]
fn ping_errors_take_outcome_and_advice_from_the_catalogue() {
    let body =
        br#"{"error":{"type":"invalid_request_error","message":"No such charge","param":"id"}}"#;
    let e = zhifu_runtime::pingpp::interpret(tool("retrieve_charge"), 404, body).unwrap_err();
    assert!(e.not_found && !e.retry_safe, "{e:?}");
    assert!(e.next_step.contains("`id`"), "{}", e.next_step);
    // A 5xx on a money-moving call: UNKNOWN, query first.
    let e = zhifu_runtime::pingpp::interpret(tool("create_charge"), 500, b"{}").unwrap_err();
    assert_eq!(e.outcome, Some(Outcome::Unknown));
    assert!(e.next_step.contains("retrieve_charge"), "{}", e.next_step);
    // The same on a read: retry, nothing unknown.
    let e = zhifu_runtime::pingpp::interpret(tool("retrieve_charge"), 503, b"{}").unwrap_err();
    assert_eq!(e.outcome, None);
    assert!(e.retry_safe);
    // A signature rejection, in Chinese, names the key and is not retryable.
    let body = r#"{"error":{"type":"invalid_request_error","message":"请求签名错误"}}"#;
    let e =
        zhifu_runtime::pingpp::interpret(tool("create_refund"), 401, body.as_bytes()).unwrap_err();
    assert!(
        !e.retry_safe && e.next_step.contains("PINGPP_PRIVATE_KEY"),
        "{}",
        e.next_step
    );
    for t in TOOLS {
        let e = zhifu_runtime::pingpp::interpret(t, 400, b"{}").unwrap_err();
        assert!(
            !e.next_step.contains('{'),
            "{}: unfilled advice {}",
            t.name,
            e.next_step
        );
    }
}
