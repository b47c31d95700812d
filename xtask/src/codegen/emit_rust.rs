//! Rust for the `zhifu-generated` crate: one module per tool (typed input/output and the
//! `ToolDef` descriptor), the module list and the registry. quote → syn → prettyplease.

use std::collections::BTreeMap;

use proc_macro2::{Ident, Span, TokenStream};
use quote::{format_ident, quote};

use super::model::*;

/// Formats a token stream as a Rust file.
fn render(tokens: TokenStream) -> String {
    let file: syn::File = syn::parse2(tokens).expect("generated tokens parse as a Rust file");
    space_out_items(&prettyplease::unparse(&file))
}

/// Puts a blank line between top-level items and between the items of an inline module, which
/// prettyplease leaves adjacent.
fn space_out_items(code: &str) -> String {
    let mut out = String::with_capacity(code.len() + 256);
    let mut prev = "";
    for line in code.lines() {
        let item_start = !line.starts_with(' ') && !line.starts_with("//!") && !line.is_empty();
        let after_item = prev == "}"
            || prev == "};"
            || prev.ends_with(';') && !prev.starts_with(' ')
            || prev.starts_with("//!");
        // Items of an inline module (`pub mod pingpp { … }` in objects.rs), one level in.
        let nested_item_start = line.starts_with("    ") && !line.starts_with("     ");
        let after_nested_item = prev == "    }";
        let nested = nested_item_start
            && after_nested_item
            && !line.trim_start().starts_with('}')
            && !line.trim_start().starts_with(')');
        if nested
            || item_start
                && after_item
                && !prev.is_empty()
                && !line.starts_with('}')
                && !line.starts_with(')')
        {
            out.push('\n');
        }
        out.push_str(line);
        out.push('\n');
        prev = line;
    }
    out
}

