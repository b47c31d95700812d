//! The prompts this server offers, for the workflows users ask a payments server for (the seeds'
//! examples): the daily closing, refunding a returned order, and investigating a failed transfer.
//! Like the tool table they are product data the binary hands to the runtime, which renders them
//! with the tools' listed names (`zhifu_runtime::mcp::prompts`).

use zhifu_runtime::mcp::prompts::PromptDef;

/// Every prompt of the server; each names only tools of the generated table (tested below).
pub const PROMPTS: &[PromptDef] = &[
    PromptDef {
        name: "daily_closing",
        title: "Daily closing",
        description: "Reconcile one finished day (Beijing time): payments in, refunds and transfers out, \
                      totals in yuan, and anything still pending.",
        args: &[(
            "date",
            "The day to close, yyyy-MM-dd (Beijing time); default yesterday.",
            false,
        )],
        tools: &[
            "query_bill_download_url",
            "list_charges",
            "list_refunds",
            "list_transfers",
        ],
        template: "Close the books for <date> (Beijing time, UTC+8). Read only: do not create, refund or cancel anything.\n\
1. Alipay: call {query_bill_download_url} with bill_type `trade` and bill_date <date>; the bill lists every trade and refund of the day with amounts in yuan. If Alipay is not configured, skip this step.\n\
2. Ping++: call {list_charges} with `created` covering <date> from 00:00 to 24:00 Beijing time (Unix seconds), following `next_cursor` until `has_more` is false; amounts are fen (100 = ¥1.00). For charges with `amount_refunded` > 0, call {list_refunds} for that charge. Call {list_transfers} for the same range.\n\
3. Report, in yuan with two decimals: number and total of paid payments, refunds, transfers out, and the net; list anything `pending`, unpaid or failed with its id, so it can be followed up tomorrow. Say which gateway each figure comes from.",
    },
    PromptDef {
        name: "refund_a_return",
        title: "Refund a returned order",
        description: "Refund a returned order once, with a retry key, then confirm the refund landed.",
        args: &[
            (
                "order",
                "The order: your out_trade_no (Alipay) or order_no / charge id ch_... (Ping++).",
                true,
            ),
            (
                "amount",
                "Amount to refund in yuan, e.g. 15.50; default the whole remaining amount.",
                false,
            ),
            (
                "reason",
                "Why the goods came back, shown to the buyer.",
                false,
            ),
        ],
        tools: &[
            "query_trade",
            "refund_trade",
            "query_refund",
            "retrieve_charge",
            "list_charges",
            "create_refund",
            "retrieve_refund",
        ],
        template: "Refund the returned order <order>, amount <amount>, reason: <reason>.\n\
1. Find the payment. Alipay: {query_trade} with out_trade_no <order>; it must be TRADE_SUCCESS, and you can refund at most `total_amount` minus what was refunded before. Ping++: {retrieve_charge} for a ch_ id, or {list_charges} to find the charge whose `order_no` is <order>; it must be `paid` and not fully `refunded`.\n\
2. Tell the user the amount (in yuan) and the order, and ask before refunding.\n\
3. Make up ONE new retry key for this refund and keep it: Alipay {refund_trade} with `out_request_no`, `refund_amount` in yuan as a string (\"15.50\") and `refund_reason`; Ping++ {create_refund} with `refund_no`, `amount` in fen (15.50 yuan = 1550) and `description`.\n\
4. If the result is an error with outcome UNKNOWN or a timeout, do not invent a new key: call the same tool again with the SAME key and arguments (nothing is refunded twice), or check first.\n\
5. Confirm: Alipay {query_refund} with the same out_trade_no and out_request_no until `refund_status` is REFUND_SUCCESS; Ping++ {retrieve_refund} until `status` is `succeeded` (or `failed` with `failure_msg`). Report the refunded amount in yuan and the refund id.",
    },
    PromptDef {
        name: "investigate_failed_transfer",
        title: "Investigate a failed transfer",
        description: "Find out why a payout failed, whether any money left, and what can safely be done next.",
        args: &[(
            "transfer",
            "The transfer: a Ping++ id tr_... or order_no, or an Alipay out_biz_no.",
            true,
        )],
        tools: &[
            "retrieve_transfer",
            "list_transfers",
            "list_events",
            "query_transfer",
        ],
        template: "Investigate the transfer <transfer>. Read only: do not send, cancel or repeat anything while investigating.\n\
1. Ping++: {retrieve_transfer} for a tr_ id, or {list_transfers} to find the one whose `order_no` is <transfer>. Note `status` (pending, scheduled, paid, failed, canceled), `failure_msg`, `amount` (fen: 100 = ¥1.00), `channel` and the recipient. Call {list_events} with type transfer.failed (and transfer.succeeded) around its `created` time to see what the webhook said.\n\
2. Alipay: {query_transfer} with out_biz_no <transfer>: `status` SUCCESS, FAIL (with `fail_reason`) or DEALING (still running: wait, do not resend).\n\
3. Explain in plain words: what failed, whether any money left the account (only `paid` / SUCCESS means it did), and the fix (e.g. a wrong account name or open_id, an unverified payee, an insufficient balance).\n\
4. Only a transfer that is definitely failed may be sent again, with the corrected payee and a NEW order_no / out_biz_no; a pending or unknown one must be checked again first. Ask the user before any new transfer.",
    },
];

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Map, Value};
    use zhifu_runtime::mcp::prompts::render;

    #[test]
    fn every_tool_exists_and_every_placeholder_is_filled() {
        let listed = |t: &str| Some(format!("pingpp_{t}"));
        for p in PROMPTS {
            for tool in p.tools {
                assert!(
                    zhifu_generated::TOOLS.iter().any(|t| t.name == *tool),
                    "{}: {tool} is not a tool",
                    p.name
                );
            }
            let mut args = Map::new();
            for (name, _, _) in p.args {
                args.insert((*name).into(), Value::String(format!("X-{name}")));
            }
            let text = serde_json::to_string(&render(p, &args, &listed).unwrap().messages).unwrap();
            for tool in p.tools {
                assert!(
                    text.contains(&format!("`pingpp_{tool}`")),
                    "{}: {tool}",
                    p.name
                );
                assert!(!text.contains(&format!("{{{tool}}}")), "{}: {tool}", p.name);
            }
            for (name, _, _) in p.args {
                assert!(text.contains(&format!("X-{name}")), "{}: {name}", p.name);
                assert!(!text.contains(&format!("<{name}>")), "{}: {name}", p.name);
            }
        }
    }
}
