//! Semantic checks over loaded spec files, collecting every error, and lowering into `Model`.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use super::diag::{Diagnostic, Diagnostics, YamlPath, closest};
use super::load::{self, Source};
use super::model::*;
use super::spec::{
    ChannelRulesSpec, Constraints, FieldSpec, ObjectSpec, ParamSpec, SpecFile, ToolSpec,
};

/// Where diagnostics for one file go.
struct Ctx<'a> {
    src: &'a Source,
    errors: &'a mut Vec<Diagnostic>,
}

impl Ctx<'_> {
    /// Records an error at `path`, located at the nearest existing ancestor node.
    fn error(&mut self, path: &YamlPath, message: impl Into<String>) -> &mut Diagnostic {
        let mut d = Diagnostic::new(&self.src.path, path, message);
        let mut probe = path.clone();
        loop {
            if let Some(loc) = load::locate(&self.src.text, &probe) {
                d.location = Some(loc);
                break;
            }
            if probe.0.pop().is_none() {
                break;
            }
        }
        self.errors.push(d);
        self.errors.last_mut().expect("just pushed")
    }

    /// Records an error with a did-you-mean help from `candidates`.
    fn unknown<'c>(
        &mut self,
        path: &YamlPath,
        message: impl Into<String>,
        wrong: &str,
        candidates: impl IntoIterator<Item = &'c str> + Clone,
    ) {
        let d = self.error(path, message);
        if let Some(best) = closest(wrong, candidates.clone()) {
            d.help = Some(format!("did you mean `{best}`?"));
        } else {
            let all: Vec<&str> = candidates.into_iter().collect();
            if !all.is_empty() {
                d.help = Some(format!("expected one of: {}", all.join(", ")));
            }
        }
    }
}

fn set(d: &mut Diagnostic, help: impl Into<String>) {
    d.help = Some(help.into());
}

/// Validates every file and lowers them into one model, or returns every error found.
pub fn validate(files: &[(Source, SpecFile)]) -> Result<Model, Diagnostics> {
    let mut errors = Vec::new();
    let mut model = Model::default();

    // Providers: one per folder.
    let mut folder_provider: BTreeMap<String, String> = BTreeMap::new();
    let mut folders: BTreeSet<String> = BTreeSet::new();
    for (src, spec) in files {
        let folder = folder_of(&src.path);
        folders.insert(folder.clone());
        let mut ctx = Ctx {
            src,
            errors: &mut errors,
        };
        let Some(p) = &spec.provider else {
            if spec.channels.is_some() {
                ctx.error(
                    &YamlPath::root().key("channels"),
                    "`channels` belongs in the file with the `provider` block",
                );
            }
            if spec.objects.is_some() {
                ctx.error(
                    &YamlPath::root().key("objects"),
                    "`objects` belongs in the file with the `provider` block",
                );
            }
            continue;
        };
        let path = YamlPath::root().key("provider").key("name");
        if !KNOWN_PROVIDERS.contains(&p.name.as_str()) {
            ctx.unknown(
                &path,
                format!("provider `{}` is not known to the runtime", p.name),
                &p.name,
                KNOWN_PROVIDERS,
            );
            continue;
        }
        if let Some(other) = folder_provider.get(&folder) {
            ctx.error(
                &YamlPath::root().key("provider"),
                format!("a second provider block in `{folder}` (the first is `{other}`)"),
            );
            continue;
        }
        if model.providers.contains_key(&p.name) {
            ctx.error(&path, format!("provider `{}` is defined twice", p.name));
            continue;
        }
        let channels = spec.channels.clone().unwrap_or_default();
        for (code, row) in &channels {
            if let Some([min, max]) = row.order_no
                && (min == 0 || min > max)
            {
                ctx.error(
                    &YamlPath::root().key("channels").key(code).key("order_no"),
                    format!("order_no length [{min}, {max}] must satisfy 1 <= min <= max"),
                );
            }
        }
        let mut objects = BTreeMap::new();
        if let Some(specs) = &spec.objects {
            // Resolve in name order; embedded objects must be defined (cycles are rejected).
            for name in specs.keys() {
                let path = YamlPath::root().key("objects").key(name);
                if let Some(o) = lower_object(&mut ctx, specs, name, &path, &mut Vec::new()) {
                    objects.insert(name.clone(), o);
                }
            }
        }
        let max_depth = match p.max_depth {
            None => DEFAULT_MAX_DEPTH,
            Some(d @ 1..=MAX_DEPTH_CAP) => d as u8,
            Some(d) => {
                let diag = ctx.error(
                    &YamlPath::root().key("provider").key("max_depth"),
                    format!("max_depth {d} is outside 1-{MAX_DEPTH_CAP}"),
                );
                set(
                    diag,
                    "it is how deeply objects and arrays may nest inside one argument; 8 is plenty for any payment API",
                );
                DEFAULT_MAX_DEPTH
            }
        };
        folder_provider.insert(folder, p.name.clone());
        model.providers.insert(
            p.name.clone(),
            Provider {
                name: p.name.clone(),
                title: p.title.clone(),
                base_url: p.base_url.clone(),
                protocol: p.protocol,
                auth: p.auth.clone(),
                error_model: p.error_model.clone(),
                amount_unit: p.amount_unit,
                max_depth,
                channels,
                objects,
            },
        );
    }

    // Tools.
    let mut seen: BTreeMap<String, (String, Option<(usize, usize)>)> = BTreeMap::new();
    let mut modules: BTreeMap<String, String> = BTreeMap::new();
    let mut pending_refs: Vec<(usize, String, YamlPath, String)> = Vec::new();
    for (file_index, (src, spec)) in files.iter().enumerate() {
        let Some(tools) = &spec.tools else { continue };
        let folder = folder_of(&src.path);
        let mut ctx = Ctx {
            src,
            errors: &mut errors,
        };
        let Some(provider) = folder_provider
            .get(&folder)
            .and_then(|n| model.providers.get(n))
        else {
            if !errors_mention_folder(ctx.errors, &folder) {
                ctx.error(
                    &YamlPath::root().key("tools"),
                    format!("no `provider` block in `{folder}`; tools need one in the same folder"),
                );
            }
            continue;
        };
        for (i, t) in tools.iter().enumerate() {
            let path = YamlPath::root().key("tools").index(i);
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
                continue;
            }
            let module = t.name.replace(['.', '-'], "_").to_ascii_lowercase();
            if !module.starts_with(|c: char| c.is_ascii_lowercase()) {
                let d = ctx.error(
                    &name_path,
                    format!("tool name `{}` must start with a letter", t.name),
                );
                set(d, "the name also names a Rust module and a file");
                continue;
            }
            if let Some((first_file, first_loc)) = seen.get(&t.name) {
                let at = match first_loc {
                    Some((l, c)) => format!("{first_file}:{l}:{c}"),
                    None => first_file.clone(),
                };
                ctx.error(&name_path, format!("duplicate tool name `{}`", t.name))
                    .note = Some(format!("first defined at {at}"));
                continue;
            }
            if let Some(other) = modules.get(&module) {
                ctx.error(
                    &name_path,
                    format!(
                        "tool name `{}` and `{other}` both map to the Rust module `{module}`",
                        t.name
                    ),
                );
                continue;
            }
            seen.insert(
                t.name.clone(),
                (src.path.clone(), load::locate(&src.text, &name_path)),
            );
            modules.insert(module.clone(), t.name.clone());
            if let Some(q) = &t.query_tool {
                pending_refs.push((file_index, t.name.clone(), path.clone(), q.clone()));
            }
            if let Some(tool) = lower_tool(&mut ctx, provider, t, &path, module) {
                model.tools.insert(tool.name.clone(), tool);
            }
        }
    }

    // Cross-tool references, once every tool is known.
    let names: Vec<&str> = seen.keys().map(String::as_str).collect();
    for (file_index, tool, tool_path, target) in pending_refs {
        let mut ctx = Ctx {
            src: &files[file_index].0,
            errors: &mut errors,
        };
        let path = tool_path.key("query_tool");
        if target == tool {
            ctx.error(&path, format!("`{tool}` names itself as its query_tool"));
        } else if !seen.contains_key(&target) {
            ctx.unknown(
                &path,
                format!("query_tool `{target}` is not a tool"),
                &target,
                names.iter().copied(),
            );
        } else if let Some(q) = model.tools.get(&target) {
            if q.effect != Effect::Read {
                ctx.error(
                    &path,
                    format!("query_tool `{target}` must be a read tool (its effect is not `read`)"),
                );
            } else if let Some(t) = model.tools.get(&tool) {
                check_query_found_field(&mut ctx, t, q, &tool_path.key("query_found_field"));
                check_query_match_target(&mut ctx, t, q, &tool_path.key("query_match"));
                check_query_is_buildable(&mut ctx, t, q, &path);
            }
        }
    }

    if errors.is_empty() {
        Ok(model)
    } else {
        let mut d = Diagnostics(errors);
        d.sort();
        Err(d)
    }
}