/// `#[doc = " line"]` attributes, one per line of `text`.
fn docs(text: &str) -> TokenStream {
    let lines = text.trim().lines().map(|l| {
        let l = if l.trim().is_empty() {
            String::new()
        } else {
            format!(" {}", l.trim_end())
        };
        quote!(#[doc = #l])
    });
    quote!(#(#lines)*)
}

fn inner_docs(text: &str) -> TokenStream {
    let lines = text.lines().map(|l| {
        let l = format!(" {l}");
        let l = if l.trim().is_empty() {
            String::new()
        } else {
            l
        };
        quote!(#![doc = #l])
    });
    quote!(#(#lines)*)
}

/// A field identifier, raw when the name is a Rust keyword.
fn field_ident(name: &str) -> Ident {
    match syn::parse_str::<Ident>(name) {
        Ok(i) => i,
        Err(_) => Ident::new_raw(name, Span::call_site()),
    }
}

fn camel(s: &str) -> String {
    super::validate::camel(s)
}

/// Collects nested struct definitions by name (sorted, deduplicated).
type Structs = BTreeMap<String, TokenStream>;

const OPT_ATTR: &str = "::std::option::Option::is_none";

/// The Rust type of an argument value, emitting nested structs for closed objects.
fn input_type(n: &Node, struct_name: &str, structs: &mut Structs) -> TokenStream {
    match n.ty {
        Ty::String | Ty::AmountYuan => quote!(::std::string::String),
        Ty::Integer | Ty::AmountFen => quote!(i64),
        Ty::Number => quote!(f64),
        Ty::Boolean => quote!(bool),
        Ty::Metadata => {
            quote!(::std::collections::BTreeMap<::std::string::String, ::std::string::String>)
        }
        Ty::Array => {
            let item = match &n.items {
                Some(i) => input_type(i, &format!("{struct_name}Item"), structs),
                None => quote!(::serde_json::Value),
            };
            quote!(::std::vec::Vec<#item>)
        }
        Ty::Object => match &n.properties {
            Some(props) => {
                let fields: Vec<(String, &Node, bool)> = props
                    .iter()
                    .map(|(k, (node, req))| (k.clone(), node, *req))
                    .collect();
                let doc = n
                    .description
                    .as_deref()
                    .unwrap_or("Nested argument object.");
                let def = input_struct(struct_name, doc, &fields, &[], structs);
                structs.insert(struct_name.to_owned(), def);
                let ident = format_ident!("{}", struct_name);
                quote!(#ident)
            }
            None => match &n.values {
                Some(v) => {
                    let value = input_type(v, &format!("{struct_name}Value"), structs);
                    quote!(::std::collections::BTreeMap<::std::string::String, #value>)
                }
                None => quote!(::serde_json::Map<::std::string::String, ::serde_json::Value>),
            },
        },
    }
}

/// A closed input struct: `deny_unknown_fields`, `Option` for optional fields.
fn input_struct(
    name: &str,
    doc: &str,
    fields: &[(String, &Node, bool)],
    secret: &[&str],
    structs: &mut Structs,
) -> TokenStream {
    let ident = format_ident!("{}", name);
    let doc = docs(doc);
    let mut defs = Vec::new();
    let mut debug_fields = Vec::new();
    for (fname, node, required) in fields {
        let f = field_ident(fname);
        let ty = input_type(node, &format!("{name}{}", camel(fname)), structs);
        let d = docs(node.description.as_deref().unwrap_or(""));
        if *required {
            defs.push(quote! { #d pub #f: #ty, });
        } else {
            defs.push(quote! {
                #d
                #[serde(default, skip_serializing_if = #OPT_ATTR)]
                pub #f: ::std::option::Option<#ty>,
            });
        }
        let label = fname.as_str();
        if secret.contains(&label) {
            debug_fields.push(quote!(.field(#label, &"<redacted>")));
        } else {
            debug_fields.push(quote!(.field(#label, &self.#f)));
        }
    }
    let label = name;
    if secret.is_empty() {
        quote! {
            #doc
            #[derive(::std::fmt::Debug, ::std::clone::Clone, ::std::cmp::PartialEq, ::serde::Serialize, ::serde::Deserialize)]
            #[serde(deny_unknown_fields)]
            pub struct #ident { #(#defs)* }
        }
    } else {
        quote! {
            #doc
            #[derive(::std::clone::Clone, ::std::cmp::PartialEq, ::serde::Serialize, ::serde::Deserialize)]
            #[serde(deny_unknown_fields)]
            pub struct #ident { #(#defs)* }

            /// Debug output with secret arguments redacted.
            impl ::std::fmt::Debug for #ident {
                fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                    f.debug_struct(#label) #(#debug_fields)* .finish()
                }
            }
        }
    }
}

/// Where a response struct is emitted: decides how embedded provider objects are named.
#[derive(Clone, Copy)]
enum Scope<'a> {
    /// Inside `objects.rs`, in the provider's own module: objects by their bare name.
    Objects,
    /// In a tool module: objects by their path under `crate::objects`.
    Tool { provider: &'a str },
}

/// The Rust path of provider object `name` as seen from `scope`.
fn object_type(scope: Scope<'_>, name: &str) -> TokenStream {
    let ident = format_ident!("{}", camel(name));
    match scope {
        Scope::Objects => quote!(#ident),
        Scope::Tool { provider } => {
            let p = field_ident(provider);
            quote!(crate::objects::#p::#ident)
        }
    }
}

/// The Rust type of a response field; embedded objects refer to the structs in `objects.rs`.
fn output_type(f: &Field, scope: Scope<'_>) -> TokenStream {
    match &f.shape {
        FieldShape::Json(types) => {
            let non_null: Vec<&str> = types
                .iter()
                .map(String::as_str)
                .filter(|t| *t != "null")
                .collect();
            match non_null.as_slice() {
                ["string"] => quote!(::std::string::String),
                ["integer"] => quote!(i64),
                ["number"] => quote!(f64),
                ["boolean"] => quote!(bool),
                ["object"] => quote!(::serde_json::Map<::std::string::String, ::serde_json::Value>),
                ["array"] => quote!(::std::vec::Vec<::serde_json::Value>),
                _ => quote!(::serde_json::Value),
            }
        }
        FieldShape::Object { name, .. } => object_type(scope, name),
    }
}

/// An open output struct: every documented field optional, unknown fields kept.
fn output_struct(name: &str, o: &Object, scope: Scope<'_>) -> TokenStream {
    let fields: Vec<(String, TokenStream, Option<String>)> = o
        .fields
        .iter()
        .map(|(k, f)| (k.clone(), output_type(f, scope), f.description.clone()))
        .collect();
    open_struct(name, &o.description, fields)
}

fn open_struct(
    name: &str,
    doc: &str,
    fields: Vec<(String, TokenStream, Option<String>)>,
) -> TokenStream {
    let ident = format_ident!("{}", name);
    let doc = docs(doc);
    let defs = fields.into_iter().map(|(fname, ty, d)| {
        let f = field_ident(&fname);
        let d = docs(d.as_deref().unwrap_or(""));
        quote! {
            #d
            #[serde(default, skip_serializing_if = #OPT_ATTR)]
            pub #f: ::std::option::Option<#ty>,
        }
    });
    quote! {
        #doc
        #[derive(::std::fmt::Debug, ::std::clone::Clone, ::std::cmp::PartialEq, ::std::default::Default, ::serde::Serialize, ::serde::Deserialize)]
        pub struct #ident {
            #(#defs)*
            /// Fields the spec does not document, kept as received.
            #[serde(flatten)]
            pub additional_fields: ::serde_json::Map<::std::string::String, ::serde_json::Value>,
        }
    }
}

fn opt_str(v: Option<&str>) -> TokenStream {
    match v {
        Some(s) => quote!(::std::option::Option::Some(#s)),
        None => quote!(::std::option::Option::None),
    }
}

const RT: &str = "::zhifu_runtime::tool";

fn rt(path: &str) -> TokenStream {
    format!("{RT}::{path}").parse().expect("valid path")
}

/// The header line of every generated Rust file.
pub fn header(source: &str) -> String {
    format!("@generated by cargo xtask codegen from {source}; do not edit")
}

/// One tool module: `generated/src/tools/<tool>.rs`.
pub fn tool_module(t: &Tool) -> String {
    let head = inner_docs(&format!("{}\n\n{}.", header(&t.source), t.title));
    let mut structs = Structs::new();

    // Input.
    let input_name = format!("{}Input", t.camel);
    let fields: Vec<(String, &Node, bool)> = t
        .params
        .iter()
        .map(|p| {
            (
                p.name.clone(),
                &p.node,
                p.required && p.default_from.is_none(),
            )
        })
        .collect();
    let secret: Vec<&str> = t
        .params
        .iter()
        .filter(|p| p.secret)
        .map(|p| p.name.as_str())
        .collect();
    let input = input_struct(
        &input_name,
        &format!("Arguments of `{}`.", t.name),
        &fields,
        &secret,
        &mut structs,
    );

    // Output.
    let output_name = format_ident!("{}Output", t.camel);
    let scope = Scope::Tool {
        provider: &t.provider,
    };
    let output = match &t.response {
        Response::Object { name, object } => {
            let doc = docs(&format!(
                "Result of `{}`: {}",
                t.name,
                object.description.trim()
            ));
            let ty = object_type(scope, name);
            quote! { #doc pub type #output_name = #ty; }
        }
        Response::Inline(object) => {
            let mut o = object.clone();
            o.description = format!("Result of `{}`: {}", t.name, o.description.trim());
            output_struct(&output_name.to_string(), &o, scope)
        }
        Response::ListOf { name, .. } => {
            let doc = docs(&format!(
                "Result of `{}`: a page of {name} objects.",
                t.name
            ));
            let list = format_ident!(
                "{}",
                if t.pagination == PaginationSpec::Cursor {
                    "CursorList"
                } else {
                    "List"
                }
            );
            let item = object_type(scope, name);
            quote! { #doc pub type #output_name = crate::objects::#list<#item>; }
        }
    };

    // Descriptor.
    let name = &t.name;
    let title = &t.title;
    let description = &t.description;
    let provider = rt(&format!("Provider::{}", camel(&t.provider)));
    let effect = rt(&format!(
        "Effect::{}",
        match t.effect {
            Effect::Read => "Read",
            Effect::Write => "Write",
            Effect::MovesMoney => "MovesMoney",
            Effect::Irreversible => "Irreversible",
        }
    ));
    let idempotent = t.idempotent;
    let operation = match &t.operation {
        Operation::Rest { method, path } => {
            let m = rt(&format!(
                "HttpMethod::{}",
                match method {
                    HttpMethod::Get => "Get",
                    HttpMethod::Post => "Post",
                    HttpMethod::Put => "Put",
                    HttpMethod::Delete => "Delete",
                }
            ));
            let op = rt("Operation::Rest");
            quote!(#op { method: #m, path: #path })
        }
        Operation::Gateway { method } => {
            let op = rt("Operation::Gateway");
            quote!(#op { method: #method })
        }
        Operation::GatewayUrl { method } => {
            let op = rt("Operation::GatewayUrl");
            quote!(#op { method: #method })
        }
        Operation::Local { op: o } => {
            // `pingpp.verify_webhook` → `LocalOp::PingppVerifyWebhook`: a name the runtime does
            // not implement fails to compile.
            let op = rt("Operation::Local");
            let variant = rt(&format!(
                "LocalOp::{}",
                super::validate::camel(&o.replace('.', "_"))
            ));
            quote!(#op { op: #variant })
        }
    };
    let params = t.params.iter().map(|p| {
        let pname = &p.name;
        let wire = &p.wire;
        let location = rt(&format!(
            "Location::{}",
            match p.location {
                In::Path => "Path",
                In::Query => "Query",
                In::Body => "Body",
                In::BizContent => "BizContent",
                In::Common => "Common",
                In::Local => "Local",
            }
        ));
        let kind = rt(&format!("Kind::{}", camel(p.node.ty.as_str())));
        let required = p.required;
        // `pingpp.app_id` → `ConfigKey::PingppAppId`: a key the runtime lacks fails to compile.
        let default_from = match p.default_from.as_deref() {
            Some(key) => {
                let variant = rt(&format!(
                    "ConfigKey::{}",
                    super::validate::camel(&key.replace('.', "_"))
                ));
                quote!(::std::option::Option::Some(#variant))
            }
            None => quote!(::std::option::Option::None),
        };
        let default_json = p
            .node
            .default
            .as_ref()
            .map(|v| serde_json::to_string(v).expect("JSON values serialize"));
        let default_json = opt_str(default_json.as_deref());
        let secret = p.secret;
        let param = rt("Param");
        quote! {
            #param {
                name: #pname,
                location: #location,
                wire: #wire,
                kind: #kind,
                required: #required,
                default_from: #default_from,
                default_json: #default_json,
                secret: #secret,
            }
        }
    });
    let pagination = rt(&format!(
        "Pagination::{}",
        match t.pagination {
            PaginationSpec::None => "None",
            PaginationSpec::Cursor => "Cursor",
            PaginationSpec::Page => "Page",
        }
    ));
    let merchant_reference = opt_str(t.merchant_reference.as_deref());
    let amount_param = opt_str(t.amount_param.as_deref());
    let query_tool = opt_str(t.query_tool.as_deref());
    let payee_param = opt_str(t.payee_param.as_deref());
    let reference_conflict = opt_str(t.reference_conflict.as_deref());
    let query_found_field = opt_str(t.query_found_field.as_deref());
    let checks = t.checks.iter().map(|c| match c {
        Check::PastDate { param } => {
            let c = rt("Check::PastDate");
            quote!(#c { param: #param })
        }
        Check::CertModeInProduction => rt("Check::CertModeInProduction"),
    });
    let query_match = opt_str(t.query_match.as_deref());
    let max_depth = t.max_depth;
    let input_path = format!("../../schemas/{}.input.json", t.name);
    let validation_path = format!("../../schemas/{}.validate.json", t.name);
    let output_path = format!("../../schemas/{}.output.json", t.name);
    let tool_def = rt("ToolDef");
    let provider_static = format_ident!("{}", t.provider.to_ascii_uppercase());
    let nested = structs.into_values();

    render(quote! {
        #head

        #input

        #output

        #(#nested)*

        /// What the runtime needs to serve this tool.
        pub static DESCRIPTOR: #tool_def = #tool_def {
            name: #name,
            title: #title,
            description: #description,
            provider: #provider,
            effect: #effect,
            idempotent: #idempotent,
            operation: #operation,
            params: &[#(#params),*],
            pagination: #pagination,
            merchant_reference: #merchant_reference,
            amount_param: #amount_param,
            query_tool: #query_tool,
            payee_param: #payee_param,
            reference_conflict: #reference_conflict,
            query_found_field: #query_found_field,
            checks: &[#(#checks),*],
            query_match: #query_match,
            query_found_values: &[],
            pending_when: &[],
            follow_up: ::std::option::Option::None,
            counterparty: &[],
            upstream_ids: &[],
            summary: &[],
            provider_def: &crate::providers::#provider_static,
            max_depth: #max_depth,
            input_schema: ::std::include_str!(#input_path),
            validation_schema: ::std::include_str!(#validation_path),
            output_schema: ::std::include_str!(#output_path),
        };
    })
}

/// `generated/src/tools/mod.rs`.
pub fn tools_mod(tools: &[&Tool]) -> String {
    let head = inner_docs(&format!(
        "{}\n\nOne module per tool: typed arguments, typed result and the `DESCRIPTOR`.",
        header("spec/")
    ));
    let mods = tools.iter().map(|t| {
        let m = format_ident!("{}", t.module);
        let d = docs(&format!("`{}`: {}.", t.name, t.title));
        quote!(#d pub mod #m;)
    });
    render(quote! { #head #(#mods)* })
}

/// `generated/src/registry.rs`.
pub fn registry(tools: &[&Tool]) -> String {
    let head = inner_docs(&format!(
        "{}\n\nThe tool table the binary hands to the runtime.",
        header("spec/")
    ));
    let tool_def = rt("ToolDef");
    let entries = tools.iter().map(|t| {
        let m = format_ident!("{}", t.module);
        quote!(&crate::tools::#m::DESCRIPTOR)
    });
    render(quote! {
        #head
        /// Every tool, sorted by name.
        pub static TOOLS: &[&#tool_def] = &[#(#entries),*];
    })
}

/// `generated/src/providers.rs`: one `ProviderDef` per provider and the `PROVIDERS` table.
pub fn providers_module(providers: &BTreeMap<String, Provider>) -> String {
    let head = inner_docs(&format!(
        "{}\n\nWhat the runtime knows about each provider from `spec/<provider>/provider.yaml`.",
        header("spec/")
    ));
    let def = rt("ProviderDef");
    let statics = providers.values().map(|p| {
        let ident = format_ident!("{}", p.name.to_ascii_uppercase());
        let variant = rt(&format!("Provider::{}", super::validate::camel(&p.name)));
        let (title, base_url) = (&p.title, &p.base_url);
        let doc = docs(&format!("{} (`spec/{}/provider.yaml`).", p.title, p.name));
        quote! {
            #doc
            pub static #ident: #def = #def {
                provider: #variant,
                title: #title,
                base_url: #base_url,
                sandbox_url: ::std::option::Option::None,
                errors: &[],
            };
        }
    });
    let entries = providers.values().map(|p| {
        let ident = format_ident!("{}", p.name.to_ascii_uppercase());
        quote!(&#ident)
    });
    render(quote! {
        #head
        #(#statics)*
        /// Every provider, sorted by name.
        pub static PROVIDERS: &[&#def] = &[#(#entries),*];
    })
}

/// A generic list page; `next_cursor` adds the cursor field of cursor-paginated lists.
fn list_struct(name: &str, doc: &str, next_cursor: bool) -> TokenStream {
    let ident = format_ident!("{}", name);
    let doc = docs(doc);
    let cursor = next_cursor.then(|| {
        quote! {
            /// Pass as `starting_after` to get the next page; absent when `has_more` is false.
            #[serde(default, skip_serializing_if = #OPT_ATTR)]
            pub next_cursor: ::std::option::Option<::std::string::String>,
        }
    });
    quote! {
        #doc
        #[derive(::std::fmt::Debug, ::std::clone::Clone, ::std::cmp::PartialEq, ::std::default::Default, ::serde::Serialize, ::serde::Deserialize)]
        pub struct #ident<T> {
            /// Always `list`.
            #[serde(default, skip_serializing_if = #OPT_ATTR)]
            pub object: ::std::option::Option<::std::string::String>,
            /// API path of this list.
            #[serde(default, skip_serializing_if = #OPT_ATTR)]
            pub url: ::std::option::Option<::std::string::String>,
            /// Whether more objects remain after this page.
            #[serde(default, skip_serializing_if = #OPT_ATTR)]
            pub has_more: ::std::option::Option<bool>,
            /// The objects of this page, newest first.
            #[serde(default, skip_serializing_if = #OPT_ATTR)]
            pub data: ::std::option::Option<::std::vec::Vec<T>>,
            #cursor
            /// Fields the spec does not document, kept as received.
            #[serde(flatten)]
            pub additional_fields: ::serde_json::Map<::std::string::String, ::serde_json::Value>,
        }
    }
}

/// `generated/src/objects.rs`: every provider object once, in a module per provider, and the
/// list pages that `list_of` results use.
pub fn objects_module(providers: &BTreeMap<String, Provider>) -> String {
    let head = inner_docs(&format!(
        "{}\n\nThe response objects of every provider (`objects:` in `spec/<provider>/provider.yaml`),\none struct each, and the list pages of `list_of` results. Tool modules refer to these.",
        header("spec/")
    ));
    let list = list_struct(
        "List",
        "A page of objects (`list_of` results of page-numbered lists).",
        false,
    );
    let cursor_list = list_struct(
        "CursorList",
        "A page of objects with a cursor (`list_of` results of cursor-paginated lists).",
        true,
    );
    let mods = providers.values().map(|p| {
        let m = field_ident(&p.name);
        let d = docs(&format!("Objects of {} (`{}`).", p.title, p.name));
        let structs = p
            .objects
            .iter()
            .map(|(name, o)| output_struct(&camel(name), o, Scope::Objects));
        quote! {
            #d
            pub mod #m {
                #(#structs)*
            }
        }
    });
    render(quote! {
        #head
        #list
        #cursor_list
        #(#mods)*
    })
}
