//! Relations between a tool's arguments: conditional `rules`, `require_any`, runtime `checks`
//! and the provider's channel table applied through `channel_rules`.

use std::collections::BTreeSet;

use super::super::diag::YamlPath;
use super::super::model::{ChannelRules, Check, Condition, Node, Operation, Provider, Rule, Ty};
use super::super::spec::{ChannelRulesSpec, CheckSpec, ToolSpec};
use super::params::{Lookup, Params};
use super::{Ctx, set};

pub(super) fn lower_rules(
    ctx: &mut Ctx<'_>,
    t: &ToolSpec,
    params: &Params,
    path: &YamlPath,
) -> Vec<Rule> {
    let mut out = Vec::new();
    for (i, r) in t.rules.iter().enumerate() {
        let rpath = path.key("rules").index(i);
        let before = ctx.errors.len();
        if r.when.is_empty() {
            ctx.error(
                &rpath.key("when"),
                "`when` must name at least one parameter",
            );
        }
        let mut when = Vec::new();
        for (name, values) in &r.when {
            let wpath = rpath.key("when").key(name);
            let Some(p) = params.find(ctx, &wpath, "rule condition", name) else {
                continue;
            };
            let Some(allowed) = &p.node.enum_values else {
                let d = ctx.error(
                    &wpath,
                    format!("rule condition `{name}` must be a parameter with an `enum`"),
                );
                set(
                    d,
                    "rules compare an argument with listed values; give it `enum:`",
                );
                continue;
            };
            let values = values.values();
            if values.is_empty() {
                ctx.error(&wpath, "list at least one value");
            }
            for v in &values {
                if !allowed.contains(v) {
                    let text = v.as_str().map(str::to_owned).unwrap_or(v.to_string());
                    let cands: Vec<String> = allowed
                        .iter()
                        .map(|a| a.as_str().map(str::to_owned).unwrap_or(a.to_string()))
                        .collect();
                    ctx.unknown(
                        &wpath,
                        format!("`{text}` is not a value of `{name}`'s enum"),
                        &text,
                        cands.iter().map(String::as_str),
                    );
                }
            }
            let default_matches = p.node.default.as_ref().is_some_and(|d| values.contains(d));
            when.push(Condition {
                param: name.clone(),
                values,
                default_matches,
            });
        }
        if r.require.is_empty() {
            ctx.error(
                &rpath.key("require"),
                "`require` must name at least one parameter",
            );
        }
        for (k, name) in r.require.iter().enumerate() {
            let qpath = rpath.key("require").index(k);
            match params.find(ctx, &qpath, "required parameter", name) {
                None => {}
                Some(p) if p.required => {
                    let d = ctx.error(
                        &qpath,
                        format!("`{name}` is always required; the rule adds nothing"),
                    );
                    set(d, "drop it from `require`, or drop its `required: true`");
                }
                Some(_) if r.when.contains_key(name) => {
                    ctx.error(
                        &qpath,
                        format!("`{name}` is both the condition and the requirement"),
                    );
                }
                Some(_) => {}
            }
        }
        if ctx.errors.len() == before {
            out.push(Rule {
                when,
                require: r.require.clone(),
            });
        }
    }
    out
}

pub(super) fn lower_require_any(
    ctx: &mut Ctx<'_>,
    t: &ToolSpec,
    params: &Params,
    path: &YamlPath,
) -> Vec<String> {
    let Some(names) = &t.require_any else {
        return Vec::new();
    };
    let apath = path.key("require_any");
    if names.len() < 2 {
        let d = ctx.error(&apath, "`require_any` must list at least two parameters");
        set(d, "for a single parameter, use `required: true` on it");
    }
    let mut seen = BTreeSet::new();
    for (k, name) in names.iter().enumerate() {
        let npath = apath.index(k);
        if !seen.insert(name) {
            ctx.error(&npath, format!("`{name}` is listed twice"));
            continue;
        }
        match params.find(ctx, &npath, "require_any entry", name) {
            None => {}
            Some(p) if p.required => {
                let d = ctx.error(
                    &npath,
                    format!("`{name}` is always required, so `require_any` always holds"),
                );
                set(
                    d,
                    "drop its `required: true`: one of the listed arguments is enough",
                );
            }
            Some(p) if p.default_from.is_some() || p.node.default.is_some() => {
                ctx.error(
                    &npath,
                    format!("`{name}` has a default, so `require_any` always holds"),
                );
            }
            Some(_) => {}
        }
    }
    names.clone()
}

