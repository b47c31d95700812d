//! Tools, one at a time: the name rules across all tools, then each tool's operation, parameters,
//! references, rules and checks, channel rules and response, lowered into `model::Tool`.

use std::collections::{BTreeMap, BTreeSet};

use super::super::diag::YamlPath;
use super::super::load::{self, Loaded, folder_of};
use super::super::model::{Model, Provider, Tool, camel};
use super::super::spec::ToolSpec;
use super::params::{Params, lower_params};
use super::{Ctx, Failed, objects, operation, pagination, references, rules, set};

/// A `query_tool` reference, checked once every tool is known.
pub(super) struct QueryRef {
    /// Index of the file in the loaded files.
    pub file: usize,
    /// Index of the tool in its file.
    pub index: usize,
    pub tool: String,
    pub path: YamlPath,
    pub target: String,
    pub folder: String,
}

/// The tools accepted by name, and the references to check once all are known.
#[derive(Default)]
pub(super) struct Seen {
    /// Tool name → file and location of its name.
    pub names: BTreeMap<String, (String, Option<(usize, usize)>)>,
    /// Tool names by spec folder.
    pub by_folder: BTreeMap<String, BTreeSet<String>>,
    pub query_refs: Vec<QueryRef>,
}

/// Lowers every tool of every file into `model.tools`.
pub(super) fn lower_tools(
    files: &[Loaded],
    folders: &BTreeMap<String, String>,
    errors: &mut Vec<super::Diagnostic>,
    failed: &mut Failed,
    model: &mut Model,
) -> Seen {
    let mut seen = Seen::default();
    let mut modules: BTreeMap<String, String> = BTreeMap::new();
    for (file, l) in files.iter().enumerate() {
        let (src, spec) = (&l.source, &l.spec);
        let Some(tools) = &spec.tools else { continue };
        let folder = folder_of(&src.path);
        let mut ctx = Ctx { src, errors };
        let Some(provider) = folders.get(&folder).and_then(|n| model.providers.get(n)) else {
            if !failed.providers.contains(&folder) {
                ctx.error(
                    &YamlPath::root().key("tools"),
                    format!("no `provider` block in `{folder}`; tools need one in the same folder"),
                );
                failed.providers.insert(folder.clone());
            }
            failed
                .tools
                .extend(tools.iter().map(|(_, t)| t.name.clone()));
            continue;
        };
        for (i, t) in tools {
            let path = YamlPath::root().key("tools").index(*i);
            let Some(module) = check_name(&mut ctx, &seen, &modules, t, &path) else {
                failed.tools.insert(t.name.clone());
                continue;
            };
            let name_path = path.key("name");
            seen.names.insert(
                t.name.clone(),
                (src.path.clone(), load::locate(&src.text, &name_path)),
            );
            seen.by_folder
                .entry(folder.clone())
                .or_default()
                .insert(t.name.clone());
            modules.insert(module.clone(), t.name.clone());
            if let Some(q) = &t.query_tool {
                seen.query_refs.push(QueryRef {
                    file,
                    index: *i,
                    tool: t.name.clone(),
                    path: path.clone(),
                    target: q.clone(),
                    folder: folder.clone(),
                });
            }
            let scope = Scope {
                provider,
                failed,
                folder: &folder,
            };
            match lower_tool(&mut ctx, &scope, t, &path, module) {
                Some(tool) => {
                    model.tools.insert(tool.name.clone(), tool);
                }
                None => {
                    failed.tools.insert(t.name.clone());
                }
            }
        }
    }
    seen
}

/// The MCP name rule, a letter first, and no clash with another tool's name or Rust module;
/// returns the module name.
fn check_name(
    ctx: &mut Ctx<'_>,
    seen: &Seen,
    modules: &BTreeMap<String, String>,
    t: &ToolSpec,
    path: &YamlPath,
) -> Option<String> {
    let name_path = path.key("name");
    if !mcp_name_ok(&t.name) {
        let d = ctx.error(
            &name_path,
            format!("tool name `{}` breaks the MCP name rule", t.name),
        );
        set(
            d,
            "use 1 to 64 characters from A-Z, a-z, 0-9, `_`, `.` and `-`",
        );
        return None;
    }
    let module = t.name.replace(['.', '-'], "_").to_ascii_lowercase();
    if !module.starts_with(|c: char| c.is_ascii_lowercase()) {
        let d = ctx.error(
            &name_path,
            format!("tool name `{}` must start with a letter", t.name),
        );
        set(d, "the name also names a Rust module and a file");
        return None;
    }
    if let Some((first_file, first_loc)) = seen.names.get(&t.name) {
        let at = match first_loc {
            Some((l, c)) => format!("{first_file}:{l}:{c}"),
            None => first_file.clone(),
        };
        ctx.error(&name_path, format!("duplicate tool name `{}`", t.name))
            .note = Some(format!("first defined at {at}"));
        return None;
    }
    if let Some(other) = modules.get(&module) {
        ctx.error(
            &name_path,
            format!(
                "tool name `{}` and `{other}` both map to the Rust module `{module}`",
                t.name
            ),
        );
        return None;
    }
    Some(module)
}

