//! Response shapes: the provider's `objects` and a tool's inline `fields`, with the field flags
//! that feed the runtime (`summary`, `amount`, `id`).

use std::collections::{BTreeMap, BTreeSet};

use super::super::diag::YamlPath;
use super::super::model::{
    AmountUnit, Field, FieldShape, Object, PaginationSpec, Provider, Response, SummaryField,
    SummaryKind, is_snake,
};
use super::super::spec::{FieldSpec, ObjectSpec, OneOrMany, Ordered, ToolSpec};
use super::{Ctx, set};

const JSON_TYPES: [&str; 7] = [
    "string", "integer", "number", "boolean", "object", "array", "null",
];

/// Lowers objects of one provider (or a tool's inline fields, with no `specs`).
pub(super) struct Lowering<'c, 'a, 's> {
    pub ctx: &'c mut Ctx<'a>,
    /// The provider's objects, by name, for `object:` fields.
    pub specs: &'s BTreeMap<String, ObjectSpec>,
    /// Objects that did not load: a field embedding one is not reported again.
    pub broken: &'s BTreeSet<String>,
    /// The provider's amount unit, which `amount:` flags must use.
    pub amount_unit: AmountUnit,
}

impl Lowering<'_, '_, '_> {
    /// Lowers object `name`, embedding the objects it names (`stack` catches cycles).
    pub fn object(
        &mut self,
        name: &str,
        path: &YamlPath,
        stack: &mut Vec<String>,
    ) -> Option<Object> {
        let specs = self.specs;
        let spec = specs.get(name)?;
        if stack.iter().any(|s| s == name) {
            self.ctx.error(
                path,
                format!("object `{name}` embeds itself ({})", stack.join(" → ")),
            );
            return None;
        }
        stack.push(name.to_owned());
        let o = self.fields(&spec.description, &spec.fields, &spec.required, path, stack);
        stack.pop();
        o
    }

    /// Lowers a list of fields into an object.
    pub fn fields(
        &mut self,
        description: &str,
        fields: &Ordered<FieldSpec>,
        required: &[String],
        path: &YamlPath,
        stack: &mut Vec<String>,
    ) -> Option<Object> {
        let before = self.ctx.count();
        let mut quiet_failure = false;
        let mut out = BTreeMap::new();
        let mut summary = Vec::new();
        let mut ids = Vec::new();
        for (fname, f) in fields.iter() {
            let fpath = path.key("fields").key(fname);
            if !is_snake(fname) {
                self.ctx
                    .error(&fpath, format!("field name `{fname}` is not snake_case"));
                continue;
            }
            let Some(shape) = self.shape(fname, f, &fpath, stack, &mut quiet_failure) else {
                continue;
            };
            let field = Field {
                description: f.description.clone(),
                shape,
                const_value: f.const_value.clone(),
                enum_values: f.enum_values.clone(),
            };
            if let Some(kind) = self.flags(fname, f, &field, &fpath) {
                summary.push(SummaryField {
                    field: fname.clone(),
                    kind,
                });
            }
            if f.id {
                ids.push(fname.clone());
            }
            out.insert(fname.clone(), field);
        }
        for (k, r) in required.iter().enumerate() {
            if !fields.contains_key(r) {
                self.ctx.unknown(
                    &path.key("required").index(k),
                    format!("required field `{r}` is not declared in `fields`"),
                    r,
                    fields.keys().map(String::as_str),
                );
            }
        }
        (self.ctx.count() == before && !quiet_failure).then(|| Object {
            description: description.to_owned(),
            fields: out,
            required: required.to_vec(),
            summary,
            ids,
        })
    }

    /// What a field holds: JSON types or an embedded object.
    fn shape(
        &mut self,
        fname: &str,
        f: &FieldSpec,
        fpath: &YamlPath,
        stack: &mut Vec<String>,
        quiet_failure: &mut bool,
    ) -> Option<FieldShape> {
        match (&f.ty, &f.object) {
            (Some(_), Some(_)) | (None, None) => {
                self.ctx.error(
                    fpath,
                    format!("field `{fname}` needs exactly one of `type` or `object`"),
                );
                None
            }
            (Some(ty), None) => {
                if f.nullable {
                    let d = self
                        .ctx
                        .error(&fpath.key("nullable"), "`nullable` only goes with `object`");
                    set(
                        d,
                        "list \"null\" among the types instead: type: [string, \"null\"]",
                    );
                }
                let names = ty.names();
                for (k, n) in names.iter().enumerate() {
                    if !JSON_TYPES.contains(n) {
                        let tpath = match ty {
                            OneOrMany::One(_) => fpath.key("type"),
                            OneOrMany::Many(_) => fpath.key("type").index(k),
                        };
                        self.ctx
                            .unknown(&tpath, format!("unknown JSON type `{n}`"), n, JSON_TYPES);
                    }
                }
                Some(FieldShape::Json(
                    names.iter().map(|s| s.to_string()).collect(),
                ))
            }
            (None, Some(oname)) => {
                if self.broken.contains(oname) {
                    // Reported where the object is defined.
                    *quiet_failure = true;
                    return None;
                }
                if !self.specs.contains_key(oname) {
                    self.ctx.unknown(
                        &fpath.key("object"),
                        format!("unknown object `{oname}`"),
                        oname,
                        self.specs.keys().map(String::as_str),
                    );
                    return None;
                }
                let opath = YamlPath::root().key("objects").key(oname);
                match self.object(oname, &opath, stack) {
                    Some(o) => Some(FieldShape::Object {
                        object: Box::new(o),
                        name: oname.clone(),
                        nullable: f.nullable,
                    }),
                    None => {
                        *quiet_failure = true;
                        None
                    }
                }
            }
        }
    }

    /// Checks `summary`, `amount` and `id`; returns how the summary shows the field, if it does.
    fn flags(
        &mut self,
        fname: &str,
        f: &FieldSpec,
        field: &Field,
        fpath: &YamlPath,
    ) -> Option<SummaryKind> {
        let types: Vec<&str> = match &field.shape {
            FieldShape::Json(t) => t
                .iter()
                .map(String::as_str)
                .filter(|t| *t != "null")
                .collect(),
            FieldShape::Object { .. } => vec!["object"],
        };
        if let Some(unit) = f.amount {
            let (want, spelled) = match unit {
                AmountUnit::Fen => ("integer", "fen"),
                AmountUnit::Yuan => ("string", "yuan"),
            };
            if types != [want] {
                let d = self.ctx.error(
                    &fpath.key("amount"),
                    format!("`amount: {spelled}` goes on a `{want}` field; `{fname}` is not one"),
                );
                set(
                    d,
                    "fen amounts are integers (1550), yuan amounts decimal strings (\"15.50\")",
                );
            } else if unit != self.amount_unit {
                let d = self.ctx.error(
                    &fpath.key("amount"),
                    format!("`{fname}` says `amount: {spelled}`, but this provider's amounts are not in {spelled}"),
                );
                set(d, "use the provider's `amount_unit`");
            }
        }
        if f.id && types != ["string"] {
            self.ctx.error(
                &fpath.key("id"),
                format!("an `id` field holds a string; `{fname}` is not a `string` field"),
            );
        }
        if !f.summary {
            return None;
        }
        match types.as_slice() {
            _ if f.amount == Some(AmountUnit::Fen) => Some(SummaryKind::Fen),
            _ if f.amount == Some(AmountUnit::Yuan) => Some(SummaryKind::Yuan),
            ["boolean"] => Some(SummaryKind::Flag),
            ["string"] | ["integer"] | ["number"] => Some(SummaryKind::Text),
            _ => {
                let d = self.ctx.error(
                    &fpath.key("summary"),
                    format!("the summary line shows single values; `{fname}` is not a string, number or boolean field"),
                );
                set(d, "mark a scalar field, e.g. an id or a status");
                None
            }
        }
    }
}

