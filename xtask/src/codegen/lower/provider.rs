//! The `provider:` block of each folder, with the tables that live beside it: `channels`,
//! `methods` and `objects` (the `errors` catalogue is lowered last, in `errors`).

use std::collections::{BTreeMap, BTreeSet};

use super::super::diag::YamlPath;
use super::super::load::{Loaded, folder_of};
use super::super::model::{Model, Protocol, Provider};
use super::{Ctx, Failed, objects, set};

/// `max_depth` when the provider block does not say.
pub const DEFAULT_MAX_DEPTH: u8 = 8;

/// The largest `max_depth` a provider may declare.
pub const MAX_DEPTH_CAP: u64 = 32;

/// Providers that `zhifu_runtime::tool::Provider` has a variant for.
pub const KNOWN_PROVIDERS: [&str; 2] = ["alipay", "pingpp"];

/// Sections that belong in the file with the `provider` block.
const PROVIDER_SECTIONS: [&str; 4] = ["channels", "methods", "errors", "objects"];

/// Lowers every provider block into `model.providers`; returns the provider name of each folder.
pub(super) fn lower_providers(
    files: &[Loaded],
    errors: &mut Vec<super::Diagnostic>,
    failed: &mut Failed,
    model: &mut Model,
) -> BTreeMap<String, String> {
    let mut folder_provider: BTreeMap<String, String> = BTreeMap::new();
    for l in files {
        let (src, spec) = (&l.source, &l.spec);
        let folder = folder_of(&src.path);
        let mut ctx = Ctx { src, errors };
        let Some(p) = &spec.provider else {
            for (key, present) in PROVIDER_SECTIONS.iter().zip([
                spec.channels.is_some(),
                spec.methods.is_some(),
                spec.errors.is_some(),
                spec.objects.is_some(),
            ]) {
                if present && !l.broken.provider {
                    ctx.error(
                        &YamlPath::root().key(key),
                        format!("`{key}` belongs in the file with the `provider` block"),
                    );
                }
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
            failed.providers.insert(folder);
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
            failed.providers.insert(folder);
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
        let methods = lower_methods(&mut ctx, p.protocol, spec.methods.as_deref());
        let mut lowered = BTreeMap::new();
        if let Some(specs) = &spec.objects {
            // Resolve in name order; embedded objects must be defined (cycles are rejected).
            let broken = failed.objects.get(&folder).cloned().unwrap_or_default();
            let amount_unit = p.amount_unit;
            for name in specs.keys() {
                let path = YamlPath::root().key("objects").key(name);
                let mut lower = objects::Lowering {
                    ctx: &mut ctx,
                    specs,
                    broken: &broken,
                    amount_unit,
                };
                match lower.object(name, &path, &mut Vec::new()) {
                    Some(o) => {
                        lowered.insert(name.clone(), o);
                    }
                    None => {
                        failed
                            .objects
                            .entry(folder.clone())
                            .or_default()
                            .insert(name.clone());
                    }
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
        for (key, url) in [
            ("base_url", Some(&p.base_url)),
            ("sandbox_url", p.sandbox_url.as_ref()),
        ] {
            if let Some(url) = url
                && !url.starts_with("https://")
            {
                ctx.error(
                    &YamlPath::root().key("provider").key(key),
                    format!("`{key}` must be an https:// URL"),
                );
            }
        }
        folder_provider.insert(folder, p.name.clone());
        model.providers.insert(
            p.name.clone(),
            Provider {
                name: p.name.clone(),
                title: p.title.clone(),
                base_url: p.base_url.clone(),
                sandbox_url: p.sandbox_url.clone(),
                protocol: p.protocol,
                auth: p.auth.clone(),
                error_model: p.error_model.clone(),
                amount_unit: p.amount_unit,
                max_depth,
                secret_fields: p.secret_fields.clone(),
                channels,
                methods,
                errors: Vec::new(),
                objects: lowered,
            },
        );
    }
    folder_provider
}

/// The `methods:` list: only for the gateway protocol, each a well-formed method name, once.
fn lower_methods(ctx: &mut Ctx<'_>, protocol: Protocol, methods: Option<&[String]>) -> Vec<String> {
    let Some(methods) = methods else {
        return Vec::new();
    };
    let path = YamlPath::root().key("methods");
    if protocol != Protocol::AlipayGateway {
        ctx.error(
            &path,
            "`methods` lists Alipay gateway methods; this provider speaks REST (`http:`)",
        );
        return Vec::new();
    }
    let mut seen = BTreeSet::new();
    for (i, m) in methods.iter().enumerate() {
        let mpath = path.index(i);
        if !seen.insert(m.as_str()) {
            ctx.error(&mpath, format!("method `{m}` is listed twice"));
        } else if !is_gateway_method_name(m) {
            let d = ctx.error(&mpath, format!("`{m}` is not an Alipay method name"));
            set(
                d,
                "e.g. `alipay.trade.query`: lowercase words joined by `.`",
            );
        }
    }
    methods.to_vec()
}

/// `alipay.trade.query`: at least three lowercase words joined by `.`, the first `alipay`.
pub(super) fn is_gateway_method_name(method: &str) -> bool {
    let words: Vec<&str> = method.split('.').collect();
    words.len() >= 3
        && words[0] == "alipay"
        && words.iter().all(|w| {
            !w.is_empty()
                && w.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        })
}