/// `query_found_field` must be a top-level field of the query tool's result, when that result
/// declares any fields.
fn check_query_found_field(ctx: &mut Ctx<'_>, t: &Tool, q: &Tool, path: &YamlPath) {
    let Some(field) = &t.query_found_field else {
        return;
    };
    let schema = super::emit_schema::output_schema(q);
    let fields: Vec<&str> = schema["properties"]
        .as_object()
        .map(|m| m.keys().map(String::as_str).collect())
        .unwrap_or_default();
    if !fields.is_empty() && !fields.contains(&field.as_str()) {
        ctx.unknown(
            path,
            format!(
                "query_found_field `{field}` is not a field of the result of `{}`",
                q.name
            ),
            field,
            fields,
        );
    }
}

/// `query_match` on the tool itself: a dotted path, with a `query_tool` and a `merchant_reference`
/// whose `wire` is that path (the gateway stores the reference exactly where the list shows it).
fn check_query_match(ctx: &mut Ctx<'_>, t: &ToolSpec, qm: &str, params: &[Param], path: &YamlPath) {
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
    if let Some(p) = params.iter().find(|p| p.name == *m)
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

fn is_dotted_path(s: &str) -> bool {
    s.split('.')
        .all(|w| !w.is_empty() && w.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
}

/// `query_match` against the query tool: it lists (`list_of` an object, so it pages), and the
/// path follows the listed object's declared fields as far as they are declared.
fn check_query_match_target(ctx: &mut Ctx<'_>, t: &Tool, q: &Tool, path: &YamlPath) {
    let Some(qm) = &t.query_match else { return };
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

fn errors_mention_folder(errors: &[Diagnostic], folder: &str) -> bool {
    errors
        .iter()
        .any(|e| e.message.contains("no `provider` block") && e.message.contains(folder))
}

/// The folder of a spec path (`spec/pingpp` for `spec/pingpp/charges.yaml`).
pub fn folder_of(path: &str) -> String {
    match path.rsplit_once('/') {
        Some((dir, _)) => dir.to_owned(),
        None => String::new(),
    }
}

fn mcp_name_ok(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

fn is_snake(s: &str) -> bool {
    s.starts_with(|c: char| c.is_ascii_lowercase())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// `create_charge` → `CreateCharge`.
pub fn camel(snake: &str) -> String {
    snake
        .split('_')
        .filter(|s| !s.is_empty())
        .map(|s| {
            let mut c = s.chars();
            match c.next() {
                Some(f) => f.to_ascii_uppercase().to_string() + c.as_str(),
                None => String::new(),
            }
        })
        .collect()
}

/// The largest `amount_fen` (¥100,000,000, Alipay's own single-payment cap), and its default
/// `maximum`.
pub const AMOUNT_FEN_MAX: i64 = 10_000_000_000;

/// The latest Unix time in seconds an argument may hold (2100-01-01T00:00:00Z).
pub const UNIX_SECONDS_MAX: i64 = 4_102_444_800;

/// `max_depth` when the provider block does not say.
pub const DEFAULT_MAX_DEPTH: u8 = 8;

/// The largest `max_depth` a provider may declare.
pub const MAX_DEPTH_CAP: u64 = 32;

/// Providers that `zhifu_runtime::tool::Provider` has a variant for.
pub const KNOWN_PROVIDERS: [&str; 2] = ["alipay", "pingpp"];

const JSON_TYPES: [&str; 7] = [
    "string", "integer", "number", "boolean", "object", "array", "null",
];

fn lower_object(
    ctx: &mut Ctx<'_>,
    specs: &BTreeMap<String, ObjectSpec>,
    name: &str,
    path: &YamlPath,
    stack: &mut Vec<String>,
) -> Option<Object> {
    let spec = specs.get(name)?;
    if stack.iter().any(|s| s == name) {
        ctx.error(
            path,
            format!("object `{name}` embeds itself ({})", stack.join(" → ")),
        );
        return None;
    }
    stack.push(name.to_owned());
    let o = lower_fields(
        ctx,
        specs,
        &spec.description,
        &spec.fields,
        &spec.required,
        path,
        stack,
    );
    stack.pop();
    o
}

fn lower_fields(
    ctx: &mut Ctx<'_>,
    specs: &BTreeMap<String, ObjectSpec>,
    description: &str,
    fields: &BTreeMap<String, FieldSpec>,
    required: &[String],
    path: &YamlPath,
    stack: &mut Vec<String>,
) -> Option<Object> {
    let mut ok = true;
    let mut out = BTreeMap::new();
    for (fname, f) in fields {
        let fpath = path.key("fields").key(fname);
        if !is_snake(fname) {
            ctx.error(&fpath, format!("field name `{fname}` is not snake_case"));
            ok = false;
            continue;
        }
        let shape = match (&f.ty, &f.object) {
            (Some(_), Some(_)) | (None, None) => {
                ctx.error(
                    &fpath,
                    format!("field `{fname}` needs exactly one of `type` or `object`"),
                );
                ok = false;
                continue;
            }
            (Some(ty), None) => {
                if f.nullable {
                    let d = ctx.error(&fpath.key("nullable"), "`nullable` only goes with `object`");
                    set(
                        d,
                        "list \"null\" among the types instead: type: [string, \"null\"]",
                    );
                    ok = false;
                }
                let names = ty.names();
                for (k, n) in names.iter().enumerate() {
                    if !JSON_TYPES.contains(n) {
                        let tpath = match ty {
                            super::spec::OneOrMany::One(_) => fpath.key("type"),
                            super::spec::OneOrMany::Many(_) => fpath.key("type").index(k),
                        };
                        ctx.unknown(&tpath, format!("unknown JSON type `{n}`"), n, JSON_TYPES);
                        ok = false;
                    }
                }
                FieldShape::Json(names.iter().map(|s| s.to_string()).collect())
            }
            (None, Some(oname)) => {
                if !specs.contains_key(oname) {
                    ctx.unknown(
                        &fpath.key("object"),
                        format!("unknown object `{oname}`"),
                        oname,
                        specs.keys().map(String::as_str),
                    );
                    ok = false;
                    continue;
                }
                let opath = YamlPath::root().key("objects").key(oname);
                match lower_object(ctx, specs, oname, &opath, stack) {
                    Some(o) => FieldShape::Object {
                        object: Box::new(o),
                        name: oname.clone(),
                        nullable: f.nullable,
                    },
                    None => {
                        ok = false;
                        continue;
                    }
                }
            }
        };
        out.insert(
            fname.clone(),
            Field {
                description: f.description.clone(),
                shape,
                const_value: f.const_value.clone(),
                enum_values: f.enum_values.clone(),
            },
        );
    }
    for (k, r) in required.iter().enumerate() {
        if !fields.contains_key(r) {
            ctx.unknown(
                &path.key("required").index(k),
                format!("required field `{r}` is not declared in `fields`"),
                r,
                fields.keys().map(String::as_str),
            );
            ok = false;
        }
    }
    ok.then(|| Object {
        description: description.to_owned(),
        fields: out,
        required: required.to_vec(),
    })
}

fn lower_tool(
    ctx: &mut Ctx<'_>,
    provider: &Provider,
    t: &ToolSpec,
    path: &YamlPath,
    module: String,
) -> Option<Tool> {
    let before = ctx.errors.len();
    for (key, value) in [("title", &t.title), ("description", &t.description)] {
        if value.trim().is_empty() {
            ctx.error(&path.key(key), format!("`{key}` must not be empty"));
        }
    }

    // Operation.
    let ops = [
        t.http.is_some(),
        t.gateway.is_some(),
        t.gateway_url.is_some(),
        t.local.is_some(),
    ];
    let operation = match ops.iter().filter(|b| **b).count() {
        1 => {
            if let Some(h) = &t.http {
                if provider.protocol != Protocol::RestJson {
                    ctx.error(
                        &path.key("http"),
                        format!(
                            "provider `{}` does not speak REST; use `gateway:`",
                            provider.name
                        ),
                    );
                }
                if !h.path.starts_with('/') {
                    ctx.error(
                        &path.key("http").key("path"),
                        "the path must start with `/`",
                    );
                }
                Some(Operation::Rest {
                    method: h.method,
                    path: h.path.clone(),
                })
            } else if let Some(g) = &t.gateway {
                gateway_method(ctx, provider, &g.method, &path.key("gateway"));
                Some(Operation::Gateway {
                    method: g.method.clone(),
                })
            } else if let Some(g) = &t.gateway_url {
                let gpath = path.key("gateway_url");
                if gateway_method(ctx, provider, &g.method, &gpath)
                    && !PAGE_JUMP_METHODS.contains(&g.method.as_str())
                {
                    ctx.unknown(
                        &gpath.key("method"),
                        format!(
                            "`{}` is not a page-jump method the runtime can build a URL for",
                            g.method
                        ),
                        &g.method,
                        PAGE_JUMP_METHODS,
                    );
                }
                Some(Operation::GatewayUrl {
                    method: g.method.clone(),
                })
            } else {
                let l = t.local.as_ref().expect("counted");
                let prefix = format!("{}.", provider.name);
                if !l.op.starts_with(&prefix) {
                    ctx.error(
                        &path.key("local").key("op"),
                        format!("local op `{}` must start with `{prefix}`", l.op),
                    );
                }
                Some(Operation::Local { op: l.op.clone() })
            }
        }
        n => {
            let d = ctx.error(
                path,
                format!(
                    "tool `{}` needs exactly one of `http`, `gateway`, `gateway_url` or `local` (found {n})",
                    t.name
                ),
            );
            set(
                d,
                "http: {method, path} for REST, gateway: {method} for Alipay calls, gateway_url: {method} for Alipay payment links, local: {op} for runtime operations",
            );
            None
        }
    };

    // Parameters.
    let mut params: Vec<Param> = Vec::new();
    let mut names = BTreeSet::new();
    let mut wires: BTreeMap<(String, String), String> = BTreeMap::new();
    for (j, p) in t.params.iter().enumerate() {
        let ppath = path.key("params").index(j);
        if !is_snake(&p.name) {
            let d = ctx.error(
                &ppath.key("name"),
                format!("parameter name `{}` is not snake_case", p.name),
            );
            set(
                d,
                "use lowercase letters, digits and `_`, starting with a letter",
            );
            continue;
        }
        if !names.insert(p.name.clone()) {
            ctx.error(
                &ppath.key("name"),
                format!("duplicate parameter `{}`", p.name),
            );
            continue;
        }
        if let Some(param) = lower_param(ctx, provider, t, p, &ppath, operation.as_ref()) {
            let depth = param.node.depth();
            if depth > u64::from(provider.max_depth) {
                let d = ctx.error(
                    &ppath,
                    format!(
                        "parameter `{}` nests objects and arrays {depth} deep, more than the provider's max_depth {}",
                        p.name, provider.max_depth
                    ),
                );
                set(
                    d,
                    "the runtime would refuse every valid value: flatten the parameter or raise `max_depth` in the provider block",
                );
            }
            let loc_key = format!("{:?}", param.location);
            for ((loc, w), other) in &wires {
                if *loc == loc_key {
                    let parent = params.iter().find(|x| x.name == *other);
                    check_wire_overlap(ctx, &param, parent, w, &ppath.key("wire"));
                }
            }
            wires.insert((loc_key, param.wire.clone()), p.name.clone());
            params.push(param);
        }
    }

    // Path placeholders ⇔ `in: path` parameters.
    if let Some(Operation::Rest {
        path: http_path, ..
    }) = &operation
    {
        let placeholders = placeholders(http_path);
        let path_params: Vec<&Param> = params.iter().filter(|p| p.location == In::Path).collect();
        let pp = path.key("http").key("path");
        match &placeholders {
            Err(msg) => {
                ctx.error(&pp, msg.clone());
            }
            Ok(list) => {
                for ph in list {
                    if !path_params.iter().any(|p| p.wire == *ph) {
                        let d = ctx.error(
                            &pp,
                            format!("path placeholder `{{{ph}}}` has no `in: path` parameter"),
                        );
                        let cands: Vec<&str> =
                            path_params.iter().map(|p| p.wire.as_str()).collect();
                        if let Some(best) = closest(ph, cands) {
                            d.help = Some(format!("did you mean `{{{best}}}`?"));
                        } else {
                            d.help = Some(format!(
                                "add a parameter `{ph}` with `in: path`, `required: true` and a strict `pattern`"
                            ));
                        }
                    }
                }
                for (j, p) in t.params.iter().enumerate() {
                    let Some(param) = params.iter().find(|x| x.name == p.name) else {
                        continue;
                    };
                    if param.location == In::Path && !list.contains(&param.wire) {
                        let d = ctx.error(
                            &path.key("params").index(j).key("in"),
                            format!(
                                "parameter `{}` is `in: path` but `{http_path}` has no `{{{}}}`",
                                p.name, param.wire
                            ),
                        );
                        set(
                            d,
                            "add the placeholder to the path or move the parameter to `query` or `body`",
                        );
                    }
                }
            }
        }
    }

    // Pagination parameters.
    let pagination_params = pagination_params(t.pagination);
    for pg in &pagination_params {
        if names.contains(&pg.name) {
            let j = t.params.iter().position(|p| p.name == pg.name).unwrap_or(0);
            ctx.error(
                &path.key("params").index(j).key("name"),
                format!(
                    "parameter `{}` is added by `pagination: {}`; remove it here",
                    pg.name,
                    pagination_name(t.pagination)
                ),
            );
        }
    }
    params.extend(pagination_params);

    // References to parameters.
    let by_name = |n: &str| params.iter().find(|p| p.name == n);
    let param_names: Vec<&str> = params.iter().map(|p| p.name.as_str()).collect();
    if let Some(m) = &t.merchant_reference {
        let mp = path.key("merchant_reference");
        match by_name(m) {
            None => ctx.unknown(
                &mp,
                format!(
                    "merchant_reference `{m}` is not a parameter of `{}`",
                    t.name
                ),
                m,
                param_names.iter().copied(),
            ),
            Some(p) if p.node.ty != Ty::String || !p.required => {
                ctx.error(
                    &mp,
                    format!("merchant_reference `{m}` must be a required string parameter"),
                );
            }
            Some(_) => {}
        }
    }
    if let Some(a) = &t.amount_param {
        let ap = path.key("amount_param");
        match by_name(a) {
            None => ctx.unknown(
                &ap,
                format!("amount_param `{a}` is not a parameter of `{}`", t.name),
                a,
                param_names.iter().copied(),
            ),
            Some(p) if !matches!(p.node.ty, Ty::AmountFen | Ty::AmountYuan) => {
                ctx.error(
                    &ap,
                    format!(
                        "amount_param `{a}` has type `{}`; it must be `amount_fen` or `amount_yuan`",
                        p.node.ty.as_str()
                    ),
                );
            }
            Some(_) => {}
        }
    }

    if let Some(pp) = &t.payee_param {
        let ppath = path.key("payee_param");
        match by_name(pp) {
            None => ctx.unknown(
                &ppath,
                format!("payee_param `{pp}` is not a parameter of `{}`", t.name),
                pp,
                param_names.iter().copied(),
            ),
            Some(p) if p.node.ty != Ty::String => {
                ctx.error(
                    &ppath,
                    format!(
                        "payee_param `{pp}` has type `{}`; it must be `string`",
                        p.node.ty.as_str()
                    ),
                );
            }
            Some(_) => {}
        }
        if t.effect != Effect::MovesMoney {
            let d = ctx.error(
                &ppath,
                format!(
                    "payee_param goes with `effect: moves_money`; `{}` is `{}`",
                    t.name,
                    super::emit_docs::effect_name(t.effect)
                ),
            );
            set(d, "only a call that pays someone has a payee");
        }
    }
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
        check_query_match(ctx, t, qm, &params, &path.key("query_match"));
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

    // Rules and checks.
    let rules = lower_rules(ctx, t, &params, path);
    let require_any = lower_require_any(ctx, t, &params, path);
    let checks = lower_checks(ctx, t, operation.as_ref(), &params, path);

    // Effect and idempotency.
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
    if matches!(t.effect, Effect::MovesMoney) && t.query_tool.is_none() {
        let d = ctx.error(
            path,
            format!("`{}` moves money but names no query_tool", t.name),
        );
        set(
            d,
            "name the read tool that tells the outcome after a timeout",
        );
    }
    if matches!(t.effect, Effect::MovesMoney) && t.merchant_reference.is_none() {
        let d = ctx.error(
            path,
            format!("`{}` moves money but names no merchant_reference", t.name),
        );
        set(
            d,
            "name the required string argument that the caller reuses when retrying; where the gateway has none, add one that it stores (e.g. in metadata) and a query_match to find it again",
        );
    }

    // Channel rules.
    let mut channel_rules = None;
    if let Some(cr) = &t.channel_rules
        && let Some((prefix, rules)) =
            check_channel_rules(ctx, provider, cr, &params, &path.key("channel_rules"))
    {
        match prefix.split_first() {
            None => channel_rules = Some(rules),
            Some((first, rest)) => {
                // Nested (`charge.channel`): the rules live on the enclosing object.
                if let Some(p) = params.iter_mut().find(|p| p.name == *first) {
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
            }
        }
    }

    // Response.
    let rpath = path.key("response");
    let r = &t.response;
    let kinds = [r.object.is_some(), r.list_of.is_some(), r.fields.is_some()];
    let objects = &provider.objects;
    let object_names = || objects.keys().map(String::as_str);
    let response = match kinds.iter().filter(|b| **b).count() {
        1 => {
            if let Some(name) = r.object.as_ref().or(r.list_of.as_ref()) {
                let key = if r.object.is_some() {
                    "object"
                } else {
                    "list_of"
                };
                if !r.required.is_empty() || r.description.is_some() {
                    ctx.error(
                        &rpath,
                        "`required` and `description` go with inline `fields` only",
                    );
                }
                match objects.get(name) {
                    None => {
                        ctx.unknown(
                            &rpath.key(key),
                            format!("unknown object `{name}` (provider `{}`)", provider.name),
                            name,
                            object_names(),
                        );
                        None
                    }
                    Some(o) if r.object.is_some() => Some(Response::Object {
                        name: name.clone(),
                        object: o.clone(),
                    }),
                    Some(o) => Some(Response::ListOf {
                        name: name.clone(),
                        object: o.clone(),
                    }),
                }
            } else {
                let fields = r.fields.as_ref().expect("counted");
                let spec_objects: BTreeMap<String, ObjectSpec> = BTreeMap::new();
                let description = r
                    .description
                    .clone()
                    .unwrap_or_else(|| format!("Result of {}.", t.name));
                lower_fields(
                    ctx,
                    &spec_objects,
                    &description,
                    fields,
                    &r.required,
                    &rpath,
                    &mut Vec::new(),
                )
                .map(Response::Inline)
            }
        }
        _ => {
            ctx.error(
                &rpath,
                "`response` needs exactly one of `object`, `list_of` or `fields`",
            );
            None
        }
    };
    match (&response, t.pagination) {
        (Some(Response::ListOf { .. }), PaginationSpec::None) => {
            let d = ctx.error(
                &rpath.key("list_of"),
                "a `list_of` response needs `pagination`",
            );
            set(d, "add `pagination: cursor` or `pagination: page`");
        }
        (
            Some(Response::Object { .. } | Response::Inline(_)),
            PaginationSpec::Cursor | PaginationSpec::Page,
        ) => {
            ctx.error(
                &path.key("pagination"),
                "`pagination` needs a `response: {list_of: …}`",
            );
        }
        _ => {}
    }

    if ctx.errors.len() > before {
        return None;
    }
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
        params,
        pagination: t.pagination,
        merchant_reference: t.merchant_reference.clone(),
        amount_param: t.amount_param.clone(),
        query_tool: t.query_tool.clone(),
        max_depth: provider.max_depth,
        payee_param: t.payee_param.clone(),
        reference_conflict: t.reference_conflict.clone(),
        query_found_field: t.query_found_field.clone(),
        query_match: t.query_match.clone(),
        channel_rules,
        rules,
        require_any,
        checks,
        response: response?,
    })
}

/// Two arguments may not write the same wire slot, nor one inside the other, except a key inside
/// an earlier free-form `object` or `metadata` argument (`metadata.refund_no` after `metadata`):
/// the runtime writes the arguments in order, so the key is merged into the caller's object.
fn check_wire_overlap(
    ctx: &mut Ctx<'_>,
    param: &Param,
    earlier: Option<&Param>,
    earlier_wire: &str,
    path: &YamlPath,
) {
    let (name, wire) = (&param.name, &param.wire);
    let other = earlier.map_or("another parameter", |p| p.name.as_str());
    let child_key = wire.strip_prefix(&format!("{earlier_wire}."));
    let collides = wire == earlier_wire || earlier_wire.starts_with(&format!("{wire}."));
    let Some(key) = child_key.filter(|_| !collides) else {
        if collides {
            let d = ctx.error(
                path,
                format!("parameter `{name}` (wire `{wire}`) collides with `{other}` (wire `{earlier_wire}`)"),
            );
            if earlier_wire.starts_with(&format!("{wire}.")) {
                set(
                    d,
                    "an argument that goes inside another one's object must come after it",
                );
            }
        }
        return;
    };
    let Some(parent) = earlier else { return };
    let first = key.split('.').next().unwrap_or(key);
    let why = match parent.node.ty {
        Ty::Metadata if key.contains('.') => {
            Some("a `metadata` holds one level of keys".to_owned())
        }
        Ty::Metadata if param.node.ty != Ty::String => Some(format!(
            "a `metadata` holds only strings, and `{name}` is `{}`",
            param.node.ty.as_str()
        )),
        Ty::Metadata => None,
        Ty::Object
            if parent
                .node
                .properties
                .as_ref()
                .is_some_and(|props| props.contains_key(first)) =>
        {
            Some(format!("`{other}` declares `{first}` itself"))
        }
        Ty::Object => None,
        ty => Some(format!("`{other}` is `{}`, which has no keys", ty.as_str())),
    };
    if let Some(why) = why {
        let d = ctx.error(
            path,
            format!("parameter `{name}` (wire `{wire}`) cannot go inside `{other}` (wire `{earlier_wire}`): {why}"),
        );
        set(
            d,
            "an argument can set a string key of an earlier `metadata` argument, or a key that an earlier `object` argument does not declare",
        );
    }
}

/// Reports an argument name that is not a parameter of the tool, with a did-you-mean.
fn unknown_param(ctx: &mut Ctx<'_>, params: &[Param], path: &YamlPath, what: &str, name: &str) {
    let names: Vec<&str> = params.iter().map(|p| p.name.as_str()).collect();
    ctx.unknown(
        path,
        format!("{what} `{name}` is not a parameter of this tool"),
        name,
        names,
    );
}

fn lower_rules(ctx: &mut Ctx<'_>, t: &ToolSpec, params: &[Param], path: &YamlPath) -> Vec<Rule> {
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
            let Some(p) = params.iter().find(|p| p.name == *name) else {
                unknown_param(ctx, params, &wpath, "rule condition", name);
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
            match params.iter().find(|p| p.name == *name) {
                None => unknown_param(ctx, params, &qpath, "required parameter", name),
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

fn lower_require_any(
    ctx: &mut Ctx<'_>,
    t: &ToolSpec,
    params: &[Param],
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
        match params.iter().find(|p| p.name == *name) {
            None => unknown_param(ctx, params, &npath, "require_any entry", name),
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

fn lower_checks(
    ctx: &mut Ctx<'_>,
    t: &ToolSpec,
    operation: Option<&Operation>,
    params: &[Param],
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
            super::spec::CheckSpec::PastDate(name) => {
                let ppath = cpath.key("past_date");
                match params.iter().find(|p| p.name == *name) {
                    None => unknown_param(ctx, params, &ppath, "past_date", name),
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
            super::spec::CheckSpec::CertModeInProduction => {
                if matches!(operation, Some(Operation::Gateway { .. })) {
                    out.push(Check::CertModeInProduction);
                } else if operation.is_some() {
                    ctx.error(
                        &cpath,
                        "`cert_mode_in_production` applies only to `gateway:` tools",
                    );
                }
            }
        }
    }
    out
}

fn pagination_name(p: PaginationSpec) -> &'static str {
    match p {
        PaginationSpec::None => "none",
        PaginationSpec::Cursor => "cursor",
        PaginationSpec::Page => "page",
    }
}

/// Alipay methods whose request the runtime signs into a URL for the buyer's browser.
pub const PAGE_JUMP_METHODS: [&str; 2] = ["alipay.trade.page.pay", "alipay.trade.wap.pay"];

/// Checks a `gateway`/`gateway_url` method: the provider speaks the gateway protocol and the name
/// looks like `alipay.trade.query`. Returns whether both hold.
fn gateway_method(ctx: &mut Ctx<'_>, provider: &Provider, method: &str, path: &YamlPath) -> bool {
    let mut ok = true;
    if provider.protocol != Protocol::AlipayGateway {
        ctx.error(
            path,
            format!(
                "provider `{}` has no `gateway.do`; use `http:`",
                provider.name
            ),
        );
        ok = false;
    }
    let words: Vec<&str> = method.split('.').collect();
    if words.len() < 3
        || words[0] != "alipay"
        || words.iter().any(|w| {
            w.is_empty()
                || !w
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        })
    {
        let d = ctx.error(
            &path.key("method"),
            format!("`{method}` is not an Alipay method name"),
        );
        set(
            d,
            "e.g. `alipay.trade.query`: lowercase words joined by `.`",
        );
        ok = false;
    }
    ok
}

/// `{name}` placeholders of a REST path, in order.
fn placeholders(path: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut rest = path;
    while let Some(start) = rest.find('{') {
        let Some(len) = rest[start..].find('}') else {
            return Err(format!("unclosed `{{` in path `{path}`"));
        };
        let name = &rest[start + 1..start + len];
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!("bad placeholder `{{{name}}}` in path `{path}`"));
        }
        out.push(name.to_owned());
        rest = &rest[start + len + 1..];
    }
    if rest.contains('}') {
        return Err(format!("unmatched `}}` in path `{path}`"));
    }
    Ok(out)
}

fn lower_param(
    ctx: &mut Ctx<'_>,
    provider: &Provider,
    t: &ToolSpec,
    p: &ParamSpec,
    path: &YamlPath,
    operation: Option<&Operation>,
) -> Option<Param> {
    let before = ctx.errors.len();
    let wire = p.wire.clone().unwrap_or_else(|| p.name.clone());
    if wire
        .split('.')
        .any(|s| s.is_empty() || !s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
    {
        ctx.error(
            &path.key("wire"),
            format!("wire name `{wire}` must be dot-separated words of letters, digits and `_`"),
        );
    }
    // Location fits the operation.
    let allowed: &[In] = match operation {
        Some(Operation::Rest { .. }) => &[In::Path, In::Query, In::Body],
        Some(Operation::Gateway { .. } | Operation::GatewayUrl { .. }) => {
            &[In::BizContent, In::Common]
        }
        Some(Operation::Local { .. }) => &[In::Local],
        None => &[],
    };
    if operation.is_some() && !allowed.contains(&p.location) {
        let names: Vec<&str> = allowed.iter().map(|l| in_name(*l)).collect();
        let d = ctx.error(
            &path.key("in"),
            format!(
                "`in: {}` does not fit this tool's operation",
                in_name(p.location)
            ),
        );
        set(d, format!("use one of: {}", names.join(", ")));
    }
    if p.location == In::Path {
        if wire.contains('.') {
            ctx.error(
                &path.key("wire"),
                "a path parameter cannot nest (no `.` in `wire`)",
            );
        }
        if !p.required && p.default_from.is_none() {
            let d = ctx.error(
                &path.key("required"),
                format!(
                    "path parameter `{}` must be required (or have `default_from`)",
                    p.name
                ),
            );
            set(d, "add `required: true`");
        }
        if p.pattern.is_none() && p.enum_values.is_none() {
            let d = ctx.error(
                path,
                format!(
                    "path parameter `{}` needs a `pattern` so nothing can inject into the path",
                    p.name
                ),
            );
            set(d, "e.g. pattern: \"^ch_[A-Za-z0-9]{1,40}$\"");
        }
    }
    // `required` + `default_from` means "needed: the caller passes it or the configuration
    // supplies it"; `required` + a fixed `default` is a contradiction.
    if p.required && p.default.is_some() {
        let d = ctx.error(
            &path.key("required"),
            format!("parameter `{}` is required and also has a default", p.name),
        );
        set(
            d,
            "drop `required: true`: the default applies when the argument is omitted",
        );
    }
    if p.default.is_some() && p.default_from.is_some() {
        ctx.error(
            &path.key("default_from"),
            "use either `default` or `default_from`, not both",
        );
    }
    if let Some(df) = &p.default_from {
        let ok = df
            .split_once('.')
            .is_some_and(|(prov, key)| prov == provider.name && is_snake(key));
        if !ok {
            let d = ctx.error(
                &path.key("default_from"),
                format!(
                    "default_from `{df}` is not a `{}.<key>` configuration key",
                    provider.name
                ),
            );
            set(d, format!("e.g. `{}.app_id`", provider.name));
        }
    }
    let node = lower_node(ctx, provider, p.constraints(), path)?;
    if p.secret && node.ty != Ty::String {
        ctx.error(
            &path.key("secret"),
            "only string parameters can be `secret`",
        );
    }
    if p.description.trim().is_empty() {
        ctx.error(&path.key("description"), "`description` must not be empty");
    }
    let _ = t;
    if ctx.errors.len() > before {
        return None;
    }
    Some(Param {
        name: p.name.clone(),
        location: p.location,
        wire,
        required: p.required,
        default_from: p.default_from.clone(),
        secret: p.secret,
        node,
    })
}

/// The spec spelling of a location.
pub fn in_name(l: In) -> &'static str {
    match l {
        In::Path => "path",
        In::Query => "query",
        In::Body => "body",
        In::BizContent => "biz_content",
        In::Common => "common",
        In::Local => "local",
    }
}

fn lower_node(
    ctx: &mut Ctx<'_>,
    provider: &Provider,
    c: Constraints<'_>,
    path: &YamlPath,
) -> Option<Node> {
    let Some(ty) = Ty::parse(c.ty) else {
        ctx.unknown(
            &path.key("type"),
            format!("unknown type `{}`", c.ty),
            c.ty,
            Ty::NAMES,
        );
        return None;
    };
    let before = ctx.errors.len();
    let is_string = ty == Ty::String;
    let numeric = matches!(ty, Ty::Integer | Ty::Number | Ty::AmountFen);
    let mut misplaced = |key: &str, present: bool, fits: bool, what: &str| {
        if present && !fits {
            ctx.error(
                &path.key(key),
                format!(
                    "`{key}` does not apply to type `{}`; it is for {what}",
                    ty.as_str()
                ),
            );
        }
    };
    misplaced("pattern", c.pattern.is_some(), is_string, "strings");
    misplaced("min_length", c.min_length.is_some(), is_string, "strings");
    misplaced("max_length", c.max_length.is_some(), is_string, "strings");
    misplaced("minimum", c.minimum.is_some(), numeric, "numbers");
    misplaced("maximum", c.maximum.is_some(), numeric, "numbers");
    misplaced(
        "enum",
        c.enum_values.is_some(),
        matches!(ty, Ty::String | Ty::Integer | Ty::Number),
        "strings and numbers",
    );
    misplaced("enum_from", c.enum_from.is_some(), is_string, "strings");
    misplaced("items", c.items.is_some(), ty == Ty::Array, "arrays");
    misplaced(
        "properties",
        c.properties.is_some(),
        ty == Ty::Object,
        "objects",
    );
    misplaced("values", c.values.is_some(), ty == Ty::Object, "objects");
    if c.values.is_some() && c.properties.is_some() {
        let d = ctx.error(
            &path.key("values"),
            "use either `properties` (fixed keys) or `values` (any keys), not both",
        );
        set(
            d,
            "`values` gives the schema of every value of a free-form object",
        );
    }
    if let (Some(a), Some(b)) = (c.min_length, c.max_length)
        && a > b
    {
        ctx.error(
            &path.key("min_length"),
            format!("min_length {a} is above max_length {b}"),
        );
    }
    if let (Some(a), Some(b)) = (c.minimum, c.maximum)
        && a > b
    {
        ctx.error(
            &path.key("minimum"),
            format!("minimum {a} is above maximum {b}"),
        );
    }
    if ty == Ty::AmountFen && c.minimum.is_some_and(|m| m < 1) {
        ctx.error(
            &path.key("minimum"),
            "an amount_fen is at least 1; minimum cannot be lower",
        );
    }
    if ty == Ty::AmountFen && c.maximum.is_some_and(|m| m > AMOUNT_FEN_MAX) {
        let d = ctx.error(
            &path.key("maximum"),
            format!(
                "an amount_fen is at most {AMOUNT_FEN_MAX} (¥100,000,000); maximum cannot be higher"
            ),
        );
        set(d, "omit `maximum` to get that cap, or give a lower one");
    }
    if matches!(ty, Ty::Integer | Ty::Number) && c.maximum.is_none() {
        let d = ctx.error(
            path,
            format!(
                "{} `{}` needs a `maximum`, so that absurd values (1e308, 2^63) are refused before anything is sent",
                if ty == Ty::Integer { "an" } else { "a" },
                ty.as_str()
            ),
        );
        set(
            d,
            "take it from the API docs, e.g. `maximum: 100` for a page size or `maximum: 4102444800` for Unix seconds (2100-01-01)",
        );
    }
    if let Some(p) = c.pattern
        && jsonschema::draft202012::new(&json!({ "pattern": p })).is_err()
    {
        ctx.error(
            &path.key("pattern"),
            format!("`{p}` is not a valid regular expression"),
        );
    }
    let mut enum_values = c.enum_values.map(<[Value]>::to_vec);
    if let Some(values) = &enum_values {
        if values.is_empty() {
            ctx.error(&path.key("enum"), "`enum` must list at least one value");
        }
        for (k, v) in values.iter().enumerate() {
            let fits = match ty {
                Ty::String => v.is_string(),
                Ty::Integer => v.is_i64() || v.is_u64(),
                _ => v.is_number(),
            };
            if !fits {
                ctx.error(
                    &path.key("enum").index(k),
                    format!("enum value {v} is not a `{}`", ty.as_str()),
                );
            }
        }
    }
    if let Some(table) = c.enum_from {
        if c.enum_values.is_some() {
            ctx.error(
                &path.key("enum_from"),
                "use either `enum` or `enum_from`, not both",
            );
        }
        let tables: Vec<&str> = if provider.channels.is_empty() {
            vec![]
        } else {
            vec!["channels"]
        };
        if table == "channels" && !provider.channels.is_empty() {
            enum_values = Some(provider.channels.keys().map(|k| json!(k)).collect());
        } else {
            let d_help = closest(table, tables.iter().copied());
            let d = ctx.error(
                &path.key("enum_from"),
                format!(
                    "enum_from `{table}` is not a table of provider `{}`",
                    provider.name
                ),
            );
            d.help = Some(match d_help {
                Some(best) => format!("did you mean `{best}`?"),
                None if tables.is_empty() => {
                    format!("provider `{}` defines no tables", provider.name)
                }
                None => format!("tables: {}", tables.join(", ")),
            });
        }
    }
    let items = match c.items {
        Some(s) => Some(Box::new(lower_node(
            ctx,
            provider,
            s.constraints(),
            &path.key("items"),
        )?)),
        None => None,
    };
    let mut properties = None;
    if let Some(props) = c.properties {
        let mut out = BTreeMap::new();
        for (name, s) in props {
            let ppath = path.key("properties").key(name);
            if !is_snake(name) {
                ctx.error(&ppath, format!("property name `{name}` is not snake_case"));
                continue;
            }
            if let Some(n) = lower_node(ctx, provider, s.constraints(), &ppath) {
                if s.required && s.default.is_some() {
                    ctx.error(
                        &ppath.key("required"),
                        format!("property `{name}` is required and also has a default"),
                    );
                }
                out.insert(name.clone(), (n, s.required));
            }
        }
        properties = Some(out);
    }
    let values = match c.values {
        Some(s) => Some(Box::new(lower_node(
            ctx,
            provider,
            s.constraints(),
            &path.key("values"),
        )?)),
        None => None,
    };
    if ctx.errors.len() > before {
        return None;
    }
    let node = Node {
        ty,
        description: c.description.map(|s| s.trim().to_owned()),
        default: c.default.cloned(),
        pattern: c.pattern.map(str::to_owned),
        min_length: c.min_length,
        max_length: c.max_length,
        // An amount in fen is 1 fen to ¥100,000,000 unless the spec narrows it.
        minimum: c.minimum.or((ty == Ty::AmountFen).then_some(1)),
        maximum: c
            .maximum
            .or((ty == Ty::AmountFen).then_some(AMOUNT_FEN_MAX)),
        enum_values,
        items,
        properties,
        values,
        channel_rules: None,
    };
    if let Some(default) = c.default {
        let schema = super::emit_schema::node_schema(&node);
        if let Err(e) = jsonschema::draft202012::validate(&schema, default) {
            let d = ctx.error(
                &path.key("default"),
                format!("default {default} is not a valid `{}`: {e}", ty.as_str()),
            );
            let _ = d;
            return None;
        }
    }
    Some(node)
}

/// The highest `page` of a page-numbered list.
pub const PAGE_MAX: i64 = 10_000;

/// The parameters a pagination style adds (all `in: query`).
pub fn pagination_params(p: PaginationSpec) -> Vec<Param> {
    let query = |name: &str, node: Node| Param {
        name: name.to_owned(),
        location: In::Query,
        wire: name.to_owned(),
        required: false,
        default_from: None,
        secret: false,
        node,
    };
    let id = |description: &str| Node {
        pattern: Some("^[A-Za-z0-9_]{1,64}$".to_owned()),
        ..Node::new(Ty::String, description)
    };
    let int = |min: i64, max: i64, default: Option<i64>, description: &str| Node {
        minimum: Some(min),
        maximum: Some(max),
        default: default.map(|d| json!(d)),
        ..Node::new(Ty::Integer, description)
    };
    match p {
        PaginationSpec::None => vec![],
        PaginationSpec::Cursor => {
            let bound = |d: &str| (int(0, UNIX_SECONDS_MAX, None, d), false);
            let created = Node {
                properties: Some(BTreeMap::from([
                    (
                        "gt".to_owned(),
                        bound("Created after this Unix time (seconds)."),
                    ),
                    (
                        "gte".to_owned(),
                        bound("Created at or after this Unix time (seconds)."),
                    ),
                    (
                        "lt".to_owned(),
                        bound("Created before this Unix time (seconds)."),
                    ),
                    (
                        "lte".to_owned(),
                        bound("Created at or before this Unix time (seconds)."),
                    ),
                ])),
                ..Node::new(
                    Ty::Object,
                    "Only objects created in this range, in Unix seconds: {gt, gte, lt, lte}.",
                )
            };
            vec![
                query(
                    "limit",
                    int(
                        1,
                        100,
                        Some(10),
                        "How many objects to return, 1-100 (default 10).",
                    ),
                ),
                query(
                    "starting_after",
                    id(
                        "Return the page after this object id: pass the `next_cursor` of the previous result.",
                    ),
                ),
                query(
                    "ending_before",
                    id("Return the page before this object id (the first id of the current page)."),
                ),
                query("created", created),
            ]
        }
        PaginationSpec::Page => vec![
            query(
                "page",
                int(
                    1,
                    PAGE_MAX,
                    None,
                    "Page number, starting at 1 (default 1), at most 10000.",
                ),
            ),
            query("per_page", int(1, 100, None, "Objects per page, 1-100.")),
        ],
    }
}

fn check_channel_rules(
    ctx: &mut Ctx<'_>,
    provider: &Provider,
    cr: &ChannelRulesSpec,
    params: &[Param],
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
            None => {
                let cands: Vec<&str> = params.iter().map(|p| p.name.as_str()).collect();
                ctx.unknown(
                    &path.key(key),
                    format!("channel_rules.{key} `{target}` is not a parameter"),
                    target,
                    cands,
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
fn resolve<'a>(params: &'a [Param], segs: &[String]) -> Option<&'a Node> {
    let (first, rest) = segs.split_first()?;
    let mut node = &params.iter().find(|p| p.name == *first)?.node;
    for s in rest {
        node = &node.properties.as_ref()?.get(s)?.0;
    }
    Some(node)
}
