//! docs/TOOLS.md: the tools reference, rendered with minijinja from the model.

use serde::Serialize;

use super::model::*;

const TEMPLATE: &str = include_str!("../../templates/TOOLS.md.j2");

#[derive(Serialize)]
struct ProviderView {
    name: String,
    title: String,
    base_url: String,
    protocol: &'static str,
    auth: String,
    amount_unit: &'static str,
    max_depth: u8,
    sandbox_url: String,
    tools: Vec<ToolView>,
    channels: Vec<ChannelView>,
    errors: Vec<ErrorView>,
}

/// Consecutive rules of the catalogue with the same advice, as one row.
#[derive(Serialize)]
struct ErrorView {
    when: String,
    outcome: &'static str,
    retry: &'static str,
    next_step: String,
}

#[derive(Serialize)]
struct ToolView {
    name: String,
    anchor: String,
    title: String,
    effect: &'static str,
    /// One sentence per line: operation, annotations, references, pagination.
    facts: Vec<String>,
    description: String,
    params: Vec<ParamView>,
    result: String,
}

#[derive(Serialize)]
struct ParamView {
    name: String,
    location: String,
    ty: String,
    required: &'static str,
    default: String,
    description: String,
}

#[derive(Serialize)]
struct ChannelView {
    code: String,
    extra: String,
    order_no: String,
}

/// Escapes text for one Markdown table cell.
fn cell(s: &str) -> String {
    s.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace('|', "\\|")
}

fn type_text(n: &Node) -> String {
    let mut s = n.ty.as_str().to_owned();
    if let Some(i) = &n.items {
        s = format!("array of {}", i.ty.as_str());
    }
    if let Some(v) = &n.values {
        s = format!("object of {} values", v.ty.as_str());
    }
    let mut c = Vec::new();
    if let Some(p) = &n.pattern {
        c.push(format!("pattern `{p}`"));
    }
    let length = if n.ty == Ty::Array { "items" } else { "length" };
    match (n.min_length, n.max_length) {
        (Some(a), Some(b)) => c.push(format!("{length} {a}-{b}")),
        (None, Some(b)) => c.push(format!("{length} ≤ {b}")),
        (Some(a), None) => c.push(format!("{length} ≥ {a}")),
        _ => {}
    }
    match (n.minimum, n.maximum) {
        (Some(a), Some(b)) => c.push(format!("{a}-{b}")),
        (None, Some(b)) => c.push(format!("≤ {b}")),
        (Some(a), None) => c.push(format!("≥ {a}")),
        _ => {}
    }
    if let Some(e) = &n.enum_values {
        if e.len() <= 8 {
            let v: Vec<String> = e
                .iter()
                .map(|v| {
                    format!(
                        "`{}`",
                        v.as_str().map(str::to_owned).unwrap_or(v.to_string())
                    )
                })
                .collect();
            c.push(format!("one of {}", v.join(", ")));
        } else {
            c.push(format!("one of {} values", e.len()));
        }
    }
    if let Some(props) = &n.properties {
        let keys: Vec<String> = props
            .iter()
            .map(|(k, (_, req))| {
                if *req {
                    format!("`{k}`*")
                } else {
                    format!("`{k}`")
                }
            })
            .collect();
        c.push(format!("keys {}", keys.join(", ")));
    }
    if c.is_empty() {
        s
    } else {
        format!("{s} ({})", c.join("; "))
    }
}

