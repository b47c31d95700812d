//! What a tool says about its own arguments and result for the runtime's safety features: the
//! merchant reference, amount, payee and counterparty arguments, how an unknown outcome is
//! recovered, and which results are not final. (Checks against the query tool are in
//! `cross_tool`.)

use super::super::diag::YamlPath;
use super::super::model::{Batch, Effect, Field, FollowUp, Response, Ty, effect_name};
use super::super::spec::{Ordered, ToolSpec};
use super::params::{Lookup, Params};
use super::{Ctx, set};

/// Reports `{key} `{name}` is not a parameter of `{tool}`` unless the parameter was declared
/// (and its own error reported); returns the parameter when it lowered.
fn argument<'p>(
    ctx: &mut Ctx<'_>,
    t: &ToolSpec,
    params: &'p Params,
    path: &YamlPath,
    key: &str,
    name: &str,
) -> Option<&'p super::super::model::Param> {
    match params.lookup(name) {
        Lookup::Found(p) => Some(p),
        Lookup::Failed => None,
        Lookup::Missing => {
            ctx.unknown(
                path,
                format!("{key} `{name}` is not a parameter of `{}`", t.name),
                name,
                params.names(),
            );
            None
        }
    }
}

/// `merchant_reference`, `amount_param`, `payee_param`, `counterparty`, `reference_conflict`,
/// `query_match`, `query_found_field` and `query_found_values` against the tool's own
/// arguments, and what its `effect` requires of them.
pub(super) fn check_arguments(ctx: &mut Ctx<'_>, t: &ToolSpec, params: &Params, path: &YamlPath) {
    if let Some(m) = &t.merchant_reference {
        let mp = path.key("merchant_reference");
        if let Some(p) = argument(ctx, t, params, &mp, "merchant_reference", m)
            && (p.node.ty != Ty::String || !p.required)
        {
            ctx.error(
                &mp,
                format!("merchant_reference `{m}` must be a required string parameter"),
            );
        }
    }
    if let Some(a) = &t.amount_param {
        let ap = path.key("amount_param");
        if let Some(p) = argument(ctx, t, params, &ap, "amount_param", a)
            && !matches!(p.node.ty, Ty::AmountFen | Ty::AmountYuan)
        {
            ctx.error(
                &ap,
                format!(
                    "amount_param `{a}` has type `{}`; it must be `amount_fen` or `amount_yuan`",
                    p.node.ty.as_str()
                ),
            );
        }
    }
    check_payee(ctx, t, params, path);
    check_counterparty(ctx, t, params, path);
    if let Some(rc) = &t.reference_conflict {
        let rpath = path.key("reference_conflict");
        if rc.trim().is_empty() {
            ctx.error(&rpath, "`reference_conflict` must not be empty");
        }
        if t.merchant_reference.is_none() {
            let d = ctx.error(
                &rpath,
                format!(
                    "reference_conflict needs a merchant_reference; `{}` names none",
                    t.name
                ),
            );
            set(
                d,
                "name the argument whose reuse with different arguments the gateway rejects, e.g. merchant_reference: out_trade_no",
            );
        }
    }
    if let Some(qm) = &t.query_match {
        check_query_match(ctx, t, qm, params, &path.key("query_match"));
    }
    if t.query_found_field.is_some() && t.query_tool.is_none() {
        let d = ctx.error(
            &path.key("query_found_field"),
            format!(
                "query_found_field needs a query_tool; `{}` names none",
                t.name
            ),
        );
        set(d, "name the read tool whose result holds the field");
    }
    if let Some(values) = &t.query_found_values {
        let vpath = path.key("query_found_values");
        if t.query_found_field.is_none() {
            let d = ctx.error(
                &vpath,
                format!(
                    "query_found_values needs a query_found_field; `{}` names none",
                    t.name
                ),
            );
            set(
                d,
                "name the field of the query tool's result whose value shows the operation happened",
            );
        }
        if values.is_empty() {
            ctx.error(
                &vpath,
                "list at least one value (omit the key: any value shows it)",
            );
        }
        for (i, v) in values.iter().enumerate() {
            if values[..i].contains(v) {
                ctx.error(&vpath.index(i), format!("`{v}` is listed twice"));
            }
        }
    }
    check_effect(ctx, t, path);
}