pub(super) fn mcp_name_ok(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

/// What a tool is lowered against: its provider, and what failed before in its folder.
struct Scope<'a> {
    provider: &'a Provider,
    failed: &'a Failed,
    folder: &'a str,
}

/// Lowers one tool; `None` when it has an error (every error found is reported).
fn lower_tool(
    ctx: &mut Ctx<'_>,
    scope: &Scope<'_>,
    t: &ToolSpec,
    path: &YamlPath,
    module: String,
) -> Option<Tool> {
    let (provider, failed, folder) = (scope.provider, scope.failed, scope.folder);
    let object_failed = |name: &str| failed.object(folder, name);
    let before = ctx.count();
    for (key, value) in [("title", &t.title), ("description", &t.description)] {
        if value.trim().is_empty() {
            ctx.error(&path.key(key), format!("`{key}` must not be empty"));
        }
    }
    let operation = operation::lower_operation(ctx, provider, failed, folder, t, path);
    let mut params = lower_params(ctx, provider, t, path, operation.as_ref());
    operation::check_path_params(ctx, t, operation.as_ref(), &params, path);
    add_pagination_params(ctx, t, &mut params, path);
    references::check_arguments(ctx, t, &params, path);
    let batch = references::lower_batch(ctx, t, &params, path);
    let rules = rules::lower_rules(ctx, t, &params, path);
    let require_any = rules::lower_require_any(ctx, t, &params, path);
    let checks = rules::lower_checks(ctx, t, operation.as_ref(), &params, path);
    let channel_rules = channel_rules(ctx, provider, t, &mut params, path);
    let aliases = super::aliases::lower_aliases(ctx, t, &params.list, path);
    let response = objects::lower_response(ctx, provider, object_failed, t, path);
    let conditions = references::lower_result_conditions(ctx, t, response.as_ref(), path);
    if ctx.count() > before || !params.failed.is_empty() {
        return None;
    }
    let (pending_when, follow_up) = conditions?;
    let response = response?;
    let (summary, upstream_ids) = match &response {
        super::super::model::Response::Object { object, .. }
        | super::super::model::Response::Inline(object) => {
            (object.summary.clone(), object.ids.clone())
        }
        // A list's text shows each item's summary fields; a list identifies no single call.
        super::super::model::Response::ListOf { object, .. } => {
            (object.summary.clone(), Vec::new())
        }
    };
    Some(Tool {
        name: t.name.clone(),
        camel: camel(&module),
        module,
        source: ctx.src.path.clone(),
        provider: provider.name.clone(),
        title: t.title.trim().to_owned(),
        description: t.description.trim().to_owned(),
        effect: t.effect,
        idempotent: t.idempotent,
        operation: operation?,
        params: params.list,
        pagination: t.pagination,
        merchant_reference: t.merchant_reference.clone(),
        amount_param: t.amount_param.clone(),
        query_tool: t.query_tool.clone(),
        max_depth: provider.max_depth,
        payee_params: t
            .payee_param
            .as_ref()
            .map(|p| p.names().into_iter().map(str::to_owned).collect())
            .unwrap_or_default(),
        batch,
        reference_conflict: t.reference_conflict.clone(),
        query_found_field: t.query_found_field.clone(),
        query_found_values: t.query_found_values.clone().unwrap_or_default(),
        query_match: t.query_match.clone(),
        pending_when,
        follow_up,
        counterparty: t.counterparty.clone().unwrap_or_default(),
        summary,
        upstream_ids,
        channel_rules,
        rules,
        require_any,
        checks,
        response,
        aliases,
    })
}

/// Appends the parameters `pagination` adds; a declared parameter of the same name is an error.
fn add_pagination_params(ctx: &mut Ctx<'_>, t: &ToolSpec, params: &mut Params, path: &YamlPath) {
    let added = pagination::pagination_params(t.pagination);
    for pg in &added {
        if let Some(j) = t.params.iter().position(|p| p.name == pg.name) {
            ctx.error(
                &path.key("params").index(j).key("name"),
                format!(
                    "parameter `{}` is added by `pagination: {}`; remove it here",
                    pg.name,
                    super::super::model::pagination_name(t.pagination)
                ),
            );
        }
    }
    params.list.extend(added);
}

/// `channel_rules`: on the tool, or (for dotted argument paths) on the enclosing object argument.
fn channel_rules(
    ctx: &mut Ctx<'_>,
    provider: &Provider,
    t: &ToolSpec,
    params: &mut Params,
    path: &YamlPath,
) -> Option<super::super::model::ChannelRules> {
    let cr = t.channel_rules.as_ref()?;
    let (prefix, rules) =
        rules::check_channel_rules(ctx, provider, cr, params, &path.key("channel_rules"))?;
    let Some((first, rest)) = prefix.split_first() else {
        return Some(rules);
    };
    // Nested (`charge.channel`): the rules live on the enclosing object.
    if let Some(p) = params.list.iter_mut().find(|p| p.name == *first) {
        let mut node = &mut p.node;
        for s in rest {
            node = &mut node
                .properties
                .as_mut()
                .and_then(|m| m.get_mut(s))
                .expect("resolved above")
                .0;
        }
        node.channel_rules = Some(rules);
    }
    None
}
