//! Policy: what the operator allows an agent to do, decided before any network call.
//!
//! Rules (each refusal names the rule and the setting that controls it, and does not suggest a way
//! around it): tool allowlist/denylist, read-only mode, live-mode writes, per-call and rolling
//! 24-hour amount limits per provider (the daily one is enforced atomically by the store), and the
//! transfer payee allowlist. Confirmation (asking the user) is decided here and carried out by the
//! MCP layer.

use std::collections::BTreeMap;

use crate::config::ServerConfig;
use crate::error::{ErrorKind, ToolError};
use crate::money::yuan_from_fen;
use crate::tool::{Effect, Provider, ToolDef};

/// When to ask the user before a money-moving or irreversible call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ConfirmMode {
    /// Ask in live mode (real money), not in test mode or the sandbox.
    #[default]
    Auto,
    /// Always ask, also in test mode.
    Always,
    /// Never ask (the operator takes responsibility, e.g. a supervised batch job).
    Never,
}

/// Amount limits of one provider, in fen.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limits {
    pub per_call_fen: Option<i64>,
    pub daily_fen: Option<i64>,
}

/// The operator's policy.
#[derive(Debug, Clone, Default)]
pub struct PolicyConfig {
    /// Tools that are never listed nor callable (`ZHIFU_DENY_TOOLS`).
    pub deny_tools: Vec<String>,
    /// Money-moving calls with live credentials are refused unless this is set (`ZHIFU_ALLOW_LIVE_WRITES=1`).
    pub allow_live_writes: bool,
    pub confirm: ConfirmMode,
    /// If set, transfers may only go to these payee identities (`ZHIFU_TRANSFER_PAYEES`).
    pub transfer_payees: Option<Vec<String>>,
    pub limits: BTreeMap<Provider, Limits>,
}

/// The setting of a provider's limit, for refusal messages (`ZHIFU_ALIPAY_MAX_DAILY_YUAN`).
fn limit_setting(provider: Provider, daily: bool) -> String {
    format!(
        "ZHIFU_{}_MAX_{}_YUAN",
        provider.as_str().to_ascii_uppercase(),
        if daily { "DAILY" } else { "PER_CALL" }
    )
}

/// What the policy says about one call, before the daily counter is consulted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Ask the user before sending.
    pub confirm: bool,
    /// Reserve this amount against the daily limit (fen), when the tool moves money.
    pub reserve_fen: Option<i64>,
}

/// The facts about a call that the policy looks at.
#[derive(Debug, Clone, Copy)]
pub struct CallFacts<'a> {
    pub tool: &'a ToolDef,
    /// Amount this call moves, in fen, when known.
    pub amount_fen: Option<i64>,
    /// Live credentials / production gateway.
    pub live: bool,
    /// Every payee identity the call names (transfers; each item of a batch).
    pub payees: &'a [&'a str],
    /// A batch item that names no payee (`recipients[2]`): refused while the allowlist is set.
    pub unnamed_payee: Option<&'a str>,
}

/// Why a tool is not offered in this configuration, if it is not: the allowlist
/// (`ZHIFU_TOOLS`), the denylist (`ZHIFU_DENY_TOOLS`) or read-only mode (`ZHIFU_READ_ONLY`).
/// Such a tool is neither listed nor callable.
pub fn availability(server: &ServerConfig, tool: &ToolDef) -> Option<ToolError> {
    if let Some(allow) = &server.tools
        && !allow.iter().any(|n| n == tool.name)
    {
        return Some(refusal(
            "tools_allowlist",
            format!("{} is not on the tool allowlist", tool.name),
            "ZHIFU_TOOLS",
        ));
    }
    if server.policy.denies(tool) {
        return Some(refusal(
            "deny_tools",
            format!("{} is on the denylist", tool.name),
            "ZHIFU_DENY_TOOLS",
        ));
    }
    if server.read_only && tool.effect != Effect::Read {
        return Some(refusal(
            "read_only",
            format!(
                "{} changes state ({}) and this server is read-only",
                tool.name,
                tool.effect.as_str()
            ),
            "ZHIFU_READ_ONLY",
        ));
    }
    None
}

/// Refuses an allowlist or denylist that names tools the table does not have (a typo would
/// otherwise silently allow or deny nothing).
pub fn check_tool_names(server: &ServerConfig, tools: &[&ToolDef]) -> Result<(), String> {
    let known = |n: &str| tools.iter().any(|t| t.name == n);
    for (names, setting) in [
        (server.tools.as_deref(), "ZHIFU_TOOLS"),
        (
            Some(server.policy.deny_tools.as_slice()),
            "ZHIFU_DENY_TOOLS",
        ),
    ] {
        let unknown: Vec<&str> = names
            .unwrap_or_default()
            .iter()
            .map(String::as_str)
            .filter(|n| !known(n))
            .collect();
        if !unknown.is_empty() {
            return Err(format!(
                "{setting} names unknown tools: {}; known tools: {}",
                unknown.join(", "),
                tools.iter().map(|t| t.name).collect::<Vec<_>>().join(", ")
            ));
        }
    }
    Ok(())
}