/// The payee is a string argument of a `moves_money` tool that is always given (one required
/// argument, or several that are exactly the tool's `require_any` group), and the payees come
/// first in `counterparty`, in order.
fn check_payee(ctx: &mut Ctx<'_>, t: &ToolSpec, params: &Params, path: &YamlPath) {
    let Some(pp) = &t.payee_param else { return };
    let ppath = path.key("payee_param");
    let names = pp.names();
    let several = names.len() > 1;
    let mut found = 0;
    for (i, name) in names.iter().enumerate() {
        let npath = if several {
            ppath.index(i)
        } else {
            ppath.clone()
        };
        if names[..i].contains(name) {
            ctx.error(&npath, format!("`{name}` is listed twice"));
            continue;
        }
        let Some(p) = argument(ctx, t, params, &npath, "payee_param", name) else {
            continue;
        };
        found += 1;
        if p.node.ty != Ty::String {
            ctx.error(
                &npath,
                format!(
                    "payee_param `{name}` has type `{}`; it must be `string`",
                    p.node.ty.as_str()
                ),
            );
        } else if !several && !p.required {
            let d = ctx.error(
                &npath,
                format!("payee_param `{name}` must be a required argument"),
            );
            set(
                d,
                "the payee allowlist applies to it: a call without a payee would escape the allowlist",
            );
        }
    }
    if names.is_empty() {
        ctx.error(&ppath, "name at least one payee argument");
    }
    if several {
        let mut group: Vec<&str> = t.require_any.iter().flatten().map(String::as_str).collect();
        let mut listed = names.clone();
        group.sort_unstable();
        listed.sort_unstable();
        if group != listed {
            let d = ctx.error(
                &ppath,
                "several payee arguments must be exactly the tool's `require_any` group",
            );
            set(
                d,
                format!(
                    "add `require_any: [{}]`, so every call names a payee the allowlist can check",
                    names.join(", ")
                ),
            );
        }
    }
    if t.effect != Effect::MovesMoney {
        let d = ctx.error(
            &ppath,
            format!(
                "payee_param goes with `effect: moves_money`; `{}` is `{}`",
                t.name,
                effect_name(t.effect)
            ),
        );
        set(d, "only a call that pays someone has a payee");
    }
    let leading: Vec<&str> = t
        .counterparty
        .iter()
        .flatten()
        .take(names.len())
        .map(String::as_str)
        .collect();
    if found == names.len()
        && t.effect == Effect::MovesMoney
        && t.counterparty.is_some()
        && leading != names
    {
        let which = if several {
            format!(
                "the payees {} must come first in `counterparty`, in that order",
                names
                    .iter()
                    .map(|n| format!("`{n}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        } else {
            format!("the payee `{}` must come first in `counterparty`", names[0])
        };
        let d = ctx.error(&path.key("counterparty"), which);
        set(
            d,
            "the confirmation shows the first counterparty given: the payee",
        );
    }
}

/// `batch`: an array argument of a `moves_money` tool whose items are declared objects, the item
/// key holding each amount (`amount_fen` or `amount_yuan`, the unit of `amount_param` when the
/// tool has one too) and the string item keys naming payees.
pub(super) fn lower_batch(
    ctx: &mut Ctx<'_>,
    t: &ToolSpec,
    params: &Params,
    path: &YamlPath,
) -> Option<Batch> {
    let b = t.batch.as_ref()?;
    let bpath = path.key("batch");
    let before = ctx.count();
    if t.effect != Effect::MovesMoney {
        let d = ctx.error(
            &bpath,
            format!(
                "batch goes with `effect: moves_money`; `{}` is `{}`",
                t.name,
                effect_name(t.effect)
            ),
        );
        set(d, "a batch says how much money a call moves, item by item");
    }
    let p = argument(ctx, t, params, &bpath.key("param"), "batch param", &b.param)?;
    let items = match (&p.node.ty, p.node.items.as_deref()) {
        (Ty::Array, Some(items)) if items.ty == Ty::Object && items.properties.is_some() => {
            items.properties.as_ref().expect("checked")
        }
        _ => {
            let d = ctx.error(
                &bpath.key("param"),
                format!("batch param `{}` must be an `array` whose `items` are an `object` with `properties`", b.param),
            );
            set(
                d,
                "declare the keys of each item, so their amounts and payees can be read",
            );
            return None;
        }
    };
    let keys = || items.keys().map(String::as_str);
    let amount_ty = match items.get(&b.amount) {
        None => {
            ctx.unknown(
                &bpath.key("amount"),
                format!(
                    "batch amount `{}` is not a key of the items of `{}`",
                    b.amount, b.param
                ),
                &b.amount,
                keys(),
            );
            None
        }
        Some((node, _)) if !matches!(node.ty, Ty::AmountFen | Ty::AmountYuan) => {
            ctx.error(
                &bpath.key("amount"),
                format!(
                    "batch amount `{}` has type `{}`; it must be `amount_fen` or `amount_yuan`",
                    b.amount,
                    node.ty.as_str()
                ),
            );
            None
        }
        Some((node, _)) => Some(node.ty),
    };
    if let (Some(ty), Some(a)) = (amount_ty, &t.amount_param)
        && let Lookup::Found(ap) = params.lookup(a)
        && matches!(ap.node.ty, Ty::AmountFen | Ty::AmountYuan)
        && ap.node.ty != ty
    {
        ctx.error(
            &bpath.key("amount"),
            format!(
                "batch amount `{}` is `{}` but amount_param `{a}` is `{}`; the total must be in the items' unit",
                b.amount,
                ty.as_str(),
                ap.node.ty.as_str()
            ),
        );
    }
    for (i, key) in b.payee.iter().enumerate() {
        let kpath = bpath.key("payee").index(i);
        if b.payee[..i].contains(key) {
            ctx.error(&kpath, format!("`{key}` is listed twice"));
            continue;
        }
        match items.get(key) {
            None => ctx.unknown(
                &kpath,
                format!(
                    "batch payee `{key}` is not a key of the items of `{}`",
                    b.param
                ),
                key,
                keys(),
            ),
            Some((node, _)) if node.ty != Ty::String => {
                ctx.error(
                    &kpath,
                    format!(
                        "batch payee `{key}` has type `{}`; it must be `string`",
                        node.ty.as_str()
                    ),
                );
            }
            Some(_) => {}
        }
    }
    (ctx.count() == before).then(|| Batch {
        param: b.param.clone(),
        amount: b.amount.clone(),
        amount_ty: amount_ty.expect("no error"),
        payee: b.payee.clone(),
    })
}

/// `counterparty`: declared by every tool that moves money or cannot be undone (possibly
/// empty), by no read tool, naming arguments once each.
fn check_counterparty(ctx: &mut Ctx<'_>, t: &ToolSpec, params: &Params, path: &YamlPath) {
    let cpath = path.key("counterparty");
    let Some(list) = &t.counterparty else {
        if matches!(t.effect, Effect::MovesMoney | Effect::Irreversible) {
            let d = ctx.error(
                path,
                format!(
                    "`{}` is `{}` but has no `counterparty`",
                    t.name,
                    effect_name(t.effect)
                ),
            );
            set(
                d,
                "list the arguments naming who the money moves to or from (the confirmation shows the first given), or write `counterparty: []`",
            );
        }
        return;
    };
    if t.effect == Effect::Read {
        ctx.error(
            &cpath,
            "a `read` tool asks no confirmation, so it has no `counterparty`",
        );
        return;
    }
    for (i, name) in list.iter().enumerate() {
        let npath = cpath.index(i);
        if list[..i].contains(name) {
            ctx.error(&npath, format!("`{name}` is listed twice"));
            continue;
        }
        argument(ctx, t, params, &npath, "counterparty", name);
    }
}

/// What an effect requires: reads are idempotent, an idempotent write has a key, and money
/// moves only with a key and a way to learn the outcome.
fn check_effect(ctx: &mut Ctx<'_>, t: &ToolSpec, path: &YamlPath) {
    if t.effect == Effect::Read && !t.idempotent {
        let d = ctx.error(
            &path.key("idempotent"),
            "a `read` tool is idempotent; set `idempotent: true`",
        );
        set(d, "use effect `write` if the call changes something");
    }
    if t.effect != Effect::Read && t.idempotent && t.merchant_reference.is_none() {
        let d = ctx.error(
            &path.key("idempotent"),
            format!(
                "`{}` claims to be idempotent but names no merchant_reference",
                t.name
            ),
        );
        set(
            d,
            "name the argument that makes a retry safe, or set `idempotent: false`",
        );
    }
    if t.effect == Effect::MovesMoney && t.query_tool.is_none() {
        let d = ctx.error(
            path,
            format!("`{}` moves money but names no query_tool", t.name),
        );
        set(
            d,
            "name the read tool that tells the outcome after a timeout",
        );
    }
    if t.effect == Effect::MovesMoney && t.merchant_reference.is_none() {
        let d = ctx.error(
            path,
            format!("`{}` moves money but names no merchant_reference", t.name),
        );
        set(
            d,
            "name the required string argument that the caller reuses when retrying; where the gateway has none, add one that it stores (e.g. in metadata) and a query_match to find it again",
        );
    }
}

/// `query_match` on the tool itself: a dotted path, with a `query_tool` and a `merchant_reference`
/// whose `wire` is that path (the gateway stores the reference exactly where the list shows it).
fn check_query_match(ctx: &mut Ctx<'_>, t: &ToolSpec, qm: &str, params: &Params, path: &YamlPath) {
    if !is_dotted_path(qm) {
        ctx.error(
            path,
            format!(
                "query_match `{qm}` must be a dotted path of field names, e.g. `metadata.refund_no`"
            ),
        );
        return;
    }
    if t.query_tool.is_none() {
        let d = ctx.error(
            path,
            format!("query_match needs a query_tool; `{}` names none", t.name),
        );
        set(d, "name the list tool whose items are matched");
    }
    let Some(m) = &t.merchant_reference else {
        let d = ctx.error(
            path,
            format!(
                "query_match needs a merchant_reference; `{}` names none",
                t.name
            ),
        );
        set(
            d,
            "the listed item whose field equals the merchant reference is the earlier operation; name that argument",
        );
        return;
    };
    if let Lookup::Found(p) = params.lookup(m)
        && p.wire != qm
    {
        let d = ctx.error(
            path,
            format!(
                "query_match `{qm}` is not where `{m}` is sent (its wire is `{}`)",
                p.wire
            ),
        );
        set(
            d,
            format!(
                "the gateway stores the reference where it is sent: give `{m}` `wire: {qm}`, or match on `{}`",
                p.wire
            ),
        );
    }
}

pub(super) fn is_dotted_path(s: &str) -> bool {
    s.split('.')
        .all(|w| !w.is_empty() && w.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
}

/// A tool's `pending_when` pairs and its `follow_up`.
pub(super) type ResultConditions = (Vec<(String, String)>, Option<FollowUp>);

/// `pending_when` and `follow_up` against the tool's own result: `(field, value)` conditions on
/// declared string fields (a value within the field's `enum`), and `follow_up` copies into
/// declared fields. `None` where something is wrong (reported).
pub(super) fn lower_result_conditions(
    ctx: &mut Ctx<'_>,
    t: &ToolSpec,
    response: Option<&Response>,
    path: &YamlPath,
) -> Option<ResultConditions> {
    let before = ctx.count();
    let fields = match response {
        Some(Response::Object { object, .. } | Response::Inline(object)) => Some(&object.fields),
        Some(Response::ListOf { .. }) => {
            for (key, present) in [
                ("pending_when", t.pending_when.is_some()),
                ("follow_up", t.follow_up.is_some()),
            ] {
                if present {
                    ctx.error(
                        &path.key(key),
                        format!("`{key}` reads the tool's result fields; a list has none"),
                    );
                }
            }
            return (ctx.count() == before).then_some((Vec::new(), None));
        }
        None => None,
    };
    let pending = t.pending_when.as_ref().map_or_else(Vec::new, |w| {
        conditions(ctx, fields, w, &path.key("pending_when"))
    });
    let follow_up = t.follow_up.as_ref().map(|f| {
        let fpath = path.key("follow_up");
        if t.query_tool.is_none() {
            let d = ctx.error(
                &fpath,
                format!("follow_up queries the query_tool; `{}` names none", t.name),
            );
            set(d, "name the read tool whose result holds the copied fields");
        }
        if f.copy.is_empty() {
            ctx.error(&fpath.key("copy"), "copy at least one field");
        }
        let when = conditions(ctx, fields, &f.when, &fpath.key("when"));
        for (to, _) in f.copy.iter() {
            if let Some(fields) = fields
                && !fields.contains_key(to)
            {
                let d = ctx.error(
                    &fpath.key("copy").key(to),
                    format!("`{to}` is not a field of the result of `{}`", t.name),
                );
                set(
                    d,
                    format!(
                        "declare `{to}` in the response `fields`, so the output schema allows it"
                    ),
                );
            }
        }
        FollowUp {
            when,
            copy: f.copy.iter().map(|(a, b)| (a.clone(), b.clone())).collect(),
        }
    });
    (ctx.count() == before).then_some((pending, follow_up))
}

/// `{field: value}` conditions on a result: each a declared string field, the value within its
/// `enum` when it has one.
fn conditions(
    ctx: &mut Ctx<'_>,
    fields: Option<&std::collections::BTreeMap<String, Field>>,
    when: &Ordered<String>,
    path: &YamlPath,
) -> Vec<(String, String)> {
    if when.is_empty() {
        ctx.error(path, "name at least one result field and its value");
    }
    for (name, value) in when.iter() {
        let Some(fields) = fields else { continue };
        let wpath = path.key(name);
        let Some(f) = fields.get(name) else {
            ctx.unknown(
                &wpath,
                format!("`{name}` is not a field of the tool's result"),
                name,
                fields.keys().map(String::as_str),
            );
            continue;
        };
        if !f.is_string() {
            ctx.error(
                &wpath,
                format!("`{name}` is compared as text, so it must be a `string` field"),
            );
        } else if let Some(allowed) = &f.enum_values
            && !allowed.iter().any(|a| a.as_str() == Some(value))
        {
            let texts: Vec<&str> = allowed.iter().filter_map(|a| a.as_str()).collect();
            ctx.unknown(
                &wpath,
                format!("`{value}` is not a value of `{name}`'s enum"),
                value,
                texts,
            );
        }
    }
    when.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}
