//! Checks between a tool and its `query_tool`, once every tool is known: the query is a read
//! tool, it can be built from the tool's arguments, and the fields the tool names in the query's
//! result (`query_found_field`, `query_found_values`, `query_match`, `follow_up.copy`) exist.
//! The field checks read the tool's spec, so they run even when the tool has other errors.

use super::super::diag::YamlPath;
use super::super::load::Loaded;
use super::super::model::{Effect, FieldShape, Model, Param, Response, Tool};
use super::super::spec::ToolSpec;
use super::references::is_dotted_path;
use super::tool::Seen;
use super::{Ctx, Failed, set};

/// Checks every `query_tool` reference.
pub(super) fn check(
    files: &[Loaded],
    seen: &Seen,
    failed: &Failed,
    model: &Model,
    errors: &mut Vec<super::Diagnostic>,
) {
    let names: Vec<&str> = seen.names.keys().map(String::as_str).collect();
    for r in &seen.query_refs {
        let mut ctx = Ctx {
            src: &files[r.file].source,
            errors,
        };
        let path = r.path.key("query_tool");
        let (tool, target) = (&r.tool, &r.target);
        if target == tool {
            ctx.error(&path, format!("`{tool}` names itself as its query_tool"));
        } else if !seen.names.contains_key(target) {
            // A tool that did not load (or whose name could not be read) is reported already.
            if !failed.tools.contains(target) && !failed.unknown_tools.contains(&r.folder) {
                ctx.unknown(
                    &path,
                    format!("query_tool `{target}` is not a tool"),
                    target,
                    names.iter().copied(),
                );
            }
        } else if let Some(q) = model.tools.get(target) {
            if q.effect != Effect::Read {
                ctx.error(
                    &path,
                    format!("query_tool `{target}` must be a read tool (its effect is not `read`)"),
                );
            } else {
                let spec = files[r.file]
                    .spec
                    .tools
                    .iter()
                    .flatten()
                    .find(|(i, _)| *i == r.index)
                    .map(|(_, t)| t)
                    .expect("a query reference comes from a loaded tool");
                check_query_found(&mut ctx, spec, q, &r.path);
                check_query_match_target(&mut ctx, spec, q, &r.path.key("query_match"));
                check_follow_up(&mut ctx, spec, q, &r.path.key("follow_up").key("copy"));
                // Needs the tool's lowered arguments.
                if let Some(t) = model.tools.get(tool) {
                    check_query_is_buildable(&mut ctx, t, q, &path);
                }
            }
        }
    }
}

/// `query_found_field` is a top-level field of the query tool's result (when that result
/// declares any fields), and `query_found_values` are values of it (when it has an `enum`, or
/// `true`/`false` for a boolean field).
fn check_query_found(ctx: &mut Ctx<'_>, t: &ToolSpec, q: &Tool, path: &YamlPath) {
    let Some(field) = &t.query_found_field else {
        return;
    };
    let Some(fields) = q.result_fields() else {
        return;
    };
    let Some(declared) = fields.get(field.as_str()) else {
        ctx.unknown(
            &path.key("query_found_field"),
            format!(
                "query_found_field `{field}` is not a field of the result of `{}`",
                q.name
            ),
            field,
            fields.keys().copied(),
        );
        return;
    };
    let boolean = declared.is_some_and(|f| {
        matches!(&f.shape, FieldShape::Json(types) if types.iter().all(|t| t == "boolean" || t == "null"))
    });
    let texts: Vec<&str> = match declared.and_then(|f| f.enum_values.as_ref()) {
        // A boolean field is compared as its text.
        None if boolean => vec!["true", "false"],
        None => return,
        Some(allowed) => allowed.iter().filter_map(|v| v.as_str()).collect(),
    };
    for (i, v) in t.query_found_values.iter().flatten().enumerate() {
        if !texts.contains(&v.as_str()) {
            ctx.unknown(
                &path.key("query_found_values").index(i),
                format!(
                    "`{v}` is not a value of `{field}` in the result of `{}`",
                    q.name
                ),
                v,
                texts.iter().copied(),
            );
        }
    }
}

/// `follow_up.copy` takes fields of the query tool's result (when it declares any).
fn check_follow_up(ctx: &mut Ctx<'_>, t: &ToolSpec, q: &Tool, path: &YamlPath) {
    let (Some(f), Some(fields)) = (&t.follow_up, q.result_fields()) else {
        return;
    };
    for (to, from) in f.copy.iter() {
        if !fields.contains_key(from.as_str()) {
            ctx.unknown(
                &path.key(to),
                format!("`{from}` is not a field of the result of `{}`", q.name),
                from,
                fields.keys().copied(),
            );
        }
    }
}