/// Renders docs/TOOLS.md.
pub fn tools_md(model: &Model) -> String {
    let providers: Vec<ProviderView> = model
        .providers
        .values()
        .map(|p| {
            let tools = model
                .tools
                .values()
                .filter(|t| t.provider == p.name)
                .map(tool_view)
                .collect();
            let channels = p
                .channels
                .iter()
                .map(|(code, row)| ChannelView {
                    code: code.clone(),
                    extra: if row.extra.is_empty() {
                        "—".to_owned()
                    } else {
                        row.extra
                            .iter()
                            .map(|k| format!("`{k}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    },
                    order_no: row
                        .order_no
                        .map(|[a, b]| format!("{a}-{b}"))
                        .unwrap_or_else(|| "—".to_owned()),
                })
                .collect();
            ProviderView {
                name: p.name.clone(),
                title: p.title.clone(),
                base_url: p.base_url.clone(),
                protocol: match p.protocol {
                    Protocol::RestJson => "rest_json",
                    Protocol::AlipayGateway => "alipay_gateway",
                },
                auth: p.auth.clone(),
                max_depth: p.max_depth,
                amount_unit: match p.amount_unit {
                    AmountUnit::Fen => "fen (integer, 100 = ¥1.00)",
                    AmountUnit::Yuan => "yuan (decimal string, \"15.50\" = ¥15.50)",
                },
                sandbox_url: p.sandbox_url.clone().unwrap_or_default(),
                tools,
                channels,
                errors: error_views(&p.errors),
            }
        })
        .collect();
    let mut env = minijinja::Environment::new();
    env.set_syntax(
        minijinja::syntax::SyntaxConfig::builder()
            .trim_blocks(true)
            .lstrip_blocks(true)
            .build()
            .expect("default delimiters are valid"),
    );
    env.add_template("TOOLS.md", TEMPLATE)
        .expect("the TOOLS.md template parses");
    let out = env
        .get_template("TOOLS.md")
        .expect("just added")
        .render(minijinja::context! {
            header => "@generated by cargo xtask codegen from spec/; do not edit",
            providers => minijinja::value::Serde(&providers),
        })
        .expect("the TOOLS.md template renders");
    // Blocks leave runs of blank lines; Markdown wants at most one.
    let mut text = String::new();
    let mut blank = 0;
    for line in out.lines() {
        let line = line.trim_end();
        blank = if line.is_empty() { blank + 1 } else { 0 };
        if blank <= 1 {
            text.push_str(line);
            text.push('\n');
        }
    }
    let mut text = text.trim_end().to_owned();
    text.push('\n');
    text
}

fn tool_view(t: &Tool) -> ToolView {
    let operation = match &t.operation {
        Operation::Rest { method, path } => {
            format!("`{} {path}`", method_name(*method))
        }
        Operation::Gateway { method } => format!("Alipay gateway method `{method}`"),
        Operation::GatewayUrl { method } => {
            format!("nothing: it builds and signs an Alipay `{method}` link locally (no network)")
        }
        Operation::Local { op } => format!("local operation `{op}` (no network)"),
    };
    let mut facts = vec![
        format!("Calls {operation}; effect `{}`.", effect_name(t.effect)),
        format!(
            "Annotations: readOnly {}, destructive {}, idempotent {}, openWorld {}.",
            t.read_only(),
            t.destructive(),
            t.idempotent,
            t.open_world()
        ),
    ];
    if let Some(m) = &t.merchant_reference {
        facts.push(format!(
            "Merchant reference (reuse it when retrying): `{m}`."
        ));
    }
    if let Some(a) = &t.amount_param {
        facts.push(format!("Amount argument: `{a}`."));
    }
    match t.payee_params.as_slice() {
        [] => {}
        [p] => facts.push(format!(
            "Payee argument (the payee allowlist applies to it): `{p}`."
        )),
        several => facts.push(format!(
            "Payee arguments (the payee allowlist applies to each one given): {}.",
            ticked(several)
        )),
    }
    if let Some(b) = &t.batch {
        let mut fact = format!(
            "Batch: the call moves the sum of `{}[].{}` (limits apply to the total; a confirmation shows the number of items and the total)",
            b.param, b.amount
        );
        if let Some(a) = &t.amount_param {
            fact.push_str(&format!("; `{a}` must equal that sum"));
        }
        if !b.payee.is_empty() {
            fact.push_str(&format!(
                "; each item's payee is its {}, and the payee allowlist applies to every one",
                ticked(&b.payee).replace(", ", " or ")
            ));
        }
        fact.push('.');
        facts.push(fact);
    }
    if let (Some(m), Some(c)) = (&t.merchant_reference, &t.reference_conflict) {
        facts.push(format!(
            "Reusing `{m}` with different arguments fails with `{c}`."
        ));
    }
    if !t.counterparty.is_empty() {
        facts.push(format!(
            "A confirmation names the counterparty: the first given of {}.",
            ticked(&t.counterparty)
        ));
    }
    match (&t.query_tool, &t.query_found_field) {
        (Some(q), None) => match (&t.query_match, &t.merchant_reference) {
            (Some(path), Some(m)) => facts.push(format!(
                "When the outcome is unknown (timeout, reset), call `{q}`: the listed item whose `{path}` equals `{m}` is the earlier call."
            )),
            _ => facts.push(format!(
                "When the outcome is unknown (timeout, reset), call `{q}`."
            )),
        },
        (Some(q), Some(f)) if t.query_found_values.is_empty() => facts.push(format!(
            "When the outcome is unknown (timeout, reset), call `{q}`; it happened only if the result has `{f}`."
        )),
        (Some(q), Some(f)) => facts.push(format!(
            "When the outcome is unknown (timeout, reset), call `{q}`; it happened only if its `{f}` is {}.",
            ticked(&t.query_found_values).replace(", ", " or ")
        )),
        (None, _) => {}
    }
    for (field, value) in &t.pending_when {
        facts.push(format!(
            "A result with `{field}` `{value}` is not final: its outcome counts as unknown."
        ));
    }
    if let (Some(f), Some(q)) = (&t.follow_up, &t.query_tool) {
        let when: Vec<String> = f
            .when
            .iter()
            .map(|(k, v)| format!("`{k}` is `{v}`"))
            .collect();
        let copy: Vec<String> = f
            .copy
            .iter()
            .map(|(to, from)| format!("`{to}` (its `{from}`)"))
            .collect();
        facts.push(format!(
            "When {}, the server calls `{q}` and adds {} to the result.",
            when.join(" and "),
            copy.join(", ")
        ));
    }
    for r in super::emit_schema::rule_sentences(t) {
        facts.push(format!("Rule: {r}"));
    }
    for c in &t.checks {
        facts.push(match c {
            Check::PastDate { param } => format!(
                "Check: `{param}` must be a finished day or month (before today, Beijing time)."
            ),
            Check::CertModeInProduction => {
                "Check: on the production gateway this method needs public-key certificate mode."
                    .to_owned()
            }
        });
    }
    match t.pagination {
        PaginationSpec::None => {}
        PaginationSpec::Cursor => facts.push(
            "Pagination: cursor (`limit`, `starting_after`, `ending_before`, `created`); the result has `has_more` and `next_cursor`.".to_owned(),
        ),
        PaginationSpec::Page => facts.push(
            "Pagination: page (`page`, `per_page`); the result has `has_more`.".to_owned(),
        ),
    }
    ToolView {
        name: t.name.clone(),
        anchor: t.name.replace('.', ""),
        title: t.title.clone(),
        effect: effect_name(t.effect),
        facts,
        description: t.description.clone(),
        params: t
            .params
            .iter()
            .map(|p| ParamView {
                name: p.name.clone(),
                location: if p.wire == p.name {
                    in_name(p.location).to_owned()
                } else {
                    format!("{} as `{}`", in_name(p.location), p.wire)
                },
                ty: cell(&type_text(&p.node)),
                required: if p.required { "yes" } else { "no" },
                default: match (&p.node.default, &p.default_from) {
                    (Some(v), _) => cell(&format!("`{v}`")),
                    (None, Some(k)) => format!("config `{k}`"),
                    (None, None) => String::new(),
                },
                description: cell(p.node.description.as_deref().unwrap_or("")),
            })
            .collect(),
        result: match &t.response {
            Response::Object { name, .. } => format!("a `{name}` object"),
            Response::ListOf { name, .. } => format!("a list of `{name}` objects"),
            Response::Inline(o) => {
                let keys: Vec<String> = o.fields.keys().map(|k| format!("`{k}`")).collect();
                format!("an object with {}", keys.join(", "))
            }
        },
    }
}

/// `` `a`, `b` `` for a list of names.
fn ticked(names: &[String]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The catalogue as table rows: consecutive rules with the same advice (one spec entry, expanded
/// over its listed values) share a row.
fn error_views(rules: &[ErrorRule]) -> Vec<ErrorView> {
    let mut out: Vec<(ErrorView, Option<bool>)> = Vec::new();
    for r in rules {
        let m = &r.when;
        let mut parts = Vec::new();
        if let Some((low, high)) = m.http_status {
            parts.push(if low == high {
                format!("HTTP {low}")
            } else {
                format!("HTTP {low}-{high}")
            });
        }
        for (key, value) in [
            ("error.type", &m.error_type),
            ("code", &m.code),
            ("sub_code", &m.sub_code),
        ] {
            if let Some(v) = value {
                parts.push(format!("{key} `{v}`"));
            }
        }
        if !m.message_contains.is_empty() {
            let words: Vec<String> = m
                .message_contains
                .iter()
                .map(|w| format!("\"{w}\""))
                .collect();
            parts.push(format!("message with {}", words.join(" or ")));
        }
        let when = if parts.is_empty() {
            "any other error".to_owned()
        } else {
            parts.join(", ")
        };
        let view = ErrorView {
            when,
            outcome: match r.outcome {
                Outcome::Failed => "failed",
                Outcome::Pending => "pending",
                Outcome::NotFound => "not found",
            },
            retry: match r.retry {
                Retry::Yes => "yes",
                Retry::No => "no",
                Retry::IfKeyed => "with its reference",
            },
            next_step: cell(&r.next_step),
        };
        match out.last_mut() {
            Some((last, reads))
                if *reads == m.reads
                    && last.next_step == view.next_step
                    && last.outcome == view.outcome
                    && last.retry == view.retry =>
            {
                last.when = format!("{} or {}", last.when, view.when);
            }
            _ => out.push((view, m.reads)),
        }
    }
    out.into_iter()
        .map(|(mut v, reads)| {
            match reads {
                Some(true) => v.when = format!("{} (reads)", v.when),
                Some(false) => v.when = format!("{} (calls that change state)", v.when),
                None => {}
            }
            v.when = cell(&v.when);
            v
        })
        .collect()
}
