//! `aliases:` of a tool: another server's name for it and that server's argument names (the
//! official Alipay MCP server's `create-mobile-alipay-payment` with `outTradeNo`, `totalAmount`,
//! `orderTitle`), checked here so the runtime's mapping is plain data.

use std::collections::BTreeMap;

use super::super::diag::YamlPath;
use super::super::model::{Alias, Param};
use super::super::spec::ToolSpec;
use super::{Ctx, set};

/// The compatibility modes the runtime knows: spec spelling → `Compat` variant.
pub const KNOWN_COMPAT: &[(&str, &str)] = &[("alipay-official", "AlipayOfficial")];

/// Checks one tool's aliases against its parameters; returns them lowered.
pub(super) fn lower_aliases(
    ctx: &mut Ctx<'_>,
    t: &ToolSpec,
    params: &[Param],
    path: &YamlPath,
) -> Vec<Alias> {
    let mut out = Vec::new();
    for (i, a) in t.aliases.iter().enumerate() {
        let apath = path.key("aliases").index(i);
        let before = ctx.count();
        let compat = KNOWN_COMPAT.iter().find(|(k, _)| *k == a.compat);
        if compat.is_none() {
            ctx.unknown(
                &apath.key("compat"),
                format!("unknown compatibility mode `{}`", a.compat),
                &a.compat,
                KNOWN_COMPAT.iter().map(|(k, _)| *k),
            );
        }
        if !super::tool::mcp_name_ok(&a.name) || a.name == t.name {
            let d = ctx.error(
                &apath.key("name"),
                format!(
                    "alias `{}` breaks the MCP name rule or repeats the tool's name",
                    a.name
                ),
            );
            set(
                d,
                "use 1 to 64 characters from A-Z, a-z, 0-9, `_`, `.` and `-`",
            );
        }
        if a.description.trim().is_empty() {
            ctx.error(&apath.key("description"), "`description` must not be empty");
        }
        let mut args = Vec::new();
        let mut targets: BTreeMap<&str, &str> = BTreeMap::new();
        for (theirs, ours) in &a.args.0 {
            let at = apath.key("args").key(theirs);
            if !theirs
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
                || theirs.is_empty()
            {
                ctx.error(
                    &at,
                    format!("alias argument `{theirs}` is not a plain name"),
                );
            }
            if params.iter().all(|p| p.name != *ours) {
                ctx.unknown(
                    &at,
                    format!("`{ours}` is not a parameter of `{}`", t.name),
                    ours,
                    params.iter().map(|p| p.name.as_str()),
                );
            } else if let Some(first) = targets.insert(ours, theirs) {
                ctx.error(
                    &at,
                    format!("`{first}` and `{theirs}` both map to `{ours}`"),
                );
            }
            args.push((theirs.clone(), ours.clone()));
        }
        // A call under the alias must be able to give everything the tool requires.
        for p in params
            .iter()
            .filter(|p| p.required && p.default_from.is_none())
        {
            if !targets.contains_key(p.name.as_str()) {
                ctx.error(
                    &apath.key("args"),
                    format!(
                        "the required parameter `{}` of `{}` has no argument in alias `{}`",
                        p.name, t.name, a.name
                    ),
                );
            }
        }
        if ctx.count() > before {
            continue;
        }
        out.push(Alias {
            name: a.name.clone(),
            compat: compat.map(|(_, v)| (*v).to_owned()).unwrap_or_default(),
            select: a.select.clone(),
            title: a.title.clone().unwrap_or_else(|| t.title.trim().to_owned()),
            description: a.description.trim().to_owned(),
            args,
        });
    }
    out
}

/// Alias names and `select` names are unique across all tools and aliases.
pub(super) fn check_unique(
    tools: &BTreeMap<String, super::super::model::Tool>,
) -> Vec<(String, String)> {
    let mut taken: BTreeMap<&str, &str> = tools.keys().map(|k| (k.as_str(), k.as_str())).collect();
    let mut clashes = Vec::new();
    for t in tools.values() {
        for a in &t.aliases {
            for n in std::iter::once(&a.name).chain(a.select.as_ref()) {
                if let Some(other) = taken.insert(n, &t.name) {
                    clashes.push((
                        t.source.clone(),
                        format!(
                            "alias name `{n}` of `{}` is already a name of `{other}`",
                            t.name
                        ),
                    ));
                }
            }
        }
    }
    clashes
}