pub(super) fn lower_checks(
    ctx: &mut Ctx<'_>,
    t: &ToolSpec,
    operation: Option<&Operation>,
    params: &Params,
    path: &YamlPath,
) -> Vec<Check> {
    let mut out = Vec::new();
    for (i, c) in t.checks.iter().enumerate() {
        let cpath = path.key("checks").index(i);
        if t.checks[..i].contains(c) {
            ctx.error(&cpath, "this check is listed twice");
            continue;
        }
        match c {
            CheckSpec::PastDate(name) => {
                let ppath = cpath.key("past_date");
                match params.find(ctx, &ppath, "past_date", name) {
                    None => {}
                    Some(p) if p.node.ty != Ty::String => {
                        ctx.error(
                            &ppath,
                            format!(
                                "past_date `{name}` has type `{}`; it must be a `string` (yyyy-MM-dd or yyyy-MM)",
                                p.node.ty.as_str()
                            ),
                        );
                    }
                    Some(p) if p.node.pattern.is_none() => {
                        let d = ctx.error(
                            &ppath,
                            format!("past_date `{name}` needs a `pattern` for its date format"),
                        );
                        set(
                            d,
                            "e.g. pattern: \"^[0-9]{4}-(0[1-9]|1[0-2])(-(0[1-9]|[12][0-9]|3[01]))?$\"",
                        );
                    }
                    Some(_) => out.push(Check::PastDate {
                        param: name.clone(),
                    }),
                }
            }
            CheckSpec::CertModeInProduction => {
                // Only the Alipay gateway has a certificate mode; `gateway:` exists only there.
                if matches!(operation, Some(Operation::Gateway { .. })) {
                    out.push(Check::CertModeInProduction);
                } else if operation.is_some() {
                    let d = ctx.error(
                        &cpath,
                        "`cert_mode_in_production` applies only to Alipay `gateway:` tools",
                    );
                    set(
                        d,
                        "it is the production gateway's public-key certificate mode; `past_date` works for every provider",
                    );
                }
            }
        }
    }
    out
}

pub(super) fn check_channel_rules(
    ctx: &mut Ctx<'_>,
    provider: &Provider,
    cr: &ChannelRulesSpec,
    params: &Params,
    path: &YamlPath,
) -> Option<(Vec<String>, ChannelRules)> {
    if provider.channels.is_empty() {
        ctx.error(
            path,
            format!(
                "`channel_rules` needs a `channels` table in provider `{}`",
                provider.name
            ),
        );
        return None;
    }
    let mut prefix: Option<Vec<String>> = None;
    let mut leaves = Vec::new();
    let mut ok = true;
    for (key, target, want) in [
        ("channel", &cr.channel, Ty::String),
        ("extra", &cr.extra, Ty::Object),
        ("order_no", &cr.order_no, Ty::String),
    ] {
        let segs: Vec<String> = target.split('.').map(str::to_owned).collect();
        let (leaf, parent) = segs.split_last().expect("split yields one item");
        match resolve(params, &segs) {
            None if matches!(params.lookup(&segs[0]), Lookup::Failed) => ok = false,
            None => {
                ctx.unknown(
                    &path.key(key),
                    format!("channel_rules.{key} `{target}` is not a parameter"),
                    target,
                    params.names(),
                );
                ok = false;
            }
            Some(n) if n.ty != want => {
                ctx.error(
                    &path.key(key),
                    format!(
                        "channel_rules.{key} `{target}` has type `{}`; it must be `{}`",
                        n.ty.as_str(),
                        want.as_str()
                    ),
                );
                ok = false;
            }
            Some(_) => {}
        }
        match &prefix {
            None => prefix = Some(parent.to_vec()),
            Some(p) if p != parent => {
                ctx.error(
                    &path.key(key),
                    "channel, extra and order_no must be siblings (same parent object)",
                );
                ok = false;
            }
            Some(_) => {}
        }
        leaves.push(leaf.clone());
    }
    let rules = ChannelRules {
        channel: leaves[0].clone(),
        extra: leaves[1].clone(),
        order_no: leaves[2].clone(),
        table: provider.channels.clone(),
    };
    ok.then(|| (prefix.unwrap_or_default(), rules))
}

/// Follows a dotted argument path (`charge.channel`) through object properties.
fn resolve<'a>(params: &'a Params, segs: &[String]) -> Option<&'a Node> {
    let (first, rest) = segs.split_first()?;
    let Lookup::Found(p) = params.lookup(first) else {
        return None;
    };
    let mut node = &p.node;
    for s in rest {
        node = &node.properties.as_ref()?.get(s)?.0;
    }
    Some(node)
}