/// A tool's `response`: exactly one of `object`, `list_of` or inline `fields`, and a `list_of`
/// goes with `pagination`. `None` when it has an error (reported, or reported where the object
/// is defined).
pub(super) fn lower_response(
    ctx: &mut Ctx<'_>,
    provider: &Provider,
    object_failed: impl Fn(&str) -> bool,
    t: &ToolSpec,
    path: &YamlPath,
) -> Option<Response> {
    let rpath = path.key("response");
    let r = &t.response;
    let kinds = [r.object.is_some(), r.list_of.is_some(), r.fields.is_some()];
    let objects = &provider.objects;
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
                    None if object_failed(name) => None,
                    None => {
                        ctx.unknown(
                            &rpath.key(key),
                            format!("unknown object `{name}` (provider `{}`)", provider.name),
                            name,
                            objects.keys().map(String::as_str),
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
                let description = r
                    .description
                    .clone()
                    .unwrap_or_else(|| format!("Result of {}.", t.name));
                let mut lower = Lowering {
                    ctx: &mut *ctx,
                    specs: &BTreeMap::new(),
                    broken: &BTreeSet::new(),
                    amount_unit: provider.amount_unit,
                };
                lower
                    .fields(&description, fields, &r.required, &rpath, &mut Vec::new())
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
    let single = kinds.iter().filter(|b| **b).count() == 1;
    let (list, paged) = (r.list_of.is_some(), t.pagination != PaginationSpec::None);
    if single && list && !paged {
        let d = ctx.error(
            &rpath.key("list_of"),
            "a `list_of` response needs `pagination`",
        );
        set(d, "add `pagination: cursor` or `pagination: page`");
    } else if single && !list && paged {
        ctx.error(
            &path.key("pagination"),
            "`pagination` needs a `response: {list_of: …}`",
        );
    }
    response
}
