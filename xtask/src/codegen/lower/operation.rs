//! A tool's operation (`http`, `gateway`, `gateway_url` or `local`) and how it fits the provider:
//! its protocol, its gateway `methods`, and the path placeholders of a REST call.

use super::super::diag::{YamlPath, closest};
use super::super::model::{In, Operation, Param, Protocol, Provider, placeholders_of};
use super::super::spec::ToolSpec;
use super::params::Params;
use super::provider::is_gateway_method_name;
use super::{Ctx, Failed, set};

/// Alipay methods whose request the runtime signs into a URL for the buyer's browser.
pub const PAGE_JUMP_METHODS: [&str; 2] = ["alipay.trade.page.pay", "alipay.trade.wap.pay"];

/// The tool's one operation, checked against the provider.
pub(super) fn lower_operation(
    ctx: &mut Ctx<'_>,
    provider: &Provider,
    failed: &Failed,
    folder: &str,
    t: &ToolSpec,
    path: &YamlPath,
) -> Option<Operation> {
    let ops = [
        t.http.is_some(),
        t.gateway.is_some(),
        t.gateway_url.is_some(),
        t.local.is_some(),
    ];
    match ops.iter().filter(|b| **b).count() {
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
                gateway_method(
                    ctx,
                    provider,
                    failed,
                    folder,
                    &g.method,
                    &path.key("gateway"),
                );
                Some(Operation::Gateway {
                    method: g.method.clone(),
                })
            } else if let Some(g) = &t.gateway_url {
                let gpath = path.key("gateway_url");
                if gateway_method(ctx, provider, failed, folder, &g.method, &gpath)
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
    }
}

/// Every `{placeholder}` of a REST path has an `in: path` argument, and every `in: path`
/// argument has a placeholder.
pub(super) fn check_path_params(
    ctx: &mut Ctx<'_>,
    t: &ToolSpec,
    operation: Option<&Operation>,
    params: &Params,
    path: &YamlPath,
) {
    // A placeholder whose parameter has an error of its own is not reported again.
    let failed_wire = |ph: &str| {
        t.params
            .iter()
            .any(|p| params.failed.contains(&p.name) && p.wire.as_deref().unwrap_or(&p.name) == ph)
    };
    let params = &params.list;
    if let Some(Operation::Rest {
        path: http_path, ..
    }) = operation
    {
        let placeholders =
            placeholders_of(http_path).map_err(|why| format!("path `{http_path}` has {why}"));
        let path_params: Vec<&Param> = params.iter().filter(|p| p.location == In::Path).collect();
        let pp = path.key("http").key("path");
        match &placeholders {
            Err(msg) => {
                ctx.error(&pp, msg.clone());
            }
            Ok(list) => {
                for ph in list {
                    if !path_params.iter().any(|p| p.wire == *ph) && !failed_wire(ph) {
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
}

/// Checks a `gateway`/`gateway_url` method: the provider speaks the gateway protocol, the name
/// looks like `alipay.trade.query`, and it is one of the provider's `methods`. Returns whether
/// the first two hold.
fn gateway_method(
    ctx: &mut Ctx<'_>,
    provider: &Provider,
    failed: &Failed,
    folder: &str,
    method: &str,
    path: &YamlPath,
) -> bool {
    let gateway = provider.protocol == Protocol::AlipayGateway;
    if !gateway {
        ctx.error(
            path,
            format!(
                "provider `{}` has no `gateway.do`; use `http:`",
                provider.name
            ),
        );
    }
    if !is_gateway_method_name(method) {
        let d = ctx.error(
            &path.key("method"),
            format!("`{method}` is not an Alipay method name"),
        );
        set(
            d,
            "e.g. `alipay.trade.query`: lowercase words joined by `.`",
        );
        return false;
    }
    if !gateway {
        return false;
    }
    if !provider.methods.iter().any(|m| m == method) && !failed.methods.contains(folder) {
        let d = ctx.error(
            &path.key("method"),
            format!(
                "`{method}` is not one of the `methods` of provider `{}`",
                provider.name
            ),
        );
        match closest(method, provider.methods.iter().map(String::as_str)) {
            Some(best) => set(d, format!("did you mean `{best}`?")),
            None => set(
                d,
                "add it to `methods:` in the provider file, with the reference section that documents it",
            ),
        }
    }
    true
}