/// A refusal: names the rule and the setting; tells the model to stop, not how to get around it.
pub fn refusal(rule: &'static str, message: String, setting: &str) -> ToolError {
    let mut err = ToolError::new(
        ErrorKind::PolicyRefused,
        format!(
            "refused by policy ({rule}): {message}; this is controlled by {setting}. Nothing was sent"
        ),
        "Tell the user this operation is not allowed by the server's policy and needs the operator. Do not retry it, change it or split it to get past the rule.",
    );
    err.rule = Some(rule);
    err
}

impl PolicyConfig {
    /// Whether a tool is denied outright (listing and calling).
    pub fn denies(&self, tool: &ToolDef) -> bool {
        self.deny_tools.iter().any(|n| n == tool.name)
    }

    /// Decides everything that does not need the store.
    pub fn evaluate(&self, facts: CallFacts<'_>) -> Result<Decision, ToolError> {
        let tool = facts.tool;
        let moves_money = tool.effect == Effect::MovesMoney;
        let risky = matches!(tool.effect, Effect::MovesMoney | Effect::Irreversible);
        if facts.live && moves_money && !self.allow_live_writes {
            return Err(refusal(
                "live_writes",
                format!(
                    "{} moves real money with live credentials, and live writes are not enabled",
                    tool.name
                ),
                "ZHIFU_ALLOW_LIVE_WRITES",
            ));
        }
        let limits = self.limits.get(&tool.provider).copied().unwrap_or_default();
        let mut reserve_fen = None;
        if moves_money {
            let limited = limits.per_call_fen.is_some() || limits.daily_fen.is_some();
            match facts.amount_fen {
                None if limited => {
                    return Err(refusal(
                        "amount_required",
                        format!(
                            "amount limits are set for {} and this call does not state the amount it moves",
                            tool.provider.as_str()
                        ),
                        &limit_setting(tool.provider, limits.per_call_fen.is_none()),
                    ));
                }
                None => {}
                Some(fen) => {
                    if let Some(max) = limits.per_call_fen
                        && fen > max
                    {
                        return Err(refusal(
                            "per_call_limit",
                            format!(
                                "{} exceeds the per-call limit of {} for {}",
                                yuan_from_fen(fen),
                                yuan_from_fen(max),
                                tool.provider.as_str()
                            ),
                            &limit_setting(tool.provider, false),
                        ));
                    }
                    reserve_fen = Some(fen);
                }
            }
            if let Some(allowed) = &self.transfer_payees {
                if let Some(item) = facts.unnamed_payee {
                    return Err(refusal(
                        "transfer_payees",
                        format!(
                            "{item} names no payee, so the transfer payee allowlist cannot check it"
                        ),
                        "ZHIFU_TRANSFER_PAYEES",
                    ));
                }
                if let Some(payee) = facts
                    .payees
                    .iter()
                    .find(|payee| !allowed.iter().any(|p| p == *payee))
                {
                    return Err(refusal(
                        "transfer_payees",
                        format!("the payee {payee} is not on the transfer payee allowlist"),
                        "ZHIFU_TRANSFER_PAYEES",
                    ));
                }
            }
        }
        let confirm = risky
            && match self.confirm {
                ConfirmMode::Always => true,
                ConfirmMode::Never => false,
                ConfirmMode::Auto => facts.live,
            };
        Ok(Decision {
            confirm,
            reserve_fen,
        })
    }

