//! Parameters: each argument's location, wire name, defaults and value schema (a `Node`), and
//! the rules between arguments' wire names.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use super::super::diag::{YamlPath, closest};
use super::super::model::schema::node_schema;
use super::super::model::{In, Node, Operation, Param, Provider, Ty, in_name, is_snake};
use super::super::spec::{Constraints, ParamSpec, ToolSpec};
use super::{Ctx, set};

/// The largest `amount_fen` (¥100,000,000, Alipay's own single-payment cap), and its default
/// `maximum`.
pub const AMOUNT_FEN_MAX: i64 = 10_000_000_000;

/// The latest Unix time in seconds an argument may hold (2100-01-01T00:00:00Z).
pub const UNIX_SECONDS_MAX: i64 = 4_102_444_800;

/// A tool's parameters: those that lowered, and the names of those that did not (already
/// reported, so a reference to one is not reported again).
pub(super) struct Params {
    pub list: Vec<Param>,
    pub failed: BTreeSet<String>,
}

/// What a name refers to among a tool's parameters.
pub(super) enum Lookup<'a> {
    Found(&'a Param),
    /// Declared, but its declaration has an error (already reported).
    Failed,
    Missing,
}

impl Params {
    pub fn lookup(&self, name: &str) -> Lookup<'_> {
        match self.list.iter().find(|p| p.name == name) {
            Some(p) => Lookup::Found(p),
            None if self.failed.contains(name) => Lookup::Failed,
            None => Lookup::Missing,
        }
    }

    /// The parameter `name`; reports `{what} `{name}` is not a parameter of this tool` with a
    /// did-you-mean when no parameter has that name.
    pub fn find(
        &self,
        ctx: &mut Ctx<'_>,
        path: &YamlPath,
        what: &str,
        name: &str,
    ) -> Option<&Param> {
        match self.lookup(name) {
            Lookup::Found(p) => Some(p),
            Lookup::Failed => None,
            Lookup::Missing => {
                ctx.unknown(
                    path,
                    format!("{what} `{name}` is not a parameter of this tool"),
                    name,
                    self.names(),
                );
                None
            }
        }
    }

    /// Every declared name, lowered or not.
    pub fn names(&self) -> Vec<&str> {
        self.list
            .iter()
            .map(|p| p.name.as_str())
            .chain(self.failed.iter().map(String::as_str))
            .collect()
    }
}

/// Lowers the declared parameters of a tool, in spec order.
pub(super) fn lower_params(
    ctx: &mut Ctx<'_>,
    provider: &Provider,
    t: &ToolSpec,
    path: &YamlPath,
    operation: Option<&Operation>,
) -> Params {
    let mut params = Params {
        list: Vec::new(),
        failed: BTreeSet::new(),
    };
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
        if params.list.iter().any(|x| x.name == p.name) || params.failed.contains(&p.name) {
            ctx.error(
                &ppath.key("name"),
                format!("duplicate parameter `{}`", p.name),
            );
            continue;
        }
        let Some(param) = lower_param(ctx, provider, p, &ppath, operation) else {
            params.failed.insert(p.name.clone());
            continue;
        };
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
                let parent = params.list.iter().find(|x| x.name == *other);
                check_wire_overlap(ctx, &param, parent, w, &ppath.key("wire"));
            }
        }
        wires.insert((loc_key, param.wire.clone()), p.name.clone());
        params.list.push(param);
    }
    params
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

fn lower_param(
    ctx: &mut Ctx<'_>,
    provider: &Provider,
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
            set(
                d,
                format!(
                    "write `{}.<key>` with a snake_case key, e.g. `{}.app_id`; it is emitted as `ConfigKey::{}AppId`, so a key the runtime's `ConfigKey` (runtime/src/tool.rs) lacks fails to compile",
                    provider.name,
                    provider.name,
                    super::super::model::camel(&provider.name)
                ),
            );
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
    let sized = is_string || ty == Ty::Array;
    misplaced(
        "min_length",
        c.min_length.is_some(),
        sized,
        "strings and arrays",
    );
    misplaced(
        "max_length",
        c.max_length.is_some(),
        sized,
        "strings and arrays",
    );
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
        let schema = node_schema(&node);
        if let Err(e) = jsonschema::draft202012::validate(&schema, default) {
            ctx.error(
                &path.key("default"),
                format!("default {default} is not a valid `{}`: {e}", ty.as_str()),
            );
            return None;
        }
    }
    Some(node)
}