/// `query_match` against the query tool: it lists (`list_of` an object, so it pages), and the
/// path follows the listed object's declared fields as far as they are declared.
fn check_query_match_target(ctx: &mut Ctx<'_>, t: &ToolSpec, q: &Tool, path: &YamlPath) {
    let Some(qm) = t.query_match.as_ref().filter(|qm| is_dotted_path(qm)) else {
        return;
    };
    let Response::ListOf { name, object } = &q.response else {
        let d = ctx.error(
            path,
            format!(
                "query_match needs a list query tool, but `{}` does not return `list_of` objects",
                q.name
            ),
        );
        set(
            d,
            "name a tool with `response: {list_of: …}` and `pagination`, e.g. the list of refunds",
        );
        return;
    };
    let mut current = Some(object);
    let mut what = format!("`{name}`");
    let segments: Vec<&str> = qm.split('.').collect();
    for (i, seg) in segments.iter().enumerate() {
        let Some(o) = current.filter(|o| !o.fields.is_empty()) else {
            return;
        };
        let Some(f) = o.fields.get(*seg) else {
            ctx.unknown(
                path,
                format!("query_match `{qm}`: `{seg}` is not a field of {what}"),
                seg,
                o.fields.keys().map(String::as_str),
            );
            return;
        };
        let last = i + 1 == segments.len();
        current = match &f.shape {
            FieldShape::Object { object, .. } => Some(object),
            FieldShape::Json(types) if last || types.iter().any(|t| t == "object") => None,
            FieldShape::Json(types) => {
                ctx.error(
                    path,
                    format!(
                        "query_match `{qm}`: field `{seg}` of {what} is `{}`, so it has no `{}`",
                        types.join("` or `"),
                        segments[i + 1]
                    ),
                );
                return;
            }
        };
        what = format!("`{seg}`");
    }
}

/// An argument the caller always ends up passing: required, or filled by a default.
fn always_given(p: &Param) -> bool {
    p.required || p.node.default.is_some() || p.default_from.is_some()
}

/// After an unknown outcome the runtime calls the query tool with the arguments whose names the
/// two tools share, so those must satisfy the query tool's input. Alipay tools with a
/// merchant_reference and every tool with a `query_match` (it lists with the tool's own
/// arguments); a Ping++ charge is exempt: it is de-duplicated by `order_no` and queried by an id
/// the caller does not have yet.
fn check_query_is_buildable(ctx: &mut Ctx<'_>, t: &Tool, q: &Tool, path: &YamlPath) {
    let alipay_keyed = t.provider == "alipay" && t.merchant_reference.is_some();
    if !alipay_keyed && t.query_match.is_none() {
        return;
    }
    let own = |n: &str| t.params.iter().find(|p| p.name == n);
    let cannot = |ctx: &mut Ctx<'_>, why: String, help: String| {
        let d = ctx.error(
            path,
            format!(
                "the query `{}` cannot be built from the arguments of `{}`: {why}",
                q.name, t.name
            ),
        );
        d.help = Some(help);
    };
    for qp in &q.params {
        let Some(tp) = own(&qp.name) else {
            if qp.required {
                cannot(
                    ctx,
                    format!("it requires `{}`, which `{}` lacks", qp.name, t.name),
                    format!(
                        "give `{}` a required `{}` argument: the runtime passes the arguments whose names the two tools share",
                        t.name, qp.name
                    ),
                );
            }
            continue;
        };
        if qp.required && !always_given(tp) {
            cannot(
                ctx,
                format!(
                    "it requires `{}`, which is optional in `{}`",
                    qp.name, t.name
                ),
                format!(
                    "make `{}` required (or give it a default) in `{}`",
                    qp.name, t.name
                ),
            );
        }
        if tp.node.ty != qp.node.ty {
            cannot(
                ctx,
                format!(
                    "the shared argument `{}` is `{}` here but `{}` there",
                    qp.name,
                    tp.node.ty.as_str(),
                    qp.node.ty.as_str()
                ),
                "give arguments of the same name the same type".to_owned(),
            );
        } else if let Some(allowed) = &qp.node.enum_values {
            let fits = tp
                .node
                .enum_values
                .as_ref()
                .is_some_and(|mine| mine.iter().all(|v| allowed.contains(v)));
            if !fits {
                cannot(
                    ctx,
                    format!(
                        "the shared argument `{}` may hold values that `{}` does not accept",
                        qp.name, q.name
                    ),
                    format!(
                        "give `{}` an `enum` within the query's: {}",
                        qp.name,
                        allowed
                            .iter()
                            .map(|v| v.as_str().map(str::to_owned).unwrap_or(v.to_string()))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                );
            }
        }
    }
    if !q.require_any.is_empty() {
        let one_always_given = q
            .require_any
            .iter()
            .any(|n| own(n).is_some_and(always_given));
        let shared_group =
            !t.require_any.is_empty() && t.require_any.iter().all(|n| q.require_any.contains(n));
        if !one_always_given && !shared_group {
            cannot(
                ctx,
                format!(
                    "it needs one of {}, and `{}` does not always have one",
                    q.require_any
                        .iter()
                        .map(|n| format!("`{n}`"))
                        .collect::<Vec<_>>()
                        .join(", "),
                    t.name
                ),
                format!(
                    "give `{}` one of them as a required argument, or the same `require_any`",
                    t.name
                ),
            );
        }
    }
}