    /// The refusal when the daily counter is full.
    pub fn daily_refusal(&self, provider: Provider, fen: i64, spent: i64, limit: i64) -> ToolError {
        refusal(
            "daily_limit",
            format!(
                "{} would bring the last 24 hours' total for {} to {}, over the daily limit of {} ({} already used)",
                yuan_from_fen(fen),
                provider.as_str(),
                yuan_from_fen(spent + fen),
                yuan_from_fen(limit),
                yuan_from_fen(spent)
            ),
            &limit_setting(provider, true),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tool::{Provider, ToolDef};

    static TRANSFER: ToolDef = ToolDef {
        name: "transfer",
        provider: Provider::Alipay,
        effect: Effect::MovesMoney,
        ..ToolDef::BLANK
    };
    static CLOSE: ToolDef = ToolDef {
        name: "close",
        effect: Effect::Irreversible,
        ..ToolDef::BLANK
    };
    static QUERY: ToolDef = ToolDef {
        name: "query",
        ..ToolDef::BLANK
    };

    fn policy(f: impl FnOnce(&mut PolicyConfig)) -> PolicyConfig {
        let mut p = PolicyConfig::default();
        f(&mut p);
        p
    }

    fn limited(per_call: Option<i64>, daily: Option<i64>) -> PolicyConfig {
        policy(|p| {
            p.limits.insert(
                Provider::Alipay,
                Limits {
                    per_call_fen: per_call,
                    daily_fen: daily,
                },
            );
        })
    }

    /// (case, policy, tool, amount, live, payee) → refused rule, or (confirm, reserve).
    #[test]
    fn evaluate_table() {
        type Want = Result<(bool, Option<i64>), &'static str>;
        type Case<'a> = (
            &'a str,
            PolicyConfig,
            &'a ToolDef,
            Option<i64>,
            bool,
            Option<&'a str>,
            Want,
        );
        let cases: Vec<Case> = vec![
            (
                "a read is always allowed",
                limited(Some(1), Some(1)),
                &QUERY,
                None,
                true,
                None,
                Ok((false, None)),
            ),
            (
                "test mode: no confirmation",
                PolicyConfig::default(),
                &TRANSFER,
                Some(500),
                false,
                None,
                Ok((false, Some(500))),
            ),
            (
                "live money needs the switch",
                PolicyConfig::default(),
                &TRANSFER,
                Some(500),
                true,
                None,
                Err("live_writes"),
            ),
            (
                "live with the switch asks the user",
                policy(|p| p.allow_live_writes = true),
                &TRANSFER,
                Some(500),
                true,
                None,
                Ok((true, Some(500))),
            ),
            (
                "confirm=never never asks",
                policy(|p| {
                    p.allow_live_writes = true;
                    p.confirm = ConfirmMode::Never
                }),
                &TRANSFER,
                Some(1),
                true,
                None,
                Ok((false, Some(1))),
            ),
            (
                "confirm=always asks in test mode",
                policy(|p| p.confirm = ConfirmMode::Always),
                &CLOSE,
                None,
                false,
                None,
                Ok((true, None)),
            ),
            (
                "irreversible is not money: no live switch",
                PolicyConfig::default(),
                &CLOSE,
                None,
                true,
                None,
                Ok((true, None)),
            ),
            (
                "per-call limit: exactly the limit passes",
                limited(Some(500), None),
                &TRANSFER,
                Some(500),
                false,
                None,
                Ok((false, Some(500))),
            ),
            (
                "per-call limit: one fen more",
                limited(Some(500), None),
                &TRANSFER,
                Some(501),
                false,
                None,
                Err("per_call_limit"),
            ),
            (
                "limits need a stated amount",
                limited(None, Some(1000)),
                &TRANSFER,
                None,
                false,
                None,
                Err("amount_required"),
            ),
            (
                "payee on the allowlist",
                policy(|p| p.transfer_payees = Some(vec!["2088".into()])),
                &TRANSFER,
                Some(1),
                false,
                Some("2088"),
                Ok((false, Some(1))),
            ),
            (
                "payee off the allowlist",
                policy(|p| p.transfer_payees = Some(vec!["2088".into()])),
                &TRANSFER,
                Some(1),
                false,
                Some("2099"),
                Err("transfer_payees"),
            ),
        ];
        for (case, policy, tool, amount_fen, live, payee, want) in cases {
            let payees: Vec<&str> = payee.into_iter().collect();
            let got = policy
                .evaluate(CallFacts {
                    tool,
                    amount_fen,
                    live,
                    payees: &payees,
                    unnamed_payee: None,
                })
                .map(|d| (d.confirm, d.reserve_fen))
                .map_err(|e| e.rule.unwrap_or("?"));
            assert_eq!(got, want, "{case}");
        }
    }

    #[test]
    fn availability_and_setting_names() {
        let server = |f: &dyn Fn(&mut ServerConfig)| {
            let mut s = ServerConfig::default();
            f(&mut s);
            s
        };
        assert!(availability(&server(&|_| {}), &TRANSFER).is_none());
        let read_only = server(&|s| s.read_only = true);
        assert_eq!(
            availability(&read_only, &TRANSFER).and_then(|e| e.rule),
            Some("read_only")
        );
        assert!(availability(&read_only, &QUERY).is_none());
        let deny = server(&|s| s.policy.deny_tools = vec!["query".into()]);
        assert_eq!(
            availability(&deny, &QUERY).and_then(|e| e.rule),
            Some("deny_tools")
        );
        let allow = server(&|s| s.tools = Some(vec!["query".into()]));
        assert_eq!(
            availability(&allow, &TRANSFER).and_then(|e| e.rule),
            Some("tools_allowlist")
        );
        let tools: [&ToolDef; 2] = [&TRANSFER, &QUERY];
        let typo = server(&|s| s.tools = Some(vec!["qeury".into()]));
        assert!(
            check_tool_names(&typo, &tools)
                .unwrap_err()
                .contains("qeury")
        );
        assert_eq!(
            limit_setting(Provider::Alipay, true),
            "ZHIFU_ALIPAY_MAX_DAILY_YUAN"
        );
        let refusal = limited(None, Some(100)).daily_refusal(Provider::Alipay, 60, 50, 100);
        assert!(
            refusal.message.contains("ZHIFU_ALIPAY_MAX_DAILY_YUAN"),
            "{}",
            refusal.message
        );
    }
}
